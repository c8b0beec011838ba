"""Unit tests of _modules/prereqos.py and _states/prereqos.py: the operator
commands (settings, facts, preflight, health) and the two states."""

from __future__ import annotations

import copy
import inspect
import json
from pathlib import Path
from typing import Any

import pytest
import yaml
from salt.exceptions import CommandExecutionError

from tests.unit.loader import ROOT, library, load

prereqos = load("_modules", "prereqos")
prereqos_state = load("_states", "prereqos")
settings_lib = library("prereqos_settings")

DEFAULTS = yaml.safe_load((ROOT / "formula/prereqos/defaults.yaml").read_text())
OSMAP = yaml.safe_load((ROOT / "formula/prereqos/osfamilymap.yaml").read_text())["Debian"]
EXAMPLE = yaml.safe_load((ROOT / "pillar.example").read_text())["prereqos"]
HEALTHY = {"ok": True, "problems": []}


def derived(minion_id: str = "ctrl-1", **changes: Any) -> dict:
    site = copy.deepcopy(EXAMPLE)
    site.update(changes)
    return settings_lib.settings(DEFAULTS, OSMAP, site, minion_id)


@pytest.fixture
def minion(monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    """``__salt__`` of a healthy controller ctrl-1 holding the srv VIP; tests change it."""
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
    assert public == {"settings", "facts", "preflight", "health"}
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
