{#- Rolling restart with reboot=true, once the drained controller is back:
    start the services that do not start at boot (MariaDB: it rejoins here),
    one after the other (the undrain that follows waits until it is healthy
    again). #}
{%- from "prereqos/maintenance/map.jinja" import restarted_units with context %}
{%- for unit in restarted_units %}

prereqos-maintenance-start-{{ unit }}:
  service.running:
    - name: {{ unit }}
{%- if not loop.first %}
    - require:
      - service: prereqos-maintenance-start-{{ loop.previtem }}
{%- endif %}
{%- endfor %}
