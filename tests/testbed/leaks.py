"""The search for secrets wherever Salt could have carried them: no secret in any job
argument, return, event, log line or process list, on the master or a controller."""

from __future__ import annotations

from tests.testbed.cluster import Cluster
from tests.testbed.harness import MASTER
from tests.testbed.site import findable_parts

# Logs a secret must never reach, on every controller and on the master.
LOGS = ("/var/log/salt/minion", "/var/log/salt/master")
# Caches a secret must never reach: every job's arguments and returns on the
# master; everything a minion keeps (files, modules, job data, mine).
MASTER_JOB_CACHE = "/var/cache/salt/master/jobs"
MINION_CACHE = "/var/cache/salt/minion"
# Where the secrets' findable parts are written for grep (never on a command line).
SEARCH_PATTERNS = "/root/.prereqos-secret-patterns"


def secret_leaks(cluster: Cluster) -> list[str]:
    """Where a secret of the site was found: every orchestration's return and the
    controllers' process lists sampled every 0.2 s during it, every event the master's bus
    carried during the orchestrations, the master's job cache, the minions' caches, every
    journal and Salt log. Empty when none leaked."""
    parts = findable_parts(cluster.site)
    assert len(parts) >= 10
    places: dict[str, str] = {}
    for number, (command, run) in enumerate(cluster.history, 1):
        places[f"return of orchestration {number} ({command})"] = run.raw
        places[f"process list during orchestration {number} ({command})"] = run.processes
    places["master event bus"] = cluster.bus_events()
    caches = {MASTER: [MASTER_JOB_CACHE], **{node: [MINION_CACHE] for node in cluster.controllers}}
    for node, folders in caches.items():
        places[f"{node} journal"] = cluster.tb.exec(node, ["journalctl", "--no-pager", "-q"], timeout=120).stdout
        for log in LOGS:
            places[f"{node} {log}"] = cluster.tb.exec(node, ["cat", log]).stdout
        cluster.tb.write_file(node, SEARCH_PATTERNS, "\n".join(parts) + "\n", mode=0o600)
        found = cluster.tb.exec(node, ["grep", "-rlaF", "-f", SEARCH_PATTERNS, *folders], timeout=120)
        cluster.tb.exec(node, ["rm", "-f", SEARCH_PATTERNS])
        assert found.rc in (0, 1), found.stderr
        places[f"{node} cache files holding a secret"] = found.stdout
    assert any(run.processes for _, run in cluster.history), "no process list was captured"
    assert "salt/job/" in places["master event bus"], "the event bus listener heard no job"
    leaks = [f"{place}: secret part #{i}" for place, text in places.items() for i, p in enumerate(parts) if p in text]
    return leaks + [
        f"{place}: {line}" for place, text in places.items() if "cache files" in place for line in text.split()
    ]
