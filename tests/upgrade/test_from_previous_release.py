"""A Debian 12 cluster converged by the previous formula release, upgraded to this one.

The master serves the previous release through gitfs with the pillar laid out as
that release's README said (secrets in the pillar of every minion and the
master); the operator then moves the pillar's secrets to the controllers only
(this release's layout), commits this tree to the served repository and runs
``orch.prereqos``. That first run adds only what this release brings (the
node's facts file; in galera.cnf the ``datadir`` line, same value as MariaDB's
default, and flow control for one writer, both read at the next restart;
keepalived's track file of planned maintenance and its VRRP priorities near the
top, and haproxy's transparent binds and hard-stop-after, both reloaded; haproxy's graceful stop, a systemd
drop-in; the copy of haproxy.cfg a reload follows) and restarts nothing; the next one changes nothing.

Runs in ``make test-upgrade`` and ``make test-all`` (not in ``make test``): it needs
the repository's history, and a test bed of its own.
"""

from __future__ import annotations

import subprocess
from collections.abc import Iterator

import pytest

from tests.testbed.clients import PROBE_DB, publish, queue_depth, write_rows
from tests.testbed.cluster import CONFIG_FILES, MANAGER_CONFIG_FILES, Cluster, prepare_site
from tests.testbed.gitfs import REPO_ROOT
from tests.testbed.harness import MASTER, Testbed
from tests.testbed.site import site_pillar

#: the last formula release before Debian 13 and the secrets' own pillar file
PREVIOUS_RELEASE = "6a235b33ce3d5a9640fd002d51c2f5628b2ef433"
GALERA_CNF = "/etc/mysql/mariadb.conf.d/99-prereqos-galera.cnf"
KEEPALIVED_CONF = "/etc/keepalived/keepalived.conf"
HAPROXY_CFG = "/etc/haproxy/haproxy.cfg"
LIST_CACHE_CONFIG = "/etc/salt/master.d/list-cache.conf"
#: what the first run of this release changes on every controller, and nothing else
FIRST_RUN_CHANGES = {
    "prereqos-deploy/prereqos-facts",
    "prereqos-deploy/prereqos-galera-config",
    "prereqos-deploy/prereqos-keepalived-state-dir",
    "prereqos-deploy/prereqos-keepalived-config",
    "prereqos-deploy/prereqos-keepalived-running",
    "prereqos-deploy/prereqos-haproxy-graceful-stop",
    "prereqos-deploy/prereqos-haproxy-systemd-reload",
    "prereqos-deploy/prereqos-haproxy-config",
    "prereqos-deploy/prereqos-haproxy-undrained-config",
    "prereqos-deploy/prereqos-haproxy-running",
}
#: how each file's lines may change: (prefixes of lines added, prefixes of lines removed)
CHANGED_LINES = {
    GALERA_CNF: (
        (
            "datadir = /var/lib/mysql",
            "# Group communication on this node's address only (the default is every address);",
            "# flow control for one writer at a time; quick membership changes.",
            'wsrep_provider_options = "gmcast.listen_addr=tcp://',
        ),
        (
            "# Group communication on this node's address only (the default is every address).",
            'wsrep_provider_options = "gmcast.listen_addr=tcp://',
        ),
    ),
    KEEPALIVED_CONF: (
        (
            "# 1 while this controller is drained for maintenance: every instance goes to",
            "# FAULT, releases its VIP and claims none (orch.prereqos_drain / _undrain).",
            "vrrp_track_file prereqos_drained {",
            '    file "/var/lib/prereqos/vips-released"',
            "    weight 0",
            "    init_file 0",
            "    track_file {",
            "        prereqos_drained",
            "    priority ",
        ),
        ("    priority ",),
    ),
    # every bind becomes transparent (answers still sent after a VIP moved);
    # a stop or reload ends the sessions left after hard-stop-after
    HAPROXY_CFG: (("    bind ", "    hard-stop-after "), ("    bind ",)),
}
PROBE_MESSAGES = 20
PROBE_ROWS = 10

#: the release the previous formula release supported
RELEASE = "12"


@pytest.fixture(scope="module")
def previous() -> Iterator[Cluster]:
    """Three Debian 12 controllers converged by the previous release, served through gitfs."""
    example = subprocess.run(
        ["git", "show", f"{PREVIOUS_RELEASE}:pillar.example"], cwd=REPO_ROOT, capture_output=True, text=True, check=True
    ).stdout
    with Testbed(
        controllers=3, networks=("srv", "api"), release=RELEASE, gitfs=True, served_release=PREVIOUS_RELEASE
    ) as tb:
        prepare_site(tb, "keepalived")
        pillar = site_pillar(tb.site_facts(), "keepalived", example=example, hostile=False)
        tb.write_pillar(pillar, secrets_everywhere=True)
        cluster = Cluster(tb=tb, vip_manager="keepalived", pillar=pillar)
        cluster.runs["previous"] = cluster.converge()
        write_rows(cluster, PROBE_ROWS)
        publish(cluster, "ctrl-2", PROBE_MESSAGES)
        yield cluster


def test_the_first_run_of_this_release_adds_its_files_and_restarts_nothing(previous: Cluster) -> None:
    tb = previous.tb
    assert tb.served is not None
    units, configs = previous.units(), _configs(previous)
    previous.write_pillar(previous.pillar)  # secrets to the controllers only
    # The master keeps the list of files it read at its restart for an hour (20 s by
    # default): a run right after the update finds the list older than the formula.
    tb.write_file(MASTER, LIST_CACHE_CONFIG, "fileserver_list_cache_time: 3600\n")
    tb.restart_master()
    tb.wait_minions(previous.controllers)  # the first job after a restart is lost otherwise
    tb.served.upgrade()
    tb.salt_run(["fileserver.update", "backend=gitfs"], check=True)
    stale = previous.orchestrate()
    assert stale.rc != 0 and "did not load on ctrl-1 after saltutil.sync_all" in stale.raw, stale.report()
    assert "salt-run fileserver.clear_file_list_cache" in stale.raw and stale.changed == {}, stale.report()
    # As the README and the refusal say: the master lists the new _utils/ folder at once.
    tb.salt_run(["fileserver.clear_file_list_cache"], check=True)
    run = previous.converge()
    assert {node: set(ids) for node, ids in run.changed.items()} == dict.fromkeys(
        previous.controllers, FIRST_RUN_CHANGES
    )
    assert previous.units() == units
    after = _configs(previous)
    for node in previous.controllers:
        for path, (added, removed) in CHANGED_LINES.items():
            old, new = set(configs[node].pop(path).splitlines()), set(after[node].pop(path).splitlines())
            assert all(line.startswith(added) for line in new - old), (node, path, new - old)
            assert all(line.startswith(removed) for line in old - new), (node, path, old - new)
    assert after == configs
    assert queue_depth(previous) == PROBE_MESSAGES
    for node in previous.controllers:
        assert previous.sql(node, f"SELECT COUNT(*) FROM {PROBE_DB}.t").strip() == str(PROBE_ROWS), node


def test_the_next_run_changes_nothing(previous: Cluster) -> None:
    units = previous.units()
    run = previous.converge()
    assert run.changed == {}, run.changed
    assert previous.units() == units


def _configs(cluster: Cluster) -> dict[str, dict[str, str]]:
    """``node -> file -> content`` of the configuration files the formula manages."""
    files = CONFIG_FILES + MANAGER_CONFIG_FILES[cluster.vip_manager]
    return {node: {path: cluster.tb.read_file(node, path) for path in files} for node in cluster.controllers}
