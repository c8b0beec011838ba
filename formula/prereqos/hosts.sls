{#- Every controller's host name resolves to its internal address on every
    node (RabbitMQ and corosync node names depend on it). #}
{%- from "prereqos/map.jinja" import prereqos with context %}
{%- for node in prereqos.nodes %}

prereqos-host-{{ node.id }}:
  host.present:
    - name: {{ node.hostname }}
    - ip: {{ node.addresses[prereqos.internal_network] }}
    - clean: true
{%- endfor %}
