{#- Publish this node's live Galera state to the mine, from which every
    node decides to join, bootstrap or stop (prereqos.galera.cluster).
    Changes nothing on the node; runs under test=True too. #}
{%- from "prereqos/map.jinja" import prereqos with context %}

prereqos-galera-state-published:
  galera_cluster.published:
    - name: prereqos_galera_state
    - mine_function: galera_cluster.node_state
    - arguments:
        datadir: {{ prereqos.lookup.paths.galera_datadir | json }}
