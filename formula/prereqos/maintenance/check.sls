{#- Go or refuse, changing nothing. drain: every controller checks that it
    sees a whole, healthy cluster with no other controller drained, at once;
    the one to drain waits until no quorum queue needs it (replicas catching
    up after the last restart). undrain: the controller itself waits until it
    is healthy again (Galera Synced, RabbitMQ running), its maintenance aside.
    Both wait up to maintenance:ready_timeout. #}
{%- from "prereqos/maintenance/map.jinja" import prereqos, maintenance with context %}

prereqos-maintenance-ready:
  prereqos.ready_for:
    - name: {{ maintenance.node }}
    - action: {{ maintenance.action }}
    - timeout: {{ prereqos.maintenance.ready_timeout }}
