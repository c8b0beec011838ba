{#- drain: this controller's RabbitMQ node goes into maintenance mode (its
    quorum queue leaders move, its clients are disconnected and reconnect
    elsewhere); undrain: it serves clients again. #}
{%- from "prereqos/maintenance/map.jinja" import prereqos, maintenance with context %}

prereqos-maintenance-rabbitmq:
  rabbitmq_cluster.maintenance:
    - name: rabbit@{{ prereqos.me.hostname }}
    - enabled: {{ maintenance.action == "drain" }}
