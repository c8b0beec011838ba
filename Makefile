# prereqos: build, test and demo targets. Everything a run needs is installed
# from here: the venv (pinned), the Debian checkers, the docker engine, images.
SHELL := /bin/bash
.DEFAULT_GOAL := help

PYTHON      ?= python3
VENV        := .venv
PY          := $(VENV)/bin/python
STAMPS      := .cache/stamps
VIP_MANAGER ?= pacemaker
# The Debian release of the demo (13, trixie, or 12, bookworm).
DEBIAN      ?= 13
RELEASES    := 13 12
PYTEST      := $(PY) -m pytest

# Debian 12 packages the render tier runs as config checkers.
CHECKER_PKGS := haproxy keepalived corosync apache2 libapache2-mod-wsgi-py3 libapache2-mod-proxy-uwsgi mariadb-client-core
# Debian 12 packages the cluster tier needs on the host.
TESTBED_PKGS := docker.io mmdebstrap

.PHONY: help venv host-checkers docker-engine images images-all demo demo-down \
        test test-all test-upgrade test-maintenance test-unit test-render test-cluster test-failover test-live lint bench bench-render clean

help:
	@echo "make demo          converge a local 3-controller demo cluster (VIP_MANAGER=pacemaker|keepalived, DEBIAN=13|12)"
	@echo "make demo-down     remove the demo cluster"
	@echo "make test          every tier: lint, unit, render, then the cluster tier (all of it, planned"
	@echo "                   maintenance included, on Debian 13; converge + re-run + test=True on Debian 12),"
	@echo "                   both VIP managers"
	@echo "make test-all      the same with every cluster scenario on every Debian release, and test-upgrade (not CI)"
	@echo "make test-upgrade  a Debian 12 cluster of the previous formula release upgraded to this one"
	@echo "make test-maintenance  drain, undrain, rolling restart under load (converge first)"
	@echo "make test-unit | test-render | test-cluster | test-failover | lint"
	@echo "make bench         converge, re-run, failover and render figures -> bench/results.json, bench/results.md"
	@echo "make bench-render  the render-scale figures only (seconds, no test bed)"

$(STAMPS):
	@mkdir -p $@

# The venv is rebuilt only when the pinned requirements change.
$(VENV)/.stamp: requirements.txt
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -r requirements.txt
	@touch $@
venv: $(VENV)/.stamp

# apt needs an update once on a fresh machine before it can install anything.
$(STAMPS)/apt-updated: | $(STAMPS)
	@command -v apt-get >/dev/null || { echo "apt-get not found: prereqos tests need a Debian 12 host"; exit 1; }
	apt-get update -q
	@touch $@

$(STAMPS)/host-checkers: Makefile | $(STAMPS)/apt-updated
	DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends $(CHECKER_PKGS)
	@touch $@
host-checkers: $(STAMPS)/host-checkers

$(STAMPS)/testbed-pkgs: Makefile | $(STAMPS)/apt-updated
	DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends $(TESTBED_PKGS)
	@touch $@

docker-engine: $(STAMPS)/testbed-pkgs
	tests/testbed/ensure-docker.sh

images: docker-engine venv
	tests/testbed/build-images.sh --release $(DEBIAN)

images-all: docker-engine venv
	for release in $(RELEASES); do tests/testbed/build-images.sh --release $$release || exit 1; done

lint: venv
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/yamllint -s .
	find formula orch -name '*.sls' -print0 | xargs -0 $(VENV)/bin/salt-lint

test-unit: venv
	$(PYTEST) tests/unit

# Debian 12's checkers run on this host, Debian 13's in a container of its image.
test-render: venv host-checkers images-all
	$(PYTEST) tests/render

# The cluster tiers converge real test beds (one per Debian release and VIP
# manager). Run alone, each converges its own; `make test` runs both on the
# same test beds.
test-cluster: images-all
	$(PYTEST) tests/cluster -m "not failover and not maintenance"

test-failover: images-all
	$(PYTEST) tests/cluster -m failover

test-live: images-all
	$(PYTEST) tests/cluster

# Planned maintenance under load (the converge first).
test-maintenance: images-all
	$(PYTEST) tests/cluster -m "maintenance or not (failover or maintenance)"

# Figures, not tests: a fresh test bed per Debian release and VIP manager.
bench: images-all
	$(PY) -m bench.run

bench-render: venv
	$(PY) -m bench.run --only render

test: lint test-unit test-render test-live

# A Debian 12 cluster of the previous formula release, upgraded to this tree
# (needs the repository's history).
test-upgrade: images-all
	$(PYTEST) tests/upgrade

# Every cluster scenario on every Debian release, and the upgrade (about
# twice `make test`); the upgrade runs even when a cluster test failed.
test-all: lint test-unit test-render images-all
	PREREQOS_MATRIX=all $(PYTEST) tests/cluster; cluster=$$?; $(PYTEST) tests/upgrade && exit $$cluster

demo: images
	$(PY) -m tests.testbed.demo up --vip-manager $(VIP_MANAGER) --debian $(DEBIAN)

demo-down: venv
	$(PY) -m tests.testbed.demo down

clean:
	rm -rf $(VENV) .cache
