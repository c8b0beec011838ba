"""`make bench`: converge, re-run, failover, planned maintenance and render-scale figures.

python -m bench.run [--only render|cluster|converge|maintenance] [--releases 13 12] [--managers ...]
                    [--reruns N] [--trials N] [--rounds N]
python -m bench.run --report    # the table again, from bench/results.json

Writes bench/results.json (the figures, each with its samples) and
bench/results.md (the table the README shows), and prints the table.
Timings are noisy on small machines: every figure is a median with its
spread, and each ratio is taken within one run.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
from datetime import date
from pathlib import Path
from typing import Any

from bench import cluster, render
from tests.testbed.harness import PRIMARY_RELEASE

HERE = Path(__file__).resolve().parent
RESULTS_JSON = HERE / "results.json"
RESULTS_MD = HERE / "results.md"
# The scalar figures describe the primary release's default VIP manager; the table shows all.
DEFAULT_BED = "debian13 pacemaker"
MANAGERS = ("pacemaker", "keepalived")
RELEASES = ("13", "12")


def machine() -> dict[str, Any]:
    """What the figures were measured on."""
    pages = os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    return {"cpus": os.cpu_count(), "memory_gib": round(pages / 2**30), "kernel": platform.release()}


def results(render_figures: dict[str, Any], managers: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """The figures under the names users look up, with every detail kept alongside."""
    out: dict[str, Any] = {"date": date.today().isoformat(), "machine": machine()}
    if managers:
        main = managers.get(DEFAULT_BED) or next(iter(managers.values()))
        out.update(
            {
                "converge_cold_s": main["converge_cold_s"],
                "converge_rerun_s": main["converge_rerun_s"]["median"],
                "rerun_ratio": main["rerun_ratio"],
                "rerun_changes": max(m["rerun_changes"] for m in managers.values()),
            }
        )
        for name, figures in managers.items():
            if "floor_s" in figures:
                out[f"floor_{name.replace(' ', '_')}_s"] = figures["floor_s"]
                out[f"cold_over_floor_{name.replace(' ', '_')}"] = figures["cold_over_floor"]
        failovers = [m for m in managers.values() if "writer" in m]
        if failovers:
            writer_samples = [s for m in failovers for s in m["writer"]["outage_s"]["samples"]]
            out["backend_failure_failed_requests"] = sum(m["backend"]["failed"] for m in failovers)
            out["galera_write_outage_s"] = statistics.median(writer_samples)
        for name, figures in ((n, f) for n, f in managers.items() if "vip" in f):
            out[f"vip_failover_{name}_s"] = figures["vip"]["gap_s"]["median"]
            out[f"vip_bound_{name}_s"] = figures["vip"]["bound_s"]
            if "vip_fast" in figures:
                out[f"vip_failover_{name}_fast_s"] = figures["vip_fast"]["gap_s"]["median"]
                out[f"vip_bound_{name}_fast_s"] = figures["vip_fast"]["bound_s"]
        out["by_manager"] = managers
    if render_figures:
        out["render_s"] = {size: figures["total_s"] for size, figures in render_figures.items()}
        out["render"] = render_figures
    return out


def _spread(summary: dict[str, Any]) -> str:
    low, high = summary["spread"]
    return f"{summary['median']:.1f} s ({low:.1f}-{high:.1f}, n={len(summary['samples'])})"


MAINTENANCE_ROWS = {
    "drain": "drain the VIP holder and writer (orch.prereqos_drain)",
    "undrain": "undrain it (orch.prereqos_undrain)",
    "rolling_restart": "rolling restart of 3 (orch.prereqos_rolling_restart)",
    "rolling_reboot": "rolling reboot of 3 (orch.prereqos_rolling_restart, reboot=true)",
    "plain_reboot": "plain reboot of the VIP holder and writer, no drain, then orch.prereqos",
}


def _maintenance_cell(figures: dict[str, Any]) -> str:
    """Time and what the clients saw during one maintenance command."""
    cell = (
        f"{figures['seconds']:.0f} s; {figures['failed_requests']} / {figures['requests']} requests failed, "
        f"write gap {figures['write_gap_s']:.2f} s ({figures['commit_errors']} client errors), "
        f"{figures['lost_messages']} / {figures['confirmed']} messages lost"
    )
    if "per_node" in figures:
        cell += "; " + "; ".join(f"{node}: {line}" for node, line in figures["per_node"].items())
    return cell


def table(res: dict[str, Any]) -> str:
    """The Markdown table of the README."""
    lines = [
        f"Measured {res['date']} on {res['machine']['cpus']} cores, {res['machine']['memory_gib']} GiB (`make bench`).",
        "",
    ]
    managers = res.get("by_manager", {})
    if managers:
        names = list(managers)
        lines += ["| figure | " + " | ".join(names) + " | target |", "|---|" + "---|" * len(names) + "---|"]

        def row(label: str, cell: Any, target: str, needs: str = "converge_cold_s") -> None:
            cells = [cell(managers[n]) if needs in managers[n] else "n/a" for n in names]
            lines.append(f"| {label} | " + " | ".join(cells) + f" | {target} |")

        row("package floor (same packages, one apt-get per node, 3 at once)", lambda m: f"{m['floor_s']:.0f} s", "",
            "floor_s")  # fmt: skip
        row("cold converge (3 fresh controllers)", lambda m: f"{m['converge_cold_s']:.0f} s", "< 300 s")
        row("deploy step / floor", lambda m: f"{m['deploy_over_floor']:.2f}", "<= 1.3", "floor_s")
        row("cold converge / floor", lambda m: f"{m['cold_over_floor']:.2f}", "", "floor_s")
        row("re-run, nothing changed", lambda m: _spread(m["converge_rerun_s"]), "")
        row("re-run / cold", lambda m: f"{m['rerun_ratio']:.2f}", "<= 0.2")
        row("changes on re-run", lambda m: str(m["rerun_changes"]), "0")
        row(
            "VIP failover: kill holder -> first request served",
            lambda m: f"{_spread(m['vip']['gap_s'])}, bound {m['vip']['bound_s']:.2f} s",
            "keepalived <= bound + 0.5 s",
            "vip",
        )
        if any("vip_fast" in m for m in managers.values()):
            row(
                "VIP failover, advert_int 0.25 (VRRPv3)",
                lambda m: (
                    f"{_spread(m['vip_fast']['gap_s'])}, bound {m['vip_fast']['bound_s']:.2f} s, "
                    f"{m['vip_fast']['flaps']} flaps in {cluster.FLAP_WATCH_S} s"
                    if "vip_fast" in m
                    else "n/a"
                ),
                "no flap",
            )
        row(
            "API backend killed: requests failed / sent",
            lambda m: f"{m['backend']['failed']} / {m['backend']['sent']}",
            "0 failed",
            "backend",
        )
        row(
            "backend marked DOWN after",
            lambda m: f"{_spread(m['backend']['mark_down_s'])}, inter x fall {m['backend']['bound_s']:.0f} s",
            "",
            "backend",
        )
        for kind, label in MAINTENANCE_ROWS.items():
            row(
                label,
                lambda m, kind=kind: _maintenance_cell(m["maintenance"][kind]),
                "0 failed, gap <= 1 s, 0 lost" if kind != "plain_reboot" else "",
                "maintenance",
            )
        row(
            "Galera writer killed: write outage",
            lambda m: f"{_spread(m['writer']['outage_s'])}, {m['writer']['rows_lost']} rows lost",
            "<= inter x fall + 1 s, 0 lost",
            "writer",
        )
        lines.append("")
        lines += ["| cold converge, per step | " + " | ".join(names) + " |", "|---|" + "---|" * len(names)]
        steps = list(dict.fromkeys(step for m in managers.values() for step in m["converge_steps_s"]))
        for step in steps:
            cells = [
                f"{m['converge_steps_s'][step]:.1f} s" if step in m["converge_steps_s"] else ""
                for m in managers.values()
            ]
            lines.append(f"| {step} | " + " | ".join(cells) + " |")
        lines.append("")
    if "render" in res:
        lines += [
            "| render (services x controllers) | whole tree | haproxy.cfg | its lines | ms per 100 lines |",
            "|---|---|---|---|---|",
        ]
        for size, figures in res["render"].items():
            low, high = figures["total_spread_s"]
            lines.append(
                f"| {size.replace('x', ' x ')} | {figures['total_s']:.1f} s ({low:.1f}-{high:.1f}) | "
                f"{1000 * figures['haproxy_s']:.0f} ms | {figures['haproxy_lines']} | "
                f"{figures['haproxy_ms_per_100_lines']:.1f} |"
            )
    return "\n".join(lines) + "\n"


def save(render_figures: dict[str, Any] | None = None, managers: dict[str, Any] | None = None) -> dict[str, Any]:
    """Merge new figures into bench/results.json and rewrite bench/results.md: a test bed's
    new figures replace its old ones of the same name, the others are kept (a partial run)."""
    previous = json.loads(RESULTS_JSON.read_text()) if RESULTS_JSON.exists() else {}
    # Figures of test beds named otherwise than "debian<N> <manager>" predate the release matrix.
    kept = {name: m for name, m in previous.get("by_manager", {}).items() if name.startswith("debian")}
    for name, figures in (managers or {}).items():
        kept[name] = {**kept.get(name, {}), **figures}
    res = results(render_figures or previous.get("render", {}), kept)
    RESULTS_JSON.write_text(json.dumps(res, indent=2) + "\n")
    RESULTS_MD.write_text(table(res))
    return res


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--only",
        choices=("render", "cluster", "converge", "maintenance"),
        help="measure one part only (converge: the cluster figures without the failovers; "
        "maintenance: drain, undrain, rolling restart and a plain reboot under load)",
    )
    parser.add_argument("--report", action="store_true", help="only rewrite the table from bench/results.json")
    parser.add_argument("--managers", nargs="+", choices=MANAGERS, default=list(MANAGERS))
    parser.add_argument("--releases", nargs="+", choices=RELEASES, default=list(RELEASES))
    parser.add_argument("--reruns", type=int, default=3, help="re-runs after the cold converge")
    parser.add_argument("--trials", type=int, default=5, help="VIP failover trials (half as many of the others)")
    parser.add_argument("--rounds", type=int, default=5, help="renders per size")
    args = parser.parse_args(argv)
    if args.report:
        RESULTS_MD.write_text(table(json.loads(RESULTS_JSON.read_text())))
        print(RESULTS_MD.read_text())
        return 0

    # Each part is saved as soon as it is measured; a partial run (--only,
    # --managers, or a failure) keeps the other figures of the last run.
    if args.only in (None, "render"):
        res = save(render_figures=render.measure(args.rounds))
    if args.only in (None, "cluster", "converge"):
        for release in args.releases:
            for manager in args.managers:
                figures = cluster.measure_manager(
                    manager, args.reruns, args.trials, release, converge_only=args.only == "converge"
                )
                res = save(managers={f"debian{release} {manager}": figures})
    if args.only in (None, "maintenance"):
        for manager in args.managers:
            figures = {"maintenance": cluster.measure_maintenance(manager, PRIMARY_RELEASE)}
            res = save(managers={f"debian{PRIMARY_RELEASE} {manager}": figures})
    print(table(res))
    print(f"written: {RESULTS_JSON.relative_to(Path.cwd())}, {RESULTS_MD.relative_to(Path.cwd())}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
