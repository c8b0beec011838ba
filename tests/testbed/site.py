"""The site pillar of the test bed and the demo: pillar.example's shape with
the test bed's own networks and addresses, and fresh random secrets per run."""

from __future__ import annotations

import base64
import copy
import re
import secrets
import string
from pathlib import Path
from typing import Any

import yaml

REPO_ROOT = Path(__file__).resolve().parents[2]
# Each controller's apache serves its own host name here, behind HAProxy (seed 000).
HOSTNAME_PORT = 8080
# The same service with `balance source`: one client always reaches one backend.
HOSTNAME_SOURCE_PORT = 8081
WHEELHOUSE = "/var/cache/prereqos/wheels"


# What password managers generate and consumers choke on: quotes, backslash,
# shell expansion, comment and statement separators, a space, non-ASCII.
HOSTILE = " '\"\\$`#;!&|<>(){}*?~%@^ ü€"


def _token() -> str:
    """16 random letters and digits: the findable part of a secret."""
    return "".join(secrets.choice(string.ascii_letters + string.digits) for _ in range(16))


def _password() -> str:
    """A fresh password with every character of :data:`HOSTILE` between two random tokens:
    each consumer must take it intact (the cluster tier reads every one back)."""
    return f"{_token()}{HOSTILE}{_token()}"


def random_secrets(users: list[str], hostile: bool = True) -> dict[str, Any]:
    """Fresh secrets: nothing in the repo is ever a real credential. ``hostile=False``:
    passwords of letters and digits only (what formula releases before 2026-11-30 quoted)."""
    password = _password if hostile else _token
    return {
        "erlang_cookie": secrets.token_hex(20),
        "corosync_authkey": base64.b64encode(secrets.token_bytes(256)).decode(),
        "db_root_password": password(),
        # MariaDB's SST script reads its password with the shell's `read`, which drops backslashes.
        "db_sst_password": password().replace("\\", ""),
        "haproxy_stats_password": password(),
        "openrc_admin_password": password(),
        # rabbitmqctl reads passwords as Latin-1: RabbitMQ passwords are ASCII.
        "rabbitmq_users": {user: password().encode("ascii", "ignore").decode() for user in users},
    }


def secret_values(site: dict[str, Any]) -> list[str]:
    """Every secret value of ``site`` (a ``prereqos`` pillar), as text."""
    values = []
    for value in site.get("secrets", {}).values():
        values.extend(value.values() if isinstance(value, dict) else [value])
    return [str(v) for v in values if v]


def findable_parts(site: dict[str, Any]) -> list[str]:
    """The random runs (8+ letters and digits) of every secret: found in any text that holds
    the secret, however it was escaped or quoted there (JSON, YAML, shell, SQL)."""
    return sorted({part for value in secret_values(site) for part in re.findall(r"[A-Za-z0-9]{8,}", value)})


def site_pillar(
    facts: dict[str, Any], vip_manager: str = "pacemaker", example: str | None = None, hostile: bool = True
) -> dict[str, Any]:
    """A complete site pillar for the test bed described by ``facts``
    (``Testbed.site_facts()``: networks and controllers), shaped like ``example``
    (the text of a pillar.example; default this checkout's), with :func:`random_secrets`."""
    example = (REPO_ROOT / "pillar.example").read_text() if example is None else example
    site = copy.deepcopy(yaml.safe_load(example)["prereqos"])
    site["networks"] = facts["networks"]
    site["controllers"] = facts["controllers"]
    site["bootstrap"] = facts["controllers"][0]["id"]
    site["vip_manager"] = vip_manager
    site["secrets"] = random_secrets(list(site["rabbitmq"]["users"]), hostile)
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
