"""Manage a RabbitMQ cluster with rabbitmqctl: membership, health, users, vhosts, permissions, policies.

State is read from machine-readable output only (``--formatter json``). Passwords go to
rabbitmqctl on stdin, never on its command line, and never into a return value or a log.
Written against rabbitmq-server 3.10.8 (Debian 12); the parsers and decisions are pure
functions in ``_utils/prereqos_rabbitmq.py``, tested with outputs recorded from that version.
"""

from __future__ import annotations

import importlib
import json
import logging
import os
from typing import Any

import prereqos_common
import prereqos_rabbitmq
import salt.utils.path
from salt.exceptions import CommandExecutionError

# A sync may have replaced a library since this process first imported it.
prereqos_common = importlib.reload(prereqos_common)
prereqos_rabbitmq = importlib.reload(prereqos_rabbitmq)

log = logging.getLogger(__name__)

__virtualname__ = "rabbitmq_cluster"

# Debian's /usr/sbin/rabbitmqctl is a shell wrapper that, run as root, pastes its arguments
# into ``su rabbitmq -c "..."``: a ``$`` or a backquote in a name or pattern is expanded by a
# shell (seen on 3.10.8). So, as root, run the real CLI as the rabbitmq user ourselves, from
# its home directory, as the wrapper intends (same cookie: runuser sets HOME to that home).
# The real rabbitmqctl, rabbitmq-upgrade (maintenance mode) and rabbitmq-diagnostics.
DEBIAN_TOOLS = "/usr/lib/rabbitmq/bin"
RABBITMQ_USER = "rabbitmq"
RABBITMQ_HOME = "/var/lib/rabbitmq"
# Seconds before a hung rabbitmqctl is killed (join_cluster waits on the remote node).
CLI_TIMEOUT = 300


def __virtual__() -> str | tuple[bool, str]:
    if salt.utils.path.which("rabbitmqctl"):
        return __virtualname__
    return False, "rabbitmq_cluster: rabbitmqctl is not installed (install the rabbitmq-server package)"


# ---------------------------------------------------------------------------
# Running rabbitmqctl


def _cli(tool: str = "rabbitmqctl") -> list[str]:
    """The argv prefix that runs ``tool`` (rabbitmqctl, rabbitmq-upgrade, rabbitmq-diagnostics)
    without Debian's shell wrapper when we are root."""
    real = os.path.join(DEBIAN_TOOLS, tool)
    if os.geteuid() == 0 and os.path.exists(real):
        return ["runuser", "-u", RABBITMQ_USER, "--", real]
    return [salt.utils.path.which(tool) or tool]


def _run(args: list[str], stdin: str | None = None, quiet: bool = False, tool: str = "rabbitmqctl") -> str:
    """Run ``tool args`` (rabbitmqctl by default); return its stdout, or raise with the tool's own error text.

    ``stdin`` carries a secret: it is sent as is (no ``\\n`` translation) and the command's
    output is not logged; ``quiet`` also keeps the output out of the log (password hashes).
    """
    kwargs: dict[str, Any] = {}
    if stdin is not None:
        kwargs.update(stdin=stdin, stdin_raw_newlines=True)
    if stdin is not None or quiet:
        kwargs["output_loglevel"] = "quiet"
    ret = __salt__["cmd.run_all"](
        [*_cli(tool), *args],
        python_shell=False,
        cwd=RABBITMQ_HOME if os.path.isdir(RABBITMQ_HOME) else None,
        timeout=CLI_TIMEOUT,
        ignore_retcode=True,
        **kwargs,
    )
    if ret.get("retcode") != 0:
        detail = ret.get("stderr") or ("" if quiet else ret.get("stdout")) or "no error output"
        raise CommandExecutionError(
            f"{tool} {args[0]} failed (exit {ret.get('retcode')}): {prereqos_rabbitmq.scrub(detail)}"
        )
    return ret.get("stdout") or ""


# ---------------------------------------------------------------------------
# Cluster


def cluster_status() -> dict[str, Any]:
    """The cluster as the local node sees it, plus ``node``: the local node's name.

    CLI Example:

    .. code-block:: bash

        salt '*' rabbitmq_cluster.cluster_status
    """
    status = prereqos_rabbitmq.parse_cluster_status(_run(["cluster_status", "--formatter", "json"]))
    status["node"] = prereqos_rabbitmq.parse_node_name(_run(["status", "--formatter", "json"]))
    return status


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
    # Only a node alone can join: then see whether joining (a reset) would destroy messages.
    busy = [] if others else prereqos_rabbitmq.busy_queues({vhost: list_queues(vhost) for vhost in list_vhosts()})
    result["refusals"] = prereqos_rabbitmq.join_refusals(local, others, node, busy)
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


def health(expected_nodes: list[str] | None = None, queues: bool = True) -> dict[str, Any]:
    """Cluster health for gates and operators; never raises for a stopped node.

    ``ok`` only when every expected node (default: every member) is running, with no
    partition and no alarm, no node in maintenance mode, and every quorum queue with a
    replica online on each expected node; ``problems`` says what is wrong, in sentences,
    ``maintenance`` which node is in maintenance mode. ``queues=False`` skips the quorum
    queues (a membership gate needs only the nodes).

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
            "maintenance": [],
        }
    problems = prereqos_rabbitmq.health_problems(status, expected_nodes)
    if queues and status["node"] in status["running_nodes"]:
        try:
            replicas = {vhost: queue_replicas(vhost) for vhost in list_vhosts()}
        except CommandExecutionError as exc:
            problems.append(f"cannot list the quorum queues' replicas: {str(exc).splitlines()[0]}")
        else:
            problems += prereqos_rabbitmq.replica_problems(
                replicas, expected_nodes or status["members"], status["maintenance"]
            )
    maintenance = prereqos_rabbitmq.maintenance_notes(status)
    return {
        "ok": not problems and not maintenance,
        "node": status["node"],
        "running_nodes": status["running_nodes"],
        "members": status["members"],
        "partitions": status["partitions"],
        "alarms": status["alarms"],
        "problems": problems,
        "maintenance": maintenance,
    }


# ---------------------------------------------------------------------------
# Vhosts, users, permissions, policies: reads


def list_vhosts() -> dict[str, dict[str, Any]]:
    """``{vhost: {}}`` for every virtual host.

    CLI Example:

    .. code-block:: bash

        salt ctrl-1 rabbitmq_cluster.list_vhosts
    """
    return prereqos_rabbitmq.parse_vhosts(_run(["list_vhosts", "--formatter", "json"]))


def list_users() -> dict[str, dict[str, Any]]:
    """``{user: {"tags": [...]}}`` for every user.

    CLI Example:

    .. code-block:: bash

        salt ctrl-1 rabbitmq_cluster.list_users
    """
    return prereqos_rabbitmq.parse_users(_run(["list_users", "--formatter", "json"]))


def list_permissions(vhost: str = "/") -> dict[str, dict[str, str]]:
    """``{user: {"configure", "write", "read"}}`` in ``vhost``.

    CLI Example:

    .. code-block:: bash

        salt ctrl-1 rabbitmq_cluster.list_permissions /
    """
    return prereqos_rabbitmq.parse_permissions(_run(["list_permissions", "-p", vhost, "--formatter", "json"]))


def list_policies(vhost: str = "/") -> dict[str, dict[str, Any]]:
    """``{name: {"pattern", "definition", "priority", "apply_to", "vhost"}}`` in ``vhost``.

    CLI Example:

    .. code-block:: bash

        salt ctrl-1 rabbitmq_cluster.list_policies /
    """
    return prereqos_rabbitmq.parse_policies(_run(["list_policies", "-p", vhost, "--formatter", "json"]))


def list_queues(vhost: str = "/") -> dict[str, dict[str, Any]]:
    """``{queue: {"messages": n}}`` in ``vhost``, to see what a node would lose if reset.

    CLI Example:

    .. code-block:: bash

        salt ctrl-2 rabbitmq_cluster.list_queues /
    """
    return prereqos_rabbitmq.parse_queues(_run(["list_queues", "-p", vhost, "name", "messages", "--formatter", "json"]))


def queue_replicas(vhost: str = "/") -> dict[str, dict[str, Any]]:
    """``{queue: {"type", "members", "online"}}`` in ``vhost``: where each quorum queue has replicas.

    CLI Example:

    .. code-block:: bash

        salt ctrl-1 rabbitmq_cluster.queue_replicas /
    """
    argv = ["list_queues", "-p", vhost, "name", "type", "members", "online", "--formatter", "json"]
    return prereqos_rabbitmq.parse_queue_replicas(_run(argv))


# ---------------------------------------------------------------------------
# Maintenance mode


def quorum_critical() -> list[str]:
    """The quorum queues that would lose their majority if the local node stopped (empty: none).

    CLI Example:

    .. code-block:: bash

        salt ctrl-2 rabbitmq_cluster.quorum_critical
    """
    argv = ["check_if_node_is_quorum_critical", "--formatter", "json"]
    ret = __salt__["cmd.run_all"](
        [*_cli("rabbitmq-diagnostics"), *argv],
        python_shell=False,
        cwd=RABBITMQ_HOME if os.path.isdir(RABBITMQ_HOME) else None,
        timeout=CLI_TIMEOUT,
        ignore_retcode=True,
    )
    if ret.get("retcode") == 0:
        return []
    try:
        return prereqos_rabbitmq.parse_quorum_critical(ret.get("stderr") or "")
    except CommandExecutionError:
        detail = prereqos_rabbitmq.scrub(ret.get("stderr") or ret.get("stdout") or "no error output")
        raise CommandExecutionError(
            f"rabbitmq-diagnostics check_if_node_is_quorum_critical failed (exit {ret.get('retcode')}): {detail}"
        ) from None


def drain() -> bool:
    """Put the local node in maintenance mode: quorum queue leaders move away, client
    connections close, and it accepts none until :func:`revive`. True when it changed.

    CLI Example:

    .. code-block:: bash

        salt ctrl-2 rabbitmq_cluster.drain
    """
    status = cluster_status()
    if status["node"] in status["maintenance"]:
        return False
    _run(["drain"], tool="rabbitmq-upgrade")
    return True


def revive() -> bool:
    """Bring the local node out of maintenance mode. True when it changed.

    CLI Example:

    .. code-block:: bash

        salt ctrl-2 rabbitmq_cluster.revive
    """
    status = cluster_status()
    if status["node"] not in status["maintenance"]:
        return False
    _run(["revive"], tool="rabbitmq-upgrade")
    return True


def check_password(name: str, password: str) -> bool:
    """Whether user ``name`` exists with ``password``.

    Checked against the hash in ``export_definitions`` (read without logging it), so the
    password never reaches a command line and no failed login is recorded on the broker.
    The ``rabbitmq_cluster.user_present`` state calls it with the password from pillar;
    never type a password on a command line (the job cache keeps the arguments).

    CLI Example:

    .. code-block:: bash

        salt ctrl-1 state.sls_id prereqos-rabbitmq-user-openstack prereqos.rabbitmq.setup test=True
    """
    hashes = prereqos_rabbitmq.parse_password_hashes(_run(["export_definitions", "-", "--format", "json"], quiet=True))
    user = hashes.get(name)
    if user is None:
        return False
    return prereqos_rabbitmq.password_matches(password, user["password_hash"], user["hashing_algorithm"])


# ---------------------------------------------------------------------------
# Writes. Positional arguments follow ``--`` so a name starting with ``-`` stays a name.


def add_vhost(name: str) -> bool:
    """Create virtual host ``name`` (rabbitmqctl accepts an existing one).

    CLI Example:

    .. code-block:: bash

        salt ctrl-1 rabbitmq_cluster.add_vhost openstack
    """
    _run(["add_vhost", "--", name])
    return True


def _password_stdin(name: str, password: str) -> str:
    """What to write to rabbitmqctl's stdin for ``password``: one line, which it reads intact."""
    problem = prereqos_rabbitmq.password_problem(name, password)
    if problem:
        raise CommandExecutionError(f"cannot set the password: {problem}; choose another one in pillar")
    return password + "\n"


def _password_command(command: str, name: str) -> list[str]:
    """``[command, name]`` for a command that reads the password on stdin.

    RabbitMQ 3.12+'s ``rabbitmqctl`` wrapper opens stdin only when the command has
    exactly these two arguments (a ``--`` before the name would close it, and the
    command would wait for a password forever), so a name that looks like an option
    is refused instead.
    """
    if name.startswith("-"):
        raise CommandExecutionError(f"cannot {command} {name!r}: a RabbitMQ user name must not start with '-'")
    return [command, name]


def add_user(name: str, password: str) -> bool:
    """Create user ``name``; the password is written to rabbitmqctl's stdin.

    The ``rabbitmq_cluster.user_present`` state calls it with the password from pillar;
    never type a password on a command line (the job cache keeps the arguments).

    CLI Example:

    .. code-block:: bash

        salt ctrl-1 state.sls_id prereqos-rabbitmq-user-openstack prereqos.rabbitmq.setup
    """
    _run(_password_command("add_user", name), stdin=_password_stdin(name, password))
    return True


def change_password(name: str, password: str) -> bool:
    """Set the password of ``name``; the password is written to rabbitmqctl's stdin.

    The ``rabbitmq_cluster.user_present`` state calls it with the password from pillar;
    never type a password on a command line (the job cache keeps the arguments).

    CLI Example:

    .. code-block:: bash

        salt ctrl-1 state.sls_id prereqos-rabbitmq-user-openstack prereqos.rabbitmq.setup
    """
    _run(_password_command("change_password", name), stdin=_password_stdin(name, password))
    return True


def set_user_tags(name: str, tags: list[str]) -> bool:
    """Replace the tags of ``name`` (an empty list clears them).

    CLI Example:

    .. code-block:: bash

        salt ctrl-1 rabbitmq_cluster.set_user_tags monitor '[monitoring]'
    """
    _run(["set_user_tags", "--", name, *tags])
    return True


def delete_user(name: str) -> bool:
    """Delete user ``name``.

    CLI Example:

    .. code-block:: bash

        salt ctrl-1 rabbitmq_cluster.delete_user guest
    """
    _run(["delete_user", "--", name])
    return True


def set_permissions(name: str, vhost: str, configure: str, write: str, read: str) -> bool:
    """Set the configure/write/read regexes of user ``name`` in ``vhost``.

    CLI Example:

    .. code-block:: bash

        salt ctrl-1 rabbitmq_cluster.set_permissions openstack / '.*' '.*' '.*'
    """
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
    """Create or replace policy ``name`` in ``vhost``.

    CLI Example:

    .. code-block:: bash

        salt ctrl-1 rabbitmq_cluster.set_policy queue-limits '^(?!amq\\.).*' '{max-length: 10000}' apply_to=queues
    """
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
    """Remove policy ``name`` from ``vhost``.

    CLI Example:

    .. code-block:: bash

        salt ctrl-1 rabbitmq_cluster.clear_policy queue-limits
    """
    _run(["clear_policy", "-p", vhost, "--", name])
    return True
