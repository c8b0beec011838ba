"""prereqos states: the preflight check and the health gate of the orchestration."""

from __future__ import annotations

import importlib

import prereqos_common

# A sync may have replaced a library since this process first imported it.
prereqos_common = importlib.reload(prereqos_common)

__virtualname__ = "prereqos"


def __virtual__() -> str | tuple[bool, str]:
    if "prereqos.health" not in __salt__:
        return (False, "the prereqos execution module is not loaded (run saltutil.sync_all)")
    return __virtualname__


def preflight(name: str, node: dict) -> dict:
    """Fail, changing nothing, when this node does not match ``node``: the pillar's
    expectation of it (derive's ``node_expectation``, passed by the SLS)."""
    ret = {"name": name, "changes": {}, "result": True, "comment": "node matches the pillar"}
    report = __salt__["prereqos.preflight"](node=node)
    if not report["ok"]:
        ret["result"] = False
        ret["comment"] = "preflight failed:\n" + "\n".join(report["problems"])
    return ret


def healthy(name: str, timeout: float = 300, interval: float = 3.0) -> dict:
    """Wait until every part of this node reports healthy, or fail with why.

    Under test=True the health is read once: healthy passes, anything else
    predicts the wait.
    """
    test = bool(__opts__["test"])

    def probe() -> tuple[bool, dict]:
        report = __salt__["prereqos.health"]()
        return report["ok"], report

    ok, report = prereqos_common.wait_until(probe, 0 if test else timeout, interval)
    ret = {"name": name, "changes": {}, "result": True, "comment": "healthy"}
    if not ok:
        ret["result"] = None if test else False
        waited = "would wait for" if test else f"not healthy after {timeout}s:"
        ret["comment"] = f"{waited}\n" + "\n".join(report["problems"])
    return ret
