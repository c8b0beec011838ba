"""Unit tests of _states/pacemaker_cluster.py, alone (mocked execution module) and on top of the
real execution module fed outputs recorded on Debian 12 and 13 (tests/fixtures/record-pacemaker.sh)."""

from __future__ import annotations

import copy
import functools
import json
from typing import Any
from unittest.mock import MagicMock

import pytest
from salt.exceptions import CommandExecutionError, SaltInvocationError

from tests.unit.loader import library, load
from tests.unit.test_pacemaker_cluster import FakeRun, result
from tests.unit.test_pacemaker_cluster_library import DESIRED, FENCE, VIP, per_release, rec

st = load("_states", "pacemaker_cluster")
pcm = load("_modules", "pacemaker_cluster")
common = library("prereqos_common")

NODES = ["ctrl1", "ctrl2", "ctrl3"]


class Clock:
    """Stands in for the ``time`` module: sleeping advances the clock."""

    def __init__(self) -> None:
        self.now = 1000.0
        self.sleeps: list[float] = []

    def monotonic(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


def report(ok: bool, problems: list[str] | None = None) -> dict[str, Any]:
    return {
        "ok": ok,
        "dc": "ctrl1" if ok else None,
        "quorate": ok,
        "online": NODES if ok else ["ctrl1"],
        "offline": [] if ok else ["ctrl2", "ctrl3"],
        "resources": {},
        "problems": problems or ([] if ok else ["no DC elected"]),
    }


@pytest.fixture
def run() -> FakeRun:
    return FakeRun()


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Clock:
    fake = Clock()
    waiting = functools.partial(common.wait_until, clock=fake.monotonic, sleep=fake.sleep)
    monkeypatch.setattr(common, "wait_until", waiting)
    return fake


@pytest.fixture
def configure_loader_modules(run: FakeRun) -> dict:
    return {
        pcm: {"__salt__": {"cmd.run_all": run}},
        st: {
            "__salt__": {
                "pacemaker_cluster.status": pcm.status,
                "pacemaker_cluster.health": pcm.health,
                "pacemaker_cluster.apply": pcm.apply,
            },
            "__opts__": {"test": False},
        },
    }


@pytest.fixture
def test_mode(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(st.__opts__, "test", True)


def mock(monkeypatch: pytest.MonkeyPatch, name: str, **kwargs: Any) -> MagicMock:
    fake = MagicMock(**kwargs)
    monkeypatch.setitem(st.__salt__, f"pacemaker_cluster.{name}", fake)
    return fake


# ---------------------------------------------------------------- online


@pytest.mark.parametrize("nodes", [[], "ctrl1", ["ctrl1", ""], None, [1]])
def test_online_rejects_bad_nodes(nodes: Any, clock: Clock) -> None:
    ret = st.online("gate", nodes)
    assert ret["result"] is False and ret["comment"] == "nodes must be a non-empty list of node names"


@pytest.mark.parametrize("timeout", [-1, "180", None, True])
def test_online_rejects_bad_timeout(timeout: Any, clock: Clock) -> None:
    ret = st.online("gate", NODES, timeout=timeout)
    assert ret["result"] is False and ret["comment"] == "timeout must be a number of seconds (0 or more)"


def test_online_already_whole_does_not_wait(monkeypatch: pytest.MonkeyPatch, clock: Clock) -> None:
    health = mock(monkeypatch, "health", return_value=report(True))
    ret = st.online("gate", NODES)
    assert ret == {
        "name": "gate",
        "result": True,
        "changes": {},
        "comment": "Cluster is up: DC ctrl1, quorate True, online: ctrl1, ctrl2, ctrl3, offline: none",
    }
    health.assert_called_once_with(expected_nodes=NODES)
    assert clock.sleeps == []


def test_online_polls_every_two_seconds_until_whole(monkeypatch: pytest.MonkeyPatch, clock: Clock) -> None:
    health = mock(monkeypatch, "health", side_effect=[report(False), report(False), report(True)])
    ret = st.online("gate", NODES, timeout=60)
    assert ret["result"] is True and ret["changes"] == {}
    assert health.call_count == 3 and clock.sleeps == [2.0, 2.0]


def test_online_deadline_returns_last_status(monkeypatch: pytest.MonkeyPatch, clock: Clock) -> None:
    last = report(False, ["partition without quorum", "node ctrl3 is offline"])
    mock(monkeypatch, "health", return_value=last)
    ret = st.online("gate", NODES, timeout=5)
    assert ret["result"] is False and ret["changes"] == {}
    assert ret["comment"] == (
        "Cluster not ready after 5s: partition without quorum; node ctrl3 is offline. "
        "Last status: DC none, quorate False, online: ctrl1, offline: ctrl2, ctrl3"
    )
    assert clock.sleeps == [2.0, 2.0, 1.0] and clock.now == 1005.0


@pytest.mark.usefixtures("test_mode")
def test_online_test_mode(monkeypatch: pytest.MonkeyPatch, clock: Clock) -> None:
    mock(monkeypatch, "health", return_value=report(False, ["no DC elected", "node ctrl2 is offline"]))
    ret = st.online("gate", NODES, timeout=90)
    assert ret["result"] is None and ret["changes"] == {}
    assert ret["comment"] == "Would wait up to 90s for: no DC elected; node ctrl2 is offline"
    assert clock.sleeps == []
    mock(monkeypatch, "health", return_value=report(True))
    assert st.online("gate", NODES)["result"] is True


@per_release("crm_mon-not-running.xml", "crm_mon-no-dc.xml", "crm_mon-no-quorum.xml", "crm_mon-3-nodes-empty.xml")
def test_online_on_recorded_cluster_start(run: FakeRun, clock: Clock, release: str) -> None:
    """Pacemaker down, then no DC, then no quorum, then whole: as recorded, through the real module."""
    run.results = [
        result(rec("crm_mon-not-running.xml", release), retcode=102),
        result(rec("crm_mon-no-dc.xml", release)),
        result(rec("crm_mon-no-quorum.xml", release)),
        result(rec("crm_mon-3-nodes-empty.xml", release)),
    ]
    ret = st.online("gate", NODES, timeout=180)
    assert ret["result"] is True
    assert ret["comment"] == "Cluster is up: DC ctrl1, quorate True, online: ctrl1, ctrl2, ctrl3, offline: none"
    assert clock.sleeps == [2.0, 2.0, 2.0]


@per_release("crm_mon-node-offline.xml")
def test_online_on_recorded_node_loss_times_out(run: FakeRun, clock: Clock, release: str) -> None:
    run.results = [result(rec("crm_mon-node-offline.xml", release)) for _ in range(6)]
    ret = st.online("gate", NODES, timeout=10)
    assert ret["result"] is False
    assert ret["comment"].startswith("Cluster not ready after 10s: node ctrl3 is offline. Last status: DC ctrl1")


# ---------------------------------------------------------------- configured


def test_configured_passes_only_given_sections(monkeypatch: pytest.MonkeyPatch) -> None:
    apply = mock(monkeypatch, "apply", return_value={})
    ret = st.configured("pcmk", properties={"stonith-enabled": "false"}, clones={"c": {"rsc": "p"}})
    apply.assert_called_once_with(
        {"properties": {"stonith-enabled": "false"}, "clones": {"c": {"rsc": "p"}}},
        test=False,
    )
    assert ret == {
        "name": "pcmk",
        "result": True,
        "changes": {},
        "comment": "Pacemaker configuration is already as desired",
    }


def test_configured_reports_changes(monkeypatch: pytest.MonkeyPatch) -> None:
    changes = {"vip_srv": {"old": None, "new": {"agent": "ocf:heartbeat:IPaddr2"}}}
    mock(monkeypatch, "apply", return_value=changes)
    ret = st.configured("pcmk", primitives={"vip_srv": {"agent": "ocf:heartbeat:IPaddr2"}})
    assert ret["result"] is True and ret["changes"] == changes and ret["comment"] == "Changed: vip_srv"


@pytest.mark.usefixtures("test_mode")
def test_configured_test_mode_predicts(monkeypatch: pytest.MonkeyPatch) -> None:
    changes = {"properties": {"old": {"a": None}, "new": {"a": "1"}}}
    apply = mock(monkeypatch, "apply", return_value=changes)
    ret = st.configured("pcmk", properties={"a": "1"})
    apply.assert_called_once_with({"properties": {"a": "1"}}, test=True)
    assert ret["result"] is None and ret["changes"] == changes and ret["comment"] == "Would change: properties"


@pytest.mark.parametrize("error", [CommandExecutionError("cibadmin --query failed"), SaltInvocationError("bad id")])
def test_configured_errors_are_result_false(monkeypatch: pytest.MonkeyPatch, error: Exception) -> None:
    mock(monkeypatch, "apply", side_effect=error)
    ret = st.configured("pcmk", properties={"a": "1"})
    assert ret["result"] is False and ret["changes"] == {}
    assert ret["comment"] == f"Pacemaker configuration not applied: {error}"


@per_release("cib-after-apply.xml")
def test_configured_on_recorded_matching_cib_writes_nothing(run: FakeRun, release: str) -> None:
    run.results = [result(rec("cib-after-apply.xml", release))]
    ret = st.configured("pcmk", **copy.deepcopy(DESIRED))
    assert ret["result"] is True and ret["changes"] == {}
    assert run.argvs == [["cibadmin", "--query"]]


@pytest.mark.usefixtures("test_mode")
@per_release("cib-before-apply.xml", "state-configured-test.json", "state-configured-first.json")
def test_configured_test_mode_on_recorded_empty_cib_matches_the_real_run(run: FakeRun, release: str) -> None:
    run.results = [result(rec("cib-before-apply.xml", release))]
    ret = st.configured("pacemaker-resources", **copy.deepcopy(DESIRED))
    assert run.argvs == [["cibadmin", "--query"]]
    assert ret["result"] is None
    # What the real salt-call predicted (test=True) and then changed in the 3-node cluster.
    recorded = json.loads(rec("state-configured-test.json", release))["local"]
    real = recorded["pacemaker_cluster_|-pacemaker-resources_|-pacemaker-resources_|-configured"]
    assert ret["changes"] == real["changes"] and ret["comment"] == real["comment"]
    first = json.loads(rec("state-configured-first.json", release))["local"]
    assert (
        first["pacemaker_cluster_|-pacemaker-resources_|-pacemaker-resources_|-configured"]["changes"] == ret["changes"]
    )


@per_release("cib-drift.xml", "cib-drift-reapplied.xml", "state-configured-drift.json")
def test_configured_on_recorded_drift_updates_only_the_vip(
    run: FakeRun, monkeypatch: pytest.MonkeyPatch, release: str
) -> None:
    monkeypatch.setattr(pcm.salt.utils.path, "which", lambda name: f"/usr/sbin/{name}")
    run.results = [result(rec("cib-drift.xml", release)), result(), result(rec("cib-drift-reapplied.xml", release))]
    ret = st.configured("pacemaker-resources", **copy.deepcopy(DESIRED))
    assert ret["result"] is True and list(ret["changes"]) == ["vip_srv"]
    assert ret["changes"]["vip_srv"]["new"]["params"]["ip"] == VIP
    assert ret["changes"]["vip_srv"]["new"]["meta"] == {"target-role": "Stopped"}
    recorded = json.loads(rec("state-configured-drift.json", release))["local"]
    real = recorded["pacemaker_cluster_|-pacemaker-resources_|-pacemaker-resources_|-configured"]
    assert ret["changes"] == real["changes"]


@pytest.mark.usefixtures("test_mode")
@per_release("cib-stonith-host.xml")
def test_configured_masks_fence_passwords(run: FakeRun, release: str) -> None:
    run.results = [result(rec("cib-stonith-host.xml", release))]
    fence = copy.deepcopy(FENCE)
    fence["fence_ctrl1"]["params"]["password"] = "a new dummy"
    ret = st.configured("pcmk", primitives=fence)
    assert ret["result"] is None and list(ret["changes"]) == ["fence_ctrl1"]
    assert ret["changes"]["fence_ctrl1"]["old"]["params"]["password"] == "******"
    assert ret["changes"]["fence_ctrl1"]["new"]["params"]["password"] == "******"
    assert "dummy" not in repr(ret)


# ---------------------------------------------------------------- standby
def standby_salt(monkeypatch: pytest.MonkeyPatch, run: FakeRun) -> None:
    monkeypatch.setitem(st.__salt__, "pacemaker_cluster.standby", pcm.standby)
    monkeypatch.setitem(st.__salt__, "pacemaker_cluster.resources_on", pcm.resources_on)


@per_release("crm_mon-3-nodes.xml", "crm_mon-standby.xml")
def test_standby_test_mode_predicts(
    monkeypatch: pytest.MonkeyPatch, run: FakeRun, test_mode: None, release: str
) -> None:
    standby_salt(monkeypatch, run)
    run.results = [result(rec("crm_mon-3-nodes.xml", release))]
    ret = st.standby("ctrl2", enabled=True)
    assert ret["result"] is None and ret["changes"] == {"standby": {"old": False, "new": True}}
    assert [argv[0] for argv in run.argvs] == ["crm_mon"]


@per_release("crm_mon-3-nodes.xml", "crm_mon-standby.xml")
def test_standby_waits_until_the_node_runs_nothing(
    monkeypatch: pytest.MonkeyPatch, run: FakeRun, clock: Clock, release: str
) -> None:
    standby_salt(monkeypatch, run)
    three, standby = result(rec("crm_mon-3-nodes.xml", release)), result(rec("crm_mon-standby.xml", release))
    # state's read, standby's read, crm_attribute, then resources_on: still running once, then empty
    run.results = [three, three, result(), three, standby]
    ret = st.standby("ctrl2", enabled=True, timeout=30)
    assert ret["result"] is True and ret["comment"] == "ctrl2 is in standby and runs no resource."
    assert clock.sleeps == [2.0]


@per_release("crm_mon-3-nodes.xml")
def test_standby_of_given_resources_waits_for_those_only(
    monkeypatch: pytest.MonkeyPatch, run: FakeRun, clock: Clock, release: str
) -> None:
    standby_salt(monkeypatch, run)
    three = result(rec("crm_mon-3-nodes.xml", release))
    # ctrl1 holds vip_srv and runs haproxy: it is waited for until vip_srv left, haproxy may still run
    run.results = [three, three, result(), three, three, three]
    ret = st.standby("ctrl1", enabled=True, timeout=1, resources=["vip_srv"], interval=0.5)
    assert ret["result"] is False and ret["comment"] == "ctrl1 is in standby but still runs vip_srv after 1s"
    assert clock.sleeps == [0.5, 0.5]
    run.results = [three, three, result(), three]
    ret = st.standby("ctrl2", enabled=True, timeout=1, resources=["vip_srv"])
    assert ret["result"] is True and ret["comment"] == "ctrl2 is in standby and runs no vip_srv."


@per_release("crm_mon-standby.xml")
def test_standby_already_is_a_no_op_and_off_does_not_wait(
    monkeypatch: pytest.MonkeyPatch, run: FakeRun, release: str
) -> None:
    standby_salt(monkeypatch, run)
    run.results = [result(rec("crm_mon-standby.xml", release))] * 2
    assert st.standby("ctrl2", enabled=True)["changes"] == {}
    run.results = [result(rec("crm_mon-standby.xml", release))] * 2 + [result("Deleted nodes attribute")]
    ret = st.standby("ctrl2", enabled=False)
    assert ret["result"] is True and ret["changes"] == {"standby": {"old": True, "new": False}}
