"""Malformed site pillars and the error each must give (the key and what is wrong).

One list for every tier: the render tier renders them in-process, the cluster
tier runs the real orchestration with them on the real master.
"""

from __future__ import annotations

import copy
from collections.abc import Callable


def edit(path: str, value: object) -> Callable[[dict], None]:
    """Set (or delete, with value ...) ``path`` (colon-separated) in the site."""

    def apply(pillar: dict) -> None:
        keys = path.split(":")
        node = pillar["prereqos"]
        for key in keys[:-1]:
            node = node[int(key)] if isinstance(node, list) else node.setdefault(key, {})
        last = int(keys[-1]) if isinstance(node, list) else keys[-1]
        if value is ...:
            del node[last]
        else:
            node[last] = value

    return apply


BAD_PILLARS = {
    "missing secret": (edit("secrets:db_root_password", ...), "prereqos:secrets:db_root_password: missing"),
    "empty secret": (edit("secrets:db_sst_password", ""), "prereqos:secrets:db_sst_password: missing"),
    "short cookie": (edit("secrets:erlang_cookie", "abc"), "prereqos:secrets:erlang_cookie: must be 20 to 255"),
    "bad authkey": (edit("secrets:corosync_authkey", "bm90IGxvbmc="), "prereqos:secrets:corosync_authkey: decodes to"),
    "misspelled secret": (edit("secrets:db_rot_password", "x"), "did you mean 'db_root_password'"),
    "vip outside network": (edit("networks:srv:vip", "203.0.113.10"), "prereqos:networks:srv:vip: 203.0.113.10 is not"),
    "cidr not a network": (edit("networks:srv:cidr", "192.0.2.5/24"), "prereqos:networks:srv:cidr: not a network"),
    "duplicate bind": (edit("haproxy:services:barbican:port", 5000), "already bound by prereqos:haproxy:services"),
    "unknown vip manager": (edit("vip_manager", "ucarp"), "prereqos:vip_manager: 'ucarp' is not one of"),
    "bootstrap not a controller": (edit("bootstrap", "ctrl-9"), "prereqos:bootstrap: 'ctrl-9' is not among"),
    "missing address": (edit("controllers:1:addresses:api", ...), "prereqos:controllers:ctrl-2:addresses:api: missing"),
    "address outside network": (edit("controllers:2:addresses:srv", "10.99.0.1"), "is outside network srv"),
    "node named twice": (edit("controllers:2:id", "ctrl-1"), "prereqos:controllers:ctrl-1: listed twice"),
    "two controllers": (edit("controllers:2", ...), "quorum needs 3"),
    "misspelled key": (edit("haproxy:timouts", {}), "prereqos:haproxy:timouts: unknown key; did you mean 'timeouts'"),
    "wrong type": (edit("haproxy:services:keystone:port", "5000"), "keystone:port: expected an integer"),
    "stonith not explicit": (edit("pacemaker:stonith:enabled", None), "pacemaker:stonith:enabled: must be set"),
    "unknown network in service": (edit("haproxy:services:keystone:networks", ["dmz"]), "unknown network 'dmz'"),
    "guest user": (edit("rabbitmq:users:guest", {}), "guest is removed by prereqos"),
    "user without password": (edit("rabbitmq:users:nova", {}), "prereqos:secrets:rabbitmq_users:nova: missing"),
    "recover from a stranger": (edit("galera:recover_from", "ctrl-9"), "prereqos:galera:recover_from: 'ctrl-9' is not"),
    "tls without pem": (edit("haproxy:services:keystone:tls", True), "prereqos:secrets:tls_pem: missing"),
}


def bad_pillar(case: str, good: dict) -> tuple[dict, str]:
    """``good`` broken as ``case`` says, and the message the error must contain."""
    mutate, message = BAD_PILLARS[case]
    pillar = copy.deepcopy(good)
    if case == "duplicate bind":  # a second service for the port to collide on
        pillar["prereqos"]["haproxy"]["services"]["barbican"] = {"networks": ["srv"]}
    mutate(pillar)
    return pillar, message
