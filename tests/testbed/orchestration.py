"""Reading what ``salt-run state.orchestrate ... --out=json`` returns.

An orchestration returns one state per step (``salt.state``, ``salt.function``,
...); a ``salt.state`` step carries, under ``changes.ret``, the state returns
of every minion that changed something or failed. These pure functions turn
that into steps, per-minion changes and the failures a person needs to read.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any


@dataclass
class Step:
    """One step of an orchestration, in the order it ran."""

    id: str  #: the step's state id, e.g. ``prereqos-deploy``
    result: bool | None
    comment: str
    duration_s: float
    #: when it started, in seconds since midnight of the master's clock, UTC in the test bed (None: not said)
    start_s: float | None = None
    #: minion -> {state id: state return} of the minion states that changed
    #: (or, under test=True, would change) something or failed
    minion_states: dict[str, dict[str, dict[str, Any]]] = field(default_factory=dict)
    changes: dict[str, Any] = field(default_factory=dict)


def _state_id(key: str) -> str:
    """``salt_|-prereqos-deploy_|-prereqos-deploy_|-state`` -> ``prereqos-deploy``."""
    parts = key.split("_|-")
    return parts[1] if len(parts) == 4 else key


def _seconds_of_day(start_time: Any) -> float | None:
    """``"09:44:38.123456"`` (Salt's ``start_time``) -> seconds since midnight."""
    try:
        hours, minutes, seconds = str(start_time).split(":")
        return int(hours) * 3600 + int(minutes) * 60 + float(seconds)
    except ValueError:
        return None


def parse(stdout: str) -> list[Step]:
    """The steps of one orchestration run, from its JSON output."""
    data = json.loads(stdout)
    if isinstance(data, dict) and "data" in data and isinstance(data["data"], dict):
        data = data["data"]
    if not isinstance(data, dict) or len(data) != 1:
        raise ValueError(f"not an orchestration return: {stdout[:500]}")
    states = next(iter(data.values()))
    if not isinstance(states, dict):
        raise ValueError(f"the orchestration did not run: {states}")
    steps = []
    for key, ret in sorted(states.items(), key=lambda item: item[1].get("__run_num__", 0)):
        changes = ret.get("changes") or {}
        minion_states: dict[str, dict[str, dict[str, Any]]] = {}
        if changes.get("out") == "highstate":
            for minion, returns in (changes.get("ret") or {}).items():
                if isinstance(returns, dict):
                    minion_states[minion] = {
                        _state_id(k): v
                        for k, v in returns.items()
                        if isinstance(v, dict) and (v.get("changes") or v.get("result") is False)
                    }
                else:
                    minion_states[minion] = {"(no state return)": {"result": False, "comment": str(returns)}}
        steps.append(
            Step(
                id=_state_id(key),
                result=ret.get("result"),
                comment=str(ret.get("comment", "")),
                duration_s=float(ret.get("duration") or 0) / 1000,
                start_s=_seconds_of_day(ret.get("start_time")),
                minion_states=minion_states,
                changes=changes,
            )
        )
    return steps


def changed(steps: list[Step]) -> dict[str, list[str]]:
    """``minion -> [step/state id]`` of every minion state that changed (or would change)."""
    out: dict[str, list[str]] = {}
    for step in steps:
        for minion, states in step.minion_states.items():
            out.setdefault(minion, []).extend(f"{step.id}/{sid}" for sid, ret in states.items() if ret.get("changes"))
    return {minion: ids for minion, ids in out.items() if ids}


def steps_with_changes(steps: list[Step]) -> list[str]:
    """Ids of the steps that report changes of any kind (the summary's ``changed=``)."""
    return [step.id for step in steps if step.changes]


def failures(steps: list[Step]) -> list[str]:
    """One paragraph per failed step: its comment and each failing minion state's comment."""
    out = []
    for step in steps:
        if step.result is not False:
            continue
        lines = [f"step {step.id}: {step.comment.strip()}"]
        for minion, states in sorted(step.minion_states.items()):
            for sid, ret in states.items():
                if ret.get("result") is False:
                    lines.append(f"  {minion} {sid}: {str(ret.get('comment', '')).strip()}")
        out.append("\n".join(lines))
    return out


def timings(steps: list[Step]) -> str:
    """A table of step durations, for logs and benchmark reports."""
    width = max((len(step.id) for step in steps), default=10)
    return "\n".join(f"  {step.id:<{width}} {step.duration_s:7.1f} s  {step.result}" for step in steps)
