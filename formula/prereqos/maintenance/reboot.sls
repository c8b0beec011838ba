{#- Rolling restart with reboot=true: the drained controller reboots two
    seconds after this step has returned its result (the orchestration then
    waits for its minion's start event); a timer is otherwise up to a minute
    late. #}
{%- from "prereqos/maintenance/map.jinja" import prereqos with context %}

prereqos-maintenance-reboot:
  cmd.run:
    - name: >-
        {{ prereqos.lookup.paths.systemd_run }} --on-active=2 --timer-property=AccuracySec=100ms
        --unit=prereqos-maintenance-reboot {{ prereqos.lookup.paths.systemctl }} reboot
