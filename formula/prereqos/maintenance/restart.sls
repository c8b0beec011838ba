{#- Rolling restart: restart the drained controller's services, one after
    the other (the undrain that follows waits until it is healthy again).
    MariaDB first: its rejoin pauses every commit in the cluster, longer
    while RabbitMQ, just started, catches its quorum queues up on this node. #}
{%- from "prereqos/maintenance/map.jinja" import prereqos, maintenance with context %}
{%- set services = prereqos.lookup.services %}
{%- set units = [services.galera, services.rabbitmq, services.apache] %}
{%- if prereqos.vip_manager == "keepalived" %}
{%- do units.append(services.haproxy) %}
{%- endif %}
{%- for unit in units %}

prereqos-maintenance-restart-{{ unit }}:
  cmd.run:
    - name: {{ prereqos.lookup.paths.systemctl }} restart {{ unit }}
{%- if not loop.first %}
    - require:
      - cmd: prereqos-maintenance-restart-{{ loop.previtem }}
{%- endif %}
{%- endfor %}
