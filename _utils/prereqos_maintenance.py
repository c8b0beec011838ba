"""Planned maintenance of one controller: the record of drained controllers every
controller keeps, and the decisions of drain and undrain.

A drained controller holds no VIP, its servers are in maintenance on every
HAProxy (``disabled`` in haproxy.cfg, so a reload or a re-run keeps them there)
and its RabbitMQ node is in maintenance mode. One controller at a time.

Plain Python, no Salt dunders: the ``prereqos`` modules gather the live state
and pass it here; the unit tests feed recorded outputs.
"""

from __future__ import annotations

import json
from typing import Any

STATE_DIR = "/var/lib/prereqos"
# The controllers drained for maintenance, kept on every controller: read when
# haproxy.cfg is rendered, and by prereqos.health.
MAINTENANCE_PATH = f"{STATE_DIR}/maintenance.json"
# keepalived's track file on each controller: 1 while this controller is drained
# (its VRRP instances go to FAULT: they release their VIPs and claim none).
VIPS_RELEASED_PATH = f"{STATE_DIR}/vips-released"
# haproxy.cfg as a reload needs it: without the drained servers' `disabled`, which the
# runtime API sets. haproxy reloads when this copy changes, not for a drain or an
# undrain: a reload's previous process cuts its sessions at hard-stop-after, commits
# in flight included.
HAPROXY_UNDRAINED_CFG_PATH = f"{STATE_DIR}/haproxy-undrained.cfg"
ACTIONS = ("drain", "undrain")
# haproxy's reply to `set server` from a process whose proxies stopped (a reload's previous
# one), and how long to ask again for the new process's answer.
STOPPING_HAPROXY_REPLY = "Proxy is disabled."
RELOAD_WAIT_S = 10.0


class RecordError(ValueError):
    """The maintenance record is not what prereqos writes."""


def parse_record(text: str | None) -> list[str]:
    """The drained controllers of a maintenance record (no file or an empty one: none)."""
    if not text or not text.strip():
        return []
    try:
        data = json.loads(text)
    except ValueError as exc:
        raise RecordError(f"{MAINTENANCE_PATH} is not JSON ({exc}): remove it and drain again") from None
    drained = data.get("drained") if isinstance(data, dict) else None
    if not isinstance(drained, list) or not all(isinstance(node, str) for node in drained):
        raise RecordError(f'{MAINTENANCE_PATH} must be {{"drained": [controller ids]}}: remove it and drain again')
    return sorted(set(drained))


def of_controllers(drained: list[str], node_ids: list[str]) -> list[str]:
    """The drained controllers that are still controllers: the record's entry of a
    controller since removed from the pillar is ignored (nothing can undrain it)."""
    return [node for node in drained if node in node_ids]


def intent(value: Any, node_ids: list[str]) -> dict[str, str] | None:
    """The maintenance an orchestration step is part of (its ``prereqos_maintenance`` pillar):
    ``{"node", "action"}``, or None outside a maintenance. Raises ValueError naming the fix."""
    if value is None:
        return None
    if not isinstance(value, dict) or set(value) != {"node", "action"}:
        raise ValueError("prereqos_maintenance: expected {node: <controller id>, action: drain|undrain}")
    if value["node"] not in node_ids:
        raise ValueError(
            f"prereqos_maintenance:node: {value['node']!r} is not a controller ({', '.join(node_ids)}); "
            "name one of them"
        )
    if value["action"] not in ACTIONS:
        raise ValueError(f"prereqos_maintenance:action: {value['action']!r} is not one of {', '.join(ACTIONS)}")
    return {"node": value["node"], "action": value["action"]}


def planned(drained: list[str], maintenance: dict[str, str] | None) -> list[str]:
    """The drained controllers once ``maintenance`` (from :func:`intent`) is done."""
    result = set(drained)
    if maintenance is not None:
        if maintenance["action"] == "drain":
            result.add(maintenance["node"])
        else:
            result.discard(maintenance["node"])
    return sorted(result)


def undrain_command(node: str) -> str:
    """The operator's command that brings ``node`` back."""
    return f'salt-run state.orchestrate orch.prereqos_undrain pillar=\'{{"node": "{node}"}}\''


def drained_notes(drained: list[str]) -> list[str]:
    """What prereqos.health says of each drained controller."""
    return [f"{node} is drained for maintenance: undrain it with {undrain_command(node)}" for node in drained]


def drain_refusals(node: str, drained: list[str], problems: list[str], maintenance: list[str]) -> list[str]:
    """Why ``node`` cannot be drained, as one controller sees the cluster; empty: go.

    ``drained`` is that controller's record, ``problems`` and ``maintenance`` its health
    report's. Draining the drained node again is a no-op; another drained node, or anything
    unhealthy, refuses: the cluster must be whole before one more controller leaves it.
    """
    others = [other for other in drained if other != node]
    if others:
        return [
            f"{', '.join(others)} is already drained: one controller at a time; undrain it first "
            f"({undrain_command(others[0])})"
        ]
    if node in drained:
        return []
    return [*problems, *maintenance]


def undrain_refusals(node: str, problems: list[str]) -> list[str]:
    """Why ``node`` cannot come back yet, from its own health ``problems`` (its planned
    maintenance aside); empty: go."""
    return [f"{node} is not healthy yet: {problem}" for problem in problems]


def haproxy_servers(stat: dict[str, dict[str, dict[str, Any]]], server: str) -> dict[str, dict[str, Any]]:
    """``{proxy: {"status", "sessions"}}`` of the servers named ``server``, from
    :func:`prereqos_node.parse_haproxy_servers`."""
    return {proxy: servers[server] for proxy, servers in sorted(stat.items()) if server in servers}


def from_stopping_haproxy(reply: str) -> bool:
    """Whether a runtime API reply comes from an haproxy process whose proxies stopped: the
    previous one, right after a reload, may still accept a connection on the shared socket."""
    return reply.strip() == STOPPING_HAPROXY_REPLY


def in_maintenance(status: str) -> bool:
    """Whether an HAProxy server status is maintenance (``MAINT``, ``MAINT (via x/y)``, ``MAINT (resolution)``)."""
    return status.startswith("MAINT")


def out_of_rotation(status: str) -> bool:
    """Whether an HAProxy server takes no new session on purpose: in maintenance or draining
    (a drain stopped half-way leaves ``DRAIN``)."""
    return in_maintenance(status) or status.startswith("DRAIN")


def vips_released_notes(node: str, released: bool, drained: list[str]) -> list[str]:
    """Health's maintenance notes of keepalived's track file on ``node``: released on a
    drained node is planned; released on another is left over from a drain that stopped
    half-way, which the undrain clears (so it must not hold the undrain back)."""
    if not released:
        return []
    if node in drained:
        return ["keepalived: this node releases its VIPs (drained)"]
    return [
        f"keepalived: {VIPS_RELEASED_PATH} says 1 but {node} is not drained: a drain stopped half-way; "
        f"undrain it: {undrain_command(node)}"
    ]


def writer_returns(servers: list[str], returning: str, here: str) -> bool:
    """Whether a controller ``returning`` to the Galera listener (``servers``, in order: the
    first UP one is the writer) takes the writer's sessions from ``here``: it comes first."""
    return servers.index(returning) < servers.index(here)
