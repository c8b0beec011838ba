{#- After a full outage, run on every controller at once: each computes the
    same choice from the mine (safe_to_bootstrap, else the highest recovered
    seqno; refused when ambiguous unless galera:recover_from names the node);
    only the chosen node bootstraps. The others join in orch.prereqos. #}
{%- from "prereqos/map.jinja" import prereqos with context %}

prereqos-galera-recovered:
  galera_cluster.recovered:
    - name: {{ prereqos.cluster_name }}
    - nodes: {{ prereqos.node_ids | json }}
    - mine_function: prereqos_galera_recovery
    - datadir: {{ prereqos.lookup.paths.galera_datadir | json }}
    - forced_node: {{ prereqos.galera.recover_from | json }}
    - bootstrap_node: {{ prereqos.bootstrap_node.id }}
    - service: {{ prereqos.lookup.services.galera }}
    - timeout: 900
