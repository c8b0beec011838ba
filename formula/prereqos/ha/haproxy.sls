{#- haproxy: one listener per service on its VIPs; the candidate config is
    checked with `haproxy -c` before it replaces the running one; reload only,
    and only for a change other than which servers are drained (planned
    maintenance sets those at run time: a reload would cut what the previous
    process still proxies at hard-stop-after). #}
{%- from "prereqos/map.jinja" import prereqos with context %}
{%- set paths = prereqos.lookup.paths %}

prereqos-ha-nonlocal-bind:
  sysctl.present:
    - name: net.ipv4.ip_nonlocal_bind
    - value: 1

prereqos-haproxy-installed:
  pkg.installed:
    - pkgs: {{ prereqos.lookup.pkgs.haproxy | json }}
    - install_recommends: {{ prereqos.lookup.install_recommends }}

{%- if prereqos.tls_enabled %}

prereqos-haproxy-tls-pem:
  file.managed:
    - name: {{ prereqos.haproxy.tls_pem_path }}
    - contents_pillar: prereqos:secrets:tls_pem
    - user: root
    - group: root
    - mode: '0600'
    - makedirs: true
    - show_changes: false
    - require:
      - pkg: prereqos-haproxy-installed
{%- endif %}

{#- `systemctl stop` (pacemaker's stop, a standby) lets haproxy finish the
    requests in flight instead of cutting them. #}
prereqos-haproxy-graceful-stop:
  file.managed:
    - name: {{ paths.systemd_units }}/{{ prereqos.lookup.services.haproxy }}.service.d/prereqos.conf
    - source: salt://prereqos/ha/files/haproxy.service.conf.jinja
    - template: jinja
    - makedirs: true
    - user: root
    - group: root
    - mode: '0644'

prereqos-haproxy-systemd-reload:
  cmd.run:
    - name: systemctl daemon-reload
    - onchanges:
      - file: prereqos-haproxy-graceful-stop

prereqos-haproxy-config:
  file.managed:
    - name: {{ paths.haproxy_cfg }}
    - source: salt://prereqos/ha/files/haproxy.cfg.jinja
    - template: jinja
    - user: root
    - group: haproxy
    - mode: '0640'
    - check_cmd: {{ paths.haproxy_binary }} -c -q -f
    - require:
      - pkg: prereqos-haproxy-installed
      - sysctl: prereqos-ha-nonlocal-bind
{%- if prereqos.tls_enabled %}
      - file: prereqos-haproxy-tls-pem
{%- endif %}

prereqos-haproxy-undrained-config:
  file.managed:
    - name: {{ prereqos.haproxy_undrained_cfg_path }}
    - source: salt://prereqos/ha/files/haproxy.cfg.jinja
    - template: jinja
    - context:
        undrained: true
    - user: root
    - group: root
    - mode: '0600'
    - makedirs: true
    - show_changes: false
    - require:
      - file: prereqos-haproxy-config

{%- if prereqos.vip_manager == "keepalived" %}

prereqos-haproxy-running:
  service.running:
    - name: {{ prereqos.lookup.services.haproxy }}
    - enable: true
    - reload: true
    - require:
      - cmd: prereqos-haproxy-systemd-reload
    - watch:
      - file: prereqos-haproxy-undrained-config
{%- if prereqos.tls_enabled %}
      - file: prereqos-haproxy-tls-pem
{%- endif %}
{%- else %}

{#- pacemaker starts haproxy (a clone); systemd must not start it on its own. #}
prereqos-haproxy-running:
  service.disabled:
    - name: {{ prereqos.lookup.services.haproxy }}
    - require:
      - pkg: prereqos-haproxy-installed

prereqos-haproxy-reloaded:
  cmd.run:
    - name: systemctl try-reload-or-restart {{ prereqos.lookup.services.haproxy }}
    - onchanges:
      - file: prereqos-haproxy-undrained-config
{%- if prereqos.tls_enabled %}
      - file: prereqos-haproxy-tls-pem
{%- endif %}
{%- endif %}
