"""prereqos operator commands: the site's settings for map.jinja, the preflight
check before a deploy, and the health of a deployed node.

The pillar contract (merge, validate, derive) and the parsers live in the
``prereqos_settings`` and ``prereqos_node`` libraries (``_utils``). Nothing
here reads defaults.yaml or the OS map: map.jinja passes them to
:func:`settings`; preflight gets its expectations from the SLS, and health
reads the facts file the deploy wrote.
"""

from __future__ import annotations

import contextlib
import importlib
import json
import socket
import time
from typing import Any

import prereqos_crypt
import prereqos_maintenance
import prereqos_node
import prereqos_settings
from salt.exceptions import CommandExecutionError

# A sync may have replaced a library since this process first imported it.
prereqos_crypt = importlib.reload(prereqos_crypt)
prereqos_maintenance = importlib.reload(prereqos_maintenance)
prereqos_node = importlib.reload(prereqos_node)
prereqos_settings = importlib.reload(prereqos_settings)

__virtualname__ = "prereqos"

NOT_DEPLOYED = "not deployed yet: {path} is missing; run salt-run state.orchestrate orch.prereqos"


def __virtual__() -> str:
    return __virtualname__


def settings(
    defaults: dict,
    osmap: dict,
    pillar: dict | None = None,
    minion_id: str | None = None,
    reveal_secrets: bool = False,
    maintenance: dict | None = None,
) -> dict:
    """The merged, validated and derived prereqos settings of this minion, for map.jinja.

    ``defaults`` is defaults.yaml, ``osmap`` the OS map's entry for this node;
    ``pillar`` (default: this minion's ``prereqos`` pillar) is the site; the
    controllers drained for maintenance come from this node's record, changed by
    ``maintenance`` (the ``prereqos_maintenance`` pillar of a drain or undrain
    step: ``{node, action}``). Raises
    listing every problem, so any prereqos SLS fails to render before a single
    state runs. Secrets are masked unless ``reveal_secrets`` (map.jinja's
    in-process render, where templates need them): a job's return is stored in
    the master's job cache.

    CLI Example:

    .. code-block:: bash

        # map.jinja passes defaults.yaml and the OS map's entry; by hand, the same as JSON:
        salt-call prereqos.settings \\
            "$(python3 -c 'import json,sys,yaml; print(json.dumps(yaml.safe_load(sys.stdin)))' <defaults.yaml)" \\
            "$(python3 -c 'import json,sys,yaml; print(json.dumps(yaml.safe_load(sys.stdin)["Debian"]))' \\
               <osfamilymap.yaml)"
    """
    site = __pillar__.get("prereqos", {}) if pillar is None else pillar
    try:
        derived = prereqos_settings.settings(
            defaults,
            osmap,
            site,
            __grains__.get("id") if minion_id is None else minion_id,
            drained=drained(),
            maintenance=maintenance,
        )
    except prereqos_settings.InvalidPillar as exc:
        raise CommandExecutionError(str(exc)) from None
    return derived if reveal_secrets else prereqos_settings.without_secrets(derived)


def drained(
    path: str = prereqos_maintenance.MAINTENANCE_PATH, facts_path: str = prereqos_settings.FACTS_PATH
) -> list[str]:
    """The controllers drained for maintenance, as this node's record says (those that are
    still controllers, once a deploy wrote the facts).

    CLI Example:

    .. code-block:: bash

        salt ctrl-1 prereqos.drained
    """
    try:
        with open(path, encoding="utf-8") as handle:
            record = prereqos_maintenance.parse_record(handle.read())
    except FileNotFoundError:
        return []
    except (OSError, prereqos_maintenance.RecordError) as exc:
        raise CommandExecutionError(f"cannot read {path}: {exc}") from None
    try:
        node_ids = [node["id"] for node in facts(facts_path)["nodes"]] if record else None
    except CommandExecutionError:  # not deployed yet, or a facts file the next deploy rewrites
        node_ids = None
    return record if node_ids is None else prereqos_maintenance.of_controllers(record, node_ids)


def facts(path: str = prereqos_settings.FACTS_PATH) -> dict:
    """The non-secret facts the last deploy wrote on this node (what health and preflight check).

    CLI Example:

    .. code-block:: bash

        salt ctrl-1 prereqos.facts
    """
    try:
        with open(path, encoding="utf-8") as handle:
            return json.load(handle)
    except FileNotFoundError:
        raise CommandExecutionError(NOT_DEPLOYED.format(path=path)) from None
    except (OSError, ValueError) as exc:
        raise CommandExecutionError(f"cannot read {path} ({exc}); re-run orch.prereqos to rewrite it") from None


def preflight(node: dict | None = None, path: str = prereqos_settings.FACTS_PATH) -> dict:
    """Check this node against what the pillar expects of it; never changes anything.

    ``node`` is the pillar's expectation (host name, and per network the
    interface, address, VIP and peers), as prereqos.preflight's SLS passes it
    before a deploy; without it, the one the last deploy wrote in the facts
    file ``path``. Returns ``{"ok", "problems"}``.

    CLI Example:

    .. code-block:: bash

        salt ctrl-1 prereqos.preflight
        salt ctrl-1 state.apply prereqos.preflight   # before a deploy: the pillar's expectations
    """
    if node is None:
        try:
            node = facts(path)["node"]
        except CommandExecutionError as exc:
            return {"ok": False, "problems": [str(exc)]}
    addresses = _local_addresses()
    arp = _arp_resolve(prereqos_node.arp_probe_addresses(node)) if node["hostname"] is not None else {}
    problems = prereqos_node.preflight_problems(node, __grains__.get("host", ""), addresses, arp)
    return {"ok": not problems, "problems": problems}


def health(path: str = prereqos_settings.FACTS_PATH) -> dict:
    """This node's view of the cluster: VIPs held, haproxy servers, the VIP manager,
    RabbitMQ and Galera, checked against the facts of the last deploy. ``ok`` only
    when every part is healthy and nothing is in maintenance; ``problems`` says what
    is broken, ``maintenance`` what is out on purpose (a drained controller, a node
    in standby, a RabbitMQ node in maintenance mode).

    CLI Example:

    .. code-block:: bash

        salt '*' prereqos.health
    """
    try:
        node_facts = facts(path)
    except CommandExecutionError as exc:
        return {"node": __grains__.get("id"), "ok": False, "problems": [str(exc)], "maintenance": []}
    notes, problems, drained_nodes = [], [], []
    try:
        drained_nodes = drained()
        notes = prereqos_maintenance.drained_notes(drained_nodes)
    except CommandExecutionError as exc:
        problems.append(str(exc))
    held = {address for addresses in _local_addresses().values() for address in addresses}
    haproxy, haproxy_error = None, None
    try:
        haproxy = _haproxy_stat(node_facts["paths"]["haproxy_socket"])
    except (OSError, prereqos_node.ToolOutputError) as exc:
        haproxy_error = str(exc)
    parts: dict[str, dict[str, Any]] = {}
    if node_facts["vip_manager"] == "pacemaker":
        parts["pacemaker"] = _part_health(
            "pacemaker_cluster",
            expected_nodes=[n["hostname"] for n in node_facts["nodes"]],
            resources=node_facts["pacemaker_resources"],
        )
    else:
        active = bool(__salt__["service.status"](node_facts["service_names"]["keepalived"]))
        parts["keepalived"] = {
            "ok": active,
            "active": active,
            "problems": [] if active else ["keepalived is not running"],
        }
        notes += prereqos_maintenance.vips_released_notes(node_facts["node"]["id"], _vips_released(), drained_nodes)
    parts["rabbitmq"] = _part_health("rabbitmq_cluster", expected_nodes=node_facts["rabbitmq_nodes"])
    parts["galera"] = _part_health("galera_cluster", expected_size=node_facts["galera_size"])
    return prereqos_node.health_report(node_facts, held, haproxy, haproxy_error, parts, problems, notes)


def _vips_released(path: str = prereqos_maintenance.VIPS_RELEASED_PATH) -> bool:
    """Whether keepalived's track file says this node releases its VIPs."""
    try:
        with open(path, encoding="ascii", errors="replace") as handle:
            return handle.read().strip() not in ("", "0")
    except FileNotFoundError:
        return False


def _local_addresses() -> dict[str, list[str]]:
    """Addresses configured on this node, per interface."""
    result = __salt__["cmd.run_all"](["ip", "-j", "addr", "show"], python_shell=False)
    if result["retcode"] != 0:
        raise CommandExecutionError(f"ip addr show failed: {result['stderr']}")
    try:
        return prereqos_node.parse_ip_addresses(result["stdout"])
    except prereqos_node.ToolOutputError as exc:
        raise CommandExecutionError(str(exc)) from None


def _arp_resolve(addresses: list[str], wait: float = 1.0) -> dict[str, str]:
    """MAC of each address that answers ARP within ``wait`` seconds."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        for address in addresses:
            with contextlib.suppress(OSError):
                sock.sendto(b"", (address, 9))  # any datagram makes the kernel ask ARP
    deadline = time.monotonic() + wait
    while True:
        with open("/proc/net/arp", encoding="ascii") as handle:
            table = prereqos_node.parse_arp_table(handle.read())
        if all(a in table for a in addresses) or time.monotonic() >= deadline:
            return {a: table[a] for a in addresses if a in table}
        time.sleep(0.1)


def vips_held(path: str = prereqos_settings.FACTS_PATH) -> list[str]:
    """The site's VIPs this node holds now.

    CLI Example:

    .. code-block:: bash

        salt '*' prereqos.vips_held
    """
    held = {address for addresses in _local_addresses().values() for address in addresses}
    return sorted(address for address in facts(path)["vips"].values() if address in held)


def vip_holders(path: str = prereqos_settings.FACTS_PATH) -> dict[str, str | None]:
    """``{network: controller}`` holding each VIP now (None: no controller answers for it),
    as this node sees it: its own addresses, then ARP, which the new holder's gratuitous ARP
    updates the moment keepalived moves a VIP.

    CLI Example:

    .. code-block:: bash

        salt ctrl-1 prereqos.vip_holders
    """
    site = facts(path)
    local = {address for addresses in _local_addresses().values() for address in addresses}
    probe = [address for address in prereqos_node.arp_probe_addresses(site["node"]) if address not in local]
    arp = _arp_resolve(probe, wait=0.1)
    return prereqos_node.vip_holders(site["node"], local, arp)


def haproxy_servers(server: str | None = None, path: str = prereqos_settings.FACTS_PATH) -> dict:
    """``{listener: {server: {"status", "sessions"}}}`` of this node's haproxy (runtime API);
    with ``server`` (a controller's host name), ``{listener: {"status", "sessions"}}`` of it.

    CLI Example:

    .. code-block:: bash

        salt '*' prereqos.haproxy_servers ctrl-2
    """
    try:
        stat = prereqos_node.parse_haproxy_servers(_haproxy_command(_haproxy_socket(path), "show stat"))
    except (OSError, prereqos_node.ToolOutputError) as exc:
        raise CommandExecutionError(f"haproxy runtime API: {exc}") from None
    return stat if server is None else prereqos_maintenance.haproxy_servers(stat, server)


def haproxy_set_server(server: str, state: str, path: str = prereqos_settings.FACTS_PATH) -> list[str]:
    """Set ``server`` (a controller's host name) to ``state`` (``ready``, ``drain``, ``maint``)
    in every listener of this node's haproxy, at run time (haproxy.cfg decides after a
    reload); with ``maint``, also end its sessions. Returns the listeners changed.

    CLI Example:

    .. code-block:: bash

        salt '*' prereqos.haproxy_set_server ctrl-2 drain
    """
    if state not in ("ready", "drain", "maint"):
        raise CommandExecutionError(f"state must be ready, drain or maint, not {state!r}")
    socket_path = _haproxy_socket(path)
    listeners = list(haproxy_servers(server, path))
    for listener in listeners:
        commands = [f"set server {listener}/{server} state {state}"]
        if state == "maint":
            commands.append(f"shutdown sessions server {listener}/{server}")
        for command in commands:
            reply = _haproxy_reply_of_the_running_process(socket_path, command)
            if reply:
                raise CommandExecutionError(f"haproxy runtime API: {command}: {reply}")
    return listeners


def _haproxy_socket(path: str) -> str:
    """haproxy's admin socket, from the facts of the last deploy."""
    return facts(path)["paths"]["haproxy_socket"]


def _haproxy_reply_of_the_running_process(socket_path: str, command: str) -> str:
    """haproxy's reply to ``command``: asked again on a new connection while the one that
    answers is the previous process of a reload (its proxies stopped), up to RELOAD_WAIT_S."""
    deadline = time.monotonic() + prereqos_maintenance.RELOAD_WAIT_S
    while True:
        try:
            reply = _haproxy_command(socket_path, command).strip()
        except OSError as exc:
            raise CommandExecutionError(f"haproxy runtime API: {command}: {exc}") from None
        if not prereqos_maintenance.from_stopping_haproxy(reply) or time.monotonic() >= deadline:
            return reply
        time.sleep(0.1)


def _haproxy_stat(socket_path: str) -> dict[str, dict[str, str]]:
    """Server status per listener, from haproxy's runtime API."""
    return prereqos_node.parse_haproxy_stat(_haproxy_command(socket_path, "show stat"))


def _haproxy_command(socket_path: str, command: str) -> str:
    """haproxy's reply to one runtime API command."""
    chunks = []
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.settimeout(5)
        sock.connect(socket_path)
        sock.sendall(command.encode() + b"\n")
        while chunk := sock.recv(65536):
            chunks.append(chunk)
    return b"".join(chunks).decode()


def _part_health(module: str, **kwargs: Any) -> dict[str, Any]:
    """``<module>.health(**kwargs)``, or a problem when its tool is not installed."""
    function = f"{module}.health"
    if function not in __salt__:
        return {"ok": False, "problems": [f"not installed ({module} is not loaded)"]}
    return __salt__[function](**kwargs)
