"""`make demo`: a local 3-controller cluster converged by the real orchestration.

python -m tests.testbed.demo up [--vip-manager pacemaker|keepalived] [--debian 13|12]
python -m tests.testbed.demo report
python -m tests.testbed.demo down
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import sys
import threading
import time
from pathlib import Path
from typing import Any

from tests.testbed import harness
from tests.testbed.cluster import prepare_site
from tests.testbed.harness import Testbed

STATE_FILE = harness.REPO_ROOT / ".cache" / "demo.json"


def orchestrate(tb: Testbed, *extra: str) -> tuple[bool, float]:
    """Run the real orchestration on the master, printing each minion job as it
    returns (from the master's event bus), then Salt's own summary."""
    started = time.monotonic()
    watcher = threading.Thread(target=_print_job_returns, args=(tb, started), daemon=True)
    watcher.start()
    argv = ["salt-run", "state.orchestrate", "orch.prereqos", "--state-output=mixed", "--log-level=quiet", *extra]
    try:
        ok = tb.stream(harness.MASTER, argv) == 0
    finally:
        tb.exec(harness.MASTER, ["pkill", "-f", "salt-run state.event"], timeout=30)
    return ok, time.monotonic() - started


def job_return_line(tag: str, data: dict[str, Any]) -> str | None:
    """One progress line for a ``salt/job/<jid>/ret/<minion>`` event, or None."""
    if "/ret/" not in tag or data.get("fun") != "state.sls":
        return None
    args = data.get("fun_args") or ["?"]
    returns = data.get("return") if isinstance(data.get("return"), dict) else {}
    changed = sum(1 for r in returns.values() if isinstance(r, dict) and r.get("changes"))
    failed = sum(1 for r in returns.values() if isinstance(r, dict) and r.get("result") is False)
    verdict = "ok" if data.get("retcode") == 0 and not failed else f"FAILED ({failed} states)"
    return f"{data.get('id')}: {args[0]} {verdict}, {changed} changed"


def _print_job_returns(tb: Testbed, started: float) -> None:
    argv = ["salt-run", "state.event", "salt/job/*/ret/*", "--log-level=quiet"]
    lines = io.StringIO()

    class Progress(io.TextIOBase):
        def write(self, text: str) -> int:
            lines.write(text)
            *complete, rest = lines.getvalue().split("\n")
            lines.seek(0)
            lines.truncate()
            lines.write(rest)
            for line in complete:
                tag, _, payload = line.partition("\t")
                with contextlib.suppress(ValueError):
                    if progress := job_return_line(tag, json.loads(payload)):
                        print(f"[{time.monotonic() - started:5.0f} s] {progress}", flush=True)
            return len(text)

    tb.stream(harness.MASTER, argv, out=Progress())


def health(tb: Testbed) -> dict[str, Any]:
    """Every controller's ``prereqos.health`` report."""
    return tb.salt(",".join(tb.controllers), "prereqos.health", tgt_type="list", check=False, timeout=120)


def format_report(reports: dict[str, Any], vip_manager: str) -> str:
    """The cluster as one table per part, from the per-node health reports."""
    lines = []
    nodes = sorted(reports)
    holders = {n: r.get("vips_held", []) for n, r in reports.items() if isinstance(r, dict)}
    lines.append("VIPs: " + ", ".join(f"{vip} on {node}" for node, vips in sorted(holders.items()) for vip in vips))
    any_report = next((r for r in reports.values() if isinstance(r, dict)), {})
    lines.append("HAProxy servers (as seen from each node):")
    for service in sorted(any_report.get("haproxy", {})):
        cells = []
        for node in nodes:
            servers = reports[node].get("haproxy", {}).get(service, {}) if isinstance(reports[node], dict) else {}
            up = sum(1 for status in servers.values() if status.startswith("UP"))
            cells.append(f"{node} {up}/{len(servers)} up")
        lines.append(f"  {service:16} " + "  ".join(cells))
    for part in (vip_manager, "rabbitmq", "galera"):
        lines.append(f"{part}:")
        for node in nodes:
            report = reports[node].get(part, {}) if isinstance(reports[node], dict) else {}
            summary = {k: v for k, v in report.items() if k not in ("problems",)}
            lines.append(f"  {node}: {json.dumps(summary, sort_keys=True)}")
    problems = [f"{n}: {p}" for n in nodes if isinstance(reports[n], dict) for p in reports[n].get("problems", [])]
    failed = [n for n in nodes if not isinstance(reports[n], dict)]
    lines.append("healthy" if not problems and not failed else "NOT healthy:")
    lines += [f"  {p}" for p in problems] + [f"  {n}: no answer ({reports[n]})" for n in failed]
    return "\n".join(lines)


def up(vip_manager: str, release: str) -> int:
    down(quiet=True)
    tb = Testbed(controllers=3, networks=("srv", "api"), release=release, keep=True)
    tb.up()
    STATE_FILE.parent.mkdir(parents=True, exist_ok=True)
    STATE_FILE.write_text(json.dumps({"run_id": tb.run_id, "vip_manager": vip_manager}))
    prepare_site(tb, vip_manager)
    print(
        f"test bed {tb.run_id} (Debian {release}) up in {tb.timings['up']:.0f}s; "
        f"converging with vip_manager={vip_manager}",
        flush=True,
    )
    ok, seconds = orchestrate(tb)
    print(f"\norchestration {'succeeded' if ok else 'FAILED'} in {seconds:.0f}s\n")
    print(format_report(health(tb), vip_manager))
    print(f"\nPoke at it: docker exec -it {tb.nodes[harness.MASTER].container} bash   (then: salt '*' prereqos.health)")
    print("Remove it:  make demo-down")
    return 0 if ok else 1


def report() -> int:
    state = json.loads(STATE_FILE.read_text())
    tb = Testbed.attach(state["run_id"])
    print(format_report(health(tb), state["vip_manager"]))
    return 0


def down(quiet: bool = False) -> int:
    removed = harness.cleanup_stale(everything=True)
    if STATE_FILE.exists():
        STATE_FILE.unlink()
    if not quiet:
        print(f"removed {len(removed)} demo resources" if removed else "no demo running")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="demo", description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    start = sub.add_parser("up", help="start the 3 controllers and converge them")
    start.add_argument("--vip-manager", choices=("pacemaker", "keepalived"), default="pacemaker")
    start.add_argument("--debian", choices=harness.RELEASES, default=harness.PRIMARY_RELEASE)
    sub.add_parser("report", help="health report of the running demo")
    sub.add_parser("down", help="remove the demo")
    args = parser.parse_args(argv)
    if args.command == "up":
        return up(args.vip_manager, args.debian)
    return report() if args.command == "report" else down()


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
    sys.exit(main())
