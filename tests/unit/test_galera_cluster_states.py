"""Unit tests of _states/galera_cluster.py with a mocked __salt__ (the decisions are the real
ones of _utils/prereqos_galera.py; node states are shaped as the recorded outputs give)."""

from __future__ import annotations

import functools
from typing import Any
from unittest.mock import MagicMock

import pytest
from salt.exceptions import CommandExecutionError

from tests.unit.loader import library, load
from tests.unit.test_galera_cluster_library import (
    FRESH_STANDALONE,
    FRESH_STOPPED,
    FRESH_WITH_DATA,
    JOINING,
    SECRET,
    STOPPED_MEMBER,
    SYNCED,
    UUID,
    down,
)

st = load("_states", "galera_cluster")
common = library("prereqos_common")

NODES = ["n1", "n2", "n3"]
SST_GRANTS = ["RELOAD, PROCESS, LOCK TABLES, BINLOG MONITOR ON *.*"]
MINE = "prereqos_galera_state"
RECOVERY_MINE = "prereqos_galera_recovery"
DATADIR = "/srv/mysql"  # a site's datadir, not Debian's default


class Clock:
    """Stands in for the ``time`` module: sleeping advances the monotonic clock."""

    def __init__(self) -> None:
        self.now = 0.0
        self.sleeps: list[float] = []

    def time(self) -> float:
        return 1010.0  # node states are collected at 1000.0

    def monotonic(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


def health(ok: bool, size: int = 1, problems: list[str] | None = None) -> dict[str, Any]:
    return {
        "ok": ok,
        "running": True,
        "cluster_size": size,
        "cluster_status": "Primary" if ok else "non-Primary",
        "local_state": "Synced" if ok else "Joining",
        "ready": ok,
        "problems": [] if ok else problems or ["local state is Joining, not Synced"],
    }


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Clock:
    fake = Clock()
    monkeypatch.setattr(st, "time", fake)
    waiting = functools.partial(common.wait_until, clock=fake.monotonic, sleep=fake.sleep)
    monkeypatch.setattr(common, "wait_until", waiting)
    return fake


@pytest.fixture
def salt(clock: Clock) -> dict[str, Any]:
    return {
        "mine.get": MagicMock(return_value={}),
        "galera_cluster.node_state": MagicMock(),
        "galera_cluster.health": MagicMock(return_value=health(True)),
        "galera_cluster.stop": MagicMock(return_value=True),
        "galera_cluster.start": MagicMock(return_value=True),
        "galera_cluster.bootstrap": MagicMock(return_value=True),
        "galera_cluster.mark_safe_to_bootstrap": MagicMock(return_value={"changed": True}),
        "galera_cluster.user_check": MagicMock(),
        "galera_cluster.user_present": MagicMock(),
    }


@pytest.fixture
def configure_loader_modules(salt: dict[str, Any]) -> dict:
    return {
        st: {
            "__salt__": salt,
            "__opts__": {"test": False, "id": "n1"},
            "__pillar__": {"prereqos": {"secrets": {"db_sst_password": SECRET, "empty": ""}}},
        }
    }


@pytest.fixture
def test_mode(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(st.__opts__, "test", True)


def cluster(salt: dict[str, Any], local: dict[str, Any] | None, **others: Any) -> None:
    """This node's live state and the others' mine entries."""
    salt["galera_cluster.node_state"].return_value = local
    salt["mine.get"].return_value = others


def acted(salt: dict[str, Any]) -> list[str]:
    return [
        name
        for name in ("stop", "start", "bootstrap", "mark_safe_to_bootstrap")
        if salt[f"galera_cluster.{name}"].called
    ]


def member(name: str, nodes: list[str], bootstrap_node: str, **kwargs: Any) -> dict[str, Any]:
    """``galera_cluster.member`` as the SLS calls it: with the mine entry and the site's datadir."""
    return st.member(name, nodes, bootstrap_node, mine_function=MINE, datadir=DATADIR, **kwargs)


def recovered(name: str, nodes: list[str], **kwargs: Any) -> dict[str, Any]:
    """``galera_cluster.recovered`` as the SLS calls it: with the mine entry and the site's datadir."""
    return st.recovered(name, nodes, mine_function=RECOVERY_MINE, datadir=DATADIR, **kwargs)


# ---------------------------------------------------------------- member


def test_member_reads_the_mine_for_all_nodes(salt: dict[str, Any]) -> None:
    cluster(salt, SYNCED, n2=SYNCED, n3=SYNCED)
    ret = member("openstack", NODES, "n1")
    salt["mine.get"].assert_called_once_with(NODES, "prereqos_galera_state", tgt_type="list")
    salt["galera_cluster.node_state"].assert_called_once_with(datadir=DATADIR)
    assert ret == {
        "name": "openstack",
        "result": True,
        "changes": {},
        "comment": "already Synced in the Primary component (cluster size 2)",
    }
    assert acted(salt) == []


def test_member_outside_nodes(salt: dict[str, Any]) -> None:
    ret = member("openstack", ["n2", "n3"], "n2")
    assert ret["result"] is False and "This minion (n1) is not in nodes" in ret["comment"]


def test_member_unreadable_local_state(salt: dict[str, Any]) -> None:
    salt["galera_cluster.node_state"].side_effect = CommandExecutionError("/var/lib/mysql/grastate.dat is corrupt")
    ret = member("openstack", NODES, "n1")
    assert ret["result"] is False and "grastate.dat is corrupt" in ret["comment"]


def test_member_refuses_a_full_outage(salt: dict[str, Any]) -> None:
    cluster(salt, STOPPED_MEMBER, n2=STOPPED_MEMBER, n3=STOPPED_MEMBER)
    ret = member("openstack", NODES, "n1")
    assert ret["result"] is False and ret["changes"] == {}
    assert "full outage" in ret["comment"] and "orch.prereqos_recover" in ret["comment"]
    assert acted(salt) == []


def test_member_unknown_nodes_block_a_bootstrap(salt: dict[str, Any]) -> None:
    cluster(salt, FRESH_STANDALONE, n2={**FRESH_STOPPED, "collected_at": 10.0})
    ret = member("openstack", NODES, "n1")
    assert ret["result"] is False
    assert "n2: mine data is 1000 s old" in ret["comment"] and "n3: no data in the mine" in ret["comment"]
    assert acted(salt) == []


def test_member_test_mode_bootstrap(salt: dict[str, Any], test_mode: None) -> None:
    cluster(salt, FRESH_STANDALONE, n2=FRESH_STANDALONE, n3=FRESH_STOPPED)
    ret = member("openstack", NODES, "n1")
    assert ret["result"] is None
    assert ret["changes"] == {"galera": {"old": "standalone (fresh)", "new": "bootstrapped, Synced"}}
    assert ret["comment"].startswith("Would bootstrap: no Primary component and every node is fresh")
    assert acted(salt) == []


def test_member_test_mode_join(salt: dict[str, Any], test_mode: None) -> None:
    cluster(salt, FRESH_STOPPED, n2=SYNCED, n3=SYNCED)
    ret = member("openstack", NODES, "n2")
    assert ret["result"] is None
    assert ret["changes"] == {"galera": {"old": "stopped (fresh)", "new": "joined, Synced"}}
    assert acted(salt) == []


def test_member_test_mode_wait_and_refuse(salt: dict[str, Any], test_mode: None) -> None:
    cluster(salt, JOINING, n2=SYNCED)
    ret = member("openstack", NODES, "n2")
    assert ret["result"] is None and ret["changes"] == {} and ret["comment"].startswith("Would wait")
    cluster(salt, FRESH_WITH_DATA, n2=SYNCED)
    ret = member("openstack", NODES, "n2")
    assert ret["result"] is False and "legacy_app" in ret["comment"]


def test_member_bootstraps_a_fresh_standalone_node(salt: dict[str, Any], clock: Clock) -> None:
    cluster(salt, FRESH_STANDALONE, n2=FRESH_STANDALONE, n3=FRESH_STOPPED)
    salt["galera_cluster.health"].side_effect = [health(False), health(True)]
    ret = member("openstack", NODES, "n1")
    assert ret["result"] is True
    assert ret["changes"] == {
        "galera": {"old": "standalone (fresh)", "new": "bootstrapped, Synced, Primary, cluster size 1"}
    }
    salt["galera_cluster.stop"].assert_called_once_with("mariadb")
    salt["galera_cluster.bootstrap"].assert_called_once_with("mariadb", datadir=DATADIR)
    salt["galera_cluster.health"].assert_called_with(expected_size=1)
    assert not salt["galera_cluster.start"].called
    assert clock.sleeps == [2.0]


def test_member_joins_a_stopped_fresh_node(salt: dict[str, Any]) -> None:
    cluster(salt, FRESH_STOPPED, n2=SYNCED, n3=None)
    salt["galera_cluster.health"].return_value = health(True, size=2)
    ret = member("openstack", NODES, "n1", service="mariadb", timeout=120)
    assert ret["result"] is True
    assert ret["changes"] == {"galera": {"old": "stopped (fresh)", "new": "joined, Synced, Primary, cluster size 2"}}
    salt["galera_cluster.start"].assert_called_once_with("mariadb", timeout=120)
    assert acted(salt) == ["start"]
    assert "n3: no data in the mine" in ret["comment"]


def test_member_join_that_never_syncs_fails_after_the_timeout(salt: dict[str, Any], clock: Clock) -> None:
    cluster(salt, FRESH_STANDALONE, n2=SYNCED)
    salt["galera_cluster.health"].return_value = health(False)
    ret = member("openstack", NODES, "n1", timeout=10)
    assert ret["result"] is False
    assert "not Synced after 10 s: local state is Joining, not Synced" in ret["comment"]
    assert ret["changes"]["galera"]["old"] == "standalone (fresh)"
    assert acted(salt) == ["stop", "start"]
    assert sum(clock.sleeps) == 10.0


def test_member_start_failure(salt: dict[str, Any]) -> None:
    cluster(salt, STOPPED_MEMBER, n2=SYNCED)
    salt["galera_cluster.start"].side_effect = CommandExecutionError("systemctl start mariadb failed: SST failed")
    ret = member("openstack", NODES, "n1")
    assert ret["result"] is False and ret["comment"].startswith("Could not join: systemctl start mariadb failed")
    assert ret["changes"] == {}


def test_member_waits_for_a_joining_node(salt: dict[str, Any], clock: Clock) -> None:
    cluster(salt, JOINING, n2=SYNCED)
    salt["galera_cluster.health"].side_effect = [health(False), health(False), health(True, size=3)]
    ret = member("openstack", NODES, "n1")
    assert ret["result"] is True and ret["changes"] == {} and acted(salt) == []
    assert clock.sleeps == [2.0, 2.0]


# ---------------------------------------------------------------- synced


def test_synced_already(salt: dict[str, Any]) -> None:
    salt["galera_cluster.health"].return_value = health(True, size=3)
    ret = st.synced("gate", 3)
    assert ret["result"] is True and ret["changes"] == {}
    assert ret["comment"] == "Galera is Synced, Primary, cluster size 3 (at least 3 wanted)"
    salt["galera_cluster.health"].assert_called_once_with(expected_size=3)


def test_synced_test_mode_does_not_wait(salt: dict[str, Any], clock: Clock, test_mode: None) -> None:
    salt["galera_cluster.health"].return_value = health(False)
    ret = st.synced("gate", 3)
    assert ret["result"] is None and clock.sleeps == [] and "Would wait up to 300 s" in ret["comment"]


def test_synced_polls_until_ok(salt: dict[str, Any], clock: Clock) -> None:
    salt["galera_cluster.health"].side_effect = [health(False), health(False), health(True, size=3)]
    assert st.synced("gate", 3)["result"] is True
    assert clock.sleeps == [2.0]


def test_synced_times_out(salt: dict[str, Any], clock: Clock) -> None:
    salt["galera_cluster.health"].return_value = health(False, problems=["cluster size is 2, expected at least 3"])
    ret = st.synced("gate", 3, timeout=6)
    assert ret["result"] is False
    assert ret["comment"] == "Galera not Synced with cluster size 3 after 6 s: cluster size is 2, expected at least 3"


# ---------------------------------------------------------------- user_present

PILLAR_KEY = "prereqos:secrets:db_sst_password"


@pytest.mark.parametrize("key", [None, "prereqos:secrets:missing", "prereqos:secrets:empty", "prereqos"])
def test_user_present_needs_a_password_in_pillar(salt: dict[str, Any], key: str | None) -> None:
    ret = st.user_present("sst", password_pillar=key)
    assert ret["result"] is False and "is missing or empty" in ret["comment"]
    assert not salt["galera_cluster.user_present"].called


def test_user_present_test_mode_predicts(salt: dict[str, Any], test_mode: None) -> None:
    salt["galera_cluster.user_check"].return_value = {
        "exists": True,
        "password_ok": False,
        "unix_socket_ok": True,
        "missing_grants": [],
    }
    ret = st.user_present("sst", password_pillar=PILLAR_KEY, grants=SST_GRANTS)
    assert ret["result"] is None
    assert ret["changes"] == {"password": {"old": "different", "new": "set from pillar (not shown)"}}
    salt["galera_cluster.user_check"].assert_called_once_with("sst", "localhost", SECRET, SST_GRANTS, False)
    assert not salt["galera_cluster.user_present"].called


def test_user_present_applies(salt: dict[str, Any]) -> None:
    changes = {"user": {"old": "absent", "new": "present"}}
    salt["galera_cluster.user_present"].return_value = {"changes": changes}
    ret = st.user_present("sst", password_pillar=PILLAR_KEY, grants=SST_GRANTS)
    assert ret == {"name": "sst", "result": True, "changes": changes, "comment": "User sst@localhost updated: user"}
    salt["galera_cluster.user_present"].assert_called_once_with("sst", "localhost", SECRET, SST_GRANTS, False)


def test_user_present_nothing_to_do(salt: dict[str, Any]) -> None:
    salt["galera_cluster.user_present"].return_value = {"changes": {}}
    ret = st.user_present("root", password_pillar=PILLAR_KEY, unix_socket=True)
    assert ret["result"] is True and ret["comment"] == "User root@localhost is as wanted"


def test_user_present_error_never_shows_the_password(salt: dict[str, Any]) -> None:
    salt["galera_cluster.user_present"].side_effect = CommandExecutionError(f"failed near {SECRET}")
    ret = st.user_present("sst", password_pillar=PILLAR_KEY)
    assert ret["result"] is False and SECRET not in repr(ret) and "******" in ret["comment"]


# ---------------------------------------------------------------- recovered


def recovery(salt: dict[str, Any], local: dict[str, Any] | None = None, **facts: Any) -> None:
    salt["mine.get"].return_value = facts
    salt["galera_cluster.node_state"].return_value = local


def test_recovered_nothing_needed_when_a_primary_runs(salt: dict[str, Any]) -> None:
    recovery(salt, n1=SYNCED, n2=down(19), n3=down(19))
    ret = recovered("galera", NODES)
    salt["mine.get"].assert_called_once_with(NODES, "prereqos_galera_recovery", tgt_type="list")
    assert ret["result"] is True and ret["changes"] == {}
    assert ret["comment"].startswith("No recovery needed: n1 run(s) in a Primary component")
    assert acted(salt) == []


def test_recovered_refuses_an_unknown_node_and_shows_the_facts(salt: dict[str, Any]) -> None:
    recovery(salt, n1=down(-1, recovered=19), n2=down(-1, recovered=19))
    ret = recovered("galera", NODES)
    assert ret["result"] is False and acted(salt) == []
    lines = ret["comment"].splitlines()
    assert lines[0].startswith("Recovery refused, nothing was changed: the state of n3 is unknown")
    assert lines[1] == "Facts:"
    assert lines[2] == (f"  n1: stopped; cluster {UUID}; recovered seqno 19; grastate seqno -1, safe_to_bootstrap 0")


def test_recovered_tie_prefers_the_bootstrap_node(salt: dict[str, Any]) -> None:
    recovery(salt, n1=down(-1, recovered=19), n2=down(-1, recovered=19), n3=down(-1, recovered=12))
    ret = recovered("galera", NODES, bootstrap_node="n2")
    assert ret["result"] is True and acted(salt) == []
    assert ret["comment"].startswith("n2 bootstraps the cluster: n1, n2 have the same highest recovered seqno 19")
    assert "n2 is the bootstrap node. This node rejoins it afterwards." in ret["comment"].splitlines()[0]


def test_recovered_other_node_chosen(salt: dict[str, Any]) -> None:
    recovery(salt, n1=down(13), n2=down(15, safe=True), n3=down(13))
    ret = recovered("galera", NODES)
    assert ret["result"] is True and ret["changes"] == {} and acted(salt) == []
    assert ret["comment"].startswith("n2 bootstraps the cluster: n2 left the cluster last and cleanly")
    assert not salt["galera_cluster.node_state"].called


def test_recovered_test_mode_on_the_chosen_node(salt: dict[str, Any], test_mode: None) -> None:
    chosen = down(19)
    recovery(salt, local=chosen, n1=chosen, n2=down(12), n3=down(12))
    ret = recovered("galera", NODES)
    assert ret["result"] is None and acted(salt) == []
    assert ret["changes"] == {
        "safe_to_bootstrap": {"old": False, "new": True},
        "galera": {
            "old": "stopped after a full outage (stopped (Galera data, seqno 19))",
            "new": "bootstrapped, Synced",
        },
    }
    assert ret["comment"].startswith(
        "Would bootstrap: n1 bootstraps the cluster: n1 has the highest recovered seqno 19"
    )


def test_recovered_bootstraps_the_chosen_node(salt: dict[str, Any], clock: Clock) -> None:
    chosen = down(19)
    recovery(salt, local=chosen, n1=chosen, n2=down(12), n3=None)
    salt["galera_cluster.health"].side_effect = [health(False), health(True)]
    ret = recovered("galera", NODES, forced_node="n1")
    assert ret["result"] is True
    assert acted(salt) == ["bootstrap", "mark_safe_to_bootstrap"]
    salt["galera_cluster.mark_safe_to_bootstrap"].assert_called_once_with(datadir=DATADIR, service="mariadb")
    salt["galera_cluster.bootstrap"].assert_called_once_with("mariadb", datadir=DATADIR)
    assert ret["changes"]["galera"]["new"] == "bootstrapped, Synced, Primary, cluster size 1"
    assert ret["changes"]["safe_to_bootstrap"] == {"old": False, "new": True}
    assert "n1 forced by the operator; automatic choice refused: the state of n3 is unknown" in ret["comment"]
    assert "n3: no data in the mine" in ret["comment"]


def test_recovered_safe_node_is_not_marked_again(salt: dict[str, Any]) -> None:
    chosen = down(15, safe=True)
    recovery(salt, local=chosen, n1=chosen, n2=down(13), n3=down(13))
    ret = recovered("galera", NODES)
    assert ret["result"] is True and acted(salt) == ["bootstrap"] and "safe_to_bootstrap" not in ret["changes"]


def test_recovered_refuses_when_the_node_changed_since_the_facts(salt: dict[str, Any]) -> None:
    recovery(salt, local=down(20), n1=down(19), n2=down(12), n3=down(12))
    ret = recovered("galera", NODES)
    assert ret["result"] is False and acted(salt) == []
    assert "changed since its facts were collected" in ret["comment"]
    recovery(salt, local=SYNCED, n1=down(19), n2=down(12), n3=down(12))
    assert recovered("galera", NODES)["result"] is False and acted(salt) == []


def test_recovered_bootstrap_failure(salt: dict[str, Any]) -> None:
    chosen = down(15, safe=True)
    recovery(salt, local=chosen, n1=chosen, n2=down(13), n3=down(13))
    salt["galera_cluster.bootstrap"].side_effect = CommandExecutionError("galera_new_cluster failed: timeout")
    ret = recovered("galera", NODES)
    assert ret["result"] is False and "bootstrap failed: galera_new_cluster failed: timeout" in ret["comment"]


def test_recovered_unreadable_local_state(salt: dict[str, Any]) -> None:
    chosen = down(15, safe=True)
    recovery(salt, n1=chosen, n2=down(13), n3=down(13))
    salt["galera_cluster.node_state"].side_effect = CommandExecutionError("grastate.dat is corrupt")
    ret = recovered("galera", NODES)
    assert ret["result"] is False and "cannot be read: grastate.dat is corrupt" in ret["comment"]


def test_recovered_stale_facts_are_unknown(salt: dict[str, Any]) -> None:
    recovery(salt, n1=down(19), n2={**down(12), "collected_at": 0.0}, n3=down(12))
    ret = recovered("galera", NODES, max_age=60)
    assert ret["result"] is False and "n2: mine data is 1010 s old (more than 60 s)" in ret["comment"]
    assert acted(salt) == []


def test_recovered_outside_nodes(salt: dict[str, Any]) -> None:
    assert recovered("galera", ["n2"])["result"] is False


def test_no_secret_in_any_state_return(salt: dict[str, Any], test_mode: None) -> None:
    salt["galera_cluster.user_check"].return_value = {
        "exists": False,
        "password_ok": False,
        "unix_socket_ok": False,
        "missing_grants": SST_GRANTS,
    }
    ret = st.user_present("sst", password_pillar=PILLAR_KEY, grants=SST_GRANTS)
    assert ret["result"] is None and SECRET not in repr(ret)


# ---------------------------------------------------------------- published


@pytest.mark.parametrize("test", [False, True])
def test_published_sends_the_live_state_to_the_mine_without_changes(
    salt: dict[str, Any], monkeypatch: pytest.MonkeyPatch, test: bool
) -> None:
    monkeypatch.setitem(st.__opts__, "test", test)
    salt["mine.send"] = MagicMock(return_value=True)
    ret = st.published("prereqos_galera_state")
    assert ret == {
        "name": "prereqos_galera_state",
        "result": True,
        "changes": {},
        "comment": "galera_cluster.node_state published to the mine as prereqos_galera_state",
    }
    salt["mine.send"].assert_called_once_with("prereqos_galera_state", mine_function="galera_cluster.node_state")


def test_published_fails_when_the_mine_refuses(salt: dict[str, Any]) -> None:
    salt["mine.send"] = MagicMock(return_value=False)
    ret = st.published("prereqos_galera_state")
    assert ret["result"] is False and "mine.send of galera_cluster.node_state failed" in ret["comment"]


def test_published_passes_the_site_arguments_to_the_mine_function(salt: dict[str, Any]) -> None:
    salt["mine.send"] = MagicMock(return_value=True)
    arguments = {"datadir": DATADIR, "service": "mariadb"}
    ret = st.published(RECOVERY_MINE, mine_function="galera_cluster.recovery_facts", arguments=arguments)
    assert ret["result"] is True and ret["changes"] == {}
    salt["mine.send"].assert_called_once_with(
        RECOVERY_MINE, mine_function="galera_cluster.recovery_facts", datadir=DATADIR, service="mariadb"
    )
