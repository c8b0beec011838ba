"""A converged cluster on the test bed, and what its orchestration runs returned.

:func:`converged` brings up a test bed (a Salt master and ctrl-1..3), writes the
site pillar, predicts on the fresh controllers (``test=True``) and converges
them with the real ``salt-run state.orchestrate orch.prereqos``. The cluster
tier's fixture and the benchmarks use it.
"""

from __future__ import annotations

import contextlib
import json
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from tests.testbed import orchestration
from tests.testbed.harness import MASTER, PRIMARY_RELEASE, Testbed, TestbedError, poll
from tests.testbed.site import site_pillar

VIP_MANAGERS = ("pacemaker", "keepalived")
# The test beds whose master serves the formula through gitfs, as operators do.
GITFS_MANAGERS = ("keepalived",)
# Units whose MainPID and start time prove that a re-run restarted nothing.
COMMON_UNITS = ("haproxy", "rabbitmq-server", "mariadb", "apache2", "prereqos-galera-check.socket")
MANAGER_UNITS = {"pacemaker": ("corosync", "pacemaker"), "keepalived": ("keepalived",)}
# Files the formula manages whose content must not change on a refused run.
CONFIG_FILES = (
    "/etc/haproxy/haproxy.cfg",
    "/etc/rabbitmq/rabbitmq.conf",
    "/etc/mysql/mariadb.conf.d/99-prereqos-galera.cnf",
    "/etc/apache2/ports.conf",
    "/root/admin-openrc",
    "/etc/hosts",
)
MANAGER_CONFIG_FILES = {
    "pacemaker": ("/etc/corosync/corosync.conf",),
    "keepalived": ("/etc/keepalived/keepalived.conf",),
}
# Samples every process's command line five times a second until stopped.
PS_SAMPLER_START = (
    "rm -f /root/ps-samples; setsid bash -c 'while :; do ps -eww -o args >> /root/ps-samples; sleep 0.2; done' "
    "</dev/null >/dev/null 2>&1 & echo $! > /root/ps-sampler.pid"
)
PS_SAMPLER_STOP = "kill $(cat /root/ps-sampler.pid) 2>/dev/null || true; sort -u /root/ps-samples"
# Every event on the master's bus during every orchestration (job arguments and
# returns travel there, to salt-api streams and returners), appended to one file.
BUS_EVENTS = "/root/bus-events.log"
BUS_LISTENING_TAG = "prereqos/testbed/listening"
BUS_LISTENER_START = (
    f"PYTHONUNBUFFERED=1 setsid salt-run state.event count=-1 </dev/null >> {BUS_EVENTS} 2>&1 & "
    "echo $! > /root/bus-listener.pid"
)
BUS_LISTENER_STOP = "kill $(cat /root/bus-listener.pid) 2>/dev/null || true"
# Journal units shown when a converge fails.
DIAGNOSTIC_UNITS = ("mariadb", "rabbitmq-server", "haproxy", "corosync", "pacemaker", "keepalived", "salt-minion")


class ConvergeError(TestbedError):
    """An orchestration failed; the message has what a person needs to read."""


@dataclass
class Run:
    """One orchestration run."""

    test: bool
    rc: int
    seconds: float
    steps: list[orchestration.Step]
    raw: str
    #: every controller's process list (``ps -eww -o args``), sampled during the run
    processes: str = ""

    @property
    def changed(self) -> dict[str, list[str]]:
        return orchestration.changed(self.steps)

    def report(self) -> str:
        """Its duration per step, and what failed, as a person needs to read it."""
        mode = "test=True" if self.test else "run"
        failures = orchestration.failures(self.steps)
        return f"orchestration ({mode}) rc={self.rc} in {self.seconds:.0f} s\n{orchestration.timings(self.steps)}" + (
            "\n" + "\n".join(failures) if failures else ""
        )


@dataclass
class Cluster:
    """A converged test bed and what its orchestration runs returned."""

    tb: Testbed
    vip_manager: str
    pillar: dict[str, Any]
    #: orchestration runs by name: ``fresh-test`` (test=True on fresh controllers), ``cold``
    runs: dict[str, Run] = field(default_factory=dict)
    #: every orchestration so far, named by its command, in order (searched for secrets)
    history: list[tuple[str, Run]] = field(default_factory=list)
    #: whether haproxy was installed on each controller right after ``fresh-test``
    installed_after_prediction: dict[str, bool] = field(default_factory=dict)

    @property
    def label(self) -> str:
        """``debian<N> <vip manager>``: which test bed a line of output is about."""
        return f"debian{self.tb.release} {self.vip_manager}"

    @property
    def site(self) -> dict[str, Any]:
        return self.pillar["prereqos"]

    @property
    def controllers(self) -> list[str]:
        return self.tb.controllers

    def orchestrate(self, *, test: bool = False, mods: str = "orch.prereqos", pillar: str = "") -> Run:
        """Run ``salt-run state.orchestrate <mods>`` on the master, sampling process lists.

        ``pillar``: JSON given on the command line, as an operator would.
        """
        argv = ["state.orchestrate", mods, "--out=json"]
        if pillar:
            argv.append(f"pillar={pillar}")
        if test:
            argv.append("test=True")
        for node in self.running_controllers():
            self.tb.sh(node, PS_SAMPLER_START, timeout=30, check=True)
        self._listen_to_the_bus()
        started = time.monotonic()
        try:
            rc, out, err = self.tb.salt_run(argv, timeout=1800)
        finally:
            seconds = time.monotonic() - started
            processes = "".join(
                self.tb.sh(node, PS_SAMPLER_STOP, timeout=60).stdout for node in self.running_controllers()
            )
            self.tb.sh(MASTER, BUS_LISTENER_STOP, timeout=30)
        try:
            steps = orchestration.parse(out)
        except ValueError as exc:
            raise ConvergeError(
                f"orchestration output unreadable ({exc}); stderr:\n{err[-3000:]}\n{self.diagnostics()}"
            ) from None
        run = Run(test=test, rc=rc, seconds=seconds, steps=steps, raw=out, processes=processes)
        self.history.append((" ".join(argv[1:2] + argv[3:]), run))
        print(f"\n[{self.label}] {run.report()}", file=sys.stderr)
        return run

    def converge(self, *, test: bool = False, mods: str = "orch.prereqos", pillar: str = "") -> Run:
        """Orchestrate and fail, with what a person needs to read, unless it succeeded."""
        run = self.orchestrate(test=test, mods=mods, pillar=pillar)
        problems = orchestration.failures(run.steps)
        if run.rc != 0 or problems:
            raise ConvergeError(
                f"[{self.label}] orchestration failed (rc {run.rc}):\n"
                + "\n".join(problems)
                + "\n"
                + self.diagnostics()
            )
        return run

    def _listen_to_the_bus(self) -> None:
        """Start recording the master's event bus; return once the listener hears a marker."""
        self.tb.sh(MASTER, BUS_LISTENER_START, timeout=30, check=True)

        def heard() -> bool | None:
            self.tb.exec(MASTER, ["salt-run", "event.send", BUS_LISTENING_TAG], timeout=30)
            return True if self.tb.exec(MASTER, ["grep", "-q", BUS_LISTENING_TAG, BUS_EVENTS]).rc == 0 else None

        poll(heard, 60, lambda: "the event bus listener on the master heard nothing\n" + self.tb.journal(MASTER))

    def bus_events(self) -> str:
        """Every event the master's bus carried during the orchestrations so far."""
        return self.tb.exec(MASTER, ["cat", BUS_EVENTS], timeout=60, check=True).stdout

    def diagnostics(self) -> str:
        """Failed units and, per daemon, its last journal lines on every controller."""
        parts = []
        for node in self.running_controllers():
            failed = self.tb.exec(node, ["systemctl", "--failed", "--no-legend"], timeout=30).stdout.strip()
            parts.append(f"=== {node}: failed units: {failed or 'none'}")
            for unit in DIAGNOSTIC_UNITS:
                parts.append(f"--- {unit}\n{self.tb.journal(node, [unit], lines=8)}")
            # systemd only says that rabbitmq-server failed; its own log says why.
            rabbit_log = ["tail", "-n", "25", f"/var/log/rabbitmq/rabbit@{node}.log"]
            parts.append(f"--- rabbit@{node}.log\n{self.tb.exec(node, rabbit_log, timeout=30).stdout}")
        return "\n".join(parts)

    def running_controllers(self) -> list[str]:
        """The controllers whose container runs (not powered off by a test)."""
        return [node for node in self.controllers if self.tb.is_running(node)]

    def write_pillar(self, pillar: dict[str, Any]) -> None:
        self.pillar = pillar
        self.tb.write_pillar(pillar)

    def units(self) -> dict[str, dict[str, str]]:
        """``node -> unit -> "MainPID@start time"`` of the units that must not restart."""
        units = COMMON_UNITS + MANAGER_UNITS[self.vip_manager]
        out: dict[str, dict[str, str]] = {}
        for node in self.controllers:
            argv = ["systemctl", "show", "--property=MainPID,ActiveEnterTimestamp", *units]
            text = self.tb.exec(node, argv, timeout=30, check=True).stdout
            blocks = text.strip().split("\n\n")
            out[node] = {}
            for unit, block in zip(units, blocks, strict=True):
                props = dict(line.split("=", 1) for line in block.splitlines() if "=" in line)
                out[node][unit] = f"{props.get('MainPID')}@{props.get('ActiveEnterTimestamp')}"
        return out

    def checksums(self, nodes: list[str] | None = None) -> dict[str, str]:
        """``node -> sha256sum output`` of the configuration files the formula manages, on
        ``nodes`` (default: every controller)."""
        files = CONFIG_FILES + MANAGER_CONFIG_FILES[self.vip_manager]
        return {
            node: self.tb.exec(node, ["sha256sum", *files], check=True).stdout for node in nodes or self.controllers
        }

    def sql(self, node: str, statement: str) -> str:
        """Run SQL as root over ``node``'s local socket; returns tab-separated rows."""
        argv = ["mariadb", "--batch", "--skip-column-names", "-e", statement]
        return self.tb.exec(node, argv, timeout=60, check=True).stdout

    def rabbitmqctl(self, node: str, *args: str) -> Any:
        argv = ["rabbitmqctl", "--quiet", *args, "--formatter", "json"]
        return json.loads(self.tb.exec(node, argv, timeout=120, check=True).stdout)

    def vip_holders(self) -> dict[str, list[str]]:
        """``network -> [controllers holding its VIP]``."""
        holders: dict[str, list[str]] = {name: [] for name in self.site["networks"]}
        for node in self.running_controllers():
            out = self.tb.exec(node, ["ip", "-o", "-4", "addr", "show"], timeout=30, check=True).stdout
            held = {line.split()[3].split("/")[0] for line in out.splitlines()}
            for name, net in self.site["networks"].items():
                if net["vip"] in held:
                    holders[name].append(node)
        return holders

    def http(self, url: str, *curl_args: str, node: str = MASTER) -> tuple[int, str]:
        """``(status, body)`` of a GET from ``node`` (the master is a client on every network)."""
        argv = ["curl", "-s", "-m", "5", "-o", "/dev/stdout", "-w", "\n%{http_code}", *curl_args, url]
        out = self.tb.exec(node, argv, timeout=30).stdout
        body, _, code = out.rpartition("\n")
        return int(code or 0), body


@contextlib.contextmanager
def converged(vip_manager: str, release: str = PRIMARY_RELEASE) -> Iterator[Cluster]:
    """Fresh controllers, predicted with test=True, then converged for real; removed afterwards.

    The keepalived test bed's master serves the formula through gitfs (the README's block),
    the pacemaker one through ``file_roots`` on the checkout.
    """
    gitfs = vip_manager in GITFS_MANAGERS
    with Testbed(controllers=3, networks=("srv", "api"), release=release, gitfs=gitfs) as tb:
        cluster = Cluster(tb=tb, vip_manager=vip_manager, pillar=prepare_site(tb, vip_manager))
        print(f"\n[debian{release} {vip_manager}] test bed {tb.run_id} up: {tb.timings}", file=sys.stderr)
        cluster.runs["fresh-test"] = cluster.orchestrate(test=True)
        cluster.installed_after_prediction = _installed(tb, "haproxy")
        cluster.runs["cold"] = cluster.converge()
        yield cluster


def prepare_site(tb: Testbed, vip_manager: str) -> dict[str, Any]:
    """Write the test bed's site pillar on the master and seed 000's test service
    (each controller's apache answers its host name); return the pillar."""
    pillar = site_pillar(tb.site_facts(), vip_manager)
    tb.write_pillar(pillar)
    for node in tb.controllers:
        tb.write_file(node, "/var/www/html/index.html", node + "\n")
    return pillar


def _installed(tb: Testbed, package: str) -> dict[str, bool]:
    """Whether ``package`` is installed on each controller."""
    return {node: tb.exec(node, ["dpkg-query", "-W", package], timeout=30).rc == 0 for node in tb.controllers}
