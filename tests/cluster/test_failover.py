"""Failures and bad input on the converged cluster: nothing may be lost or changed.

Runs after test_converge.py on the same test bed (``make test-failover``
alone converges its own). Ordered from harmless to destructive.
"""

from __future__ import annotations

import stat

import pytest

from tests.badpillars import bad_pillar
from tests.testbed import orchestration, scenarios
from tests.testbed.clients import (
    CommitStream,
    ConfirmedPublisher,
    drain,
    wait_until,
)
from tests.testbed.cluster import Cluster, Run
from tests.testbed.harness import TestbedError
from tests.testbed.leaks import secret_leaks

pytestmark = pytest.mark.failover

# path -> (mode, owner:group); the files holding secrets, and who may read them
SECRET_FILES = {
    "/var/lib/rabbitmq/.erlang.cookie": (0o400, "rabbitmq:rabbitmq"),
    "/etc/mysql/mariadb.conf.d/99-prereqos-sst.cnf": (0o600, "mysql:mysql"),
    "/root/admin-openrc": (0o600, "root:root"),
}
PACEMAKER_SECRET_FILES = {"/etc/corosync/authkey": (0o400, "root:root")}
# Bad pillars replayed on the real master, one of each kind that does not depend
# on pillar.example's addresses (the render tier checks every case of
# tests/badpillars.py; each replay costs a run, ~5 s).
REPLAYED_ON_THE_MASTER = (
    "missing secret",
    "secrets not a mapping",
    "password with a line break",
    "sst password with a backslash",
    "vip outside network",
    "duplicate bind",
    "node named twice",
    "misspelled key",
    "timeout not a duration",
    "interface name too long",
    "lookup path relative",
)
# Seconds a VIP may take beyond its manager's timers (pacemaker: a new DC, the
# resource agent's start; keepalived: scheduling on a loaded 2-core host).
FAILOVER_SLACK_S = {"keepalived": 2.0, "pacemaker": 15.0}
# Seconds HAProxy may take beyond inter x fall to report a server DOWN (the last
# check's own timeout, and the stats page polled every 0.2 s).
MARK_DOWN_SLACK_S = 2.0


def steps_past_the_sync(run: Run) -> list[str]:
    """The steps that ran, the modules' sync aside (it changes nothing; the bootstrap
    controller syncs alone first, so it may pass when another controller fails)."""
    return [s.id for s in run.steps if s.result is not False and not s.id.startswith("prereqos-sync-modules")]


# ---------------------------------------------------------------- security


def test_secret_files_have_strict_modes_and_owners(cluster: Cluster) -> None:
    files = SECRET_FILES | (PACEMAKER_SECRET_FILES if cluster.vip_manager == "pacemaker" else {})
    for node in cluster.controllers:
        for path, (mode, owner) in files.items():
            out = cluster.tb.exec(node, ["stat", "-c", "%f %U:%G", path], check=True).stdout.split()
            assert (stat.S_IMODE(int(out[0], 16)), out[1]) == (mode, owner), (node, path, out)


@pytest.mark.parametrize("cluster", ["pacemaker"], indirect=True)
def test_corosync_runs_encrypted(cluster: Cluster) -> None:
    for node in cluster.controllers:
        for key, value in (("totem.crypto_cipher", "aes256"), ("totem.crypto_hash", "sha256")):
            out = cluster.tb.exec(node, ["corosync-cmapctl", "-g", key], check=True).stdout
            assert out.strip().endswith(f"= {value}"), (node, out)


def test_nothing_listens_on_a_wildcard_address(cluster: Cluster) -> None:
    """Every TCP/UDP listener binds a node, VIP or loopback address."""
    for node in cluster.controllers:
        out = cluster.tb.exec(node, ["ss", "-Hlntup"], check=True).stdout
        wildcard = [line for line in out.splitlines() if line.split()[4].rsplit(":", 1)[0] in ("*", "0.0.0.0", "[::]")]
        assert not wildcard, f"{node}:\n" + "\n".join(wildcard)


def test_every_secret_reaches_its_consumer_intact(cluster: Cluster) -> None:
    """The test bed's passwords hold quotes, backslash, `$`, backticks, `#`, `;`, spaces and
    non-ASCII; each consumer reads back exactly the pillar's value. (The stats page login,
    the AMQP client and every SST join of the converge use them too.)"""
    secrets = cluster.site["secrets"]
    sst = f"--wsrep_sst_auth={cluster.site['galera'].get('sst_user', 'sst')}:{secrets['db_sst_password']}"
    for node in cluster.controllers:
        options = cluster.tb.exec(node, ["my_print_defaults", "--mysqld"], check=True).stdout.splitlines()
        assert sst in options, f"{node}: MariaDB reads another SST password back"
        openrc = cluster.tb.exec(
            node, ["bash", "-c", 'source /root/admin-openrc && printf %s "$OS_PASSWORD"'], check=True
        ).stdout
        assert openrc == secrets["openrc_admin_password"], f"{node}: the shell reads another OS_PASSWORD back"
        # root by password, not by socket: as an OS user that is not root (the password in the environment).
        as_root = ["runuser", "-u", "nobody", "--", "mariadb", "-uroot", "-N", "-e", "SELECT CURRENT_USER()"]
        out = cluster.tb.exec(node, as_root, env={"MYSQL_PWD": secrets["db_root_password"]}).stdout
        assert out.strip() == "root@localhost", f"{node}: the root password does not log in"
        wrong = cluster.tb.exec(node, as_root, env={"MYSQL_PWD": "wrong" + secrets["db_root_password"]})
        assert wrong.rc != 0, f"{node}: root logs in without its password"


def test_no_secret_leaves_the_controllers_pillar(cluster: Cluster) -> None:
    """No secret in any job argument, return, event, log line or process list, on the master
    or a controller, after the converge and every orchestration since (see secret_leaks)."""
    leaks = secret_leaks(cluster)
    assert not leaks, leaks


# ---------------------------------------------------------------- bad input


# Validation does not depend on the VIP manager: one test bed runs it.
@pytest.mark.parametrize("cluster", ["pacemaker"], indirect=True)
def test_bad_pillars_stop_the_run_before_any_change(cluster: Cluster) -> None:
    good = cluster.pillar
    units = cluster.units()
    configs = cluster.checksums()
    try:
        for case in REPLAYED_ON_THE_MASTER:
            pillar, message = bad_pillar(case, good)
            cluster.tb.write_pillar(pillar)
            run = cluster.orchestrate()
            text = "\n".join(orchestration.failures(run.steps))
            assert run.rc != 0 and message in text, (case, text[-2000:])
            assert run.changed == {}, (case, run.changed)
            assert not steps_past_the_sync(run), (case, run.report())
    finally:
        cluster.tb.write_pillar(good)
    assert cluster.units() == units
    assert cluster.checksums() == configs


# The preflight does not depend on the VIP manager: one test bed runs it.
@pytest.mark.parametrize("cluster", ["keepalived"], indirect=True)
def test_an_unreachable_controller_stops_the_run_by_name(cluster: Cluster) -> None:
    """A controller is down when the run starts: nothing changes; with it back, the run completes."""
    configs = cluster.checksums()
    cluster.tb.stop("ctrl-3")
    try:
        run = cluster.orchestrate()
        text = "\n".join(orchestration.failures(run.steps))
        assert run.rc != 0 and "ctrl-3" in text.splitlines()[0], text
        assert run.changed == {}
        assert not steps_past_the_sync(run), run.report()
    finally:
        cluster.tb.start("ctrl-3")
    assert {n: c for n, c in cluster.checksums().items() if n != "ctrl-3"} == {
        n: c for n, c in configs.items() if n != "ctrl-3"
    }
    cluster.converge()


# ---------------------------------------------------------------- node and service failures


def test_rabbitmq_node_death_loses_no_confirmed_message(cluster: Cluster) -> None:
    """Kill a node while a client publishes persistent, confirmed messages to a quorum queue."""
    queue = f"prereqos-failover-{cluster.vip_manager}"
    victim = "ctrl-3"
    with ConfirmedPublisher(cluster, queue, nodes=["ctrl-1", "ctrl-2"]) as publisher:
        publisher.wait_for_confirms(200)
        cluster.tb.kill(victim)
        publisher.wait_for_confirms(200)
    confirmed = set(publisher.confirmed)
    consumed = set(drain(cluster, "ctrl-2", queue))
    print(f"\n[{cluster.vip_manager}] {victim} killed: {len(confirmed)} confirmed, {len(consumed)} consumed")
    assert confirmed <= consumed, sorted(confirmed - consumed)[:10]
    cluster.tb.start(victim)
    expected = sorted(f"rabbit@{node}" for node in cluster.controllers)
    # RabbitMQ starts at boot and rejoins by itself; MariaDB waits for the orchestration.
    wait_until(lambda: rabbit_running(cluster, victim) == expected, 180)
    rejoin = cluster.converge()
    assert not [sid for ids in rejoin.changed.values() for sid in ids if "rabbitmq" in sid], rejoin.changed
    run = cluster.converge()
    assert run.changed == {}, run.changed


def rabbit_running(cluster: Cluster, node: str) -> list[str]:
    """The running nodes ``node`` sees, sorted; none while its RabbitMQ is not up."""
    try:
        return sorted(cluster.rabbitmqctl(node, "cluster_status")["running_nodes"])
    except (TestbedError, ValueError):
        return []


def test_vip_moves_when_its_holder_dies(cluster: Cluster) -> None:
    """Power off the api VIP's holder under a stream of requests; measure the gap."""
    result = scenarios.vip_failover(cluster)
    print(f"\n[{cluster.vip_manager}] {result}")
    assert len(result.holders) == 1 and result.holders != [result.killed]
    assert result.gap_s <= result.bound_s + FAILOVER_SLACK_S[cluster.vip_manager], result


def test_a_dying_backend_costs_no_request(cluster: Cluster) -> None:
    """Kill one apache under a steady stream through the VIP: retries hide it."""
    result = scenarios.backend_failure(cluster)
    print(f"\n[{cluster.vip_manager}] {result}")
    assert result.failed == [], result.failed[:5]
    assert result.mark_down_s <= result.bound_s + MARK_DOWN_SLACK_S, result


def test_galera_writer_death_loses_no_committed_row(cluster: Cluster) -> None:
    """Power off the writer while a client commits numbered rows through the VIP."""
    result = scenarios.writer_failover(cluster)
    print(f"\n[{cluster.vip_manager}] {result}")
    assert len(result.new_writers) == 1 and result.writer not in result.new_writers, result
    assert set(result.missing_on_survivors.values()) == {0}, result
    assert set(result.missing_after_rejoin.values()) == {0}, result
    assert set(result.cluster_sizes.values()) == {"3"}, result


# ---------------------------------------------------------------- full outage


# The recovery is MariaDB's and RabbitMQ's, whatever owns the VIPs: one test bed runs it.
@pytest.mark.parametrize("cluster", ["keepalived"], indirect=True)
def test_full_power_loss_is_refused_then_recovered_without_losing_a_row(cluster: Cluster) -> None:
    """Every controller loses power after writes; nothing bootstraps until the recovery command."""
    table = "outage"
    with CommitStream(cluster, table) as stream:
        stream.wait_for_commits(30)
    committed = {i for i, _, _ in stream.committed}
    for node in cluster.controllers:
        cluster.tb.kill(node)
    cluster.tb.start(*cluster.controllers)

    run = cluster.orchestrate()
    text = "\n".join(orchestration.failures(run.steps))
    assert run.rc != 0 and "salt-run state.orchestrate orch.prereqos_recover" in text, text[-3000:]
    assert galera_running(cluster) == []

    cluster.tb.stop("ctrl-3")  # ambiguous: the node that may hold the newest data is unreachable
    try:
        run = cluster.orchestrate(mods="orch.prereqos_recover")
        text = "\n".join(orchestration.failures(run.steps))
        assert run.rc != 0 and "the state of ctrl-3 is unknown" in text, text[-3000:]
        assert galera_running(cluster, ["ctrl-1", "ctrl-2"]) == []
    finally:
        cluster.tb.start("ctrl-3")

    run = cluster.converge(mods="orch.prereqos_recover")
    choice = next(
        ret["comment"]
        for step in run.steps
        for states in step.minion_states.values()
        for ret in states.values()
        if "bootstraps the cluster" in str(ret.get("comment"))
    )
    print(f"\n[{cluster.vip_manager}] recovery: {choice.splitlines()[0]}")
    for node in cluster.controllers:
        assert committed <= scenarios.stored_ids(cluster, node, table), node
        assert scenarios.wsrep(cluster, node, "wsrep_cluster_size") == "3"
    expected = sorted(f"rabbit@{node}" for node in cluster.controllers)
    assert sorted(cluster.rabbitmqctl("ctrl-2", "cluster_status")["running_nodes"]) == expected


def galera_running(cluster: Cluster, nodes: list[str] | None = None) -> list[str]:
    """The controllers where mariadb runs."""
    active = ["systemctl", "is-active", "--quiet", "mariadb"]
    return [node for node in nodes or cluster.controllers if cluster.tb.exec(node, active).rc == 0]
