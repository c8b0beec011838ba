"""Fixtures of the render tier: site pillar variants and real Salt renderers."""

from __future__ import annotations

import base64
import copy
import subprocess
import tempfile
from pathlib import Path

import pytest
import yaml

from tests import checkers
from tests.checkers import missing_checkers
from tests.saltrender import ROOT, Renderer

EXAMPLE = yaml.safe_load((ROOT / "pillar.example").read_text())
# What password managers generate and consumers choke on: quotes, backslash,
# shell expansion, comment and statement separators, blanks, non-ASCII.
HOSTILE = " '\"\\$`#;!&|<>(){}*?~%@^ ü€\\"


def example() -> dict:
    return copy.deepcopy(EXAMPLE)


def keepalived() -> dict:
    pillar = example()
    pillar["prereqos"]["vip_manager"] = "keepalived"
    return pillar


def one_network() -> dict:
    """A site with the internal network only: every listener on its VIP."""
    pillar = example()
    site = pillar["prereqos"]
    del site["networks"]["api"]
    site["keepalived"]["router_ids"] = {"srv": 52}
    for node in site["controllers"]:
        del node["addresses"]["api"]
    defaults = yaml.safe_load((ROOT / "formula/prereqos/defaults.yaml").read_text())["prereqos"]
    site["haproxy"]["services"] = {name: {"networks": ["srv"]} for name in defaults["haproxy"]["services"]}
    site["haproxy"]["services"]["octavia_api"]["enabled"] = False
    site["haproxy"]["services"]["horizon"]["port"] = 8080
    site["haproxy"]["services"]["horizon"]["backend_port"] = 80
    site["openrc"]["network"] = "srv"
    return pillar


def five_nodes() -> dict:
    pillar = example()
    site = pillar["prereqos"]
    site["controllers"] = [
        {"id": f"ctrl-{i}", "addresses": {"srv": f"192.0.2.{10 + i}", "api": f"198.51.100.{10 + i}"}}
        for i in range(1, 6)
    ]
    return pillar


def hostile() -> dict:
    """Every password with every awkward character, between two findable tokens."""
    pillar = example()
    secrets = pillar["prereqos"]["secrets"]
    for key in ("db_root_password", "db_sst_password", "haproxy_stats_password", "openrc_admin_password"):
        secrets[key] = f"{key}Token{HOSTILE}{key}End"
    # MariaDB's SST script reads its password with the shell's `read`, which drops backslashes.
    secrets["db_sst_password"] = secrets["db_sst_password"].replace("\\", "")
    # rabbitmqctl reads passwords as Latin-1: RabbitMQ passwords are ASCII.
    rabbit = HOSTILE.encode("ascii", "ignore").decode()
    secrets["rabbitmq_users"] = {user: f"{user}RabbitToken{rabbit}End" for user in secrets["rabbitmq_users"]}
    return pillar


def with_tls(pem_path: Path) -> dict:
    pillar = keepalived()
    site = pillar["prereqos"]
    site["secrets"]["tls_pem"] = pem_path.read_text()
    site["haproxy"]["tls_pem_path"] = str(pem_path)
    site["haproxy"]["services"]["keystone"] = {"tls": True}
    site["haproxy"]["services"]["horizon"] = {"tls": True, "port": 443, "backend_port": 80}
    return pillar


@pytest.fixture(scope="session", autouse=True)
def checkers_installed() -> None:
    """The render tier needs Debian 12's checkers: fail loudly if absent."""
    missing = missing_checkers()
    if missing:
        pytest.fail(f"config checkers missing: {', '.join(missing)}; run `make host-checkers` (Debian 12)")


@pytest.fixture(scope="session")
def tls_pem(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A self-signed certificate + key, made with openssl for this run, where every
    release's checkers see it (haproxy -c opens the certificate)."""
    checkers.WORK.mkdir(exist_ok=True)
    folder = Path(tempfile.mkdtemp(prefix="tls-", dir=checkers.WORK))
    key, cert = folder / "key.pem", folder / "cert.pem"
    subprocess.run(
        [
            "openssl",
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "2",
            "-subj",
            "/CN=prereqos.test",
            "-keyout",
            str(key),
            "-out",
            str(cert),
        ],
        check=True,
        capture_output=True,
    )
    pem = folder / "prereqos.pem"
    pem.write_text(cert.read_text() + key.read_text())
    return pem


@pytest.fixture(scope="session")
def variants(tls_pem: Path) -> dict[str, dict]:
    return {
        "example": example(),
        "keepalived": keepalived(),
        "one_network": one_network(),
        "five_nodes": five_nodes(),
        "tls": with_tls(tls_pem),
        "hostile": hostile(),
    }


@pytest.fixture(scope="session")
def renderers(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Renderer]:
    """One real Salt caller per minion id, made on first use."""
    workdir = tmp_path_factory.mktemp("salt")

    class Lazy(dict):
        def __missing__(self, minion_id: str) -> Renderer:
            self[minion_id] = Renderer(minion_id, workdir)
            return self[minion_id]

    return Lazy()


@pytest.fixture(scope="session")
def corosync_key() -> bytes:
    return base64.b64decode(EXAMPLE["prereqos"]["secrets"]["corosync_authkey"])
