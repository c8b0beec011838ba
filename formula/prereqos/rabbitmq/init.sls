{#- RabbitMQ on this node: package, Erlang cookie (0400) from the pillar,
    node config bound to the node's internal address, service running. #}
{%- from "prereqos/map.jinja" import prereqos with context %}

include:
  - prereqos.hosts

prereqos-rabbitmq-installed:
  pkg.installed:
    - pkgs: {{ prereqos.lookup.pkgs.rabbitmq | json }}

{#- A cookie change on a running node is done as stop, write, start. #}
prereqos-rabbitmq-cookie:
  rabbitmq_cluster.cookie:
    - name: {{ prereqos.lookup.paths.erlang_cookie }}
    - pillar_key: prereqos:secrets:erlang_cookie
    - service: {{ prereqos.lookup.services.rabbitmq }}
    - require:
      - pkg: prereqos-rabbitmq-installed

prereqos-rabbitmq-config:
  file.managed:
    - name: /etc/rabbitmq/rabbitmq.conf
    - source: salt://prereqos/rabbitmq/files/rabbitmq.conf.jinja
    - template: jinja
    - user: root
    - group: rabbitmq
    - mode: '0640'
    - require:
      - pkg: prereqos-rabbitmq-installed

prereqos-rabbitmq-running:
  service.running:
    - name: {{ prereqos.lookup.services.rabbitmq }}
    - enable: true
    - require:
      - rabbitmq_cluster: prereqos-rabbitmq-cookie
      - sls: prereqos.hosts
    - watch:
      - file: prereqos-rabbitmq-config
