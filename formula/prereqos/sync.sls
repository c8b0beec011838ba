{#- Sync prereqos's modules (_modules, _states, _utils) to this minion while
    this file renders, so that the steps after it load them, under test=True
    too (a saltutil.sync_all state or salt.function step does not run then),
    and fetch the state tree into the minion's cache: run on one controller
    before the others, this makes the master's file server cache every file
    of the formula before minions ask in parallel (see orch/site.jinja).
    Neither changes a managed configuration: no changes are reported.
    Then refuse when one of prereqos's state modules does not load (they
    always load, and import every _utils module between them): a sync that
    missed a file would otherwise surface later as an obscure render error. #}
{%- set synced = salt["saltutil.sync_all"](refresh=True) %}
{%- do salt["cp.cache_dir"]("salt://prereqos") %}
{%- set updated = synced.values() | select | sum(start=[]) %}
{%- set state_modules = ["galera_cluster", "pacemaker_cluster", "prereqos", "rabbitmq_cluster"] %}
{%- set not_loaded = state_modules | reject("in", salt["sys.list_state_modules"]()) | list %}
{%- if not_loaded %}
{{ raise("prereqos.sync: the state module(s) " ~ not_loaded | join(", ") ~ " did not load on " ~ grains["id"]
         ~ " after saltutil.sync_all (updated: " ~ (updated | join(", ") or "nothing") ~ "; the minion log names the import error)."
         ~ " After a formula update the master lists new files only once its file list cache expires"
         ~ " (fileserver_list_cache_time): run `salt-run fileserver.clear_file_list_cache`, then run again.") }}
{%- endif %}

prereqos-modules-synced:
  test.succeed_without_changes:
    - comment: {{ (("updated " ~ updated | join(", ")) if updated else "already in sync") | json }}
