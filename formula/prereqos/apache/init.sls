{#- apache2 with mod_wsgi and proxy_uwsgi, listening only on this node's own
    address (HAProxy owns the VIP ports). #}
{%- from "prereqos/map.jinja" import prereqos with context %}
{%- set paths = prereqos.lookup.paths %}

prereqos-apache-installed:
  pkg.installed:
    - pkgs: {{ prereqos.lookup.pkgs.apache | json }}
    - install_recommends: {{ prereqos.lookup.install_recommends }}

prereqos-apache-config:
  file.managed:
    - names:
      - {{ paths.apache_ports_conf }}:
        - source: salt://prereqos/apache/files/ports.conf.jinja
      - {{ paths.apache_site_conf }}:
        - source: salt://prereqos/apache/files/site.conf.jinja
    - template: jinja
    - user: root
    - group: root
    - mode: '0644'
    - require:
      - pkg: prereqos-apache-installed

{%- for module in prereqos.apache.modules %}

prereqos-apache-module-{{ module }}:
  cmd.run:
    - name: a2enmod -q {{ module }}
    - creates: {{ paths.apache_mods_enabled }}/{{ module }}.load
    - require:
      - pkg: prereqos-apache-installed
{%- endfor %}

prereqos-apache-configtest:
  cmd.run:
    - name: apache2ctl -t
    - onchanges:
      - file: prereqos-apache-config
{%- for module in prereqos.apache.modules %}
      - cmd: prereqos-apache-module-{{ module }}
{%- endfor %}

{#- A restart, not a reload: a reload cannot move a listener from the
    package's wildcard address to the node's own address. #}
prereqos-apache-running:
  service.running:
    - name: {{ prereqos.lookup.services.apache }}
    - enable: true
    - require:
      - cmd: prereqos-apache-configtest
    - watch:
      - file: prereqos-apache-config
{%- for module in prereqos.apache.modules %}
      - cmd: prereqos-apache-module-{{ module }}
{%- endfor %}
