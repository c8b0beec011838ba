"""Unit tests of _utils/prereqos_maintenance.py: the drained-controller record and the
go/refuse decisions of drain and undrain."""

from __future__ import annotations

import json

import pytest

from tests.unit.loader import library

maintenance = library("prereqos_maintenance")
IDS = ["ctrl-1", "ctrl-2", "ctrl-3"]


@pytest.mark.parametrize("text", [None, "", "  \n"])
def test_no_record_is_no_drained_controller(text):
    assert maintenance.parse_record(text) == []


def test_the_record_is_read_sorted_once_each():
    assert maintenance.parse_record(json.dumps({"drained": ["ctrl-3", "ctrl-2", "ctrl-3"]})) == ["ctrl-2", "ctrl-3"]


@pytest.mark.parametrize("text", ["{", "[]", '{"drained": "ctrl-2"}', '{"drained": [2]}'])
def test_a_record_prereqos_did_not_write_says_what_to_do(text):
    with pytest.raises(maintenance.RecordError, match="remove it and drain again"):
        maintenance.parse_record(text)


def test_intent_outside_a_maintenance_is_none():
    assert maintenance.intent(None, IDS) is None


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("ctrl-2", "expected {node: <controller id>, action: drain|undrain}"),
        ({"node": "ctrl-2"}, "expected {node: <controller id>, action: drain|undrain}"),
        ({"node": "ctrl-9", "action": "drain"}, "'ctrl-9' is not a controller (ctrl-1, ctrl-2, ctrl-3)"),
        ({"node": "ctrl-2", "action": "reboot"}, "'reboot' is not one of drain, undrain"),
    ],
)
def test_a_bad_intent_names_the_key_and_the_fix(value, message):
    with pytest.raises(ValueError, match="prereqos_maintenance") as error:
        maintenance.intent(value, IDS)
    assert message in str(error.value)


@pytest.mark.parametrize(
    ("drained", "action", "node", "after"),
    [
        ([], "drain", "ctrl-2", ["ctrl-2"]),
        (["ctrl-2"], "drain", "ctrl-2", ["ctrl-2"]),
        (["ctrl-2"], "undrain", "ctrl-2", []),
        ([], "undrain", "ctrl-2", []),
    ],
)
def test_planned_is_the_record_once_the_step_is_done(drained, action, node, after):
    assert maintenance.planned(drained, {"node": node, "action": action}) == after
    assert maintenance.planned(drained, None) == drained


def test_a_controller_since_removed_is_no_longer_drained():
    assert maintenance.of_controllers(["ctrl-2", "ctrl-9"], ["ctrl-1", "ctrl-2", "ctrl-3"]) == ["ctrl-2"]


def test_health_names_each_drained_controller_and_the_command_back():
    assert maintenance.drained_notes(["ctrl-2"]) == [
        "ctrl-2 is drained for maintenance: undrain it with "
        'salt-run state.orchestrate orch.prereqos_undrain pillar=\'{"node": "ctrl-2"}\''
    ]


def test_drain_goes_on_a_healthy_cluster():
    assert maintenance.drain_refusals("ctrl-2", [], [], []) == []


def test_drain_refuses_while_another_controller_is_drained_naming_it():
    refusals = maintenance.drain_refusals("ctrl-3", ["ctrl-2"], [], ["ctrl-2 is drained"])
    assert len(refusals) == 1
    assert refusals[0].startswith("ctrl-2 is already drained: one controller at a time; undrain it first")
    assert 'orch.prereqos_undrain pillar=\'{"node": "ctrl-2"}\'' in refusals[0]


def test_drain_refuses_an_unhealthy_cluster_with_every_reason():
    problems = ["galera: cluster size 2, expected 3", "rabbitmq: rabbit@ctrl-3 is not running"]
    assert maintenance.drain_refusals("ctrl-2", [], problems, ["pacemaker: node ctrl-1 is in standby"]) == [
        *problems,
        "pacemaker: node ctrl-1 is in standby",
    ]


def test_draining_the_drained_controller_again_goes_and_changes_nothing():
    assert maintenance.drain_refusals("ctrl-2", ["ctrl-2"], [], ["ctrl-2 is drained"]) == []


def test_undrain_waits_for_the_nodes_own_problems():
    assert maintenance.undrain_refusals("ctrl-2", []) == []
    assert maintenance.undrain_refusals("ctrl-2", ["galera: local state Joiner"]) == [
        "ctrl-2 is not healthy yet: galera: local state Joiner"
    ]


@pytest.mark.parametrize(
    ("status", "expected"), [("MAINT", True), ("DRAIN", True), ("UP", False), ("DOWN", False), ("no check", False)]
)
def test_out_of_rotation_includes_a_drain_stopped_half_way(status, expected):
    assert maintenance.out_of_rotation(status) is expected


def test_keepalived_track_file_left_released_is_maintenance_the_undrain_clears():
    assert maintenance.vips_released_notes("ctrl-2", False, []) == []
    assert maintenance.vips_released_notes("ctrl-2", True, ["ctrl-2"]) == [
        "keepalived: this node releases its VIPs (drained)"
    ]
    (note,) = maintenance.vips_released_notes("ctrl-2", True, [])
    assert note == (
        "keepalived: /var/lib/prereqos/vips-released says 1 but ctrl-2 is not drained: a drain stopped "
        'half-way; undrain it: salt-run state.orchestrate orch.prereqos_undrain pillar=\'{"node": "ctrl-2"}\''
    )
    # what held the undrain back: it waits for the node's problems only
    assert maintenance.undrain_refusals("ctrl-2", []) == []


def test_haproxy_servers_of_one_controller():
    stat = {
        "galera": {"ctrl-1": {"status": "UP", "sessions": 3}, "ctrl-2": {"status": "UP", "sessions": 0}},
        "keystone": {"ctrl-2": {"status": "DRAIN", "sessions": 1}},
        "stats": {},
    }
    assert maintenance.haproxy_servers(stat, "ctrl-2") == {
        "galera": {"status": "UP", "sessions": 0},
        "keystone": {"status": "DRAIN", "sessions": 1},
    }


@pytest.mark.parametrize(
    ("status", "expected"),
    [("MAINT", True), ("MAINT (via galera/ctrl-1)", True), ("DRAIN", False), ("UP", False), ("no check", False)],
)
def test_in_maintenance(status, expected):
    assert maintenance.in_maintenance(status) is expected


@pytest.mark.parametrize(
    ("returning", "here", "moves"),
    [("ctrl-1", "ctrl-2", True), ("ctrl-1", "ctrl-3", True), ("ctrl-2", "ctrl-3", True), ("ctrl-2", "ctrl-1", False)],
)
def test_a_returning_controller_takes_the_writers_sessions_from_those_after_it(returning, here, moves):
    servers = ["ctrl-1", "ctrl-2", "ctrl-3"]
    assert maintenance.writer_returns(servers, returning, here) is moves
