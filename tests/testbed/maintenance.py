"""Planned maintenance (drain, undrain, rolling restart) on a converged cluster,
measured by the zero-loss clients: a request every 50 ms through the api VIP,
numbered rows committed through the internal VIP, persistent confirmed messages
to a quorum queue. The maintenance tests assert on the figures; the benchmarks
repeat them.
"""

from __future__ import annotations

import datetime
import itertools
import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

from tests.testbed.clients import (
    CommitStream,
    ConfirmedPublisher,
    RequestStream,
    connect_vip,
    drain,
    probe_account,
    wait_until,
)
from tests.testbed.cluster import Cluster, Run
from tests.testbed.orchestration import Step
from tests.testbed.site import HOSTNAME_PORT

Result = TypeVar("Result")
_names = itertools.count(1)


@dataclass
class ClientFigures:
    """What the clients saw while a command ran."""

    seconds: float  #: how long the command took
    requests: int
    failed_requests: list[str]
    commits: int
    commit_errors: list[str]  #: errors the committing client saw (it reconnects and retries)
    write_gap_s: float  #: the longest time between two acknowledged commits
    confirmed: int
    lost_messages: list[str]  #: confirmed messages not in the queue afterwards
    #: monotonic times: the command's start, each failed request's start, each acknowledged commit
    started: float = 0.0
    #: the command's start in seconds since midnight UTC (to place the steps' start times)
    started_wall_s: float | None = None
    failed_at: tuple[float, ...] = ()
    commit_times: tuple[float, ...] = ()

    def __str__(self) -> str:
        return (
            f"{self.seconds:.0f} s: {len(self.failed_requests)} of {self.requests} requests failed, "
            f"{self.commits} commits ({len(self.commit_errors)} client errors, longest write gap "
            f"{self.write_gap_s:.2f} s), {len(self.lost_messages)} of {self.confirmed} confirmed messages lost"
        )

    def window(self, start_s: float, end_s: float) -> tuple[int, float]:
        """Failed requests and the longest write gap between ``start_s`` and ``end_s``
        seconds after the command started."""
        low, high = self.started + start_s, self.started + end_s
        failed = sum(1 for at in self.failed_at if low <= at < high)
        inside = [at for at in self.commit_times if low <= at < high]
        before = [at for at in self.commit_times if at < low][-1:]
        after = [at for at in self.commit_times if at >= high][:1]
        times = before + inside + after
        return failed, max((b - a for a, b in itertools.pairwise(times)), default=0.0)


def under_load(cluster: Cluster, command: Callable[[], Result]) -> tuple[Result, ClientFigures]:
    """Run ``command`` while the three clients run; what it returned and what they saw."""
    number = next(_names)
    queue, table = f"prereqos-maintenance-{number}", f"maintenance_{number}"
    url = f"http://{cluster.site['networks']['api']['vip']}:{HOSTNAME_PORT}/"
    with (
        RequestStream(url, timeout=5.0) as requests,
        CommitStream(cluster, table) as commits,
        ConfirmedPublisher(cluster, queue, nodes=cluster.controllers) as publisher,
    ):
        requests.wait_for_success()
        commits.wait_for_commits(10)
        publisher.wait_for_confirms(20)
        started, now = time.monotonic(), datetime.datetime.now(datetime.UTC)
        result = command()
        seconds = time.monotonic() - started
        requests.wait_for_more(10)
        commits.wait_for_commits(10)
        publisher.wait_for_confirms(20)
    reader = next(node for node in cluster.controllers if not is_drained(cluster, node))
    consumed = set(drain(cluster, reader, queue))
    times = [at for _, _, at in commits.committed]
    return result, ClientFigures(
        seconds=seconds,
        requests=requests.sent,
        failed_requests=requests.failed,
        commits=len(commits.committed),
        commit_errors=commits.errors,
        write_gap_s=max((b - a for a, b in itertools.pairwise(times)), default=0.0),
        confirmed=len(publisher.confirmed),
        lost_messages=sorted(set(publisher.confirmed) - consumed, key=int),
        started=started,
        started_wall_s=now.hour * 3600 + now.minute * 60 + now.second + now.microsecond / 1e6,
        failed_at=tuple(at for at, _, error in requests.outcomes if error),
        commit_times=tuple(times),
    )


def per_node(run: Run, figures: ClientFigures, nodes: list[str]) -> dict[str, str]:
    """A rolling restart's time and client figures per controller, and the step during
    which its longest write gap began (each step's id ends with the controller it is about)."""
    lines = {}
    for node in nodes:
        steps = [(step, start) for step, start in step_windows(run, figures) if step.id.endswith(f"-{node}")]
        if not steps:
            lines[node] = "no step"
            continue
        failed, gap = figures.window(steps[0][1], steps[-1][1] + steps[-1][0].duration_s)
        worst = max(steps, key=lambda pair: figures.window(pair[1], pair[1] + pair[0].duration_s)[1])[0]
        lines[node] = (
            f"{sum(step.duration_s for step, _ in steps):.0f} s, {failed} failed requests, "
            f"longest write gap {gap:.2f} s (in {worst.id})"
        )
    return lines


def step_windows(run: Run, figures: ClientFigures) -> list[tuple[Step, float]]:
    """Each step of ``run`` with when it started, in seconds after the clients' command
    started: from the master's clock when Salt says (the test bed shares this host's
    clock), else by adding up the durations of the steps before."""
    out, offset = [], 0.0
    for step in run.steps:
        if step.start_s is not None and figures.started_wall_s is not None:
            offset = (step.start_s - figures.started_wall_s) % 86400
        out.append((step, offset))
        offset += step.duration_s
    return out


def is_drained(cluster: Cluster, node: str) -> bool:
    """Whether ``node``'s own record says it is drained."""
    out = cluster.tb.exec(node, ["cat", "/var/lib/prereqos/maintenance.json"], timeout=30).stdout
    return node in (json.loads(out).get("drained", []) if out.strip() else [])


def drain_node(cluster: Cluster, node: str) -> Run:
    return cluster.converge(mods="orch.prereqos_drain", pillar=json.dumps({"node": node}))


def undrain_node(cluster: Cluster, node: str) -> Run:
    return cluster.converge(mods="orch.prereqos_undrain", pillar=json.dumps({"node": node}))


def rolling_restart(cluster: Cluster, *, reboot: bool = False) -> Run:
    pillar = json.dumps({"reboot": True}) if reboot else ""
    return cluster.converge(mods="orch.prereqos_rolling_restart", pillar=pillar)


def make_holder(cluster: Cluster, node: str) -> None:
    """Move every VIP to ``node`` (the test needs the VIP holder to be the writer)."""
    for network, holders in cluster.vip_holders().items():
        if holders == [node]:
            continue
        if cluster.vip_manager == "pacemaker":
            resource = f"vip_{network}"
            cluster.tb.exec(node, ["crm_resource", "--move", "--resource", resource, "--node", node], check=True)
            wait_until(lambda network=network: cluster.vip_holders()[network] == [node], 60)
            cluster.tb.exec(node, ["crm_resource", "--clear", "--resource", resource], check=True)
        else:  # the highest priority takes over when the holder's keepalived stops
            for holder in holders:
                cluster.tb.exec(holder, ["systemctl", "restart", "keepalived"], check=True)
            wait_until(lambda network=network: cluster.vip_holders()[network] == [node], 60)


def plain_reboot(cluster: Cluster, node: str) -> Run:
    """What maintenance was before drain: shut ``node`` down cleanly, boot it, and run
    ``orch.prereqos`` (which rejoins its MariaDB)."""
    cluster.tb.stop(node)
    cluster.tb.start(node)
    return cluster.converge()


def queue_leaders(cluster: Cluster, node: str) -> dict[str, str]:
    """``queue -> leader`` of every quorum queue in vhost /, as ``node`` sees them."""
    rows = cluster.rabbitmqctl(node, "list_queues", "name", "type", "leader")
    return {row["name"]: row["leader"] for row in rows if row.get("type") == "quorum"}


def galera_writer(cluster: Cluster) -> str:
    """The host name of the server HAProxy's Galera listener sends a new session to."""
    conn = connect_vip(cluster, probe_account(cluster))
    try:
        with conn.cursor() as cursor:
            cursor.execute("SELECT @@hostname")
            return cursor.fetchone()[0]
    finally:
        conn.close()
