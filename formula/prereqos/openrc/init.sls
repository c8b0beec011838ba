{#- The admin credentials file (0600), or its removal (openrc:ensure absent). #}
{%- from "prereqos/map.jinja" import prereqos with context %}

{%- if prereqos.openrc.ensure == "present" %}

prereqos-openrc:
  file.managed:
    - name: {{ prereqos.openrc.path }}
    - source: salt://prereqos/openrc/files/admin-openrc.jinja
    - template: jinja
    - user: root
    - group: root
    - mode: '0600'
    - show_changes: false
{%- else %}

prereqos-openrc:
  file.absent:
    - name: {{ prereqos.openrc.path }}
{%- endif %}
