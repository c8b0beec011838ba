"""States for a pacemaker/corosync cluster, built on the ``pacemaker_cluster`` execution module.

.. code-block:: yaml

    pacemaker-online:
      pacemaker_cluster.online:
        - nodes: [ctrl1, ctrl2, ctrl3]
        - timeout: 180

    pacemaker-resources:
      pacemaker_cluster.configured:
        - properties: {stonith-enabled: "false", no-quorum-policy: stop}
        - rsc_defaults: {resource-stickiness: "100"}
        - primitives:
            vip_api:
              agent: ocf:heartbeat:IPaddr2
              params: {ip: 192.0.2.10, cidr_netmask: "24", nic: eth1}
              ops: {monitor: {interval: 10s}}
            haproxy:
              agent: systemd:haproxy
              ops: {monitor: {interval: 5s}}
        - clones: {haproxy-clone: {rsc: haproxy}}
        - colocations: {vip_api-with-haproxy: {score: INFINITY, rsc: vip_api, with_rsc: haproxy-clone}}
        - orders: {haproxy-before-vip_api: {kind: Optional, first: haproxy-clone, then: vip_api}}
        - require:
          - pacemaker_cluster: pacemaker-online
"""

from __future__ import annotations

import importlib
from typing import Any

import prereqos_common
from salt.exceptions import CommandExecutionError, SaltInvocationError

# A sync may have replaced a library since this process first imported it.
prereqos_common = importlib.reload(prereqos_common)

__virtualname__ = "pacemaker_cluster"

POLL_INTERVAL = 2.0


def __virtual__() -> str:
    # Always loaded: on a fresh node the tool comes with an earlier step of the
    # same run, and test=True must predict these states (see _unavailable).
    return __virtualname__


def _unavailable(name: str, action: str, changes: bool = True) -> dict[str, Any] | None:
    """None when pacemaker is installed, else the return of a state that cannot run yet."""
    if "pacemaker_cluster.status" in __salt__:
        return None
    return prereqos_common.not_installed(name, "pacemaker", action, changes, bool(__opts__["test"]))


def _describe(report: dict[str, Any]) -> str:
    """DC, quorum and node states of a health report, for comments."""
    online = ", ".join(report["online"]) or "none"
    offline = ", ".join(report["offline"]) or "none"
    return f"DC {report['dc'] or 'none'}, quorate {report['quorate']}, online: {online}, offline: {offline}"


def online(name: str, nodes: list[str], timeout: int = 180) -> dict[str, Any]:
    """Wait until the cluster is quorate, has a DC and every node in ``nodes`` is online.

    Polls every 2 s (a new 3-node cluster takes ~25 s to elect a DC). Changes nothing;
    ``result`` is False with the last status when ``timeout`` seconds pass.

    name
        Any id.
    nodes
        Node names as pacemaker knows them (``crm_mon``), e.g. the controllers' hostnames.
    timeout
        Seconds to wait at most.
    """
    if missing := _unavailable(name, "wait until every node is online", changes=False):
        return missing
    ret: dict[str, Any] = {"name": name, "result": False, "changes": {}, "comment": ""}
    if not isinstance(nodes, list) or not nodes or not all(isinstance(node, str) and node for node in nodes):
        ret["comment"] = "nodes must be a non-empty list of node names"
        return ret
    if isinstance(timeout, bool) or not isinstance(timeout, int) or timeout < 0:
        ret["comment"] = "timeout must be a number of seconds (0 or more)"
        return ret

    def probe() -> tuple[bool, dict[str, Any]]:
        report = __salt__["pacemaker_cluster.health"](expected_nodes=nodes)
        return not report["problems"], report  # a node in standby is online

    up, report = prereqos_common.wait_until(probe, 0 if __opts__["test"] else timeout, POLL_INTERVAL)
    if up:
        ret.update(result=True, comment=f"Cluster is up: {_describe(report)}")
    elif __opts__["test"]:
        ret.update(result=None, comment=f"Would wait up to {timeout}s for: {'; '.join(report['problems'])}")
    else:
        ret["comment"] = (
            f"Cluster not ready after {timeout}s: {'; '.join(report['problems'])}. Last status: {_describe(report)}"
        )
    return ret


def standby(
    name: str, enabled: bool, timeout: int = 120, resources: list[str] | None = None, interval: float = POLL_INTERVAL
) -> dict[str, Any]:
    """Node ``name`` is in standby (``enabled``: it runs no resource, its VIPs moved to the
    other nodes) or takes resources again. Waits until no resource (or none of
    ``resources``) runs on a node put in standby, up to ``timeout`` seconds."""
    action = f"put {name} in standby" if enabled else f"take {name} out of standby"
    if missing := _unavailable(name, action, changes=True):
        return missing
    ret: dict[str, Any] = {"name": name, "result": False, "changes": {}, "comment": ""}
    try:
        nodes = __salt__["pacemaker_cluster.status"]()["nodes"]
    except CommandExecutionError as exc:
        ret["comment"] = f"Cannot read the cluster status: {exc}"
        return ret
    if name not in nodes:
        ret["comment"] = f"{name} is not a node of this cluster ({', '.join(sorted(nodes))})"
        return ret
    current = nodes[name]["standby"]
    if current != enabled:
        ret["changes"] = {"standby": {"old": current, "new": enabled}}
        if __opts__["test"]:
            ret.update(result=None, comment=f"Would {action}.")
            return ret
        try:
            __salt__["pacemaker_cluster.standby"](name, enabled)
        except CommandExecutionError as exc:
            ret.update(changes={}, comment=str(exc))
            return ret
    if not enabled or __opts__["test"]:
        ret.update(result=True, comment=f"{name} is {'in standby' if enabled else 'online, out of standby'}.")
        return ret

    def probe() -> tuple[bool, list[str]]:
        running = [r for r in __salt__["pacemaker_cluster.resources_on"](name) if resources is None or r in resources]
        return not running, running

    empty, running = prereqos_common.wait_until(probe, timeout, interval)
    if empty:
        ret.update(
            result=True,
            comment=f"{name} is in standby and runs no {'resource' if resources is None else ', '.join(resources)}.",
        )
    else:
        ret["comment"] = f"{name} is in standby but still runs {', '.join(running)} after {timeout}s"
    return ret


def configured(
    name: str,
    properties: dict[str, Any] | None = None,
    rsc_defaults: dict[str, Any] | None = None,
    primitives: dict[str, Any] | None = None,
    clones: dict[str, Any] | None = None,
    colocations: dict[str, Any] | None = None,
    orders: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Make the CIB hold these cluster properties, resource defaults, resources and constraints.

    Each argument has the shape ``prereqos_pacemaker.parse_configuration`` returns. Only
    objects that differ are written (``crm configure load update``); objects and
    properties not named here are left alone. ``changes`` is ``{id: {"old", "new"}}``
    (``properties``/``rsc_defaults`` for those), values of password-like parameters masked.
    """
    if missing := _unavailable(name, "configure the cluster resources", changes=True):
        return missing
    ret: dict[str, Any] = {"name": name, "result": False, "changes": {}, "comment": ""}
    sections = {
        "properties": properties,
        "rsc_defaults": rsc_defaults,
        "primitives": primitives,
        "clones": clones,
        "colocations": colocations,
        "orders": orders,
    }
    desired = {section: value for section, value in sections.items() if value is not None}
    try:
        changes = __salt__["pacemaker_cluster.apply"](desired, test=bool(__opts__["test"]))
    except (CommandExecutionError, SaltInvocationError) as exc:
        ret["comment"] = f"Pacemaker configuration not applied: {exc}"
        return ret
    if not changes:
        ret.update(result=True, comment="Pacemaker configuration is already as desired")
        return ret
    ret["changes"] = changes
    if __opts__["test"]:
        ret.update(result=None, comment=f"Would change: {', '.join(changes)}")
    else:
        ret.update(result=True, comment=f"Changed: {', '.join(changes)}")
    return ret
