"""Manage a RabbitMQ cluster with rabbitmqctl: membership, health, users, vhosts, permissions, policies.

State is read from machine-readable output only (``--formatter json``). Passwords go to
rabbitmqctl on stdin, never on its command line, and never into a return value or a log.
Written against rabbitmq-server 3.10.8 (Debian 12); the parsers are pure functions so the
unit tests can feed them outputs recorded from that version.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import logging
import os
import re
from collections.abc import Callable
from typing import Any

import salt.utils.path
from salt.exceptions import CommandExecutionError

log = logging.getLogger(__name__)

__virtualname__ = "rabbitmq_cluster"

# Debian's /usr/sbin/rabbitmqctl is a shell wrapper that, run as root, pastes its arguments
# into ``su rabbitmq -c "..."``: a ``$`` or a backquote in a name or pattern is expanded by a
# shell (seen on 3.10.8). So, as root, run the real CLI as the rabbitmq user ourselves, from
# its home directory, as the wrapper intends (same cookie: runuser sets HOME to that home).
DEBIAN_CLI = "/usr/lib/rabbitmq/bin/rabbitmqctl"
RABBITMQ_USER = "rabbitmq"
RABBITMQ_HOME = "/var/lib/rabbitmq"
# Seconds before a hung rabbitmqctl is killed (join_cluster waits on the remote node).
CLI_TIMEOUT = 300
# rabbit_password: base64(4-byte salt + hash(salt + password)); checked on a 3.10.8 node.
PASSWORD_HASHES: dict[str, Callable[[bytes], Any]] = {
    "rabbit_password_hashing_sha256": hashlib.sha256,
    "rabbit_password_hashing_sha512": hashlib.sha512,
    "rabbit_password_hashing_md5": hashlib.md5,
}
SALT_BYTES = 4
ANSI_RE = re.compile(r"\x1b\[[0-9;]*m")
# rabbitmqctl's diagnostics print a hash of the Erlang cookie: a weak cookie could be guessed from it.
COOKIE_HASH_RE = re.compile(r"(Erlang cookie hash:)\s*\S+")


def __virtual__() -> str | tuple[bool, str]:
    if salt.utils.path.which("rabbitmqctl"):
        return __virtualname__
    return False, "rabbitmq_cluster: rabbitmqctl is not installed (install the rabbitmq-server package)"


# ---------------------------------------------------------------------------
# Running rabbitmqctl


def _cli() -> list[str]:
    """The argv prefix that runs rabbitmqctl without Debian's shell wrapper when we are root."""
    if os.geteuid() == 0 and os.path.exists(DEBIAN_CLI):
        return ["runuser", "-u", RABBITMQ_USER, "--", DEBIAN_CLI]
    return [salt.utils.path.which("rabbitmqctl") or "rabbitmqctl"]


def _scrub(text: str) -> str:
    """Tool output made fit for an error message: no colour codes, no cookie hash."""
    return COOKIE_HASH_RE.sub(r"\1 (hidden)", ANSI_RE.sub("", text)).strip()


def _run(args: list[str], stdin: str | None = None, quiet: bool = False) -> str:
    """Run ``rabbitmqctl args``; return its stdout, or raise with the tool's own error text.

    ``stdin`` carries a secret: it is sent as is (no ``\\n`` translation) and the command's
    output is not logged; ``quiet`` also keeps the output out of the log (password hashes).
    """
    kwargs: dict[str, Any] = {}
    if stdin is not None:
        kwargs.update(stdin=stdin, stdin_raw_newlines=True)
    if stdin is not None or quiet:
        kwargs["output_loglevel"] = "quiet"
    ret = __salt__["cmd.run_all"](
        [*_cli(), *args],
        python_shell=False,
        cwd=RABBITMQ_HOME if os.path.isdir(RABBITMQ_HOME) else None,
        timeout=CLI_TIMEOUT,
        ignore_retcode=True,
        **kwargs,
    )
    if ret.get("retcode") != 0:
        detail = ret.get("stderr") or ("" if quiet else ret.get("stdout")) or "no error output"
        raise CommandExecutionError(f"rabbitmqctl {args[0]} failed (exit {ret.get('retcode')}): {_scrub(detail)}")
    return ret.get("stdout") or ""


# ---------------------------------------------------------------------------
# Pure parsers: rabbitmqctl text in, plain data out (or CommandExecutionError)


def _json(text: str, what: str) -> Any:
    """Decode the JSON printed by ``rabbitmqctl <what>``; empty or cut output is an error."""
    if not text.strip():
        raise CommandExecutionError(f"rabbitmqctl {what} printed nothing where JSON was expected")
    try:
        return json.loads(text)
    except ValueError as exc:
        raise CommandExecutionError(
            f"rabbitmqctl {what} printed something that is not complete JSON ({exc}); run it by hand to see why"
        ) from None


def _shape_error(what: str, expected: str) -> CommandExecutionError:
    return CommandExecutionError(f"rabbitmqctl {what} returned JSON of an unexpected shape: expected {expected}")


def _is_names(value: Any) -> bool:
    return isinstance(value, list) and all(isinstance(item, str) for item in value)


def _parse_cluster_status(text: str) -> dict[str, Any]:
    """``cluster_status --formatter json`` → members, running nodes, partitions, alarms, cluster name.

    ``partitions`` lists the nodes that report a partition; ``partitioned_from`` maps each
    of them to the nodes it was cut off from. ``members`` counts disc and RAM nodes.
    """
    what = "cluster_status"
    data = _json(text, what)
    if not isinstance(data, dict):
        raise _shape_error(what, "an object")
    for key in ("running_nodes", "disk_nodes"):
        if not _is_names(data.get(key)):
            raise _shape_error(what, f"'{key}' as a list of node names")
    ram = data.get("ram_nodes", [])
    partitions = data.get("partitions", {})
    alarms = data.get("alarms", [])
    if not _is_names(ram):
        raise _shape_error(what, "'ram_nodes' as a list of node names")
    if not isinstance(partitions, dict) or not all(_is_names(peers) for peers in partitions.values()):
        raise _shape_error(what, "'partitions' as an object of node → list of node names")
    if not isinstance(alarms, list) or not all(isinstance(alarm, dict) for alarm in alarms):
        raise _shape_error(what, "'alarms' as a list of objects")
    return {
        "cluster_name": str(data.get("cluster_name", "")),
        "running_nodes": sorted(data["running_nodes"]),
        "disk_nodes": sorted(data["disk_nodes"]),
        "ram_nodes": sorted(ram),
        "members": sorted(set(data["disk_nodes"]) | set(ram)),
        "partitions": sorted(partitions),
        "partitioned_from": {node: sorted(peers) for node, peers in sorted(partitions.items())},
        "alarms": alarms,
    }


def _parse_node_name(text: str) -> str:
    """The local node's name from ``status --formatter json`` (its clustering listener)."""
    what = "status"
    data = _json(text, what)
    listeners = data.get("listeners") if isinstance(data, dict) else None
    if isinstance(listeners, list):
        for listener in listeners:
            if isinstance(listener, dict) and listener.get("protocol") == "clustering" and listener.get("node"):
                return str(listener["node"])
    raise _shape_error(what, "a 'listeners' list with the node's clustering listener")


def _rows(text: str, what: str, key: str, fields: dict[str, type | tuple[type, ...]]) -> dict[str, dict[str, Any]]:
    """A ``list_* --formatter json`` array of objects → ``{row[key]: rest of row}``, types checked."""
    data = _json(text, what)
    expected = f"a list of objects with '{key}'" + "".join(f", '{field}'" for field in fields)
    if not isinstance(data, list):
        raise _shape_error(what, expected)
    rows = {}
    for row in data:
        if not isinstance(row, dict) or not isinstance(row.get(key), str):
            raise _shape_error(what, expected)
        if not all(isinstance(row.get(field), kinds) for field, kinds in fields.items()):
            raise _shape_error(what, expected)
        rows[row[key]] = {field: value for field, value in row.items() if field != key}
    return rows


def _parse_users(text: str) -> dict[str, dict[str, Any]]:
    """``list_users`` → ``{user: {"tags": [...]}}``."""
    users = _rows(text, "list_users", "user", {"tags": list})
    if not all(_is_names(user["tags"]) for user in users.values()):
        raise _shape_error("list_users", "'tags' as a list of strings")
    return users


def _parse_vhosts(text: str) -> dict[str, dict[str, Any]]:
    """``list_vhosts`` → ``{vhost: {}}`` (the other listed columns, none by default)."""
    return _rows(text, "list_vhosts", "name", {})


def _parse_permissions(text: str) -> dict[str, dict[str, str]]:
    """``list_permissions -p VHOST`` → ``{user: {"configure", "write", "read"}}`` (regexes)."""
    return _rows(text, "list_permissions", "user", {"configure": str, "write": str, "read": str})


def _parse_policies(text: str) -> dict[str, dict[str, Any]]:
    """``list_policies -p VHOST`` → ``{name: {"vhost", "pattern", "definition": dict, "priority", "apply_to"}}``.

    rabbitmqctl prints the definition as a JSON string inside the JSON: it is decoded here.
    """
    what = "list_policies"
    fields = {"vhost": str, "pattern": str, "apply-to": str, "definition": str, "priority": int}
    policies = {}
    for name, row in _rows(text, what, "name", fields).items():
        definition = _json(row["definition"], f"{what} (definition of {name})")
        if not isinstance(definition, dict):
            raise _shape_error(what, f"the definition of {name} as a JSON object")
        policies[name] = {
            "vhost": row["vhost"],
            "pattern": row["pattern"],
            "definition": definition,
            "priority": row["priority"],
            "apply_to": row["apply-to"],
        }
    return policies


def _parse_queues(text: str) -> dict[str, dict[str, Any]]:
    """``list_queues -p VHOST name messages`` → ``{queue: {"messages": int or what the tool printed}}``."""
    return _rows(text, "list_queues", "name", {})


def _parse_password_hashes(text: str) -> dict[str, dict[str, str]]:
    """``export_definitions -`` → ``{user: {"password_hash", "hashing_algorithm"}}``. Keep it private."""
    what = "export_definitions"
    data = _json(text, what)
    users = data.get("users") if isinstance(data, dict) else None
    expected = "'users' as a list of objects with 'name', 'password_hash' and 'hashing_algorithm'"
    if not isinstance(users, list):
        raise _shape_error(what, expected)
    hashes = {}
    for user in users:
        keys = ("name", "password_hash", "hashing_algorithm")
        if not isinstance(user, dict) or not all(isinstance(user.get(key), str) for key in keys):
            raise _shape_error(what, expected)
        hashes[user["name"]] = {"password_hash": user["password_hash"], "hashing_algorithm": user["hashing_algorithm"]}
    return hashes


def _password_matches(password: str, password_hash: str, algorithm: str) -> bool:
    """Whether ``password`` hashes to ``password_hash`` (base64 of 4-byte salt + hash(salt + UTF-8 password))."""
    hasher = PASSWORD_HASHES.get(algorithm)
    if hasher is None:
        raise CommandExecutionError(
            f"cannot verify a password hashed with {algorithm!r}: known are {', '.join(PASSWORD_HASHES)}"
        )
    if not password_hash:  # a user with password login disabled
        return False
    try:
        raw = base64.b64decode(password_hash, validate=True)
    except (binascii.Error, ValueError):
        raise CommandExecutionError("export_definitions returned a password hash that is not base64") from None
    salt, digest = raw[:SALT_BYTES], raw[SALT_BYTES:]
    return hmac.compare_digest(hasher(salt + password.encode("utf-8")).digest(), digest)


def _password_problem(password: Any) -> str | None:
    """Why rabbitmqctl could not take ``password`` from stdin as is, or None.

    rabbitmqctl 3.10 reads one line from stdin and trims it: a line break or surrounding
    blanks would silently give a different password, and an empty one is refused.
    """
    if not isinstance(password, str) or not password:
        return "the password is empty or not a string"
    if "\n" in password or "\r" in password:
        return "the password contains a line break (rabbitmqctl reads only the first line from stdin)"
    if password != password.strip():
        return "the password starts or ends with blanks (rabbitmqctl trims them from stdin)"
    return None


def _health_problems(status: dict[str, Any], expected_nodes: list[str] | None = None) -> list[str]:
    """Sentences for what is wrong in a parsed cluster status; empty when healthy.

    Healthy: every expected node (default: every member) running, no partition, no alarm.
    """
    problems = []
    expected = status["members"] if expected_nodes is None else expected_nodes
    for node in expected:
        if node in status["running_nodes"]:
            continue
        if node in status["members"]:
            problems.append(
                f"{node} is a cluster member but is not running: start it (systemctl start rabbitmq-server, "
                "or rabbitmqctl start_app if only its app was stopped)."
            )
        else:
            problems.append(f"{node} is not a member of the cluster: it has not joined (or was removed).")
    for node, peers in status["partitioned_from"].items():
        problems.append(
            f"{node} reports a network partition from {', '.join(peers)}: pick the side to keep and restart "
            "the nodes of the other side (https://www.rabbitmq.com/partitions.html)."
        )
    for alarm in status["alarms"]:
        kind = alarm.get("resource") or alarm.get("type") or "unknown"
        problems.append(
            f"{kind} alarm on {alarm.get('node', 'an unknown node')}: publishers are blocked until it clears."
        )
    return problems


# ---------------------------------------------------------------------------
# Cluster


def cluster_status() -> dict[str, Any]:
    """The cluster as the local node sees it, plus ``node``: the local node's name.

    CLI Example:

    .. code-block:: bash

        salt '*' rabbitmq_cluster.cluster_status
    """
    status = _parse_cluster_status(_run(["cluster_status", "--formatter", "json"]))
    status["node"] = _parse_node_name(_run(["status", "--formatter", "json"]))
    return status


def _queues_with_messages() -> list[str]:
    """Queues on this node that hold messages (or whose count is unknown), across all vhosts."""
    busy = []
    for vhost in sorted(list_vhosts()):
        for name, queue in sorted(list_queues(vhost).items()):
            messages = queue.get("messages")
            if isinstance(messages, int) and messages == 0:
                continue
            count = f"messages: {messages}" if isinstance(messages, int) else f"message count unknown: {messages!r}"
            busy.append(f"queue '{name}' in vhost '{vhost}' ({count})")
    return busy


def join_check(node: str) -> dict[str, Any]:
    """What :func:`join` would do, changing nothing.

    Returns ``{"node": local, "members": [...], "member": bool, "refusals": [sentences]}``:
    ``member`` is True when the local node is already in ``node``'s cluster; ``refusals``
    say why joining would be unsafe.

    CLI Example:

    .. code-block:: bash

        salt ctrl-2 rabbitmq_cluster.join_check rabbit@ctrl-1
    """
    status = cluster_status()
    local, members = status["node"], status["members"]
    result = {"node": local, "members": members, "member": node in members, "refusals": []}
    if result["member"]:
        return result
    others = [member for member in members if member != local]
    if others:
        result["refusals"].append(
            f"{local} is already a member of a cluster with {', '.join(others)}; it will not be reset to join "
            f"{node}. If it really must move, remove it from that cluster deliberately first "
            f"(rabbitmqctl forget_cluster_node {local} on a remaining member, then rabbitmqctl reset here)."
        )
        return result
    busy = _queues_with_messages()
    if busy:
        result["refusals"].append(
            f"{local} holds messages that join_cluster would destroy (joining resets the node): "
            f"{'; '.join(busy)}. Consume or move them (or delete those queues), then join again."
        )
    return result


def join(node: str) -> dict[str, Any]:
    """Join the local node to the cluster of ``node`` (e.g. ``rabbit@ctrl-1``).

    stop_app, join_cluster, start_app. No-op when already in that cluster. Refuses (never
    resets) a node that is a member of another cluster or that holds messages.

    CLI Example:

    .. code-block:: bash

        salt ctrl-2 rabbitmq_cluster.join rabbit@ctrl-1
    """
    check = join_check(node)
    local = check["node"]
    if check["member"]:
        return {"changed": False, "node": local, "members": check["members"]}
    if check["refusals"]:
        raise CommandExecutionError(" ".join(check["refusals"]))
    log.info("rabbitmq_cluster: joining %s to the cluster of %s", local, node)
    _run(["stop_app"])
    try:
        _run(["join_cluster", "--", node])
    except CommandExecutionError as exc:
        try:
            _run(["start_app"])
        except CommandExecutionError as start_exc:
            raise CommandExecutionError(
                f"{local} could not join {node} ({exc}); restarting its app failed too: {start_exc}"
            ) from exc
        raise CommandExecutionError(f"{local} could not join {node} (its app was started again): {exc}") from exc
    _run(["start_app"])
    after = cluster_status()
    return {"changed": True, "node": local, "members": after["members"], "running_nodes": after["running_nodes"]}


def health(expected_nodes: list[str] | None = None) -> dict[str, Any]:
    """Cluster health for gates and operators; never raises for a stopped node.

    ``ok`` only when every expected node (default: every member) is running, with no
    partition and no alarm; ``problems`` says what is wrong, in sentences.

    CLI Example:

    .. code-block:: bash

        salt ctrl-1 rabbitmq_cluster.health rabbit@ctrl-1,rabbit@ctrl-2,rabbit@ctrl-3
    """
    if isinstance(expected_nodes, str):  # from the command line
        expected_nodes = [node.strip() for node in expected_nodes.split(",") if node.strip()]
    try:
        status = cluster_status()
    except CommandExecutionError as exc:
        first_line = next((line for line in str(exc).splitlines() if line.strip()), str(exc))
        return {
            "ok": False,
            "node": None,
            "running_nodes": [],
            "members": [],
            "partitions": [],
            "alarms": [],
            "problems": [f"cannot read the cluster status of the local node: {first_line}"],
        }
    problems = _health_problems(status, expected_nodes)
    return {
        "ok": not problems,
        "node": status["node"],
        "running_nodes": status["running_nodes"],
        "members": status["members"],
        "partitions": status["partitions"],
        "alarms": status["alarms"],
        "problems": problems,
    }


# ---------------------------------------------------------------------------
# Vhosts, users, permissions, policies: reads


def list_vhosts() -> dict[str, dict[str, Any]]:
    """``{vhost: {}}`` for every virtual host."""
    return _parse_vhosts(_run(["list_vhosts", "--formatter", "json"]))


def list_users() -> dict[str, dict[str, Any]]:
    """``{user: {"tags": [...]}}`` for every user."""
    return _parse_users(_run(["list_users", "--formatter", "json"]))


def list_permissions(vhost: str = "/") -> dict[str, dict[str, str]]:
    """``{user: {"configure", "write", "read"}}`` in ``vhost``."""
    return _parse_permissions(_run(["list_permissions", "-p", vhost, "--formatter", "json"]))


def list_policies(vhost: str = "/") -> dict[str, dict[str, Any]]:
    """``{name: {"pattern", "definition", "priority", "apply_to", "vhost"}}`` in ``vhost``."""
    return _parse_policies(_run(["list_policies", "-p", vhost, "--formatter", "json"]))


def list_queues(vhost: str = "/") -> dict[str, dict[str, Any]]:
    """``{queue: {"messages": n}}`` in ``vhost``."""
    return _parse_queues(_run(["list_queues", "-p", vhost, "name", "messages", "--formatter", "json"]))


def check_password(name: str, password: str) -> bool:
    """Whether user ``name`` exists with ``password``.

    Checked against the hash in ``export_definitions`` (read without logging it), so the
    password never reaches a command line and no failed login is recorded on the broker.
    """
    hashes = _parse_password_hashes(_run(["export_definitions", "-", "--format", "json"], quiet=True))
    user = hashes.get(name)
    if user is None:
        return False
    return _password_matches(password, user["password_hash"], user["hashing_algorithm"])


# ---------------------------------------------------------------------------
# Writes. Positional arguments follow ``--`` so a name starting with ``-`` stays a name.


def add_vhost(name: str) -> bool:
    """Create virtual host ``name`` (rabbitmqctl accepts an existing one)."""
    _run(["add_vhost", "--", name])
    return True


def _password_stdin(password: str) -> str:
    problem = _password_problem(password)
    if problem:
        raise CommandExecutionError(f"cannot set this password: {problem}; choose another one in pillar")
    return password + "\n"


def add_user(name: str, password: str) -> bool:
    """Create user ``name``; the password is written to rabbitmqctl's stdin."""
    _run(["add_user", "--", name], stdin=_password_stdin(password))
    return True


def change_password(name: str, password: str) -> bool:
    """Set the password of ``name``; the password is written to rabbitmqctl's stdin."""
    _run(["change_password", "--", name], stdin=_password_stdin(password))
    return True


def set_user_tags(name: str, tags: list[str]) -> bool:
    """Replace the tags of ``name`` (an empty list clears them)."""
    _run(["set_user_tags", "--", name, *tags])
    return True


def delete_user(name: str) -> bool:
    """Delete user ``name``."""
    _run(["delete_user", "--", name])
    return True


def set_permissions(name: str, vhost: str, configure: str, write: str, read: str) -> bool:
    """Set the configure/write/read regexes of user ``name`` in ``vhost``."""
    _run(["set_permissions", "-p", vhost, "--", name, configure, write, read])
    return True


def set_policy(
    name: str,
    pattern: str,
    definition: dict[str, Any],
    priority: int = 0,
    apply_to: str = "all",
    vhost: str = "/",
) -> bool:
    """Create or replace policy ``name`` in ``vhost``."""
    if not isinstance(definition, dict):
        raise CommandExecutionError(f"policy {name}: the definition must be a mapping, not {type(definition).__name__}")
    _run(
        [
            "set_policy",
            "-p",
            vhost,
            "--priority",
            str(int(priority)),
            "--apply-to",
            apply_to,
            "--",
            name,
            pattern,
            json.dumps(definition, sort_keys=True),
        ]
    )
    return True


def clear_policy(name: str, vhost: str = "/") -> bool:
    """Remove policy ``name`` from ``vhost``."""
    _run(["clear_policy", "-p", vhost, "--", name])
    return True
