"""Galera cluster: read, decide and act on a MariaDB 10.11 + galera-4 node (Debian 12).

Reading
    :func:`status` (``wsrep_%`` status), :func:`grastate` (``grastate.dat``),
    :func:`recover_position` (``mariadbd --wsrep-recover``), :func:`node_state`
    (the facts published to the Salt mine as ``prereqos_galera_state``),
    :func:`recovery_facts` (node_state + recovered position, published as
    ``prereqos_galera_recovery`` by the recovery orchestration), :func:`health`.

Deciding (pure functions, same answer on every node for the same facts)
    :func:`plan` decides bootstrap / join / wait / refuse for the ordinary run;
    :func:`recovery_plan` picks the node to bootstrap after a full outage.

Acting
    :func:`start`, :func:`stop`, :func:`bootstrap`, :func:`mark_safe_to_bootstrap`,
    :func:`user_present`.

SQL goes to the ``mariadb`` client over the local unix socket as root (Debian's
``root@localhost`` logs in by ``unix_socket``). A statement that carries a secret
is sent on stdin, its output is never logged, and the client's error text is
redacted (the client would otherwise echo the statement, and MariaDB's syntax
errors quote the statement ``near '...'``).
"""

from __future__ import annotations

import os
import re
import tempfile
import time
from typing import Any

import salt.utils.path
from salt.exceptions import CommandExecutionError

__virtualname__ = "galera_cluster"

CLIENT = "mariadb"
SERVER = "/usr/sbin/mariadbd"
NEW_CLUSTER = "galera_new_cluster"
GRASTATE = "/var/lib/mysql/grastate.dat"
ZERO_UUID = "00000000-0000-0000-0000-000000000000"
SYSTEM_DATABASES = frozenset({"mysql", "information_schema", "performance_schema", "sys"})
CLUSTER_STATUSES = frozenset({"Primary", "non-Primary", "Disconnected"})
# Status rows that both a Galera member and a server without wsrep report: without
# them the output is truncated.
REQUIRED_STATUS = ("wsrep_cluster_size", "wsrep_cluster_state_uuid", "wsrep_cluster_status", "wsrep_ready")
# `systemctl is-active` answers for which mariadbd is certainly not running under systemd.
UNIT_STOPPED = frozenset({"inactive", "failed"})
RECOVER_COMMAND = "salt-run state.orchestrate orch.prereqos_recover"
REDACTED = "******"
GRASTATE_MAX_BYTES = 65536

UUID_RE = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
STATUS_NAME_RE = re.compile(r"wsrep_[a-z0-9_]+")
GRASTATE_LINE_RE = re.compile(r"([a-z_]+):\s*(.*?)\s*")
RECOVERED_RE = re.compile(r"WSREP: Recovered position:\s+(\S+?):(-?\d+)(?:,\S*)?\s*$", re.MULTILINE)
RECOVERY_SKIPPED = "skipping position recovery"
SERVER_DOWN_RE = re.compile(r"^ERROR 2002 \(HY000\)", re.MULTILINE)
GRANT_WANTED_RE = re.compile(
    r"\s*(?P<privileges>[A-Za-z][A-Za-z ,]*?)\s+ON\s+(?P<target>[`\w$*-]+(?:\.[`\w$*-]+)?)"
    r"(?P<option>\s+WITH\s+GRANT\s+OPTION)?\s*",
    re.IGNORECASE,
)
ACCOUNT_SHOWN = r"`(?:[^`]|``)*`@`(?:[^`]|``)*`"
GRANT_SHOWN_RE = re.compile(rf"GRANT (?P<privileges>.+?) ON (?P<target>\S+) TO {ACCOUNT_SHOWN}(?P<rest>.*)")
ROLE_GRANT_RE = re.compile(rf"GRANT `(?:[^`]|``)*` TO {ACCOUNT_SHOWN}.*")
PRIVILEGE_ALIASES = {
    "ALL": "ALL PRIVILEGES",
    "REPLICATION CLIENT": "BINLOG MONITOR",
    "REPLICATION REPLICA": "REPLICATION SLAVE",
    "REPLICA MONITOR": "SLAVE MONITOR",
}
SQL_ESCAPES = {"\\": "\\\\", "'": "\\'", "\0": "\\0", "\n": "\\n", "\r": "\\r", "\x1a": "\\Z"}
NODE_STATE_TYPES = {
    "running": bool,
    "wsrep_on": bool,
    "cluster_size": int,
    "fresh": bool,
    "user_databases": list,
}


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


def sql_quote(value: str) -> str:
    """Quote ``value`` as a MariaDB string literal."""
    return "'" + "".join(SQL_ESCAPES.get(char, char) for char in value) + "'"


def redact(text: str, secrets: tuple[str, ...]) -> str:
    """Remove every secret (raw and SQL-escaped) and any quoted statement part from ``text``."""
    for secret in secrets:
        if secret:
            text = text.replace(sql_quote(secret)[1:-1], REDACTED).replace(secret, REDACTED)
    if secrets:
        text = re.sub(r"near .*", "near <statement not shown>", text)
    return text


def client_error(stderr: str) -> str:
    """The first ``ERROR`` line of the client's stderr (or all of it)."""
    for line in stderr.splitlines():
        if line.startswith("ERROR"):
            return line.strip()
    return stderr.strip() or "no error message"


def _sql(statement: str, *, secrets: tuple[str, ...] = (), quiet: bool = False) -> str:
    """Run SQL as root over the local socket and return its batch output.

    With ``secrets`` the statement goes on stdin and nothing is logged. Raises
    :class:`ServerDown` when the server is not running, CommandExecutionError otherwise.
    """
    argv = [
        CLIENT,
        "--user=root",
        "--protocol=socket",
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
        message = redact(client_error(result["stderr"]), secrets)
        if SERVER_DOWN_RE.search(result["stderr"]):
            raise ServerDown(f"MariaDB is not running: {message}")
        raise CommandExecutionError(f"mariadb client failed: {message}")
    return result["stdout"]


def _systemctl(*args: str, timeout: int | None = None) -> dict[str, Any]:
    return _run(["systemctl", *args], timeout=timeout)


def unit_state(service: str = "mariadb") -> str:
    """``systemctl is-active`` of the service: active, inactive, failed, activating..."""
    result = _systemctl("is-active", service)
    state = result["stdout"].strip()
    if not state:
        raise CommandExecutionError(f"systemctl is-active {service} gave no answer: {result['stderr'].strip()}")
    return state


def start(service: str = "mariadb", timeout: int = 900) -> bool:
    """Start the service and wait until systemd reports it started (after any state transfer)."""
    result = _systemctl("start", service, timeout=timeout)
    if result["retcode"] != 0:
        raise CommandExecutionError(f"systemctl start {service} failed: {result['stderr'].strip()}")
    return True


def stop(service: str = "mariadb", timeout: int = 900) -> bool:
    """Stop the service (a clean shutdown: Galera saves its position in grastate.dat)."""
    result = _systemctl("stop", service, timeout=timeout)
    if result["retcode"] != 0:
        raise CommandExecutionError(f"systemctl stop {service} failed: {result['stderr'].strip()}")
    return True


def _server_up() -> bool:
    """True when the server answers on its socket."""
    try:
        _sql("SELECT 1")
    except ServerDown:
        return False
    return True


def _ensure_stopped(service: str, action: str) -> None:
    """Raise unless the service is stopped and no server answers on the socket."""
    state = unit_state(service)
    if state not in UNIT_STOPPED:
        raise CommandExecutionError(f"cannot {action}: {service} is {state}; it must be stopped")
    if _server_up():
        raise CommandExecutionError(f"cannot {action}: a MariaDB server answers on the local socket")


# --------------------------------------------------------------------------- status


def parse_status(text: str) -> dict[str, str]:
    """Parse ``SHOW GLOBAL STATUS LIKE 'wsrep_%'`` batch output (name TAB value per line).

    The client ends every row with a newline (read without rstrip): output that does
    not is cut short.
    """
    if not text.endswith("\n"):
        raise CommandExecutionError("wsrep status output is truncated: it does not end with a newline")
    result: dict[str, str] = {}
    for number, line in enumerate(text.splitlines(), 1):
        name, tab, value = line.partition("\t")
        if not tab or not STATUS_NAME_RE.fullmatch(name) or "\t" in value:
            raise CommandExecutionError(f"unexpected line {number} in the wsrep status output: {line[:80]!r}")
        if name in result:
            raise CommandExecutionError(f"wsrep status output repeats {name}")
        result[name] = value
    missing = [name for name in REQUIRED_STATUS if name not in result]
    if missing:
        raise CommandExecutionError(f"wsrep status output is truncated: no {', '.join(missing)}")
    return result


def status() -> dict[str, str]:
    """Every ``wsrep_%`` global status variable of the local server."""
    return parse_status(_sql("SHOW GLOBAL STATUS LIKE 'wsrep_%'"))


def parse_flag(text: str, what: str) -> bool:
    """Parse a ``0``/``1`` answer (``SELECT @@wsrep_on``)."""
    value = text.strip()
    if value not in ("0", "1"):
        raise CommandExecutionError(f"unexpected answer for {what}: {value[:40]!r}")
    return value == "1"


def parse_databases(text: str) -> list[str]:
    """User databases from ``SHOW DATABASES`` output (system schemas left out)."""
    return sorted(name for name in text.splitlines() if name and name not in SYSTEM_DATABASES)


# --------------------------------------------------------------------------- grastate.dat


def parse_grastate(text: str, path: str = GRASTATE) -> dict[str, Any]:
    """Parse grastate.dat: ``{"uuid", "seqno", "safe_to_bootstrap", "version"}``.

    An empty file is what Galera leaves when it never reached a cluster (recorded:
    a fresh node started with wsrep while no cluster ran): no saved state, like a
    missing file. Anything else unexpected raises CommandExecutionError naming the
    file: a misread position could choose the wrong node to bootstrap.
    """
    if not text.strip():
        return {"uuid": ZERO_UUID, "seqno": -1, "safe_to_bootstrap": False, "version": None}
    fields: dict[str, str] = {}
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip() or line.startswith("#"):
            continue
        match = GRASTATE_LINE_RE.fullmatch(line)
        if not match or match.group(1) in fields:
            raise CommandExecutionError(f"{path} is corrupt: unexpected line {number}: {line[:80]!r}")
        fields[match.group(1)] = match.group(2)
    uuid = fields.get("uuid", "")
    if not UUID_RE.fullmatch(uuid):
        raise CommandExecutionError(f"{path} is corrupt: no valid uuid (found {uuid[:40]!r})")
    seqno = fields.get("seqno", "")
    if not re.fullmatch(r"-1|\d{1,19}", seqno):
        raise CommandExecutionError(f"{path} is corrupt: no valid seqno (found {seqno[:40]!r})")
    # Files older than grastate version 2.1 have no safe_to_bootstrap: not safe.
    safe = fields.get("safe_to_bootstrap", "0")
    if safe not in ("0", "1"):
        raise CommandExecutionError(f"{path} is corrupt: safe_to_bootstrap is {safe[:40]!r}, not 0 or 1")
    return {"uuid": uuid, "seqno": int(seqno), "safe_to_bootstrap": safe == "1", "version": fields.get("version")}


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


def grastate(path: str = GRASTATE) -> dict[str, Any] | None:
    """The saved Galera state, or None when the file does not exist (never a member)."""
    text = _read_text(path)
    return None if text is None else parse_grastate(text, path)


def is_fresh(saved: dict[str, Any] | None) -> bool:
    """True when a node was never part of a Galera cluster (no or an empty saved state)."""
    return saved is None or (saved["uuid"] == ZERO_UUID and saved["seqno"] == -1)


def mark_safe_to_bootstrap(path: str = GRASTATE, service: str = "mariadb") -> dict[str, Any]:
    """Set ``safe_to_bootstrap: 1`` in grastate.dat of a stopped node.

    Only for the node :func:`recovery_plan` chose (Galera refuses to bootstrap a node
    that was not the last to leave unless this is set). The rest of the file is kept;
    the new file replaces the old atomically with the same owner and mode.
    """
    _ensure_stopped(service, "mark this node safe to bootstrap")
    text = _read_text(path)
    if text is None:
        raise CommandExecutionError(f"{path} does not exist: this node holds no Galera state to bootstrap from")
    saved = parse_grastate(text, path)
    if saved["safe_to_bootstrap"]:
        return {"path": path, "changed": False, "safe_to_bootstrap": True}
    if re.search(r"^safe_to_bootstrap:", text, re.MULTILINE):
        new_text = re.sub(r"^safe_to_bootstrap:.*$", "safe_to_bootstrap: 1", text, flags=re.MULTILINE)
    else:
        new_text = text.rstrip("\n") + "\nsafe_to_bootstrap: 1\n"
    _replace_file(path, new_text)
    return {"path": path, "changed": True, "safe_to_bootstrap": True}


def _replace_file(path: str, text: str) -> None:
    """Write ``text`` to ``path`` atomically, keeping the owner and mode."""
    info = os.stat(path)
    handle, temporary = tempfile.mkstemp(dir=os.path.dirname(path) or ".", prefix=".grastate.")
    try:
        with os.fdopen(handle, "w") as out:
            out.write(text)
            out.flush()
            os.fsync(out.fileno())
        os.chmod(temporary, info.st_mode & 0o7777)
        os.chown(temporary, info.st_uid, info.st_gid)
        os.replace(temporary, path)
    except OSError as exc:
        if os.path.exists(temporary):
            os.unlink(temporary)
        raise CommandExecutionError(f"cannot write {path}: {exc.strerror}") from exc


# --------------------------------------------------------------------------- position recovery


def parse_recovered(text: str) -> dict[str, Any]:
    """Parse ``WSREP: Recovered position: <uuid>:<seqno>`` from the --wsrep-recover log."""
    found = {(uuid, int(seqno)) for uuid, seqno in RECOVERED_RE.findall(text)}
    if not found:
        if RECOVERY_SKIPPED in text:
            raise CommandExecutionError("mariadbd skipped position recovery: wsrep is off in the server configuration")
        errors = [line.strip() for line in text.splitlines() if "[ERROR]" in line]
        detail = "; ".join(errors[-3:]) if errors else "no 'WSREP: Recovered position' line in its log"
        raise CommandExecutionError(f"mariadbd --wsrep-recover found no position: {detail}")
    if len(found) > 1:
        raise CommandExecutionError(f"mariadbd --wsrep-recover reported several positions: {sorted(found)}")
    uuid, seqno = found.pop()
    if not UUID_RE.fullmatch(uuid):
        raise CommandExecutionError(f"mariadbd --wsrep-recover reported an invalid cluster uuid {uuid[:40]!r}")
    return {"uuid": uuid, "seqno": seqno}


def recover_position(service: str = "mariadb", timeout: int = 900) -> dict[str, Any]:
    """Recover the last committed position from InnoDB, as Debian's galera_recovery does.

    Runs ``mariadbd --user=mysql --wsrep-recover --disable-log-error`` (the server log
    then goes to stderr) and only when the service is stopped. InnoDB crash recovery
    runs first, so this can take a while on a large datadir.
    """
    _ensure_stopped(service, "recover the Galera position")
    result = _run([SERVER, "--user=mysql", "--wsrep-recover", "--disable-log-error"], timeout=timeout)
    text = "\n".join((result["stderr"], result["stdout"]))
    if result["retcode"] != 0:
        errors = [line.strip() for line in text.splitlines() if "[ERROR]" in line]
        detail = "; ".join(errors[-3:]) or text.strip()[-300:]
        raise CommandExecutionError(f"mariadbd --wsrep-recover failed (exit {result['retcode']}): {detail}")
    return parse_recovered(text)


# --------------------------------------------------------------------------- node state


def summarize(
    running: bool,
    wsrep_on: bool,
    wsrep_status: dict[str, str],
    saved: dict[str, Any] | None,
    databases: list[str],
) -> dict[str, Any]:
    """Build the node_state dict from what was read (pure)."""
    cluster_status = wsrep_status.get("wsrep_cluster_status") if running else None
    if cluster_status is not None and cluster_status not in CLUSTER_STATUSES:
        raise CommandExecutionError(f"unknown wsrep_cluster_status {cluster_status[:40]!r}")
    size = wsrep_status.get("wsrep_cluster_size", "0") if running else "0"
    if not size.isdigit():
        raise CommandExecutionError(f"wsrep_cluster_size is not a number: {size[:40]!r}")
    local_state = wsrep_status.get("wsrep_local_state_comment") if running and wsrep_on else None
    if running and wsrep_on and not local_state:
        raise CommandExecutionError("wsrep status output has no wsrep_local_state_comment although wsrep is on")
    return {
        "running": running,
        "wsrep_on": wsrep_on,
        "cluster_status": cluster_status,
        "local_state": local_state,
        "cluster_size": int(size),
        "cluster_state_uuid": wsrep_status.get("wsrep_cluster_state_uuid") or None,
        "ready": wsrep_status.get("wsrep_ready") == "ON",
        "grastate": saved,
        "fresh": is_fresh(saved),
        "user_databases": databases if running else [],
        "collected_at": time.time(),
    }


def node_state(path: str = GRASTATE) -> dict[str, Any]:
    """What this node is, for :func:`plan` (published to the mine as ``prereqos_galera_state``).

    ``running`` means a server answers on the local socket; ``fresh`` means this node
    was never part of a Galera cluster (Debian's package starts a standalone server
    without wsrep, so a fresh node may well be running and hold databases).
    """
    saved = grastate(path)
    running, wsrep_on, wsrep_status, databases = _read_server(databases=True)
    return summarize(running, wsrep_on, wsrep_status, saved, databases)


def _read_server(databases: bool) -> tuple[bool, bool, dict[str, str], list[str]]:
    """(running, wsrep_on, wsrep status, user databases) of the local server."""
    try:
        wsrep_on = parse_flag(_sql("SELECT @@GLOBAL.wsrep_on"), "@@GLOBAL.wsrep_on")
        wsrep_status = status()
        names = parse_databases(_sql("SHOW DATABASES")) if databases else []
    except ServerDown:
        return False, False, {}, []
    return True, wsrep_on, wsrep_status, names


def recovery_facts(service: str = "mariadb", path: str = GRASTATE) -> dict[str, Any]:
    """node_state plus ``recovered`` (the InnoDB position when stopped and not fresh).

    Published to the mine as ``prereqos_galera_recovery`` by the recovery
    orchestration. A failed recovery is reported in ``recover_error`` (then
    :func:`recovery_plan` refuses), never raised: the other facts still count.
    """
    facts = node_state(path)
    facts["recovered"] = None
    facts["recover_error"] = None
    if not facts["running"] and not facts["fresh"]:
        try:
            facts["recovered"] = recover_position(service)
        except CommandExecutionError as exc:
            facts["recover_error"] = str(exc)
    return facts


def health(expected_size: int | None = None) -> dict[str, Any]:
    """Is this node a Synced member of a Primary component (of ``expected_size`` nodes or more)?

    Only the live server is read (not grastate.dat). Never raises: a stopped
    server, or any error reading it, is reported in ``problems``.
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
        state = summarize(running, wsrep_on, wsrep_status, None, [])
    except CommandExecutionError as exc:
        report["problems"].append(str(exc))
        return report
    report.update({key: state[key] for key in ("running", "cluster_size", "cluster_status", "local_state", "ready")})
    report["problems"] = health_problems(state, expected_size)
    report["ok"] = not report["problems"]
    return report


def health_problems(state: dict[str, Any], expected_size: int | None = None) -> list[str]:
    """What keeps a node from being a Synced member of a big enough Primary component (pure)."""
    if not state["running"]:
        return ["MariaDB is not running"]
    if not state["wsrep_on"]:
        return ["MariaDB runs without wsrep (standalone)"]
    problems = []
    if state["cluster_status"] != "Primary":
        problems.append(f"cluster status is {state['cluster_status']}, not Primary")
    if state["local_state"] != "Synced":
        problems.append(f"local state is {state['local_state']}, not Synced")
    if not state["ready"]:
        problems.append("wsrep_ready is OFF")
    if expected_size is not None and state["cluster_size"] < expected_size:
        problems.append(f"cluster size is {state['cluster_size']}, expected at least {expected_size}")
    return problems


# --------------------------------------------------------------------------- decisions


def valid_node_state(state: Any) -> bool:
    """True when ``state`` has the shape node_state returns (mine data can be anything)."""
    if not isinstance(state, dict):
        return False
    if any(not isinstance(state.get(key), kind) for key, kind in NODE_STATE_TYPES.items()):
        return False
    if state.get("cluster_status") is not None and state["cluster_status"] not in CLUSTER_STATUSES:
        return False
    saved = state.get("grastate")
    if saved is not None and not (
        isinstance(saved, dict)
        and isinstance(saved.get("uuid"), str)
        and isinstance(saved.get("seqno"), int)
        and isinstance(saved.get("safe_to_bootstrap"), bool)
    ):
        return False
    return state["fresh"] == is_fresh(saved)


def _known(states: dict[str, Any]) -> dict[str, dict[str, Any] | None]:
    """States with every malformed entry turned into None (unknown)."""
    return {node: state if valid_node_state(state) else None for node, state in states.items()}


def in_primary(state: dict[str, Any] | None) -> bool:
    """True when the node runs as a member of a Primary component."""
    return bool(state and state["running"] and state["wsrep_on"] and state["cluster_status"] == "Primary")


def _decision(action: str, reason: str) -> dict[str, str]:
    return {"action": action, "reason": reason}


def _names(nodes: list[str]) -> str:
    return ", ".join(nodes)


def full_outage_reason(states: dict[str, dict[str, Any] | None]) -> str:
    """Explain why no node may bootstrap in an ordinary run: unknown nodes, or a full outage (pure)."""
    unknown = sorted(node for node, state in states.items() if state is None)
    holders = sorted(node for node, state in states.items() if state is not None and not state["fresh"])
    if not holders:
        return (
            f"No node is in a Primary component and the state of {_names(unknown)} is unknown (unreachable or "
            "no data): a new cluster is bootstrapped only when every node is known to be fresh. Nothing was "
            "changed; make every node answer (and refresh the mine), then run again."
        )
    facts = [f"{_names(holders)} hold(s) Galera cluster data"]
    if unknown:
        facts.append(f"the state of {_names(unknown)} is unknown (unreachable or no data)")
    return (
        f"No node is in a Primary component and {' and '.join(facts)}: this looks like a full outage, "
        "and bootstrapping the wrong node would lose the transactions of the others. Nothing was changed. "
        f"Recover with `{RECOVER_COMMAND}`: it bootstraps the node marked safe_to_bootstrap or with the "
        "highest recovered seqno, and refuses when that is ambiguous."
    )


def plan(me: str, bootstrap_node: str, states: dict[str, dict[str, Any] | None]) -> dict[str, str]:
    """Decide what node ``me`` must do, given every controller's node_state (None: unknown).

    Returns ``{"action": "none"|"wait"|"join"|"bootstrap"|"refuse", "reason": ...}``.
    A node that is or was a Galera member is never bootstrapped here: only when no
    Primary component exists and every node is known and fresh does the
    ``bootstrap_node`` start a new cluster. Pure.
    """
    states = _known(states)
    mine = states.get(me)
    if mine is None:
        return _decision("refuse", f"no valid state for this node ({me})")
    if in_primary(mine):
        if mine["local_state"] == "Synced":
            return _decision("none", f"already Synced in the Primary component (cluster size {mine['cluster_size']})")
        return _decision("wait", f"in the Primary component, local state {mine['local_state']}: waiting until Synced")
    primary = sorted(node for node, state in states.items() if node != me and in_primary(state))
    if primary:
        return _plan_join(me, mine, primary, states)
    if any(state is None or not state["fresh"] for state in states.values()):
        return _decision("refuse", full_outage_reason(states))
    if bootstrap_node not in states:
        return _decision(
            "refuse", f"the bootstrap node {bootstrap_node} is not among the nodes {_names(sorted(states))}"
        )
    if me != bootstrap_node:
        return _decision("refuse", f"new cluster: the bootstrap node {bootstrap_node} must be bootstrapped first")
    return _decision("bootstrap", "no Primary component and every node is fresh (never a Galera member): new cluster")


def _plan_join(me: str, mine: dict[str, Any], primary: list[str], states: dict[str, Any]) -> dict[str, str]:
    """Decision for a node that is not in the Primary component that ``primary`` runs."""
    where = f"the Primary component on {_names(primary)}"
    if mine["running"] and mine["wsrep_on"]:
        return _decision(
            "wait",
            f"runs as a {mine['cluster_status']} Galera node while {where} exists: waiting for it to rejoin by itself",
        )
    cluster_uuid = states[primary[0]]["cluster_state_uuid"]
    saved = mine["grastate"]
    if not mine["fresh"]:
        if saved["uuid"] != ZERO_UUID and cluster_uuid and saved["uuid"] != cluster_uuid:
            return _decision(
                "refuse",
                f"this node holds data of Galera cluster {saved['uuid']} but {where} is cluster {cluster_uuid}: "
                "joining would replace this node's data by a full state transfer; check which cluster is right",
            )
        return _decision("join", f"rejoins {where} (incremental or full state transfer)")
    if mine["user_databases"]:
        return _decision(
            "refuse",
            f"this standalone server holds the databases {_names(mine['user_databases'])}: joining {where} "
            "replaces its datadir by a state transfer (SST), which would delete them; back them up and drop "
            "them first (or import them into the cluster afterwards)",
        )
    return _decision("join", f"fresh node: joins {where} by a full state transfer (SST)")


def _position(state: dict[str, Any]) -> tuple[str | None, int | None]:
    """Cluster uuid and seqno of a stopped node: the recovered one, else the saved one."""
    recovered = state.get("recovered")
    if isinstance(recovered, dict) and isinstance(recovered.get("seqno"), int):
        uuid = recovered.get("uuid")
        return (uuid if uuid != ZERO_UUID else None), recovered["seqno"]
    return None, None


def recovery_row(state: dict[str, Any] | None) -> dict[str, Any]:
    """One node's facts for the recovery report (pure)."""
    if state is None:
        return {"state": "unknown (unreachable or no valid facts)"}
    saved = state["grastate"] or {}
    if state["running"]:
        condition = f"running, {state['cluster_status']}" if state["wsrep_on"] else "running standalone (no wsrep)"
    else:
        condition = "stopped, never a Galera member" if state["fresh"] else "stopped"
    uuid, seqno = _position(state)
    return {
        "state": condition,
        "uuid": uuid or saved.get("uuid"),
        "seqno": seqno,
        "saved_seqno": saved.get("seqno"),
        "safe_to_bootstrap": saved.get("safe_to_bootstrap", False),
        "error": state.get("recover_error"),
    }


def _refused(reason: str, table: dict[str, Any], needed: bool = True) -> dict[str, Any]:
    return {"node": None, "refused": reason, "needed": needed, "table": table}


def recovery_plan(
    states: dict[str, dict[str, Any] | None], forced_node: str | None = None, preferred: str | None = None
) -> dict[str, Any]:
    """Pick the node to bootstrap after a full outage (every node stopped). Pure.

    ``states`` are recovery_facts per node (None: unreachable). The node marked
    ``safe_to_bootstrap`` wins, else the highest recovered seqno. Refused when no
    recovery is needed (a Primary component runs, or no node holds data), when a node
    still runs, and when the choice is ambiguous: an unknown node, a failed position
    recovery, different cluster uuids, several safe nodes. Nodes tied on the highest
    seqno of one cluster hold the same transactions: ``preferred`` (the bootstrap node)
    wins among them, else the first by name. ``forced_node`` (the operator's explicit
    choice) overrides the ambiguity, never a running Primary component, a running node
    or a node without Galera data.

    Returns ``{"node", "reason", "needed": True, "forced", "table"}`` or
    ``{"node": None, "refused", "needed", "table"}``.
    """
    states = _known(states)
    table = {node: recovery_row(state) for node, state in sorted(states.items())}
    primary = sorted(node for node, state in states.items() if in_primary(state))
    if primary:
        return _refused(
            f"{_names(primary)} run(s) in a Primary component: no recovery needed, the other nodes join it "
            "(run the ordinary orchestration)",
            table,
            needed=False,
        )
    running = sorted(node for node, state in states.items() if state is not None and state["running"])
    if running:
        return _refused(
            f"{_names(running)} still run(s) outside a Primary component: stop mariadb there "
            "(systemctl stop mariadb) so the position can be recovered, then run the recovery again",
            table,
        )
    holders = sorted(node for node, state in states.items() if state is not None and not state["fresh"])
    if not holders and None not in states.values():
        return _refused("no node holds Galera data: this is a new cluster, not an outage", table, needed=False)
    choice, why = _automatic_choice(states, holders, preferred)
    if forced_node is None:
        if choice is None:
            return _refused(why, table)
        return {"node": choice, "reason": why, "needed": True, "forced": False, "table": table}
    forced = states.get(forced_node, None)
    if forced_node not in states or forced is None:
        return _refused(f"the forced node {forced_node} is not a known node: {_names(sorted(states))}", table)
    if forced["fresh"]:
        return _refused(
            f"the forced node {forced_node} never was a Galera member: bootstrapping it would replace "
            "the data of every other node by its empty datadir",
            table,
        )
    automatic = f"automatic choice: {choice} ({why})" if choice else f"automatic choice refused: {why}"
    return {
        "node": forced_node,
        "reason": f"{forced_node} forced by the operator; {automatic}",
        "needed": True,
        "forced": True,
        "table": table,
    }


def _automatic_choice(
    states: dict[str, dict[str, Any] | None], holders: list[str], preferred: str | None = None
) -> tuple[str | None, str]:
    """(node, why) by safe_to_bootstrap then the highest recovered seqno (``preferred``, else the
    first by name, among equals); (None, why) when ambiguous."""
    unknown = sorted(node for node, state in states.items() if state is None)
    if unknown:
        return None, (
            f"the state of {_names(unknown)} is unknown (unreachable or no fresh facts): it may hold newer "
            "transactions; bring it back, or name the node to bootstrap (forced node) if it is lost"
        )
    failed = [node for node in holders if _position(states[node])[1] is None]
    if failed:
        errors = "; ".join(f"{node}: {states[node].get('recover_error') or 'no recovered position'}" for node in failed)
        return None, f"the position of {_names(failed)} could not be recovered ({errors})"
    uuids = {states[node]["grastate"]["uuid"] for node in holders} | {_position(states[n])[0] for n in holders}
    uuids -= {None, ZERO_UUID}
    if len(uuids) > 1:
        return None, f"the nodes hold data of different clusters ({_names(sorted(uuids))}): which one is right?"
    seqnos = {node: _position(states[node])[1] for node in holders}
    best = max(seqnos.values())
    safe = [node for node in holders if states[node]["grastate"]["safe_to_bootstrap"]]
    if len(safe) > 1:
        return None, f"several nodes are marked safe_to_bootstrap ({_names(safe)})"
    if safe:
        node = safe[0]
        if seqnos[node] < best:
            return None, (
                f"{node} is marked safe_to_bootstrap but its recovered seqno {seqnos[node]} is below the highest "
                f"({best}): inconsistent"
            )
        return node, f"{node} left the cluster last and cleanly (safe_to_bootstrap: 1), recovered seqno {best}"
    top = sorted(node for node, seqno in seqnos.items() if seqno == best)
    if len(top) > 1:
        node = preferred if preferred in top else top[0]
        which = "the bootstrap node" if node == preferred else "the first by name"
        return node, (
            f"{_names(top)} have the same highest recovered seqno {best} of one cluster: each holds every "
            f"transaction; {node} is {which}"
        )
    others = ", ".join(f"{node} {seqno}" for node, seqno in sorted(seqnos.items()) if node != top[0])
    return top[0], f"{top[0]} has the highest recovered seqno {best} (others: {others or 'none'})"


def bootstrap(service: str = "mariadb", path: str = GRASTATE, timeout: int = 900) -> bool:
    """Start a new Primary component from this node with Debian's ``galera_new_cluster``.

    galera_new_cluster *restarts* the service with ``--wsrep-new-cluster``, so this
    refuses unless the service is stopped; and it refuses when grastate.dat says
    ``safe_to_bootstrap: 0`` (mariadbd would refuse too, less clearly). Call it only
    when :func:`plan` or :func:`recovery_plan` chose this node.
    """
    _ensure_stopped(service, "bootstrap a new cluster")
    saved = grastate(path)
    if saved is not None and not saved["safe_to_bootstrap"]:
        raise CommandExecutionError(
            f"{path} says safe_to_bootstrap: 0 (this node was not the last to leave the cluster); "
            f"bootstrap it only if the recovery chose it (`{RECOVER_COMMAND}`)"
        )
    result = _run([NEW_CLUSTER, service], timeout=timeout)
    if result["retcode"] != 0:
        raise CommandExecutionError(f"galera_new_cluster failed: {result['stderr'].strip() or result['stdout']}")
    return True


# --------------------------------------------------------------------------- users


def parse_wanted_grant(grant: str) -> dict[str, Any]:
    """Parse ``"PRIV[, PRIV...] ON db.table [WITH GRANT OPTION]"`` from the pillar."""
    match = GRANT_WANTED_RE.fullmatch(grant)
    if not match:
        raise CommandExecutionError(
            f"grant {grant!r} is not of the form 'PRIVILEGE[, PRIVILEGE] ON db.table [WITH GRANT OPTION]'"
        )
    return {
        "privileges": _privileges(match.group("privileges")),
        "target": match.group("target").replace("`", ""),
        "grant_option": bool(match.group("option")),
        "on": f"{' '.join(match.group('privileges').split())} ON {match.group('target')}",
    }


def grant_statement(grant: str, account: str) -> str:
    """``GRANT ... ON ... TO account [WITH GRANT OPTION]`` for a pillar grant (pure)."""
    wanted = parse_wanted_grant(grant)
    option = " WITH GRANT OPTION" if wanted["grant_option"] else ""
    return f"GRANT {wanted['on']} TO {account}{option}"


def _privileges(text: str) -> set[str]:
    names = {" ".join(part.split()).upper() for part in re.split(r",\s*(?![^()]*\))", text)}
    return {PRIVILEGE_ALIASES.get(name, name) for name in names if name}


def parse_grants(text: str) -> dict[str, dict[str, Any]]:
    """Privileges per target from ``SHOW GRANTS`` output (authentication parts dropped)."""
    held: dict[str, dict[str, Any]] = {}
    for line in text.splitlines():
        if not line or ROLE_GRANT_RE.fullmatch(line):
            continue
        match = GRANT_SHOWN_RE.fullmatch(line)
        if not match:
            raise CommandExecutionError(f"unexpected SHOW GRANTS line: {line.split(' IDENTIFIED')[0][:80]!r}")
        entry = held.setdefault(match.group("target").replace("`", ""), {"privileges": set(), "grant_option": False})
        entry["privileges"] |= _privileges(match.group("privileges"))
        entry["grant_option"] |= match.group("rest").endswith("WITH GRANT OPTION")
    return held


def grant_missing(wanted: dict[str, Any], held: dict[str, dict[str, Any]]) -> bool:
    """True when ``wanted`` is not covered by what the user holds (pure)."""
    have = held.get(wanted["target"], {"privileges": set(), "grant_option": False})
    if wanted["grant_option"] and not have["grant_option"]:
        return True
    return "ALL PRIVILEGES" not in have["privileges"] and not wanted["privileges"] <= have["privileges"]


def _account(name: str, host: str) -> str:
    return f"{sql_quote(name)}@{sql_quote(host)}"


def _identified(password: str, unix_socket: bool) -> str:
    if unix_socket:
        return f"IDENTIFIED VIA unix_socket OR mysql_native_password USING PASSWORD({sql_quote(password)})"
    return f"IDENTIFIED BY {sql_quote(password)}"


def user_check(
    name: str, host: str, password: str, grants: list[str] | None = None, unix_socket: bool = False
) -> dict[str, Any]:
    """Compare a user with what it should be, without changing anything.

    The password is compared inside the server (the stored hash against
    ``PASSWORD(...)``, statement on stdin): it never appears on a command line,
    and neither the hash nor the password comes back.
    Returns ``{"exists", "password_ok", "unix_socket_ok", "missing_grants"}``.
    """
    wanted = [(grant, parse_wanted_grant(grant)) for grant in grants or []]
    answer = _sql(
        f"SELECT JSON_SEARCH(Priv, 'one', PASSWORD({sql_quote(password)})) IS NOT NULL, "
        "JSON_SEARCH(Priv, 'one', 'unix_socket') IS NOT NULL "
        f"FROM mysql.global_priv WHERE User = {sql_quote(name)} AND Host = {sql_quote(host)}",
        secrets=(password,),
    )
    rows = [line.split("\t") for line in answer.splitlines()]
    if not rows:
        return {
            "exists": False,
            "password_ok": False,
            "unix_socket_ok": False,
            "missing_grants": [g for g, _ in wanted],
        }
    if len(rows) != 1 or rows[0] not in (["0", "0"], ["0", "1"], ["1", "0"], ["1", "1"]):
        raise CommandExecutionError(f"unexpected answer checking the user {name}@{host}")
    held = parse_grants(_sql(f"SHOW GRANTS FOR {_account(name, host)}", quiet=True)) if wanted else {}
    return {
        "exists": True,
        "password_ok": rows[0][0] == "1",
        "unix_socket_ok": (rows[0][1] == "1") == unix_socket,
        "missing_grants": [grant for grant, parsed in wanted if grant_missing(parsed, held)],
    }


def user_changes(check: dict[str, Any], unix_socket: bool) -> dict[str, dict[str, Any]]:
    """The changes (``{"old", "new"}``, no secret) that make a user match ``check``'s target (pure)."""
    changes: dict[str, dict[str, Any]] = {}
    if not check["exists"]:
        changes["user"] = {"old": "absent", "new": "present"}
    else:
        if not check["password_ok"]:
            changes["password"] = {"old": "different", "new": "set from pillar (not shown)"}
        if not check["unix_socket_ok"]:
            changes["unix_socket"] = {"old": not unix_socket, "new": unix_socket}
    if check["missing_grants"]:
        changes["grants"] = {"old": "missing", "new": list(check["missing_grants"])}
    return changes


def user_present(
    name: str, host: str, password: str, grants: list[str] | None = None, unix_socket: bool = False
) -> dict[str, Any]:
    """Make ``'name'@'host'`` exist with this password, socket login and grants.

    Only what differs is changed: CREATE USER or ALTER USER (on stdin, never
    logged) and the missing GRANTs. Extra grants are left alone. ``unix_socket``
    keeps socket login (``IDENTIFIED VIA unix_socket OR mysql_native_password``),
    as root needs. Returns ``{"changes": {...}}`` without any secret.
    """
    check = user_check(name, host, password, grants, unix_socket)
    changes = user_changes(check, unix_socket)
    account = _account(name, host)
    if "user" in changes:
        _sql(f"CREATE USER {account} {_identified(password, unix_socket)}", secrets=(password,))
    elif "password" in changes or "unix_socket" in changes:
        _sql(f"ALTER USER {account} {_identified(password, unix_socket)}", secrets=(password,))
    for grant in check["missing_grants"]:
        _sql(grant_statement(grant, account))
    if check["missing_grants"]:
        still = user_check(name, host, password, grants, unix_socket)["missing_grants"]
        if still:
            raise CommandExecutionError(
                f"granted {still} to {name}@{host} but SHOW GRANTS does not list it: "
                "write privileges as SHOW GRANTS prints them"
            )
    return {"changes": changes}
