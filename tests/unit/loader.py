"""Load the formula's Salt modules from their files, as Salt's loader would."""

from __future__ import annotations

import importlib
import importlib.util
import sys
from collections.abc import Iterable, Sequence
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
FIXTURES = ROOT / "tests" / "fixtures"
# The Debian releases whose tools' outputs are recorded under tests/fixtures/<tool>/: Debian 12's
# at the top (recorded first), each later release's in its own debian<N>/ directory.
RELEASES = ("12", "13")
# Salt puts the synced _utils directory on sys.path while it loads modules,
# so `import prereqos_<lib>` works there; the same here.
if str(ROOT / "_utils") not in sys.path:
    sys.path.insert(0, str(ROOT / "_utils"))


def load(kind: str, name: str) -> ModuleType:
    """Import ``<kind>/<name>.py`` (kind is ``_modules`` or ``_states``)."""
    path = ROOT / kind / f"{name}.py"
    spec = importlib.util.spec_from_file_location(f"prereqos{kind}_{name}", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def library(name: str) -> ModuleType:
    """Import the library module ``_utils/<name>.py`` (pure logic, no Salt dunders)."""
    return importlib.import_module(name)


def fixture(*parts: str) -> str:
    """Text of a recorded tool output under tests/fixtures."""
    return (FIXTURES.joinpath(*parts)).read_text()


def recorded_path(tool: str, name: str, release: str) -> Path:
    """Where ``tool``'s output ``name`` recorded on Debian ``release`` lives."""
    if release not in RELEASES:
        raise ValueError(f"no recordings of Debian {release!r}; known: {', '.join(RELEASES)}")
    return FIXTURES / tool / name if release == RELEASES[0] else FIXTURES / tool / f"debian{release}" / name


def recorded(tool: str, name: str, release: str) -> str:
    """Text of ``tool``'s output ``name`` as recorded on Debian ``release``."""
    return recorded_path(tool, name, release).read_text()


def releases(tool: str, *names: str) -> list[Any]:
    """pytest params (id ``debian<N>``) of the releases that recorded every one of ``names``.

    A test parametrized with it runs once per release with the same assertions, and not at all
    for a release whose tool has no such output (each such case has its own test).
    """
    return [
        pytest.param(release, id=f"debian{release}")
        for release in RELEASES
        if all(recorded_path(tool, name, release).is_file() for name in names)
    ]


def release_cases(tool: str, cases: Iterable[Sequence[Any]]) -> list[Any]:
    """pytest params ``(release, name, *rest)``: each case ``(name, *rest)`` once per release that recorded ``name``."""
    return [
        pytest.param(param.values[0], name, *rest, id=f"{param.id}-{name}")
        for name, *rest in cases
        for param in releases(tool, name)
    ]
