"""Cluster figures: converge, re-run and failovers on a real test bed per VIP manager.

Each VIP manager gets a fresh test bed (ctrl-1..3 and a Salt master) that the
real ``orch.prereqos`` converges; the failures are the failover tier's
scenarios (tests/testbed/scenarios.py), repeated ``trials`` times.
"""

from __future__ import annotations

import statistics
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import yaml

from tests.saltrender import Renderer
from tests.testbed import maintenance, scenarios
from tests.testbed.clients import health_check_bound, vip_failover_bound
from tests.testbed.cluster import Cluster, Run, converged
from tests.testbed.harness import PRIMARY_RELEASE, Testbed
from tests.testbed.site import REPO_ROOT, site_pillar

# The fast keepalived profile: VRRPv3 adverts every 250 ms (RFC 5798 centiseconds).
FAST_ADVERT_INT = 0.25
# The Galera write outage may last the health check's inter x fall and one more second.
WRITER_SLACK_S = 1.0
# Seconds of quiet during which a VIP must not move (the fast profile must not flap).
FLAP_WATCH_S = 60


def summary(samples: list[float]) -> dict[str, Any]:
    """Median, [min, max] and the samples themselves."""
    return {"median": statistics.median(samples), "spread": [min(samples), max(samples)], "samples": samples}


def slowest_states(run: Run, count: int = 8) -> list[str]:
    """The slowest minion states of a run (the ones that changed something)."""
    rows = [
        (float(ret.get("duration") or 0) / 1000, minion, f"{step.id}/{sid}")
        for step in run.steps
        for minion, states in step.minion_states.items()
        for sid, ret in states.items()
    ]
    return [f"{seconds:6.1f} s  {minion}  {sid}" for seconds, minion, sid in sorted(rows, reverse=True)[:count]]


def formula_packages(manager: str, release: str) -> list[str]:
    """The Debian packages the formula installs on a controller of the test bed's site."""
    example = yaml.safe_load((REPO_ROOT / "pillar.example").read_text())["prereqos"]
    pillar = site_pillar({"networks": example["networks"], "controllers": example["controllers"]}, manager)
    high = Renderer("ctrl-1", release=release).sls("prereqos", pillar)
    packages: list[str] = []
    for state in high.values():
        for arg in state.get("pkg", []):
            if isinstance(arg, dict) and "pkgs" in arg:
                packages += [p for p in arg["pkgs"] if p not in packages]
    return packages


def package_floor(manager: str, release: str) -> dict[str, Any]:
    """The floor of a cold converge: the formula's packages installed with one `apt-get
    install` per node, on three fresh controllers at once, nothing configured."""
    packages = formula_packages(manager, release)
    install = ["apt-get", "install", "-y", "-q", "--no-install-recommends", *packages]
    with Testbed(controllers=3, networks=("srv", "api"), release=release) as tb:
        started = time.monotonic()
        with ThreadPoolExecutor(len(tb.controllers)) as pool:
            results = list(pool.map(lambda node: tb.exec(node, install, timeout=1800), tb.controllers))
        seconds = time.monotonic() - started
    failed = [r.stderr[-500:] for r in results if r.rc != 0]
    if failed:
        raise RuntimeError(f"the package floor did not install: {failed[0]}")
    return {"floor_s": seconds, "floor_packages": len(packages)}


def measure_manager(
    manager: str, reruns: int, trials: int, release: str = PRIMARY_RELEASE, converge_only: bool = False
) -> dict[str, Any]:
    """Every cluster figure for one Debian release and VIP manager: the package floor on
    fresh controllers, then the converge and (unless ``converge_only``) the failovers on others."""
    label = f"debian{release} {manager}"
    floor = package_floor(manager, release)
    _log(label, f"package floor: {floor['floor_s']:.1f} s for {floor['floor_packages']} packages")
    with converged(manager, release) as cluster:
        cold = cluster.runs["cold"]
        slowest = slowest_states(cold)
        _log(label, "slowest states of the cold run:\n" + "\n".join(slowest))
        rerun_runs = [cluster.converge() for _ in range(reruns)]
        steps = {step.id: step.duration_s for step in cold.steps}
        out: dict[str, Any] = {
            "release": release,
            "manager": manager,
            **floor,
            "converge_cold_s": cold.seconds,
            "deploy_over_floor": steps["prereqos-deploy"] / floor["floor_s"],
            "cold_over_floor": cold.seconds / floor["floor_s"],
            "converge_steps_s": steps,
            "converge_slowest_states": slowest,
            "predict_fresh_s": cluster.runs["fresh-test"].seconds,
            "converge_rerun_s": summary([run.seconds for run in rerun_runs]),
            "rerun_ratio": statistics.median(run.seconds for run in rerun_runs) / cold.seconds,
            "rerun_changes": max(sum(len(ids) for ids in run.changed.values()) for run in rerun_runs),
        }
        if converge_only:
            return out
        out["vip"] = _vip_trials(cluster, trials)
        if manager == "keepalived":
            out["vip_fast"] = _fast_profile(cluster, trials)
        backend = [scenarios.backend_failure(cluster) for _ in range(max(1, trials // 2))]
        _log(manager, "\n".join(map(str, backend)))
        out["backend"] = {
            "sent": sum(b.sent for b in backend),
            "failed": sum(len(b.failed) for b in backend),
            "mark_down_s": summary([b.mark_down_s for b in backend]),
            "bound_s": backend[0].bound_s,
        }
        writer = [scenarios.writer_failover(cluster) for _ in range(max(1, trials // 2))]
        _log(manager, "\n".join(map(str, writer)))
        out["writer"] = {
            "outage_s": summary([w.outage_s for w in writer]),
            "bound_s": health_check_bound(cluster) + WRITER_SLACK_S,
            "rows_lost": sum(sum(w.missing_on_survivors.values()) for w in writer)
            + sum(sum(w.missing_after_rejoin.values()) for w in writer),
            "committed": sum(w.committed for w in writer),
        }
        return out


def measure_maintenance(manager: str, release: str = PRIMARY_RELEASE) -> dict[str, Any]:
    """Planned maintenance under the zero-loss clients, on one converged test bed: drain and
    undrain of the controller that holds the VIPs and is the Galera writer, a rolling
    restart of all three, one that reboots them, and, for comparison, a plain reboot of
    that controller without drain (shut down, booted, ``orch.prereqos`` to rejoin its
    MariaDB)."""
    label = f"debian{release} {manager}"
    node = "ctrl-1"  # the Galera listener's first server: the writer
    out: dict[str, Any] = {}
    with converged(manager, release) as cluster:
        for name, command in (
            ("drain", lambda: maintenance.drain_node(cluster, node)),
            ("undrain", lambda: maintenance.undrain_node(cluster, node)),
            ("rolling_restart", lambda: maintenance.rolling_restart(cluster)),
            ("rolling_reboot", lambda: maintenance.rolling_restart(cluster, reboot=True)),
            ("plain_reboot", lambda: maintenance.plain_reboot(cluster, node)),
        ):
            if name in ("drain", "plain_reboot"):
                maintenance.make_holder(cluster, node)
            run, figures = maintenance.under_load(cluster, command)
            _log(label, f"{name}: {figures}")
            out[name] = {
                "seconds": figures.seconds,
                "requests": figures.requests,
                "failed_requests": len(figures.failed_requests),
                "commits": figures.commits,
                "commit_errors": len(figures.commit_errors),
                "write_gap_s": figures.write_gap_s,
                "confirmed": figures.confirmed,
                "lost_messages": len(figures.lost_messages),
            }
            if name.startswith("rolling_"):
                out[name]["per_node"] = maintenance.per_node(run, figures, cluster.controllers)
                _log(label, "\n".join(f"  {n}: {line}" for n, line in out[name]["per_node"].items()))
    return out


def _vip_trials(cluster: Cluster, trials: int) -> dict[str, Any]:
    results = []
    for trial in range(trials):
        result = scenarios.vip_failover(cluster)
        _log(cluster.vip_manager, f"VIP trial {trial + 1}/{trials}: {result}")
        results.append(result)
    return {"gap_s": summary([r.gap_s for r in results]), "bound_s": vip_failover_bound(cluster)}


def _fast_profile(cluster: Cluster, trials: int) -> dict[str, Any]:
    """keepalived with sub-second VRRPv3 adverts: does it hold still, how fast does it move."""
    pillar = {"prereqos": {**cluster.site, "keepalived": {**cluster.site["keepalived"], "advert_int": FAST_ADVERT_INT}}}
    cluster.write_pillar(pillar)
    cluster.converge()
    before = cluster.vip_holders()
    time.sleep(FLAP_WATCH_S)  # a quiet period watched on purpose: any VIP move in it is a flap
    flaps = _master_transitions(cluster, since=f"-{FLAP_WATCH_S}s")
    held_still = before == cluster.vip_holders()
    out = _vip_trials(cluster, trials)
    out.update({"advert_int": FAST_ADVERT_INT, "flaps": flaps, "held_still": held_still})
    return out


def _master_transitions(cluster: Cluster, since: str) -> int:
    """How many times a keepalived instance entered MASTER state in the window."""
    argv = ["journalctl", "-u", "keepalived", "--since", since, "--no-pager", "-o", "cat"]
    return sum(
        cluster.tb.exec(node, argv, timeout=30).stdout.count("Entering MASTER STATE")
        for node in cluster.running_controllers()
    )


def _log(manager: str, text: str) -> None:
    print(f"[bench {manager}] {text}", file=sys.stderr, flush=True)
