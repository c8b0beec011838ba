{#- RabbitMQ on this node: package, Erlang cookie (0400) from the pillar,
    node config bound to the node's internal address, service running. #}
{%- from "prereqos/map.jinja" import prereqos with context %}

include:
  - prereqos.hosts

{#- In place before the package starts epmd: it listens on loopback and the
    internal address only (Debian's socket listens on every address). #}
prereqos-rabbitmq-epmd-socket:
  file.managed:
    - name: {{ prereqos.lookup.paths.systemd_units }}/epmd.socket.d/prereqos.conf
    - source: salt://prereqos/rabbitmq/files/epmd.socket.conf.jinja
    - template: jinja
    - makedirs: true
    - user: root
    - group: root
    - mode: '0644'

prereqos-rabbitmq-systemd-reload:
  cmd.run:
    - name: systemctl daemon-reload
    - onchanges:
      - file: prereqos-rabbitmq-epmd-socket

prereqos-rabbitmq-installed:
  pkg.installed:
    - pkgs: {{ prereqos.lookup.pkgs.rabbitmq | json }}
    - install_recommends: {{ prereqos.lookup.install_recommends }}
    - require:
      - cmd: prereqos-rabbitmq-systemd-reload

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
    - names:
      - {{ prereqos.lookup.paths.rabbitmq_conf }}:
        - source: salt://prereqos/rabbitmq/files/rabbitmq.conf.jinja
      - {{ prereqos.lookup.paths.rabbitmq_env_conf }}:
        - source: salt://prereqos/rabbitmq/files/rabbitmq-env.conf.jinja
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
