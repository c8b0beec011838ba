"""Unit tests of _utils/prereqos_settings.py: the pillar contract (merge,
validation, derivation) and the encoders that carry secrets into each file."""

from __future__ import annotations

import copy
import json
import shlex

import pytest
import yaml

from tests.badpillars import BAD_PILLARS, CANARY, bad_pillar, secret_values
from tests.unit.loader import ROOT, library

settings_lib = library("prereqos_settings")
crypt = library("prereqos_crypt")

DEFAULTS = yaml.safe_load((ROOT / "formula/prereqos/defaults.yaml").read_text())
OSMAP = yaml.safe_load((ROOT / "formula/prereqos/osfamilymap.yaml").read_text())["Debian"]
EXAMPLE = yaml.safe_load((ROOT / "pillar.example").read_text())["prereqos"]
# What password managers generate: quotes, backslash, shell expansion, comment
# and statement separators, blanks inside, non-ASCII.
HOSTILE = "p a'ss\"w\\o$rd`x`#;!&|<>(){}*?~%@^ ü€"
# MariaDB's SST script reads its password with the shell's `read`, which drops backslashes.
SST_HOSTILE = HOSTILE.replace("\\", "")


def example() -> dict:
    return copy.deepcopy(EXAMPLE)


def settings(site: dict, minion_id: str = "ctrl-1") -> dict:
    return settings_lib.settings(DEFAULTS, OSMAP, copy.deepcopy(site), minion_id)


def problems(site: dict) -> list[str]:
    try:
        settings(site)
    except settings_lib.InvalidPillar as exc:
        return exc.problems
    return []


# ------------------------------------------------------------ the contract
def test_example_is_valid():
    assert problems(example()) == []


def test_example_is_valid_with_keepalived():
    site = example()
    site["vip_manager"] = "keepalived"
    assert problems(site) == []


def test_no_pillar_at_all_names_the_fix():
    with pytest.raises(settings_lib.InvalidPillar, match="no pillar for this minion; assign the site pillar"):
        settings({})


def test_a_pillar_that_is_not_a_mapping():
    assert problems(["x"]) == ["prereqos: expected a mapping, got a list; see pillar.example"]


def test_all_problems_are_reported_at_once():
    site = example()
    site["vip_manager"] = "vrrp"
    del site["secrets"]["db_root_password"]
    found = problems(site)
    assert any(p.startswith("prereqos:vip_manager:") for p in found)
    assert any(p.startswith("prereqos:secrets:db_root_password:") for p in found)


def test_merge_replaces_lists_and_merges_mappings():
    merged = settings_lib.merge({"a": {"b": 1, "c": [1, 2]}, "d": 1}, {"a": {"c": [3]}, "e": 2})
    assert merged == {"a": {"b": 1, "c": [3]}, "d": 1, "e": 2}


def test_site_lookup_overrides_the_os_map():
    site = example()
    site["lookup"] = {"services": {"haproxy": "haproxy-custom"}}
    config = settings(site)
    assert config["lookup"]["services"]["haproxy"] == "haproxy-custom"
    assert config["lookup"]["services"]["keepalived"] == "keepalived"


def test_small_cluster_needs_an_explicit_choice():
    site = example()
    site["controllers"] = site["controllers"][:2]
    assert any("quorum needs 3" in p for p in problems(site))
    site["allow_small_cluster"] = True
    assert problems(site) == []


def test_keepalived_has_a_vrrp_priority_for_at_most_25_controllers():
    site = example()
    site["vip_manager"] = "keepalived"
    base = site["controllers"][0]
    site["controllers"] = [
        {
            **base,
            "id": f"ctrl-{i}",
            "hostname": f"ctrl-{i}",
            "addresses": {net: f"{address.rsplit('.', 1)[0]}.{100 + i}" for net, address in base["addresses"].items()},
        }
        for i in range(1, 27)
    ]
    found = "\n".join(problems(site))
    assert "prereqos:controllers: 26 controllers; keepalived gives each its own VRRP priority" in found
    assert "at most 25 (use vip_manager: pacemaker for more)" in found
    site["controllers"] = site["controllers"][:25]
    assert problems(site) == []
    priorities = [node["priority"] for node in settings(site)["nodes"]]
    assert priorities[:3] == [250, 240, 230] and priorities[-1] == 10


def test_fencing_enabled_needs_devices():
    site = example()
    site["pacemaker"]["stonith"] = {"enabled": True}
    assert "prereqos:pacemaker:stonith:devices: empty while fencing is enabled" in "\n".join(problems(site))


def test_fence_device_is_valid():
    site = example()
    device = {"agent": "stonith:fence_ipmilan", "params": {"ip": "203.0.113.11", "lanplus": 1}}
    site["pacemaker"]["stonith"] = {"enabled": True, "devices": {"fence-ctrl-1": device}}
    assert problems(site) == []


def test_keepalived_router_ids_must_be_unique():
    site = example()
    site["vip_manager"] = "keepalived"
    site["keepalived"]["router_ids"] = {"srv": 51, "api": 51}
    assert any("router id 51 is also used" in p for p in problems(site))


@pytest.mark.parametrize(
    ("manager", "hard_stop_after", "refused"),
    [("pacemaker", "16s", True), ("pacemaker", "15s", False), ("keepalived", "2m", False)],
)
def test_hard_stop_after_must_end_within_pacemakers_stop_timeout(manager, hard_stop_after, refused):
    site = example()
    site["vip_manager"] = manager
    site.setdefault("haproxy", {})["hard_stop_after"] = hard_stop_after
    found = [p for p in problems(site) if p.startswith("prereqos:haproxy:hard_stop_after:")]
    expected = (
        f"prereqos:haproxy:hard_stop_after: {hard_stop_after} is longer than pacemaker waits for haproxy "
        "to stop (its stop timeout, 20 s, less 5 s of margin); write at most 15s"
    )
    assert found == ([expected] if refused else [])


def test_default_router_ids_follow_the_network_names():
    site = example()
    site["keepalived"]["router_ids"] = {}
    vips = settings(site)["vips"]
    assert (vips["api"]["router_id"], vips["srv"]["router_id"]) == (51, 52)


def test_disabled_service_is_not_validated_or_rendered():
    site = example()
    site["haproxy"]["services"]["nova_api"] = {"enabled": False, "networks": ["nowhere"]}
    assert problems(site) == []
    assert "nova_api" not in settings(site)["services_enabled"]


def test_the_test_bed_pip_options_are_accepted():
    site = example()
    site["buildenv"]["pip_options"] = {"no_index": True, "find_links": "/var/cache/prereqos/wheels"}
    assert problems(site) == []


# ------------------------------------------------------- service defaults
def test_every_service_key_but_port_and_networks_has_a_default():
    service_defaults = DEFAULTS["prereqos"]["haproxy"]["service_defaults"]
    assert set(service_defaults) == set(settings_lib.SERVICE_KEYS) - {"port", "networks"}
    assert set(service_defaults["check"]) == set(settings_lib.CHECK_KEYS)


def test_services_merge_over_the_service_defaults():
    site = example()
    site["haproxy"]["service_defaults"] = {"balance": "leastconn"}
    services = settings(site)["services_enabled"]
    assert services["keystone"]["balance"] == "leastconn"
    assert services["horizon"]["balance"] == "source"  # its own value wins
    assert services["keystone"]["check"]["path"] == "/v3" and services["keystone"]["check"]["expect"] == "status 200"
    assert services["nova_api"]["check"] == {
        "kind": "http",
        "path": "/",
        "expect": "status 200",
        "server": "check inter 2s fastinter 500ms rise 2 fall 3",
    }


def test_an_inherited_bad_value_is_named_where_it_comes_from():
    site = example()
    site["haproxy"]["service_defaults"] = {"balance": "random"}
    found = problems(site)
    assert found == [
        "prereqos:haproxy:service_defaults:balance: 'random' is not one of roundrobin, source, leastconn, first"
    ]


def test_a_service_of_its_own_is_named_by_its_key():
    site = example()
    site["haproxy"]["services"]["barbican"] = {"port": 9311, "networks": ["srv"], "balance": "random"}
    assert any(p.startswith("prereqos:haproxy:services:barbican:balance:") for p in problems(site))


def test_backend_network_defaults_to_the_internal_network():
    site = example()
    site["haproxy"]["services"]["keystone"] = {"backend_network": "api"}
    services = settings(site)["services_enabled"]
    assert services["keystone"]["servers"][0]["address"] == "198.51.100.11"
    assert services["glance_api"]["servers"][0]["address"] == "192.0.2.11"
    assert services["horizon"]["backend_port"] == 80


# ------------------------------------------------- RabbitMQ users, policies
def test_rabbitmq_users_and_policies_merge_over_their_defaults():
    site = example()
    site["rabbitmq"]["users"]["nova"] = None
    site["secrets"]["rabbitmq_users"]["nova"] = "nova-password"
    site["rabbitmq"]["policies"]["ttl"] = {"pattern": "^notifications", "definition": {"message-ttl": 60000}}
    config = settings(site)
    assert config["rabbitmq_user_settings"]["nova"] == {"tags": [], "permissions": {}}
    assert config["rabbitmq_user_settings"]["openstack"]["permissions"] == {"/": [".*", ".*", ".*"]}
    assert config["rabbitmq_policy_settings"]["ttl"] == {
        "vhost": "/",
        "priority": 0,
        "apply_to": "all",
        "pattern": "^notifications",
        "definition": {"message-ttl": 60000},
    }


def test_an_inherited_bad_policy_value_is_named_in_the_defaults():
    site = example()
    site["rabbitmq"]["policy_defaults"] = {"apply_to": "everything"}
    site["rabbitmq"]["policies"]["ttl"] = {"pattern": "^x", "definition": {"message-ttl": 1}}
    assert problems(site) == [
        "prereqos:rabbitmq:policy_defaults:apply_to: must be one of "
        "all, queues, exchanges, classic_queues, quorum_queues, streams"
    ]


# --------------------------------------------------------------- the rules
@pytest.mark.parametrize("case", sorted(BAD_PILLARS))
def test_bad_pillar_is_refused_with_its_key_and_no_secret(case):
    pillar, message = bad_pillar(case, {"prereqos": example()})
    found = "\n".join(problems(pillar["prereqos"]))
    assert message in found
    assert CANARY not in found
    assert not [value for value in secret_values(pillar) if value in found]


@pytest.mark.parametrize(
    ("value", "ms"),
    [("1s", 1000), ("500ms", 500), ("100us", 0.1), (5000, 5000), ("2m", 120_000), ("1d", 86_400_000), ("7", 7)],
)
def test_haproxy_durations(value, ms):
    assert settings_lib.haproxy_duration_ms(value) == ms


@pytest.mark.parametrize("value", ["soon", "1.5s", "10S", "-1", " 5s", "5 s", True, None, 1.5, "1s2"])
def test_not_haproxy_durations(value):
    assert settings_lib.haproxy_duration_ms(value) is None


@pytest.mark.parametrize(("value", "ok"), [("2147483647", True), ("2147483648", False), ("24d", True), ("0s", False)])
def test_timeout_limits(value, ok):
    site = example()
    site["haproxy"]["timeouts"] = {"server": value}
    assert (problems(site) == []) is ok


@pytest.mark.parametrize(("advert", "ok"), [(0.01, True), (0.25, True), (40.95, True), (0.015, False), (0, False)])
def test_advert_int_within_vrrpv3(advert, ok):
    site = example()
    site["keepalived"]["advert_int"] = advert
    assert (problems(site) == []) is ok


@pytest.mark.parametrize(
    ("name", "ok"),
    [("eth0", True), ("bond0.100", True), ("enp0s31f6-uplin", True), ("enp0s31f6-uplink", False), ("a b", False)],
)
def test_linux_interface_names(name, ok):
    site = example()
    site["networks"]["srv"]["interface"] = name
    assert (problems(site) == []) is ok


@pytest.mark.parametrize(("token", "ok"), [(500, True), (60000, True), (499, False), ("3000", False)])
def test_corosync_token_range(token, ok):
    site = example()
    site["pacemaker"]["token"] = token
    assert (problems(site) == []) is ok


@pytest.mark.parametrize(("score", "ok"), [(100, True), ("INFINITY", True), ("-INFINITY", True), ("lots", False)])
def test_resource_stickiness_is_a_score(score, ok):
    site = example()
    site["pacemaker"]["resource_stickiness"] = score
    assert (problems(site) == []) is ok


@pytest.mark.parametrize(("size", "ok"), [("256M", True), ("4g", True), (268435456, True), ("1.5G", False)])
def test_innodb_buffer_pool_size_syntax(size, ok):
    site = example()
    site["galera"]["innodb_buffer_pool_size"] = size
    assert (problems(site) == []) is ok


def test_check_port_must_not_be_an_apache_port_on_the_same_address():
    site = example()
    site["apache"]["ports"] = [80, 9200]
    assert "prereqos:galera:check_port: 9200 is also an apache port on the same address; pick another" in problems(site)


def test_ipv6_networks_overlap_only_with_ipv6():
    site = example()
    site["networks"]["api"] = {"cidr": "2001:db8::/64", "interface": "eth1", "vip": "2001:db8::10"}
    for index, node in enumerate(site["controllers"], start=1):
        node["addresses"]["api"] = f"2001:db8::{index}"
    assert problems(site) == []


# ---------------------------------------------------------------- secrets
def test_any_printable_password_is_accepted():
    site = example()
    for key in ("db_root_password", "haproxy_stats_password", "openrc_admin_password"):
        site["secrets"][key] = HOSTILE
    site["secrets"]["db_sst_password"] = SST_HOSTILE
    # rabbitmqctl reads passwords as Latin-1: RabbitMQ passwords are ASCII.
    site["secrets"]["rabbitmq_users"]["openstack"] = HOSTILE.encode("ascii", "ignore").decode() + "end"
    assert problems(site) == []


@pytest.mark.parametrize(
    ("value", "problem"),
    [
        ("a\nb", "contains a line break (U+000A)"),
        ("a\rb", "contains a line break (U+000D)"),
        ("a\u2028b", "contains a line break (U+2028)"),
        ("a\x00b", "contains the control character U+0000"),
        ("a\tb", "contains the control character U+0009"),
        ("a\x7fb", "contains the control character U+007F"),
    ],
)
def test_characters_no_consumer_takes_intact_are_named_not_shown(value, problem):
    site = example()
    site["secrets"]["db_root_password"] = CANARY + value
    fix = "use printable characters on one line (quotes, '\\', '$', spaces are fine)"
    assert problems(site) == [f"prereqos:secrets:db_root_password: {problem}; {fix}"]


def test_blanks_around_a_password_are_fine_where_no_consumer_trims_them():
    site = example()
    site["secrets"]["openrc_admin_password"] = f" {CANARY} "
    assert problems(site) == []


@pytest.mark.parametrize(
    "wrong",
    [[CANARY], {"nested": CANARY}, 12345678, True],
    ids=["list", "mapping", "int", "bool"],
)
@pytest.mark.parametrize("key", [*settings_lib.SECRET_KEYS])
def test_a_secret_of_the_wrong_type_is_described_by_its_type_only(key, wrong):
    site = example()
    site["secrets"][key] = wrong
    found = "\n".join(problems(site))
    assert f"prereqos:secrets:{key}:" in found
    assert CANARY not in found and "12345678" not in found


def test_sst_password_fits_one_mariadb_option_line():
    site = example()
    room = settings_lib.MARIADB_OPTION_LINE_MAX - len('wsrep_sst_auth = "sst:"')
    site["secrets"]["db_sst_password"] = "#" * room
    assert problems(site) == []
    site["secrets"]["db_sst_password"] = "#" * (room + 1)
    assert problems(site)[0].startswith("prereqos:secrets:db_sst_password: too long")


# ---------------------------------------------------------------- deriving
def test_derive_this_node_vips_and_backends():
    config = settings(example(), "ctrl-2")
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


@pytest.mark.parametrize(("milliseconds", "period"), [(None, "PT0.1S"), (1000, "PT1S"), (150, "PT0.15S")])
def test_galera_membership_retransmit_is_an_iso_8601_period(milliseconds, period):
    site = example()
    if milliseconds is not None:
        site.setdefault("galera", {})["membership_retransmit_ms"] = milliseconds
    assert settings(site, "ctrl-1")["galera_membership_period"] == period


def test_minion_outside_the_controllers_has_no_node_view():
    config = settings(example(), "master")
    assert config["me"] is None and config["facts"] is None
    assert config["node_expectation"] == {
        "id": "master",
        "controllers": ["ctrl-1", "ctrl-2", "ctrl-3"],
        "hostname": None,
        "networks": {},
    }


def test_node_expectation_names_interfaces_vips_and_peers():
    expected = settings(example(), "ctrl-2")["node_expectation"]
    assert expected["hostname"] == "ctrl-2"
    assert expected["networks"]["srv"] == {
        "interface": "eth0",
        "address": "192.0.2.12",
        "vip": "192.0.2.10",
        "peers": ["192.0.2.11", "192.0.2.13"],
    }


def test_facts_hold_what_health_needs_and_no_secret():
    site = example()
    site["secrets"]["haproxy_stats_password"] = HOSTILE
    config = settings(site)
    facts = config["facts"]
    assert facts["vips"] == {"api": "198.51.100.10", "srv": "192.0.2.10"}
    assert facts["haproxy_checks"]["galera"] == "galera" and facts["haproxy_checks"]["keystone"] == "http"
    assert facts["pacemaker_resources"] == ["haproxy-clone", "vip_api", "vip_srv"]
    assert facts["rabbitmq_nodes"] == ["rabbit@ctrl-1", "rabbit@ctrl-2", "rabbit@ctrl-3"]
    assert facts["galera_size"] == 3 and facts["paths"]["haproxy_socket"] == "/run/haproxy/admin.sock"
    assert facts["node"] == config["node_expectation"]
    text = json.dumps(facts)
    for value in [*secret_values({"prereqos": site}), config["stats_password_hash"], config["galera_sst_auth"]]:
        assert value not in text


def test_pacemaker_objects_cover_every_vip():
    pcmk = settings(example())["pacemaker_config"]
    assert pcmk["properties"]["stonith-enabled"] == "false"
    assert pcmk["primitives"]["vip_srv"]["params"] == {"ip": "192.0.2.10", "cidr_netmask": "24", "nic": "eth0"}
    assert pcmk["colocations"]["vip_api-with-haproxy"]["with_rsc"] == "haproxy-clone"
    assert pcmk["orders"]["haproxy-before-vip_srv"] == {"kind": "Optional", "first": "haproxy-clone", "then": "vip_srv"}


def test_stats_hash_is_stable_and_verifies():
    first = settings_lib.stats_password_hash(HOSTILE, "openstack", "admin")
    assert first == settings_lib.stats_password_hash(HOSTILE, "openstack", "admin")
    assert first.startswith("$6$") and HOSTILE not in first
    salt = first.split("$")[2]
    assert crypt.sha512_crypt(HOSTILE, salt) == first
    assert settings_lib.stats_password_hash(HOSTILE, "other", "admin") != first


@pytest.mark.parametrize(
    ("address", "erlang"),
    [("192.0.2.11", "{192,0,2,11}"), ("2001:db8::b", "{8193,3512,0,0,0,0,0,11}")],
)
def test_erlang_ip_tuple(address, erlang):
    assert settings_lib.erlang_ip_tuple(address) == erlang


# ---------------------------------------------------------------- encoders
def mariadb_read_back(text: str) -> str:
    """The MariaDB option-file parser's value rules (mysys my_default.c), for one value."""
    value = text.strip()
    if len(value) > 1 and value[0] in "\"'" and value[-1] == value[0]:
        value = value[1:-1]
    escapes = {"n": "\n", "t": "\t", "r": "\r", "b": "\b", "s": " ", '"': '"', "'": "'", "\\": "\\"}
    out, index = [], 0
    while index < len(value):
        char = value[index]
        if char == "\\" and index < len(value) - 1:
            index += 1
            out.append(escapes.get(value[index], "\\" + value[index]))
        else:
            out.append(char)
        index += 1
    return "".join(out)


@pytest.mark.parametrize(
    "value", ["sst:replace-me", HOSTILE, "sst:a\\", 'sst:"', "sst: x ", "sst:#", "sst:\\n", "sst:'q'"]
)
def test_mariadb_option_value_reads_back(value):
    assert mariadb_read_back(settings_lib.mariadb_option_value(value)) == value


def test_mariadb_option_value_is_bare_when_safe():
    assert settings_lib.mariadb_option_value("sst:replace-me-db-sst") == "sst:replace-me-db-sst"
    assert settings_lib.mariadb_option_value("sst:a b") == '"sst:a b"'


@pytest.mark.parametrize("value", ["admin", HOSTILE, "it's", "'", "''", "a'\\''b", "", "$(reboot)", "-n"])
def test_shell_word_reads_back(value):
    assert shlex.split(f"x={settings_lib.shell_word(value)}") == [f"x={value}"]


def test_shell_word_is_bare_when_safe():
    assert settings_lib.shell_word("RegionOne") == "RegionOne"
    assert settings_lib.shell_word("it's") == "'it'\\''s'"


def test_derive_encodes_each_secret_for_its_file():
    site = example()
    site["secrets"]["db_sst_password"] = SST_HOSTILE
    site["secrets"]["openrc_admin_password"] = HOSTILE
    config = settings(site)
    assert mariadb_read_back(config["galera_sst_auth"]) == f"sst:{SST_HOSTILE}"
    exports = dict(config["openrc_exports"])
    assert shlex.split(f"x={exports['OS_PASSWORD']}") == [f"x={HOSTILE}"]
    assert exports["OS_AUTH_URL"] == "http://198.51.100.10:5000/v3"


def test_openrc_absent_has_no_exports():
    site = example()
    site["openrc"]["ensure"] = "absent"
    del site["secrets"]["openrc_admin_password"]
    assert settings(site)["openrc_exports"] is None
