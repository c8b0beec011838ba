{#- Checks before any change: rendering this file validated the pillar
    (map.jinja); the state checks this node against it. Changes nothing. #}
{%- from "prereqos/map.jinja" import prereqos with context %}

prereqos-preflight:
  prereqos.preflight:
    - name: {{ grains.id }}
