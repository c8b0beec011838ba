"""What a node says about itself, read and judged: the parsers of ``ip -j addr``,
``/proc/net/arp`` and haproxy's ``show stat``, the preflight problems and the
health report, from the facts the deploy wrote.

Plain Python, no Salt dunders: the ``prereqos`` execution module gathers the
tools' outputs and passes them here; the unit tests feed recorded outputs.
"""

from __future__ import annotations

import json
from typing import Any


class ToolOutputError(ValueError):
    """A tool's output is not what its parser expects."""


def parse_ip_addresses(ip_json: str) -> dict[str, list[str]]:
    """``ip -j addr show`` output -> {interface: [addresses]}."""
    try:
        links = json.loads(ip_json or "[]")
        return {link["ifname"]: [a["local"] for a in link.get("addr_info", []) if "local" in a] for link in links}
    except (ValueError, TypeError, KeyError, AttributeError) as exc:
        raise ToolOutputError(f"cannot parse `ip -j addr show` output: {exc}") from exc


def parse_arp_table(text: str) -> dict[str, str]:
    """/proc/net/arp -> {address: mac} for complete entries only."""
    table = {}
    for line in text.splitlines()[1:]:
        fields = line.split()
        if len(fields) >= 4 and fields[2] == "0x2":
            table[fields[0]] = fields[3].lower()
    return table


def parse_haproxy_servers(csv_text: str) -> dict[str, dict[str, dict[str, Any]]]:
    """haproxy ``show stat`` CSV -> {proxy: {server: {"status", "sessions"}}} (servers only;
    ``sessions``: current sessions, ``scur``)."""
    lines = csv_text.strip().splitlines()
    if not lines or not lines[0].startswith("# "):
        raise ToolOutputError("unexpected haproxy `show stat` output")
    header = lines[0][2:].split(",")
    result: dict[str, dict[str, dict[str, Any]]] = {}
    for line in lines[1:]:
        row = dict(zip(header, line.split(","), strict=False))
        if row.get("svname") in ("FRONTEND", "BACKEND", None):
            continue
        sessions = row.get("scur", "")
        result.setdefault(row["pxname"], {})[row["svname"]] = {
            "status": row.get("status", ""),
            "sessions": int(sessions) if sessions.isdigit() else 0,
        }
    return result


def parse_haproxy_stat(csv_text: str) -> dict[str, dict[str, str]]:
    """haproxy ``show stat`` CSV -> {proxy: {server: status}} (servers only)."""
    return {
        proxy: {server: row["status"] for server, row in servers.items()}
        for proxy, servers in parse_haproxy_servers(csv_text).items()
    }


def arp_probe_addresses(expected: dict) -> list[str]:
    """The addresses whose ARP owner preflight compares: every VIP, then every peer."""
    networks = expected["networks"].values()
    return [n["vip"] for n in networks] + [peer for n in networks for peer in n["peers"]]


def vip_holders(node: dict, local: set[str], arp: dict[str, str]) -> dict[str, str | None]:
    """{network: id of the controller holding its VIP, or None when none answers}, as this
    node (``node``: the facts' node, its peers listed in the order of its controllers) sees
    it: its own addresses first, then ARP (a peer holds the VIP when both answer with the
    same MAC)."""
    peers = [controller for controller in node["controllers"] if controller != node["id"]]
    holders: dict[str, str | None] = {}
    for name, network in node["networks"].items():
        if network["vip"] in local:
            holders[name] = node["id"]
            continue
        mac = arp.get(network["vip"])
        owners = (peer for peer, address in zip(peers, network["peers"], strict=True) if arp.get(address) == mac)
        holders[name] = next(owners, None) if mac else None
    return holders


def preflight_problems(
    expected: dict, hostname: str, addresses: dict[str, list[str]], arp: dict[str, str]
) -> list[str]:
    """Why this node cannot be converged as ``expected`` (derive's ``node_expectation``) says."""
    node_id = expected["id"]
    if expected["hostname"] is None:
        known = ", ".join(expected["controllers"])
        return [f"this minion is not in prereqos:controllers ({known}); add it or target only controllers"]
    problems = []
    if hostname != expected["hostname"]:
        problems.append(
            f"controller {node_id}: host name is '{hostname}' but the pillar says '{expected['hostname']}'; "
            f"set prereqos:controllers:{node_id}:hostname or fix the host name"
        )
    for net, want in expected["networks"].items():
        on_interface = addresses.get(want["interface"], [])
        if want["address"] not in on_interface:
            problems.append(
                f"controller {node_id}: address {want['address']} (network {net}) is not configured on interface "
                f"{want['interface']}; fix prereqos:networks:{net}:interface or the node's network"
            )
        owner = arp.get(want["vip"])
        peers = {arp.get(peer) for peer in want["peers"]}
        if want["vip"] not in on_interface and owner and owner not in peers:
            problems.append(
                f"VIP {want['vip']} (network {net}) already answers from MAC {owner}, which is no controller: "
                f"another host uses it; choose a free address for prereqos:networks:{net}:vip"
            )
    return problems


def health_report(
    facts: dict,
    held: set[str],
    haproxy: dict[str, dict[str, str]] | None,
    haproxy_error: str | None,
    parts: dict[str, dict[str, Any]],
    problems: list[str] | None = None,
    maintenance: list[str] | None = None,
) -> dict[str, Any]:
    """This node's health from its facts and what it observed: the addresses it holds,
    haproxy's servers (or why they could not be read), each part's own report
    (``pacemaker`` or ``keepalived``, ``rabbitmq``, ``galera``), and the node's own
    ``problems`` and ``maintenance`` notes. ``problems`` is what is broken,
    ``maintenance`` what is out on purpose; ``ok`` when both are empty."""
    problems = list(problems or [])
    maintenance = list(maintenance or [])
    report: dict[str, Any] = {"node": facts["node"]["id"]}
    report["vips_held"] = sorted(address for address in facts["vips"].values() if address in held)
    report["haproxy"] = haproxy or {}
    if facts["node"]["hostname"] in parts.get("pacemaker", {}).get("standby", []):
        # pacemaker stops haproxy on a node in standby: it serves nothing, on purpose.
        if haproxy_error is not None:
            maintenance.append("haproxy is stopped: this node is in standby")
    else:
        if haproxy_error is not None:
            problems.append(f"haproxy runtime API unreachable: {haproxy_error}")
        for name, kind in sorted(facts["haproxy_checks"].items()):
            if kind == "galera" and "UP" not in report["haproxy"].get(name, {}).values():
                problems.append(f"haproxy: no Galera server is UP behind {name}")
    for part, part_report in parts.items():
        report[part] = part_report
        problems += [f"{part}: {problem}" for problem in part_report.get("problems", [])]
        maintenance += [f"{part}: {note}" for note in part_report.get("maintenance", [])]
    report["problems"] = problems
    report["maintenance"] = maintenance
    report["ok"] = not problems and not maintenance
    return report
