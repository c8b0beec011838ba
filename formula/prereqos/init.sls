{#- Every part on this node. A new cluster is built by the orchestration
    (orch.prereqos: first node, then the others one at a time); on a running
    cluster this converges one node and never resets or bootstraps anything. #}
include:
  - prereqos.preflight
  - prereqos.facts
  - prereqos.apache
  - prereqos.ha
  - prereqos.rabbitmq
  - prereqos.galera.cluster
  - prereqos.buildenv
  - prereqos.openrc
