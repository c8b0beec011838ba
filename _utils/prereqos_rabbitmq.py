"""RabbitMQ facts and decisions, as pure functions: rabbitmqctl's JSON in, plain data and sentences out.

Parsers read ``--formatter json`` output (and ``export_definitions``) as rabbitmq-server
3.10.8 (Debian 12) and 4.0.5 (Debian 13) print it; anything else raises CommandExecutionError
saying what was expected. The decisions say what a cluster, a user or a password needs, and why.

No I/O and no Salt dunders: ``_modules/rabbitmq_cluster.py`` runs rabbitmqctl,
``_states/rabbitmq_cluster.py`` compares and acts with these.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import re
import unicodedata
from collections.abc import Callable
from typing import Any

import prereqos_common
from salt.exceptions import CommandExecutionError

# rabbit_password: base64(4-byte salt + hash(salt + password)); checked on 3.10.8 and 4.0.5 nodes.
PASSWORD_HASHES: dict[str, Callable[[bytes], Any]] = {
    "rabbit_password_hashing_sha256": hashlib.sha256,
    "rabbit_password_hashing_sha512": hashlib.sha512,
    "rabbit_password_hashing_md5": hashlib.md5,
}
SALT_BYTES = 4
# rabbitmqctl add_user/change_password read the password with IO.read(:stdio, :line) and
# String.trim/1: the first line only (Erlang turns only "\r\n" into "\n"), then every
# Unicode White_Space character trimmed from both ends. Anything else arrives intact.
TRIMMED = frozenset("\t\n\x0b\x0c\r \x85\xa0\u1680\u2028\u2029\u202f\u205f\u3000") | frozenset(
    chr(code) for code in range(0x2000, 0x200B)
)
CONTROL_NAMES = {
    "\t": "CHARACTER TABULATION",
    "\n": "LINE FEED",
    "\x0b": "LINE TABULATION",
    "\x0c": "FORM FEED",
    "\r": "CARRIAGE RETURN",
    "\x85": "NEXT LINE",
}
# Erlang reads at most 255 printable ASCII characters from the cookie file (OTP auth.erl).
COOKIE_MAX_LENGTH = 255
# cluster_status' maintenance_status of a node serving clients (3.10 and 4.0); a drained
# node's is "marked for maintenance" (3.10 wraps it in mangled colour codes).
NOT_IN_MAINTENANCE = "not under maintenance"
# rabbitmqctl's diagnostics print a hash of the Erlang cookie: a weak cookie could be guessed from it.
COOKIE_HASH_RE = re.compile(r"Erlang cookie hash:\s*(\S+)")


def scrub(text: str) -> str:
    """Tool output made fit for an error message: no colour codes, no cookie hash."""
    return prereqos_common.mask(prereqos_common.strip_colours(text), patterns=[COOKIE_HASH_RE]).strip()


# --------------------------------------------------------------------------- parsers


def parse_json(text: str, what: str) -> Any:
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


def parse_cluster_status(text: str) -> dict[str, Any]:
    """``cluster_status --formatter json`` → members, running nodes, partitions, alarms, cluster name.

    ``partitions`` lists the nodes that report a partition; ``partitioned_from`` maps each
    of them to the nodes it was cut off from. ``members`` counts disc and RAM nodes (4.0 has
    none of the latter). ``alarms`` are sorted by node and resource: 4.0 lists them in the
    order the nodes answered. ``maintenance`` lists the nodes in maintenance mode
    (``rabbitmq-upgrade drain``).
    """
    what = "cluster_status"
    data = parse_json(text, what)
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
    maintenance = data.get("maintenance_status", {})
    if not isinstance(maintenance, dict):
        raise _shape_error(what, "'maintenance_status' as an object of node → status")
    return {
        "cluster_name": str(data.get("cluster_name", "")),
        "running_nodes": sorted(data["running_nodes"]),
        "disk_nodes": sorted(data["disk_nodes"]),
        "ram_nodes": sorted(ram),
        "members": sorted(set(data["disk_nodes"]) | set(ram)),
        "partitions": sorted(partitions),
        "partitioned_from": {node: sorted(peers) for node, peers in sorted(partitions.items())},
        "alarms": sorted(alarms, key=lambda alarm: (str(alarm.get("node")), str(alarm.get("resource")))),
        "maintenance": sorted(node for node, state in maintenance.items() if NOT_IN_MAINTENANCE not in str(state)),
    }


def parse_node_name(text: str) -> str:
    """The local node's name from ``status --formatter json`` (its clustering listener)."""
    what = "status"
    data = parse_json(text, what)
    listeners = data.get("listeners") if isinstance(data, dict) else None
    if isinstance(listeners, list):
        for listener in listeners:
            if isinstance(listener, dict) and listener.get("protocol") == "clustering" and listener.get("node"):
                return str(listener["node"])
    raise _shape_error(what, "a 'listeners' list with the node's clustering listener")


def _rows(text: str, what: str, key: str, fields: dict[str, type | tuple[type, ...]]) -> dict[str, dict[str, Any]]:
    """A ``list_* --formatter json`` array of objects → ``{row[key]: rest of row}``, types checked."""
    data = parse_json(text, what)
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


def parse_users(text: str) -> dict[str, dict[str, Any]]:
    """``list_users`` → ``{user: {"tags": [...]}}``."""
    users = _rows(text, "list_users", "user", {"tags": list})
    if not all(_is_names(user["tags"]) for user in users.values()):
        raise _shape_error("list_users", "'tags' as a list of strings")
    return users


def parse_vhosts(text: str) -> dict[str, dict[str, Any]]:
    """``list_vhosts`` → ``{vhost: {}}`` (the other listed columns, none by default)."""
    return _rows(text, "list_vhosts", "name", {})


def parse_permissions(text: str) -> dict[str, dict[str, str]]:
    """``list_permissions -p VHOST`` → ``{user: {"configure", "write", "read"}}`` (regexes)."""
    return _rows(text, "list_permissions", "user", {"configure": str, "write": str, "read": str})


def parse_policies(text: str) -> dict[str, dict[str, Any]]:
    """``list_policies -p VHOST`` → ``{name: {"vhost", "pattern", "definition": dict, "priority", "apply_to"}}``.

    rabbitmqctl prints the definition as a JSON string inside the JSON: it is decoded here.
    """
    what = "list_policies"
    fields = {"vhost": str, "pattern": str, "apply-to": str, "definition": str, "priority": int}
    policies = {}
    for name, row in _rows(text, what, "name", fields).items():
        definition = parse_json(row["definition"], f"{what} (definition of {name})")
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


def parse_queues(text: str) -> dict[str, dict[str, Any]]:
    """``list_queues -p VHOST name messages`` → ``{queue: {"messages": int or what the tool printed}}``."""
    return _rows(text, "list_queues", "name", {})


def parse_queue_replicas(text: str) -> dict[str, dict[str, Any]]:
    """``list_queues -p VHOST name type members online`` → ``{queue: {"type", "members", "online"}}``;
    ``members`` and ``online`` are node lists for quorum queues, empty for the others."""
    rows = _rows(text, "list_queues", "name", {"type": str})
    for row in rows.values():
        for field in ("members", "online"):
            value = row.get(field)
            row[field] = sorted(value) if row["type"] == "quorum" and _is_names(value) else []
    return rows


def replica_problems(
    queues: dict[str, dict[str, dict[str, Any]]], expected_nodes: list[str], in_maintenance: list[str] = ()
) -> list[str]:
    """Quorum queues (``{vhost: {queue: row}}`` of :func:`parse_queue_replicas`) with a member
    offline, or without a member on each of ``expected_nodes``, as sentences with the fix. A
    replica on a node ``in_maintenance`` is offline on purpose: that is no problem."""
    problems = []
    for vhost, rows in sorted(queues.items()):
        for name, queue in sorted(rows.items()):
            if queue["type"] != "quorum":
                continue
            offline = sorted(set(queue["members"]) - set(queue["online"]) - set(in_maintenance))
            if offline:
                problems.append(
                    f"quorum queue '{name}' in vhost '{vhost}': {len(queue['online'])} of "
                    f"{len(queue['members'])} replicas online ({', '.join(offline)} offline)"
                )
            missing = sorted(set(expected_nodes) - set(queue["members"]))
            if missing:
                problems.append(
                    f"quorum queue '{name}' in vhost '{vhost}' has no replica on {', '.join(missing)}: "
                    f"rabbitmq-queues grow {missing[0]} all --vhost-pattern '{vhost}' --queue-pattern '{name}'"
                )
    return problems


def parse_quorum_critical(text: str) -> list[str]:
    """The queues of a failed ``rabbitmq-diagnostics check_if_node_is_quorum_critical
    --formatter json`` (its JSON is on stderr) that would lose their majority if the node
    stopped, as ``'name' in vhost 'vhost'``."""
    what = "check_if_node_is_quorum_critical"
    data = parse_json(text, what)
    queues = data.get("queues") if isinstance(data, dict) else None
    if not isinstance(queues, list) or not all(isinstance(queue, dict) for queue in queues):
        raise _shape_error(what, "an object with 'queues' as a list of objects")
    return sorted(f"'{queue.get('name')}' in vhost '{queue.get('virtual_host')}'" for queue in queues)


def parse_password_hashes(text: str) -> dict[str, dict[str, str]]:
    """``export_definitions -`` → ``{user: {"password_hash", "hashing_algorithm"}}``. Keep it private."""
    what = "export_definitions"
    data = parse_json(text, what)
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


# --------------------------------------------------------------------------- passwords


def password_matches(password: str, password_hash: str, algorithm: str) -> bool:
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


def character(char: str) -> str:
    """A character named without showing it: ``U+00A0 (NO-BREAK SPACE)``."""
    name = CONTROL_NAMES.get(char) or unicodedata.name(char, "")
    return f"U+{ord(char):04X}" + (f" ({name})" if name else "")


def password_problem(name: str, password: Any) -> str | None:
    """Why rabbitmqctl could not take ``password`` of user ``name`` from stdin intact, or None.

    Refused: an empty password, a line feed anywhere (only the first line is read), a
    blank or line break at either end (trimmed), a character beyond ASCII (rabbitmqctl
    decodes stdin as Latin-1 and would store another password: measured with RabbitMQ
    4.0, where "ü" logs in only as "Ã¼"). The sentence names the user and the
    character, never the password.
    """
    whose = f"the password of RabbitMQ user {name}"
    if not isinstance(password, str) or not password:
        return f"{whose} is empty or not a string"
    for char in password:
        if char == "\n":
            return f"{whose} contains a line break, {character(char)}: rabbitmqctl reads only the first line of stdin"
        if not char.isascii():
            return (
                f"{whose} contains {character(char)}: rabbitmqctl reads stdin as Latin-1 and would store "
                "another password; use ASCII characters"
            )
    for where, char in (("starts", password[0]), ("ends", password[-1])):
        if char in TRIMMED:
            return (
                f"{whose} starts or ends with blanks or line breaks, which rabbitmqctl trims from stdin: "
                f"it {where} with {character(char)}"
            )
    return None


# --------------------------------------------------------------------------- cluster


def maintenance_notes(status: dict[str, Any]) -> list[str]:
    """What a parsed cluster status says of nodes in maintenance mode."""
    return [
        f"{node} is in maintenance mode (rabbitmq-upgrade drain): it serves no client until revived"
        for node in status["maintenance"]
    ]


def health_problems(status: dict[str, Any], expected_nodes: list[str] | None = None) -> list[str]:
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


def waiting_for(nodes: list[str], health: dict[str, Any]) -> list[str]:
    """What keeps ``nodes`` from all running without a partition, per a health report; empty when met."""
    waiting = []
    missing = [node for node in nodes if node not in health["running_nodes"]]
    if missing:
        waiting.append(f"not running yet: {', '.join(missing)}")
    if health["partitions"]:
        waiting.append(f"partition reported by: {', '.join(health['partitions'])}")
    return waiting


def busy_queues(queues: dict[str, dict[str, dict[str, Any]]]) -> list[str]:
    """Queues (``{vhost: {queue: row}}``) that hold messages or whose count is unknown, as sentences."""
    busy = []
    for vhost, rows in sorted(queues.items()):
        for name, queue in sorted(rows.items()):
            messages = queue.get("messages")
            if isinstance(messages, int) and messages == 0:
                continue
            count = f"messages: {messages}" if isinstance(messages, int) else f"message count unknown: {messages!r}"
            busy.append(f"queue '{name}' in vhost '{vhost}' ({count})")
    return busy


def join_refusals(local: str, others: list[str], node: str, busy: list[str]) -> list[str]:
    """Why ``local`` must not join ``node``'s cluster: it has cluster peers ``others``, or ``busy`` queues."""
    if others:
        return [
            f"{local} is already a member of a cluster with {', '.join(others)}; it will not be reset to join "
            f"{node}. If it really must move, remove it from that cluster deliberately first "
            f"(rabbitmqctl forget_cluster_node {local} on a remaining member, then rabbitmqctl reset here)."
        ]
    if busy:
        return [
            f"{local} holds messages that join_cluster would destroy (joining resets the node): "
            f"{'; '.join(busy)}. Consume or move them (or delete those queues), then join again."
        ]
    return []


# --------------------------------------------------------------------------- cookie, users, policies


def cookie_problem(value: Any) -> str | None:
    """Why ``value`` cannot be an Erlang cookie, or None."""
    if not isinstance(value, str) or not value:
        return "is not set (it must hold the cluster's Erlang cookie, the same on every node)"
    if len(value) > COOKIE_MAX_LENGTH:
        return f"is longer than {COOKIE_MAX_LENGTH} characters, which Erlang refuses"
    if not all(" " <= char <= "~" for char in value):
        return "holds characters other than printable ASCII, which Erlang refuses"
    return None


def permission_spec(vhost: str, spec: Any) -> list[str]:
    """``[configure, write, read]`` regexes of one vhost from the SLS, checked."""
    if not isinstance(spec, list | tuple) or len(spec) != 3 or not all(isinstance(item, str) for item in spec):
        raise CommandExecutionError(
            f"permissions for vhost {vhost} must be [configure, write, read] regexes (strings), got {spec!r}"
        )
    return list(spec)


def user_changes(
    name: str,
    user: dict[str, Any] | None,
    password_ok: bool,
    tags: list[str] | None,
    permissions: dict[str, list[str]],
    held: dict[str, dict[str, str] | None],
) -> dict[str, Any]:
    """What must change for user ``name``, in ``changes`` form and free of the password.

    ``user``: its ``list_users`` row (None: absent); ``tags``: the exact tags wanted (None:
    left alone); ``permissions``: ``{vhost: [configure, write, read]}`` wanted; ``held``: its
    ``list_permissions`` row per vhost (None or missing: none).
    """
    changes: dict[str, Any] = {}
    if user is None:
        changes["user"] = {"old": None, "new": name}
    elif not password_ok:
        changes["password"] = {"old": "differs", "new": "updated"}
    if tags is not None:
        have_tags = sorted(user["tags"]) if user else []
        if have_tags != sorted(tags):
            changes["tags"] = {"old": have_tags, "new": sorted(tags)}
    for vhost, want in sorted(permissions.items()):
        row = held.get(vhost)
        have = [row["configure"], row["write"], row["read"]] if row else None
        if have != want:
            changes.setdefault("permissions", {})[vhost] = {"old": have, "new": want}
    return changes


def wanted_policy(pattern: str, definition: dict[str, Any], priority: int, apply_to: str) -> dict[str, Any]:
    """A policy as ``list_policies`` will give it back (JSON types), to compare with the live one."""
    return {
        "pattern": pattern,
        "definition": json.loads(json.dumps(definition)),
        "priority": int(priority),
        "apply_to": apply_to,
    }
