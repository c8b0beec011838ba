"""Run each Debian release's own config checkers on generated files, and read
secrets back with the parsers of the programs that consume them.

Debian 12's run on this host (the Makefile installs them); another release's
run in a container of its node image with the same packages installed from
the image's offline repository (no network), which sees this module's
temporary files at the same paths. keepalived and corosync check that
interfaces and a local node address exist, and corosync reads its authkey
from /etc/corosync: they run in a private network + mount namespace with veth
interfaces, never touching the host's network or files. HAProxy checks a
password against its userlist hash in a throwaway instance listening on
loopback (on the host: the hash is the same for every release).
"""

from __future__ import annotations

import atexit
import base64
import http.client
import os
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path

CHECKERS = ("haproxy", "keepalived", "corosync", "apache2ctl", "unshare", "my_print_defaults", "bash")
# The Debian packages that bring them (the Makefile's CHECKER_PKGS on the host).
CHECKER_PACKAGES = ("haproxy", "keepalived", "corosync", "apache2", "libapache2-mod-wsgi-py3", "mariadb-client-core")
#: the release whose checkers run on this host; the others run in containers
HOST_RELEASE = "12"
#: every release the render tier checks with
RELEASES = ("13", "12")
# Temporary files, seen at the same path by the checker containers.
WORK = Path(tempfile.gettempdir()) / "prereqos-checkers"
_containers: dict[str, str] = {}


def missing_checkers() -> list[str]:
    """Checker binaries not installed on this host (the Makefile installs them)."""
    return [c for c in CHECKERS if shutil.which(c) is None and not Path(f"/usr/sbin/{c}").exists()]


def _container(release: str) -> str:
    """A running checker container of ``release`` (started on first use, removed at exit)."""
    if release not in _containers:
        WORK.mkdir(exist_ok=True)
        image = f"prereqos/node-debian{release}:latest"
        started = subprocess.run(
            [
                "docker", "run", "-d", "--rm", "--network", "none",
                "--cap-add", "SYS_ADMIN", "--cap-add", "NET_ADMIN", "--security-opt", "seccomp=unconfined",
                "--label", "prereqos.testbed=1", "-v", f"{WORK}:{WORK}", image, "sleep", "infinity",
            ],
            capture_output=True, text=True, check=False,
        )  # fmt: skip
        if started.returncode != 0:
            raise RuntimeError(f"cannot start the Debian {release} checkers ({started.stderr.strip()}); "
                               f"build the image with `make images DEBIAN={release}`")  # fmt: skip
        name = started.stdout.strip()
        atexit.register(subprocess.run, ["docker", "rm", "-f", name], capture_output=True, check=False)
        install = ["apt-get", "install", "-y", "-q", "--no-install-recommends", *CHECKER_PACKAGES]
        installed = subprocess.run(["docker", "exec", name, *install], capture_output=True, text=True, check=False)
        if installed.returncode != 0:
            raise RuntimeError(
                f"Debian {release} checkers did not install:\n{installed.stdout[-2000:]}{installed.stderr}"
            )
        _containers[release] = name
    return _containers[release]


def _exec(argv: list[str], release: str = HOST_RELEASE, env: dict | None = None) -> subprocess.CompletedProcess:
    """Run a checker of ``release``: here, or in that release's checker container."""
    if release != HOST_RELEASE:
        settings = [f"--env={key}={value}" for key, value in (env or {}).items() if key != "PATH"]
        argv = ["docker", "exec", *settings, _container(release), *argv]
        env = None
    return subprocess.run(argv, capture_output=True, timeout=120, env=env, check=False)


def _run(argv: list[str], release: str = HOST_RELEASE, env: dict | None = None) -> tuple[int, str]:
    """A checker's exit code and everything it printed."""
    proc = _exec(argv, release, env)
    return proc.returncode, (proc.stdout + proc.stderr).decode(errors="replace")


def _workfile(suffix: str) -> tempfile._TemporaryFileWrapper:
    WORK.mkdir(exist_ok=True)
    return tempfile.NamedTemporaryFile("w", suffix=suffix, dir=WORK, encoding="utf-8")


def _workdir() -> tempfile.TemporaryDirectory:
    WORK.mkdir(exist_ok=True)
    return tempfile.TemporaryDirectory(dir=WORK)


def _namespace_script(interfaces: dict[str, str | None], body: str) -> str:
    """Shell that creates ``interfaces`` ({name: address/prefix or None}) then runs ``body``."""
    lines = ["set -e", "ip link set lo up"]
    for index, (name, address) in enumerate(sorted(interfaces.items())):
        lines.append(f"ip link add {name} type veth peer name prereqos-p{index}")
        if address:
            lines.append(f"ip addr add {address} dev {name}")
        lines.append(f"ip link set {name} up")
    return "\n".join([*lines, body])


def haproxy(config: str, release: str = HOST_RELEASE) -> tuple[int, str]:
    with _workfile(".cfg") as handle:
        handle.write(config)
        handle.flush()
        return _run(["/usr/sbin/haproxy", "-c", "-f", handle.name], release)


def keepalived(
    config: str, interfaces: dict[str, str | None], release: str = HOST_RELEASE, state_dir: str | None = None
) -> tuple[int, str]:
    """keepalived -t on ``config``; ``state_dir`` (which the formula creates before the
    config: keepalived 2.3 resolves track files in it) is an empty directory of its own."""
    with _workdir() as work, _workfile(".conf") as handle:
        handle.write(config.replace(state_dir, work) if state_dir else config)
        handle.flush()
        script = _namespace_script(interfaces, f"/usr/sbin/keepalived -t -f {handle.name}")
        return _run(["unshare", "--net", "sh", "-c", script], release)


def corosync(
    config: str, authkey: bytes, interfaces: dict[str, str | None], release: str = HOST_RELEASE
) -> tuple[int, str]:
    with _workdir() as etc:
        Path(etc, "corosync.conf").write_text(config)
        Path(etc, "authkey").write_bytes(authkey)
        os.chmod(Path(etc, "authkey"), 0o400)
        body = f"mount --bind {etc} /etc/corosync\n/usr/sbin/corosync -t -c /etc/corosync/corosync.conf"
        return _run(["unshare", "--net", "--mount", "sh", "-c", _namespace_script(interfaces, body)], release)


def apache(files: dict[str, str], release: str = HOST_RELEASE) -> tuple[int, str]:
    """apache2ctl -t on a copy of the release's /etc/apache2 with ``files`` (relative paths) replaced."""
    with _workdir() as work:
        replaced, confdir = Path(work, "files"), Path(work, "apache2")
        for relative, text in files.items():
            Path(replaced, relative).parent.mkdir(parents=True, exist_ok=True)
            Path(replaced, relative).write_text(text)
        script = 'cp -a /etc/apache2/. "$1" && cp -a "$2"/. "$1" && APACHE_CONFDIR="$1" apache2ctl -t'
        return _run(["sh", "-c", script, "sh", str(confdir), str(replaced)], release, env=dict(os.environ))


def mariadb_options(config: str, group: str, release: str = HOST_RELEASE) -> list[str]:
    """The options of ``group`` as MariaDB reads them from ``config`` (my_print_defaults)."""
    with _workfile(".cnf") as handle:
        handle.write(config)
        handle.flush()
        proc = _exec(["my_print_defaults", f"--defaults-file={handle.name}", group], release)
    if proc.returncode != 0:
        raise RuntimeError(f"my_print_defaults failed: {proc.stderr.decode(errors='replace')}")
    return proc.stdout.decode().splitlines()


def shell_variables(script: str, names: list[str], release: str = HOST_RELEASE) -> dict[str, str]:
    """The value of each variable in ``names`` after bash sources ``script``."""
    with _workfile(".sh") as handle:
        handle.write(script)
        handle.flush()
        values = {}
        for name in names:
            argv = ["bash", "-c", f'source "$1"; printf %s "${name}"', "bash", handle.name]
            proc = _exec(argv, release, env={"PATH": os.environ["PATH"], "LC_ALL": "C.UTF-8"})
            if proc.returncode != 0:
                raise RuntimeError(f"bash could not source the file: {proc.stderr.decode(errors='replace')}")
            values[name] = proc.stdout.decode()
    return values


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def haproxy_basic_auth(userlist: str, name: str, user: str, passwords: list[str]) -> list[int]:
    """HTTP status a real HAProxy answers with each password for ``user``, checked
    against ``userlist`` (a ``userlist <name>`` section as haproxy.cfg holds it)."""
    port = _free_port()
    config = (
        "defaults\n    mode http\n    timeout connect 1s\n    timeout client 5s\n    timeout server 5s\n\n"
        f"{userlist}\n\n"
        f"frontend auth\n    bind 127.0.0.1:{port}\n"
        f"    http-request auth realm check unless {{ http_auth({name}) }}\n"
        "    http-request return status 200 content-type text/plain string ok\n"
    )
    with tempfile.NamedTemporaryFile("w", suffix=".cfg", encoding="utf-8") as handle:
        handle.write(config)
        handle.flush()
        proc = subprocess.Popen(["/usr/sbin/haproxy", "-db", "-f", handle.name], stderr=subprocess.PIPE)
        try:
            deadline = time.monotonic() + 10
            while True:
                try:
                    socket.create_connection(("127.0.0.1", port), timeout=1).close()
                    break
                except OSError:
                    if proc.poll() is not None or time.monotonic() > deadline:
                        raise RuntimeError(f"haproxy did not start: {proc.stderr.read().decode()}") from None
                    time.sleep(0.05)
            statuses = []
            for password in passwords:
                token = base64.b64encode(f"{user}:{password}".encode()).decode()
                client = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
                client.request("GET", "/", headers={"Authorization": f"Basic {token}"})
                statuses.append(client.getresponse().status)
                client.close()
            return statuses
        finally:
            proc.terminate()
            proc.wait(timeout=10)
