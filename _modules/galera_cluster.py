"""Galera cluster: read and act on a MariaDB 10.11 + galera-4 node (Debian 12).

Reading
    :func:`status` (``wsrep_%`` status), :func:`grastate` (``grastate.dat``),
    :func:`recover_position` (``mariadbd --wsrep-recover``), :func:`node_state`
    (the facts the cluster states decide on, published to the Salt mine),
    :func:`recovery_facts` (node_state + recovered position, for the recovery after
    a full outage), :func:`health`.

Acting
    :func:`start`, :func:`stop`, :func:`bootstrap`, :func:`mark_safe_to_bootstrap`,
    :func:`user_check`, :func:`user_present`.

The parsers and the decisions (which node bootstraps, joins or waits) are pure
functions in ``_utils/prereqos_galera.py``.

SQL goes to the ``mariadb`` client over the local unix socket as root (Debian's
``root@localhost`` logs in by ``unix_socket``), in UTF-8 (utf8mb4) whatever the
minion's locale. A statement that carries a secret is sent on stdin, its output is
never logged, and the client's error text is redacted (the client would otherwise
echo the statement, and MariaDB's syntax errors quote the statement ``near '...'``).
"""

from __future__ import annotations

import importlib
import os
import time
from typing import Any

import prereqos_common
import prereqos_galera
import salt.utils.path
from salt.exceptions import CommandExecutionError

# A sync may have replaced a library since this process first imported it.
prereqos_common = importlib.reload(prereqos_common)
prereqos_galera = importlib.reload(prereqos_galera)

__virtualname__ = "galera_cluster"

CLIENT = "mariadb"
# Debian's package: the server binary, its datadir, and the script that starts a new cluster.
SERVER = "/usr/sbin/mariadbd"
DATADIR = "/var/lib/mysql"
NEW_CLUSTER = "galera_new_cluster"
# `systemctl is-active` answers for which mariadbd is certainly not running under systemd.
UNIT_STOPPED = frozenset({"inactive", "failed"})
GRASTATE_MAX_BYTES = 65536


class ServerDown(CommandExecutionError):
    """The client could not reach the server: mariadbd is not running."""


def __virtual__() -> str | tuple[bool, str]:
    if salt.utils.path.which(CLIENT) is None:
        return (False, "galera_cluster: the mariadb client is not installed (package mariadb-client)")
    return __virtualname__


# --------------------------------------------------------------------------- commands


def _run(argv: list[str], *, quiet: bool = False, **kwargs: Any) -> dict[str, Any]:
    """Run ``argv`` without a shell; ``quiet`` keeps its input and output out of the log."""
    if quiet:
        kwargs["output_loglevel"] = "quiet"
    return __salt__["cmd.run_all"](argv, python_shell=False, ignore_retcode=True, **kwargs)


def _sql(statement: str, *, secrets: tuple[str, ...] = (), quiet: bool = False) -> str:
    """Run SQL as root over the local socket and return its batch output.

    With ``secrets`` the statement goes on stdin and nothing is logged. Raises
    :class:`ServerDown` when the server is not running, CommandExecutionError otherwise.
    """
    argv = [
        CLIENT,
        "--user=root",
        "--protocol=socket",
        "--default-character-set=utf8mb4",
        "--batch",
        "--skip-column-names",
        "--skip-print-query-on-error",
        "--connect-timeout=10",
    ]
    kwargs: dict[str, Any] = {}
    if secrets:
        kwargs["stdin"] = statement.rstrip().rstrip(";") + ";\n"
    else:
        argv += ["--execute", statement]
    result = _run(argv, quiet=quiet or bool(secrets), rstrip=False, **kwargs)
    if result["retcode"] != 0:
        message = prereqos_galera.redact(prereqos_galera.client_error(result["stderr"]), secrets)
        if prereqos_galera.SERVER_DOWN_RE.search(result["stderr"]):
            raise ServerDown(f"MariaDB is not running: {message}")
        raise CommandExecutionError(f"mariadb client failed: {message}")
    return result["stdout"]


def _systemctl(*args: str, timeout: int | None = None) -> dict[str, Any]:
    return _run(["systemctl", *args], timeout=timeout)


def _unit_state(service: str) -> str:
    """``systemctl is-active`` of the service: active, inactive, failed, activating..."""
    result = _systemctl("is-active", service)
    state = result["stdout"].strip()
    if not state:
        raise CommandExecutionError(f"systemctl is-active {service} gave no answer: {result['stderr'].strip()}")
    return state


def _server_up() -> bool:
    """True when the server answers on its socket."""
    try:
        _sql("SELECT 1")
    except ServerDown:
        return False
    return True


def _ensure_stopped(service: str, action: str) -> None:
    """Raise unless the service is stopped and no server answers on the socket."""
    state = _unit_state(service)
    if state not in UNIT_STOPPED:
        raise CommandExecutionError(f"cannot {action}: {service} is {state}; it must be stopped")
    if _server_up():
        raise CommandExecutionError(f"cannot {action}: a MariaDB server answers on the local socket")


def _systemctl_or_raise(action: str, service: str, timeout: int) -> bool:
    """``systemctl <action> <service>``, raising with systemd's words when it fails."""
    result = _systemctl(action, service, timeout=timeout)
    if result["retcode"] != 0:
        raise CommandExecutionError(f"systemctl {action} {service} failed: {result['stderr'].strip()}")
    return True


def start(service: str = "mariadb", timeout: int = 900) -> bool:
    """Start MariaDB and wait until systemd reports it started (after any state transfer).

    CLI Example:

    .. code-block:: bash

        salt ctrl-2 galera_cluster.start
    """
    return _systemctl_or_raise("start", service, timeout)


def stop(service: str = "mariadb", timeout: int = 900) -> bool:
    """Stop MariaDB cleanly, so that Galera saves its position in grastate.dat.

    CLI Example:

    .. code-block:: bash

        salt ctrl-2 galera_cluster.stop
    """
    return _systemctl_or_raise("stop", service, timeout)


# --------------------------------------------------------------------------- reading


def status() -> dict[str, str]:
    """Every ``wsrep_%`` global status variable of the local server.

    CLI Example:

    .. code-block:: bash

        salt '*' galera_cluster.status
    """
    return prereqos_galera.parse_status(_sql("SHOW GLOBAL STATUS LIKE 'wsrep_%'"))


def _read_text(path: str) -> str | None:
    """Text of a small file, None when it does not exist."""
    try:
        with open(path, "rb") as handle:
            data = handle.read(GRASTATE_MAX_BYTES + 1)
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise CommandExecutionError(f"cannot read {path}: {exc.strerror}") from exc
    if len(data) > GRASTATE_MAX_BYTES:
        raise CommandExecutionError(f"{path} is corrupt: larger than {GRASTATE_MAX_BYTES} bytes")
    try:
        return data.decode("ascii")
    except UnicodeDecodeError as exc:
        raise CommandExecutionError(f"{path} is corrupt: not a text file") from exc


def grastate(datadir: str = DATADIR) -> dict[str, Any] | None:
    """The Galera state saved in ``datadir``, or None when there is none (never a member).

    CLI Example:

    .. code-block:: bash

        salt '*' galera_cluster.grastate
        salt '*' galera_cluster.grastate datadir=/srv/mysql
    """
    path = prereqos_galera.grastate_path(datadir)
    text = _read_text(path)
    return None if text is None else prereqos_galera.parse_grastate(text, path)


def recover_position(service: str = "mariadb", timeout: int = 900) -> dict[str, Any]:
    """Recover the last committed position from InnoDB of a stopped node, as Debian's galera_recovery does.

    Runs ``mariadbd --user=mysql --wsrep-recover --disable-log-error`` (the server log
    then goes to stderr), only when the service is stopped. InnoDB crash recovery
    runs first, so this can take a while on a large datadir.

    CLI Example:

    .. code-block:: bash

        salt ctrl-1 galera_cluster.recover_position
    """
    _ensure_stopped(service, "recover the Galera position")
    result = _run([SERVER, "--user=mysql", "--wsrep-recover", "--disable-log-error"], timeout=timeout)
    log = "\n".join((result["stderr"], result["stdout"]))
    if result["retcode"] != 0:
        detail = prereqos_galera.server_errors(log) or log.strip()[-300:]
        raise CommandExecutionError(f"mariadbd --wsrep-recover failed (exit {result['retcode']}): {detail}")
    return prereqos_galera.parse_recovered(log)


def _read_server(databases: bool) -> tuple[bool, bool, dict[str, str], list[str]]:
    """(running, wsrep_on, wsrep status, user databases) of the local server."""
    try:
        wsrep_on = prereqos_galera.parse_flag(_sql("SELECT @@GLOBAL.wsrep_on"), "@@GLOBAL.wsrep_on")
        wsrep_status = status()
        names = prereqos_galera.parse_databases(_sql("SHOW DATABASES")) if databases else []
    except ServerDown:
        return False, False, {}, []
    return True, wsrep_on, wsrep_status, names


def node_state(datadir: str = DATADIR) -> dict[str, Any]:
    """What this node is, for the cluster's decisions (published to the mine before each one).

    ``running`` means a server answers on the local socket; ``fresh`` means this node
    was never part of a Galera cluster (Debian's package starts a standalone server
    without wsrep, so a fresh node may well be running and hold databases);
    ``collected_at`` tells the peers how old the facts are.

    CLI Example:

    .. code-block:: bash

        salt '*' galera_cluster.node_state
    """
    saved = grastate(datadir)
    running, wsrep_on, wsrep_status, databases = _read_server(databases=True)
    state = prereqos_galera.summarize(running, wsrep_on, wsrep_status, saved, databases)
    state["collected_at"] = time.time()
    return state


def recovery_facts(service: str = "mariadb", datadir: str = DATADIR) -> dict[str, Any]:
    """node_state plus ``recovered``: the InnoDB position of a stopped node that holds Galera data.

    Published to the mine by the recovery orchestration. A failed recovery is reported
    in ``recover_error`` (the recovery then refuses), never raised: the other facts
    still count.

    CLI Example:

    .. code-block:: bash

        salt '*' galera_cluster.recovery_facts
    """
    facts = node_state(datadir)
    facts["recovered"] = None
    facts["recover_error"] = None
    if not facts["running"] and not facts["fresh"]:
        try:
            facts["recovered"] = recover_position(service)
        except CommandExecutionError as exc:
            facts["recover_error"] = str(exc)
    return facts


def health(expected_size: int | None = None) -> dict[str, Any]:
    """Whether this node is a Synced member of a Primary component (of ``expected_size`` nodes or more).

    Only the live server is read (not grastate.dat). Never raises: a stopped
    server, or any error reading it, is reported in ``problems``.

    CLI Example:

    .. code-block:: bash

        salt '*' galera_cluster.health expected_size=3
    """
    report: dict[str, Any] = {
        "ok": False,
        "running": False,
        "cluster_size": 0,
        "cluster_status": None,
        "local_state": None,
        "ready": False,
        "problems": [],
    }
    try:
        running, wsrep_on, wsrep_status, _ = _read_server(databases=False)
        state = prereqos_galera.summarize(running, wsrep_on, wsrep_status, None, [])
    except CommandExecutionError as exc:
        report["problems"].append(str(exc))
        return report
    report.update({key: state[key] for key in ("running", "cluster_size", "cluster_status", "local_state", "ready")})
    report["problems"] = prereqos_galera.health_problems(state, expected_size)
    report["ok"] = not report["problems"]
    return report


def sessions_from(address: str, hostname: str, idle: bool = False, between_transactions: bool = False) -> list[int]:
    """Ids of this server's client sessions opened from the node at ``address`` called
    ``hostname`` (e.g. through its haproxy, which connects from its own address); with
    ``idle``, only those running no statement; with ``between_transactions``, only idle
    ones with no transaction open.

    CLI Example:

    .. code-block:: bash

        salt ctrl-1 galera_cluster.sessions_from 192.0.2.12 ctrl-2
        salt ctrl-1 galera_cluster.sessions_from 192.0.2.12 ctrl-2 idle=True
    """
    statement = prereqos_galera.sessions_from_statement(address, hostname, idle, between_transactions)
    return prereqos_galera.parse_session_ids(_sql(statement))


def end_sessions_from(address: str, hostname: str, idle: bool = False, between_transactions: bool = False) -> list[int]:
    """End this server's client sessions opened from the node at ``address`` called
    ``hostname`` (with ``idle``, only those running no statement; with
    ``between_transactions``, only idle ones with no transaction open); their open
    transactions roll back and release their locks. Returns the ids ended (a session that
    ended on its own meanwhile is left out).

    CLI Example:

    .. code-block:: bash

        salt ctrl-1 galera_cluster.end_sessions_from 192.0.2.12 ctrl-2
        salt ctrl-1 galera_cluster.end_sessions_from 192.0.2.12 ctrl-2 between_transactions=True
    """
    ended = []
    for session in sessions_from(address, hostname, idle, between_transactions):
        try:
            _sql(f"KILL CONNECTION {session}")
        except CommandExecutionError as exc:
            if not prereqos_galera.UNKNOWN_SESSION_RE.search(str(exc)):
                raise
            continue
        ended.append(session)
    return ended


# --------------------------------------------------------------------------- bootstrapping


def mark_safe_to_bootstrap(datadir: str = DATADIR, service: str = "mariadb") -> dict[str, Any]:
    """Set ``safe_to_bootstrap: 1`` in grastate.dat of a stopped node, the one the recovery chose.

    Galera refuses to bootstrap a node that was not the last to leave unless this is
    set. The rest of the file is kept; the new file replaces the old atomically with
    the same owner and mode.

    CLI Example:

    .. code-block:: bash

        salt ctrl-1 galera_cluster.mark_safe_to_bootstrap
    """
    _ensure_stopped(service, "mark this node safe to bootstrap")
    path = prereqos_galera.grastate_path(datadir)
    text = _read_text(path)
    if text is None:
        raise CommandExecutionError(f"{path} does not exist: this node holds no Galera state to bootstrap from")
    if prereqos_galera.parse_grastate(text, path)["safe_to_bootstrap"]:
        return {"path": path, "changed": False, "safe_to_bootstrap": True}
    try:
        info = os.stat(path)
        prereqos_common.atomic_write(
            path,
            prereqos_galera.with_safe_to_bootstrap(text).encode("ascii"),
            info.st_mode & 0o7777,
            info.st_uid,
            info.st_gid,
        )
    except OSError as exc:
        raise CommandExecutionError(f"cannot write {path}: {exc.strerror}") from exc
    return {"path": path, "changed": True, "safe_to_bootstrap": True}


def bootstrap(service: str = "mariadb", datadir: str = DATADIR, timeout: int = 900) -> bool:
    """Start a new Primary component from this stopped node with Debian's ``galera_new_cluster``.

    galera_new_cluster *restarts* the service with ``--wsrep-new-cluster``, so this
    refuses unless the service is stopped; and it refuses when grastate.dat says
    ``safe_to_bootstrap: 0`` (mariadbd would refuse too, less clearly). Run it only on
    the node the cluster states (or the recovery) chose.

    CLI Example:

    .. code-block:: bash

        salt ctrl-1 galera_cluster.bootstrap
    """
    _ensure_stopped(service, "bootstrap a new cluster")
    saved = grastate(datadir)
    if saved is not None and not saved["safe_to_bootstrap"]:
        raise CommandExecutionError(
            f"{prereqos_galera.grastate_path(datadir)} says safe_to_bootstrap: 0 (this node was not the last to "
            f"leave the cluster); bootstrap it only if the recovery chose it (`{prereqos_galera.RECOVER_COMMAND}`)"
        )
    result = _run([NEW_CLUSTER, service], timeout=timeout)
    if result["retcode"] != 0:
        raise CommandExecutionError(f"galera_new_cluster failed: {result['stderr'].strip() or result['stdout']}")
    return True


# --------------------------------------------------------------------------- users


def user_check(
    name: str, host: str, password: str, grants: list[str] | None = None, unix_socket: bool = False
) -> dict[str, Any]:
    """Compare a MariaDB user with what it should be, changing nothing.

    The password is compared inside the server (the stored hash against
    ``PASSWORD(...)``, statement on stdin): it never appears on a command line,
    and neither the hash nor the password comes back.
    Returns ``{"exists", "password_ok", "unix_socket_ok", "missing_grants"}``.

    The ``galera_cluster.user_present`` state calls it with the password from pillar;
    never type a password on a command line (the job cache keeps the arguments).

    CLI Example:

    .. code-block:: bash

        salt ctrl-1 state.sls_id prereqos-galera-sst-user prereqos.galera.setup test=True
    """
    wanted = [(grant, prereqos_galera.parse_wanted_grant(grant)) for grant in grants or []]
    answer = _sql(prereqos_galera.user_check_statement(name, host, password), secrets=(password,))
    found = prereqos_galera.parse_user_check(answer, name, host)
    if found is None:
        return {"exists": False, "password_ok": False, "unix_socket_ok": False, "missing_grants": list(grants or [])}
    password_ok, socket_login = found
    account = prereqos_galera.account(name, host)
    held = prereqos_galera.parse_grants(_sql(f"SHOW GRANTS FOR {account}", quiet=True)) if wanted else {}
    return {
        "exists": True,
        "password_ok": password_ok,
        "unix_socket_ok": socket_login == unix_socket,
        "missing_grants": [grant for grant, parsed in wanted if prereqos_galera.grant_missing(parsed, held)],
    }


def user_present(
    name: str, host: str, password: str, grants: list[str] | None = None, unix_socket: bool = False
) -> dict[str, Any]:
    """Make ``'name'@'host'`` exist with this password, socket login and grants.

    Only what differs is changed: CREATE USER or ALTER USER (on stdin, never
    logged) and the missing GRANTs. Extra grants are left alone. ``unix_socket``
    keeps socket login (``IDENTIFIED VIA unix_socket OR mysql_native_password``),
    as root needs. Returns ``{"changes": {...}}`` without any secret.

    The ``galera_cluster.user_present`` state calls it with the password from pillar;
    never type a password on a command line (the job cache keeps the arguments).

    CLI Example:

    .. code-block:: bash

        salt ctrl-1 state.sls_id prereqos-galera-sst-user prereqos.galera.setup
    """
    check = user_check(name, host, password, grants, unix_socket)
    changes = prereqos_galera.user_changes(check, unix_socket)
    account = prereqos_galera.account(name, host)
    identified = prereqos_galera.identified(password, unix_socket)
    if "user" in changes:
        _sql(f"CREATE USER {account} {identified}", secrets=(password,))
    elif "password" in changes or "unix_socket" in changes:
        _sql(f"ALTER USER {account} {identified}", secrets=(password,))
    for grant in check["missing_grants"]:
        _sql(prereqos_galera.grant_statement(grant, account))
    if check["missing_grants"]:
        still = user_check(name, host, password, grants, unix_socket)["missing_grants"]
        if still:
            raise CommandExecutionError(
                f"granted {still} to {name}@{host} but SHOW GRANTS does not list it: "
                "write privileges as SHOW GRANTS prints them"
            )
    return {"changes": changes}
