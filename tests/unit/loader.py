"""Load the formula's Salt modules from their files, as Salt's loader would."""

from __future__ import annotations

import importlib
import importlib.util
import sys
from pathlib import Path
from types import ModuleType

ROOT = Path(__file__).resolve().parents[2]
FIXTURES = ROOT / "tests" / "fixtures"
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
