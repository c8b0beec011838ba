{#- drain: this controller releases its VIPs and claims none (keepalived:
    its track file; pacemaker: standby), first, so that no VIP moves while
    connections are cut. Every controller runs this step at once (the drained
    one too, beside the release), and from the
    moment another controller holds the VIPs until nothing the drained
    controller's haproxy proxied is left, ends the idle MariaDB sessions that
    come from it (their clients lost them when the VIPs moved). undrain: it may
    claim them again (they stay where they are: keepalived nopreempt,
    pacemaker resource-stickiness). #}
{%- from "prereqos/maintenance/map.jinja" import prereqos, maintenance with context %}
{%- set node = prereqos.nodes | selectattr("id", "equalto", maintenance.node) | first %}

{%- if grains.id == maintenance.node %}

prereqos-maintenance-vips:
  prereqos.vips_released:
    - name: {{ maintenance.node }}
    - released: {{ maintenance.action == "drain" }}
    {#- Its own sweep starts at once too: this node may be the Galera writer. #}
    - parallel: true
{%- endif %}
{%- if maintenance.action == "drain" %}

prereqos-maintenance-orphaned-sessions:
  prereqos.orphaned_sessions_ended:
    - name: {{ maintenance.node }}
    - address: {{ node.addresses[prereqos.internal_network] }}
    - hostname: {{ node.hostname }}
    - timeout: {{ prereqos.haproxy_stop_timeout_s + 60 }}
{%- endif %}
