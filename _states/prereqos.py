"""prereqos states: the preflight check, the health gate of the orchestration, and the
steps of planned maintenance (drain, undrain) on one controller."""

from __future__ import annotations

import importlib
import os
from collections.abc import Callable
from typing import Any

import prereqos_common
import prereqos_maintenance
import prereqos_settings
from salt.exceptions import CommandExecutionError

# A sync may have replaced a library since this process first imported it.
prereqos_common = importlib.reload(prereqos_common)
prereqos_maintenance = importlib.reload(prereqos_maintenance)
prereqos_settings = importlib.reload(prereqos_settings)

__virtualname__ = "prereqos"


def __virtual__() -> str | tuple[bool, str]:
    if "prereqos.health" not in __salt__:
        return (False, "the prereqos execution module is not loaded (run saltutil.sync_all)")
    return __virtualname__


def preflight(name: str, node: dict) -> dict:
    """Fail, changing nothing, when this node does not match ``node``: the pillar's
    expectation of it (derive's ``node_expectation``, passed by the SLS)."""
    ret = {"name": name, "changes": {}, "result": True, "comment": "node matches the pillar"}
    report = __salt__["prereqos.preflight"](node=node)
    if not report["ok"]:
        ret["result"] = False
        ret["comment"] = "preflight failed:\n" + "\n".join(report["problems"])
    return ret


def healthy(name: str, timeout: float = 300, interval: float = 3.0) -> dict:
    """Wait until every part of this node reports healthy, or fail with why.

    Planned maintenance (a drained controller, a node in standby) does not pass by
    waiting: it fails at once, saying so. Under test=True the health is read once:
    healthy passes, a problem predicts the wait.
    """
    test = bool(__opts__["test"])

    def probe() -> tuple[bool, dict]:
        report = __salt__["prereqos.health"]()
        return report["ok"] or bool(report.get("maintenance") and not report["problems"]), report

    settled, report = prereqos_common.wait_until(probe, 0 if test else timeout, interval)
    ret = {"name": name, "changes": {}, "result": True, "comment": "healthy"}
    if report["ok"]:
        return ret
    if settled:
        ret["result"] = False
        ret["comment"] = "in maintenance:\n" + "\n".join(report["maintenance"])
        return ret
    ret["result"] = None if test else False
    waited = "would wait for" if test else f"not healthy after {timeout}s:"
    ret["comment"] = f"{waited}\n" + "\n".join(report["problems"] + report.get("maintenance", []))
    return ret


# ------------------------------------------------------------------ maintenance


def _ret(name: str) -> dict[str, Any]:
    return {"name": name, "changes": {}, "result": True, "comment": ""}


def _node(node: str) -> dict[str, str]:
    """``{"id", "hostname"}`` of controller ``node``, from the facts of the last deploy."""
    for entry in __salt__["prereqos.facts"]()["nodes"]:
        if entry["id"] == node:
            return entry
    raise CommandExecutionError(f"{node} is not a controller of this site")


def ready_for(name: str, action: str, timeout: float = 0, interval: float = 3.0) -> dict:
    """Go or refuse, changing nothing: can controller ``name`` be drained (``action``
    ``drain``: this controller sees a whole, healthy cluster and no other drained node, at
    once; on ``name`` itself, no quorum queue would lose its majority, waiting up to
    ``timeout`` seconds for replicas that catch up, e.g. after the last node's restart) or
    undrained (``undrain``: ``name`` itself is healthy again, its maintenance aside; waits
    up to ``timeout`` seconds)."""
    ret = _ret(name)
    if action not in prereqos_maintenance.ACTIONS:
        ret.update(result=False, comment=f"action must be drain or undrain, not {action!r}")
        return ret
    me = __grains__["id"]
    wait = 0 if __opts__["test"] else timeout

    def asking(refusals: Callable[[], list[str]]) -> Callable[[], tuple[bool, list[str]]]:
        def probe() -> tuple[bool, list[str]]:
            try:
                found = refusals()
            except CommandExecutionError as exc:  # e.g. right after a reboot: ask again
                return False, [str(exc)]
            return not found, found

        return probe

    drained: list[str] = []

    def health_refusals() -> list[str]:
        report = __salt__["prereqos.health"]()
        if action == "undrain":
            return prereqos_maintenance.undrain_refusals(name, report["problems"])
        drained[:] = __salt__["prereqos.drained"]()
        return prereqos_maintenance.drain_refusals(name, drained, report["problems"], report.get("maintenance", []))

    def quorum_refusals() -> list[str]:
        return [
            f"quorum queue {queue} would lose its majority without {name}: wait until its replicas are online"
            for queue in __salt__["rabbitmq_cluster.quorum_critical"]()
        ]

    ready, refusals = prereqos_common.wait_until(asking(health_refusals), wait if action == "undrain" else 0, interval)
    if ready and action == "drain" and me == name and name not in drained:
        ready, refusals = prereqos_common.wait_until(asking(quorum_refusals), wait, interval)
    if ready:
        ret["comment"] = f"{me}: {name} can be {action}ed"
    else:
        ret.update(result=False, comment=f"{me} refuses to {action} {name}:\n" + "\n".join(refusals))
    return ret


def proxied_sessions_ended(name: str, address: str, hostname: str) -> dict:
    """No MariaDB session on this controller comes from controller ``name`` (at ``address``,
    called ``hostname``) any more. Once its VIPs left, what its haproxy still proxies is
    orphaned: the clients' packets reach the new VIP holder, which resets them, and an open
    transaction of such a session would hold its locks until haproxy gave the session up.
    Ending them lets the clients' retries through the new holder go on at once. Sessions
    are traffic, not configuration: like haproxy_server's cut sessions, the comment says
    which ended, the changes stay empty (whether any is left depends on the clients)."""
    ret = _ret(name)
    try:
        if __opts__["test"]:
            sessions = __salt__["galera_cluster.sessions_from"](address, hostname)
            ret["comment"] = f"would end the MariaDB sessions here that come from {name} (now {len(sessions)})"
            return ret
        ended = __salt__["galera_cluster.end_sessions_from"](address, hostname)
    except CommandExecutionError as exc:
        ret.update(result=False, comment=str(exc))
        return ret
    ret["comment"] = _sessions_comment(
        ended, f"ended the MariaDB sessions here that came from {name}", f"no MariaDB session here comes from {name}"
    )
    return ret


def _sessions_comment(ended: list[int], ended_text: str, none_text: str) -> str:
    """``ended_text: <ids>`` when sessions ``ended``, else ``none_text``."""
    return f"{ended_text}: {', '.join(map(str, ended))}" if ended else none_text


def _vip_resources(facts: dict) -> list[str]:
    """The pacemaker resources that hold this cluster's VIPs."""
    return [prereqos_settings.vip_resource(network) for network in facts["vips"]]


def orphaned_sessions_ended(name: str, address: str, hostname: str, timeout: float = 60, interval: float = 0.1) -> dict:
    """From the moment the VIPs that controller ``name`` (at ``address``, called
    ``hostname``) released for its drain are held by another controller (this node's own
    addresses, then the new holder's gratuitous ARP: the earliest moment a client can
    reach it), no idle MariaDB session on this controller comes from it, until nothing its
    haproxy proxied is left (pacemaker: it runs no resource, its haproxy stopped;
    keepalived: its haproxy keeps running, until no session from it is left here), up to
    ``timeout`` seconds each. Those sessions' clients lost them with the VIPs: an open
    transaction of one would hold its locks, and a client waiting for an answer would wait
    for its next TCP retransmission to be reset by the new holder; ending the session
    closes its connection, and the client reconnects to the new holder at once. Not before
    the VIPs arrived: a client reconnecting while they move would lose its SYN (a second).
    A session running a statement is left to answer (through the transparent bind), then
    ends once idle. Traffic, not configuration: the comment says which ended, no changes."""
    ret = _ret(name)
    if __opts__["test"]:
        ret["comment"] = (
            f"would end the idle MariaDB sessions here that come from {name} from the moment its VIPs "
            "are held elsewhere until nothing it proxied is left"
        )
        return ret
    ended: list[int] = []

    def arrived() -> tuple[bool, str]:
        holders = __salt__["prereqos.vip_holders"]()
        waiting = {network: holder for network, holder in holders.items() if holder in (None, name)}
        return not waiting, ", ".join(f"{net} held by {holder or 'no controller'}" for net, holder in waiting.items())

    try:
        pacemaker = __salt__["prereqos.facts"]()["vip_manager"] == "pacemaker"
        left = _standby_left(hostname) if pacemaker else _sessions_left(address, hostname)
        moved, detail = prereqos_common.wait_until(arrived, timeout, interval)
        if not moved:
            comment = f"the VIPs of {name} are not held by another controller after {timeout}s: {detail}"
            ret.update(result=False, comment=comment)
            return ret

        def swept() -> tuple[bool, str]:
            ended.extend(__salt__["galera_cluster.end_sessions_from"](address, hostname, idle=True))
            return left()

        done, detail = prereqos_common.wait_until(swept, timeout, interval)
    except CommandExecutionError as exc:
        ret.update(result=False, comment=str(exc))
        return ret
    if not done and pacemaker:
        ret.update(result=False, comment=f"{name} {detail} after {timeout}s")
        return ret
    ret["comment"] = _sessions_comment(
        ended,
        f"ended the idle MariaDB sessions here that came from {name} after its VIPs moved",
        f"no idle MariaDB session here came from {name} after its VIPs moved",
    ) + ("" if done else f"; after {timeout}s {detail}, left to the HAProxy step")
    return ret


def proxied_sessions_moved(
    name: str,
    drained: bool,
    listener: str,
    proxies: list[dict[str, str]],
    timeout: float = 10,
    up_timeout: float = 600,
    interval: float = 0.1,
) -> dict:
    """The MariaDB sessions the controllers' HAProxies (``proxies``: the Galera listener's
    servers, ``{"name", "address"}``, which are where they connect from) hold on this node move to the Galera
    writer: on controller ``name`` as it is ``drained``, or on one after it in ``listener``
    once ``name`` is back (from when this node's HAProxy has it UP there, up to
    ``up_timeout`` seconds). Each ends between two transactions (idle, none open), so its client
    reconnects through the VIP to the writer with nothing in flight; what is left after
    ``timeout`` seconds ends anyway (HAProxy's drain would cut it then; back, two nodes
    would take writes until its client closes it). Traffic: the comment says which ended,
    no changes."""
    ret = _ret(name)
    why = f"{name} is drained" if drained else f"{name} is back"
    try:
        hostname = _node(name)["hostname"]
        here = _node(__grains__["id"])["hostname"]
    except CommandExecutionError as exc:
        ret.update(result=False, comment=str(exc))
        return ret
    if not drained and not prereqos_maintenance.writer_returns([p["name"] for p in proxies], hostname, here):
        ret["comment"] = f"{hostname} comes after this node in {listener}: the sessions here stay"
        return ret
    if __opts__["test"]:
        ret["comment"] = f"would move the MariaDB sessions proxied to this node to the writer ({why})"
        return ret
    ended: list[int] = []

    def end(between_transactions: bool) -> int:
        """End the proxied sessions here (only those between transactions, if asked); how many are left."""
        for proxy in proxies:
            ended.extend(
                __salt__["galera_cluster.end_sessions_from"](
                    proxy["address"], proxy["name"], between_transactions=between_transactions
                )
            )
        return sum(len(__salt__["galera_cluster.sessions_from"](p["address"], p["name"])) for p in proxies)

    try:
        if not drained:

            def up() -> tuple[bool, str]:
                status = __salt__["prereqos.haproxy_servers"](hostname).get(listener, {}).get("status")
                return status == "UP", f"{hostname} is {status or 'not a server'} in {listener}"

            back, detail = prereqos_common.wait_until(up, up_timeout, interval)
            if not back:
                ret.update(result=False, comment=f"{detail} on this node's haproxy after {up_timeout}s")
                return ret

        def moved() -> tuple[bool, int]:
            left = end(between_transactions=True)
            return not left, left

        done, left = prereqos_common.wait_until(moved, timeout, interval)
        if not done:
            end(between_transactions=False)
    except CommandExecutionError as exc:
        ret.update(result=False, comment=str(exc))
        return ret
    ret["comment"] = _sessions_comment(
        ended,
        f"ended the MariaDB sessions proxied to this node ({why})",
        f"no MariaDB session is proxied to this node ({why})",
    ) + ("" if done else f"; ended the {left} still in a transaction after {timeout}s too")
    return ret


Probe = Callable[[], tuple[bool, str]]


def _standby_left(hostname: str) -> Probe:
    """Pacemaker: whether ``hostname``, in standby, runs no resource any more (its haproxy,
    which proxied the orphans, stopped)."""

    def left() -> tuple[bool, str]:
        running = __salt__["pacemaker_cluster.resources_on"](hostname)
        return not running, f"is in standby but still runs {', '.join(running)}"

    return left


def _sessions_left(address: str, hostname: str) -> Probe:
    """Keepalived: whether no MariaDB session here comes from the drained controller any
    more (its haproxy keeps running; one still running a statement after the timeout is cut
    by the HAProxy step)."""

    def left() -> tuple[bool, str]:
        sessions = __salt__["galera_cluster.sessions_from"](address, hostname)
        return not sessions, f"its sessions {', '.join(map(str, sessions))} still run statements"

    return left


def haproxy_server(name: str, drained: bool, timeout: float = 30, interval: float = 0.5) -> dict:
    """Controller ``name``'s servers in this node's haproxy are drained (``drained``: no new
    session, the current ones given up to ``timeout`` seconds to end, then maintenance with
    the rest cut) or ready again. At run time: haproxy.cfg says the same after a reload."""
    ret = _ret(name)
    try:
        facts = __salt__["prereqos.facts"]()
        hostname = _node(name)["hostname"]
        running = __salt__["service.status"](facts["service_names"]["haproxy"])
        if facts["vip_manager"] == "pacemaker":
            if not running:
                ret["comment"] = "haproxy is stopped on this node (pacemaker standby): nothing to change"
                return ret
            if __opts__["test"] and drained and name == __grains__["id"]:
                # The step before puts this node in standby, which stops haproxy here.
                ret["comment"] = "haproxy will be stopped on this node (pacemaker standby): nothing to change"
                return ret
        servers = __salt__["prereqos.haproxy_servers"](hostname)
    except CommandExecutionError as exc:
        ret.update(result=False, comment=str(exc))
        return ret
    want = "MAINT" if drained else "ready"
    todo = {
        listener: server["status"]
        for listener, server in servers.items()
        if (
            not prereqos_maintenance.in_maintenance(server["status"])
            if drained
            else prereqos_maintenance.out_of_rotation(server["status"])
        )
    }
    if not todo:
        ret["comment"] = f"{hostname}'s servers are {'in maintenance' if drained else 'ready'} in every listener"
        return ret
    ret["changes"] = {"servers": {"old": todo, "new": dict.fromkeys(todo, want)}}
    if __opts__["test"]:
        ret.update(result=None, comment=f"would set {hostname} to {want} in {', '.join(todo)}")
        return ret
    try:
        if drained:
            __salt__["prereqos.haproxy_set_server"](hostname, "drain")

            def probe() -> tuple[bool, dict[str, int]]:
                now = __salt__["prereqos.haproxy_servers"](hostname)
                sessions = {
                    listener: now[listener]["sessions"] for listener in todo if now.get(listener, {}).get("sessions")
                }
                return not sessions, sessions

            _, left = prereqos_common.wait_until(probe, timeout, interval)
            __salt__["prereqos.haproxy_set_server"](hostname, "maint")
            ret["comment"] = f"{hostname} drained and in maintenance" + (
                f" (sessions cut after {timeout}s: {left})" if left else ""
            )
        else:
            __salt__["prereqos.haproxy_set_server"](hostname, "ready")
            ret["comment"] = f"{hostname} is ready"
    except CommandExecutionError as exc:
        ret.update(result=False, changes={}, comment=str(exc))
    return ret


def vips_released(name: str, released: bool, timeout: float = 60, interval: float = 0.5) -> dict:
    """This controller (``name``) holds no VIP and claims none (``released``), or may claim
    them again: keepalived's track file (its VRRP instances go to FAULT), or pacemaker
    standby. A released VIP is waited for until it is gone from here, up to ``timeout``."""
    ret = _ret(name)
    try:
        facts = __salt__["prereqos.facts"]()
        hostname = _node(name)["hostname"]
    except CommandExecutionError as exc:
        ret.update(result=False, comment=str(exc))
        return ret
    if facts["vip_manager"] == "pacemaker":
        # Its VIPs only: orphaned_sessions_ended waits for the rest (haproxy's graceful stop).
        vips = _vip_resources(facts)
        standby = __states__["pacemaker_cluster.standby"](
            hostname, released, timeout=int(timeout), resources=vips, interval=interval
        )
        return {**standby, "name": name}
    path = prereqos_maintenance.VIPS_RELEASED_PATH
    want = "1\n" if released else "0\n"
    try:
        with open(path, encoding="ascii") as handle:
            current = handle.read()
    except FileNotFoundError:
        current = "0\n"
    if current.strip() != want.strip():
        ret["changes"] = {"vips_released": {"old": current.strip() == "1", "new": released}}
        if __opts__["test"]:
            ret.update(result=None, comment=f"would {'release the VIPs' if released else 'let keepalived claim VIPs'}")
            return ret
        os.makedirs(os.path.dirname(path), exist_ok=True)
        prereqos_common.atomic_write(path, want.encode(), 0o644)
    if not released or __opts__["test"]:
        ret["comment"] = "VIPs released" if released else "keepalived may claim the VIPs"
        return ret

    def probe() -> tuple[bool, list[str]]:
        held = __salt__["prereqos.vips_held"]()
        return not held, held

    gone, held = prereqos_common.wait_until(probe, timeout, interval)
    if gone:
        ret["comment"] = "VIPs released: keepalived claims none here"
    else:
        ret.update(
            result=False,
            comment=f"{name} still holds {', '.join(held)} after {timeout}s: is keepalived.conf of this release "
            "deployed (its track file)? Run orch.prereqos, then undrain and drain again",
        )
    return ret
