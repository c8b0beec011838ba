"""bench.run: the figures' names and the table built from measured samples."""

from __future__ import annotations

import json

from bench import cluster
from bench import run as bench_run
from bench.run import results, table
from tests.testbed import orchestration
from tests.testbed.cluster import Run
from tests.testbed.maintenance import ClientFigures, per_node

# The names issue readers and scripts look up in bench/results.json.
NAMES = {
    "converge_cold_s",
    "converge_rerun_s",
    "rerun_ratio",
    "rerun_changes",
    "vip_failover_keepalived_s",
    "vip_failover_pacemaker_s",
    "vip_bound_keepalived_s",
    "vip_bound_pacemaker_s",
    "backend_failure_failed_requests",
    "galera_write_outage_s",
    "render_s",
}


def manager(cold: float, reruns: list[float], gaps: list[float], bound: float, outages: list[float]) -> dict:
    return {
        "converge_cold_s": cold,
        "converge_steps_s": {"prereqos-deploy": cold / 2},
        "predict_fresh_s": 40.0,
        "converge_rerun_s": cluster.summary(reruns),
        "rerun_ratio": sorted(reruns)[len(reruns) // 2] / cold,
        "rerun_changes": 0,
        "vip": {"gap_s": cluster.summary(gaps), "bound_s": bound},
        "backend": {"sent": 400, "failed": 0, "mark_down_s": cluster.summary([6.4]), "bound_s": 6.0},
        "writer": {"outage_s": cluster.summary(outages), "bound_s": 7.0, "rows_lost": 0, "committed": 90},
    }


RENDER = {
    "10x3": {
        "total_s": 8.0,
        "total_spread_s": [7.9, 8.2],
        "haproxy_s": 0.1,
        "haproxy_lines": 209,
        "haproxy_ms_per_100_lines": 47.8,
    },
    "200x9": {
        "total_s": 16.0,
        "total_spread_s": [15.0, 17.0],
        "haproxy_s": 0.2,
        "haproxy_lines": 4639,
        "haproxy_ms_per_100_lines": 4.3,
    },
}


def test_summary_is_median_and_spread() -> None:
    assert cluster.summary([3.0, 1.0, 2.0]) == {"median": 2.0, "spread": [1.0, 3.0], "samples": [3.0, 1.0, 2.0]}


def test_results_carry_every_name_the_issue_asks_for() -> None:
    managers = {
        "pacemaker": manager(300.0, [50.0, 40.0, 45.0], [9.0, 10.0, 11.0], 8.03, [6.0, 7.0]),
        "keepalived": manager(250.0, [40.0], [3.5, 3.6, 3.7], 4.0, [5.0]),
    }
    res = results(RENDER, managers)
    assert set(res) >= NAMES
    assert res["converge_cold_s"] == 300.0  # the default manager's
    assert res["converge_rerun_s"] == 45.0
    assert res["rerun_ratio"] == 45.0 / 300.0
    assert res["vip_failover_keepalived_s"] == 3.6
    assert res["vip_bound_pacemaker_s"] == 8.03
    assert res["galera_write_outage_s"] == 6.0  # median over both managers' trials
    assert res["render_s"] == {"10x3": 8.0, "200x9": 16.0}


def test_table_shows_both_managers_and_every_render_size() -> None:
    managers = {"pacemaker": manager(300.0, [45.0], [10.0], 8.03, [6.0])}
    text = table(results(RENDER, managers))
    assert "| figure | pacemaker | target |" in text
    assert "| re-run / cold | 0.15 | <= 0.2 |" in text
    assert "10.0 s (10.0-10.0, n=1), bound 8.03 s" in text
    assert "| 200 x 9 | 16.0 s (15.0-17.0) | 200 ms | 4639 | 4.3 |" in text


def test_a_partial_run_keeps_the_other_figures_of_each_test_bed(tmp_path, monkeypatch) -> None:
    """A converge-only or maintenance-only run replaces what it measured, nothing else."""
    monkeypatch.setattr(bench_run, "RESULTS_JSON", tmp_path / "results.json")
    monkeypatch.setattr(bench_run, "RESULTS_MD", tmp_path / "results.md")
    old = manager(300.0, [45.0], [10.0], 8.03, [6.0])
    bench_run.save(RENDER, {"debian12 pacemaker": old, "debian13 pacemaker": old})
    converge = {"converge_cold_s": 250.0, "floor_s": 100.0, "cold_over_floor": 2.5, "deploy_over_floor": 1.2}
    bench_run.save(managers={"debian12 pacemaker": converge})
    saved = json.loads((tmp_path / "results.json").read_text())["by_manager"]
    assert saved["debian12 pacemaker"]["converge_cold_s"] == 250.0
    assert saved["debian12 pacemaker"]["floor_s"] == 100.0
    assert saved["debian12 pacemaker"]["vip"] == old["vip"]
    assert saved["debian13 pacemaker"] == old


def test_per_node_places_each_step_by_its_start_time_and_names_the_longest_gap() -> None:
    """A step's window starts when the master says it started (not at the sum of the
    durations before it: the orchestration spends time between steps)."""
    steps = [
        orchestration.Step("prereqos-drain-ctrl-1", True, "", 2.0, start_s=36000.5),
        orchestration.Step("prereqos-restart-ctrl-1", True, "", 3.0, start_s=36004.0),
        orchestration.Step("prereqos-drain-ctrl-2", True, "", 2.0, start_s=36010.0),
    ]
    run = Run(test=False, rc=0, seconds=12.0, steps=steps, raw="")
    # commits every 0.1 s, except none between 5.0 and 6.2 s after the start (in ctrl-1's restart)
    commits = [i / 10 for i in range(120) if not 50 < i < 62]
    figures = ClientFigures(
        seconds=12.0, requests=240, failed_requests=[], commits=len(commits), commit_errors=[],
        write_gap_s=1.2, confirmed=10, lost_messages=[], started=100.0, started_wall_s=36000.0,
        commit_times=tuple(100.0 + at for at in commits),
    )  # fmt: skip
    lines = per_node(run, figures, ["ctrl-1", "ctrl-2", "ctrl-3"])
    assert lines["ctrl-1"] == "5 s, 0 failed requests, longest write gap 1.20 s (in prereqos-restart-ctrl-1)"
    assert lines["ctrl-2"].startswith("2 s, 0 failed requests, longest write gap 0.10 s (in prereqos-drain-ctrl-2)")
    assert lines["ctrl-3"] == "no step"
