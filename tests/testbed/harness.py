"""Docker test bed for prereqos: one Salt master and N Debian 12 controllers.

Every node is a container of one release's ``prereqos/node-debian<N>`` image
(tests/testbed/build-images.sh) running systemd as PID 1. The nodes share one or more
``--internal`` docker networks (no way out), each a /24 picked from
172.30.0.0/15 that nothing else on this host uses:

* ``master`` (address .2): salt-master, the repository's ``formula/`` and Salt
  extension directories mounted read-only under /srv/prereqos, pillar in
  /srv/pillar;
* ``ctrl-1`` .. ``ctrl-N`` (address .10+i): salt-minion, minion id = hostname.

Addresses .100-.199 of every network are never given to a container: they
are free for virtual IPs (see :attr:`NetworkInfo.vip`).

Typical use::

    with Testbed(controllers=3, networks=("srv", "api")) as tb:
        tb.write_pillar({"prereqos": {**tb.site_facts(), "bootstrap": "ctrl-1"}})
        tb.salt_run(["state.orchestrate", "orch.prereqos"], check=True)
        rc, out, err = tb.exec("ctrl-1", ["haproxy", "-c", "-f", "/etc/haproxy/haproxy.cfg"])

Everything the test bed creates carries the label ``prereqos.testbed=1`` and is
removed when the ``with`` block ends, also on exceptions, Ctrl-C and SIGTERM.
:func:`cleanup_stale` removes what a killed run left behind.
"""

from __future__ import annotations

import codecs
import contextlib
import io
import ipaddress
import json
import math
import os
import posixpath
import random
import secrets
import shutil
import signal
import socket
import sys
import tarfile
import tempfile
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NamedTuple, TextIO, TypeVar

import docker
import docker.errors
import yaml
from docker.models.containers import Container

from tests.testbed import gitfs
from tests.testbed.gitfs import ServedRepository

REPO_ROOT = Path(__file__).resolve().parents[2]
# The Debian releases the test bed runs, the primary one first.
RELEASES = ("13", "12")
PRIMARY_RELEASE = RELEASES[0]


def node_image(release: str = PRIMARY_RELEASE) -> str:
    """The node image of a Debian release (``$PREREQOS_NODE_IMAGE`` overrides it)."""
    if release not in RELEASES:
        raise ValueError(f"unknown Debian release {release!r}; known: {', '.join(RELEASES)}")
    return os.environ.get("PREREQOS_NODE_IMAGE") or f"prereqos/node-debian{release}:latest"


LABEL = "prereqos.testbed"
LABEL_RUN = "prereqos.run"
LABEL_OWNER = "prereqos.owner"
LABEL_KEEP = "prereqos.keep"

# Repository directories the master serves, under /srv/prereqos (if present).
REPO_DIRS = ("formula", "orch", "_modules", "_states", "_grains", "_runners", "_utils", "_renderers")
SRV = "/srv/prereqos"
PILLAR_DIR = "/srv/pillar"

# Where test networks come from: a range no example of the docs or pillar.example uses.
SUBNET_POOLS = ("172.30.0.0/16", "172.31.0.0/16")

MASTER = "master"
MASTER_HOST = 2
CONTROLLER_HOST_BASE = 10
VIP_HOST = 100

# What systemd needs to run as PID 1 in a container on this kind of host.
SYSTEMD_RUN_OPTIONS: dict[str, Any] = {
    "cap_add": ["SYS_ADMIN", "NET_ADMIN", "NET_RAW"],
    "security_opt": ["seccomp=unconfined"],
    "tmpfs": {"/run": "", "/run/lock": ""},
}
CGROUP_MOUNT = {"/sys/fs/cgroup": {"bind": "/sys/fs/cgroup", "mode": "rw"}}
# Files of the host a run's containers mount, under <this>/<run id>: each
# node's /etc/hosts (docker would write its own at every start, naming the
# node on whichever network comes first, where a real controller keeps what
# the formula wrote across reboots) and the repository gitfs serves.
RUN_FILES = Path(tempfile.gettempdir()) / "prereqos-testbed-hosts"

# Salt CLI flags for each kind of target.
TARGET_FLAGS = {"glob": [], "list": ["-L"], "compound": ["-C"], "grain": ["-G"], "pcre": ["-E"]}

T = TypeVar("T")


class TestbedError(RuntimeError):
    """The test bed could not be brought to the state asked for."""

    __test__ = False  # not a pytest test class


class ExecError(TestbedError):
    """A command in a container failed (``check=True``)."""

    def __init__(self, node: str, argv: Sequence[str], result: ExecResult, journal: str = "") -> None:
        self.node, self.argv, self.result, self.journal = node, list(argv), result, journal
        message = f"{node}: {' '.join(argv)} exited {result.rc}"
        if result.rc == 124:
            message += " (timed out)"
        for title, text in (("stdout", result.stdout), ("stderr", result.stderr), ("journal", journal)):
            if text.strip():
                message += f"\n--- {title} (last lines) ---\n{_tail(text, 40)}"
        super().__init__(message)


class ExecResult(NamedTuple):
    """Outcome of a command run in a container; unpacks as ``rc, stdout, stderr``."""

    rc: int
    stdout: str
    stderr: str


@dataclass(frozen=True)
class NetworkInfo:
    """One test network."""

    name: str  #: logical name, e.g. ``srv``
    docker_name: str  #: docker network name, unique per run
    cidr: str  #: e.g. ``172.30.7.0/24``
    gateway: str  #: the host's address on the network

    @property
    def vip(self) -> str:
        """An address no container gets (.100), for a virtual IP."""
        return self.address(VIP_HOST)

    def address(self, host: int) -> str:
        """The network's address number ``host`` (e.g. 2 -> x.y.z.2)."""
        return str(ipaddress.ip_network(self.cidr)[host])


@dataclass
class NodeInfo:
    """One container of the test bed."""

    name: str  #: logical name and hostname: ``master``, ``ctrl-1``, ...
    container: str  #: docker container name, unique per run
    role: str  #: ``master`` or ``minion``
    addresses: dict[str, str]  #: network name -> IPv4 address
    interfaces: dict[str, str] = field(default_factory=dict)  #: network name -> interface inside


class Testbed:
    """A Salt master and ``controllers`` minions on private docker networks.

    Use as a context manager (or call :meth:`up` and :meth:`down`).

    Args:
        controllers: number of controllers, named ``ctrl-1`` .. ``ctrl-N``.
        networks: logical names of the networks; the first one carries Salt.
            Every node gets one address on each; the interfaces come in this
            order (eth0, eth1...), as :attr:`NodeInfo.interfaces` records.
        release: the Debian release of every node (13 or 12).
        image: node image; default :func:`node_image` of ``release``.
        keep: leave everything running after the ``with`` block (e.g. a demo);
            :func:`cleanup_stale` then leaves it alone unless asked.
        gitfs: the master serves the formula through gitfs, configured with the
            README's block, from a bare repository of this checkout's tree
            (:attr:`served`); otherwise through ``file_roots`` on the checkout.
        served_release: with ``gitfs``, serve this earlier formula release (a commit
            of the checkout's history) instead of the tree under test.
        boot_timeout: seconds for systemd to come up in every container.
        salt_timeout: seconds for the minions' keys and first ``test.ping``.
        handle_signals: turn SIGINT/SIGTERM into a clean teardown (main thread only).
    """

    __test__ = False  # not a pytest test class

    def __init__(
        self,
        controllers: int = 3,
        networks: Sequence[str] = ("srv",),
        *,
        release: str = PRIMARY_RELEASE,
        image: str | None = None,
        keep: bool = False,
        gitfs: bool = False,
        served_release: str | None = None,
        boot_timeout: float = 90,
        salt_timeout: float = 180,
        handle_signals: bool = True,
    ) -> None:
        if controllers < 1 or controllers > VIP_HOST - CONTROLLER_HOST_BASE - 1:
            raise ValueError(f"controllers must be 1..{VIP_HOST - CONTROLLER_HOST_BASE - 1}")
        if not networks or len(set(networks)) != len(networks):
            raise ValueError("networks must be one or more distinct names")
        self.controller_count = controllers
        self.network_names = tuple(networks)
        self.release = release
        self.image = image or node_image(release)
        self.keep = keep
        self.gitfs = gitfs
        #: the repository the master serves through gitfs (``gitfs=True``)
        self.served: ServedRepository | None = None
        self.served_release = served_release
        self.boot_timeout = boot_timeout
        self.salt_timeout = salt_timeout
        self.handle_signals = handle_signals
        self.run_id = f"prereqos-{secrets.token_hex(3)}"
        self.networks: dict[str, NetworkInfo] = {}
        self.nodes: dict[str, NodeInfo] = {}
        self.timings: dict[str, float] = {}
        # Exec calls may last as long as a whole orchestration.
        self.client = docker.from_env(timeout=3600)
        self._old_handlers: dict[int, Any] = {}

    # -- lifecycle -----------------------------------------------------------

    def __enter__(self) -> Testbed:
        self._install_signal_handlers()
        try:
            self.up()
        except BaseException:
            self.down()
            self._restore_signal_handlers()
            raise
        return self

    def __exit__(self, *exc_info: object) -> None:
        try:
            if not self.keep:
                self.down()
        finally:
            self._restore_signal_handlers()

    @classmethod
    def attach(cls, run_id: str, **kwargs: Any) -> Testbed:
        """A handle on the running test bed ``run_id`` (e.g. one made with ``keep=True``).

        Leaving a ``with`` block of the handle removes the test bed unless it
        was made with ``keep=True``. ``kwargs`` go to the constructor.
        """
        client = docker.from_env(timeout=3600)
        label = {"label": f"{LABEL_RUN}={run_id}"}
        containers = client.containers.list(all=True, filters=label)
        networks = sorted(client.networks.list(filters=label), key=lambda n: n.name)
        if not containers or not networks:
            raise TestbedError(f"no test bed {run_id} here")
        prefix = f"{run_id}-"
        by_docker_name = {}
        for net in networks:
            pool = net.attrs["IPAM"]["Config"][0]
            name = net.name.removeprefix(prefix).split("-", 1)[1]
            by_docker_name[net.name] = NetworkInfo(name, net.name, pool["Subnet"], pool["Gateway"])
        labels = containers[0].labels
        tb = cls(
            controllers=sum(c.name.removeprefix(prefix).startswith("ctrl-") for c in containers),
            networks=[n.name for n in by_docker_name.values()],
            image=containers[0].attrs["Config"]["Image"],
            keep=labels.get(LABEL_KEEP) == "1",
            **kwargs,
        )
        tb.client, tb.run_id = client, run_id
        tb.networks = {n.name: n for n in by_docker_name.values()}
        for container in sorted(containers, key=lambda c: c.name):
            name = container.name.removeprefix(prefix)
            attached = container.attrs["NetworkSettings"]["Networks"]
            addresses = {
                net.name: (attached[docker_name].get("IPAMConfig") or {}).get("IPv4Address")
                or attached[docker_name]["IPAddress"]
                for docker_name, net in by_docker_name.items()
                if docker_name in attached
            }
            role = "master" if name == MASTER else "minion"
            tb.nodes[name] = NodeInfo(name=name, container=container.name, role=role, addresses=addresses)
            if container.status == "running":
                tb._discover_interfaces(name)
        return tb

    @property
    def controllers(self) -> list[str]:
        """Minion ids of the controllers, ``ctrl-1`` first."""
        return [f"ctrl-{i}" for i in range(1, self.controller_count + 1)]

    def up(self) -> None:
        """Create the networks and containers, boot them, and connect Salt."""
        started = time.monotonic()
        _image_or_fail(self.client, self.image)
        cleanup_stale(self.client)
        with _timed(self.timings, "networks"):
            for index, name in enumerate(self.network_names):
                self.networks[name] = self._create_network(name, index)
        if self.gitfs:
            self.served = ServedRepository.create(RUN_FILES / self.run_id / "gitfs", release=self.served_release)
        with _timed(self.timings, "containers"):
            self._create_node(MASTER, "master", MASTER_HOST)
            for i, name in enumerate(self.controllers, start=1):
                self._create_node(name, "minion", CONTROLLER_HOST_BASE + i)
            for node in self.nodes.values():
                self._container(node.name).start()
        with _timed(self.timings, "systemd"):
            for name in self.nodes:
                self.wait_systemd(name)
                self._check_writable_sysctls(name)
            for name in self.nodes:
                self._discover_interfaces(name)
        if self.gitfs:
            with _timed(self.timings, "gitfs"):
                self._serve_gitfs()
        with _timed(self.timings, "salt keys"):
            self.accept_minions(self.controllers)
        with _timed(self.timings, "salt ping"):
            self.wait_minions(self.controllers)
        self.timings["up"] = time.monotonic() - started

    def down(self) -> None:
        """Remove every container and network of this run (idempotent)."""
        started = time.monotonic()
        with _signals_blocked():
            _remove_run(self.client, self.run_id)
        self.timings["down"] = time.monotonic() - started

    # -- creation ------------------------------------------------------------

    def _labels(self) -> dict[str, str]:
        return {
            LABEL: "1",
            LABEL_RUN: self.run_id,
            LABEL_OWNER: _process_token(os.getpid()),
            LABEL_KEEP: "1" if self.keep else "0",
        }

    def _create_network(self, name: str, index: int) -> NetworkInfo:
        """Create an internal /24 on a subnet nothing else here uses.

        Docker names a container's interfaces (eth0, eth1...) in the order of
        its networks' names, hence the index in the name.
        """
        docker_name = f"{self.run_id}-{index:02d}-{name}"
        errors: list[str] = []
        for subnet in _free_subnets(self.client):
            gateway = str(subnet[1])
            ipam = docker.types.IPAMConfig(pool_configs=[docker.types.IPAMPool(subnet=str(subnet), gateway=gateway)])
            try:
                self.client.networks.create(
                    docker_name, driver="bridge", internal=True, ipam=ipam, labels=self._labels()
                )
            except docker.errors.APIError as exc:  # taken meanwhile by someone else: next one
                errors.append(f"{subnet}: {exc.explanation}")
                if len(errors) >= 10:
                    break
                continue
            return NetworkInfo(name=name, docker_name=docker_name, cidr=str(subnet), gateway=gateway)
        raise TestbedError(f"no free /24 in {SUBNET_POOLS} for network {name}: {errors[-3:]}")

    def _create_node(self, name: str, role: str, host: int) -> None:
        """Create (not start) a container, configured for its Salt role."""
        first, *others = (self.networks[n] for n in self.network_names)
        addresses = {net.name: net.address(host) for net in (first, *others)}
        volumes = dict(CGROUP_MOUNT)
        hosts = RUN_FILES / self.run_id / name
        hosts.parent.mkdir(parents=True, exist_ok=True)
        hosts.write_text(
            f"127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n{addresses[first.name]}\t{name}\n"
        )
        volumes[str(hosts)] = {"bind": "/etc/hosts", "mode": "rw"}
        if role == "master" and self.served is not None:
            volumes[str(self.served.bare)] = {"bind": gitfs.SERVED_PATH, "mode": "ro"}
        elif role == "master":
            for d in REPO_DIRS:
                if (REPO_ROOT / d).is_dir():
                    volumes[str(REPO_ROOT / d)] = {"bind": f"{SRV}/{d}", "mode": "ro"}
        container = self.client.containers.create(
            self.image,
            name=f"{self.run_id}-{name}",
            hostname=name,
            labels=self._labels(),
            volumes=volumes,
            network=first.docker_name,
            networking_config={
                first.docker_name: self.client.api.create_endpoint_config(
                    aliases=[name], ipv4_address=addresses[first.name]
                )
            },
            detach=True,
            # A node that reboots itself (systemd's reboot ends the container) boots
            # again; one powered off by kill() or stop() stays off.
            restart_policy={"Name": "unless-stopped"},
            **SYSTEMD_RUN_OPTIONS,
        )
        for net in others:
            self.client.networks.get(net.docker_name).connect(
                container, aliases=[name], ipv4_address=addresses[net.name]
            )
        self.nodes[name] = NodeInfo(name=name, container=container.name, role=role, addresses=addresses)
        # Configured and enabled before the first boot, so everything starts at once.
        unit = "salt-master.service" if role == "master" else "salt-minion.service"
        files: dict[str, str] = {
            f"/etc/systemd/system/multi-user.target.wants/{unit}": f"->/etc/systemd/system/{unit}",
        }
        if role == "master":
            served = {} if self.gitfs else {"file_roots": {"base": [f"{SRV}/formula", SRV]}}
            files["/etc/salt/master.d/testbed.conf"] = yaml.safe_dump(
                {**served, "pillar_roots": {"base": [PILLAR_DIR]}}
            )
        else:
            files["/etc/salt/minion.d/prereqos.conf"] = yaml.safe_dump(
                {
                    "id": name,
                    "master": MASTER,
                    # Retry authentication quickly once the key is accepted.
                    "acceptance_wait_time": 1,
                    "acceptance_wait_time_max": 3,
                }
            )
        for path, content in files.items():
            _put_file(container, path, content)

    def _serve_gitfs(self) -> None:
        """Configure the master as the README says (git, GitPython, the gitfs block) and
        wait until it serves the formula's states and orchestration from the repository."""
        self.exec(MASTER, ["apt-get", "install", "-y", "-q", "--no-install-recommends", "git"], check=True)
        self.write_file(MASTER, gitfs.MASTER_CONFIG, gitfs.readme_master_config())
        self.restart_master()

    def restart_master(self, empty_gitfs_cache: bool = False) -> None:
        """Restart the master (first emptying its gitfs cache: a master that never served)
        and wait until it serves the formula through gitfs again."""
        if empty_gitfs_cache:
            self.exec(MASTER, ["systemctl", "stop", "salt-master"], timeout=120, check=True)
            self.exec(MASTER, ["rm", "-rf", *gitfs.MASTER_CACHES], check=True)
        self.exec(
            MASTER, ["systemctl", "restart", "salt-master"], timeout=120, check=True, journal_units=["salt-master"]
        )

        def probe() -> bool | None:
            out = self.exec(MASTER, ["salt-run", "fileserver.file_list", "backend=gitfs", "--out=json"], timeout=60)
            with contextlib.suppress(ValueError):
                served = set(json.loads(out.stdout or "[]"))
                return True if {"orch/prereqos.sls", "prereqos/map.jinja"} <= served else None
            return None

        poll(
            probe,
            self.salt_timeout,
            lambda: (
                "the master does not serve the formula through gitfs\n" + self._diagnostics(MASTER, ("salt-master",))
            ),
        )

    # -- waiting -------------------------------------------------------------

    def wait_systemd(self, node: str, timeout: float | None = None) -> None:
        """Wait until systemd in ``node`` is up (``running`` or ``degraded``)."""
        states = ("running", "degraded")

        def probe() -> str | None:
            state = self.exec(node, ["systemctl", "is-system-running"], timeout=10).stdout.strip()
            return state if state in states else None

        poll(
            probe,
            timeout or self.boot_timeout,
            lambda: f"systemd in {node} did not come up\n{self._diagnostics(node)}",
        )

    def accept_minions(self, minions: Sequence[str], timeout: float | None = None) -> None:
        """Wait for the minions' keys to reach the master and accept them."""

        def probe() -> bool | None:
            rc, out, _ = self.exec(MASTER, ["salt-key", "-L", "--out=json"], timeout=30)
            if rc != 0:
                return None
            keys = json.loads(out)
            accepted, pending = set(keys.get("minions", [])), set(keys.get("minions_pre", []))
            missing = set(minions) - accepted - pending
            if missing:
                return None
            if pending & set(minions):
                self.exec(MASTER, ["salt-key", "-y", "-A"], timeout=30, check=True)
                return None
            return True

        poll(
            probe,
            timeout or self.salt_timeout,
            lambda: (
                "minion keys did not reach the master\n"
                + self._diagnostics(MASTER, ("salt-master",))
                + "".join(self._diagnostics(m, ("salt-minion",)) for m in minions)
            ),
        )

    def wait_minions(self, minions: Sequence[str], timeout: float | None = None) -> None:
        """Wait until every minion answers ``test.ping``."""
        answered: set[str] = set()

        def probe() -> bool | None:
            target = ",".join(sorted(set(minions) - answered))
            out = self.exec(MASTER, ["salt", "-L", target, "test.ping", "--out=json", "--static", "-t", "3"]).stdout
            with contextlib.suppress(ValueError):
                answered.update(m for m, ok in json.loads(out or "{}").items() if ok is True)
            return True if answered >= set(minions) else None

        poll(
            probe,
            timeout or self.salt_timeout,
            lambda: (
                f"minions {sorted(set(minions) - answered)} do not answer test.ping\n"
                + "".join(self._diagnostics(m, ("salt-minion",)) for m in sorted(set(minions) - answered))
            ),
        )

    # -- commands ------------------------------------------------------------

    def exec(
        self,
        node: str,
        argv: Sequence[str],
        *,
        timeout: float = 600,
        check: bool = False,
        env: Mapping[str, str] | None = None,
        journal_units: Sequence[str] = (),
    ) -> ExecResult:
        """Run ``argv`` as root in ``node`` and return ``(rc, stdout, stderr)``.

        The command is killed after ``timeout`` seconds (rc 124). With
        ``check=True`` a non-zero rc raises :class:`ExecError` carrying the last
        journal lines of ``journal_units`` (all units when empty).
        """
        wrapped = ["timeout", "--kill-after=10", str(max(1, math.ceil(timeout))), *argv]
        rc, (out, err) = self._container(node).exec_run(wrapped, demux=True, environment=dict(env or {}))
        result = ExecResult(rc, (out or b"").decode(errors="replace"), (err or b"").decode(errors="replace"))
        if check and result.rc != 0:
            raise ExecError(node, argv, result, self.journal(node, journal_units))
        return result

    def stream(self, node: str, argv: Sequence[str], *, timeout: float = 3600, out: TextIO | None = None) -> int:
        """Run ``argv`` in ``node`` with its output (stdout and stderr) copied live to ``out``.

        ``out`` defaults to sys.stdout. Returns the exit code (124 on timeout).
        """
        out = out or sys.stdout
        wrapped = ["timeout", "--kill-after=10", str(max(1, math.ceil(timeout))), *argv]
        api = self.client.api
        exec_id = api.exec_create(self._container(node).id, wrapped)["Id"]
        decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        for chunk in api.exec_start(exec_id, stream=True):
            out.write(decoder.decode(chunk))
            out.flush()
        return int(api.exec_inspect(exec_id)["ExitCode"])

    def sh(self, node: str, script: str, **kwargs: Any) -> ExecResult:
        """Run a bash script in ``node`` (``set -euo pipefail``); see :meth:`exec`."""
        return self.exec(node, ["bash", "-euo", "pipefail", "-c", script], **kwargs)

    def salt(
        self,
        target: str,
        function: str,
        *args: str,
        timeout: float = 600,
        check: bool = True,
        tgt_type: str = "glob",
    ) -> dict[str, Any]:
        """Run ``salt <target> <function> <args>`` on the master; return the parsed JSON.

        ``tgt_type`` is one of glob, list, compound, grain, pcre.

        With ``check=True`` a failure (exit code, or minions not returning)
        raises :class:`ExecError` with the targeted minions' salt-minion journals.
        """
        argv = ["salt", *TARGET_FLAGS[tgt_type], target, function, *args]
        argv += ["--out=json", "--static", "-t", str(int(timeout))]
        result = self.exec(MASTER, argv, timeout=timeout + 60)
        try:
            data = json.loads(result.stdout) if result.stdout.strip() else {}
        except ValueError:
            data = {}
        if check and (result.rc != 0 or not data):
            journals = "".join(self._diagnostics(m, ("salt-minion",)) for m in self.controllers)
            raise ExecError(MASTER, argv, result, journals)
        return data

    def salt_run(
        self,
        args: Sequence[str],
        *,
        timeout: float = 1800,
        check: bool = False,
        journal_units: Sequence[str] = ("salt-master",),
    ) -> ExecResult:
        """Run ``salt-run <args>`` on the master (e.g. ``["state.orchestrate", "orch.x"]``)."""
        return self.exec(MASTER, ["salt-run", *args], timeout=timeout, check=check, journal_units=journal_units)

    def journal(self, node: str, units: Sequence[str] = (), lines: int = 80) -> str:
        """Last ``lines`` of ``node``'s journal, for ``units`` (all units when empty)."""
        argv = ["journalctl", "--no-pager", "-q", "-n", str(lines)]
        for unit in units:
            argv += ["-u", unit]
        try:
            rc, out, err = self.exec(node, argv, timeout=30)
        except docker.errors.APIError as exc:
            return f"(journal of {node} unavailable: {exc.explanation})"
        return out if rc == 0 else f"(journalctl failed: {err.strip()})"

    # -- files ---------------------------------------------------------------

    def write_file(self, node: str, path: str, content: str | bytes, mode: int = 0o644) -> None:
        """Create or replace the file ``path`` (absolute) in ``node``; parents are created."""
        self.exec(node, ["mkdir", "-p", posixpath.dirname(path)], timeout=30, check=True)
        _put_file(self._container(node), path, content, mode)

    def read_file(self, node: str, path: str) -> str:
        """Content of the file ``path`` in ``node``."""
        return self.exec(node, ["cat", path], timeout=30, check=True).stdout

    def write_pillar(self, data: Mapping[str, Any], *, refresh: bool = True, secrets_everywhere: bool = False) -> None:
        """Make ``data`` the site pillar, laid out as the README says: ``prereqos:secrets``
        in ``prereqos_secrets.sls`` for the controllers only, the rest in
        ``prereqos.sls`` for every minion and the master. ``secrets_everywhere``: all
        of it in ``prereqos.sls``, the layout of formula releases before that split."""
        site = dict(data)
        controllers_only: dict[str, Any] = {}
        if not secrets_everywhere and isinstance(site.get("prereqos"), dict) and "secrets" in site["prereqos"]:
            site["prereqos"] = dict(site["prereqos"])
            controllers_only = {"prereqos": {"secrets": site["prereqos"].pop("secrets")}}
        top = {"base": {"*": ["prereqos"], ",".join(self.controllers): [{"match": "list"}, "prereqos_secrets"]}}
        self.write_file(MASTER, f"{PILLAR_DIR}/top.sls", yaml.safe_dump(top, sort_keys=False), mode=0o600)
        self.write_file(MASTER, f"{PILLAR_DIR}/prereqos.sls", yaml.safe_dump(site, sort_keys=False), mode=0o600)
        self.write_file(MASTER, f"{PILLAR_DIR}/prereqos_secrets.sls", yaml.safe_dump(controllers_only), mode=0o600)
        if refresh:
            self.salt("*", "saltutil.refresh_pillar", "wait=True", timeout=60)

    def site_facts(self) -> dict[str, Any]:
        """Networks and controllers in the shape of the formula's site pillar.

        ``{"networks": {name: {cidr, interface, vip}},
        "controllers": [{id, hostname, addresses: {network: address}}]}``
        """
        networks = {}
        for name, net in self.networks.items():
            interfaces = {self.nodes[c].interfaces.get(name) for c in self.controllers}
            if len(interfaces) != 1 or None in interfaces:
                raise TestbedError(f"controllers do not agree on the interface of {name}: {interfaces}")
            networks[name] = {"cidr": net.cidr, "interface": interfaces.pop(), "vip": net.vip}
        controllers = [{"id": c, "hostname": c, "addresses": dict(self.nodes[c].addresses)} for c in self.controllers]
        return {"networks": networks, "controllers": controllers}

    # -- failures ------------------------------------------------------------

    def kill(self, node: str) -> None:
        """Power ``node`` off at once (``docker kill``: SIGKILL to every process)."""
        self._container(node).kill()

    def stop(self, node: str, timeout: int = 60) -> None:
        """Shut ``node`` down cleanly (systemd stops every unit)."""
        self._container(node).stop(timeout=timeout)

    def start(self, *nodes: str, wait_salt: bool = True) -> None:
        """Boot ``nodes`` again after :meth:`kill` or :meth:`stop`, all at once
        (as when power comes back: a RabbitMQ node's boot waits for its peers).

        Waits for systemd and, for a controller when ``wait_salt``, for its
        minion to answer ``test.ping`` (the master's, for the master).
        """
        for node in nodes:
            self._container(node).start()
        for node in nodes:
            self.wait_systemd(node)
            self._check_writable_sysctls(node)
            before = dict(self.nodes[node].interfaces)
            self._discover_interfaces(node)
            if self.nodes[node].interfaces != before:
                raise TestbedError(f"{node} came back with other interfaces: {self.nodes[node].interfaces} != {before}")
        if wait_salt:
            self.wait_minions([n for n in nodes if n != MASTER] or self.controllers)

    def booted_at(self, node: str) -> str:
        """When ``node``'s container last started (it changes when the node reboots)."""
        container = self._container(node)
        container.reload()
        return container.attrs["State"]["StartedAt"]

    def is_running(self, node: str) -> bool:
        """Whether ``node``'s container is running."""
        container = self._container(node)
        container.reload()
        return container.status == "running"

    # -- internals -----------------------------------------------------------

    def _container(self, node: str) -> Container:
        try:
            return self.client.containers.get(self.nodes[node].container)
        except KeyError:
            raise TestbedError(f"no node {node!r} in this test bed ({sorted(self.nodes)})") from None

    def _check_writable_sysctls(self, node: str) -> None:
        """/proc/sys must be writable, as on a host, so the formula's sysctls apply
        at once and at every boot (the image's prereqos-testbed-procsys.service
        remounts it before systemd-sysctl; net.* is per network namespace)."""
        options = self.exec(node, ["findmnt", "-no", "OPTIONS", "/proc/sys"], timeout=30, check=True).stdout
        if "rw" not in options.split(","):
            raise TestbedError(f"/proc/sys is read-only in {node} ({options.strip()}){self._diagnostics(node)}")

    def _discover_interfaces(self, node: str) -> None:
        """Record which interface inside ``node`` carries each network's address."""
        out = self.exec(node, ["ip", "-o", "-4", "addr", "show"], timeout=30, check=True).stdout
        by_address = {}
        for line in out.splitlines():
            fields = line.split()
            if len(fields) >= 4 and fields[2] == "inet":
                by_address[fields[3].split("/")[0]] = fields[1].split("@")[0]
        info = self.nodes[node]
        missing = {n: a for n, a in info.addresses.items() if a not in by_address}
        if missing:
            raise TestbedError(f"{node} lacks addresses {missing}; it has:\n{out}")
        info.interfaces = {n: by_address[a] for n, a in info.addresses.items()}

    def _diagnostics(self, node: str, units: Sequence[str] = ()) -> str:
        """State and journal tail of ``node``, for error messages."""
        try:
            container = self._container(node)
            container.reload()
        except (TestbedError, docker.errors.APIError) as exc:
            return f"\n=== {node}: {exc}\n"
        if container.status != "running":
            logs = container.logs(tail=30).decode(errors="replace")
            return f"\n=== {node}: container {container.status}; docker logs:\n{logs}\n"
        state = self.exec(node, ["systemctl", "is-system-running"], timeout=15).stdout.strip()
        failed = self.exec(node, ["systemctl", "--failed", "--no-legend"], timeout=15).stdout.strip()
        # While it boots, the start jobs systemd still waits for.
        jobs = self.exec(node, ["systemctl", "list-jobs", "--no-legend"], timeout=15).stdout.strip()
        return (
            f"\n=== {node}: systemd {state or '?'}; failed units: {failed or 'none'}\n"
            + (f"--- jobs ---\n{jobs}\n" if jobs else "")
            + f"--- journal {' '.join(units) or '(all units)'} ---\n{self.journal(node, units, lines=40)}"
        )

    def _install_signal_handlers(self) -> None:
        if not self.handle_signals or threading.current_thread() is not threading.main_thread():
            return

        def interrupt(signum: int, _frame: object) -> None:
            raise KeyboardInterrupt(f"signal {signal.Signals(signum).name}")

        for sig in (signal.SIGINT, signal.SIGTERM):
            self._old_handlers[sig] = signal.signal(sig, interrupt)

    def _restore_signal_handlers(self) -> None:
        for sig, handler in self._old_handlers.items():
            signal.signal(sig, handler)
        self._old_handlers.clear()


# -- module-level helpers -------------------------------------------------------


def cleanup_stale(
    client: docker.DockerClient | None = None, *, include_kept: bool = False, everything: bool = False
) -> list[str]:
    """Remove containers and networks left by earlier test-bed runs.

    A run is stale when the process that created it no longer exists. Runs
    made with ``keep=True`` are left alone unless ``include_kept``; runs whose
    owner still lives (another test session) are left alone unless
    ``everything``. Returns the run ids removed.
    """
    client = client or docker.from_env(timeout=300)
    runs: dict[str, dict[str, str]] = {}
    containers = client.containers.list(all=True, filters={"label": LABEL})
    for obj in [*containers, *client.networks.list(filters={"label": LABEL})]:
        labels = obj.attrs.get("Labels") or obj.attrs.get("Config", {}).get("Labels") or {}
        if labels.get(LABEL_RUN):
            runs.setdefault(labels[LABEL_RUN], labels)
    removed = []
    for run_id, labels in runs.items():
        owner_alive = labels.get(LABEL_OWNER) == _process_token(_owner_pid(labels.get(LABEL_OWNER, "")))
        kept = labels.get(LABEL_KEEP) == "1"
        if everything or (not owner_alive and (include_kept or not kept)):
            _remove_run(client, run_id)
            removed.append(run_id)
    return removed


def remove_run(run_id: str, client: docker.DockerClient | None = None) -> None:
    """Remove every container and network of the run ``run_id``."""
    _remove_run(client or docker.from_env(timeout=300), run_id)


def _remove_run(client: docker.DockerClient, run_id: str) -> None:
    if not run_id:
        raise ValueError("empty run id")
    label = f"{LABEL_RUN}={run_id}"
    for container in client.containers.list(all=True, filters={"label": label}):
        try:
            container.remove(force=True, v=True)
        except docker.errors.NotFound:
            pass
        except docker.errors.APIError as exc:  # another teardown is removing it already
            if exc.status_code != 409:
                raise
    for network in client.networks.list(filters={"label": label}):
        with contextlib.suppress(docker.errors.NotFound):
            network.remove()
    shutil.rmtree(RUN_FILES / run_id, ignore_errors=True)


def _image_or_fail(client: docker.DockerClient, image: str) -> None:
    try:
        client.images.get(image)
    except docker.errors.ImageNotFound:
        release = image.split("node-debian", 1)[-1].split(":")[0]
        raise TestbedError(f"image {image} not found: build it with `make images DEBIAN={release}`") from None


def _free_subnets(client: docker.DockerClient) -> Iterator[ipaddress.IPv4Network]:
    """/24s of SUBNET_POOLS overlapping no docker network or host route."""
    used: list[ipaddress.IPv4Network | ipaddress.IPv6Network] = []
    for network in client.networks.list():
        for pool in (network.attrs.get("IPAM") or {}).get("Config") or []:
            with contextlib.suppress(ValueError, KeyError):
                used.append(ipaddress.ip_network(pool["Subnet"], strict=False))
    used += _host_routes()
    candidates = [s for pool in SUBNET_POOLS for s in ipaddress.ip_network(pool).subnets(new_prefix=24)]
    start = random.randrange(len(candidates))  # parallel runs rarely race for the same one
    for subnet in candidates[start:] + candidates[:start]:
        if not any(subnet.overlaps(u) for u in used if u.version == 4):
            yield subnet


def _host_routes() -> list[ipaddress.IPv4Network]:
    """Destinations of the host's IPv4 routes (default route excluded)."""
    routes = []
    with contextlib.suppress(OSError):
        for line in Path("/proc/net/route").read_text().splitlines()[1:]:
            fields = line.split()
            dest, mask = (socket.inet_ntoa(int(x, 16).to_bytes(4, "little")) for x in (fields[1], fields[7]))
            if mask != "0.0.0.0":
                routes.append(ipaddress.ip_network(f"{dest}/{mask}", strict=False))
    return routes


def _process_token(pid: int) -> str:
    """``pid:start-time``: identifies a process even after its pid is reused."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return ""
    start_time = stat.rsplit(")", 1)[1].split()[19]
    return f"{socket.gethostname()}:{pid}:{start_time}"


def _owner_pid(token: str) -> int:
    try:
        return int(token.split(":")[1])
    except (IndexError, ValueError):
        return -1


def _put_file(container: Container, path: str, content: str | bytes, mode: int = 0o644) -> None:
    """Write one file, owned by root, into an existing directory of a container.

    ``content`` ``"->target"`` makes a symlink. Only the file itself is in the
    archive, so the modes of the directories above it are left alone.
    """
    directory, name = posixpath.split(path)
    info = tarfile.TarInfo(name)
    info.mtime = int(time.time())
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        if isinstance(content, str) and content.startswith("->"):
            info.type, info.linkname = tarfile.SYMTYPE, content[2:]
            tar.addfile(info)
        else:
            data = content.encode() if isinstance(content, str) else content
            info.size, info.mode = len(data), mode
            tar.addfile(info, io.BytesIO(data))
    if not container.put_archive(directory, buf.getvalue()):
        raise TestbedError(f"could not write {path} into {container.name}")


def poll(probe: Callable[[], T | None], timeout: float, describe: Callable[[], str], interval: float = 0.5) -> T:
    """Call ``probe`` until it returns something other than None, or fail after ``timeout`` s."""
    deadline = time.monotonic() + timeout
    last_error: Exception | None = None
    while True:
        try:
            value = probe()
            if value is not None:
                return value
        except (docker.errors.APIError, ValueError) as exc:
            last_error = exc
        if time.monotonic() >= deadline:
            detail = f" (last error: {last_error})" if last_error else ""
            raise TestbedError(f"timed out after {timeout:.0f}s: {describe()}{detail}")
        time.sleep(interval)


@contextlib.contextmanager
def _timed(timings: dict[str, float], name: str) -> Iterator[None]:
    started = time.monotonic()
    try:
        yield
    finally:
        timings[name] = time.monotonic() - started


@contextlib.contextmanager
def _signals_blocked() -> Iterator[None]:
    """Let teardown finish even when Ctrl-C is pressed again."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    old = {sig: signal.signal(sig, signal.SIG_IGN) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for sig, handler in old.items():
            signal.signal(sig, handler)


def _tail(text: str, lines: int) -> str:
    return "\n".join(text.rstrip().splitlines()[-lines:])
