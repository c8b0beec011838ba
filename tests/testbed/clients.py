"""Clients the cluster tiers use against the test bed: AMQP, SQL through the
VIP, and a steady HTTP request stream that records every failure."""

from __future__ import annotations

import logging
import secrets
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from typing import Self

import pika
import pymysql

from tests.testbed.cluster import Cluster
from tests.testbed.harness import TestbedError

PROBE_QUEUE = "prereqos-probe"
# The publisher records every connection error itself; pika's own log of them only
# adds tracebacks to the test output (Salt's log handler flushes them at exit).
logging.getLogger("pika").setLevel(logging.CRITICAL)
PROBE_DB = "prereqos_probe"


def _amqp(cluster: Cluster, node: str) -> pika.BlockingConnection:
    user, password = next(iter(cluster.site["secrets"]["rabbitmq_users"].items()))
    params = pika.ConnectionParameters(
        host=cluster.tb.nodes[node].addresses["srv"],
        credentials=pika.PlainCredentials(user, password),
        connection_attempts=3,
        retry_delay=1,
        socket_timeout=10,
    )
    return pika.BlockingConnection(params)


def publish(cluster: Cluster, node: str, count: int) -> None:
    """Publish ``count`` persistent messages, each confirmed, to the quorum probe queue."""
    with _amqp(cluster, node) as conn:
        channel = conn.channel()
        channel.confirm_delivery()
        channel.queue_declare(PROBE_QUEUE, durable=True, arguments={"x-queue-type": "quorum"})
        for i in range(count):
            channel.basic_publish("", PROBE_QUEUE, str(i).encode(), pika.BasicProperties(delivery_mode=2))


def consume(cluster: Cluster, node: str) -> list[str]:
    """Every message of the probe queue, acknowledged."""
    return drain(cluster, node, PROBE_QUEUE)


def drain(cluster: Cluster, node: str, queue: str) -> list[str]:
    """Every message of ``queue``, acknowledged, in order."""
    bodies = []
    with _amqp(cluster, node) as conn:
        channel = conn.channel()
        while (message := channel.basic_get(queue, auto_ack=True))[0] is not None:
            bodies.append(message[2].decode())
    return bodies


class BackgroundClient:
    """A client loop in a thread, bounded: it runs from the start of the ``with``
    block to its end, ``max_seconds`` at most. Subclasses write :meth:`run`
    as ``while self.running(): ...`` and pause with :meth:`pause`."""

    def __init__(self, max_seconds: float = 300) -> None:
        self._deadline = time.monotonic() + max_seconds
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self.run, daemon=True)

    def __enter__(self) -> Self:
        self._thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._stop.set()
        self._thread.join(timeout=60)

    def running(self) -> bool:
        return not self._stop.is_set() and time.monotonic() < self._deadline

    def pause(self, seconds: float) -> None:
        self._stop.wait(seconds)

    def run(self) -> None:
        raise NotImplementedError


class ConfirmedPublisher(BackgroundClient):
    """Publish numbered persistent messages to a quorum queue, each waiting for
    the broker's confirm; on a connection error, reconnect to the next of
    ``nodes``. ``confirmed`` holds the bodies the broker confirmed."""

    def __init__(self, cluster: Cluster, queue: str, nodes: list[str]) -> None:
        super().__init__()
        self.cluster, self.queue, self.nodes = cluster, queue, nodes
        self.confirmed: list[str] = []
        self.errors: list[str] = []

    def run(self) -> None:
        attempt, number = 0, 0
        while self.running():
            node = self.nodes[attempt % len(self.nodes)]
            try:
                with _amqp(self.cluster, node) as conn:
                    channel = conn.channel()
                    channel.confirm_delivery()
                    channel.queue_declare(self.queue, durable=True, arguments={"x-queue-type": "quorum"})
                    while self.running():
                        body = str(number)
                        channel.basic_publish("", self.queue, body.encode(), pika.BasicProperties(delivery_mode=2))
                        self.confirmed.append(body)
                        number += 1
            except pika.exceptions.AMQPError as exc:
                self.errors.append(f"{node}: {type(exc).__name__}: {exc}")
                attempt += 1
                number += 1  # the unconfirmed message may or may not be stored: never reuse its body
                self.pause(0.5)

    def wait_for_confirms(self, count: int, timeout: float = 120) -> None:
        target = len(self.confirmed) + count
        wait_until(lambda: len(self.confirmed) >= target, timeout)


def queue_depth(cluster: Cluster, node: str = "ctrl-1") -> int:
    """Messages ready in the probe queue (a passive declare: exact, unlike the sampled CLI stats)."""
    with _amqp(cluster, node) as conn:
        return conn.channel().queue_declare(PROBE_QUEUE, passive=True).method.message_count


def probe_account(cluster: Cluster) -> str:
    """(Re)create the probe database and account on ctrl-1 (they replicate); its new password."""
    password = secrets.token_urlsafe(12)
    cluster.sql(
        "ctrl-1",
        f"CREATE DATABASE IF NOT EXISTS {PROBE_DB}; "
        f"CREATE TABLE IF NOT EXISTS {PROBE_DB}.t (id INT PRIMARY KEY, node VARCHAR(64)); "
        f"CREATE OR REPLACE USER 'probe'@'%' IDENTIFIED BY '{password}'; "
        f"GRANT ALL ON {PROBE_DB}.* TO 'probe'@'%';",
    )
    return password


def connect_vip(cluster: Cluster, password: str) -> pymysql.Connection:
    """A probe connection through the internal VIP (HAProxy's Galera listener)."""
    vip = cluster.site["networks"]["srv"]["vip"]
    return pymysql.connect(
        host=vip,
        user="probe",
        password=password,
        database=PROBE_DB,
        connect_timeout=3,
        read_timeout=10,
        write_timeout=10,
    )


def write_rows(cluster: Cluster, count: int) -> None:
    """Insert ``count`` rows through the VIP; they must all land on one writer."""
    conn = connect_vip(cluster, probe_account(cluster))
    try:
        with conn.cursor() as cursor:
            for i in range(count):
                cursor.execute("INSERT INTO t (id, node) VALUES (%s, @@hostname)", (i,))
            conn.commit()
            cursor.execute("SELECT DISTINCT node FROM t")
            writers = {row[0] for row in cursor.fetchall()}
    finally:
        conn.close()
    if len(writers) != 1:
        raise TestbedError(f"rows written through the VIP landed on several writers: {writers}")


class CommitStream(BackgroundClient):
    """Commit numbered rows through the VIP, reconnecting on any error.

    ``committed`` holds (id, writer host name, time) of every commit the server
    acknowledged; a commit whose outcome is unknown is retried (idempotently).
    """

    def __init__(self, cluster: Cluster, table: str) -> None:
        super().__init__()
        self.cluster, self.table = cluster, table
        self.password = probe_account(cluster)
        cluster.sql("ctrl-1", f"CREATE TABLE IF NOT EXISTS {PROBE_DB}.{table} (id INT PRIMARY KEY)")
        self.committed: list[tuple[int, str, float]] = []
        self.errors: list[str] = []

    def run(self) -> None:
        conn, next_id = None, 0
        while self.running():
            try:
                if conn is None:
                    conn = connect_vip(self.cluster, self.password)
                with conn.cursor() as cursor:
                    cursor.execute(f"INSERT IGNORE INTO {self.table} (id) VALUES (%s)", (next_id,))
                    conn.commit()
                    cursor.execute("SELECT @@hostname")
                    writer = cursor.fetchone()[0]
                self.committed.append((next_id, writer, time.monotonic()))
                next_id += 1
            except pymysql.MySQLError as exc:
                self.errors.append(str(exc))
                if conn is not None:
                    conn.close()
                conn = None
                self.pause(0.2)
        if conn is not None:
            conn.close()

    def wait_for_commits(self, count: int, timeout: float = 120) -> None:
        target = len(self.committed) + count
        wait_until(lambda: len(self.committed) >= target, timeout)


def wait_until(condition: Callable[[], bool], timeout: float, interval: float = 0.2) -> float:
    """Poll ``condition`` until true; return the monotonic time it became true."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() >= deadline:
            raise TestbedError(f"condition not met within {timeout:.0f} s")
        time.sleep(interval)
    return time.monotonic()


class RequestStream(BackgroundClient):
    """GET ``url`` from this host every ``interval`` seconds, recording each outcome."""

    def __init__(self, url: str, interval: float = 0.05, timeout: float = 2.0) -> None:
        super().__init__()
        self.url, self.interval, self.timeout = url, interval, timeout
        #: (started, finished, error or None) of every request, in order
        self.outcomes: list[tuple[float, float, str | None]] = []

    def run(self) -> None:
        while self.running():
            started = time.monotonic()
            error = None
            try:
                with urllib.request.urlopen(self.url, timeout=self.timeout) as response:
                    response.read()
            except (OSError, urllib.error.URLError) as exc:
                error = f"{type(exc).__name__}: {exc}"
            self.outcomes.append((started, time.monotonic(), error))
            self.pause(self.interval)

    @property
    def sent(self) -> int:
        return len(self.outcomes)

    @property
    def failed(self) -> list[str]:
        return [error for _, _, error in self.outcomes if error]

    def wait_for_success(self, timeout: float = 30) -> None:
        wait_until(lambda: any(error is None for _, _, error in self.outcomes), timeout)

    def wait_for_more(self, count: int, timeout: float = 60) -> None:
        target = self.sent + count
        wait_until(lambda: self.sent >= target, timeout)

    def first_success_after(self, moment: float, timeout: float) -> float:
        """When the first request started after ``moment`` succeeded."""

        def done() -> float | None:
            return next((end for start, end, error in self.outcomes if start > moment and error is None), None)

        wait_until(lambda: done() is not None, timeout)
        return done()  # type: ignore[return-value]


def backend_status(cluster: Cluster, service: str, server: str) -> str:
    """HAProxy's status of one server (``UP``, ``DOWN``, ...), from the stats page's CSV."""
    stats = {"port": 1936, "user": "admin", **cluster.site["haproxy"].get("stats", {})}
    vip = cluster.site["networks"][stats.get("network", "srv")]["vip"]
    password = cluster.site["secrets"]["haproxy_stats_password"]
    manager = urllib.request.HTTPPasswordMgrWithDefaultRealm()
    manager.add_password(None, f"http://{vip}:{stats['port']}/", stats["user"], password)
    opener = urllib.request.build_opener(urllib.request.HTTPBasicAuthHandler(manager))
    with opener.open(f"http://{vip}:{stats['port']}/;csv", timeout=5) as response:
        lines = response.read().decode().splitlines()
    header = lines[0].lstrip("# ").split(",")
    for line in lines[1:]:
        row = dict(zip(header, line.split(","), strict=False))
        if row.get("pxname") == service and row.get("svname") == server:
            return row["status"]
    raise TestbedError(f"haproxy has no server {server} in {service}")


def vip_failover_bound(cluster: Cluster) -> float:
    """Seconds the VIP manager's timers allow before another node takes a VIP.

    keepalived (VRRPv3): master down interval = 3 x advert_int + skew, skew <=
    advert_int. pacemaker: corosync declares the node lost after token +
    consensus, as the running corosync computed them (token grows by
    token_coefficient per node above two); pacemaker then moves the resource.
    """
    if cluster.vip_manager == "keepalived":
        advert = float(cluster.site.get("keepalived", {}).get("advert_int", 1))
        return 4 * advert
    node = cluster.running_controllers()[0]
    total_ms = 0
    for key in ("runtime.config.totem.token", "runtime.config.totem.consensus"):
        out = cluster.tb.exec(node, ["corosync-cmapctl", "-g", key], timeout=30, check=True).stdout
        total_ms += int(out.rsplit("=", 1)[1])
    return total_ms / 1000


def health_check_bound(cluster: Cluster) -> float:
    """Seconds HAProxy's health checks take to mark a dead server DOWN: inter x fall."""
    check = {"inter": "2s", "fall": 3, **cluster.site["haproxy"].get("check", {})}
    return float(str(check["inter"]).rstrip("s")) * int(check["fall"])
