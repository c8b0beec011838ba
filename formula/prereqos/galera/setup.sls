{#- Cluster-wide accounts, set once from the bootstrap node (they replicate):
    root keeps socket login and gets the pillar password; the SST user that
    mariabackup uses to copy a donor's data. #}
{%- from "prereqos/map.jinja" import prereqos with context %}

include:
  - prereqos.galera.cluster

prereqos-galera-root-password:
  galera_cluster.user_present:
    - name: root
    - host: localhost
    - password_pillar: prereqos:secrets:db_root_password
    - unix_socket: true
    - require:
      - galera_cluster: prereqos-galera-member

prereqos-galera-sst-user:
  galera_cluster.user_present:
    - name: {{ prereqos.galera.sst_user }}
    - host: localhost
    - password_pillar: prereqos:secrets:db_sst_password
    - grants:
      - RELOAD, PROCESS, LOCK TABLES, BINLOG MONITOR ON *.*
    - require:
      - galera_cluster: prereqos-galera-member
