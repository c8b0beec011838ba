{#- Bring this node into the Galera cluster, as decided from every node's
    live state: join a Primary component if one exists; bootstrap only when
    every node is brand new; otherwise stop and point to orch.prereqos_recover. #}
{%- from "prereqos/map.jinja" import prereqos with context %}

include:
  - prereqos.galera

prereqos-galera-member:
  galera_cluster.member:
    - name: {{ prereqos.cluster_name }}
    - nodes: {{ prereqos.node_ids | json }}
    - bootstrap_node: {{ prereqos.bootstrap_node.id }}
    - mine_function: prereqos_galera_state
    - datadir: {{ prereqos.lookup.paths.galera_datadir | json }}
    - service: {{ prereqos.lookup.services.galera }}
    - timeout: 900
    - require:
      - file: prereqos-galera-config
      - file: prereqos-galera-sst-credentials
      - service: prereqos-galera-socket-masked
