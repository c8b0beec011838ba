"""Unit tests of _utils/prereqos_node.py: the parsers, fed outputs recorded
from Debian 12's and Debian 13's tools (once per release that recorded them;
tests/fixtures/record-prereqos.sh), the preflight problems and the health report."""

from __future__ import annotations

import copy

import pytest
import yaml

from tests.unit.loader import ROOT, library, recorded, releases

node = library("prereqos_node")
settings_lib = library("prereqos_settings")

DEFAULTS = yaml.safe_load((ROOT / "formula/prereqos/defaults.yaml").read_text())
OSMAP = yaml.safe_load((ROOT / "formula/prereqos/osfamilymap.yaml").read_text())["Debian"]
EXAMPLE = yaml.safe_load((ROOT / "pillar.example").read_text())["prereqos"]


def derived(minion_id: str = "ctrl-1", **changes) -> dict:
    site = copy.deepcopy(EXAMPLE)
    site.update(changes)
    return settings_lib.settings(DEFAULTS, OSMAP, site, minion_id)


def expectation(minion_id: str = "ctrl-1") -> dict:
    return derived(minion_id)["node_expectation"]


# ----------------------------------------------------------------- parsers
def per_release(*names: str) -> pytest.MarkDecorator:
    """Run the test once per Debian release (argument ``release``) that recorded all of ``names``."""
    return pytest.mark.parametrize("release", releases("prereqos", *names))


@per_release("ip-addr.json")
def test_parse_ip_addresses_recorded(release):
    addresses = node.parse_ip_addresses(recorded("prereqos", "ip-addr.json", release))
    assert {"127.0.0.1", "::1"} <= set(addresses["lo"])
    assert any(addresses[name] for name in addresses if name != "lo")


@pytest.mark.parametrize("text", ['[{"ifname": "eth0"', '{"ifname": "eth0"}', '[{"addr_info": []}]'])
def test_parse_ip_addresses_garbage(text):
    with pytest.raises(node.ToolOutputError, match="cannot parse `ip -j addr show`"):
        node.parse_ip_addresses(text)


@per_release("proc-net-arp.txt")
def test_parse_arp_table_recorded_keeps_complete_entries(release):
    text = recorded("prereqos", "proc-net-arp.txt", release)
    table = node.parse_arp_table(text + "192.0.2.99 0x1 0x0 00:00:00:00:00:00 * eth0\n")
    assert "192.0.2.99" not in table
    assert all(mac.count(":") == 5 for mac in table.values()) and table


@per_release("haproxy-show-stat.csv")
def test_parse_haproxy_stat_recorded(release):
    """haproxy 3.0 (Debian 13) prints 206 columns, 2.6 (Debian 12) 129: read by name, the first ones unchanged."""
    stat = node.parse_haproxy_stat(recorded("prereqos", "haproxy-show-stat.csv", release))
    assert stat == {"galera": {"ctrl-1": "UP", "ctrl-2": "DOWN"}, "keystone": {"ctrl-1": "UP", "ctrl-2": "DOWN"}}


@per_release("haproxy-show-stat-drain.csv", "haproxy-show-stat-maint.csv")
def test_parse_haproxy_servers_drained_then_in_maintenance(release):
    """Only the status tells a drained server apart (its weight stays 1); scur counts its sessions."""
    drained = node.parse_haproxy_servers(recorded("prereqos", "haproxy-show-stat-drain.csv", release))
    assert drained["keystone"]["ctrl-1"] == {"status": "DRAIN", "sessions": 0}
    assert drained["galera"]["ctrl-1"] == {"status": "UP", "sessions": 0}
    maint = node.parse_haproxy_servers(recorded("prereqos", "haproxy-show-stat-maint.csv", release))
    assert maint["keystone"]["ctrl-1"]["status"] == "MAINT"


@pytest.mark.parametrize("text", ["", "not csv", "pxname,svname\n"])
def test_parse_haproxy_stat_garbage(text):
    with pytest.raises(node.ToolOutputError, match="unexpected haproxy"):
        node.parse_haproxy_stat(text)


# --------------------------------------------------------------- preflight
def node_addresses(expected: dict) -> dict[str, list[str]]:
    return {want["interface"]: [want["address"]] for want in expected["networks"].values()}


def test_arp_probes_every_vip_then_every_peer():
    assert node.arp_probe_addresses(expectation()) == [
        "198.51.100.10",
        "192.0.2.10",
        "198.51.100.12",
        "198.51.100.13",
        "192.0.2.12",
        "192.0.2.13",
    ]


def test_vip_holders_local_vip_is_held_here():
    local = {"192.0.2.11", "192.0.2.10", "198.51.100.11", "198.51.100.10"}
    assert node.vip_holders(expectation(), local, {}) == {"api": "ctrl-1", "srv": "ctrl-1"}


def test_vip_holders_name_the_peer_whose_mac_answers_for_the_vip():
    # ctrl-3's MAC answers for the srv VIP (its gratuitous ARP); nobody answers for the api VIP yet.
    arp = {"192.0.2.10": "02:00:00:00:00:03", "192.0.2.12": "02:00:00:00:00:02", "192.0.2.13": "02:00:00:00:00:03"}
    assert node.vip_holders(expectation(), {"192.0.2.11", "198.51.100.11"}, arp) == {
        "api": None,
        "srv": "ctrl-3",
    }


def test_vip_holders_a_stranger_holds_nothing_we_know():
    arp = {"192.0.2.10": "02:00:00:00:00:99", "192.0.2.12": "02:00:00:00:00:02"}
    assert node.vip_holders(expectation("ctrl-2"), {"192.0.2.12"}, arp)["srv"] is None


def test_preflight_passes_on_a_matching_node():
    expected = expectation()
    assert node.preflight_problems(expected, "ctrl-1", node_addresses(expected), {}) == []


def test_preflight_names_the_wrong_hostname_and_missing_address():
    found = node.preflight_problems(expectation(), "node7", {"eth0": ["192.0.2.11"]}, {})
    assert any("host name is 'node7' but the pillar says 'ctrl-1'" in p for p in found)
    assert any("address 198.51.100.11 (network api) is not configured on interface eth1" in p for p in found)


def test_preflight_vip_answered_by_a_stranger():
    expected = expectation()
    arp = {"192.0.2.10": "02:00:00:00:00:99", "192.0.2.12": "02:00:00:00:00:02", "192.0.2.13": "02:00:00:00:00:03"}
    found = node.preflight_problems(expected, "ctrl-1", node_addresses(expected), arp)
    assert found == [
        "VIP 192.0.2.10 (network srv) already answers from MAC 02:00:00:00:00:99, which is no controller: another "
        "host uses it; choose a free address for prereqos:networks:srv:vip"
    ]


def test_preflight_vip_held_by_a_peer_is_fine():
    expected = expectation()
    arp = {"192.0.2.10": "02:00:00:00:00:02", "192.0.2.12": "02:00:00:00:00:02"}
    assert node.preflight_problems(expected, "ctrl-1", node_addresses(expected), arp) == []


def test_preflight_on_a_minion_that_is_no_controller():
    found = node.preflight_problems(expectation("master"), "master", {}, {})
    assert found == [
        "this minion is not in prereqos:controllers (ctrl-1, ctrl-2, ctrl-3); add it or target only controllers"
    ]


# ------------------------------------------------------------------ health
HEALTHY = {"ok": True, "problems": []}


def test_health_report_of_a_healthy_node():
    facts = derived()["facts"]
    haproxy = {"galera": {"ctrl-1": "UP", "ctrl-2": "UP"}}
    parts = {"pacemaker": HEALTHY, "rabbitmq": HEALTHY, "galera": HEALTHY}
    report = node.health_report(facts, {"192.0.2.10", "192.0.2.11"}, haproxy, None, parts)
    assert report["ok"] and report["problems"] == []
    assert report["node"] == "ctrl-1" and report["vips_held"] == ["192.0.2.10"]
    assert report["haproxy"] == haproxy and report["galera"] == HEALTHY


def test_health_report_names_each_problem_by_part():
    facts = derived()["facts"]
    parts = {"pacemaker": HEALTHY, "rabbitmq": HEALTHY, "galera": {"ok": False, "problems": ["cluster size 2 of 3"]}}
    report = node.health_report(facts, set(), None, "[Errno 2] No such file or directory", parts)
    assert not report["ok"]
    assert report["problems"] == [
        "haproxy runtime API unreachable: [Errno 2] No such file or directory",
        "haproxy: no Galera server is UP behind galera",
        "galera: cluster size 2 of 3",
    ]


def test_health_report_of_a_node_in_standby_keeps_maintenance_apart():
    """pacemaker stops haproxy on a node in standby: planned, not a problem."""
    facts = derived()["facts"]
    standby = {"ok": False, "problems": [], "maintenance": ["node ctrl-1 is in standby"], "standby": ["ctrl-1"]}
    parts = {"pacemaker": standby, "rabbitmq": HEALTHY, "galera": HEALTHY}
    report = node.health_report(
        facts, set(), None, "[Errno 2] No such file or directory", parts, [], ["ctrl-1 is drained"]
    )
    assert report["ok"] is False and report["problems"] == []
    assert report["maintenance"] == [
        "ctrl-1 is drained",
        "haproxy is stopped: this node is in standby",
        "pacemaker: node ctrl-1 is in standby",
    ]
