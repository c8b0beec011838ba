{#- Publish this node's live Galera state to the mine, from which every
    node decides to join, bootstrap or stop (prereqos.galera.cluster).
    Changes nothing on the node; runs under test=True too. #}

prereqos-galera-state-published:
  galera_cluster.published:
    - name: prereqos_galera_state
    - mine_function: galera_cluster.node_state
