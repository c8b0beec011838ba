{#- Pacemaker resources, applied from the bootstrap node once every node is
    online: an IPaddr2 per VIP, the haproxy clone, colocation and order.
    Only objects that differ from the live CIB are changed. #}
{%- from "prereqos/map.jinja" import prereqos with context %}
{%- if prereqos.vip_manager != "pacemaker" %}

prereqos-pacemaker-resources:
  test.nop:
    - name: vip_manager is {{ prereqos.vip_manager }}; pacemaker owns no resources
{%- else %}

prereqos-pacemaker-online:
  pacemaker_cluster.online:
    - nodes: {{ prereqos.nodes | map(attribute="hostname") | list | json }}
    - timeout: 300

prereqos-pacemaker-configured:
  pacemaker_cluster.configured:
    - properties: {{ prereqos.pacemaker_config.properties | json }}
    - rsc_defaults: {{ prereqos.pacemaker_config.rsc_defaults | json }}
    - primitives: {{ prereqos.pacemaker_config.primitives | json }}
    - clones: {{ prereqos.pacemaker_config.clones | json }}
    - colocations: {{ prereqos.pacemaker_config.colocations | json }}
    - orders: {{ prereqos.pacemaker_config.orders | json }}
    - require:
      - pacemaker_cluster: prereqos-pacemaker-online
{%- endif %}
