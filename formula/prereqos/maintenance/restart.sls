{#- Rolling restart: restart the drained controller's services, one after
    the other (the undrain that follows waits until it is healthy again). #}
{%- from "prereqos/maintenance/map.jinja" import prereqos, restarted_units with context %}
{%- for unit in restarted_units %}

prereqos-maintenance-restart-{{ unit }}:
  cmd.run:
    - name: {{ prereqos.lookup.paths.systemctl }} restart {{ unit }}
{%- if not loop.first %}
    - require:
      - cmd: prereqos-maintenance-restart-{{ loop.previtem }}
{%- endif %}
{%- endfor %}
