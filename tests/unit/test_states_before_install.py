"""Our states on a node whose tool is not installed yet (a fresh node).

The state modules always load; until the package that brings their tool is
installed (by an earlier step of the same run), each state predicts under
test=True and fails with what to install otherwise (prereqos_common.not_installed),
without any other module of ours: they never call the site module ``prereqos``.
"""

from __future__ import annotations

from typing import Any

import pytest

from tests.unit.loader import load

# module -> (package named in the comment, {state function: (kwargs, changes predicted)})
STATES: dict[str, tuple[str, dict[str, tuple[dict[str, Any], bool]]]] = {
    "rabbitmq_cluster": (
        "rabbitmq-server",
        {
            "joined": ({"name": "rabbit@ctrl-1"}, True),
            "running_nodes": ({"name": "members", "nodes": ["rabbit@ctrl-1"]}, False),
            "vhost_present": ({"name": "/"}, True),
            "user_present": ({"name": "openstack", "password_pillar": "prereqos:secrets:x"}, True),
            "user_absent": ({"name": "guest"}, True),
            "policy_present": ({"name": "p", "pattern": ".*", "definition": {"max-length": 1}}, True),
            "policy_absent": ({"name": "p"}, False),
        },
    ),
    "pacemaker_cluster": (
        "pacemaker",
        {
            "online": ({"name": "online", "nodes": ["ctrl-1"]}, False),
            "configured": ({"name": "resources", "properties": {"stonith-enabled": "false"}}, True),
        },
    ),
    "galera_cluster": (
        "mariadb-server",
        {
            "member": (
                {
                    "name": "openstack",
                    "nodes": ["ctrl-1"],
                    "bootstrap_node": "ctrl-1",
                    "mine_function": "prereqos_galera_state",
                    "datadir": "/var/lib/mysql",
                },
                True,
            ),
            "synced": ({"name": "synced", "size": 3}, False),
            "user_present": ({"name": "sst", "password_pillar": "prereqos:secrets:x"}, True),
            "published": ({"name": "prereqos_galera_state"}, False),
        },
    ),
}
CASES = [(module, function) for module, (_, functions) in STATES.items() for function in functions]


def fresh_node(module: str, test: bool, monkeypatch: pytest.MonkeyPatch) -> Any:
    """The state module as Salt loads it on a node where none of its execution modules is loaded."""
    states = load("_states", module)
    monkeypatch.setattr(states, "__salt__", {}, raising=False)
    monkeypatch.setattr(states, "__opts__", {"test": test, "id": "ctrl-1"}, raising=False)
    monkeypatch.setattr(states, "__pillar__", {}, raising=False)
    return states


@pytest.mark.parametrize("module", list(STATES))
def test_state_modules_load_without_their_tool(module: str, monkeypatch: pytest.MonkeyPatch) -> None:
    assert fresh_node(module, False, monkeypatch).__virtual__() == module


@pytest.mark.parametrize(("module", "function"), CASES)
def test_test_mode_predicts_what_the_state_will_do_once_installed(
    module: str, function: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    package, functions = STATES[module]
    kwargs, changes = functions[function]
    ret = getattr(fresh_node(module, True, monkeypatch), function)(**kwargs)
    assert ret["result"] is None
    assert ret["comment"].startswith(f"{package} is not installed yet (an earlier step installs it): would ")
    assert bool(ret["changes"]) is changes, ret


@pytest.mark.parametrize(("module", "function"), CASES)
def test_a_real_run_fails_and_says_what_to_install(module: str, function: str, monkeypatch: pytest.MonkeyPatch) -> None:
    package, functions = STATES[module]
    ret = getattr(fresh_node(module, False, monkeypatch), function)(**functions[function][0])
    assert ret["result"] is False and ret["changes"] == {}
    assert ret["comment"].startswith(f"{package} is not installed: cannot ")
    assert "apply the prereqos part that installs it first" in ret["comment"]
