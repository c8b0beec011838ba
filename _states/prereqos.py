"""prereqos states: the preflight check and the health gate of the orchestration."""

from __future__ import annotations

import time

__virtualname__ = "prereqos"


def __virtual__() -> str | tuple[bool, str]:
    if "prereqos.health" not in __salt__:
        return (False, "the prereqos execution module is not loaded (run saltutil.sync_all)")
    return __virtualname__


def preflight(name: str) -> dict:
    """Fail, changing nothing, when this node does not match the pillar."""
    ret = {"name": name, "changes": {}, "result": True, "comment": "node matches the pillar"}
    report = __salt__["prereqos.preflight"]()
    if not report["ok"]:
        ret["result"] = False
        ret["comment"] = "preflight failed:\n" + "\n".join(report["problems"])
    return ret


def healthy(name: str, timeout: int = 300, interval: float = 3.0) -> dict:
    """Wait until every part of this node reports healthy, or fail with why."""
    ret = {"name": name, "changes": {}, "result": True, "comment": ""}
    deadline = time.monotonic() + timeout
    while True:
        report = __salt__["prereqos.health"]()
        if report["ok"]:
            ret["comment"] = "healthy"
            return ret
        if __opts__["test"] or time.monotonic() >= deadline:
            break
        time.sleep(interval)
    ret["result"] = None if __opts__["test"] else False
    waited = "would wait for" if __opts__["test"] else f"not healthy after {timeout}s:"
    ret["comment"] = f"{waited}\n" + "\n".join(report["problems"])
    return ret
