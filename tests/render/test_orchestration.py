"""Render tier, master side: the orchestrations as the master renders them
from its own pillar, which holds no secret (the controllers' pillar does)."""

from __future__ import annotations

import itertools
import json

import pytest

from tests.saltrender import RenderError

VARIANTS = ("example", "keepalived", "one_network", "five_nodes", "tls")
ORCHESTRATIONS = (
    "orch.prereqos",
    "orch.prereqos_recover",
    "orch.prereqos_drain",
    "orch.prereqos_undrain",
    "orch.prereqos_rolling_restart",
)
# The controller an operator names to drain or undrain: pillar='{"node": "ctrl-2"}'.
NODE = {"node": "ctrl-2"}


def master_view(pillar: dict) -> dict:
    """The site pillar as the master sees it: everything but prereqos:secrets."""
    return {"prereqos": {k: v for k, v in pillar["prereqos"].items() if k != "secrets"}}


def operator_pillar(orchestration: str, pillar: dict) -> dict:
    """``pillar`` and what the operator adds on the command line for ``orchestration``."""
    return {**pillar, **NODE} if orchestration.endswith("drain") else pillar


def secret_values(pillar: dict) -> list[str]:
    """Every secret value of the site, as text."""
    values = []
    for value in pillar["prereqos"]["secrets"].values():
        values.extend(value.values() if isinstance(value, dict) else [value])
    return [str(v) for v in values if v]


def step_arg(high: dict, step: str, key: str):
    return next(a[key] for a in high[step]["salt"] if isinstance(a, dict) and key in a)


@pytest.mark.parametrize("variant", VARIANTS)
def test_orchestration_forms_clusters_first_node_then_one_at_a_time(renderers, variants, variant):
    pillar = variants[variant]
    site = pillar["prereqos"]
    high = renderers["master"].sls("orch.prereqos", master_view(pillar))
    ids = [n["id"] for n in site["controllers"]]
    first, others = site["bootstrap"], [i for i in ids if i != site["bootstrap"]]
    order = list(high)
    assert order[:4] == [
        f"prereqos-sync-modules-{first}",
        "prereqos-sync-modules",
        "prereqos-preflight",
        "prereqos-deploy",
    ]
    galera_steps = [step for step in order if step.startswith("prereqos-galera-") and "survey" not in step]
    assert galera_steps == [f"prereqos-galera-{n}" for n in [first, *others]]
    joins = [step for step in order if step.startswith("prereqos-rabbitmq-join-")]
    assert joins == [f"prereqos-rabbitmq-join-{n}" for n in others]
    # each join waits for the one before it: one node at a time
    for before, after in itertools.pairwise(joins):
        assert {"salt": before} in step_arg(high, after, "require")
    assert ("prereqos-pacemaker-resources" in high) == (site["vip_manager"] == "pacemaker")
    for step in high:
        if "state" in high[step]["salt"]:
            assert step_arg(high, step, "pillar") == master_view(pillar), f"{step}: not the master's non-secret view"


@pytest.mark.parametrize("orchestration", ORCHESTRATIONS)
@pytest.mark.parametrize("variant", VARIANTS)
def test_no_step_carries_a_secret(renderers, variants, variant, orchestration):
    """Job arguments land in the master's job cache and on its event bus."""
    pillar = variants[variant]
    high = renderers["master"].sls(orchestration, operator_pillar(orchestration, master_view(pillar)))
    for step, data in high.items():
        text = json.dumps(data, ensure_ascii=False)
        assert '"secrets"' not in text, step
        for index, secret in enumerate(secret_values(pillar)):
            assert secret not in text, f"{step} carries secret #{index}"


@pytest.mark.parametrize("orchestration", ORCHESTRATIONS)
def test_a_secret_in_the_orchestrations_pillar_is_refused_without_its_value(renderers, variants, orchestration):
    """In the master's pillar or given on the salt-run command line: refused before any step."""
    pillar = variants["example"]
    with pytest.raises(RenderError) as refused:
        renderers["master"].sls(orchestration, operator_pillar(orchestration, pillar))
    message = str(refused.value)
    assert "secrets reached the orchestration's pillar" in message, message
    assert "prereqos:secrets:db_root_password" in message and "pillar top file" in message, message
    for index, secret in enumerate(secret_values(pillar)):
        assert secret not in message, f"the refusal shows secret #{index}"


def test_recovery_orchestration_bootstraps_then_runs_the_ordinary_steps(renderers, variants):
    high = renderers["master"].sls("orch.prereqos_recover", master_view(variants["example"]))
    recovery = [
        "prereqos-recover-sync-modules-ctrl-1",
        "prereqos-recover-sync-modules",
        "prereqos-recover-survey",
        "prereqos-recover-bootstrap",
    ]
    assert set(recovery) <= set(high) and "prereqos-galera-ctrl-3" in high
    assert step_arg(high, "prereqos-recover-survey", "require") == [{"salt": "prereqos-recover-sync-modules"}]
    assert step_arg(high, "prereqos-recover-bootstrap", "require") == [{"salt": "prereqos-recover-survey"}]
    assert step_arg(high, "prereqos-recover-bootstrap", "require_in") == [{"salt": "prereqos-sync-modules"}]
    for step in recovery:  # an unreachable controller counts as unknown, it does not stop the run
        assert step_arg(high, step, "expect_minions") is False


SYNC_STEPS = {
    "orch.prereqos": "prereqos-sync-modules",
    "orch.prereqos_recover": "prereqos-recover-sync-modules",
    "orch.prereqos_drain": "prereqos-maintenance-sync-modules",
    "orch.prereqos_undrain": "prereqos-maintenance-sync-modules",
    "orch.prereqos_rolling_restart": "prereqos-maintenance-sync-modules",
}


@pytest.mark.parametrize("orchestration", ORCHESTRATIONS)
def test_modules_sync_on_the_bootstrap_node_alone_before_the_others(renderers, variants, orchestration):
    """A gitfs master makes its cache directories on the first requests, racing when two
    minions ask at once: one controller fetches everything before any parallel step."""
    site = master_view(variants["five_nodes"])["prereqos"]
    high = renderers["master"].sls(orchestration, operator_pillar(orchestration, {"prereqos": site}))
    step, first = SYNC_STEPS[orchestration], site["bootstrap"]
    others = [n["id"] for n in site["controllers"] if n["id"] != first]
    assert step_arg(high, f"{step}-{first}", "tgt") == [first]
    assert step_arg(high, f"{step}-{first}", "sls") == "prereqos.sync"
    assert step_arg(high, step, "tgt") == others
    assert step_arg(high, step, "require") == [{"salt": f"{step}-{first}"}]


def test_orchestration_without_pillar_says_what_to_do(renderers):
    with pytest.raises(RenderError, match="the master sees no prereqos:controllers"):
        renderers["master"].sls("orch.prereqos", {})


# ------------------------------------------------------------ maintenance
DRAIN_STEPS = [
    ("prereqos-drain-check-ctrl-2", "prereqos.maintenance.check", ["ctrl-1", "ctrl-2", "ctrl-3"]),
    ("prereqos-drain-vips-ctrl-2", "prereqos.maintenance.vips", ["ctrl-1", "ctrl-2", "ctrl-3"]),
    ("prereqos-drain-haproxy-ctrl-2", "prereqos.maintenance.haproxy", ["ctrl-1", "ctrl-2", "ctrl-3"]),
    ("prereqos-drain-rabbitmq-ctrl-2", "prereqos.maintenance.rabbitmq", ["ctrl-2"]),
]
UNDRAIN_STEPS = [
    ("prereqos-undrain-check-ctrl-2", "prereqos.maintenance.check", ["ctrl-2"]),
    ("prereqos-undrain-rabbitmq-ctrl-2", "prereqos.maintenance.rabbitmq", ["ctrl-2"]),
    ("prereqos-undrain-haproxy-ctrl-2", "prereqos.maintenance.haproxy", ["ctrl-1", "ctrl-2", "ctrl-3"]),
    ("prereqos-undrain-vips-ctrl-2", "prereqos.maintenance.vips", ["ctrl-2"]),
    ("prereqos-undrain-health-ctrl-2", "prereqos.health", ["ctrl-1", "ctrl-2", "ctrl-3"]),
]


@pytest.mark.parametrize(
    ("orchestration", "action", "steps"),
    [("orch.prereqos_drain", "drain", DRAIN_STEPS), ("orch.prereqos_undrain", "undrain", UNDRAIN_STEPS)],
)
def test_drain_and_undrain_run_their_steps_in_order(renderers, variants, orchestration, action, steps):
    pillar = master_view(variants["example"])
    high = renderers["master"].sls(orchestration, {**pillar, **NODE})
    assert list(high) == [
        "prereqos-maintenance-sync-modules-ctrl-1",
        "prereqos-maintenance-sync-modules",
        *(step for step, _, _ in steps),
    ]
    previous = "prereqos-maintenance-sync-modules"
    for step, sls, targets in steps:
        assert step_arg(high, step, "sls") == sls and step_arg(high, step, "tgt") == targets, step
        assert step_arg(high, step, "require") == [{"salt": previous}], step
        expected = (
            pillar
            if sls == "prereqos.health"
            else {**pillar, "prereqos_maintenance": {"node": "ctrl-2", "action": action}}
        )
        assert step_arg(high, step, "pillar") == expected, step
        previous = step


def test_under_keepalived_too_every_controller_runs_the_vips_step_of_a_drain(renderers, variants):
    """Every controller ends the sessions the VIPs' move orphans; only the node claims them again."""
    drain = renderers["master"].sls("orch.prereqos_drain", {**master_view(variants["keepalived"]), **NODE})
    undrain = renderers["master"].sls("orch.prereqos_undrain", {**master_view(variants["keepalived"]), **NODE})
    assert step_arg(drain, "prereqos-drain-vips-ctrl-2", "tgt") == ["ctrl-1", "ctrl-2", "ctrl-3"]
    assert step_arg(undrain, "prereqos-undrain-vips-ctrl-2", "tgt") == ["ctrl-2"]


@pytest.mark.parametrize("orchestration", ["orch.prereqos_drain", "orch.prereqos_undrain"])
@pytest.mark.parametrize("node", [None, "ctrl-9"])
def test_drain_names_the_controllers_when_the_node_is_not_one(renderers, variants, orchestration, node):
    pillar = {**master_view(variants["example"]), **({"node": node} if node else {})}
    with pytest.raises(
        RenderError,
        match=f"{orchestration}: pillar node={node} is not a controller; name one of ctrl-1, ctrl-2, ctrl-3",
    ):
        renderers["master"].sls(orchestration, pillar)


def test_rolling_restart_takes_one_controller_at_a_time(renderers, variants):
    high = renderers["master"].sls("orch.prereqos_rolling_restart", master_view(variants["example"]))
    order = [
        step
        for step in high
        if step.startswith(("prereqos-drain-check-", "prereqos-restart-", "prereqos-undrain-health-"))
    ]
    assert order == [
        f"{kind}-{node}"
        for node in ("ctrl-1", "ctrl-2", "ctrl-3")
        for kind in ("prereqos-drain-check", "prereqos-restart", "prereqos-undrain-health")
    ]
    assert step_arg(high, "prereqos-restart-ctrl-2", "require") == [{"salt": "prereqos-drain-rabbitmq-ctrl-2"}]
    assert step_arg(high, "prereqos-undrain-check-ctrl-2", "require") == [{"salt": "prereqos-restart-ctrl-2"}]
    assert step_arg(high, "prereqos-drain-check-ctrl-2", "require") == [{"salt": "prereqos-undrain-health-ctrl-1"}]


def test_rolling_restart_with_reboot_waits_for_each_rebooted_minion(renderers, variants):
    """reboot=true: the drained controller reboots, the master waits for its minion's start
    event (up to maintenance:ready_timeout), then it starts what does not start at boot."""
    pillar = {**master_view(variants["example"]), "reboot": True}
    pillar["prereqos"]["maintenance"] = {"ready_timeout": 900}
    high = renderers["master"].sls("orch.prereqos_rolling_restart", pillar)
    assert step_arg(high, "prereqos-reboot-ctrl-2", "sls") == "prereqos.maintenance.reboot"
    assert step_arg(high, "prereqos-reboot-ctrl-2", "tgt") == ["ctrl-2"]
    assert step_arg(high, "prereqos-reboot-ctrl-2", "require") == [{"salt": "prereqos-drain-rabbitmq-ctrl-2"}]
    wait = high["prereqos-reboot-wait-ctrl-2"]["salt"]
    assert {k: step_arg(high, "prereqos-reboot-wait-ctrl-2", k) for k in ("name", "id_list", "timeout", "require")} == {
        "name": "salt/minion/ctrl-2/start",
        "id_list": ["ctrl-2"],
        "timeout": 900,
        "require": [{"salt": "prereqos-reboot-ctrl-2"}],
    }
    assert "wait_for_event" in wait
    assert step_arg(high, "prereqos-restart-ctrl-2", "sls") == "prereqos.maintenance.start"
    assert step_arg(high, "prereqos-restart-ctrl-2", "require") == [{"salt": "prereqos-reboot-wait-ctrl-2"}]
    assert step_arg(high, "prereqos-undrain-check-ctrl-2", "require") == [{"salt": "prereqos-restart-ctrl-2"}]


def test_rolling_restart_without_reboot_restarts_services(renderers, variants):
    high = renderers["master"].sls("orch.prereqos_rolling_restart", master_view(variants["example"]))
    assert step_arg(high, "prereqos-restart-ctrl-2", "sls") == "prereqos.maintenance.restart"
    assert not [step for step in high if step.startswith("prereqos-reboot-")]


def test_rolling_restart_refuses_a_reboot_flag_that_is_not_a_boolean(renderers, variants):
    pillar = {**master_view(variants["example"]), "reboot": "yes"}
    with pytest.raises(RenderError, match=r"pillar reboot=yes is not true or false: .*\{\"reboot\": true\}"):
        renderers["master"].sls("orch.prereqos_rolling_restart", pillar)
