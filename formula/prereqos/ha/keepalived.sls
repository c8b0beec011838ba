{#- keepalived: one VRRP instance per VIP, unicast peers, every node BACKUP
    with its own priority, tracking the local haproxy. #}
{%- from "prereqos/map.jinja" import prereqos with context %}

include:
  - prereqos.ha.haproxy

prereqos-keepalived-installed:
  pkg.installed:
    - pkgs: {{ prereqos.lookup.pkgs.keepalived | json }}
    - install_recommends: {{ prereqos.lookup.install_recommends }}

{#- Where drain leaves keepalived's track file (init_file creates it with 0). #}
prereqos-keepalived-state-dir:
  file.directory:
    - name: {{ prereqos.state_dir }}
    - user: root
    - group: root
    - mode: '0755'

prereqos-keepalived-config:
  file.managed:
    - name: {{ prereqos.lookup.paths.keepalived_conf }}
    - source: salt://prereqos/ha/files/keepalived.conf.jinja
    - template: jinja
    - user: root
    - group: root
    - mode: '0640'
    - check_cmd: {{ prereqos.lookup.paths.keepalived_binary }} -t -f
    - require:
      - pkg: prereqos-keepalived-installed
      - file: prereqos-keepalived-state-dir

prereqos-keepalived-running:
  service.running:
    - name: {{ prereqos.lookup.services.keepalived }}
    - enable: true
    - reload: true
    - watch:
      - file: prereqos-keepalived-config
    - require:
      - service: prereqos-haproxy-running
