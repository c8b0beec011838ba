{#- Sync prereqos's modules (_modules, _states, _utils) to this minion while
    this file renders, so that the steps after it load them, under test=True
    too (a saltutil.sync_all state or salt.function step does not run then),
    and fetch the state tree into the minion's cache: run on one controller
    before the others, this makes the master's file server cache every file
    of the formula before minions ask in parallel (see orch/site.jinja).
    Neither changes a managed configuration: no changes are reported. #}
{%- set synced = salt["saltutil.sync_all"](refresh=True) %}
{%- do salt["cp.cache_dir"]("salt://prereqos") %}
{%- set updated = synced.values() | select | sum(start=[]) %}

prereqos-modules-synced:
  test.succeed_without_changes:
    - comment: {{ (("updated " ~ updated | join(", ")) if updated else "already in sync") | json }}
