"""Render-scale figures: the whole state tree and haproxy.cfg for growing sites.

Rendered in-process with real Salt (as the render tier does), for sites of
``services x controllers``; nothing is contacted, the addresses are only text.
"""

from __future__ import annotations

import copy
import statistics
import time
from typing import Any

import yaml

from tests.saltrender import ROOT, Renderer, sls_names

SIZES = ((10, 3), (50, 5), (200, 9))
HAPROXY_TEMPLATE = "prereqos/ha/files/haproxy.cfg.jinja"
# Rendered by the master or only for a recovery: their own pillar is needed.
MASTER_SLS = ("orch.prereqos",)


def scaled_pillar(services: int, controllers: int) -> dict[str, Any]:
    """pillar.example with ``controllers`` nodes and exactly ``services`` HTTP services
    (keystone, which the openrc needs, and numbered ones)."""
    pillar = copy.deepcopy(yaml.safe_load((ROOT / "pillar.example").read_text()))
    site = pillar["prereqos"]
    site["controllers"] = [
        {"id": f"ctrl-{i}", "addresses": {"srv": f"192.0.2.{10 + i}", "api": f"198.51.100.{10 + i}"}}
        for i in range(1, controllers + 1)
    ]
    defaults = yaml.safe_load((ROOT / "formula/prereqos/defaults.yaml").read_text())["prereqos"]
    enabled = {name: {"enabled": name == "keystone"} for name in defaults["haproxy"]["services"]}
    for i in range(services - 1):
        enabled[f"service_{i:03d}"] = {"port": 20000 + i, "networks": ["srv", "api"], "check": {"path": "/healthcheck"}}
    site["haproxy"]["services"] = enabled
    return pillar


def render_once(renderer: Renderer, pillar: dict[str, Any]) -> tuple[float, float, int]:
    """``(tree_s, haproxy_s, haproxy_lines)``: every SLS of the tree, then haproxy.cfg."""
    started = time.perf_counter()
    for name in sls_names():
        renderer.sls(name, pillar)
    for name in MASTER_SLS:
        renderer.sls(name, pillar)
    tree_s = time.perf_counter() - started
    started = time.perf_counter()
    text = renderer.template(HAPROXY_TEMPLATE, pillar)
    return tree_s, time.perf_counter() - started, len(text.splitlines())


def measure(rounds: int) -> dict[str, dict[str, Any]]:
    """``"SxC" -> figures`` for every size, each the median of ``rounds`` renders."""
    renderer = Renderer("ctrl-1")
    render_once(renderer, scaled_pillar(*SIZES[0]))  # warm Salt's loader: not part of any figure
    out = {}
    for services, controllers in SIZES:
        pillar = scaled_pillar(services, controllers)
        samples = [render_once(renderer, pillar) for _ in range(rounds)]
        tree = [t + h for t, h, _ in samples]
        haproxy = [h for _, h, _ in samples]
        lines = samples[0][2]
        out[f"{services}x{controllers}"] = {
            "total_s": statistics.median(tree),
            "total_spread_s": [min(tree), max(tree)],
            "haproxy_s": statistics.median(haproxy),
            "haproxy_lines": lines,
            "haproxy_ms_per_100_lines": 1e5 * statistics.median(haproxy) / lines,
        }
    return out
