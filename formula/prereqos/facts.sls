{#- This node's non-secret facts, read by prereqos.health and prereqos.preflight
    from the command line: the nodes, VIPs, listeners and their checks, the VIP
    manager, the RabbitMQ nodes, the Galera size, service names and paths. #}
{%- from "prereqos/map.jinja" import prereqos with context %}
{%- if prereqos.facts %}

prereqos-facts:
  file.serialize:
    - name: {{ prereqos.facts_path }}
    - dataset: {{ prereqos.facts | json }}
    - serializer: json
    - user: root
    - group: root
    - mode: '0644'
    - makedirs: true
{%- else %}

prereqos-facts:
  test.fail_without_changes:
    - name: {{ grains.id }} is not in prereqos:controllers ({{ prereqos.node_ids | join(", ") }}); target only controllers
{%- endif %}
