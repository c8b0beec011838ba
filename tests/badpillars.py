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


# Planted in every bad secret below: no error message may ever contain it (or
# any other secret value of the pillar).
CANARY = "c4nary-S3cret"

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
    # secrets: named by key, type or character, never by value
    "secrets not a mapping": (edit("secrets", CANARY), "prereqos:secrets: expected a mapping, got a string"),
    "secret of the wrong type": (
        edit("secrets:rabbitmq_users", [CANARY]),
        "prereqos:secrets:rabbitmq_users: expected a mapping, got a list",
    ),
    "numeric password": (edit("secrets:db_root_password", 12345678), "db_root_password: expected a string, got int"),
    "password with a line break": (
        edit("secrets:db_sst_password", f"{CANARY}\nsecond line"),
        "prereqos:secrets:db_sst_password: contains a line break (U+000A)",
    ),
    "password with a control character": (
        edit("secrets:openrc_admin_password", f"{CANARY}\x07"),
        "prereqos:secrets:openrc_admin_password: contains the control character U+0007",
    ),
    "rabbitmq password with blanks around": (
        edit("secrets:rabbitmq_users:openstack", f" {CANARY} "),
        "prereqos:secrets:rabbitmq_users:openstack: starts or ends with whitespace",
    ),
    "rabbitmq password beyond ascii": (
        edit("secrets:rabbitmq_users:openstack", f"{CANARY}\u20ac"),
        "prereqos:secrets:rabbitmq_users:openstack: contains U+20AC: rabbitmqctl reads passwords as Latin-1",
    ),
    "cookie with symbols": (edit("secrets:erlang_cookie", CANARY * 3), "prereqos:secrets:erlang_cookie: must be 20"),
    "authkey not base64": (edit("secrets:corosync_authkey", CANARY), "corosync_authkey: not valid base64"),
    "sst password too long": (edit("secrets:db_sst_password", CANARY * 400), "db_sst_password: too long"),
    "sst password with a backslash": (
        edit("secrets:db_sst_password", f"{CANARY}\\x"),
        "prereqos:secrets:db_sst_password: contains '\\', which MariaDB's SST script",
    ),
    # values that would fail later, in a tool, mid-run
    "timeout not a duration": (
        edit("haproxy:timeouts:connect", "soon"),
        "prereqos:haproxy:timeouts:connect: 'soon' is not a HAProxy duration",
    ),
    "check interval not a duration": (edit("haproxy:check:inter", "2 s"), "prereqos:haproxy:check:inter: '2 s' is not"),
    "idle timeout too long": (
        edit("haproxy:services:galera:idle_timeout", "30d"),
        "prereqos:haproxy:services:galera:idle_timeout: 30d exceeds HAProxy's limit",
    ),
    "rise of zero": (edit("haproxy:check:rise", 0), "prereqos:haproxy:check:rise: 0 is out of range"),
    "negative retries": (edit("haproxy:retries", -1), "prereqos:haproxy:retries: -1 is out of range"),
    "maxconn beyond file descriptors": (edit("haproxy:maxconn", 1000000), "prereqos:haproxy:maxconn: 1000000 is out"),
    "stats port out of range": (edit("haproxy:stats:port", 70000), "prereqos:haproxy:stats:port: 70000 is not a TCP"),
    "stats user with a colon": (edit("haproxy:stats:user", "ad:min"), "prereqos:haproxy:stats:user: 'ad:min' is not"),
    "relative pem path": (edit("haproxy:tls_pem_path", "certs/x.pem"), "prereqos:haproxy:tls_pem_path: 'certs/x.pem'"),
    "relative venv": (edit("buildenv:venv", "venv"), "prereqos:buildenv:venv: 'venv' is not an absolute path"),
    "drain timeout as text": (
        edit("maintenance:drain_timeout", "10s"),
        "prereqos:maintenance:drain_timeout: expected an integer, got a string '10s'",
    ),
    "no wait for an undrain": (edit("maintenance:ready_timeout", 0), "prereqos:maintenance:ready_timeout: 0"),
    "openrc path climbing up": (edit("openrc:path", "/root/../etc/x"), "prereqos:openrc:path: '/root/../etc/x' is not"),
    "interface alias": (
        edit("networks:srv:interface", "eth0:1"),
        "prereqos:networks:srv:interface: 'eth0:1' is not a Linux interface name",
    ),
    "interface name too long": (
        edit("networks:api:interface", "enp0s31f6-uplink"),
        "prereqos:networks:api:interface: 'enp0s31f6-uplink' is not a Linux interface name",
    ),
    "overlapping networks": (edit("networks:api:cidr", "192.0.0.0/16"), "overlaps network srv (192.0.2.0/24)"),
    "one VIP for two networks": (
        edit("networks:api:vip", "192.0.2.10"),
        "prereqos:networks:api:vip: 192.0.2.10 is also the VIP of network srv",
    ),
    "internal network unknown": (edit("internal_network", "mgmt"), "prereqos:internal_network: 'mgmt' is not among"),
    "host name with dots": (
        edit("controllers:0:hostname", "ctrl-1.example.org"),
        "prereqos:controllers:ctrl-1:hostname: 'ctrl-1.example.org' is not a short host name",
    ),
    "service name with a space": (
        edit("haproxy:services:my api", {"port": 9999, "networks": ["srv"]}),
        "prereqos:haproxy:services:my api: not a usable service name",
    ),
    "service named stats": (
        edit("haproxy:services:stats", {"port": 9998, "networks": ["srv"]}),
        "prereqos:haproxy:services:stats: 'stats' is the name of HAProxy's stats listener",
    ),
    "network listed twice": (
        edit("haproxy:services:keystone:networks", ["srv", "srv"]),
        "prereqos:haproxy:services:keystone:networks: lists network 'srv' twice",
    ),
    "check expect with two patterns": (
        edit("haproxy:services:keystone:check:expect", "status 200 300"),
        "prereqos:haproxy:services:keystone:check:expect: 'status 200 300' is not",
    ),
    "service default not a mode": (
        edit("haproxy:service_defaults:mode", "udp"),
        "prereqos:haproxy:service_defaults:mode: 'udp' is not one of http, tcp",
    ),
    "advert_int beyond VRRPv3": (edit("keepalived:advert_int", 41), "prereqos:keepalived:advert_int: 41 is outside"),
    "router ids collide with a default": (
        edit("keepalived:router_ids", {"api": 52}),
        "prereqos:keepalived:router_ids:srv: router id 52 is also used by network api",
    ),
    "corosync token too short": (edit("pacemaker:token", 50), "prereqos:pacemaker:token: 50 is out of range"),
    "stickiness not a score": (
        edit("pacemaker:resource_stickiness", "sticky"),
        "prereqos:pacemaker:resource_stickiness: 'sticky' is not a pacemaker score",
    ),
    "fence agent without stonith prefix": (
        edit("pacemaker:stonith", {"enabled": True, "devices": {"fence-1": {"agent": "fence_ipmilan"}}}),
        "prereqos:pacemaker:stonith:devices:fence-1:agent: 'fence_ipmilan' is not a fence agent",
    ),
    "hard stop after not a duration": (
        edit("haproxy:hard_stop_after", "soon"),
        "prereqos:haproxy:hard_stop_after: 'soon' is not a HAProxy duration",
    ),
    "membership retransmit out of range": (
        edit("galera:membership_retransmit_ms", 50),
        "prereqos:galera:membership_retransmit_ms: 50 is out of range",
    ),
    "max_connections out of range": (
        edit("galera:max_connections", 5),
        "prereqos:galera:max_connections: 5 is out of range",
    ),
    "buffer pool size with a unit word": (
        edit("galera:innodb_buffer_pool_size", "256 MB"),
        "prereqos:galera:innodb_buffer_pool_size: '256 MB' is not a MariaDB size",
    ),
    "sst user with a colon": (edit("galera:sst_user", "sst:x"), "prereqos:galera:sst_user: 'sst:x' is not"),
    "vhost with a space": (edit("rabbitmq:vhosts", ["/", "a vhost"]), "prereqos:rabbitmq:vhosts: 'a vhost' is not"),
    "rabbitmq user name with a space": (
        edit("rabbitmq:users:nova compute", {}),
        "prereqos:rabbitmq:users:nova compute: not a usable user name",
    ),
    "pip option misspelled": (
        edit("buildenv:pip_options:index_ur", "https://pypi.example.org/simple"),
        "prereqos:buildenv:pip_options:index_ur: not an option of pip.installed prereqos passes on; did you mean",
    ),
    "apache module with a shell command": (
        edit("apache:modules", ["wsgi; reboot"]),
        "prereqos:apache:modules: 'wsgi; reboot' is not an apache module name",
    ),
    "apache port twice": (edit("apache:ports", [80, 80]), "prereqos:apache:ports: lists port 80 twice"),
    "small cluster flag not a boolean": (
        edit("allow_small_cluster", "yes"),
        "prereqos:allow_small_cluster: expected true or false, got a string 'yes'",
    ),
    "lookup path misspelled": (
        edit("lookup:paths:haproxy_cgf", "/etc/haproxy/haproxy.cfg"),
        "prereqos:lookup:paths:haproxy_cgf: unknown key; did you mean 'haproxy_cfg'?",
    ),
    "lookup path relative": (
        edit("lookup:paths:haproxy_cfg", "haproxy.cfg"),
        "prereqos:lookup:paths:haproxy_cfg: 'haproxy.cfg' is not an absolute path",
    ),
}


def secret_values(pillar: dict) -> list[str]:
    """Every secret value of a site pillar long enough to be recognised in a message."""
    secrets = pillar["prereqos"].get("secrets")
    if not isinstance(secrets, dict):
        return [secrets] if isinstance(secrets, str) else []
    values = []
    for value in secrets.values():
        values.extend(value.values() if isinstance(value, dict) else value if isinstance(value, list) else [value])
    return [v for v in values if isinstance(v, str) and len(v) >= 8]


def bad_pillar(case: str, good: dict) -> tuple[dict, str]:
    """``good`` broken as ``case`` says, and the message the error must contain."""
    mutate, message = BAD_PILLARS[case]
    pillar = copy.deepcopy(good)
    if case == "duplicate bind":  # a second service for the port to collide on
        pillar["prereqos"]["haproxy"]["services"]["barbican"] = {"networks": ["srv"]}
    mutate(pillar)
    return pillar, message
