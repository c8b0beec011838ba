{#- MariaDB + Galera on this node: packages, mariadb.socket masked (it would
    grab port 3306), node config, SST credentials (0600) and the HTTP check
    HAProxy asks (200 only when this node is Synced in a Primary component).
    Starting, bootstrapping and joining are prereqos.galera.cluster's job. #}
{%- from "prereqos/map.jinja" import prereqos with context %}
{%- set paths = prereqos.lookup.paths %}

prereqos-galera-installed:
  pkg.installed:
    - pkgs: {{ prereqos.lookup.pkgs.galera | json }}
    - install_recommends: {{ prereqos.lookup.install_recommends }}

{#- MariaDB does not start at boot: after a reboot orch.prereqos rejoins the
    node, after a full outage orch.prereqos_recover picks who bootstraps; a
    node never starts in a state nobody decided. #}
prereqos-galera-not-started-at-boot:
  service.disabled:
    - name: {{ prereqos.lookup.services.galera }}
    - require:
      - pkg: prereqos-galera-installed

prereqos-galera-socket-masked:
  service.masked:
    - name: mariadb.socket
    - require:
      - pkg: prereqos-galera-installed

prereqos-galera-config:
  file.managed:
    - name: {{ paths.galera_cnf }}
    - source: salt://prereqos/galera/files/galera.cnf.jinja
    - template: jinja
    - user: root
    - group: root
    - mode: '0644'
    - require:
      - pkg: prereqos-galera-installed

prereqos-galera-sst-credentials:
  file.managed:
    - name: {{ paths.galera_sst_cnf }}
    - source: salt://prereqos/galera/files/sst.cnf.jinja
    - template: jinja
    - user: mysql
    - group: mysql
    - mode: '0600'
    - show_changes: false
    - require:
      - pkg: prereqos-galera-installed

prereqos-galera-check-script:
  file.managed:
    - name: {{ paths.galera_check }}
    - source: salt://prereqos/galera/files/galera-check
    - user: root
    - group: root
    - mode: '0755'
    - makedirs: true

prereqos-galera-check-units:
  file.managed:
    - names:
      - {{ paths.systemd_units }}/prereqos-galera-check.socket:
        - source: salt://prereqos/galera/files/galera-check.socket.jinja
      - {{ paths.systemd_units }}/prereqos-galera-check@.service:
        - source: salt://prereqos/galera/files/galera-check@.service.jinja
    - template: jinja
    - user: root
    - group: root
    - mode: '0644'

prereqos-galera-check-listening:
  service.running:
    - name: prereqos-galera-check.socket
    - enable: true
    - require:
      - file: prereqos-galera-check-script
      - pkg: prereqos-galera-installed
    - watch:
      - file: prereqos-galera-check-units
