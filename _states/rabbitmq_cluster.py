"""States for a RabbitMQ cluster: Erlang cookie, membership, health gate, vhosts, users, policies.

Built on the ``rabbitmq_cluster`` execution module. Each state reads, compares and acts only
on a difference; with ``test=True`` it predicts the changes and changes nothing. Secrets
(the Erlang cookie, passwords) are read from ``__pillar__`` by key, so they never appear in
the SLS, and never in a comment or in ``changes``.

.. code-block:: yaml

    rabbitmq-cookie:
      rabbitmq_cluster.cookie:
        - name: /var/lib/rabbitmq/.erlang.cookie
        - pillar_key: site:secrets:erlang_cookie

    rabbitmq-joined:
      rabbitmq_cluster.joined:
        - name: rabbit@ctrl-1

    openstack:
      rabbitmq_cluster.user_present:
        - password_pillar: site:secrets:rabbitmq_users:openstack
        - permissions:
            /: ['.*', '.*', '.*']
"""

from __future__ import annotations

import grp
import importlib
import os
import pwd
import stat
from typing import Any

import prereqos_common
import prereqos_rabbitmq
import salt.utils.data
from salt.exceptions import CommandExecutionError

# A sync may have replaced a library since this process first imported it.
prereqos_common = importlib.reload(prereqos_common)
prereqos_rabbitmq = importlib.reload(prereqos_rabbitmq)

__virtualname__ = "rabbitmq_cluster"

COOKIE_MODE = 0o400
POLL_INTERVAL = 2  # seconds between two cluster_status reads in running_nodes


def __virtual__() -> str:
    # Always loaded: on a fresh node the tool comes with an earlier step of the
    # same run, and test=True must predict these states (see _unavailable).
    return __virtualname__


def _unavailable(name: str, action: str, changes: bool = True) -> dict[str, Any] | None:
    """None when rabbitmq-server is installed, else the return of a state that cannot run yet."""
    if "rabbitmq_cluster.cluster_status" in __salt__:
        return None
    return prereqos_common.not_installed(name, "rabbitmq-server", action, changes, _test())


def _ret(name: str) -> dict[str, Any]:
    return {"name": name, "result": True, "changes": {}, "comment": ""}


def _fail(ret: dict[str, Any], comment: str) -> dict[str, Any]:
    ret.update(result=False, comment=comment)
    return ret


def _test() -> bool:
    return bool(__opts__.get("test"))


def _secret(key: str) -> Any:
    """A pillar value by colon-separated key, read from ``__pillar__`` (``pillar.get`` masks it in 3008)."""
    return salt.utils.data.traverse_dict_and_list(__pillar__, key, default=None, delimiter=":")


# ---------------------------------------------------------------------------
# Erlang cookie


def _read_file(path: str) -> tuple[str | None, os.stat_result | None]:
    """The text and stat of ``path``, or (None, None) when it does not exist."""
    try:
        with open(path, encoding="ascii", errors="replace") as handle:
            return handle.read(), os.stat(path)
    except FileNotFoundError:
        return None, None


def _owner(uid: int, gid: int) -> str:
    """``user:group`` of numeric ids, the numbers when they have no name."""
    try:
        user = pwd.getpwuid(uid).pw_name
    except KeyError:
        user = str(uid)
    try:
        group = grp.getgrgid(gid).gr_name
    except KeyError:
        group = str(gid)
    return f"{user}:{group}"


def cookie(
    name: str,
    pillar_key: str,
    service: str = "rabbitmq-server",
    user: str = "rabbitmq",
    group: str = "rabbitmq",
) -> dict[str, Any]:
    """The Erlang cookie file ``name`` holds the pillar value at ``pillar_key``, mode 0400, owned ``user:group``.

    A running ``service`` reads the cookie only at start: when the content changes it is
    stopped, the file written, and started again. The cookie never appears in the result.
    ``user``/``group``: the file's owner (the rabbitmq-server package's account).
    """
    ret = _ret(name)
    value = _secret(pillar_key)
    problem = prereqos_rabbitmq.cookie_problem(value)
    if problem:
        return _fail(ret, f"Pillar key {pillar_key} {problem}.")
    try:
        uid, gid = pwd.getpwnam(user).pw_uid, grp.getgrnam(group).gr_gid
    except KeyError:
        uid = gid = None
    if uid is None or gid is None or not os.path.isdir(os.path.dirname(name)):
        if _test():  # the package install before this state is only predicted too
            ret.update(result=None, changes={"cookie": {"old": "absent", "new": "set from pillar"}})
            ret["comment"] = f"{name} would be written once rabbitmq-server is installed."
            return ret
        return _fail(
            ret,
            f"User/group {user}:{group} or directory {os.path.dirname(name)} is missing: "
            "install rabbitmq-server before writing the cookie.",
        )
    try:
        content, info = _read_file(name)
    except OSError as exc:
        return _fail(ret, f"Cannot read {name}: {exc.strerror}.")

    changes: dict[str, Any] = {}
    # Erlang ignores one trailing newline in the cookie file.
    content_differs = content is None or content.removesuffix("\n") != value
    if content_differs:
        changes["cookie"] = {"old": "absent" if content is None else "differs", "new": "set from pillar"}
    if info is not None and stat.S_IMODE(info.st_mode) != COOKIE_MODE:
        changes["mode"] = {"old": f"{stat.S_IMODE(info.st_mode):04o}", "new": f"{COOKIE_MODE:04o}"}
    if info is not None and (info.st_uid, info.st_gid) != (uid, gid):
        changes["owner"] = {"old": _owner(info.st_uid, info.st_gid), "new": f"{user}:{group}"}
    if not changes:
        ret["comment"] = f"{name} already holds the cookie from pillar, mode 0400, owned {user}:{group}."
        return ret

    restart = content_differs and bool(__salt__["service.status"](service))
    if restart:
        changes["service"] = {"old": "running", "new": "restarted"}
    if _test():
        ret.update(result=None, changes=changes)
        ret["comment"] = f"{name} would be updated ({', '.join(sorted(changes))})" + (
            f"; {service} would be restarted to read the new cookie." if restart else "."
        )
        return ret

    try:
        if content_differs:
            if restart and not __salt__["service.stop"](service):
                return _fail(ret, f"Could not stop {service}, so the cookie was not changed: check its logs.")
            prereqos_common.atomic_write(name, value.encode("ascii"), COOKIE_MODE, uid, gid)
        else:
            os.chmod(name, COOKIE_MODE)
            os.chown(name, uid, gid)
    except OSError as exc:
        comment = f"Cannot write {name}: {exc.strerror}."
        if restart:  # the old cookie is still in place: bring the node back as it was
            started = __salt__["service.start"](service)
            comment += (
                f" {service} started again with the old cookie."
                if started
                else f" {service} is stopped: it failed to start."
            )
        return _fail(ret, comment)
    ret["changes"] = changes
    if restart and not __salt__["service.start"](service):
        return _fail(ret, f"The cookie was written but {service} did not start again: see journalctl -u {service}.")
    ret["comment"] = f"{name} updated ({', '.join(sorted(changes))})."
    return ret


# ---------------------------------------------------------------------------
# Membership and health


def joined(name: str) -> dict[str, Any]:
    """The local node is a member of the cluster of node ``name`` (e.g. ``rabbit@ctrl-1``).

    Joins only a node that is not a member of any cluster and holds no messages; a member of
    another cluster is never reset (result False, with what to do).
    """
    if missing := _unavailable(name, f"join the cluster of {name}", changes=True):
        return missing
    ret = _ret(name)
    try:
        check = __salt__["rabbitmq_cluster.join_check"](name)
    except CommandExecutionError as exc:
        return _fail(ret, f"Cannot read the local RabbitMQ node's state: {exc}")
    local, members = check["node"], check["members"]
    if check["member"]:
        ret["comment"] = f"{local} is already in the cluster of {name}."
        return ret
    if check["refusals"]:
        return _fail(ret, " ".join(check["refusals"]))
    if _test():
        ret.update(
            result=None, comment=f"{local} would join the cluster of {name} (stop_app, join_cluster, start_app)."
        )
        ret["changes"] = {"members": {"old": members, "new": f"the members of {name}'s cluster and {local}"}}
        return ret
    try:
        result = __salt__["rabbitmq_cluster.join"](name)
    except CommandExecutionError as exc:
        return _fail(ret, str(exc))
    if not result["changed"]:  # joined by someone else since the check
        ret["comment"] = f"{local} is already in the cluster of {name}."
        return ret
    ret["changes"] = {"members": {"old": members, "new": result["members"]}}
    ret["comment"] = f"{local} joined the cluster of {name}."
    return ret


def running_nodes(name: str, nodes: list[str], timeout: int = 300) -> dict[str, Any]:
    """Wait until every node in ``nodes`` runs in the local node's cluster with no partition.

    A health gate for orchestration (never a sleep): polls every 2 s for up to ``timeout``
    seconds; fails with the last status seen. Changes nothing.
    """
    if missing := _unavailable(name, "wait until the nodes run", changes=False):
        return missing
    ret = _ret(name)
    if not isinstance(nodes, list) or not nodes or not all(isinstance(node, str) for node in nodes):
        return _fail(ret, f"nodes must be a non-empty list of node names like rabbit@ctrl-1, got {nodes!r}.")

    def probe() -> tuple[bool, dict[str, Any]]:
        health = __salt__["rabbitmq_cluster.health"](nodes, queues=False)
        return not prereqos_rabbitmq.waiting_for(nodes, health), health

    met, health = prereqos_common.wait_until(probe, 0 if _test() else timeout, POLL_INTERVAL)
    if met:
        ret["comment"] = f"All of {', '.join(nodes)} are running, with no partition."
        return ret
    waiting = "; ".join(prereqos_rabbitmq.waiting_for(nodes, health))
    if _test():
        ret.update(result=None, comment=f"Would wait up to {timeout} s for {waiting}.")
        return ret
    running = ", ".join(health["running_nodes"]) or "none"
    return _fail(ret, f"After {timeout} s, {waiting}. Running: {running}. " + " ".join(health["problems"]))


def maintenance(name: str, enabled: bool) -> dict[str, Any]:
    """The local RabbitMQ node (``name``, e.g. ``rabbit@ctrl-2``) is in maintenance mode
    (``enabled``: quorum queue leaders moved away, clients disconnected) or serves clients."""
    action = "put the node in maintenance mode" if enabled else "bring the node out of maintenance mode"
    if missing := _unavailable(name, action, changes=True):
        return missing
    ret = _ret(name)
    try:
        status = __salt__["rabbitmq_cluster.cluster_status"]()
    except CommandExecutionError as exc:
        return _fail(ret, f"Cannot read the local RabbitMQ node's state: {exc}")
    if status["node"] != name:
        return _fail(ret, f"The local RabbitMQ node is {status['node']}, not {name}: target {name}'s controller.")
    current = name in status["maintenance"]
    state = {True: "in maintenance mode", False: "serving clients"}
    if current == enabled:
        ret["comment"] = f"{name} is {state[enabled]}."
        return ret
    ret["changes"] = {"maintenance": {"old": current, "new": enabled}}
    if _test():
        ret.update(result=None, comment=f"Would {action} ({name}).")
        return ret
    try:
        __salt__["rabbitmq_cluster.drain" if enabled else "rabbitmq_cluster.revive"]()
    except CommandExecutionError as exc:
        ret["changes"] = {}
        return _fail(ret, str(exc))
    ret["comment"] = f"{name} is {state[enabled]}."
    return ret


# ---------------------------------------------------------------------------
# Vhosts, users, permissions, policies


def vhost_present(name: str) -> dict[str, Any]:
    """Virtual host ``name`` exists."""
    if missing := _unavailable(name, f"create virtual host {name}", changes=True):
        return missing
    ret = _ret(name)
    try:
        if name in __salt__["rabbitmq_cluster.list_vhosts"]():
            ret["comment"] = f"Virtual host {name} exists."
            return ret
        ret["changes"] = {"vhost": {"old": None, "new": name}}
        if _test():
            ret.update(result=None, comment=f"Virtual host {name} would be created.")
            return ret
        __salt__["rabbitmq_cluster.add_vhost"](name)
    except CommandExecutionError as exc:
        ret["changes"] = {}
        return _fail(ret, str(exc))
    ret["comment"] = f"Virtual host {name} created."
    return ret


def _user_changes(
    name: str, password: str, tags: list[str] | None, permissions: dict[str, Any] | None, users: dict[str, Any]
) -> dict[str, Any]:
    """What must change for user ``name``: a dict in ``changes`` form, free of the password."""
    user = users.get(name)
    password_ok = user is not None and __salt__["rabbitmq_cluster.check_password"](name, password)
    wanted = {vhost: prereqos_rabbitmq.permission_spec(vhost, spec) for vhost, spec in (permissions or {}).items()}
    vhosts = __salt__["rabbitmq_cluster.list_vhosts"]() if wanted else {}
    held: dict[str, dict[str, str] | None] = {}
    for vhost in sorted(wanted):
        if vhost not in vhosts:
            if not _test():  # under test=True, a vhost_present before this state would create it
                raise CommandExecutionError(
                    f"virtual host {vhost} does not exist: put a rabbitmq_cluster.vhost_present for it "
                    f"before user {name} (require it)"
                )
        elif user is not None:
            held[vhost] = __salt__["rabbitmq_cluster.list_permissions"](vhost).get(name)
    return prereqos_rabbitmq.user_changes(name, user, password_ok, tags, wanted, held)


def user_present(
    name: str,
    password_pillar: str,
    tags: list[str] | None = None,
    permissions: dict[str, list[str]] | None = None,
) -> dict[str, Any]:
    """User ``name`` exists with the password found in pillar at ``password_pillar``.

    ``tags``: the user's exact tags (None leaves them alone). ``permissions``:
    ``{vhost: [configure, write, read]}``; vhosts not listed are left alone.
    The password is compared by hash and never shown: changes say ``differs``/``updated``.
    """
    if missing := _unavailable(name, f"create user {name}", changes=True):
        return missing
    ret = _ret(name)
    password = _secret(password_pillar)
    if not isinstance(password, str) or not password:
        return _fail(
            ret, f"Pillar key {password_pillar} is not set: it must hold the password of RabbitMQ user {name}."
        )
    try:
        changes = _user_changes(name, password, tags, permissions, __salt__["rabbitmq_cluster.list_users"]())
        if not changes:
            ret["comment"] = f"User {name} is as wanted."
            return ret
        sets_password = "user" in changes or "password" in changes
        problem = prereqos_rabbitmq.password_problem(name, password) if sets_password else None
        if problem:
            return _fail(ret, f"Nothing was changed: {problem}; choose another one in pillar.")
        done = "created" if "user" in changes else "updated"
        if _test():
            ret.update(result=None, changes=changes, comment=f"User {name} would be {done} ({', '.join(changes)}).")
            return ret
        if "user" in changes:
            __salt__["rabbitmq_cluster.add_user"](name, password)
        elif "password" in changes:
            __salt__["rabbitmq_cluster.change_password"](name, password)
        if "tags" in changes:
            __salt__["rabbitmq_cluster.set_user_tags"](name, changes["tags"]["new"])
        for vhost, change in changes.get("permissions", {}).items():
            __salt__["rabbitmq_cluster.set_permissions"](name, vhost, *change["new"])
    except CommandExecutionError as exc:
        return _fail(ret, f"User {name}: {exc}")
    ret.update(changes=changes, comment=f"User {name} {done} ({', '.join(changes)}).")
    return ret


def user_absent(name: str) -> dict[str, Any]:
    """User ``name`` does not exist (e.g. ``guest``)."""
    if missing := _unavailable(name, f"remove user {name} if present", changes=True):
        return missing
    ret = _ret(name)
    try:
        if name not in __salt__["rabbitmq_cluster.list_users"]():
            ret["comment"] = f"User {name} is absent."
            return ret
        ret["changes"] = {"user": {"old": name, "new": None}}
        if _test():
            ret.update(result=None, comment=f"User {name} would be deleted.")
            return ret
        __salt__["rabbitmq_cluster.delete_user"](name)
    except CommandExecutionError as exc:
        ret["changes"] = {}
        return _fail(ret, str(exc))
    ret["comment"] = f"User {name} deleted."
    return ret


def _policies(vhost: str) -> dict[str, Any] | None:
    """The policies of ``vhost``, or None when the vhost does not exist (yet)."""
    try:
        return __salt__["rabbitmq_cluster.list_policies"](vhost)
    except CommandExecutionError:
        if vhost not in __salt__["rabbitmq_cluster.list_vhosts"]():
            return None
        raise


def policy_present(
    name: str,
    pattern: str,
    definition: dict[str, Any],
    priority: int = 0,
    apply_to: str = "all",
    vhost: str = "/",
) -> dict[str, Any]:
    """Policy ``name`` in ``vhost`` has this pattern, definition, priority and apply-to."""
    if missing := _unavailable(name, f"set policy {name}", changes=True):
        return missing
    ret = _ret(name)
    if not isinstance(definition, dict):
        return _fail(ret, f"Policy {name}: definition must be a mapping, e.g. {{max-length: 10000}}.")
    want = prereqos_rabbitmq.wanted_policy(pattern, definition, priority, apply_to)
    try:
        policies = _policies(vhost)
        if policies is None and not _test():
            return _fail(
                ret,
                f"Virtual host {vhost} does not exist: put a rabbitmq_cluster.vhost_present for it "
                f"before policy {name} (require it).",
            )
        current = (policies or {}).get(name)
        have = {key: current[key] for key in want} if current else None
        if have == want:
            ret["comment"] = f"Policy {name} in vhost {vhost} is as wanted."
            return ret
        ret["changes"] = {"policy": {"old": have, "new": want}}
        if _test():
            ret.update(result=None, comment=f"Policy {name} in vhost {vhost} would be set.")
            return ret
        __salt__["rabbitmq_cluster.set_policy"](name, pattern, definition, int(priority), apply_to, vhost)
    except CommandExecutionError as exc:
        ret["changes"] = {}
        return _fail(ret, f"Policy {name} in vhost {vhost}: {exc}")
    ret["comment"] = f"Policy {name} in vhost {vhost} set."
    return ret


def policy_absent(name: str, vhost: str = "/") -> dict[str, Any]:
    """Policy ``name`` does not exist in ``vhost``."""
    if missing := _unavailable(name, f"clear policy {name} if set", changes=False):
        return missing
    ret = _ret(name)
    try:
        current = (_policies(vhost) or {}).get(name)
        if current is None:
            ret["comment"] = f"Policy {name} is absent from vhost {vhost}."
            return ret
        ret["changes"] = {"policy": {"old": current, "new": None}}
        if _test():
            ret.update(result=None, comment=f"Policy {name} would be removed from vhost {vhost}.")
            return ret
        __salt__["rabbitmq_cluster.clear_policy"](name, vhost)
    except CommandExecutionError as exc:
        ret["changes"] = {}
        return _fail(ret, f"Policy {name} in vhost {vhost}: {exc}")
    ret["comment"] = f"Policy {name} removed from vhost {vhost}."
    return ret
