{#- corosync 3 (knet, encrypted) + pacemaker on every controller. The
    resources are configured once, from the bootstrap node: prereqos.ha.resources. #}
{%- from "prereqos/map.jinja" import prereqos with context %}
{%- set paths = prereqos.lookup.paths %}

{%- set fencing = prereqos.lookup.pkgs.fencing if prereqos.pacemaker.stonith.enabled else [] %}

include:
  - prereqos.ha.haproxy

{#- The key and corosync.conf are in place before the package starts
    corosync: it starts once, in our cluster (apt keeps an existing
    conffile), instead of starting Debian's single-node config and being
    restarted. Create the key file 0400 first: the key is never readable. #}
prereqos-corosync-authkey-file:
  file.managed:
    - name: {{ paths.corosync_authkey }}
    - user: root
    - group: root
    - mode: '0400'
    - replace: false
    - makedirs: true

prereqos-corosync-authkey:
  file.decode:
    - name: {{ paths.corosync_authkey }}
    - contents_pillar: prereqos:secrets:corosync_authkey
    - encoding_type: base64
    - require:
      - file: prereqos-corosync-authkey-file

prereqos-corosync-config:
  file.managed:
    - name: {{ paths.corosync_conf }}
    - source: salt://prereqos/ha/files/corosync.conf.jinja
    - template: jinja
    - user: root
    - group: root
    - mode: '0644'
    - makedirs: true
{%- if salt["file.file_exists"](paths.corosync_binary) %}
    # the check reads the authkey: written first
    - check_cmd: {{ paths.corosync_binary }} -t -c
{%- endif %}
    - require:
      - file: prereqos-corosync-authkey

prereqos-pacemaker-installed:
  pkg.installed:
    - pkgs: {{ (prereqos.lookup.pkgs.pacemaker + fencing) | json }}
    - install_recommends: {{ prereqos.lookup.install_recommends }}
    - require:
      - file: prereqos-corosync-config

prereqos-corosync-running:
  service.running:
    - name: {{ prereqos.lookup.services.corosync }}
    - enable: true
    - require:
      - pkg: prereqos-pacemaker-installed

{#- A running cluster of ours reloads corosync.conf (nodelist, timers) on
    every node at once, without a restart; a corosync that runs another
    config (installed before this formula) is restarted once. #}
{%- set ours = "corosync-cmapctl -g totem.cluster_name | grep -qx 'totem.cluster_name (str) = "
               ~ prereqos.cluster_name ~ "'" %}

prereqos-corosync-reloaded:
  cmd.run:
    - name: corosync-cfgtool -R
    - onlyif: {{ ours | json }}
    - onchanges:
      - file: prereqos-corosync-config
    - require:
      - service: prereqos-corosync-running

prereqos-corosync-restarted:
  cmd.run:
    - name: systemctl restart {{ prereqos.lookup.services.corosync }}
    - unless: {{ ours | json }}
    - onchanges:
      - file: prereqos-corosync-config
      - file: prereqos-corosync-authkey
    - require:
      - cmd: prereqos-corosync-reloaded

prereqos-pacemaker-running:
  service.running:
    - name: {{ prereqos.lookup.services.pacemaker }}
    - enable: true
    - require:
      - cmd: prereqos-corosync-restarted
      - service: prereqos-haproxy-running
