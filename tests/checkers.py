"""Run Debian 12's own config checkers on generated files, and read secrets
back with the parsers of the programs that consume them.

keepalived and corosync check that interfaces and a local node address
exist, and corosync reads its authkey from /etc/corosync: they run in a
private network + mount namespace with veth interfaces, never touching the
host's network or files. HAProxy checks a password against its userlist
hash in a throwaway instance listening on loopback.
"""

from __future__ import annotations

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


def missing_checkers() -> list[str]:
    """Checker binaries not installed (the Makefile installs them)."""
    return [c for c in CHECKERS if shutil.which(c) is None and not Path(f"/usr/sbin/{c}").exists()]


def _run(argv: list[str], env: dict | None = None) -> tuple[int, str]:
    proc = subprocess.run(argv, capture_output=True, text=True, timeout=60, env=env, check=False)
    return proc.returncode, proc.stdout + proc.stderr


def _namespace_script(interfaces: dict[str, str | None], body: str) -> str:
    """Shell that creates ``interfaces`` ({name: address/prefix or None}) then runs ``body``."""
    lines = ["set -e", "ip link set lo up"]
    for index, (name, address) in enumerate(sorted(interfaces.items())):
        lines.append(f"ip link add {name} type veth peer name prereqos-p{index}")
        if address:
            lines.append(f"ip addr add {address} dev {name}")
        lines.append(f"ip link set {name} up")
    return "\n".join([*lines, body])


def haproxy(config: str) -> tuple[int, str]:
    with tempfile.NamedTemporaryFile("w", suffix=".cfg") as handle:
        handle.write(config)
        handle.flush()
        return _run(["/usr/sbin/haproxy", "-c", "-f", handle.name])


def keepalived(config: str, interfaces: dict[str, str | None]) -> tuple[int, str]:
    with tempfile.NamedTemporaryFile("w", suffix=".conf") as handle:
        handle.write(config)
        handle.flush()
        script = _namespace_script(interfaces, f"/usr/sbin/keepalived -t -f {handle.name}")
        return _run(["unshare", "--net", "sh", "-c", script])


def corosync(config: str, authkey: bytes, interfaces: dict[str, str | None]) -> tuple[int, str]:
    with tempfile.TemporaryDirectory() as etc:
        Path(etc, "corosync.conf").write_text(config)
        Path(etc, "authkey").write_bytes(authkey)
        os.chmod(Path(etc, "authkey"), 0o400)
        body = f"mount --bind {etc} /etc/corosync\n/usr/sbin/corosync -t -c /etc/corosync/corosync.conf"
        return _run(["unshare", "--net", "--mount", "sh", "-c", _namespace_script(interfaces, body)])


def apache(files: dict[str, str]) -> tuple[int, str]:
    """apache2ctl -t on a copy of /etc/apache2 with ``files`` (relative paths) replaced."""
    with tempfile.TemporaryDirectory() as confdir:
        shutil.copytree("/etc/apache2", confdir, dirs_exist_ok=True, symlinks=True)
        for relative, text in files.items():
            Path(confdir, relative).write_text(text)
        return _run(["apache2ctl", "-t"], env={**os.environ, "APACHE_CONFDIR": confdir})


def mariadb_options(config: str, group: str) -> list[str]:
    """The options of ``group`` as MariaDB reads them from ``config`` (my_print_defaults)."""
    with tempfile.NamedTemporaryFile("w", suffix=".cnf", encoding="utf-8") as handle:
        handle.write(config)
        handle.flush()
        proc = subprocess.run(
            ["my_print_defaults", f"--defaults-file={handle.name}", group],
            capture_output=True,
            timeout=60,
            check=True,
        )
    return proc.stdout.decode().splitlines()


def shell_variables(script: str, names: list[str]) -> dict[str, str]:
    """The value of each variable in ``names`` after bash sources ``script``."""
    with tempfile.NamedTemporaryFile("w", suffix=".sh", encoding="utf-8") as handle:
        handle.write(script)
        handle.flush()
        values = {}
        for name in names:
            proc = subprocess.run(
                ["bash", "-c", f'source "$1"; printf %s "${name}"', "bash", handle.name],
                capture_output=True,
                timeout=60,
                check=True,
                env={"PATH": os.environ["PATH"], "LC_ALL": "C.UTF-8"},
            )
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
