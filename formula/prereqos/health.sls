{#- Health gate: every part of this node is healthy and sees its peers. #}
{%- from "prereqos/map.jinja" import prereqos with context %}

prereqos-healthy:
  prereqos.healthy:
    - name: {{ grains.id }}
    - timeout: 300
