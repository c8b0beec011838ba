"""Render tier, master side: the orchestrations as the master renders them
from its own pillar, which holds no secret (the controllers' pillar does)."""

from __future__ import annotations

import itertools
import json

import pytest

from tests.saltrender import RenderError

VARIANTS = ("example", "keepalived", "one_network", "five_nodes", "tls")
ORCHESTRATIONS = ("orch.prereqos", "orch.prereqos_recover")


def master_view(pillar: dict) -> dict:
    """The site pillar as the master sees it: everything but prereqos:secrets."""
    return {"prereqos": {k: v for k, v in pillar["prereqos"].items() if k != "secrets"}}


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
    assert order[:3] == ["prereqos-sync-modules", "prereqos-preflight", "prereqos-deploy"]
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
    high = renderers["master"].sls(orchestration, master_view(pillar))
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
        renderers["master"].sls(orchestration, pillar)
    message = str(refused.value)
    assert "secrets reached the orchestration's pillar" in message, message
    assert "prereqos:secrets:db_root_password" in message and "pillar top file" in message, message
    for index, secret in enumerate(secret_values(pillar)):
        assert secret not in message, f"the refusal shows secret #{index}"


def test_recovery_orchestration_bootstraps_then_runs_the_ordinary_steps(renderers, variants):
    high = renderers["master"].sls("orch.prereqos_recover", master_view(variants["example"]))
    recovery = ["prereqos-recover-sync-modules", "prereqos-recover-survey", "prereqos-recover-bootstrap"]
    assert set(recovery) <= set(high) and "prereqos-galera-ctrl-3" in high
    assert step_arg(high, "prereqos-recover-survey", "require") == [{"salt": "prereqos-recover-sync-modules"}]
    assert step_arg(high, "prereqos-recover-bootstrap", "require") == [{"salt": "prereqos-recover-survey"}]
    assert step_arg(high, "prereqos-recover-bootstrap", "require_in") == [{"salt": "prereqos-sync-modules"}]
    for step in recovery:  # an unreachable controller counts as unknown, it does not stop the run
        assert step_arg(high, step, "expect_minions") is False


def test_orchestration_without_pillar_says_what_to_do(renderers):
    with pytest.raises(RenderError, match="the master sees no prereqos:controllers"):
        renderers["master"].sls("orch.prereqos", {})
