{#- drain: this controller releases its VIPs and claims none (keepalived:
    its track file; pacemaker: standby), first, so that no VIP moves while
    connections are cut. Pacemaker: every controller runs this step at once,
    and from the moment the VIPs are started elsewhere until the drained
    controller's haproxy stopped, ends the idle MariaDB sessions that come
    from it (their clients lost them when the VIPs moved). undrain: it may
    claim them again (they stay where they are: keepalived nopreempt,
    pacemaker resource-stickiness). #}
{%- from "prereqos/maintenance/map.jinja" import prereqos, maintenance with context %}
{%- set node = prereqos.nodes | selectattr("id", "equalto", maintenance.node) | first %}
{%- set sweep = maintenance.action == "drain" and prereqos.vip_manager == "pacemaker" %}

{%- if grains.id == maintenance.node %}

prereqos-maintenance-vips:
  prereqos.vips_released:
    - name: {{ maintenance.node }}
    - released: {{ maintenance.action == "drain" }}
{%- endif %}
{%- if sweep %}

prereqos-maintenance-orphaned-sessions:
  prereqos.orphaned_sessions_ended:
    - name: {{ maintenance.node }}
    - address: {{ node.addresses[prereqos.internal_network] }}
    - hostname: {{ node.hostname }}
    - timeout: {{ prereqos.haproxy_stop_timeout_s + 60 }}
{%- if grains.id == maintenance.node %}
    - require:
      - prereqos: prereqos-maintenance-vips
{%- endif %}
{%- endif %}
