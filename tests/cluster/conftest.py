"""The cluster tier: the real orchestration on three real controllers.

Each VIP manager gets its own test bed, converged once per session and shared
by test_converge.py then test_failover.py. Nothing is skipped: a missing
docker engine or image fails every test with the command that fixes it.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.testbed.cluster import VIP_MANAGERS, Cluster, converged


@pytest.fixture(scope="session", params=VIP_MANAGERS)
def cluster(request: pytest.FixtureRequest) -> Iterator[Cluster]:
    """Fresh controllers, predicted with test=True, then converged for real."""
    with converged(request.param) as cluster:
        yield cluster
