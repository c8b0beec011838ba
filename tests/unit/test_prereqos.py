"""Unit tests of _modules/prereqos.py and _states/prereqos.py: the operator
commands (settings, facts, preflight, health, haproxy's runtime API) and the
states (preflight, the health gate, the steps of drain and undrain)."""

from __future__ import annotations

import copy
import inspect
import json
from pathlib import Path
from typing import Any

import pytest
import yaml
from salt.exceptions import CommandExecutionError

from tests.unit.loader import ROOT, library, load, recorded, releases

prereqos = load("_modules", "prereqos")
prereqos_state = load("_states", "prereqos")
settings_lib = library("prereqos_settings")
maintenance = library("prereqos_maintenance")

DEFAULTS = yaml.safe_load((ROOT / "formula/prereqos/defaults.yaml").read_text())
OSMAP = yaml.safe_load((ROOT / "formula/prereqos/osfamilymap.yaml").read_text())["Debian"]
EXAMPLE = yaml.safe_load((ROOT / "pillar.example").read_text())["prereqos"]
HEALTHY = {"ok": True, "problems": []}


def derived(minion_id: str = "ctrl-1", **changes: Any) -> dict:
    site = copy.deepcopy(EXAMPLE)
    site.update(changes)
    return settings_lib.settings(DEFAULTS, OSMAP, site, minion_id)


FACTS = derived()["facts"]


@pytest.fixture
def minion(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> dict[str, Any]:
    """``__salt__`` of a healthy controller ctrl-1 holding the srv VIP, no controller drained
    (its maintenance record is ``salt["record"]``, absent); tests change it."""
    salt: dict[str, Any] = {
        "pacemaker_cluster.health": lambda **_: HEALTHY,
        "rabbitmq_cluster.health": lambda **_: HEALTHY,
        "galera_cluster.health": lambda **_: HEALTHY,
        "service.status": lambda name: True,
    }
    monkeypatch.setattr(prereqos, "__salt__", salt, raising=False)
    monkeypatch.setattr(prereqos, "__grains__", {"id": "ctrl-1", "host": "ctrl-1"}, raising=False)
    monkeypatch.setattr(prereqos, "__pillar__", {"prereqos": copy.deepcopy(EXAMPLE)}, raising=False)
    addresses = {"eth0": ["192.0.2.11", "192.0.2.10"], "eth1": ["198.51.100.11"]}
    monkeypatch.setattr(prereqos, "_local_addresses", lambda: addresses)
    monkeypatch.setattr(prereqos, "_arp_resolve", lambda probe: {})
    monkeypatch.setattr(prereqos, "_haproxy_stat", lambda path: {"galera": {"ctrl-1": "UP"}})
    record = tmp_path / "maintenance.json"
    read_record = prereqos.drained
    monkeypatch.setattr(prereqos, "drained", lambda: read_record(str(record)))
    salt["record"] = record
    return salt


def write_facts(tmp_path: Path, facts: dict) -> str:
    path = tmp_path / "facts.json"
    path.write_text(json.dumps(facts))
    return str(path)


# ---------------------------------------------------------------- settings
def test_settings_reads_this_minions_pillar(minion):
    config = prereqos.settings(DEFAULTS, OSMAP)
    assert config["me"]["id"] == "ctrl-1" and config["facts_path"] == settings_lib.FACTS_PATH


def test_settings_masks_every_secret_unless_the_render_asks(minion):
    """A job's return lands in the master's job cache: an operator's call shows no secret."""
    shown, revealed = prereqos.settings(DEFAULTS, OSMAP), prereqos.settings(DEFAULTS, OSMAP, reveal_secrets=True)
    secrets = [v for v in EXAMPLE["secrets"].values() if isinstance(v, str)]
    secrets += list(EXAMPLE["secrets"]["rabbitmq_users"].values())
    text = json.dumps(shown)
    assert not [i for i, secret in enumerate(secrets) if secret in text]
    assert set(shown["secrets"].values()) == {"******"} and shown["galera_sst_auth"] == "******"
    assert revealed["secrets"] == EXAMPLE["secrets"]
    assert EXAMPLE["secrets"]["db_sst_password"] in revealed["galera_sst_auth"]


def test_settings_refuses_a_bad_pillar_with_every_problem(minion):
    site = copy.deepcopy(EXAMPLE)
    site["haproxy"]["timeouts"] = {"connect": "soon"}
    del site["bootstrap"]
    with pytest.raises(CommandExecutionError) as error:
        prereqos.settings(DEFAULTS, OSMAP, site)
    assert str(error.value).startswith("invalid prereqos pillar:\n  prereqos:")
    assert "prereqos:bootstrap: missing" in str(error.value)
    assert "prereqos:haproxy:timeouts:connect: 'soon' is not a HAProxy duration" in str(error.value)


def test_the_module_keeps_only_operator_commands():
    public = {
        name
        for name, value in vars(prereqos).items()
        if inspect.isfunction(value) and value.__module__ == prereqos.__name__ and not name.startswith("_")
    }
    assert public == {
        "settings",
        "facts",
        "drained",
        "preflight",
        "health",
        "haproxy_servers",
        "haproxy_set_server",
        "vips_held",
        "vip_holders",
    }
    for name in public:
        assert "CLI Example:" in getattr(prereqos, name).__doc__


# ------------------------------------------------------------------- facts
def test_facts_missing_says_not_deployed_yet(tmp_path):
    with pytest.raises(CommandExecutionError, match=r"not deployed yet: .*facts\.json is missing"):
        prereqos.facts(str(tmp_path / "facts.json"))


def test_facts_corrupt_says_how_to_rewrite(tmp_path):
    path = tmp_path / "facts.json"
    path.write_text("{")
    with pytest.raises(CommandExecutionError, match=r"re-run orch\.prereqos to rewrite it"):
        prereqos.facts(str(path))


# --------------------------------------------------------------- preflight
def test_preflight_checks_the_expectation_it_is_given(minion):
    assert prereqos.preflight(node=derived()["node_expectation"]) == {"ok": True, "problems": []}
    prereqos.__grains__["host"] = "node7"
    report = prereqos.preflight(node=derived()["node_expectation"])
    assert not report["ok"] and "host name is 'node7'" in report["problems"][0]


def test_preflight_after_a_deploy_checks_the_facts(minion, tmp_path):
    facts = derived()["facts"]
    facts["node"]["networks"]["api"]["interface"] = "eth9"
    report = prereqos.preflight(path=write_facts(tmp_path, facts))
    assert report["problems"] == [
        "controller ctrl-1: address 198.51.100.11 (network api) is not configured on interface eth9; "
        "fix prereqos:networks:api:interface or the node's network"
    ]


def test_preflight_before_a_deploy_without_expectation_says_not_deployed(minion, tmp_path):
    report = prereqos.preflight(path=str(tmp_path / "facts.json"))
    assert not report["ok"] and report["problems"][0].startswith("not deployed yet")


# ------------------------------------------------------------------ health
def test_health_of_a_deployed_healthy_node(minion, tmp_path):
    report = prereqos.health(write_facts(tmp_path, derived()["facts"]))
    assert report["ok"], report["problems"]
    assert report["vips_held"] == ["192.0.2.10"] and set(report) >= {"pacemaker", "rabbitmq", "galera"}


def test_health_passes_the_facts_to_each_part(minion, tmp_path):
    calls: dict[str, dict] = {}
    for module in ("pacemaker_cluster", "rabbitmq_cluster", "galera_cluster"):
        minion[f"{module}.health"] = lambda module=module, **kwargs: calls.update({module: kwargs}) or HEALTHY
    prereqos.health(write_facts(tmp_path, derived()["facts"]))
    assert calls == {
        "pacemaker_cluster": {
            "expected_nodes": ["ctrl-1", "ctrl-2", "ctrl-3"],
            "resources": ["haproxy-clone", "vip_api", "vip_srv"],
        },
        "rabbitmq_cluster": {"expected_nodes": ["rabbit@ctrl-1", "rabbit@ctrl-2", "rabbit@ctrl-3"]},
        "galera_cluster": {"expected_size": 3},
    }


def test_health_with_keepalived_asks_its_service(minion, tmp_path):
    minion["service.status"] = lambda name: name != "keepalived"
    report = prereqos.health(write_facts(tmp_path, derived(vip_manager="keepalived")["facts"]))
    assert "keepalived: keepalived is not running" in report["problems"] and "pacemaker" not in report


def test_health_without_a_part_says_not_installed(minion, tmp_path):
    del minion["rabbitmq_cluster.health"]
    report = prereqos.health(write_facts(tmp_path, derived()["facts"]))
    assert "rabbitmq: not installed (rabbitmq_cluster is not loaded)" in report["problems"]


def test_health_before_a_deploy_says_not_deployed_yet(minion, tmp_path):
    report = prereqos.health(str(tmp_path / "facts.json"))
    assert report == {
        "node": "ctrl-1",
        "ok": False,
        "problems": [
            f"not deployed yet: {tmp_path / 'facts.json'} is missing; run salt-run state.orchestrate orch.prereqos"
        ],
        "maintenance": [],
    }


def test_health_with_haproxy_down(minion, monkeypatch, tmp_path):
    def refused(path: str) -> dict:
        raise ConnectionRefusedError(111, "Connection refused")

    monkeypatch.setattr(prereqos, "_haproxy_stat", refused)
    report = prereqos.health(write_facts(tmp_path, derived()["facts"]))
    assert report["problems"][:2] == [
        "haproxy runtime API unreachable: [Errno 111] Connection refused",
        "haproxy: no Galera server is UP behind galera",
    ]


def test_vip_holders_asks_arp_only_for_what_is_not_here(minion, monkeypatch, tmp_path):
    """ctrl-1 holds the srv VIP; ctrl-3's MAC answers for the api VIP."""
    asked: list[list[str]] = []

    def arp(probe: list[str], wait: float) -> dict[str, str]:
        asked.append(probe)
        return {
            "198.51.100.10": "02:00:00:00:00:03",
            "198.51.100.12": "02:00:00:00:00:02",
            "198.51.100.13": "02:00:00:00:00:03",
        }

    monkeypatch.setattr(prereqos, "_arp_resolve", arp)
    holders = prereqos.vip_holders(write_facts(tmp_path, derived()["facts"]))
    assert holders == {"api": "ctrl-3", "srv": "ctrl-1"}
    assert asked == [["198.51.100.10", "198.51.100.12", "198.51.100.13", "192.0.2.12", "192.0.2.13"]]


# ------------------------------------------------------------------ states
def test_preflight_state_passes_the_expectation_and_fails_with_the_problems(monkeypatch):
    seen = {}

    def preflight(node):
        seen["node"] = node
        return {"ok": False, "problems": ["controller ctrl-1: host name is 'x'"]}

    monkeypatch.setattr(prereqos_state, "__salt__", {"prereqos.preflight": preflight}, raising=False)
    ret = prereqos_state.preflight("ctrl-1", node={"id": "ctrl-1"})
    assert seen["node"] == {"id": "ctrl-1"}
    assert ret["result"] is False and "host name is 'x'" in ret["comment"] and ret["changes"] == {}


@pytest.mark.parametrize(("test", "expected"), [(True, None), (False, False)])
def test_healthy_state_reports_problems(monkeypatch, test, expected):
    report = {"ok": False, "problems": ["galera: cluster size 2 of 3"]}
    monkeypatch.setattr(prereqos_state, "__salt__", {"prereqos.health": lambda: report}, raising=False)
    monkeypatch.setattr(prereqos_state, "__opts__", {"test": test}, raising=False)
    ret = prereqos_state.healthy("ctrl-1", timeout=0)
    assert ret["result"] is expected and "cluster size 2 of 3" in ret["comment"]


def test_healthy_state_waits_until_healthy(monkeypatch):
    reports = iter([{"ok": False, "problems": ["galera: size 2 of 3"]}, {"ok": True, "problems": []}])
    monkeypatch.setattr(prereqos_state, "__salt__", {"prereqos.health": lambda: next(reports)}, raising=False)
    monkeypatch.setattr(prereqos_state, "__opts__", {"test": False}, raising=False)
    ret = prereqos_state.healthy("ctrl-1", timeout=5, interval=0.01)
    assert ret == {"name": "ctrl-1", "changes": {}, "result": True, "comment": "healthy"}


def test_healthy_state_under_test_asks_once(monkeypatch):
    calls = []
    monkeypatch.setattr(
        prereqos_state,
        "__salt__",
        {"prereqos.health": lambda: calls.append(1) or {"ok": False, "problems": []}},
        raising=False,
    )
    monkeypatch.setattr(prereqos_state, "__opts__", {"test": True}, raising=False)
    assert prereqos_state.healthy("ctrl-1", timeout=300)["result"] is None and calls == [1]


# ------------------------------------------------------------ maintenance: health
def test_health_reports_a_drained_controller_as_maintenance(minion, tmp_path):
    minion["record"].write_text('{"drained": ["ctrl-2"]}')
    report = prereqos.health(write_facts(tmp_path, FACTS))
    assert report["ok"] is False and report["problems"] == []
    assert report["maintenance"] == maintenance.drained_notes(["ctrl-2"])


def test_health_keeps_each_parts_maintenance_apart_from_its_problems(minion, tmp_path):
    minion["pacemaker_cluster.health"] = lambda **_: {
        "ok": False,
        "problems": [],
        "maintenance": ["node ctrl-2 is in standby"],
    }
    minion["rabbitmq_cluster.health"] = lambda **_: {
        "ok": False,
        "problems": ["quorum queue 'q' in vhost '/': 2 of 3 replicas online (rabbit@ctrl-3 offline)"],
        "maintenance": [],
    }
    report = prereqos.health(write_facts(tmp_path, FACTS))
    assert report["maintenance"] == ["pacemaker: node ctrl-2 is in standby"]
    assert report["problems"] == [
        "rabbitmq: quorum queue 'q' in vhost '/': 2 of 3 replicas online (rabbit@ctrl-3 offline)"
    ]


def test_a_record_prereqos_did_not_write_is_a_problem(minion, tmp_path, monkeypatch):
    def broken() -> list[str]:
        raise CommandExecutionError("cannot read /var/lib/prereqos/maintenance.json: not JSON")

    monkeypatch.setattr(prereqos, "drained", broken)
    report = prereqos.health(write_facts(tmp_path, FACTS))
    assert report["problems"] == ["cannot read /var/lib/prereqos/maintenance.json: not JSON"]


def test_drained_reads_the_record(tmp_path):
    path, no_facts = tmp_path / "maintenance.json", str(tmp_path / "no-facts.json")
    assert prereqos.drained(str(path), no_facts) == []
    path.write_text('{"drained": ["ctrl-3"]}')
    assert prereqos.drained(str(path), no_facts) == ["ctrl-3"]
    path.write_text("{")
    with pytest.raises(CommandExecutionError, match="remove it and drain again"):
        prereqos.drained(str(path), no_facts)


def test_drained_ignores_a_controller_since_removed(tmp_path):
    """Nothing could undrain a controller no longer in the pillar: its entry would refuse every
    later drain and keep health false for ever."""
    path = tmp_path / "maintenance.json"
    path.write_text('{"drained": ["ctrl-3", "ctrl-9"]}')
    assert [node["id"] for node in FACTS["nodes"]] == ["ctrl-1", "ctrl-2", "ctrl-3"]
    assert prereqos.drained(str(path), write_facts(tmp_path, FACTS)) == ["ctrl-3"]


# ------------------------------------------------------- haproxy runtime API
STAT = (
    "# pxname,svname,qcur,qmax,scur,smax,slim,stot,bin,bout,dreq,dresp,ereq,econ,eresp,wretr,wredis,status\n"
    "galera,FRONTEND,,,0,1,4096,1,0,0,0,0,0,,,,,OPEN\n"
    "galera,ctrl-1,0,0,2,2,,2,0,0,,0,,0,0,0,0,UP\n"
    "galera,ctrl-2,0,0,0,0,,0,0,0,,0,,0,0,0,0,UP\n"
    "keystone,ctrl-2,0,0,1,1,,9,0,0,,0,,0,0,0,0,UP\n"
)


@pytest.fixture
def haproxy(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> list[str]:
    """haproxy's runtime API answering ``show stat`` with :data:`STAT`; the commands sent."""
    sent: list[str] = []

    def command(socket_path: str, text: str) -> str:
        sent.append(text)
        return STAT if text == "show stat" else recorded("prereqos", "haproxy-set-server-ok.txt", "13")

    monkeypatch.setattr(prereqos, "_haproxy_command", command)
    monkeypatch.setattr(prereqos, "_haproxy_socket", lambda path: "/run/haproxy/admin.sock")
    return sent


def test_haproxy_servers_of_one_controller(haproxy):
    assert prereqos.haproxy_servers("ctrl-2") == {
        "galera": {"status": "UP", "sessions": 0},
        "keystone": {"status": "UP", "sessions": 1},
    }


def test_maintenance_also_cuts_the_sessions(haproxy):
    assert prereqos.haproxy_set_server("ctrl-2", "maint") == ["galera", "keystone"]
    assert haproxy == [
        "show stat",
        "set server galera/ctrl-2 state maint",
        "shutdown sessions server galera/ctrl-2",
        "set server keystone/ctrl-2 state maint",
        "shutdown sessions server keystone/ctrl-2",
    ]


def test_haproxy_refusal_comes_back_with_its_text(monkeypatch, haproxy):
    unknown = recorded("prereqos", "haproxy-set-server-unknown.txt", "13")
    monkeypatch.setattr(prereqos, "_haproxy_command", lambda path, text: STAT if text == "show stat" else unknown)
    with pytest.raises(CommandExecutionError, match=r"set server galera/ctrl-2 state drain: No such server\."):
        prereqos.haproxy_set_server("ctrl-2", "drain")


@pytest.mark.parametrize("release", releases("prereqos", "haproxy-set-server-stopping.txt"))
def test_a_reloads_previous_process_is_asked_again_until_the_new_one_answers(monkeypatch, haproxy, release):
    """Right after a reload the previous process, its proxies stopped, may answer a command."""
    stopping = iter([recorded("prereqos", "haproxy-set-server-stopping.txt", release)] * 2)
    ok = recorded("prereqos", "haproxy-set-server-ok.txt", release)
    sent = []

    def command(path: str, text: str) -> str:
        sent.append(text)
        return STAT if text == "show stat" else next(stopping, ok)

    monkeypatch.setattr(prereqos, "_haproxy_command", command)
    monkeypatch.setattr(prereqos.time, "sleep", lambda seconds: None)
    assert prereqos.haproxy_set_server("ctrl-2", "ready") == ["galera", "keystone"]
    galera, keystone = "set server galera/ctrl-2 state ready", "set server keystone/ctrl-2 state ready"
    assert sent == ["show stat", galera, galera, galera, keystone]


@pytest.mark.parametrize("release", releases("prereqos", "haproxy-set-server-stopping.txt"))
def test_a_process_still_stopping_after_the_reload_wait_is_an_error(monkeypatch, haproxy, release):
    stopping = recorded("prereqos", "haproxy-set-server-stopping.txt", release)
    monkeypatch.setattr(prereqos, "_haproxy_command", lambda path, text: STAT if text == "show stat" else stopping)
    monkeypatch.setattr(prereqos.prereqos_maintenance, "RELOAD_WAIT_S", 0.0)
    with pytest.raises(CommandExecutionError, match=r"set server galera/ctrl-2 state ready: Proxy is disabled\.$"):
        prereqos.haproxy_set_server("ctrl-2", "ready")


def test_an_unknown_server_state_is_refused(haproxy):
    with pytest.raises(CommandExecutionError, match="state must be ready, drain or maint"):
        prereqos.haproxy_set_server("ctrl-2", "up")


# ------------------------------------------------------------------ states
class FakeHaproxy:
    """haproxy's servers of ctrl-2 as the states see them through prereqos.*."""

    def __init__(self, status: str = "UP", sessions: int = 0) -> None:
        self.servers = {
            "galera": {"status": status, "sessions": sessions},
            "keystone": {"status": status, "sessions": 0},
        }
        self.states: list[str] = []

    def get(self, server: str) -> dict:
        return copy.deepcopy(self.servers)

    def set(self, server: str, state: str) -> list[str]:
        self.states.append(state)
        for entry in self.servers.values():
            entry["status"] = {"drain": "DRAIN", "maint": "MAINT", "ready": "UP"}[state]
            if state == "maint":
                entry["sessions"] = 0
        return list(self.servers)


def wire(monkeypatch, test: bool = False, **salt: Any) -> dict[str, Any]:
    functions = {"prereqos.facts": lambda: FACTS, "service.status": lambda name: True, **salt}
    monkeypatch.setattr(prereqos_state, "__salt__", functions, raising=False)
    monkeypatch.setattr(prereqos_state, "__opts__", {"test": test}, raising=False)
    monkeypatch.setattr(prereqos_state, "__grains__", {"id": "ctrl-1"}, raising=False)
    return functions


@pytest.mark.parametrize("test", [True, False])
def test_proxied_sessions_of_the_drained_node_end(monkeypatch, test):
    ended: list[tuple[str, str]] = []
    wire(
        monkeypatch,
        test,
        **{
            "galera_cluster.sessions_from": lambda address, hostname: [198, 205],
            "galera_cluster.end_sessions_from": lambda address, hostname: ended.append((address, hostname)) or [198],
        },
    )
    ret = prereqos_state.proxied_sessions_ended("ctrl-2", "192.0.2.12", "ctrl-2")
    assert ended == ([] if test else [("192.0.2.12", "ctrl-2")])
    assert ret["result"] is True and ret["changes"] == {}
    assert ret["comment"] == (
        "would end the MariaDB sessions here that come from ctrl-2 (now 2)"
        if test
        else "ended the MariaDB sessions here that came from ctrl-2: 198"
    )


PROXIES = [{"name": f"ctrl-{n}", "address": f"192.0.2.1{n}", "drained": False} for n in (1, 2, 3)]


class WriterSessions:
    """The MariaDB sessions here that ctrl-1's HAProxy proxies (from 192.0.2.11): 301 is
    between transactions; 302 holds a transaction open for ``busy`` sweeps, then is between
    transactions too. Where ctrl-1, back, stands in this node's HAProxy, poll after poll."""

    def __init__(self, busy: int, statuses: list[str] | None = None) -> None:
        self.sessions, self.busy, self.statuses, self.calls = [301, 302], busy, statuses or ["UP"], []

    def end_sessions_from(self, address: str, hostname: str, between_transactions: bool) -> list[int]:
        self.calls.append((hostname, between_transactions))
        if address != "192.0.2.11":
            return []
        ended = [s for s in self.sessions if not between_transactions or s == 301 or self.busy == 0]
        self.busy -= 1
        self.sessions = [s for s in self.sessions if s not in ended]
        return ended

    def sessions_from(self, address: str, hostname: str) -> list[int]:
        return list(self.sessions) if address == "192.0.2.11" else []

    def haproxy_servers(self, hostname: str) -> dict:
        assert hostname == "ctrl-1"
        return {"galera": {"status": self.statuses.pop(0) if len(self.statuses) > 1 else self.statuses[0]}}

    def wire(self, monkeypatch, test: bool = False, here: str = "ctrl-1") -> None:
        wire(
            monkeypatch,
            test,
            **{
                "galera_cluster.end_sessions_from": self.end_sessions_from,
                "galera_cluster.sessions_from": self.sessions_from,
                "prereqos.haproxy_servers": self.haproxy_servers,
            },
        )
        monkeypatch.setattr(prereqos_state, "__grains__", {"id": here})


def test_a_drained_writers_sessions_end_between_transactions(monkeypatch):
    sessions = WriterSessions(busy=2)
    sessions.wire(monkeypatch)
    ret = prereqos_state.proxied_sessions_moved("ctrl-1", True, "galera", PROXIES, timeout=5, interval=0)
    assert ret == {
        "name": "ctrl-1",
        "changes": {},
        "result": True,
        "comment": "ended the MariaDB sessions proxied to this node (ctrl-1 is drained): 301, 302",
    }
    assert {between for _, between in sessions.calls} == {True}


def test_sessions_still_in_a_transaction_at_the_timeout_end_anyway(monkeypatch):
    sessions = WriterSessions(busy=1000)
    sessions.wire(monkeypatch)
    ret = prereqos_state.proxied_sessions_moved("ctrl-1", True, "galera", PROXIES, timeout=0.05, interval=0.01)
    assert (
        ret["result"] is True
        and sessions.sessions == []
        and ret["comment"]
        == (
            "ended the MariaDB sessions proxied to this node (ctrl-1 is drained): 301, 302; "
            "ended the 1 still in a transaction after 0.05s too"
        )
    )
    assert sessions.calls[-3:] == [("ctrl-1", False), ("ctrl-2", False), ("ctrl-3", False)]


def test_sessions_move_to_a_controller_back_once_this_haproxy_has_it_up(monkeypatch):
    sessions = WriterSessions(busy=0, statuses=["MAINT", "DOWN 1/2", "UP"])
    sessions.wire(monkeypatch, here="ctrl-2")
    ret = prereqos_state.proxied_sessions_moved("ctrl-1", False, "galera", PROXIES, timeout=5, interval=0)
    assert ret["result"] is True and sessions.statuses == ["UP"]
    assert ret["comment"] == "ended the MariaDB sessions proxied to this node (ctrl-1 is back): 301, 302"


def test_sessions_stay_while_the_controller_back_is_not_up_here(monkeypatch):
    sessions = WriterSessions(busy=0, statuses=["DOWN"])
    sessions.wire(monkeypatch, here="ctrl-2")
    ret = prereqos_state.proxied_sessions_moved("ctrl-1", False, "galera", PROXIES, up_timeout=0.02, interval=0.01)
    assert ret["result"] is False and sessions.calls == [] and sessions.sessions == [301, 302]
    assert ret["comment"] == "ctrl-1 is DOWN in galera on this node's haproxy after 0.02s"


@pytest.mark.parametrize("test", [True, False])
def test_sessions_stay_on_a_node_before_the_controller_back(monkeypatch, test):
    """ctrl-1 comes before ctrl-2 in the Galera listener: it stays the writer."""
    sessions = WriterSessions(busy=0)
    sessions.wire(monkeypatch, test=test, here="ctrl-1")
    ret = prereqos_state.proxied_sessions_moved("ctrl-2", False, "galera", PROXIES, interval=0)
    assert ret == {
        "name": "ctrl-2",
        "changes": {},
        "result": True,
        "comment": "ctrl-2 comes after this node in galera: the sessions here stay",
    }
    assert sessions.calls == [] and sessions.sessions == [301, 302]


def test_moving_sessions_predicts_without_touching_them(monkeypatch):
    sessions = WriterSessions(busy=0)
    sessions.wire(monkeypatch, test=True, here="ctrl-2")
    ret = prereqos_state.proxied_sessions_moved("ctrl-1", False, "galera", PROXIES)
    assert ret["result"] is True and ret["changes"] == {} and sessions.calls == []
    assert ret["comment"] == "would move the MariaDB sessions proxied to this node to the writer (ctrl-1 is back)"


def test_moving_sessions_fails_with_the_clients_error(monkeypatch):
    def refuse(address, hostname, between_transactions):
        raise CommandExecutionError("MariaDB is not running: ERROR 2002 (HY000)")

    wire(monkeypatch, **{"galera_cluster.end_sessions_from": refuse})
    ret = prereqos_state.proxied_sessions_moved("ctrl-1", True, "galera", PROXIES, interval=0)
    assert ret["result"] is False and ret["comment"].startswith("MariaDB is not running")


def test_no_proxied_session_changes_nothing(monkeypatch):
    wire(monkeypatch, **{"galera_cluster.end_sessions_from": lambda address, hostname: []})
    ret = prereqos_state.proxied_sessions_ended("ctrl-2", "192.0.2.12", "ctrl-2")
    assert ret == {
        "name": "ctrl-2",
        "changes": {},
        "result": True,
        "comment": "no MariaDB session here comes from ctrl-2",
    }


def test_proxied_sessions_fail_with_the_clients_error(monkeypatch):
    def refuse(address, hostname):
        raise CommandExecutionError("MariaDB is not running: ERROR 2002 (HY000)")

    wire(monkeypatch, **{"galera_cluster.end_sessions_from": refuse})
    ret = prereqos_state.proxied_sessions_ended("ctrl-2", "192.0.2.12", "ctrl-2")
    assert ret["result"] is False and ret["comment"].startswith("MariaDB is not running") and ret["changes"] == {}


class DrainTimeline:
    """What ctrl-1 sees at each poll while ctrl-2's VIPs move away: who holds each VIP (by
    its addresses and ARP); with pacemaker, what ctrl-2 in standby still runs (its haproxy
    stops later); the MariaDB sessions from ctrl-2 here: 198 idle, 205 running a statement
    that ends after ``running`` sweeps."""

    def __init__(
        self,
        manager: str,
        *holders: dict[str, str | None],
        standby: list[list[str]] | None = None,
        running: int = 2,
    ) -> None:
        self.manager, self.holders, self.running, self.swept = manager, list(holders), running, 0
        self.standby = standby or [[]]

    def vip_holders(self) -> dict[str, str | None]:
        return self.holders.pop(0) if len(self.holders) > 1 else self.holders[0]

    def resources_on(self, node: str) -> list[str]:
        assert node == "ctrl-2"
        return self.standby.pop(0) if len(self.standby) > 1 else self.standby[0]

    def end_sessions_from(self, address: str, hostname: str, idle: bool) -> list[int]:
        assert (address, hostname, idle) == ("192.0.2.12", "ctrl-2", True)
        self.swept += 1
        return [198] if self.swept == 1 else [205] if self.swept == self.running + 1 else []

    def sessions_from(self, address: str, hostname: str) -> list[int]:
        return [205] if self.swept <= self.running else []

    def wire(self, monkeypatch) -> None:
        wire(
            monkeypatch,
            **{
                "prereqos.facts": lambda: {**FACTS, "vip_manager": self.manager},
                "prereqos.vip_holders": self.vip_holders,
                "pacemaker_cluster.resources_on": self.resources_on,
                "galera_cluster.end_sessions_from": self.end_sessions_from,
                "galera_cluster.sessions_from": self.sessions_from,
            },
        )


def end_orphans(timeout: float = 5) -> dict:
    """orphaned_sessions_ended of a drain of ctrl-2, polling every 10 ms."""
    return prereqos_state.orphaned_sessions_ended("ctrl-2", "192.0.2.12", "ctrl-2", timeout=timeout, interval=0.01)


def ended_orphans(ids: str) -> dict:
    """Its return once it ended the sessions ``ids``."""
    comment = f"ended the idle MariaDB sessions here that came from ctrl-2 after its VIPs moved: {ids}"
    return {"name": "ctrl-2", "result": True, "changes": {}, "comment": comment}


MOVING = (
    {"api": "ctrl-2", "srv": "ctrl-2"},
    {"api": None, "srv": None},
    {"api": "ctrl-3", "srv": None},
    {"api": "ctrl-3", "srv": "ctrl-3"},
)


def test_pacemaker_orphaned_sessions_end_once_another_controller_holds_the_vips_until_haproxy_stopped(monkeypatch):
    timeline = DrainTimeline("pacemaker", *MOVING, standby=[["haproxy-clone"]] * 3 + [[]], running=10**6)
    timeline.wire(monkeypatch)
    assert end_orphans() == ended_orphans("198")
    # Nothing ended before both VIPs were held elsewhere; one sweep per poll after, until haproxy stopped
    # (the session still running a statement then is gone with it).
    assert timeline.holders == [MOVING[-1]] and timeline.swept == 4


def test_keepalived_orphaned_sessions_end_once_another_controller_holds_the_vips(monkeypatch):
    timeline = DrainTimeline("keepalived", *MOVING)
    timeline.wire(monkeypatch)
    assert end_orphans() == ended_orphans("198, 205")
    # Nothing ended before both VIPs were held elsewhere; then until no session from ctrl-2 was left.
    assert timeline.holders == [MOVING[-1]] and timeline.swept == 3


def test_orphaned_sessions_say_what_they_would_do_under_test(monkeypatch):
    wire(monkeypatch, True)
    ret = prereqos_state.orphaned_sessions_ended("ctrl-2", "192.0.2.12", "ctrl-2")
    assert ret["result"] is True and ret["changes"] == {}
    assert ret["comment"].startswith("would end the idle MariaDB sessions here that come from ctrl-2")


@pytest.mark.parametrize("manager", ["pacemaker", "keepalived"])
def test_orphaned_sessions_fail_when_no_other_controller_holds_the_vips(monkeypatch, manager):
    timeline = DrainTimeline(manager, {"api": "ctrl-3", "srv": None})
    timeline.wire(monkeypatch)
    ret = end_orphans(timeout=0.05)
    assert ret["result"] is False and timeline.swept == 0
    assert (
        ret["comment"] == "the VIPs of ctrl-2 are not held by another controller after 0.05s: srv held by no controller"
    )


def test_pacemaker_orphaned_sessions_fail_when_haproxy_does_not_stop(monkeypatch):
    timeline = DrainTimeline("pacemaker", {"api": "ctrl-1", "srv": "ctrl-3"}, standby=[["haproxy-clone"]])
    timeline.wire(monkeypatch)
    ret = end_orphans(timeout=0.05)
    assert ret["result"] is False and timeline.swept > 0
    assert ret["comment"] == "ctrl-2 is in standby but still runs haproxy-clone after 0.05s"


def test_keepalived_orphaned_sessions_leave_a_long_statement_to_the_haproxy_step(monkeypatch):
    timeline = DrainTimeline("keepalived", {"api": "ctrl-1", "srv": "ctrl-1"}, running=10**6)
    timeline.wire(monkeypatch)
    ret = end_orphans(timeout=0.05)
    assert ret["result"] is True and ret["changes"] == {}
    assert ret["comment"] == (
        "ended the idle MariaDB sessions here that came from ctrl-2 after its VIPs moved: 198; after 0.05s its "
        "sessions 205 still run statements, left to the HAProxy step"
    )


@pytest.mark.parametrize("test", [True, False])
def test_haproxy_server_drains_then_maintenance(monkeypatch, test):
    fake = FakeHaproxy()
    wire(monkeypatch, test, **{"prereqos.haproxy_servers": fake.get, "prereqos.haproxy_set_server": fake.set})
    ret = prereqos_state.haproxy_server("ctrl-2", drained=True, timeout=1)
    assert ret["changes"] == {
        "servers": {"old": {"galera": "UP", "keystone": "UP"}, "new": {"galera": "MAINT", "keystone": "MAINT"}}
    }
    assert ret["result"] is (None if test else True)
    assert fake.states == ([] if test else ["drain", "maint"])


def test_haproxy_server_cuts_sessions_left_after_the_timeout(monkeypatch):
    fake = FakeHaproxy(sessions=2)
    wire(monkeypatch, **{"prereqos.haproxy_servers": fake.get, "prereqos.haproxy_set_server": fake.set})
    ret = prereqos_state.haproxy_server("ctrl-2", drained=True, timeout=0.05, interval=0.01)
    assert ret["result"] is True and "sessions cut after 0.05s: {'galera': 2}" in ret["comment"]


def test_haproxy_server_already_in_maintenance_changes_nothing(monkeypatch):
    fake = FakeHaproxy(status="MAINT")
    wire(monkeypatch, **{"prereqos.haproxy_servers": fake.get, "prereqos.haproxy_set_server": fake.set})
    ret = prereqos_state.haproxy_server("ctrl-2", drained=True)
    assert ret["result"] is True and ret["changes"] == {} and fake.states == []


def test_haproxy_server_ready_again(monkeypatch):
    fake = FakeHaproxy(status="MAINT")
    wire(monkeypatch, **{"prereqos.haproxy_servers": fake.get, "prereqos.haproxy_set_server": fake.set})
    ret = prereqos_state.haproxy_server("ctrl-2", drained=False)
    assert ret["result"] is True and fake.states == ["ready"]


def test_haproxy_server_on_a_node_in_standby_changes_nothing(monkeypatch):
    fake = FakeHaproxy()
    wire(monkeypatch, **{"service.status": lambda name: False, "prereqos.haproxy_servers": fake.get})
    ret = prereqos_state.haproxy_server("ctrl-2", drained=True)
    assert ret["result"] is True and ret["changes"] == {} and "pacemaker standby" in ret["comment"]


@pytest.mark.parametrize("vip_manager", ["pacemaker", "keepalived"])
def test_haproxy_server_predicts_the_drained_node_stopping_haproxy_in_standby(monkeypatch, vip_manager):
    """With pacemaker the drained node's haproxy is stopped by its standby (the step before):
    test=True predicts no change there, as the real run finds."""
    fake = FakeHaproxy()
    facts = {**FACTS, "vip_manager": vip_manager}
    wire(monkeypatch, True, **{"prereqos.facts": lambda: facts, "prereqos.haproxy_servers": fake.get})
    ret = prereqos_state.haproxy_server("ctrl-1", drained=True)
    if vip_manager == "pacemaker":
        assert ret["result"] is True and ret["changes"] == {} and "will be stopped" in ret["comment"]
    else:
        assert ret["result"] is None and ret["changes"]
    assert prereqos_state.haproxy_server("ctrl-2", drained=True)["result"] is None  # another node's servers


def test_haproxy_server_undrain_finishes_a_drain_stopped_half_way(monkeypatch):
    fake = FakeHaproxy(status="DRAIN")
    wire(monkeypatch, **{"prereqos.haproxy_servers": fake.get, "prereqos.haproxy_set_server": fake.set})
    ret = prereqos_state.haproxy_server("ctrl-2", drained=False)
    assert ret["changes"]["servers"]["old"] == {"galera": "DRAIN", "keystone": "DRAIN"} and fake.states == ["ready"]


@pytest.mark.parametrize("test", [True, False])
def test_vips_released_with_keepalived_writes_the_track_file_and_waits(monkeypatch, tmp_path, test):
    path = tmp_path / "vips-released"
    monkeypatch.setattr(prereqos_state.prereqos_maintenance, "VIPS_RELEASED_PATH", str(path))
    held = iter([["192.0.2.10"], []])
    wire(
        monkeypatch,
        test,
        **{"prereqos.facts": lambda: {**FACTS, "vip_manager": "keepalived"}, "prereqos.vips_held": lambda: next(held)},
    )
    ret = prereqos_state.vips_released("ctrl-1", released=True, timeout=5, interval=0.01)
    assert ret["changes"] == {"vips_released": {"old": False, "new": True}}
    assert ret["result"] is (None if test else True), ret["comment"]
    assert path.exists() is (not test)
    if not test:
        assert path.read_text() == "1\n"
        again = prereqos_state.vips_released("ctrl-1", released=False)
        assert again["changes"] == {"vips_released": {"old": True, "new": False}} and path.read_text() == "0\n"


def test_vips_released_fails_while_a_vip_stays(monkeypatch, tmp_path):
    monkeypatch.setattr(prereqos_state.prereqos_maintenance, "VIPS_RELEASED_PATH", str(tmp_path / "vips-released"))
    wire(
        monkeypatch,
        **{
            "prereqos.facts": lambda: {**FACTS, "vip_manager": "keepalived"},
            "prereqos.vips_held": lambda: ["192.0.2.10"],
        },
    )
    ret = prereqos_state.vips_released("ctrl-1", released=True, timeout=0.05, interval=0.01)
    assert ret["result"] is False and ret["comment"].startswith("ctrl-1 still holds 192.0.2.10 after 0.05s")


def test_vips_released_with_pacemaker_is_standby(monkeypatch):
    calls = []
    wire(monkeypatch)
    monkeypatch.setattr(
        prereqos_state,
        "__states__",
        {
            "pacemaker_cluster.standby": lambda name, enabled, timeout, resources, interval: (
                calls.append((name, enabled, resources)) or {"result": True}
            )
        },
        raising=False,
    )
    assert prereqos_state.vips_released("ctrl-2", released=True)["result"] is True
    # It waits for the VIPs only: orphaned_sessions_ended waits for haproxy's stop.
    assert calls == [("ctrl-2", True, [f"vip_{network}" for network in FACTS["vips"]])]


def health(problems: list[str] = (), notes: list[str] = ()) -> dict[str, Any]:
    return {"ok": not problems and not notes, "problems": list(problems), "maintenance": list(notes)}


def test_ready_for_drain_on_a_healthy_cluster(monkeypatch):
    wire(monkeypatch, **{"prereqos.health": health, "prereqos.drained": lambda: []})
    assert prereqos_state.ready_for("ctrl-2", "drain")["result"] is True


def test_ready_for_drain_refuses_with_another_controller_drained(monkeypatch):
    wire(monkeypatch, **{"prereqos.health": lambda: health(notes=["x"]), "prereqos.drained": lambda: ["ctrl-3"]})
    ret = prereqos_state.ready_for("ctrl-2", "drain")
    assert ret["result"] is False and ret["comment"].startswith(
        "ctrl-1 refuses to drain ctrl-2:\nctrl-3 is already drained"
    )


def test_ready_for_drain_on_the_node_asks_about_quorum_queues(monkeypatch):
    wire(
        monkeypatch,
        **{
            "prereqos.health": health,
            "prereqos.drained": lambda: [],
            "rabbitmq_cluster.quorum_critical": lambda: ["'orders' in vhost '/'"],
        },
    )
    ret = prereqos_state.ready_for("ctrl-1", "drain")
    assert (
        ret["result"] is False
        and "quorum queue 'orders' in vhost '/' would lose its majority without ctrl-1" in ret["comment"]
    )


def test_ready_for_drain_waits_for_quorum_replicas_to_catch_up(monkeypatch):
    """Right after a restart RabbitMQ counts a catching-up replica out of the majority:
    the drained node waits (a rolling restart's next node), up to the timeout."""
    answers = iter([["'orders' in vhost '/'"], []])
    wire(
        monkeypatch,
        **{
            "prereqos.health": health,
            "prereqos.drained": lambda: [],
            "rabbitmq_cluster.quorum_critical": lambda: next(answers),
        },
    )
    assert prereqos_state.ready_for("ctrl-1", "drain", timeout=5, interval=0.01)["result"] is True


def test_ready_for_drain_refuses_an_unhealthy_cluster_at_once(monkeypatch):
    calls = []
    wire(
        monkeypatch,
        **{"prereqos.health": lambda: calls.append(1) or health(["ctrl-3: down"]), "prereqos.drained": lambda: []},
    )
    ret = prereqos_state.ready_for("ctrl-1", "drain", timeout=300, interval=0.01)
    assert ret["result"] is False and ret["comment"] == "ctrl-1 refuses to drain ctrl-1:\nctrl-3: down"
    assert calls == [1]


def test_ready_for_undrain_waits_until_the_node_is_healthy(monkeypatch):
    reports = iter([health(["galera: local state Joiner"], ["ctrl-1 is drained"]), health([], ["ctrl-1 is drained"])])
    wire(monkeypatch, **{"prereqos.health": lambda: next(reports)})
    ret = prereqos_state.ready_for("ctrl-1", "undrain", timeout=5, interval=0.01)
    assert ret["result"] is True


def test_ready_for_undrain_refuses_after_the_timeout(monkeypatch):
    wire(monkeypatch, **{"prereqos.health": lambda: health(["galera: local state Joiner"])})
    ret = prereqos_state.ready_for("ctrl-1", "undrain", timeout=0.05, interval=0.01)
    assert ret["result"] is False and "ctrl-1 is not healthy yet: galera: local state Joiner" in ret["comment"]


def test_the_health_gate_fails_at_once_on_maintenance(monkeypatch):
    calls = []
    wire(
        monkeypatch,
        **{"prereqos.health": lambda: calls.append(1) or health(notes=["ctrl-2 is drained for maintenance"])},
    )
    ret = prereqos_state.healthy("ctrl-1", timeout=300)
    assert ret["result"] is False and ret["comment"] == "in maintenance:\nctrl-2 is drained for maintenance"
    assert calls == [1]
