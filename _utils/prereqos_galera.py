"""Galera (MariaDB 10.11 or 11.8 + galera-4) facts and decisions, as pure functions.

Parsing
    the ``wsrep_%`` status, ``grastate.dat``, the ``mariadbd --wsrep-recover`` log,
    ``SHOW GRANTS`` and the client's errors.
Deciding (the same answer on every node for the same facts)
    :func:`plan` (bootstrap / join / wait / refuse in an ordinary run) and
    :func:`recovery_plan` (the node to bootstrap after a full outage).
SQL text
    string literals (:func:`sql_quote`), accounts, ``IDENTIFIED`` clauses and GRANTs.
Reporting
    short texts of node states, health reports and the recovery table for state comments.

No I/O and no Salt dunders: ``_modules/galera_cluster.py`` reads and acts,
``_states/galera_cluster.py`` decides with these.
"""

from __future__ import annotations

import ipaddress
import os
import re
from typing import Any

import prereqos_common
from salt.exceptions import CommandExecutionError

GRASTATE_FILE = "grastate.dat"
ZERO_UUID = "00000000-0000-0000-0000-000000000000"
SYSTEM_DATABASES = frozenset({"mysql", "information_schema", "performance_schema", "sys"})
CLUSTER_STATUSES = frozenset({"Primary", "non-Primary", "Disconnected"})
# Status rows that both a Galera member and a server without wsrep report: without
# them the output is truncated.
REQUIRED_STATUS = ("wsrep_cluster_size", "wsrep_cluster_state_uuid", "wsrep_cluster_status", "wsrep_ready")
RECOVER_COMMAND = "salt-run state.orchestrate orch.prereqos_recover"

UUID_RE = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
STATUS_NAME_RE = re.compile(r"wsrep_[a-z0-9_]+")
GRASTATE_LINE_RE = re.compile(r"([a-z_]+):\s*(.*?)\s*")
SAFE_LINE_RE = re.compile(r"^safe_to_bootstrap:.*$", re.MULTILINE)
RECOVERED_RE = re.compile(r"WSREP: Recovered position:\s+(\S+?):(-?\d+)(?:,\S*)?\s*$", re.MULTILINE)
RECOVERY_SKIPPED = "skipping position recovery"
SERVER_DOWN_RE = re.compile(r"^ERROR 2002 \(HY000\)", re.MULTILINE)
# KILL of a session that ended meanwhile.
UNKNOWN_SESSION_RE = re.compile(r"ERROR 1094 \(HY000\)")
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
# What MariaDB's default sql_mode needs escaped inside '...': the quote, the escape
# character itself, and the bytes the client would otherwise cut a line or a string at.
SQL_ESCAPES = {"\\": "\\\\", "'": "\\'", "\0": "\\0", "\n": "\\n", "\r": "\\r", "\x1a": "\\Z"}
NODE_STATE_TYPES = {
    "running": bool,
    "wsrep_on": bool,
    "cluster_size": int,
    "fresh": bool,
    "user_databases": list,
}
USER_CHECK_ROWS = (["0", "0"], ["0", "1"], ["1", "0"], ["1", "1"])


# --------------------------------------------------------------------------- SQL text and client errors


def sql_quote(value: str) -> str:
    """``value`` as a MariaDB string literal, whatever it holds (quotes, backslashes, ``#``, ``;``, ``ü€``...)."""
    return "'" + "".join(SQL_ESCAPES.get(char, char) for char in value) + "'"


def redact(text: str, secrets: tuple[str, ...]) -> str:
    """``text`` without any secret (raw or SQL-escaped) and without the statement MariaDB quotes ``near '...'``."""
    if not secrets:
        return text
    forms = [form for secret in secrets if secret for form in (secret, sql_quote(secret)[1:-1])]
    return re.sub(r"near .*", "near <statement not shown>", prereqos_common.mask(text, forms))


def client_error(stderr: str) -> str:
    """The first ``ERROR`` line of the client's stderr (or all of it)."""
    for line in stderr.splitlines():
        if line.startswith("ERROR"):
            return line.strip()
    return stderr.strip() or "no error message"


def account(name: str, host: str) -> str:
    """``'name'@'host'`` as SQL."""
    return f"{sql_quote(name)}@{sql_quote(host)}"


def identified(password: str, unix_socket: bool) -> str:
    """The ``IDENTIFIED`` clause setting ``password`` (and keeping socket login when ``unix_socket``)."""
    if unix_socket:
        return f"IDENTIFIED VIA unix_socket OR mysql_native_password USING PASSWORD({sql_quote(password)})"
    return f"IDENTIFIED BY {sql_quote(password)}"


def user_check_statement(name: str, host: str, password: str) -> str:
    """SQL answering (password matches, socket login allowed) for ``'name'@'host'``; no row when absent.

    The server hashes ``password`` as it does for ``IDENTIFIED BY`` and looks for that hash
    in the account's stored authentication, so the hash never leaves the server.
    """
    return (
        f"SELECT JSON_SEARCH(Priv, 'one', PASSWORD({sql_quote(password)})) IS NOT NULL, "
        "JSON_SEARCH(Priv, 'one', 'unix_socket') IS NOT NULL "
        f"FROM mysql.global_priv WHERE User = {sql_quote(name)} AND Host = {sql_quote(host)}"
    )


def parse_user_check(answer: str, name: str, host: str) -> tuple[bool, bool] | None:
    """``(password matches, socket login allowed)`` from the :func:`user_check_statement` answer, None when absent."""
    rows = [line.split("\t") for line in answer.splitlines()]
    if not rows:
        return None
    if len(rows) != 1 or rows[0] not in USER_CHECK_ROWS:
        raise CommandExecutionError(f"unexpected answer checking the user {name}@{host}")
    return rows[0][0] == "1", rows[0][1] == "1"


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


def parse_flag(text: str, what: str) -> bool:
    """Parse a ``0``/``1`` answer (``SELECT @@wsrep_on``)."""
    value = text.strip()
    if value not in ("0", "1"):
        raise CommandExecutionError(f"unexpected answer for {what}: {value[:40]!r}")
    return value == "1"


def parse_databases(text: str) -> list[str]:
    """User databases from ``SHOW DATABASES`` output (system schemas left out)."""
    return sorted(name for name in text.splitlines() if name and name not in SYSTEM_DATABASES)


def sessions_from_statement(address: str, hostname: str, idle: bool = False, between_transactions: bool = False) -> str:
    """SQL listing the client sessions opened from the node at ``address`` called ``hostname``
    (MariaDB shows a client as ``name:port``, the name resolved from its address when it can,
    an IPv6 address maybe in brackets), this one left out; with ``idle``, only those that run
    no statement (an answer of a running one may still reach its client); with
    ``between_transactions``, only idle ones with no transaction open either (ending one
    loses no work: its client reconnects before its next transaction)."""
    ip = str(ipaddress.ip_address(address))
    patterns = " OR ".join(f"HOST LIKE {sql_quote(name + ':%')}" for name in (ip, f"[{ip}]", hostname))
    waiting = " AND COMMAND = 'Sleep'" if idle or between_transactions else ""
    if between_transactions:
        waiting += " AND ID NOT IN (SELECT trx_mysql_thread_id FROM information_schema.INNODB_TRX)"
    where = f"ID <> CONNECTION_ID() AND ({patterns}){waiting}"
    return f"SELECT ID FROM information_schema.PROCESSLIST WHERE {where} ORDER BY ID"


def parse_session_ids(text: str) -> list[int]:
    """Session ids from the batch output of :func:`sessions_from_statement`."""
    ids = []
    for line in text.splitlines():
        if line.strip():
            if not line.strip().isdigit():
                raise ValueError(f"not a session id: {line.strip()!r}")
            ids.append(int(line))
    return ids


# --------------------------------------------------------------------------- grastate.dat


def grastate_path(datadir: str) -> str:
    """Where Galera saves its state in ``datadir``."""
    return os.path.join(datadir, GRASTATE_FILE)


def parse_grastate(text: str, path: str) -> dict[str, Any]:
    """Parse grastate.dat: ``{"uuid", "seqno", "safe_to_bootstrap", "version"}``.

    An empty file is what Galera leaves when it never reached a cluster (recorded:
    a fresh node started with wsrep while no cluster ran): no saved state, like a
    missing file. Anything else unexpected raises CommandExecutionError naming the
    file (``path``): a misread position could choose the wrong node to bootstrap.
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


def with_safe_to_bootstrap(text: str) -> str:
    """grastate.dat text with ``safe_to_bootstrap: 1``, every other line kept (the line is added to an old file)."""
    if SAFE_LINE_RE.search(text):
        return SAFE_LINE_RE.sub("safe_to_bootstrap: 1", text)
    return text.rstrip("\n") + "\nsafe_to_bootstrap: 1\n"


def is_fresh(saved: dict[str, Any] | None) -> bool:
    """True when a node was never part of a Galera cluster (no or an empty saved state)."""
    return saved is None or (saved["uuid"] == ZERO_UUID and saved["seqno"] == -1)


# --------------------------------------------------------------------------- position recovery


def server_errors(log: str) -> str:
    """The last three ``[ERROR]`` lines of a mariadbd log, joined ('' when none)."""
    return "; ".join([line.strip() for line in log.splitlines() if "[ERROR]" in line][-3:])


def parse_recovered(text: str) -> dict[str, Any]:
    """Parse ``WSREP: Recovered position: <uuid>:<seqno>`` from the --wsrep-recover log."""
    found = {(uuid, int(seqno)) for uuid, seqno in RECOVERED_RE.findall(text)}
    if not found:
        if RECOVERY_SKIPPED in text:
            raise CommandExecutionError("mariadbd skipped position recovery: wsrep is off in the server configuration")
        detail = server_errors(text) or "no 'WSREP: Recovered position' line in its log"
        raise CommandExecutionError(f"mariadbd --wsrep-recover found no position: {detail}")
    if len(found) > 1:
        raise CommandExecutionError(f"mariadbd --wsrep-recover reported several positions: {sorted(found)}")
    uuid, seqno = found.pop()
    if not UUID_RE.fullmatch(uuid):
        raise CommandExecutionError(f"mariadbd --wsrep-recover reported an invalid cluster uuid {uuid[:40]!r}")
    return {"uuid": uuid, "seqno": seqno}


# --------------------------------------------------------------------------- node state and health


def summarize(
    running: bool,
    wsrep_on: bool,
    wsrep_status: dict[str, str],
    saved: dict[str, Any] | None,
    databases: list[str],
) -> dict[str, Any]:
    """The node state (what :func:`plan` decides on) from what was read off the node."""
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
    }


def health_problems(state: dict[str, Any], expected_size: int | None = None) -> list[str]:
    """What keeps a node from being a Synced member of a big enough Primary component."""
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


def valid_node_state(state: Any) -> bool:
    """True when ``state`` has the shape of a node state (mine data can be anything)."""
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


def entry_problem(entry: Any, now: float, max_age: float) -> str | None:
    """Why a node's mine entry cannot be trusted at time ``now``, or None."""
    if entry is None:
        return "no data in the mine (unreachable, or mine.send failed)"
    if not valid_node_state(entry) or not isinstance(entry.get("collected_at"), float | int):
        return "malformed data in the mine"
    age = now - entry["collected_at"]
    if abs(age) > max_age:
        return f"mine data is {age:.0f} s old (more than {max_age} s): refresh it with mine.send"
    return None


def in_primary(state: dict[str, Any] | None) -> bool:
    """True when the node runs as a member of a Primary component."""
    return bool(state and state["running"] and state["wsrep_on"] and state["cluster_status"] == "Primary")


# --------------------------------------------------------------------------- the ordinary run: plan


def _known(states: dict[str, Any]) -> dict[str, dict[str, Any] | None]:
    """States with every malformed entry turned into None (unknown)."""
    return {node: state if valid_node_state(state) else None for node, state in states.items()}


def _decision(action: str, reason: str) -> dict[str, str]:
    return {"action": action, "reason": reason}


def _names(nodes: list[str]) -> str:
    return ", ".join(nodes)


def full_outage_reason(states: dict[str, dict[str, Any] | None]) -> str:
    """Explain why no node may bootstrap in an ordinary run: unknown nodes, or a full outage."""
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
    """Decide what node ``me`` must do, given every controller's node state (None: unknown).

    Returns ``{"action": "none"|"wait"|"join"|"bootstrap"|"refuse", "reason": ...}``.
    A node that is or was a Galera member is never bootstrapped here: only when no
    Primary component exists and every node is known and fresh does the
    ``bootstrap_node`` start a new cluster.
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
        return _plan_join(mine, primary, states)
    if any(state is None or not state["fresh"] for state in states.values()):
        return _decision("refuse", full_outage_reason(states))
    if bootstrap_node not in states:
        return _decision(
            "refuse", f"the bootstrap node {bootstrap_node} is not among the nodes {_names(sorted(states))}"
        )
    if me != bootstrap_node:
        return _decision("refuse", f"new cluster: the bootstrap node {bootstrap_node} must be bootstrapped first")
    return _decision("bootstrap", "no Primary component and every node is fresh (never a Galera member): new cluster")


def _plan_join(mine: dict[str, Any], primary: list[str], states: dict[str, Any]) -> dict[str, str]:
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


# --------------------------------------------------------------------------- after a full outage: recovery_plan


def _position(state: dict[str, Any]) -> tuple[str | None, int | None]:
    """Cluster uuid and seqno of a stopped node: the recovered one, else (None, None)."""
    recovered = state.get("recovered")
    if isinstance(recovered, dict) and isinstance(recovered.get("seqno"), int):
        uuid = recovered.get("uuid")
        return (uuid if uuid != ZERO_UUID else None), recovered["seqno"]
    return None, None


def recovery_row(state: dict[str, Any] | None) -> dict[str, Any]:
    """One node's facts for the recovery report."""
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
    """Pick the node to bootstrap after a full outage (every node stopped).

    ``states`` are recovery facts per node (None: unreachable). The node marked
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


# --------------------------------------------------------------------------- users and grants


def _privileges(text: str) -> set[str]:
    names = {" ".join(part.split()).upper() for part in re.split(r",\s*(?![^()]*\))", text)}
    return {PRIVILEGE_ALIASES.get(name, name) for name in names if name}


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
    """``GRANT ... ON ... TO account [WITH GRANT OPTION]`` for a pillar grant."""
    wanted = parse_wanted_grant(grant)
    option = " WITH GRANT OPTION" if wanted["grant_option"] else ""
    return f"GRANT {wanted['on']} TO {account}{option}"


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
    """True when ``wanted`` is not covered by what the user holds."""
    have = held.get(wanted["target"], {"privileges": set(), "grant_option": False})
    if wanted["grant_option"] and not have["grant_option"]:
        return True
    return "ALL PRIVILEGES" not in have["privileges"] and not wanted["privileges"] <= have["privileges"]


def user_changes(check: dict[str, Any], unix_socket: bool) -> dict[str, dict[str, Any]]:
    """The changes (``{"old", "new"}``, no secret) that make a user match ``check``'s target."""
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


# --------------------------------------------------------------------------- texts for state comments


def describe(state: dict[str, Any]) -> str:
    """A short text for a node state, used in changes and comments."""
    saved = state["grastate"]
    history = "fresh" if state["fresh"] else f"Galera data, seqno {saved['seqno']}"
    if not state["running"]:
        return f"stopped ({history})"
    if not state["wsrep_on"]:
        return f"standalone ({history})"
    return f"{state['local_state']}, {state['cluster_status']}, cluster size {state['cluster_size']}"


def health_text(report: dict[str, Any]) -> str:
    """A short text for a health report: the state when healthy, else its problems."""
    if report["ok"]:
        return f"{report['local_state']}, {report['cluster_status']}, cluster size {report['cluster_size']}"
    return "; ".join(report["problems"])


def table_text(table: dict[str, dict[str, Any]]) -> list[str]:
    """One line of facts per node for the recovery comment."""
    lines = []
    for node, row in table.items():
        facts = [row["state"]]
        if row.get("uuid"):
            facts.append(f"cluster {row['uuid']}")
        if row.get("seqno") is not None:
            facts.append(f"recovered seqno {row['seqno']}")
        if row.get("saved_seqno") is not None:
            facts.append(f"grastate seqno {row['saved_seqno']}, safe_to_bootstrap {int(row['safe_to_bootstrap'])}")
        if row.get("error"):
            facts.append(f"error: {row['error']}")
        lines.append(f"  {node}: {'; '.join(facts)}")
    return lines
