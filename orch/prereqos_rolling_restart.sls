{#- Restart every controller in turn, without a blip for clients:
      salt-run state.orchestrate orch.prereqos_rolling_restart
      salt-run state.orchestrate orch.prereqos_rolling_restart pillar='{"reboot": true}'
    For each controller, in the order of prereqos:controllers: drain it (which
    refuses unless the cluster is whole and healthy), restart its services
    (MariaDB, RabbitMQ, Apache, and HAProxy with keepalived) or, with
    reboot=true, reboot it, wait for its minion (up to
    maintenance:ready_timeout) and start the services that do not start at
    boot; wait until it is healthy again, undrain it, pass the health gate on
    every controller; then the next. Stops at the first controller that does
    not come back healthy, saying which and why; the controllers after it are
    left untouched. #}
{%- set orchestration = "orch.prereqos_rolling_restart" %}
{%- from "orch/site.jinja" import ids, public_pillar, maintenance_settings, sync_modules with context %}
{%- from "orch/maintenance.jinja" import drain, undrain, step with context %}
{%- set reboot = pillar.get("reboot", false) %}
{%- if reboot is not sameas true and reboot is not sameas false %}
{{ raise(orchestration ~ ": pillar reboot=" ~ (reboot | string) ~ " is not true or false: "
          ~ "salt-run state.orchestrate " ~ orchestration ~ " pillar='{\"reboot\": true}'") }}
{%- endif %}
{{ sync_modules("prereqos-maintenance-sync-modules") }}
{%- set chain = namespace(after="prereqos-maintenance-sync-modules") %}
{%- for node in ids %}
{{ drain(node, ids, public_pillar, chain.after) }}
{%- if reboot %}
{{ step("prereqos-reboot-" ~ node, [node], "prereqos.maintenance.reboot", node, "drain", public_pillar, "prereqos-drain-rabbitmq-" ~ node) }}

prereqos-reboot-wait-{{ node }}:
  salt.wait_for_event:
    - name: salt/minion/{{ node }}/start
    - id_list: {{ [node] | json }}
    - timeout: {{ maintenance_settings.ready_timeout | json }}
    - require:
      - salt: prereqos-reboot-{{ node }}
{{ step("prereqos-restart-" ~ node, [node], "prereqos.maintenance.start", node, "drain", public_pillar, "prereqos-reboot-wait-" ~ node) }}
{%- else %}
{{ step("prereqos-restart-" ~ node, [node], "prereqos.maintenance.restart", node, "drain", public_pillar, "prereqos-drain-rabbitmq-" ~ node) }}
{%- endif %}
{{ undrain(node, ids, public_pillar, "prereqos-restart-" ~ node) }}
{%- set chain.after = "prereqos-undrain-health-" ~ node %}
{%- endfor %}
