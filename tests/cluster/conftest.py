"""The cluster tier: the real orchestration on three real controllers.

Each Debian release and VIP manager gets its own test bed, converged once per
session and shared by test_converge.py then test_failover.py. Nothing is
skipped: a missing docker engine or image fails every test with the command
that fixes it.

What runs where: every test on the primary release (Debian 13); on the other
releases only the tests marked ``every_release`` (converge, re-run,
``test=True``, the basic cluster checks), unless ``PREREQOS_MATRIX=all``
(``make test-all``) asks for every scenario on every release. The others are
deselected (reported as such), never skipped. ``PREREQOS_RELEASES`` (e.g.
``13``) limits the releases.
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from tests.testbed.cluster import VIP_MANAGERS, Cluster, converged
from tests.testbed.harness import PRIMARY_RELEASE, RELEASES


def _releases() -> list[str]:
    wanted = os.environ.get("PREREQOS_RELEASES", " ".join(RELEASES)).split()
    unknown = sorted(set(wanted) - set(RELEASES))
    if unknown:
        raise pytest.UsageError(f"PREREQOS_RELEASES: unknown Debian release(s) {unknown}; known: {RELEASES}")
    return [r for r in RELEASES if r in wanted]


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "every_release: runs on every Debian release in make test")
    config.addinivalue_line("markers", "maintenance: planned maintenance under load (make test, make test-maintenance)")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Keep a test of a secondary release only if it is marked every_release (or the whole matrix runs)."""
    if os.environ.get("PREREQOS_MATRIX") == "all":
        return
    keep, drop = [], []
    for item in items:
        callspec = getattr(item, "callspec", None)
        release = callspec.params.get("release", PRIMARY_RELEASE) if callspec else PRIMARY_RELEASE
        secondary = release != PRIMARY_RELEASE and item.get_closest_marker("every_release") is None
        (drop if secondary else keep).append(item)
    if drop:
        config.hook.pytest_deselected(items=drop)
        items[:] = keep


@pytest.fixture(scope="session", params=_releases(), ids=lambda r: f"debian{r}")
def release(request: pytest.FixtureRequest) -> str:
    """The Debian release of the test bed."""
    return request.param


@pytest.fixture(scope="session", params=VIP_MANAGERS)
def cluster(request: pytest.FixtureRequest, release: str) -> Iterator[Cluster]:
    """Fresh controllers, predicted with test=True, then converged for real."""
    with converged(request.param, release) as cluster:
        yield cluster
