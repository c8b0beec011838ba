{#- HA layer: haproxy in front of every API, then the VIP manager; the facts
    prereqos.health checks the node against. #}
{%- from "prereqos/map.jinja" import prereqos with context %}

include:
  - prereqos.facts
  - prereqos.ha.haproxy
  - prereqos.ha.{{ prereqos.vip_manager }}
