{#- Cluster-wide RabbitMQ objects, applied once from the bootstrap node:
    vhosts, users, permissions, policies; the guest account removed. #}
{%- from "prereqos/map.jinja" import prereqos with context %}
{%- set rabbitmq = prereqos.rabbitmq %}

include:
  - prereqos.rabbitmq

{%- for vhost in rabbitmq.vhosts %}

prereqos-rabbitmq-vhost-{{ vhost }}:
  rabbitmq_cluster.vhost_present:
    - name: {{ vhost | json }}
    - require:
      - service: prereqos-rabbitmq-running
{%- endfor %}

{%- for user, spec in prereqos.rabbitmq_user_settings.items() %}

prereqos-rabbitmq-user-{{ user }}:
  rabbitmq_cluster.user_present:
    - name: {{ user | json }}
    - password_pillar: prereqos:secrets:rabbitmq_users:{{ user }}
    - tags: {{ spec.tags | json }}
    - permissions: {{ spec.permissions | json }}
    - require:
{%- for vhost in rabbitmq.vhosts %}
      - rabbitmq_cluster: prereqos-rabbitmq-vhost-{{ vhost }}
{%- endfor %}
{%- endfor %}

prereqos-rabbitmq-guest-absent:
  rabbitmq_cluster.user_absent:
    - name: guest
    - require:
      - service: prereqos-rabbitmq-running

{%- for name, policy in prereqos.rabbitmq_policy_settings.items() %}

prereqos-rabbitmq-policy-{{ name }}:
  rabbitmq_cluster.policy_present:
    - name: {{ name | json }}
    - vhost: {{ policy.vhost | json }}
    - pattern: {{ policy.pattern | json }}
    - definition: {{ policy.definition | json }}
    - priority: {{ policy.priority }}
    - apply_to: {{ policy.apply_to }}
    - require:
      - service: prereqos-rabbitmq-running
{%- endfor %}
