{#- Sync prereqos's modules (_modules, _states, _utils) to this minion while
    this file renders, so that the steps after it load them, under test=True
    too (a saltutil.sync_all state or salt.function step does not run then).
    Syncing changes no managed configuration: no changes are reported. #}
{%- set synced = salt["saltutil.sync_all"](refresh=True) %}
{%- set updated = synced.values() | select | sum(start=[]) %}

prereqos-modules-synced:
  test.succeed_without_changes:
    - comment: {{ (("updated " ~ updated | join(", ")) if updated else "already in sync") | json }}
