{#- On every controller: the MariaDB sessions the drained controller's haproxy
    still proxies end (they lost their clients with its VIPs); its servers go to drain, then
    maintenance, through the runtime API (no new session; the current ones end
    or are cut after maintenance:drain_timeout; the Galera listener's next
    server becomes the writer); the maintenance record and haproxy.cfg then
    say the same (`disabled`), so a reload or a re-run keeps them there,
    without a reload now (it would cut the previous process's sessions at
    hard-stop-after, commits in flight included: see prereqos.ha.haproxy).
    undrain: the reverse, the record and haproxy.cfg first. #}
{%- from "prereqos/maintenance/map.jinja" import prereqos, maintenance with context %}
{%- set drain = maintenance.action == "drain" %}

include:
  - prereqos.ha.haproxy
{%- if drain %}
{%- set node = prereqos.nodes | selectattr("id", "equalto", maintenance.node) | first %}

{#- Its VIPs left: the sessions its haproxy still proxies are orphans. #}
prereqos-maintenance-proxied-sessions:
  prereqos.proxied_sessions_ended:
    - name: {{ maintenance.node }}
    - address: {{ node.addresses[prereqos.internal_network] }}
    - hostname: {{ node.hostname }}
    - require_in:
      - prereqos: prereqos-maintenance-haproxy-servers
{%- endif %}

{%- set galera = prereqos.services_enabled.values() | selectattr("active_backup") | list %}
{%- if galera and (grains.id == maintenance.node) == drain %}

{#- drain: on the drained controller, whose servers the others drain meanwhile;
    undrain: on the others, once this node's HAProxy has it back. Between
    transactions, so the writer changes with no commit in flight. #}
prereqos-maintenance-proxied-sessions-moved:
  prereqos.proxied_sessions_moved:
    - name: {{ maintenance.node }}
    - drained: {{ drain }}
    - listener: {{ galera[0].name }}
    - proxies: {{ galera[0].servers | json }}
    - timeout: {{ prereqos.maintenance.drain_timeout }}
    - up_timeout: {{ prereqos.maintenance.ready_timeout }}
{%- if drain %}
    - require_in:
      - prereqos: prereqos-maintenance-haproxy-servers
{%- else %}
    - require:
      - prereqos: prereqos-maintenance-haproxy-servers
{%- endif %}
{%- endif %}

prereqos-maintenance-haproxy-servers:
  prereqos.haproxy_server:
    - name: {{ maintenance.node }}
    - drained: {{ drain }}
    - timeout: {{ prereqos.maintenance.drain_timeout }}
{%- if drain %}
    - require_in:
      - file: prereqos-maintenance-record
{%- else %}
    - require:
      - file: prereqos-haproxy-config
{%- endif %}

prereqos-maintenance-record:
  file.serialize:
    - name: {{ prereqos.maintenance_path }}
    - dataset: {{ {"drained": prereqos.drained} | json }}
    - serializer: json
    - user: root
    - group: root
    - mode: '0644'
    - makedirs: true
    - require_in:
      - file: prereqos-haproxy-config
