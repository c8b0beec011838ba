{#- Checks before any change: rendering this file validated the pillar
    (map.jinja); the state checks this node against what the pillar expects
    of it (host name, addresses on the named interfaces, no stranger on a
    VIP). Changes nothing. #}
{%- from "prereqos/map.jinja" import prereqos with context %}

prereqos-preflight:
  prereqos.preflight:
    - name: {{ grains.id }}
    - node: {{ prereqos.node_expectation | json }}
