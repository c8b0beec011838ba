"""Render the formula with real Salt, in-process, as a given minion would.

Used by the render tier and the render benchmark: one ``salt.client.Caller``
per minion id with ``file_client: local`` over the repo's state tree.
"""

from __future__ import annotations

import copy
import tempfile
from pathlib import Path
from typing import Any

import salt._logging
import salt.client
import salt.config

ROOT = Path(__file__).resolve().parents[1]


# Salt buffers log records in a temporary handler until logging is set up;
# pytest's own capture is enough here.
salt._logging.shutdown_temp_handler()


class RenderError(Exception):
    """Salt could not render an SLS or template; the text is Salt's message."""


class Renderer:
    """Renders SLS files and templates of the repo for one minion id on one Debian release."""

    def __init__(
        self, minion_id: str, workdir: Path | None = None, release: str = "13", states_dir: Path = ROOT / "_states"
    ) -> None:
        root = Path(workdir or tempfile.mkdtemp(prefix="prereqos-render-")) / f"{minion_id}-debian{release}"
        (root / "pillar").mkdir(parents=True, exist_ok=True)
        (root / "pillar" / "top.sls").write_text("base: {'*': []}\n")
        # Serve the state tree and orch/ only; _modules and _states load from
        # module_dirs/states_dirs (the repo root would expose .venv too).
        extra = root / "roots"
        extra.mkdir(exist_ok=True)
        if not (extra / "orch").exists():
            (extra / "orch").symlink_to(ROOT / "orch")
        opts = salt.config.minion_config(None)
        opts.update(
            {
                "id": minion_id,
                "file_client": "local",
                "root_dir": str(root),
                "cachedir": str(root / "cache"),
                "pki_dir": str(root / "pki"),
                "sock_dir": str(root / "sock"),
                "log_file": str(root / "minion.log"),
                "extension_modules": str(root / "extmods"),
                "file_roots": {"base": [str(ROOT / "formula"), str(extra)]},
                "pillar_roots": {"base": [str(root / "pillar")]},
                "module_dirs": [str(ROOT / "_modules")],
                "states_dirs": [str(states_dir)],
                "utils_dirs": [str(ROOT / "_utils")],
                "grains_cache": False,
            }
        )
        self.caller = salt.client.Caller(mopts=opts)
        # Fixed grains: the render must not depend on the machine running it.
        self.caller.opts["grains"].update(
            {"id": minion_id, "host": minion_id, "os_family": "Debian", "osmajorrelease": int(release)}
        )

    def sls(self, name: str, pillar: dict) -> dict[str, Any]:
        """High data of SLS ``name`` for ``pillar``; RenderError on failure."""
        # The minion's own pillar stays empty: the override is the whole pillar.
        result = self.caller.cmd("state.show_sls", name, pillar=copy.deepcopy(pillar))
        if not isinstance(result, dict):
            raise RenderError("\n".join(map(str, result)))
        return result

    def template(self, path: str, pillar: dict, context: dict | None = None) -> str:
        """Text of template ``salt://<path>`` rendered with jinja for ``pillar`` (and the
        variables ``context``, as a state's ``context`` passes them)."""
        try:
            return self.caller.cmd(
                "slsutil.renderer",
                f"salt://{path}",
                default_renderer="jinja",
                context={"pillar": copy.deepcopy(pillar), **(context or {})},
            )
        except Exception as exc:  # Salt raises its own exception types here
            raise RenderError(str(exc)) from exc


def sls_names() -> list[str]:
    """Every SLS of the state tree, as Salt names them."""
    names = []
    for path in sorted((ROOT / "formula").rglob("*.sls")):
        parts = list(path.relative_to(ROOT / "formula").with_suffix("").parts)
        if parts[-1] == "init":
            parts = parts[:-1]
        names.append(".".join(parts))
    return names
