{#- Restart every controller in turn, without a blip for clients:
      salt-run state.orchestrate orch.prereqos_rolling_restart
    For each controller, in the order of prereqos:controllers: drain it (which
    refuses unless the cluster is whole and healthy), restart its services
    (MariaDB, RabbitMQ, Apache, and HAProxy with keepalived), wait until it is
    healthy again, undrain it, pass the health gate on every controller; then
    the next. Stops at the first controller that does not come back healthy,
    saying which and why; the controllers after it are left untouched. #}
{%- set orchestration = "orch.prereqos_rolling_restart" %}
{%- from "orch/site.jinja" import ids, public_pillar, sync_modules with context %}
{%- from "orch/maintenance.jinja" import drain, undrain, step with context %}
{{ sync_modules("prereqos-maintenance-sync-modules") }}
{%- set chain = namespace(after="prereqos-maintenance-sync-modules") %}
{%- for node in ids %}
{{ drain(node, ids, public_pillar, chain.after) }}
{{ step("prereqos-restart-" ~ node, [node], "prereqos.maintenance.restart", node, "drain", public_pillar, "prereqos-drain-rabbitmq-" ~ node) }}
{{ undrain(node, ids, public_pillar, "prereqos-restart-" ~ node) }}
{%- set chain.after = "prereqos-undrain-health-" ~ node %}
{%- endfor %}
