"""Unit tests of _modules/prereqos.py and _states/prereqos.py: validation,
derivation and the parsers, fed outputs recorded from Debian 12's tools."""

from __future__ import annotations

import copy

import pytest
import yaml
from salt.exceptions import CommandExecutionError

from tests.unit.loader import ROOT, fixture, load

prereqos = load("_modules", "prereqos")
prereqos_state = load("_states", "prereqos")
DEFAULTS = yaml.safe_load((ROOT / "formula/prereqos/defaults.yaml").read_text())
OSMAP = yaml.safe_load((ROOT / "formula/prereqos/osfamilymap.yaml").read_text())["Debian"]
EXAMPLE = yaml.safe_load((ROOT / "pillar.example").read_text())["prereqos"]


def settings(site: dict, minion_id: str = "ctrl-1") -> dict:
    return prereqos.settings(DEFAULTS, OSMAP, copy.deepcopy(site), minion_id)


def problems(site: dict) -> list[str]:
    config = prereqos.merged_config(DEFAULTS["prereqos"], OSMAP, site)
    return prereqos.validate(config, site, DEFAULTS["prereqos"])


def test_example_is_valid():
    assert problems(copy.deepcopy(EXAMPLE)) == []


def test_no_pillar_at_all_names_the_fix():
    with pytest.raises(CommandExecutionError, match="no pillar for this minion; assign the site pillar"):
        settings({})


def test_all_problems_are_reported_at_once():
    site = copy.deepcopy(EXAMPLE)
    site["vip_manager"] = "vrrp"
    del site["secrets"]["db_root_password"]
    found = problems(site)
    assert any(p.startswith("prereqos:vip_manager:") for p in found)
    assert any(p.startswith("prereqos:secrets:db_root_password:") for p in found)


def test_merge_replaces_lists_and_merges_mappings():
    merged = prereqos.merge({"a": {"b": 1, "c": [1, 2]}, "d": 1}, {"a": {"c": [3]}, "e": 2})
    assert merged == {"a": {"b": 1, "c": [3]}, "d": 1, "e": 2}


def test_site_lookup_overrides_the_os_map():
    site = copy.deepcopy(EXAMPLE)
    site["lookup"] = {"services": {"haproxy": "haproxy-custom"}}
    config = settings(site)
    assert config["lookup"]["services"]["haproxy"] == "haproxy-custom"
    assert config["lookup"]["services"]["keepalived"] == "keepalived"


def test_small_cluster_needs_an_explicit_choice():
    site = copy.deepcopy(EXAMPLE)
    site["controllers"] = site["controllers"][:2]
    assert any("quorum needs 3" in p for p in problems(site))
    site["allow_small_cluster"] = True
    assert problems(site) == []


def test_fencing_enabled_needs_devices():
    site = copy.deepcopy(EXAMPLE)
    site["pacemaker"]["stonith"] = {"enabled": True}
    assert "prereqos:pacemaker:stonith:devices: empty while fencing is enabled" in "\n".join(problems(site))


def test_keepalived_router_ids_must_be_unique():
    site = copy.deepcopy(EXAMPLE)
    site["vip_manager"] = "keepalived"
    site["keepalived"]["router_ids"] = {"srv": 51, "api": 51}
    assert any("router id 51 is also used" in p for p in problems(site))


def test_stats_password_with_a_quote_is_refused():
    site = copy.deepcopy(EXAMPLE)
    site["secrets"]["haproxy_stats_password"] = "a b"
    assert any(p.startswith("prereqos:secrets:haproxy_stats_password: must not contain") for p in problems(site))


def test_disabled_service_is_not_validated_or_rendered():
    site = copy.deepcopy(EXAMPLE)
    site["haproxy"]["services"]["nova_api"] = {"enabled": False, "networks": ["nowhere"]}
    assert problems(site) == []
    assert "nova_api" not in settings(site)["services_enabled"]


def test_derive_this_node_vips_and_backends():
    config = settings(copy.deepcopy(EXAMPLE), "ctrl-2")
    assert config["me"]["id"] == "ctrl-2" and config["me"]["index"] == 2
    assert not config["is_bootstrap"]
    assert config["vips"]["srv"] == {
        "network": "srv",
        "address": "192.0.2.10",
        "prefixlen": 24,
        "interface": "eth0",
        "router_id": 52,
    }
    galera = config["services_enabled"]["galera"]
    assert galera["active_backup"] and galera["check"]["server"].endswith("port 9200")
    assert [s["address"] for s in galera["servers"]] == ["192.0.2.11", "192.0.2.12", "192.0.2.13"]
    assert config["galera_cluster_address"] == "gcomm://192.0.2.11,192.0.2.12,192.0.2.13"
    assert config["rabbitmq_bootstrap_node"] == "rabbit@ctrl-1"
    priorities = [n["priority"] for n in config["nodes"]]
    assert len(set(priorities)) == len(priorities)


def test_minion_outside_the_controllers_has_no_node_view():
    config = settings(copy.deepcopy(EXAMPLE), "master")
    assert config["me"] is None


def test_pacemaker_objects_cover_every_vip():
    pcmk = settings(copy.deepcopy(EXAMPLE))["pacemaker_config"]
    assert pcmk["properties"]["stonith-enabled"] == "false"
    assert pcmk["primitives"]["vip_srv"]["params"] == {"ip": "192.0.2.10", "cidr_netmask": "24", "nic": "eth0"}
    assert pcmk["colocations"]["vip_api-with-haproxy"]["with_rsc"] == "haproxy-clone"
    assert pcmk["orders"]["haproxy-before-vip_srv"] == {"kind": "Optional", "first": "haproxy-clone", "then": "vip_srv"}


def test_stats_hash_is_stable_and_verifies():
    import crypt

    first = prereqos.stats_password_hash("s3cret", "openstack", "admin")
    assert first == prereqos.stats_password_hash("s3cret", "openstack", "admin")
    assert first.startswith("$6$") and "s3cret" not in first
    assert crypt.crypt("s3cret", first) == first


def test_parse_ip_addresses_recorded():
    addresses = prereqos.parse_ip_addresses(fixture("prereqos", "ip-addr.json"))
    assert {"127.0.0.1", "::1"} <= set(addresses["lo"])
    assert any(addresses[name] for name in addresses if name != "lo")


def test_parse_ip_addresses_garbage():
    with pytest.raises(CommandExecutionError, match="cannot parse `ip -j addr show`"):
        prereqos.parse_ip_addresses('[{"ifname": "eth0"')


def test_parse_arp_table_recorded_keeps_complete_entries():
    text = fixture("prereqos", "proc-net-arp.txt")
    table = prereqos.parse_arp_table(text + "192.0.2.99 0x1 0x0 00:00:00:00:00:00 * eth0\n")
    assert "192.0.2.99" not in table
    assert all(mac.count(":") == 5 for mac in table.values()) and table


def test_parse_haproxy_stat_recorded():
    stat = prereqos.parse_haproxy_stat(fixture("prereqos", "haproxy-show-stat.csv"))
    assert stat == {"galera": {"ctrl-1": "UP", "ctrl-2": "DOWN"}, "keystone": {"ctrl-1": "UP", "ctrl-2": "DOWN"}}


@pytest.mark.parametrize("text", ["", "not csv", "pxname,svname\n"])
def test_parse_haproxy_stat_garbage(text):
    with pytest.raises(CommandExecutionError, match="unexpected haproxy"):
        prereqos.parse_haproxy_stat(text)


def node_facts(config: dict) -> dict[str, list[str]]:
    me = config["me"]
    return {"eth0": [me["addresses"]["srv"]], "eth1": [me["addresses"]["api"]]}


def test_preflight_passes_on_a_matching_node():
    config = settings(copy.deepcopy(EXAMPLE))
    assert prereqos.preflight_problems(config, "ctrl-1", node_facts(config), {}) == []


def test_preflight_names_the_wrong_hostname_and_missing_address():
    config = settings(copy.deepcopy(EXAMPLE))
    found = prereqos.preflight_problems(config, "node7", {"eth0": ["192.0.2.11"]}, {})
    assert any("host name is 'node7' but the pillar says 'ctrl-1'" in p for p in found)
    assert any("address 198.51.100.11 (network api) is not configured on interface eth1" in p for p in found)


def test_preflight_vip_answered_by_a_stranger():
    config = settings(copy.deepcopy(EXAMPLE))
    arp = {"192.0.2.10": "02:00:00:00:00:99", "192.0.2.12": "02:00:00:00:00:02", "192.0.2.13": "02:00:00:00:00:03"}
    found = prereqos.preflight_problems(config, "ctrl-1", node_facts(config), arp)
    assert found == [
        "VIP 192.0.2.10 (network srv) already answers from MAC 02:00:00:00:00:99, which is no controller: another "
        "host uses it; choose a free address for prereqos:networks:srv:vip"
    ]


def test_preflight_vip_held_by_a_peer_is_fine():
    config = settings(copy.deepcopy(EXAMPLE))
    arp = {"192.0.2.10": "02:00:00:00:00:02", "192.0.2.12": "02:00:00:00:00:02"}
    assert prereqos.preflight_problems(config, "ctrl-1", node_facts(config), arp) == []


def test_preflight_state_fails_with_the_problems(monkeypatch):
    report = {"ok": False, "problems": ["controller ctrl-1: host name is 'x'"]}
    monkeypatch.setattr(prereqos_state, "__salt__", {"prereqos.preflight": lambda: report}, raising=False)
    ret = prereqos_state.preflight("ctrl-1")
    assert ret["result"] is False and "host name is 'x'" in ret["comment"] and ret["changes"] == {}


@pytest.mark.parametrize(("test", "expected"), [(True, None), (False, False)])
def test_healthy_state_reports_problems(monkeypatch, test, expected):
    report = {"ok": False, "problems": ["galera: cluster size 2 of 3"]}
    monkeypatch.setattr(prereqos_state, "__salt__", {"prereqos.health": lambda: report}, raising=False)
    monkeypatch.setattr(prereqos_state, "__opts__", {"test": test}, raising=False)
    ret = prereqos_state.healthy("ctrl-1", timeout=0)
    assert ret["result"] is expected and "cluster size 2 of 3" in ret["comment"]


def test_healthy_state_passes_when_healthy(monkeypatch):
    monkeypatch.setattr(prereqos_state, "__salt__", {"prereqos.health": lambda: {"ok": True}}, raising=False)
    monkeypatch.setattr(prereqos_state, "__opts__", {"test": False}, raising=False)
    assert prereqos_state.healthy("ctrl-1", timeout=0)["result"] is True


@pytest.mark.parametrize(
    ("address", "erlang"),
    [("192.0.2.11", "{192,0,2,11}"), ("2001:db8::b", "{8193,3512,0,0,0,0,0,11}")],
)
def test_erlang_ip_tuple(address, erlang):
    assert prereqos.erlang_ip_tuple(address) == erlang
