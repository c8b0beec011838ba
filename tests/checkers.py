"""Run Debian 12's own config checkers on generated files.

keepalived and corosync check that interfaces and a local node address
exist, and corosync reads its authkey from /etc/corosync: they run in a
private network + mount namespace with veth interfaces, never touching the
host's network or files.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from pathlib import Path

CHECKERS = ("haproxy", "keepalived", "corosync", "apache2ctl", "unshare")


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
