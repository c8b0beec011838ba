"""Planned maintenance under the zero-loss clients: an answer in flight when the VIPs
move still arrives; drain the controller that holds the VIPs and is the Galera
writer, keep it drained across a re-run, refuse a second drain, undrain it, refuse a
drain while a controller is down, undrain a drain stopped half-way, restart every
controller in turn; none of it carried a secret.

Runs after test_failover.py on the same test bed, in this file's order (``make test``,
``make test-maintenance``).
"""

from __future__ import annotations

import json
import threading
import time

import pymysql
import pytest

from tests.testbed import orchestration
from tests.testbed.clients import connect_vip, probe_account, wait_until
from tests.testbed.cluster import Cluster
from tests.testbed.harness import PRIMARY_RELEASE
from tests.testbed.leaks import secret_leaks
from tests.testbed.maintenance import (
    ClientFigures,
    drain_node,
    galera_writer,
    make_holder,
    per_node,
    queue_leaders,
    rolling_restart,
    under_load,
    undrain_node,
)

pytestmark = pytest.mark.maintenance

# The Galera listener's first server: the writer while it is up.
WRITER = "ctrl-1"
# A commit may be cut when its session moves to the new writer, or when the VIP moves:
# the client reconnects; a MariaDB restart pauses commits while the node leaves and
# joins (a few galera:membership_retransmit_ms).
MAX_WRITE_GAP_S = 1.0
# A query that runs long enough for the VIPs to move while it is in flight.
IN_FLIGHT_S = 8


def assert_unnoticed(figures: ClientFigures, vip_moves: int) -> None:
    """No confirmed message lost, writes resumed within MAX_WRITE_GAP_S, and no request
    failed but one in flight at the instant a VIP left its holder (the new holder resets
    it: it has no state of that connection), at most one per VIP move."""
    assert figures.lost_messages == [], figures
    assert figures.write_gap_s <= MAX_WRITE_GAP_S, figures
    resets = [error for error in figures.failed_requests if "Connection reset by peer" in error]
    assert resets == figures.failed_requests and len(resets) <= vip_moves, figures


def haproxy_listeners(cluster: Cluster, server: str) -> dict[str, dict[str, str]]:
    """``controller -> {listener: status of server}`` on every controller whose haproxy runs
    (pacemaker stops it on a node in standby)."""
    statuses = {}
    for node in cluster.controllers:
        if cluster.tb.exec(node, ["systemctl", "is-active", "--quiet", "haproxy"], timeout=30).rc == 0:
            servers = cluster.tb.salt(node, "prereqos.haproxy_servers", server)[node]
            statuses[node] = {listener: entry["status"] for listener, entry in servers.items()}
    return statuses


def haproxy_statuses(cluster: Cluster, server: str) -> dict[str, set[str]]:
    """``controller -> {status of server in each listener}`` on every controller whose haproxy runs."""
    return {node: set(listeners.values()) for node, listeners in haproxy_listeners(cluster, server).items()}


def back_in_rotation(cluster: Cluster, server: str, peer: str) -> bool:
    """Whether ``server``'s status is ``peer``'s in every listener of every controller: UP
    where the service answers, DOWN where the test bed runs none (the OpenStack APIs)."""
    ours, theirs = haproxy_listeners(cluster, server), haproxy_listeners(cluster, peer)
    return len(ours) == len(cluster.controllers) and ours == theirs


def haproxy_processes(cluster: Cluster, nodes: list[str]) -> dict[str, list[str]]:
    """``node -> pids of its haproxy processes``: a reload starts a new worker (the previous
    one cuts what it still proxies at hard-stop-after)."""
    return {node: cluster.tb.exec(node, ["pgrep", "-x", "haproxy"], timeout=30).stdout.split() for node in nodes}


def health(cluster: Cluster, node: str) -> dict:
    return cluster.tb.salt(node, "prereqos.health", timeout=120)[node]


def test_an_answer_in_flight_when_the_vips_move_still_arrives(cluster: Cluster) -> None:
    """haproxy's binds are transparent: a query the VIP holder accepted is answered after
    the VIPs left it (without, its client waits out its read timeout: the old holder can no
    longer send from the VIP)."""
    make_holder(cluster, WRITER)
    conn = connect_vip(cluster, probe_account(cluster))
    answer: dict[str, object] = {}

    def query() -> None:
        try:
            with conn.cursor() as cursor:
                cursor.execute(f"SELECT SLEEP({IN_FLIGHT_S}), @@hostname")
                answer["row"] = cursor.fetchone()
        except pymysql.MySQLError as exc:
            answer["error"] = str(exc)
        answer["at"] = time.monotonic()

    thread = threading.Thread(target=query)
    thread.start()
    try:
        wait_until(lambda: f"SLEEP({IN_FLIGHT_S})" in cluster.sql(WRITER, "SHOW FULL PROCESSLIST"), 10)
        make_holder(cluster, "ctrl-2")
        moved = time.monotonic()
    finally:
        thread.join(timeout=IN_FLIGHT_S + 15)
        conn.close()
    assert answer.get("row") == (0, WRITER), answer
    assert answer["at"] > moved, "the answer came before the VIPs moved: the test proved nothing"
    make_holder(cluster, WRITER)


def test_drain_of_the_vip_holder_and_writer_goes_unnoticed(cluster: Cluster) -> None:
    make_holder(cluster, WRITER)
    assert galera_writer(cluster) == WRITER
    prediction = cluster.orchestrate(mods="orch.prereqos_drain", pillar=json.dumps({"node": WRITER}), test=True)
    assert prediction.rc == 0, prediction.report()
    peers = [node for node in cluster.controllers if node != WRITER]
    processes = haproxy_processes(cluster, peers)
    run, figures = under_load(cluster, lambda: drain_node(cluster, WRITER))
    print(f"\n[{cluster.label}] drain {WRITER}: {figures}")
    assert_unnoticed(figures, vip_moves=len(cluster.site["networks"]))
    assert haproxy_processes(cluster, peers) == processes  # no reload: the runtime API drains
    # test=True predicted every change.
    assert {node: set(ids) for node, ids in run.changed.items()} == {
        node: set(ids) for node, ids in prediction.changed.items()
    }
    holders = cluster.vip_holders()
    assert all(len(nodes) == 1 and WRITER not in nodes for nodes in holders.values()), holders
    statuses = haproxy_statuses(cluster, WRITER)
    assert statuses and all(found == {"MAINT"} for found in statuses.values()), statuses
    assert galera_writer(cluster) != WRITER
    leaders = queue_leaders(cluster, "ctrl-2")
    assert leaders and f"rabbit@{WRITER}" not in leaders.values(), leaders
    report = health(cluster, "ctrl-3")
    assert report["ok"] is False and any(f"{WRITER} is drained" in note for note in report["maintenance"]), report


def test_a_rerun_while_drained_changes_nothing_and_stops_at_the_health_gate(cluster: Cluster) -> None:
    configs = cluster.checksums()
    run = cluster.orchestrate()
    assert run.changed == {}, run.changed
    failures = "\n".join(orchestration.failures(run.steps))
    assert run.rc != 0 and "in maintenance" in failures and f"{WRITER} is drained" in failures, failures
    assert cluster.checksums() == configs
    assert all(found == {"MAINT"} for found in haproxy_statuses(cluster, WRITER).values())


def test_a_second_drain_is_refused_naming_the_drained_controller(cluster: Cluster) -> None:
    configs = cluster.checksums()
    run = cluster.orchestrate(mods="orch.prereqos_drain", pillar=json.dumps({"node": "ctrl-2"}))
    failures = "\n".join(orchestration.failures(run.steps))
    assert run.rc != 0 and f"{WRITER} is already drained" in failures, failures
    assert run.changed == {}, run.changed
    assert cluster.checksums() == configs


def test_undrain_brings_everything_back_unnoticed(cluster: Cluster) -> None:
    units = cluster.units()
    peers = [node for node in cluster.controllers if node != WRITER]
    processes = haproxy_processes(cluster, peers)
    _, figures = under_load(cluster, lambda: undrain_node(cluster, WRITER))
    print(f"\n[{cluster.label}] undrain {WRITER}: {figures}")
    assert_unnoticed(figures, vip_moves=0)
    assert haproxy_processes(cluster, peers) == processes  # no reload: the runtime API undrains
    wait_until(lambda: back_in_rotation(cluster, WRITER, peer="ctrl-2"), 60)
    assert "UP" in haproxy_statuses(cluster, WRITER)[WRITER]
    assert galera_writer(cluster) == WRITER
    for node in cluster.controllers:
        report = health(cluster, node)
        assert report["ok"], report
    rerun = cluster.converge()
    assert rerun.changed == {}, rerun.changed
    assert {node: units[node] for node in cluster.controllers if node != WRITER} == {
        node: unit for node, unit in cluster.units().items() if node != WRITER
    }


def test_a_drain_is_refused_while_a_controller_is_down(cluster: Cluster) -> None:
    configs = {node: sums for node, sums in cluster.checksums().items() if node != "ctrl-3"}
    cluster.tb.stop("ctrl-3")
    try:
        run = cluster.orchestrate(mods="orch.prereqos_drain", pillar=json.dumps({"node": "ctrl-2"}))
        failures = "\n".join(orchestration.failures(run.steps))
        assert run.rc != 0 and "ctrl-3" in failures, failures
        assert run.changed == {}, run.changed
        assert cluster.checksums(["ctrl-1", "ctrl-2"]) == configs
    finally:
        cluster.tb.start("ctrl-3")
        cluster.converge()


def test_a_drain_stopped_half_way_is_maintenance_the_undrain_clears(cluster: Cluster) -> None:
    """A drain that stopped right after its VIPs step (nothing else drained, no record) is
    reported as maintenance, not as a problem, so the undrain its message names runs."""
    node = "ctrl-2"
    if cluster.vip_manager == "keepalived":
        cluster.tb.exec(node, ["sh", "-c", "echo 1 > /var/lib/prereqos/vips-released"], check=True)
    else:
        standby = ["crm_attribute", "--node", node, "--name", "standby", "--update", "on", "--lifetime", "forever"]
        cluster.tb.exec(node, standby, check=True)
    wait_until(lambda: all(node not in holders for holders in cluster.vip_holders().values()), 60)
    report = health(cluster, node)
    assert not report["ok"] and report["problems"] == [] and report["maintenance"], report
    run = undrain_node(cluster, node)
    assert run.rc == 0, "\n".join(orchestration.failures(run.steps))
    for controller in cluster.controllers:
        report = health(cluster, controller)
        assert report["ok"], report


def test_a_rolling_restart_goes_unnoticed(cluster: Cluster) -> None:
    """The pacemaker test bed of the primary release and the keepalived one of the other
    reboot each controller (pillar reboot=true), the other two restart its services: both
    ways run in ``make test``, each with each VIP manager in ``make test-all``."""
    reboot = (cluster.vip_manager == "pacemaker") == (cluster.tb.release == PRIMARY_RELEASE)
    booted = {node: cluster.tb.booted_at(node) for node in cluster.controllers}
    run, figures = under_load(cluster, lambda: rolling_restart(cluster, reboot=reboot))
    print(f"\n[{cluster.label}] rolling {'reboot' if reboot else 'restart'}: {figures}")
    rebooted = [node for node in cluster.controllers if cluster.tb.booted_at(node) != booted[node]]
    assert rebooted == (cluster.controllers if reboot else []), rebooted
    for node, line in per_node(run, figures, cluster.controllers).items():
        print(f"[{cluster.label}]   {node}: {line}")
    assert_unnoticed(figures, vip_moves=len(cluster.site["networks"]) * len(cluster.controllers))
    rerun = cluster.converge()
    assert rerun.changed == {}, rerun.changed


def test_no_secret_leaves_the_controllers_pillar_during_maintenance(cluster: Cluster) -> None:
    """The drains, undrains and restarts above carried no secret either (see secret_leaks)."""
    leaks = secret_leaks(cluster)
    assert not leaks, leaks
