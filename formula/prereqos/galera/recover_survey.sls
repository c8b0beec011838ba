{#- After a full outage: publish this node's Galera facts with the position
    `mariadbd --wsrep-recover` finds (stopped nodes holding data) to the mine,
    for prereqos.galera.recover. Changes no configuration; runs under test=True. #}
{%- from "prereqos/map.jinja" import prereqos with context %}

prereqos-galera-recovery-facts-published:
  galera_cluster.published:
    - name: prereqos_galera_recovery
    - mine_function: galera_cluster.recovery_facts
    - arguments:
        service: {{ prereqos.lookup.services.galera }}
        datadir: {{ prereqos.lookup.paths.galera_datadir | json }}
