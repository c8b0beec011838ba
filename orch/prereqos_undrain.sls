{#- Bring a drained controller back:
      salt-run state.orchestrate orch.prereqos_undrain pillar='{"node": "ctrl-2"}'
    1. sync our modules; 2. the node waits until it is healthy again (Galera
    Synced, RabbitMQ running; up to maintenance:ready_timeout); 3. its
    RabbitMQ node serves again; 4. its HAProxy servers come back on every
    controller; 5. it may hold VIPs again (they stay where they are: no
    flapping); 6. every controller passes the health gate. #}
{%- set orchestration = "orch.prereqos_undrain" %}
{%- from "orch/site.jinja" import ids, public_pillar, sync_modules with context %}
{%- from "orch/maintenance.jinja" import undrain, node_from_pillar with context %}
{%- set node = node_from_pillar(orchestration, ids) | trim %}
{{ sync_modules("prereqos-maintenance-sync-modules") }}
{{ undrain(node, ids, public_pillar, "prereqos-maintenance-sync-modules") }}
