"""The site pillar of the test bed and the demo: pillar.example's shape with
the test bed's own networks and addresses, and fresh random secrets per run."""

from __future__ import annotations

import base64
import copy
import secrets
from pathlib import Path
from typing import Any

import yaml

REPO_ROOT = Path(__file__).resolve().parents[2]
# Each controller's apache serves its own host name here, behind HAProxy (seed 000).
HOSTNAME_PORT = 8080
# The same service with `balance source`: one client always reaches one backend.
HOSTNAME_SOURCE_PORT = 8081
WHEELHOUSE = "/var/cache/prereqos/wheels"


def random_secrets(users: list[str]) -> dict[str, Any]:
    """Fresh secrets: nothing in the repo is ever a real credential."""
    return {
        "erlang_cookie": secrets.token_hex(20),
        "corosync_authkey": base64.b64encode(secrets.token_bytes(256)).decode(),
        "db_root_password": secrets.token_urlsafe(18),
        "db_sst_password": secrets.token_urlsafe(18),
        "haproxy_stats_password": secrets.token_urlsafe(18),
        "openrc_admin_password": secrets.token_urlsafe(18),
        "rabbitmq_users": {user: secrets.token_urlsafe(18) for user in users},
    }


def site_pillar(facts: dict[str, Any], vip_manager: str = "pacemaker") -> dict[str, Any]:
    """A complete site pillar for the test bed described by ``facts``
    (``Testbed.site_facts()``: networks and controllers)."""
    site = copy.deepcopy(yaml.safe_load((REPO_ROOT / "pillar.example").read_text())["prereqos"])
    site["networks"] = facts["networks"]
    site["controllers"] = facts["controllers"]
    site["bootstrap"] = facts["controllers"][0]["id"]
    site["vip_manager"] = vip_manager
    site["secrets"] = random_secrets(list(site["rabbitmq"]["users"]))
    site["keepalived"]["router_ids"] = {}
    site["apache"]["ports"] = [80, HOSTNAME_PORT]
    site["haproxy"]["services"]["hostname"] = {
        "port": HOSTNAME_PORT,
        "networks": sorted(facts["networks"]),
        "check": {"path": "/"},
    }
    site["haproxy"]["services"]["hostname_source"] = {
        "port": HOSTNAME_SOURCE_PORT,
        "backend_port": HOSTNAME_PORT,
        "networks": sorted(facts["networks"]),
        "balance": "source",
    }
    # The controllers have no way out: pip installs from the image's wheelhouse.
    site["buildenv"]["pip_options"] = {"no_index": True, "find_links": WHEELHOUSE}
    return {"prereqos": site}
