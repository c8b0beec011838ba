"""Galera cluster states: membership decided from the whole cluster's live state.

States
    ``member``        join this node to the Primary component, or bootstrap a new
                      cluster from the bootstrap node when every node is fresh;
                      refuse a full outage (see ``recovered``).
    ``synced``        a gate: wait until this node is Synced in a Primary component
                      of at least ``size`` nodes (the orchestration's health check).
    ``user_present``  a MariaDB user with a password from pillar, socket login and grants.
    ``recovered``     the explicit recovery after a full outage (see below).
    ``published``     this node's facts sent to the mine, for the peers' decisions.

How ``member`` decides: every controller publishes
:func:`galera_cluster.node_state <_modules.galera_cluster.node_state>` to the mine as
``prereqos_galera_state`` (the orchestration runs ``mine.send`` before each step);
``member`` reads them, replaces its own entry by a live reading and decides with
``prereqos_galera.plan`` (``_utils/prereqos_galera.py``). Mine entries that are
missing, malformed or older than ``max_age`` seconds count as unknown nodes: an
unknown node never lets a bootstrap happen.

Recovery after a full outage (``recovered``), step by step for ``orch/prereqos_recover.sls``:

1. ``saltutil.sync_all`` on the controllers.
2. ``mine.send prereqos_galera_recovery mine_function=galera_cluster.recovery_facts``
   on every controller (``fail_minions`` = the controllers, so that an unreachable
   node does not stop the run: it then counts as unknown). Each node reports its
   node_state and, when stopped and not fresh, the position recovered by
   ``mariadbd --wsrep-recover`` (a few seconds of InnoDB recovery per node).
3. ``galera_cluster.recovered`` on every controller at once, with the same
   ``nodes`` and the operator's optional ``forced_node``. Every node computes the
   same ``prereqos_galera.recovery_plan`` from the mine: the node marked
   ``safe_to_bootstrap``, else the highest recovered seqno; refused when ambiguous
   (tie, an unknown node, a failed recovery, different cluster uuids) unless
   ``forced_node`` names the node; refused (result False) while a node still runs
   outside a Primary component; nothing to do (result True) when a Primary component
   runs. The chosen node checks that its grastate.dat did not change since step 2,
   sets ``safe_to_bootstrap: 1`` if needed, runs ``galera_new_cluster`` and waits
   until it is Synced; the other nodes only report the choice. The comment lists
   every node's facts and why the node was chosen.
4. ``mine.send prereqos_galera_state mine_function=galera_cluster.node_state``.
5. ``galera_cluster.member`` then ``galera_cluster.synced`` on each controller,
   one at a time (the ordinary join steps): the bootstrapped node has nothing to do,
   the others rejoin it by IST or SST.

Under ``test=True`` orchestration does not run ``mine.send``: ``recovered`` then
judges the facts already in the mine and calls them stale after ``max_age``.
"""

from __future__ import annotations

import importlib
import time
from typing import Any

import prereqos_common
import prereqos_galera
import salt.utils.data
from salt.exceptions import CommandExecutionError

# A sync may have replaced a library since this process first imported it.
prereqos_common = importlib.reload(prereqos_common)
prereqos_galera = importlib.reload(prereqos_galera)

__virtualname__ = "galera_cluster"

POLL_INTERVAL = 2.0
MAX_AGE = 300


def __virtual__() -> str:
    # Always loaded: on a fresh node the tool comes with an earlier step of the
    # same run, and test=True must predict these states (see _unavailable).
    return __virtualname__


def _unavailable(name: str, action: str, changes: bool = True) -> dict[str, Any] | None:
    """None when mariadb-server is installed, else the return of a state that cannot run yet."""
    if "galera_cluster.node_state" in __salt__:
        return None
    return prereqos_common.not_installed(name, "mariadb-server", action, changes, bool(__opts__["test"]))


def _ret(name: str) -> dict[str, Any]:
    return {"name": name, "result": False, "changes": {}, "comment": ""}


def _gather(
    nodes: list[str], mine_function: str, max_age: float, me: str | None = None, local: dict[str, Any] | None = None
) -> tuple[dict[str, Any], list[str]]:
    """Every node's facts from the mine (``local`` for ``me``) and notes on the unknown ones."""
    data = __salt__["mine.get"](nodes, mine_function, tgt_type="list")
    data = data if isinstance(data, dict) else {}
    now = time.time()
    states: dict[str, Any] = {}
    notes = []
    for node in nodes:
        if node == me:
            states[node] = local
            continue
        problem = prereqos_galera.entry_problem(data.get(node), now, max_age)
        if problem:
            notes.append(f"{node}: {problem}")
        states[node] = None if problem else data[node]
    return states, notes


def _comment(*parts: str) -> str:
    return "\n".join(part for part in parts if part)


def _wait_synced(size: int | None, timeout: float) -> tuple[bool, dict[str, Any]]:
    """Poll health until Synced in a Primary component (of ``size`` nodes or more), for ``timeout`` seconds."""

    def probe() -> tuple[bool, dict[str, Any]]:
        report = __salt__["galera_cluster.health"](expected_size=size)
        return report["ok"], report

    return prereqos_common.wait_until(probe, max(0.0, timeout), POLL_INTERVAL)


def member(
    name: str,
    nodes: list[str],
    bootstrap_node: str,
    mine_function: str,
    datadir: str,
    service: str = "mariadb",
    timeout: int = 600,
    max_age: int = MAX_AGE,
) -> dict[str, Any]:
    """Make this node a Synced member of the Galera cluster ``name`` (the name is cosmetic).

    nodes
        The minion ids of every controller.
    bootstrap_node
        The node that starts a brand-new cluster (only when every node is fresh).
    mine_function
        The mine entry holding each node's ``galera_cluster.node_state``.
    datadir
        MariaDB's datadir (where grastate.dat is).
    timeout
        Seconds to wait for the start and for Synced.
    max_age
        Mine entries older than this many seconds count as unknown.

    A standalone server (Debian's package starts one) is stopped before it joins or
    bootstraps; a member is never restarted nor bootstrapped again.
    """
    if missing := _unavailable(name, "bootstrap a new cluster or join its Primary component", changes=True):
        return missing
    ret = _ret(name)
    me = __opts__["id"]
    if me not in nodes:
        ret["comment"] = f"This minion ({me}) is not in nodes {nodes}"
        return ret
    try:
        local = __salt__["galera_cluster.node_state"](datadir=datadir)
    except CommandExecutionError as exc:
        ret["comment"] = f"Cannot read this node's Galera state: {exc}"
        return ret
    states, notes = _gather(nodes, mine_function, max_age, me, local)
    decision = prereqos_galera.plan(me, bootstrap_node, states)
    action, reason = decision["action"], decision["reason"]
    if action in ("none", "refuse"):
        ret["result"] = action == "none"
        ret["comment"] = _comment(reason, *notes)
        return ret
    before = prereqos_galera.describe(local)
    if __opts__["test"]:
        ret["result"] = None
        ret["comment"] = _comment(f"Would {action}: {reason}", *notes)
        if action != "wait":
            done = "bootstrapped" if action == "bootstrap" else "joined"
            ret["changes"] = {"galera": {"old": before, "new": f"{done}, Synced"}}
        return ret
    deadline = time.monotonic() + timeout
    try:
        if action != "wait" and local["running"]:
            __salt__["galera_cluster.stop"](service)
            ret["changes"] = {"galera": {"old": before, "new": "stopped"}}
        if action == "join":
            __salt__["galera_cluster.start"](service, timeout=timeout)
        elif action == "bootstrap":
            __salt__["galera_cluster.bootstrap"](service, datadir=datadir)
    except CommandExecutionError as exc:
        ret["comment"] = _comment(f"Could not {action}: {exc}", reason)
        return ret
    ok, report = _wait_synced(1 if action == "bootstrap" else None, deadline - time.monotonic())
    health = prereqos_galera.health_text(report)
    if action != "wait":
        done = "bootstrapped" if action == "bootstrap" else "joined"
        ret["changes"] = {"galera": {"old": before, "new": f"{done}, {health}"}}
    ret["result"] = ok
    if ok:
        ret["comment"] = _comment(f"{reason}: now {health}", *notes)
    else:
        ret["comment"] = _comment(f"{reason}: not Synced after {timeout} s: {health}", *notes)
    return ret


def published(
    name: str, mine_function: str = "galera_cluster.node_state", arguments: dict[str, Any] | None = None
) -> dict[str, Any]:
    """Publish this node's live Galera facts to the mine as ``name``, for the peers' decisions.

    mine_function
        ``galera_cluster.node_state``, or ``galera_cluster.recovery_facts`` after a full outage.
    arguments
        Keyword arguments of ``mine_function``, e.g. ``{datadir: /var/lib/mysql}``.

    Only Salt's mine changes, never the node: it runs under test=True too (so that
    ``member`` predicts from fresh facts) and reports no changes.
    """
    if missing := _unavailable(name, "publish its Galera state", changes=False):
        return missing
    ret = _ret(name)
    if __salt__["mine.send"](name, mine_function=mine_function, **(arguments or {})):
        ret.update(result=True, comment=f"{mine_function} published to the mine as {name}")
    else:
        ret["comment"] = f"mine.send of {mine_function} failed: see the minion log"
    return ret


def synced(name: str, size: int, timeout: int = 300) -> dict[str, Any]:
    """Gate: wait until this node is Synced in a Primary component of at least ``size`` nodes."""
    if missing := _unavailable(name, "wait until this node is Synced", changes=False):
        return missing
    ret = _ret(name)
    report = __salt__["galera_cluster.health"](expected_size=size)
    if report["ok"]:
        ret["result"] = True
        ret["comment"] = f"Galera is {prereqos_galera.health_text(report)} (at least {size} wanted)"
        return ret
    if __opts__["test"]:
        ret["result"] = None
        now = prereqos_galera.health_text(report)
        ret["comment"] = f"Would wait up to {timeout} s for Synced and cluster size {size}; now: {now}"
        return ret
    ok, report = _wait_synced(size, timeout)
    now = prereqos_galera.health_text(report)
    ret["result"] = ok
    if ok:
        ret["comment"] = f"Galera is {now} (at least {size} wanted)"
    else:
        ret["comment"] = f"Galera not Synced with cluster size {size} after {timeout} s: {now}"
    return ret


def user_present(
    name: str,
    password_pillar: str,
    host: str = "localhost",
    grants: list[str] | None = None,
    unix_socket: bool = False,
) -> dict[str, Any]:
    """A MariaDB user ``'name'@'host'`` with the password found in pillar and these grants.

    password_pillar
        Colon-separated pillar key of the password, e.g. ``site:secrets:db_sst_password``.
    grants
        ``"PRIVILEGE[, PRIVILEGE] ON db.table [WITH GRANT OPTION]"`` strings; missing
        ones are granted, extra ones are left alone.
    unix_socket
        Keep socket login besides the password (for root).

    The password never appears in a command line, the log, the comment or the changes.
    """
    if missing := _unavailable(name, f"create MariaDB user {name}", changes=True):
        return missing
    ret = _ret(name)
    account = f"{name}@{host}"
    password = (
        salt.utils.data.traverse_dict_and_list(__pillar__, password_pillar, default=None, delimiter=":")
        if password_pillar
        else None
    )
    if not isinstance(password, str) or not password:
        ret["comment"] = f"The password of {account}: pillar key {password_pillar!r} is missing or empty"
        return ret
    try:
        if __opts__["test"]:
            check = __salt__["galera_cluster.user_check"](name, host, password, grants, unix_socket)
            changes = prereqos_galera.user_changes(check, unix_socket)
        else:
            changes = __salt__["galera_cluster.user_present"](name, host, password, grants, unix_socket)["changes"]
    except CommandExecutionError as exc:
        ret["comment"] = f"User {account}: {prereqos_common.mask(str(exc), [password])}"
        return ret
    ret["changes"] = changes
    if not changes:
        ret["result"] = True
        ret["comment"] = f"User {account} is as wanted"
    elif __opts__["test"]:
        ret["result"] = None
        ret["comment"] = f"User {account} would be updated: {', '.join(changes)}"
    else:
        ret["result"] = True
        ret["comment"] = f"User {account} updated: {', '.join(changes)}"
    return ret


def recovered(
    name: str,
    nodes: list[str],
    mine_function: str,
    datadir: str,
    forced_node: str | None = None,
    bootstrap_node: str | None = None,
    service: str = "mariadb",
    timeout: int = 600,
    max_age: int = MAX_AGE,
) -> dict[str, Any]:
    """After a full outage, bootstrap the cluster from the right node (run on every node).

    nodes
        The minion ids of every controller.
    mine_function
        The mine entry holding each node's ``galera_cluster.recovery_facts``.
    datadir
        MariaDB's datadir (where grastate.dat is).
    forced_node
        The operator's explicit choice, for an ambiguous case (a node lost for good,
        data of different clusters). Never overrides a running node.
    bootstrap_node
        Preferred among nodes tied on the highest seqno (they hold the same data).

    Every node computes the same choice from the mine; only the chosen node acts
    (safe_to_bootstrap set if needed, ``galera_new_cluster``, wait until Synced).
    Result True with no changes when no recovery is needed (a Primary component runs);
    False when the recovery is refused. See the module docstring for the orchestration.
    """
    ret = _ret(name)
    me = __opts__["id"]
    if me not in nodes:
        ret["comment"] = f"This minion ({me}) is not in nodes {nodes}"
        return ret
    states, notes = _gather(nodes, mine_function, max_age)
    decision = prereqos_galera.recovery_plan(states, forced_node, bootstrap_node)
    facts = ["Facts:", *prereqos_galera.table_text(decision["table"]), *notes]
    chosen = decision["node"]
    if chosen is None:
        ret["result"] = not decision["needed"]
        prefix = "No recovery needed" if not decision["needed"] else "Recovery refused, nothing was changed"
        ret["comment"] = _comment(f"{prefix}: {decision['refused']}", *facts)
        return ret
    why = f"{chosen} bootstraps the cluster: {decision['reason']}"
    if chosen != me:
        ret["result"] = True
        ret["comment"] = _comment(f"{why}. This node rejoins it afterwards.", *facts)
        return ret
    try:
        local = __salt__["galera_cluster.node_state"](datadir=datadir)
    except CommandExecutionError as exc:
        ret["comment"] = _comment(f"{why}, but this node's state cannot be read: {exc}", *facts)
        return ret
    if local["running"] or local["grastate"] != states[me]["grastate"]:
        ret["comment"] = _comment(
            f"{why}, but this node changed since its facts were collected ({prereqos_galera.describe(local)}): "
            "nothing was changed; run the recovery again",
            *facts,
        )
        return ret
    return _bootstrap_chosen(ret, local, why, facts, service, datadir, timeout)


def _bootstrap_chosen(
    ret: dict[str, Any], local: dict[str, Any], why: str, facts: list[str], service: str, datadir: str, timeout: int
) -> dict[str, Any]:
    """Mark safe_to_bootstrap if needed, bootstrap, wait until Synced."""
    before = f"stopped after a full outage ({prereqos_galera.describe(local)})"
    safe = local["grastate"]["safe_to_bootstrap"]
    if __opts__["test"]:
        ret["result"] = None
        if not safe:
            ret["changes"]["safe_to_bootstrap"] = {"old": False, "new": True}
        ret["changes"]["galera"] = {"old": before, "new": "bootstrapped, Synced"}
        ret["comment"] = _comment(f"Would bootstrap: {why}", *facts)
        return ret
    deadline = time.monotonic() + timeout
    try:
        if not safe:
            __salt__["galera_cluster.mark_safe_to_bootstrap"](datadir=datadir, service=service)
            ret["changes"]["safe_to_bootstrap"] = {"old": False, "new": True}
        __salt__["galera_cluster.bootstrap"](service, datadir=datadir)
    except CommandExecutionError as exc:
        ret["comment"] = _comment(f"{why}; bootstrap failed: {exc}", *facts)
        return ret
    ok, report = _wait_synced(1, deadline - time.monotonic())
    health = prereqos_galera.health_text(report)
    ret["changes"]["galera"] = {"old": before, "new": f"bootstrapped, {health}"}
    ret["result"] = ok
    state = "now" if ok else f"not Synced after {timeout} s:"
    ret["comment"] = _comment(f"{why}; {state} {health}", *facts)
    return ret
