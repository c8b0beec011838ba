{#- Drain one controller for maintenance:
      salt-run state.orchestrate orch.prereqos_drain pillar='{"node": "ctrl-2"}'
    1. sync our modules; 2. every controller checks that the cluster is whole
    and healthy and no other controller is drained (else it refuses, changing
    nothing); 3. the node's VIPs move away and it claims none; 4. its HAProxy
    servers drain, then go to maintenance, on every controller (the Galera
    writer moves first if it was the node); 5. its RabbitMQ node goes into
    maintenance mode. Then the node can be patched or rebooted: nothing a
    client uses runs there. orch.prereqos_undrain brings it back. #}
{%- set orchestration = "orch.prereqos_drain" %}
{%- from "orch/site.jinja" import ids, public_pillar, sync_modules with context %}
{%- from "orch/maintenance.jinja" import drain, node_from_pillar with context %}
{%- set node = node_from_pillar(orchestration, ids) | trim %}
{{ sync_modules("prereqos-maintenance-sync-modules") }}
{{ drain(node, ids, public_pillar, "prereqos-maintenance-sync-modules") }}
