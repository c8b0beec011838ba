{#- Join this node to the bootstrap node's cluster, unless it is a member
    already (never reset a member), then wait until the members run. #}
{%- from "prereqos/map.jinja" import prereqos with context %}
{%- set members = prereqos.nodes | selectattr("index", "le", prereqos.me.index) | map(attribute="hostname") | list %}
{%- set members = (members + [prereqos.bootstrap_node.hostname]) | unique | list %}

include:
  - prereqos.rabbitmq

prereqos-rabbitmq-joined:
  rabbitmq_cluster.joined:
    - name: {{ prereqos.rabbitmq_bootstrap_node }}
    - require:
      - service: prereqos-rabbitmq-running

prereqos-rabbitmq-members-running:
  rabbitmq_cluster.running_nodes:
    - nodes: {{ members | map("regex_replace", "^", "rabbit@") | list | json }}
    - timeout: 300
    - require:
      - rabbitmq_cluster: prereqos-rabbitmq-joined
