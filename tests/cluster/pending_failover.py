"""Failure scenarios written for issue 4 but not yet proven on the test bed.

Not collected (no ``test_`` prefix): each goes into test_failover.py once it has
passed on a real run. Known so far: the scenarios' clocks now start when the
powered-off node is really gone (a dying node still answered for a few ms);
apache is kept dead with a runtime drop-in, written from inside the node
(docker cannot write into the node's /run tmpfs).
"""

from __future__ import annotations

import pytest

from tests.testbed import orchestration, scenarios
from tests.testbed.clients import CommitStream
from tests.testbed.cluster import Cluster

pytestmark = pytest.mark.failover

# Seconds a VIP may take beyond its manager's timers (pacemaker: a new DC, the
# resource agent's start; keepalived: scheduling on a loaded 2-core host).
FAILOVER_SLACK_S = {"keepalived": 2.0, "pacemaker": 15.0}
# Seconds HAProxy may take beyond inter x fall to report a server DOWN (the last
# check's own timeout, and the stats page polled every 0.2 s).
MARK_DOWN_SLACK_S = 2.0


@pytest.mark.parametrize("cluster", ["keepalived"], indirect=True)
def test_an_unreachable_controller_stops_the_run_by_name(cluster: Cluster) -> None:
    configs = cluster.checksums()
    cluster.tb.stop("ctrl-3")
    try:
        run = cluster.orchestrate()
        text = "\n".join(orchestration.failures(run.steps))
        assert run.rc != 0 and "ctrl-3" in text.splitlines()[0], text
        assert run.changed == {}
        assert [s.id for s in run.steps if s.result is not False] == [], run.report()
    finally:
        cluster.tb.start("ctrl-3")
    assert {n: c for n, c in cluster.checksums().items() if n != "ctrl-3"} == {
        n: c for n, c in configs.items() if n != "ctrl-3"
    }
    cluster.converge()


# ---------------------------------------------------------------- node and service failures


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


@pytest.mark.parametrize("cluster", ["keepalived"], indirect=True)
def test_full_power_loss_is_refused_then_recovered_without_losing_a_row(cluster: Cluster) -> None:
    """Every controller loses power after writes; nothing bootstraps until the recovery command."""
    table = "outage"
    with CommitStream(cluster, table) as stream:
        stream.wait_for_commits(30)
    committed = {i for i, _, _ in stream.committed}
    for node in cluster.controllers:
        cluster.tb.kill(node)
    for node in cluster.controllers:
        cluster.tb.start(node)

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
