{#- HA layer: haproxy in front of every API, then the VIP manager. #}
{%- from "prereqos/map.jinja" import prereqos with context %}

include:
  - prereqos.ha.haproxy
  - prereqos.ha.{{ prereqos.vip_manager }}
