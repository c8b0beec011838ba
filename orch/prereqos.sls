{#- Converge the HA base of the control plane:
      salt-run state.orchestrate orch.prereqos [pillar=<non-secret values as JSON>]
    1. sync our modules; 2. validate the pillar and check every node, changing
    nothing; 3. install and configure every part on every node; 4. form the
    clusters: the bootstrap node first, then the others one at a time, each
    gated on health; 5. the final health gate. Re-running changes nothing. #}
{%- set orchestration = "orch.prereqos" %}
{%- from "orch/site.jinja" import ids, first, others, pacemaker, public_pillar, sync_modules with context %}

{#- Our modules must be on every controller before anything renders there,
    under test=True too: prereqos.sync syncs them while it renders (a
    salt.function step would not run under test=True). #}
{{ sync_modules("prereqos-sync-modules") }}

prereqos-preflight:
  salt.state:
    - tgt: {{ ids | json }}
    - tgt_type: list
    - sls: prereqos.preflight
    - pillar: {{ public_pillar | json }}
    - require:
      - salt: prereqos-sync-modules

prereqos-deploy:
  salt.state:
    - tgt: {{ ids | json }}
    - tgt_type: list
    - sls:
      - prereqos.apache
      - prereqos.ha
      - prereqos.rabbitmq
      - prereqos.galera
      - prereqos.buildenv
      - prereqos.openrc
    - pillar: {{ public_pillar | json }}
    - require:
      - salt: prereqos-preflight

{%- if pacemaker %}

prereqos-pacemaker-resources:
  salt.state:
    - tgt: {{ first }}
    - sls: prereqos.ha.resources
    - pillar: {{ public_pillar | json }}
    - require:
      - salt: prereqos-deploy
{%- endif %}

{%- set chain = namespace(previous="prereqos-deploy") %}
{%- for node in others %}

prereqos-rabbitmq-join-{{ node }}:
  salt.state:
    - tgt: {{ node }}
    - sls: prereqos.rabbitmq.join
    - pillar: {{ public_pillar | json }}
    - require:
      - salt: {{ chain.previous }}
{%- set chain.previous = "prereqos-rabbitmq-join-" ~ node %}
{%- endfor %}

prereqos-rabbitmq-setup:
  salt.state:
    - tgt: {{ first }}
    - sls: prereqos.rabbitmq.setup
    - pillar: {{ public_pillar | json }}
    - require:
      - salt: {{ chain.previous }}

{#- Galera: each step first refreshes every node's live state in the mine,
    from which galera_cluster decides to join, bootstrap, or stop. #}
{%- set chain.previous = "prereqos-rabbitmq-setup" %}
{%- for node in [first] + others %}

prereqos-galera-survey-{{ node }}:
  salt.state:
    - tgt: {{ ids | json }}
    - tgt_type: list
    - sls: prereqos.galera.survey
    - pillar: {{ public_pillar | json }}
    - require:
      - salt: {{ chain.previous }}

prereqos-galera-{{ node }}:
  salt.state:
    - tgt: {{ node }}
    - sls: {{ "prereqos.galera.setup" if node == first else "prereqos.galera.cluster" }}
    - pillar: {{ public_pillar | json }}
    - require:
      - salt: prereqos-galera-survey-{{ node }}
{%- set chain.previous = "prereqos-galera-" ~ node %}
{%- endfor %}

prereqos-health:
  salt.state:
    - tgt: {{ ids | json }}
    - tgt_type: list
    - sls: prereqos.health
    - pillar: {{ public_pillar | json }}
    - require:
      - salt: {{ chain.previous }}
{%- if pacemaker %}
      - salt: prereqos-pacemaker-resources
{%- endif %}
