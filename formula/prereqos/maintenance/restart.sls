{#- Rolling restart: restart the drained controller's services, one after
    the other, RabbitMQ last: a booting RabbitMQ node leaves maintenance mode,
    so it goes back into it until the undrain that follows (which waits until
    the controller is healthy again). #}
{%- from "prereqos/maintenance/map.jinja" import prereqos, maintenance with context %}
{%- set services = prereqos.lookup.services %}
{%- set units = [services.galera, services.apache] %}
{%- if prereqos.vip_manager == "keepalived" %}
{%- do units.append(services.haproxy) %}
{%- endif %}
{%- do units.append(services.rabbitmq) %}
{%- for unit in units %}

prereqos-maintenance-restart-{{ unit }}:
  cmd.run:
    - name: {{ prereqos.lookup.paths.systemctl }} restart {{ unit }}
{%- if not loop.first %}
    - require:
      - cmd: prereqos-maintenance-restart-{{ loop.previtem }}
{%- endif %}
{%- endfor %}


prereqos-maintenance-rabbitmq-drained-again:
  rabbitmq_cluster.maintenance:
    - name: rabbit@{{ prereqos.me.hostname }}
    - enabled: true
    - require:
      - cmd: prereqos-maintenance-restart-{{ services.rabbitmq }}
