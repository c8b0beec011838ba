"""Failures provoked on a converged cluster, each measured with a real client.

Each function breaks one thing, measures what a client saw, brings the
cluster back (node powered on again, ``orch.prereqos`` re-run) and returns
the figures. The failover tests assert on them; the benchmarks repeat them.
"""

from __future__ import annotations

import itertools
import time
from dataclasses import dataclass

from tests.testbed.clients import (
    PROBE_DB,
    CommitStream,
    RequestStream,
    backend_status,
    health_check_bound,
    vip_failover_bound,
    wait_until,
)
from tests.testbed.cluster import Cluster
from tests.testbed.site import HOSTNAME_PORT

_tables = itertools.count(1)
# A runtime drop-in (/run is a tmpfs: written from inside the node, not by docker).
NO_RESTART_DIR = "/run/systemd/system/apache2.service.d"
APACHE_NO_RESTART = f"{NO_RESTART_DIR}/prereqos-test-no-restart.conf"


@dataclass
class VipFailover:
    killed: str  #: the controller that held the VIP
    holders: list[str]  #: who holds it afterwards
    gap_s: float  #: from the power-off to the first request served again
    bound_s: float  #: what the VIP manager's timers allow


@dataclass
class BackendFailure:
    victim: str
    sent: int
    failed: list[str]  #: the errors the client saw
    mark_down_s: float  #: from the kill until HAProxy reports the server DOWN
    bound_s: float  #: inter x fall of the health check


@dataclass
class WriterFailover:
    writer: str  #: the writer that was powered off
    new_writers: set[str]  #: host names that acknowledged commits afterwards
    outage_s: float  #: last commit before the power-off to the first one after
    committed: int  #: commits the client saw acknowledged
    client_errors: int
    missing_on_survivors: dict[str, int]  #: acknowledged rows absent, per surviving node
    missing_after_rejoin: dict[str, int]  #: the same on every node after orch.prereqos
    cluster_sizes: dict[str, str]  #: wsrep_cluster_size per node after orch.prereqos


def vip_failover(cluster: Cluster, network: str = "api") -> VipFailover:
    """Power off the holder of ``network``'s VIP under a stream of requests through it."""
    vip = cluster.site["networks"][network]["vip"]
    holder = cluster.vip_holders()[network][0]
    # Short timeouts, new connections: the first request that succeeds shows the VIP is back.
    with RequestStream(f"http://{vip}:{HOSTNAME_PORT}/", timeout=1.0) as stream:
        stream.wait_for_success()
        cluster.tb.kill(holder)
        killed_at = _gone(cluster, holder)
        back_at = stream.first_success_after(killed_at, timeout=90)
    result = VipFailover(holder, cluster.vip_holders()[network], back_at - killed_at, vip_failover_bound(cluster))
    cluster.tb.start(holder)
    cluster.converge()
    return result


def backend_failure(cluster: Cluster, victim: str = "ctrl-2") -> BackendFailure:
    """Kill one apache (an API backend) under a steady stream of requests through the VIP.

    systemd would restart apache at once (``Restart=on-abort``): a runtime
    drop-in keeps it dead until the measure is taken.
    """
    vip = cluster.site["networks"]["srv"]["vip"]
    cluster.tb.sh(victim, f"mkdir -p {NO_RESTART_DIR} && printf '[Service]\\nRestart=no\\n' > {APACHE_NO_RESTART}")
    cluster.tb.exec(victim, ["systemctl", "daemon-reload"], check=True)
    try:
        # A client's usual patience: HAProxy retries a refused connection (1 s apart) before it redispatches.
        with RequestStream(f"http://{vip}:{HOSTNAME_PORT}/", timeout=10.0) as stream:
            stream.wait_for_success()
            killed_at = time.monotonic()
            cluster.tb.exec(victim, ["systemctl", "kill", "--signal=KILL", "apache2"], check=True)
            down_at = wait_until(lambda: backend_status(cluster, "hostname", victim).startswith("DOWN"), 60)
            stream.wait_for_more(20)
    finally:
        cluster.tb.exec(victim, ["rm", "-f", APACHE_NO_RESTART], check=True)
        cluster.tb.exec(victim, ["systemctl", "daemon-reload"], check=True)
        cluster.tb.exec(victim, ["systemctl", "restart", "apache2"], check=True)
    wait_until(lambda: backend_status(cluster, "hostname", victim).startswith("UP"), 60)
    return BackendFailure(victim, stream.sent, stream.failed, down_at - killed_at, health_check_bound(cluster))


def writer_failover(cluster: Cluster) -> WriterFailover:
    """Power off the Galera writer while a client commits numbered rows through the VIP."""
    table = f"writer_{cluster.vip_manager}_{next(_tables)}"
    with CommitStream(cluster, table) as stream:
        stream.wait_for_commits(20)
        writer = stream.committed[-1][1]
        cluster.tb.kill(writer)
        killed_at = _gone(cluster, writer)
        stream.wait_for_commits(20)
    before = [t for _, _, t in stream.committed if t < killed_at]
    after = [(host, t) for _, host, t in stream.committed if t > killed_at]
    committed = {i for i, _, _ in stream.committed}

    def missing(nodes: list[str]) -> dict[str, int]:
        return {node: len(committed - stored_ids(cluster, node, table)) for node in nodes}

    on_survivors = missing([node for node in cluster.controllers if node != writer])
    cluster.tb.start(writer)
    cluster.converge()
    return WriterFailover(
        writer=writer,
        new_writers={host for host, _ in after},
        outage_s=after[0][1] - before[-1],
        committed=len(committed),
        client_errors=len(stream.errors),
        missing_on_survivors=on_survivors,
        missing_after_rejoin=missing(cluster.controllers),
        cluster_sizes={node: wsrep(cluster, node, "wsrep_cluster_size") for node in cluster.controllers},
    )


def _gone(cluster: Cluster, node: str) -> float:
    """When the powered-off ``node`` is really gone: it may still answer while it dies."""
    return wait_until(lambda: not cluster.tb.is_running(node), 30, interval=0.01)


def stored_ids(cluster: Cluster, node: str, table: str) -> set[int]:
    """The ids in the probe table ``table``, read on ``node``."""
    return {int(x) for x in cluster.sql(node, f"SELECT id FROM {PROBE_DB}.{table}").split()}


def wsrep(cluster: Cluster, node: str, variable: str) -> str:
    """A ``wsrep_%`` status variable of ``node``."""
    return cluster.sql(node, f"SHOW GLOBAL STATUS LIKE '{variable}'").split()[1]
