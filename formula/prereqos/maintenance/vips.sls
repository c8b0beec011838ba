{#- drain: this controller releases its VIPs and claims none (keepalived:
    its track file; pacemaker: standby), first, so that no VIP moves while
    connections are cut. undrain: it may claim them again (they stay where
    they are: keepalived nopreempt, pacemaker resource-stickiness). #}
{%- from "prereqos/maintenance/map.jinja" import prereqos, maintenance with context %}

prereqos-maintenance-vips:
  prereqos.vips_released:
    - name: {{ maintenance.node }}
    - released: {{ maintenance.action == "drain" }}
