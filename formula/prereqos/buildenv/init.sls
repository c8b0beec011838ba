{#- Build tools and -dev packages, and a venv with pip and uwsgi for the
    OpenStack services: everything from the package managers, no script
    downloaded from the internet. #}
{%- from "prereqos/map.jinja" import prereqos with context %}
{%- set buildenv = prereqos.buildenv %}

prereqos-buildenv-packages:
  pkg.installed:
    - pkgs: {{ buildenv.packages | json }}
    - install_recommends: {{ prereqos.lookup.install_recommends }}

prereqos-buildenv-venv:
  cmd.run:
    - name: python3 -m venv {{ buildenv.venv }}
    - creates: {{ buildenv.venv }}/bin/pip
    - require:
      - pkg: prereqos-buildenv-packages

{#- pip.installed cannot look into a venv that does not exist yet: on a fresh
    node, test=True predicts the install instead. #}
{%- if opts.test and not salt["file.file_exists"](buildenv.venv ~ "/bin/pip") %}

prereqos-buildenv-pip-packages:
  test.configurable_test_state:
    - name: pip would install {{ buildenv.pip_packages | join(", ") }} into the new venv {{ buildenv.venv }}
    - changes: true
    - result: true
{%- else %}

prereqos-buildenv-pip-packages:
  pip.installed:
    - pkgs: {{ buildenv.pip_packages | json }}
    - bin_env: {{ buildenv.venv }}
{%- for option, value in buildenv.pip_options.items() %}
    - {{ option }}: {{ value | json }}
{%- endfor %}
    - require:
      - cmd: prereqos-buildenv-venv
{%- endif %}
