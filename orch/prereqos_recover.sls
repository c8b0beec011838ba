{#- Recover the Galera cluster after a full outage (every node stopped):
      salt-run state.orchestrate orch.prereqos_recover [pillar=<JSON setting prereqos:galera:recover_from>]
    1. sync our modules; 2. every controller publishes its grastate.dat and
    the position `mariadbd --wsrep-recover` finds; 3. every controller
    computes the same choice, only the chosen one bootstraps, and the comment
    says what was chosen and why (or why it refuses: a node unreachable,
    data of different clusters, ... then name the node in
    prereqos:galera:recover_from); 4. the steps of orch.prereqos (included):
    the others join one at a time, RabbitMQ is checked as a cluster, the
    final health gate. #}
{%- set orchestration = "orch.prereqos_recover" %}
{%- from "orch/site.jinja" import ids, public_pillar, sync_modules with context %}

include:
  - orch.prereqos

{#- An unreachable controller does not stop the recovery steps: it counts
    as unknown, and the recovery refuses unless recover_from names a node. #}
{{ sync_modules("prereqos-recover-sync-modules", {"expect_minions": false}) }}

prereqos-recover-survey:
  salt.state:
    - tgt: {{ ids | json }}
    - tgt_type: list
    - sls: prereqos.galera.recover_survey
    - pillar: {{ public_pillar | json }}
    - expect_minions: false
    - require:
      - salt: prereqos-recover-sync-modules

prereqos-recover-bootstrap:
  salt.state:
    - tgt: {{ ids | json }}
    - tgt_type: list
    - sls: prereqos.galera.recover
    - pillar: {{ public_pillar | json }}
    - expect_minions: false
    - require:
      - salt: prereqos-recover-survey
    - require_in:
      - salt: prereqos-sync-modules
