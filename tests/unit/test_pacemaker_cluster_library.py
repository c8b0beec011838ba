"""Unit tests of _utils/prereqos_pacemaker.py (crm_mon and CIB parsers, desired-vs-live diff, crm text,
masking), fed outputs recorded from Debian 12's pacemaker 2.1.5 / crmsh 4.4 and Debian 13's pacemaker 3.0 /
crmsh 5.0 (tests/fixtures/record-pacemaker.sh): each test of a recorded output runs once per release."""

from __future__ import annotations

import copy
import json
import re
import shlex
from typing import Any

import pytest
from salt.exceptions import CommandExecutionError, SaltInvocationError

from tests.unit.loader import RELEASES, library, recorded, releases

pacemaker = library("prereqos_pacemaker")


def rec(name: str, release: str) -> str:
    """An output recorded on Debian ``release``."""
    return recorded("pacemaker", name, release)


def per_release(*names: str) -> pytest.MarkDecorator:
    """Run the test once per Debian release (argument ``release``) that recorded all of ``names``."""
    return pytest.mark.parametrize("release", releases("pacemaker", *names))


SECRET = 'fixture "dummy" pw'
# What the recorded salt-call applied: the shape the formula passes, for one network "srv"; the same on
# every release (test_desired_is_the_same_on_every_release).
DESIRED: dict[str, Any] = json.loads(rec("desired.json", RELEASES[0]))
VIP_PARAMS: dict[str, str] = DESIRED["primitives"]["vip_srv"]["params"]
VIP = VIP_PARAMS["ip"]
VIP_LINE = "primitive vip_srv ocf:heartbeat:IPaddr2 params " + " ".join(f"{k}={v}" for k, v in VIP_PARAMS.items())
FENCE = {
    "fence_ctrl1": {
        "agent": "stonith:fence_ipmilan",
        "params": {
            "ip": "127.0.0.250",
            "username": "admin",
            "password": SECRET,
            "pcmk_host_list": "ctrl1",
            "lanplus": "1",
        },
        "meta": {"target-role": "Stopped"},
        "ops": {"monitor": {"interval": "60s"}},
    }
}


def with_api_version(xml: str, version: str | None) -> str:
    """crm_mon's XML with another api-version (None: without the attribute)."""
    return re.sub(r' api-version="[^"]*"', "" if version is None else f' api-version="{version}"', xml, count=1)


def with_schema(cib: str, schema: str | None) -> str:
    """A CIB validated with another schema (None: without validate-with)."""
    return re.sub(r' validate-with="[^"]*"', "" if schema is None else f' validate-with="{schema}"', cib, count=1)


@per_release("desired.json")
def test_desired_is_the_same_on_every_release(release: str) -> None:
    """Both recordings put their nodes in the same subnet, so the formula's objects and the VIP are the same."""
    assert json.loads(rec("desired.json", release)) == DESIRED


@pytest.mark.parametrize(
    ("release", "api", "schema"),
    [
        pytest.param(release, api, schema, id=f"debian{release}")
        for release, api, schema in (("12", "2.25", "pacemaker-3.9"), ("13", "2.38", "pacemaker-4.0"))
    ],
)
def test_recorded_versions(release: str, api: str, schema: str) -> None:
    """What each release writes: crm_mon's XML API and the CIB's schema, both read by the same parser."""
    assert re.search(rf'<pacemaker-result api-version="{re.escape(api)}"', rec("crm_mon-3-nodes.xml", release))
    assert f'validate-with="{schema}"' in rec("cib-after-apply.xml", release)
    assert pacemaker.parse_status(rec("crm_mon-3-nodes.xml", release))["dc"] == "ctrl1"
    assert pacemaker.parse_configuration(rec("cib-after-apply.xml", release))["primitives"]


# ---------------------------------------------------------------- status


@per_release("crm_mon-3-nodes.xml", "crm_mon-no-quorum.xml")
def test_health_report_whole_and_broken(release: str) -> None:
    whole = pacemaker.health_report(
        pacemaker.parse_status(rec("crm_mon-3-nodes.xml", release)), None, ["haproxy-clone"]
    )
    assert whole["ok"] is True and whole["offline"] == []
    assert whole["resources"]["haproxy-clone"] == ["ctrl1", "ctrl2", "ctrl3"]
    broken = pacemaker.health_report(
        pacemaker.parse_status(rec("crm_mon-no-quorum.xml", release)), ["ctrl1", "ctrl4"], ["x"]
    )
    assert broken["ok"] is False and broken["offline"] == ["ctrl2", "ctrl3", "ctrl4"]
    assert broken["problems"] == [
        "partition without quorum",
        "node ctrl4 is not a cluster member",
        "resource x is not configured",
    ]


@per_release("crm_mon-standby.xml")
def test_health_report_keeps_a_node_in_standby_apart_from_problems(release: str) -> None:
    report = pacemaker.health_report(
        pacemaker.parse_status(rec("crm_mon-standby.xml", release)), None, ["haproxy-clone"]
    )
    assert report["problems"] == [] and report["ok"] is False
    assert report["standby"] == ["ctrl2"] and report["maintenance"] == ["node ctrl2 is in standby"]
    assert report["resources"]["haproxy-clone"] == ["ctrl1", "ctrl3"]


@per_release("crm_mon-standby.xml")
def test_a_node_in_standby_runs_no_resource(release: str) -> None:
    current = pacemaker.parse_status(rec("crm_mon-standby.xml", release))
    assert pacemaker.resources_on(current, "ctrl2") == []
    assert "vip_srv" in pacemaker.resources_on(current, "ctrl1")


def test_a_resource_still_starting_runs_on_its_node() -> None:
    current = {"resources": {"vip_srv": {"agent": "", "role": "Starting", "active": True, "nodes": ["ctrl1"]}}}
    assert pacemaker.resources_on(current, "ctrl1") == ["vip_srv"]


@per_release("crm_mon-3-nodes.xml")
@pytest.mark.parametrize(
    ("garble", "message"),
    [
        (lambda xml: xml[:700], "not well-formed XML"),
        (lambda xml: with_api_version(xml, "3.0"), "api-version 3.0"),
        (lambda xml: with_api_version(xml, None), r"api-version \(none\)"),
    ],
)
def test_parse_status_of_a_garbled_recording_is_a_clear_error(garble: Any, message: str, release: str) -> None:
    with pytest.raises(CommandExecutionError, match=message):
        pacemaker.parse_status(garble(rec("crm_mon-3-nodes.xml", release)))


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "not well-formed XML"),
        ('<crm_mon version="2.1.5"><summary/></crm_mon>', "expected <pacemaker-result>"),
        ('<pacemaker-result api-version="2.25"><status code="0" message="OK"/></pacemaker-result>', "lacks summary"),
    ],
)
def test_parse_status_garbage_is_a_clear_error(text: str, message: str) -> None:
    with pytest.raises(CommandExecutionError, match=message):
        pacemaker.parse_status(text)


def test_parse_status_groups_and_group_members() -> None:
    xml = """<pacemaker-result api-version="2.25"><summary><current_dc present="true" name="a" with_quorum="true"/>
    </summary><nodes><node name="a" online="true" standby="true" maintenance="false"/></nodes><resources>
    <group id="g" number_resources="2">
      <resource id="ip1" resource_agent="ocf:heartbeat:IPaddr2" role="Started" active="true"><node name="a"/></resource>
      <resource id="web" resource_agent="systemd:apache2" role="Stopped" active="false"/>
    </group></resources><status code="0" message="OK"/></pacemaker-result>"""
    status = pacemaker.parse_status(xml)
    assert status["nodes"]["a"] == {"online": True, "standby": True, "maintenance": False}
    assert status["resources"] == {
        "ip1": {"agent": "ocf:heartbeat:IPaddr2", "role": "Started", "active": True, "nodes": ["a"]},
        "web": {"agent": "systemd:apache2", "role": "Stopped", "active": False, "nodes": []},
    }


@per_release("cib-after-apply.xml")
def test_parse_configuration_of_the_recorded_cib(release: str) -> None:
    conf = pacemaker.parse_configuration(rec("cib-after-apply.xml", release))
    assert conf["properties"]["stonith-enabled"] == "false"
    assert conf["properties"]["no-quorum-policy"] == "stop"
    assert conf["properties"]["cluster-infrastructure"] == "corosync"
    assert conf["rsc_defaults"] == {"resource-stickiness": "100"}
    assert conf["primitives"] == {
        "vip_srv": {
            "agent": "ocf:heartbeat:IPaddr2",
            "params": VIP_PARAMS,
            "meta": {},
            "ops": {"monitor": {"interval": "10s"}},
        },
        "haproxy": {"agent": "systemd:haproxy", "params": {}, "meta": {}, "ops": {"monitor": {"interval": "5s"}}},
    }
    assert conf["clones"] == {"haproxy-clone": {"rsc": "haproxy", "meta": {}}}
    assert conf["colocations"] == DESIRED["colocations"]
    assert conf["orders"] == DESIRED["orders"]


@per_release("cib-before-apply.xml")
def test_parse_configuration_of_an_empty_cluster(release: str) -> None:
    conf = pacemaker.parse_configuration(rec("cib-before-apply.xml", release))
    assert conf["rsc_defaults"] == {} and conf["primitives"] == {} and conf["clones"] == {}
    assert conf["colocations"] == {} and conf["orders"] == {}
    assert "stonith-enabled" not in conf["properties"]


@per_release("cib-drift.xml")
def test_parse_configuration_keeps_operator_meta_and_respelled_interval(release: str) -> None:
    conf = pacemaker.parse_configuration(rec("cib-drift.xml", release))
    vip = conf["primitives"]["vip_srv"]
    assert vip["meta"] == {"target-role": "Stopped"}
    assert vip["params"]["ip"] == "192.0.2.99"
    assert vip["ops"] == {"monitor": {"interval": "10000ms"}}


@per_release("cib-before-apply.xml")
def test_parse_configuration_other_forms(release: str) -> None:
    cib = """<cib validate-with="pacemaker-3.9"><configuration><crm_config/><resources>
      <primitive id="p" template="tpl"><operations>
        <op id="p-m1" name="monitor" interval="10s" role="Promoted"/>
        <op id="p-m2" name="monitor" interval="11s" role="Unpromoted"/>
      </operations></primitive>
      <clone id="c"><meta_attributes id="c-m"><nvpair id="c-m-i" name="interleave" value="true"/></meta_attributes>
        <group id="g"><primitive id="q" class="ocf" provider="heartbeat" type="Dummy"/></group></clone>
      <clone id="empty"/>
    </resources><constraints>
      <rsc_colocation id="set" score="-inf"><resource_set id="s1"/></rsc_colocation>
      <rsc_order id="o0" score="0" first="a" then="b"/>
      <rsc_order id="o1" first="a" then="b"/>
      <rsc_order id="o2" score="inf" first="a" then="b"/>
    </constraints>
    <rsc_defaults><meta_attributes id="first"><nvpair id="x" name="resource-stickiness" value="1"/></meta_attributes>
      <meta_attributes id="second"><nvpair id="y" name="resource-stickiness" value="2"/></meta_attributes>
    </rsc_defaults></configuration></cib>"""
    conf = pacemaker.parse_configuration(cib)
    assert conf["primitives"]["p"]["agent"] == "@tpl"
    assert conf["primitives"]["p"]["ops"] == {
        "monitor:10000ms": {"interval": "10s", "role": "Promoted"},
        "monitor:11000ms": {"interval": "11s", "role": "Unpromoted"},
    }
    assert conf["primitives"]["q"]["agent"] == "ocf:heartbeat:Dummy"
    assert conf["clones"] == {"c": {"rsc": "g", "meta": {"interleave": "true"}}, "empty": {"rsc": None, "meta": {}}}
    assert conf["colocations"] == {"set": {"score": "-INFINITY", "rsc": None, "with_rsc": None}}
    assert {key: value["kind"] for key, value in conf["orders"].items()} == {
        "o0": "Optional",
        "o1": "Mandatory",
        "o2": "Mandatory",
    }
    assert conf["rsc_defaults"] == {"resource-stickiness": "1"}
    assert conf["properties"] == {}
    assert pacemaker.rsc_defaults_set_id(cib) == "first"
    assert pacemaker.rsc_defaults_set_id(rec("cib-before-apply.xml", release)) == "rsc-options"


@per_release("cib-after-apply.xml", "crm_mon-3-nodes.xml")
@pytest.mark.parametrize(
    ("name", "garble", "message"),
    [
        ("cib-after-apply.xml", lambda cib: cib[:1500], "CIB is not well-formed XML"),
        ("crm_mon-3-nodes.xml", lambda xml: xml, "expected <cib>"),
        ("cib-after-apply.xml", lambda cib: with_schema(cib, "pacemaker-5.0"), "pacemaker-5.0 is not supported"),
        ("cib-after-apply.xml", lambda cib: with_schema(cib, None), r"\(none\) is not supported"),
    ],
)
def test_parse_configuration_of_a_garbled_recording_is_a_clear_error(
    name: str, garble: Any, message: str, release: str
) -> None:
    with pytest.raises(CommandExecutionError, match=message):
        pacemaker.parse_configuration(garble(rec(name, release)))


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("not xml at all", "CIB is not well-formed XML"),
        ("<configuration/>", "expected <cib>"),
        ('<cib validate-with="pacemaker-3.9"><status/></cib>', "no <configuration>"),
    ],
)
def test_parse_configuration_garbage_is_a_clear_error(text: str, message: str) -> None:
    with pytest.raises(CommandExecutionError, match=message):
        pacemaker.parse_configuration(text)


# ---------------------------------------------------------------- normalising


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("10s", "10000ms"),
        ("10", "10000ms"),
        ("10000ms", "10000ms"),
        ("10000msec", "10000ms"),
        ("10 sec", "10000ms"),
        ("2min", "120000ms"),
        ("1m", "60000ms"),
        ("1h", "3600000ms"),
        ("1hr", "3600000ms"),
        ("5000us", "5ms"),
        ("PT10S", "10000ms"),
        ("P1DT1H1M1S", "90061000ms"),
        ("P", "P"),
        ("soon", "soon"),
    ],
)
def test_msec(value: str, expected: str) -> None:
    assert pacemaker.msec(value) == expected


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("inf", "INFINITY"),
        ("+INFINITY", "INFINITY"),
        ("INFINITY", "INFINITY"),
        ("-inf", "-INFINITY"),
        ("-INFINITY", "-INFINITY"),
        (100, "100"),
        ("+100", "100"),
        ("odd", "odd"),
    ],
)
def test_score(value: Any, expected: str) -> None:
    assert pacemaker.score(value) == expected


def test_normalise_desired_spells_values_as_the_cib() -> None:
    want = pacemaker.normalise_desired(
        {
            "properties": {"stonith-enabled": False, "pe-input-series-max": 1000},
            "primitives": {"x": {"agent": "systemd:haproxy", "params": {"n": 1.5, "t": True}}},
            "orders": {"o": {"first": "a", "then": "b"}, "p": {"kind": "optional", "first": "a", "then": "b"}},
            "colocations": {"c": {"score": "inf", "rsc": "a", "with_rsc": "b"}},
        }
    )
    assert want["properties"] == {"stonith-enabled": "false", "pe-input-series-max": "1000"}
    assert want["rsc_defaults"] == {}
    assert want["primitives"]["x"] == {
        "agent": "systemd:haproxy",
        "params": {"n": "1.5", "t": "true"},
        "meta": {},
        "ops": {},
    }
    assert want["orders"]["o"]["kind"] == "Mandatory" and want["orders"]["p"]["kind"] == "Optional"
    assert want["colocations"]["c"]["score"] == "INFINITY"


@pytest.mark.parametrize(
    ("desired", "message"),
    [
        ([], "expected a mapping"),
        ({"resources": {}}, r"unknown sections \['resources'\]"),
        ({"properties": ["a"]}, "properties: expected a mapping"),
        ({"properties": {"bad name": "x"}}, "invalid name 'bad name'"),
        ({"properties": {"x": None}}, r"properties.x: expected a string or number, got NoneType"),
        ({"properties": {"x": "two\nlines"}}, "properties.x: only printable ASCII"),
        ({"primitives": []}, "primitives: expected a mapping of id"),
        ({"primitives": {"1vip": {"agent": "systemd:x"}}}, "'1vip' is not a valid pacemaker id"),
        ({"primitives": {"v": "ocf:heartbeat:IPaddr2"}}, "primitives.v: expected a mapping"),
        ({"primitives": {"v": {"agent": "systemd:x", "param": {}}}}, r"unknown keys \['param'\]"),
        ({"primitives": {"v": {"params": {}}}}, r"missing \['agent'\]"),
        ({"primitives": {"v": {"agent": "IPaddr2"}}}, "is not class:provider:type"),
        ({"primitives": {"v": {"agent": "ocf:IPaddr2"}}}, "is not class:provider:type"),
        ({"primitives": {"v": {"agent": "systemd:x", "ops": ["monitor"]}}}, "ops: expected a mapping"),
        ({"primitives": {"v": {"agent": "systemd:x", "ops": {"monitor": "10s"}}}}, "ops.monitor: expected a mapping"),
        ({"primitives": {"v": {"agent": "systemd:x", "params": {"password": "pässword"}}}}, "params.password: only"),
        ({"clones": {"c": {"rsc": "a b"}}}, "clones.c.rsc: 'a b' is not a valid"),
        ({"colocations": {"c": {"score": "inf", "rsc": "a"}}}, r"missing \['with_rsc'\]"),
        ({"orders": {"o": {"kind": "always", "first": "a", "then": "b"}}}, "'Always' is not one of"),
    ],
)
def test_normalise_desired_rejects_bad_input(desired: Any, message: str) -> None:
    with pytest.raises(SaltInvocationError, match=message):
        pacemaker.normalise_desired(desired)


def test_bad_secret_is_never_echoed() -> None:
    with pytest.raises(SaltInvocationError) as err:
        pacemaker.normalise_desired(
            {"primitives": {"f": {"agent": "stonith:fence_x", "params": {"password": "sécret"}}}}
        )
    assert "sécret" not in str(err.value)


# ---------------------------------------------------------------- diff


def current(name: str, release: str) -> dict[str, Any]:
    """The parsed configuration of a CIB recorded on Debian ``release``."""
    return pacemaker.parse_configuration(rec(name, release))


@per_release("cib-before-apply.xml")
def test_diff_empty_cluster_creates_everything(release: str) -> None:
    changes = pacemaker.diff(DESIRED, current("cib-before-apply.xml", release))
    assert changes["properties"] == {
        "stonith-enabled": {"old": None, "new": "false"},
        "no-quorum-policy": {"old": None, "new": "stop"},
    }
    assert changes["rsc_defaults"] == {"resource-stickiness": {"old": None, "new": "100"}}
    assert {section: sorted(entries) for section, entries in changes.items()} == {
        "properties": ["no-quorum-policy", "stonith-enabled"],
        "rsc_defaults": ["resource-stickiness"],
        "primitives": ["haproxy", "vip_srv"],
        "clones": ["haproxy-clone"],
        "colocations": ["vip_srv-with-haproxy"],
        "orders": ["haproxy-before-vip_srv"],
    }
    assert all(entry["old"] is None for section in list(changes)[2:] for entry in changes[section].values())


@per_release("cib-after-apply.xml")
def test_diff_round_trip_of_the_recorded_apply_is_empty(release: str) -> None:
    assert pacemaker.diff(DESIRED, current("cib-after-apply.xml", release)) == {}
    assert pacemaker.diff({}, current("cib-after-apply.xml", release)) == {}


@per_release("cib-drift.xml", "cib-drift-reapplied.xml")
def test_diff_compares_intervals_in_milliseconds_and_leaves_operator_meta(release: str) -> None:
    desired = copy.deepcopy(DESIRED)
    drifted = current("cib-drift.xml", release)
    changes = pacemaker.diff(desired, drifted)
    assert list(changes) == ["primitives"] and list(changes["primitives"]) == ["vip_srv"]
    entry = changes["primitives"]["vip_srv"]
    assert entry["old"]["params"]["ip"] == "192.0.2.99"
    assert entry["new"] == {
        "agent": "ocf:heartbeat:IPaddr2",
        "params": VIP_PARAMS,
        "meta": {"target-role": "Stopped"},
        "ops": {"monitor": {"interval": "10s"}},
    }
    assert pacemaker.diff(desired, current("cib-drift-reapplied.xml", release)) == {}


@per_release("cib-after-apply.xml")
def test_diff_leaves_objects_and_properties_it_does_not_name(release: str) -> None:
    have = current("cib-after-apply.xml", release)
    have["primitives"]["foreign"] = {"agent": "systemd:x", "params": {}, "meta": {}, "ops": {}}
    have["properties"]["maintenance-mode"] = "true"
    assert pacemaker.diff(DESIRED, have) == {}


@per_release("cib-after-apply.xml")
def test_diff_params_are_exact_meta_and_ops_merge(release: str) -> None:
    have = current("cib-after-apply.xml", release)
    have["primitives"]["vip_srv"]["params"]["arp_count"] = "9"
    have["primitives"]["vip_srv"]["ops"]["start"] = {"interval": "0s", "timeout": "20s"}
    have["primitives"]["vip_srv"]["ops"]["monitor"]["timeout"] = "20s"
    new = pacemaker.diff(DESIRED, have)["primitives"]["vip_srv"]["new"]
    assert "arp_count" not in new["params"]
    assert new["ops"] == {
        "start": {"interval": "0s", "timeout": "20s"},
        "monitor": {"interval": "10s", "timeout": "20s"},
    }


def test_diff_named_op_replaces_every_op_of_that_name() -> None:
    have = {
        "primitives": {
            "p": {
                "agent": "ocf:heartbeat:Dummy",
                "params": {},
                "meta": {},
                "ops": {
                    "monitor:10000ms": {"interval": "10s", "timeout": "9s"},
                    "monitor:20000ms": {"interval": "20s"},
                },
            }
        }
    }
    desired = {"primitives": {"p": {"agent": "ocf:heartbeat:Dummy", "ops": {"monitor": {"interval": "30s"}}}}}
    new = pacemaker.diff(desired, have)["primitives"]["p"]["new"]
    assert new["ops"] == {"monitor": {"interval": "30s", "timeout": "9s"}}


@per_release("cib-after-apply.xml")
def test_diff_agent_clone_meta_and_constraints(release: str) -> None:
    have = current("cib-after-apply.xml", release)
    desired = copy.deepcopy(DESIRED)
    desired["primitives"]["haproxy"]["agent"] = "ocf:heartbeat:haproxy"
    desired["clones"]["haproxy-clone"]["meta"] = {"interleave": True}
    desired["colocations"]["vip_srv-with-haproxy"]["score"] = 500
    desired["orders"]["haproxy-before-vip_srv"]["kind"] = "Mandatory"
    changes = pacemaker.diff(desired, have)
    assert changes["primitives"]["haproxy"]["new"]["agent"] == "ocf:heartbeat:haproxy"
    assert changes["clones"]["haproxy-clone"] == {
        "old": {"rsc": "haproxy", "meta": {}},
        "new": {"rsc": "haproxy", "meta": {"interleave": "true"}},
    }
    assert changes["colocations"]["vip_srv-with-haproxy"]["new"]["score"] == "500"
    assert changes["orders"]["haproxy-before-vip_srv"]["new"]["kind"] == "Mandatory"


# ---------------------------------------------------------------- render / mask


@per_release("cib-before-apply.xml")
def test_render_crm_is_what_crmsh_parses(release: str) -> None:
    changes = pacemaker.diff(
        {**DESIRED, "primitives": {**DESIRED["primitives"], **FENCE}}, current("cib-before-apply.xml", release)
    )
    text = pacemaker.render_crm(changes)
    lines = text.splitlines()
    assert lines[:2] == [
        "property cib-bootstrap-options: stonith-enabled=false no-quorum-policy=stop",
        "rsc_defaults rsc-options: resource-stickiness=100",
    ]
    assert f"{VIP_LINE} op monitor interval=10s" in lines
    assert "primitive haproxy systemd:haproxy op monitor interval=5s" in lines
    assert lines[-3:] == [
        "clone haproxy-clone haproxy",
        "colocation vip_srv-with-haproxy INFINITY: vip_srv haproxy-clone",
        "order haproxy-before-vip_srv Optional: haproxy-clone vip_srv",
    ]
    fence = next(line for line in lines if line.startswith("primitive fence_ctrl1"))
    # crmsh 4.4 splits each line with shlex.split: the password comes back whole.
    assert f"password={SECRET}" in shlex.split(fence)
    assert shlex.split(fence)[-5:] == ["meta", "target-role=Stopped", "op", "monitor", "interval=60s"]
    clone = {"clones": {"c": {"old": None, "new": {"rsc": "p", "meta": {"interleave": "true"}}}}}
    assert pacemaker.render_crm(clone) == "clone c p meta interleave=true\n"
    defaults = {"rsc_defaults": {"a": {"old": None, "new": "1"}}}
    assert pacemaker.render_crm(defaults, "first") == "rsc_defaults first: a=1\n"


def test_render_crm_writes_ops_by_their_real_name() -> None:
    new = {"agent": "ocf:heartbeat:Dummy", "params": {}, "meta": {}, "ops": {"monitor:10000ms": {"interval": "10s"}}}
    assert pacemaker.render_crm({"primitives": {"p": {"old": None, "new": new}}}) == (
        "primitive p ocf:heartbeat:Dummy op monitor interval=10s\n"
    )


@per_release("cib-after-apply.xml")
def test_masked_changes_hide_password_like_params(release: str) -> None:
    changes = pacemaker.diff(
        {"primitives": FENCE, "properties": {"stonith-enabled": "true"}}, current("cib-after-apply.xml", release)
    )
    masked = pacemaker.masked_changes(changes)
    assert masked["properties"] == {"old": {"stonith-enabled": "false"}, "new": {"stonith-enabled": "true"}}
    assert masked["fence_ctrl1"]["old"] is None
    assert masked["fence_ctrl1"]["new"]["params"]["password"] == "******"
    assert masked["fence_ctrl1"]["new"]["params"]["username"] == "admin"
    assert "dummy" not in repr(masked)
    assert changes["primitives"]["fence_ctrl1"]["new"]["params"]["password"] == SECRET


@per_release("cib-stonith-host.xml")
def test_masked_cib_hides_password_like_nvpairs_only(release: str) -> None:
    text = pacemaker.masked_cib(rec("cib-stonith-host.xml", release))
    assert "dummy" not in text and 'name="password" value="******"' in text
    assert 'name="username" value="admin"' in text


@per_release("cib-stonith-host.xml", "cib-before-apply.xml")
def test_secret_values_are_the_password_like_params_old_and_new(release: str) -> None:
    have = current("cib-stonith-host.xml", release)
    fence = copy.deepcopy(FENCE)
    fence["fence_ctrl1"]["params"]["password"] = "a new dummy"
    changes = pacemaker.diff({"primitives": fence}, have)
    assert sorted(pacemaker.secret_values(changes)) == sorted(
        [have["primitives"]["fence_ctrl1"]["params"]["password"], "a new dummy"]
    )
    assert pacemaker.secret_values(pacemaker.diff(DESIRED, current("cib-before-apply.xml", release))) == []
