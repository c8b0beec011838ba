"""prereqos settings: merge, validate and derive the site configuration.

One place for the pillar contract. ``map.jinja`` calls :func:`settings`, so
every SLS (and the orchestration's first step) stops with a clear error that
names the pillar key and the fix before anything changes on any node.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import copy
import difflib
import hashlib
import ipaddress
import json
import re
import socket
import time
from typing import Any

import salt.utils.pycrypto
import yaml
from salt.exceptions import CommandExecutionError

__virtualname__ = "prereqos"

VIP_MANAGERS = ("pacemaker", "keepalived")
SERVICE_MODES = ("http", "tcp")
BALANCE_ALGORITHMS = ("roundrobin", "source", "leastconn", "first")
CHECK_KINDS = ("http", "tcp", "galera")
POLICY_TARGETS = ("all", "queues", "exchanges", "classic_queues", "quorum_queues", "streams")
NO_QUORUM_POLICIES = ("stop", "freeze", "ignore", "demote", "suicide")
OPENRC_ENSURE = ("present", "absent")
# corosync 3 (knet) accepts keys of 1024 bits up to 4096 bytes.
COROSYNC_KEY_BYTES = (128, 4096)
MIN_QUORUM_CONTROLLERS = 3
NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
# Characters that cannot appear unquoted in haproxy.cfg tokens.
HAPROXY_UNSAFE = re.compile(r"[\s#\"'\\]")

# Keys whose children are named by the site (not checked for typos).
FREE_FORM = {
    "networks",
    "secrets",
    "haproxy:services",
    "keepalived:router_ids",
    "pacemaker:stonith:devices",
    "rabbitmq:users",
    "rabbitmq:policies",
    "buildenv:pip_options",
    "lookup",
}
SECRET_KEYS = (
    "erlang_cookie",
    "corosync_authkey",
    "db_root_password",
    "db_sst_password",
    "haproxy_stats_password",
    "openrc_admin_password",
    "rabbitmq_users",
    "tls_pem",
)
SERVICE_KEYS = {
    "enabled": bool,
    "port": int,
    "backend_port": int,
    "backend_network": str,
    "networks": list,
    "mode": str,
    "balance": str,
    "active_backup": bool,
    "tls": bool,
    "idle_timeout": str,
    "check": dict,
}
CHECK_KEYS = {"kind": str, "path": str, "expect": str}
CONTROLLER_KEYS = {"id", "hostname", "addresses"}
NETWORK_KEYS = {"cidr", "interface", "vip"}


def __virtual__() -> str:
    return __virtualname__


class Errors:
    """Collects validation errors, each as ``key: problem; fix``."""

    def __init__(self) -> None:
        self.items: list[str] = []

    def add(self, key: str, problem: str) -> None:
        self.items.append(f"prereqos:{key}: {problem}")

    def __bool__(self) -> bool:
        return bool(self.items)


# ---------------------------------------------------------------- merging
def merge(base: dict, override: dict) -> dict:
    """Return ``base`` updated recursively by ``override`` (lists replace)."""
    result = copy.deepcopy(base)
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(result.get(key), dict):
            result[key] = merge(result[key], value)
        else:
            result[key] = copy.deepcopy(value)
    return result


def merged_config(defaults: dict, osmap: dict, site: dict) -> dict:
    """defaults <- os map (as ``lookup``) <- site ``lookup`` <- site pillar."""
    config = merge(defaults, {"lookup": osmap})
    return merge(config, site)


# ------------------------------------------------------------- validation
def _type_name(value: Any) -> str:
    return {dict: "a mapping", list: "a list", str: "a string", bool: "true/false"}.get(
        type(value), type(value).__name__
    )


def _expect(errors: Errors, key: str, value: Any, kind: type) -> bool:
    """Check ``value`` is of ``kind`` (bool is not an int); report if not."""
    ok = isinstance(value, kind) and not (kind is int and isinstance(value, bool))
    if not ok:
        want = {int: "an integer", str: "a string", bool: "true or false", list: "a list", dict: "a mapping"}
        errors.add(key, f"expected {want.get(kind, kind.__name__)}, got {_type_name(value)} {value!r}")
    return ok


def check_unknown_keys(errors: Errors, raw: Any, reference: Any, path: str = "") -> None:
    """Report keys of the site pillar that defaults.yaml does not know (typos)."""
    if not isinstance(raw, dict) or not isinstance(reference, dict) or path in FREE_FORM:
        return
    for key, value in raw.items():
        key_path = f"{path}:{key}" if path else str(key)
        if key not in reference:
            close = difflib.get_close_matches(str(key), [str(k) for k in reference], n=1)
            hint = (
                f"; did you mean '{close[0]}'?" if close else f"; known keys: {', '.join(sorted(map(str, reference)))}"
            )
            errors.add(key_path, f"unknown key{hint}")
        else:
            check_unknown_keys(errors, value, reference[key], key_path)


def _network(errors: Errors, name: str, net: Any) -> ipaddress.IPv4Network | ipaddress.IPv6Network | None:
    key = f"networks:{name}"
    if not _expect(errors, key, net, dict):
        return None
    for extra in sorted(set(net) - NETWORK_KEYS):
        errors.add(f"{key}:{extra}", f"unknown key; a network has {', '.join(sorted(NETWORK_KEYS))}")
    for field in ("cidr", "interface", "vip"):
        if not net.get(field):
            errors.add(f"{key}:{field}", "missing; every network needs cidr, interface and vip")
    try:
        cidr = ipaddress.ip_network(str(net.get("cidr")), strict=True)
    except ValueError as exc:
        if net.get("cidr"):
            errors.add(f"{key}:cidr", f"not a network address ({exc}); write it like 192.0.2.0/24")
        return None
    vip = net.get("vip")
    if vip:
        try:
            address = ipaddress.ip_address(str(vip))
        except ValueError:
            errors.add(f"{key}:vip", f"{vip!r} is not an IP address")
        else:
            if address not in cidr or address in (cidr.network_address, cidr.broadcast_address):
                errors.add(f"{key}:vip", f"{vip} is not a host address of {cidr}; pick a free address inside it")
    return cidr


def _controllers(errors: Errors, controllers: Any, networks: dict) -> list[str]:
    if not _expect(errors, "controllers", controllers, list):
        return []
    ids: list[str] = []
    seen_addresses: dict[str, str] = {}
    seen_hostnames: dict[str, str] = {}
    vips = {str(n.get("vip")) for n in networks.values() if isinstance(n, dict)}
    for index, node in enumerate(controllers):
        key = f"controllers:{index}"
        if not _expect(errors, key, node, dict):
            continue
        for extra in sorted(set(node) - CONTROLLER_KEYS):
            errors.add(f"{key}:{extra}", f"unknown key; a controller has {', '.join(sorted(CONTROLLER_KEYS))}")
        node_id = node.get("id")
        if not isinstance(node_id, str) or not NAME_RE.match(node_id):
            errors.add(f"{key}:id", f"{node_id!r} is not a minion id; give each controller its minion id")
            continue
        key = f"controllers:{node_id}"
        if node_id in ids:
            errors.add(key, "listed twice; list each controller once")
            continue
        ids.append(node_id)
        hostname = node.get("hostname", node_id)
        if not isinstance(hostname, str) or not NAME_RE.match(hostname):
            errors.add(f"{key}:hostname", f"{hostname!r} is not a host name")
        elif hostname in seen_hostnames:
            errors.add(f"{key}:hostname", f"{hostname} is also the host name of {seen_hostnames[hostname]}")
        else:
            seen_hostnames[hostname] = node_id
        addresses = node.get("addresses")
        if not _expect(errors, f"{key}:addresses", addresses, dict):
            continue
        for net_name in sorted(set(addresses) - set(networks)):
            errors.add(f"{key}:addresses:{net_name}", f"no such network; known networks: {', '.join(sorted(networks))}")
        for net_name, net in networks.items():
            address = addresses.get(net_name)
            akey = f"{key}:addresses:{net_name}"
            if address is None:
                errors.add(akey, f"missing; every controller needs an address on network '{net_name}'")
                continue
            try:
                parsed = ipaddress.ip_address(str(address))
            except ValueError:
                errors.add(akey, f"{address!r} is not an IP address")
                continue
            cidr = net.get("_cidr")
            if cidr is not None and parsed not in cidr:
                errors.add(akey, f"{address} is outside network {net_name} ({cidr})")
            if str(parsed) in vips:
                errors.add(akey, f"{address} is a virtual IP; give the controller its own address")
            if str(parsed) in seen_addresses:
                errors.add(akey, f"{address} is also the address of {seen_addresses[str(parsed)]}")
            seen_addresses[str(parsed)] = node_id
    return ids


def _secret(errors: Errors, secrets: dict, name: str, why: str) -> str | None:
    value = secrets.get(name)
    if value is None or value == "":
        errors.add(f"secrets:{name}", f"missing; required {why} (secrets have no default)")
        return None
    if not isinstance(value, str):
        errors.add(f"secrets:{name}", f"expected a string, got {_type_name(value)}")
        return None
    return value


def _secrets(errors: Errors, config: dict) -> None:
    secrets = config.get("secrets")
    if not _expect(errors, "secrets", secrets, dict):
        return
    for extra in sorted(set(secrets) - set(SECRET_KEYS)):
        close = difflib.get_close_matches(extra, SECRET_KEYS, n=1)
        hint = f"did you mean '{close[0]}'?" if close else f"known secrets: {', '.join(SECRET_KEYS)}"
        errors.add(f"secrets:{extra}", f"unknown secret; {hint}")
    cookie = _secret(errors, secrets, "erlang_cookie", "for RabbitMQ clustering")
    if cookie is not None and not re.fullmatch(r"[A-Za-z0-9]{20,255}", cookie):
        errors.add("secrets:erlang_cookie", "must be 20 to 255 letters and digits")
    _secret(errors, secrets, "db_root_password", "for the MariaDB root account")
    _secret(errors, secrets, "db_sst_password", "for Galera state transfers (mariabackup)")
    if config["haproxy"].get("stats", {}).get("enabled"):
        stats = _secret(errors, secrets, "haproxy_stats_password", "while haproxy:stats:enabled is true")
        if stats is not None and HAPROXY_UNSAFE.search(stats):
            errors.add("secrets:haproxy_stats_password", "must not contain spaces, quotes, '#' or '\\'")
    if config.get("vip_manager") == "pacemaker":
        key = _secret(
            errors, secrets, "corosync_authkey", "with vip_manager pacemaker (base64 of `corosync-keygen`'s key)"
        )
        if key is not None:
            try:
                size = len(base64.b64decode(key, validate=True))
            except (binascii.Error, ValueError):
                errors.add("secrets:corosync_authkey", "not valid base64; use `base64 -w0 /etc/corosync/authkey`")
            else:
                low, high = COROSYNC_KEY_BYTES
                if not low <= size <= high:
                    errors.add("secrets:corosync_authkey", f"decodes to {size} bytes; corosync needs {low} to {high}")
    if config["openrc"].get("ensure") == "present":
        _secret(errors, secrets, "openrc_admin_password", "while openrc:ensure is present")
    if any(s.get("tls") for s in _enabled_services(config).values()):
        pem = _secret(errors, secrets, "tls_pem", "because a service has tls: true (certificate and key, PEM)")
        if pem is not None and ("BEGIN CERTIFICATE" not in pem or "PRIVATE KEY" not in pem):
            errors.add("secrets:tls_pem", "must hold a PEM certificate and its private key")
    users = secrets.get("rabbitmq_users", {})
    if _expect(errors, "secrets:rabbitmq_users", users, dict):
        for user in config["rabbitmq"].get("users") or {}:
            value = users.get(user)
            if not isinstance(value, str) or not value:
                errors.add(f"secrets:rabbitmq_users:{user}", f"missing; required for rabbitmq:users:{user}")
        for extra in sorted(set(users) - set(config["rabbitmq"].get("users") or {})):
            errors.add(f"secrets:rabbitmq_users:{extra}", "a password for a user not in rabbitmq:users")


def _enabled_services(config: dict) -> dict[str, dict]:
    services = config.get("haproxy", {}).get("services") or {}
    if not isinstance(services, dict):
        return {}
    return {name: s for name, s in services.items() if isinstance(s, dict) and s.get("enabled", True)}


def _services(errors: Errors, config: dict) -> None:
    networks = config["networks"]
    if not _expect(errors, "haproxy:services", config["haproxy"].get("services"), dict):
        return
    for name, service in config["haproxy"]["services"].items():
        key = f"haproxy:services:{name}"
        if service is None or not _expect(errors, key, service, dict):
            continue
        for field, kind in SERVICE_KEYS.items():
            if field in service:
                _expect(errors, f"{key}:{field}", service[field], kind)
        for extra in sorted(set(service) - set(SERVICE_KEYS)):
            close = difflib.get_close_matches(extra, SERVICE_KEYS, n=1)
            hint = f"; did you mean '{close[0]}'?" if close else ""
            errors.add(f"{key}:{extra}", f"unknown key{hint}")
        if not service.get("enabled", True):
            continue
        if "port" not in service:
            errors.add(f"{key}:port", "missing; the port clients connect to on the VIP")
        for field in ("port", "backend_port"):
            port = service.get(field)
            if isinstance(port, int) and not isinstance(port, bool) and not 1 <= port <= 65535:
                errors.add(f"{key}:{field}", f"{port} is not a TCP port (1-65535)")
        nets = service.get("networks", [])
        if isinstance(nets, list):
            if not nets:
                errors.add(f"{key}:networks", "empty; name the networks whose VIP serves it")
            for net in nets:
                if net not in networks:
                    errors.add(f"{key}:networks", f"unknown network '{net}'; known: {', '.join(sorted(networks))}")
        backend_network = service.get("backend_network", "srv" if "srv" in networks else next(iter(networks), ""))
        if backend_network not in networks:
            errors.add(f"{key}:backend_network", f"unknown network '{backend_network}'")
        for field, allowed in (("mode", SERVICE_MODES), ("balance", BALANCE_ALGORITHMS)):
            if field in service and service[field] not in allowed:
                errors.add(f"{key}:{field}", f"{service[field]!r} is not one of {', '.join(allowed)}")
        check = service.get("check", {})
        if isinstance(check, dict):
            for extra in sorted(set(check) - set(CHECK_KEYS)):
                errors.add(f"{key}:check:{extra}", f"unknown key; a check has {', '.join(CHECK_KEYS)}")
            if check.get("kind", "http") not in CHECK_KINDS:
                errors.add(f"{key}:check:kind", f"{check['kind']!r} is not one of {', '.join(CHECK_KINDS)}")
            if check.get("kind", "http") == "http" and service.get("mode", "http") == "tcp":
                errors.add(f"{key}:check:kind", "an http check needs mode http; use kind tcp or galera")
        if service.get("tls") and service.get("mode", "http") != "http":
            errors.add(f"{key}:tls", "TLS termination needs mode http")
    _binds(errors, config)


def _binds(errors: Errors, config: dict) -> None:
    """Two listeners on one VIP:port cannot both bind."""
    owners: dict[tuple[str, int], str] = {}
    listeners = [
        (f"haproxy:services:{n}", s.get("networks", []), s.get("port")) for n, s in _enabled_services(config).items()
    ]
    stats = config["haproxy"].get("stats", {})
    if stats.get("enabled"):
        listeners.append(("haproxy:stats", [stats.get("network")], stats.get("port")))
    for key, nets, port in listeners:
        if not isinstance(nets, list) or not isinstance(port, int):
            continue
        for net in nets:
            if net not in config["networks"]:
                continue
            where = (str(net), port)
            if where in owners:
                other = f"prereqos:{owners[where]}"
                errors.add(key, f"binds {net} VIP port {port}, already bound by {other}; choose another port")
            else:
                owners[where] = key


def _pacemaker(errors: Errors, pcmk: dict) -> None:
    stonith = pcmk.get("stonith") or {}
    enabled = stonith.get("enabled")
    if not isinstance(enabled, bool):
        errors.add(
            "pacemaker:stonith:enabled",
            "must be set explicitly: true (with stonith:devices) or false to run without fencing",
        )
    elif enabled and not stonith.get("devices"):
        errors.add("pacemaker:stonith:devices", "empty while fencing is enabled; describe at least one fence device")
    for dev_id, device in (stonith.get("devices") or {}).items():
        if not isinstance(device, dict) or not device.get("agent"):
            errors.add(f"pacemaker:stonith:devices:{dev_id}:agent", "missing; e.g. stonith:fence_ipmilan")
    if pcmk.get("no_quorum_policy") not in NO_QUORUM_POLICIES:
        errors.add("pacemaker:no_quorum_policy", f"must be one of {', '.join(NO_QUORUM_POLICIES)}")
    _expect(errors, "pacemaker:token", pcmk.get("token"), int)


def _keepalived(errors: Errors, keepalived: dict, networks: dict) -> None:
    advert = keepalived.get("advert_int")
    if isinstance(advert, bool) or not isinstance(advert, (int, float)) or advert <= 0:
        errors.add("keepalived:advert_int", f"{advert!r} must be a positive number of seconds")
    router_ids = keepalived.get("router_ids") or {}
    if _expect(errors, "keepalived:router_ids", router_ids, dict):
        seen: dict[int, str] = {}
        for net, rid in router_ids.items():
            key = f"keepalived:router_ids:{net}"
            if net not in networks:
                errors.add(key, "no such network")
            if isinstance(rid, bool) or not isinstance(rid, int) or not 1 <= rid <= 255:
                errors.add(key, f"{rid!r} must be an integer from 1 to 255")
            elif rid in seen:
                errors.add(key, f"router id {rid} is also used by network {seen[rid]}")
            else:
                seen[rid] = net


def _rabbitmq(errors: Errors, rabbitmq: dict) -> None:
    vhosts = rabbitmq.get("vhosts")
    if not _expect(errors, "rabbitmq:vhosts", vhosts, list):
        vhosts = []
    users = rabbitmq.get("users") or {}
    if not _expect(errors, "rabbitmq:users", users, dict):
        users = {}
    for user, spec in users.items():
        key = f"rabbitmq:users:{user}"
        if user == "guest":
            errors.add(key, "guest is removed by prereqos; name the account otherwise")
        if spec is None:
            continue
        if not _expect(errors, key, spec, dict):
            continue
        for extra in sorted(set(spec) - {"tags", "permissions"}):
            errors.add(f"{key}:{extra}", "unknown key; a user has tags and permissions (its password is in secrets)")
        for vhost, perms in (spec.get("permissions") or {}).items():
            if vhost not in vhosts:
                errors.add(f"{key}:permissions:{vhost}", "vhost not in rabbitmq:vhosts")
            if not (isinstance(perms, list) and len(perms) == 3 and all(isinstance(p, str) for p in perms)):
                errors.add(f"{key}:permissions:{vhost}", "must be [configure, write, read] regular expressions")
    policies = rabbitmq.get("policies") or {}
    if _expect(errors, "rabbitmq:policies", policies, dict):
        for name, policy in policies.items():
            key = f"rabbitmq:policies:{name}"
            if not _expect(errors, key, policy, dict):
                continue
            if policy.get("vhost", "/") not in vhosts:
                errors.add(f"{key}:vhost", "vhost not in rabbitmq:vhosts")
            if not isinstance(policy.get("pattern"), str):
                errors.add(f"{key}:pattern", "missing; a regular expression of queue/exchange names")
            if not isinstance(policy.get("definition"), dict) or not policy.get("definition"):
                errors.add(f"{key}:definition", "missing; a mapping of policy keys")
            if policy.get("apply_to", "all") not in POLICY_TARGETS:
                errors.add(f"{key}:apply_to", f"must be one of {', '.join(POLICY_TARGETS)}")


def validate(config: dict, raw: dict, defaults: dict) -> list[str]:
    """Every problem of the merged ``config`` (site pillar ``raw``), as text."""
    errors = Errors()
    if not raw:
        errors.add("", "no pillar for this minion; assign the site pillar (start from pillar.example)")
        return errors.items
    check_unknown_keys(errors, raw, defaults)
    for key, kind in (
        ("networks", dict),
        ("haproxy", dict),
        ("keepalived", dict),
        ("pacemaker", dict),
        ("rabbitmq", dict),
        ("galera", dict),
        ("apache", dict),
        ("buildenv", dict),
        ("openrc", dict),
    ):
        if not _expect(errors, key, config.get(key), kind):
            return errors.items
    if not isinstance(config.get("cluster_name"), str) or not NAME_RE.match(config["cluster_name"]):
        errors.add("cluster_name", "must be letters, digits, '-', '_' or '.'")
    if config.get("vip_manager") not in VIP_MANAGERS:
        errors.add("vip_manager", f"{config.get('vip_manager')!r} is not one of {', '.join(VIP_MANAGERS)}")
    networks = config["networks"]
    if not networks:
        errors.add("networks", "empty; describe at least the internal network 'srv' (cidr, interface, vip)")
    checked = {}
    for name, net in networks.items():
        cidr = _network(errors, str(name), net)
        checked[name] = {**net, "_cidr": cidr} if isinstance(net, dict) else {}
    ids = _controllers(errors, config.get("controllers"), checked)
    if len(ids) < MIN_QUORUM_CONTROLLERS and not config.get("allow_small_cluster"):
        errors.add(
            "controllers",
            f"{len(ids)} controller(s); quorum needs {MIN_QUORUM_CONTROLLERS} "
            "(set allow_small_cluster: true to accept a cluster that cannot survive a failure)",
        )
    bootstrap = config.get("bootstrap")
    if not bootstrap:
        errors.add("bootstrap", "missing; name the controller (minion id) that starts new clusters")
    elif bootstrap not in ids:
        errors.add("bootstrap", f"{bootstrap!r} is not among the controllers ({', '.join(ids) or 'none'})")
    _services(errors, config)
    _secrets(errors, config)
    if config.get("vip_manager") == "pacemaker":
        _pacemaker(errors, config["pacemaker"])
    else:
        _keepalived(errors, config["keepalived"], networks)
    _rabbitmq(errors, config["rabbitmq"])
    galera = config["galera"]
    if _expect(errors, "galera:check_port", galera.get("check_port"), int) and galera["check_port"] in (
        3306,
        4444,
        4567,
        4568,
    ):
        errors.add("galera:check_port", f"{galera['check_port']} is a port MariaDB/Galera uses itself")
    if galera.get("recover_from") is not None and galera["recover_from"] not in ids:
        errors.add(
            "galera:recover_from",
            f"{galera['recover_from']!r} is not among the controllers ({', '.join(ids) or 'none'}); "
            "name the controller orch.prereqos_recover must bootstrap, or leave it unset",
        )
    apache = config["apache"]
    if apache.get("network") not in networks:
        errors.add("apache:network", f"unknown network {apache.get('network')!r}")
    if _expect(errors, "apache:ports", apache.get("ports"), list):
        for port in apache["ports"]:
            if isinstance(port, bool) or not isinstance(port, int) or not 1 <= port <= 65535:
                errors.add("apache:ports", f"{port!r} is not a TCP port")
    openrc = config["openrc"]
    if openrc.get("ensure") not in OPENRC_ENSURE:
        errors.add("openrc:ensure", f"must be one of {', '.join(OPENRC_ENSURE)}")
    elif openrc["ensure"] == "present":
        if openrc.get("network") not in networks:
            errors.add("openrc:network", f"unknown network {openrc.get('network')!r}")
        if "keystone" not in _enabled_services(config):
            errors.add("openrc:ensure", "present needs the keystone service in haproxy:services")
    return errors.items


# ---------------------------------------------------------------- deriving
def _check_line(service: dict, check_port: int, defaults: dict) -> dict:
    check = {"kind": "http", "path": "/", "expect": "status 200", **(service.get("check") or {})}
    server = (
        f"check inter {defaults['inter']} fastinter {defaults['fastinter']} "
        f"rise {defaults['rise']} fall {defaults['fall']}"
    )
    if check["kind"] == "galera":
        server += f" port {check_port}"
    return {**check, "server": server}


def stats_password_hash(password: str, cluster_name: str, user: str) -> str:
    """SHA-512 crypt hash for haproxy's userlist; the salt is derived from the
    site so every node renders the same file and a re-run changes nothing."""
    crypt_salt = hashlib.sha256(f"prereqos:{cluster_name}:{user}".encode()).hexdigest()[:16]
    return salt.utils.pycrypto.gen_hash(crypt_salt=crypt_salt, password=password, algorithm="sha512")


def pacemaker_config(config: dict, vips: dict) -> dict:
    """The CIB objects prereqos owns, in pacemaker_cluster's normalised shape."""
    pcmk = config["pacemaker"]
    haproxy = config["lookup"]["services"]["haproxy"]
    primitives: dict[str, dict] = {
        "haproxy": {"agent": f"systemd:{haproxy}", "params": {}, "meta": {}, "ops": {"monitor": {"interval": "5s"}}},
    }
    colocations, orders = {}, {}
    for name, vip in sorted(vips.items()):
        rsc = f"vip_{name}"
        primitives[rsc] = {
            "agent": "ocf:heartbeat:IPaddr2",
            "params": {"ip": vip["address"], "cidr_netmask": str(vip["prefixlen"]), "nic": vip["interface"]},
            "meta": {},
            "ops": {"monitor": {"interval": "10s"}},
        }
        colocations[f"{rsc}-with-haproxy"] = {"score": "INFINITY", "rsc": rsc, "with_rsc": "haproxy-clone"}
        orders[f"haproxy-before-{rsc}"] = {"kind": "Optional", "first": "haproxy-clone", "then": rsc}
    for dev_id, device in sorted((pcmk["stonith"].get("devices") or {}).items()):
        primitives[dev_id] = {
            "agent": device["agent"],
            "params": {k: str(v) for k, v in (device.get("params") or {}).items()},
            "meta": {},
            "ops": {"monitor": {"interval": "60s"}},
        }
    return {
        "properties": {
            "stonith-enabled": str(bool(pcmk["stonith"]["enabled"])).lower(),
            "no-quorum-policy": pcmk["no_quorum_policy"],
            "cluster-name": config["cluster_name"],
        },
        "rsc_defaults": {"resource-stickiness": str(pcmk["resource_stickiness"])},
        "primitives": primitives,
        "clones": {"haproxy-clone": {"rsc": "haproxy", "meta": {}}},
        "colocations": colocations,
        "orders": orders,
    }


def erlang_ip_tuple(address: str) -> str:
    """An IP address as an Erlang tuple (``{192,0,2,11}``; IPv6: eight 16-bit words)."""
    packed = ipaddress.ip_address(address).packed
    size = 1 if len(packed) == 4 else 2
    words = [int.from_bytes(packed[i : i + size], "big") for i in range(0, len(packed), size)]
    return "{" + ",".join(str(w) for w in words) + "}"


def derive(config: dict, minion_id: str | None) -> dict:
    """Add what templates need to a valid ``config``: this node, VIPs, listeners."""
    networks = config["networks"]
    nodes = []
    for index, node in enumerate(config["controllers"], start=1):
        nodes.append(
            {
                "id": node["id"],
                "hostname": node.get("hostname", node["id"]),
                "addresses": node["addresses"],
                "index": index,
                # Earlier controllers are preferred VIP holders (keepalived priority).
                "priority": 200 - 10 * index,
            }
        )
    first_rid = config["keepalived"]["first_router_id"]
    vips = {}
    for offset, (name, net) in enumerate(sorted(networks.items())):
        cidr = ipaddress.ip_network(net["cidr"])
        vips[name] = {
            "network": name,
            "address": net["vip"],
            "prefixlen": cidr.prefixlen,
            "interface": net["interface"],
            "router_id": config["keepalived"]["router_ids"].get(name, first_rid + offset),
        }
    internal = "srv" if "srv" in networks else sorted(networks)[0]
    services = {}
    for name, service in sorted(_enabled_services(config).items()):
        backend_network = service.get("backend_network", internal)
        port = service["port"]
        services[name] = {
            "name": name,
            "port": port,
            "backend_port": service.get("backend_port", port),
            "mode": service.get("mode", "http"),
            "balance": service.get("balance", "roundrobin"),
            "active_backup": service.get("active_backup", False),
            "tls": service.get("tls", False),
            "idle_timeout": service.get("idle_timeout"),
            "binds": [{"address": networks[n]["vip"], "port": port, "network": n} for n in service["networks"]],
            "servers": [{"name": n["hostname"], "address": n["addresses"][backend_network]} for n in nodes],
            "check": _check_line(service, config["galera"]["check_port"], config["haproxy"]["check"]),
        }
    me = next((n for n in nodes if n["id"] == minion_id), None)
    bootstrap = next(n for n in nodes if n["id"] == config["bootstrap"])
    stats = config["haproxy"]["stats"]
    return {
        **config,
        "internal_network": internal,
        "nodes": nodes,
        "node_ids": [n["id"] for n in nodes],
        "me": me,
        "is_bootstrap": me is not None and me["id"] == bootstrap["id"],
        "bootstrap_node": bootstrap,
        "vips": vips,
        "services_enabled": services,
        "tls_enabled": any(s["tls"] for s in services.values()),
        "stats_password_hash": (
            stats_password_hash(config["secrets"]["haproxy_stats_password"], config["cluster_name"], stats["user"])
            if stats.get("enabled")
            else None
        ),
        "pacemaker_config": pacemaker_config(config, vips) if config["vip_manager"] == "pacemaker" else None,
        "rabbitmq_nodes": [f"rabbit@{n['hostname']}" for n in nodes],
        "rabbitmq_bootstrap_node": f"rabbit@{bootstrap['hostname']}",
        "galera_cluster_address": "gcomm://" + ",".join(n["addresses"][internal] for n in nodes),
        "erlang_dist_address": erlang_ip_tuple(me["addresses"][internal]) if me else None,
    }


def settings(defaults: dict, osmap: dict, pillar: dict | None = None, minion_id: str | None = None) -> dict:
    """The merged, validated and derived prereqos settings for this minion.

    Raises ``CommandExecutionError`` listing every problem, so a render of any
    prereqos SLS fails before a single state runs.
    """
    site = __pillar__.get("prereqos", {}) if pillar is None else pillar
    if minion_id is None:
        minion_id = __grains__.get("id")
    base = defaults["prereqos"]
    config = merged_config(base, osmap, site if isinstance(site, dict) else {})
    problems = (
        validate(config, site if isinstance(site, dict) else {}, base)
        if isinstance(site, dict)
        else ["prereqos: expected a mapping"]
    )
    if problems:
        raise CommandExecutionError("invalid prereqos pillar:\n  " + "\n  ".join(problems))
    return derive(config, minion_id)


# ------------------------------------------------- states before install
def not_installed(name: str, package: str, action: str, changes: bool = True, test: bool = False) -> dict[str, Any]:
    """The return of a state whose tool (``package``) is not installed yet.

    Under test=True that is expected on a fresh node (an earlier step installs
    the package), so the state predicts ``action``; otherwise it fails and says
    what to install first. ``changes``: whether ``action`` changes the node.
    """
    if test:
        return {
            "name": name,
            "result": None,
            "changes": {"predicted": {"old": None, "new": action}} if changes else {},
            "comment": f"{package} is not installed yet (an earlier step installs it): would {action}",
        }
    return {
        "name": name,
        "result": False,
        "changes": {},
        "comment": f"{package} is not installed: cannot {action}; apply the prereqos part that installs it first",
    }


# ------------------------------------------------------- node-level checks
def _state_tree_settings() -> dict:
    """settings() with defaults.yaml and the os map fetched from the state tree."""
    defaults = yaml.safe_load(__salt__["cp.get_file_str"]("salt://prereqos/defaults.yaml"))
    osfamilymap = yaml.safe_load(__salt__["cp.get_file_str"]("salt://prereqos/osfamilymap.yaml"))
    osmap = osfamilymap.get(__grains__.get("os_family"), osfamilymap["Debian"])
    return settings(defaults, osmap)


def parse_ip_addresses(ip_json: str) -> dict[str, list[str]]:
    """``ip -j addr show`` output -> {interface: [addresses]}."""
    try:
        links = json.loads(ip_json or "[]")
    except ValueError as exc:
        raise CommandExecutionError(f"cannot parse `ip -j addr show` output: {exc}") from exc
    return {link["ifname"]: [a["local"] for a in link.get("addr_info", []) if "local" in a] for link in links}


def local_addresses() -> dict[str, list[str]]:
    """Addresses configured on this node, per interface."""
    result = __salt__["cmd.run_all"](["ip", "-j", "addr", "show"], python_shell=False)
    if result["retcode"] != 0:
        raise CommandExecutionError(f"ip addr show failed: {result['stderr']}")
    return parse_ip_addresses(result["stdout"])


def parse_arp_table(text: str) -> dict[str, str]:
    """/proc/net/arp -> {address: mac} for complete entries only."""
    table = {}
    for line in text.splitlines()[1:]:
        fields = line.split()
        if len(fields) >= 4 and fields[2] == "0x2":
            table[fields[0]] = fields[3].lower()
    return table


def _arp_resolve(addresses: list[str], wait: float = 1.0) -> dict[str, str]:
    """MAC of each address that answers ARP within ``wait`` seconds."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        for address in addresses:
            with contextlib.suppress(OSError):
                sock.sendto(b"", (address, 9))  # any datagram makes the kernel ask ARP
    deadline = time.monotonic() + wait
    while True:
        with open("/proc/net/arp", encoding="ascii") as handle:
            table = parse_arp_table(handle.read())
        if all(a in table for a in addresses) or time.monotonic() >= deadline:
            return {a: table[a] for a in addresses if a in table}
        time.sleep(0.1)


def preflight_problems(config: dict, hostname: str, addresses: dict[str, list[str]], arp: dict[str, str]) -> list[str]:
    """Why this node cannot be converged as the pillar describes it (pure)."""
    me = config["me"]
    if me is None:
        known = ", ".join(config["node_ids"])
        return [f"this minion is not in prereqos:controllers ({known}); add it or target only controllers"]
    problems = []
    if hostname != me["hostname"]:
        problems.append(
            f"controller {me['id']}: host name is '{hostname}' but the pillar says '{me['hostname']}'; "
            f"set prereqos:controllers:{me['id']}:hostname or fix the host name"
        )
    for net, vip in config["vips"].items():
        own = me["addresses"][net]
        if own not in addresses.get(vip["interface"], []):
            problems.append(
                f"controller {me['id']}: address {own} (network {net}) is not configured on interface "
                f"{vip['interface']}; fix prereqos:networks:{net}:interface or the node's network"
            )
        held_here = vip["address"] in addresses.get(vip["interface"], [])
        owner = arp.get(vip["address"])
        peers = {arp.get(n["addresses"][net]) for n in config["nodes"] if n["id"] != me["id"]}
        if not held_here and owner and owner not in peers:
            problems.append(
                f"VIP {vip['address']} (network {net}) already answers from MAC {owner}, which is no controller: "
                "another host uses it; choose a free address for prereqos:networks:" + net + ":vip"
            )
    return problems


def preflight() -> dict:
    """Check this node against the pillar before any change; never changes anything."""
    config = _state_tree_settings()
    addresses = local_addresses()
    arp: dict[str, str] = {}
    if config["me"] is not None:
        probe = [v["address"] for v in config["vips"].values()]
        probe += [
            n["addresses"][net] for net in config["vips"] for n in config["nodes"] if n["id"] != config["me"]["id"]
        ]
        arp = _arp_resolve(probe)
    problems = preflight_problems(config, __grains__.get("host", ""), addresses, arp)
    return {"ok": not problems, "problems": problems}


def parse_haproxy_stat(csv_text: str) -> dict[str, dict[str, str]]:
    """haproxy ``show stat`` CSV -> {proxy: {server: status}} (servers only)."""
    lines = csv_text.strip().splitlines()
    if not lines or not lines[0].startswith("# "):
        raise CommandExecutionError("unexpected haproxy `show stat` output")
    header = lines[0][2:].split(",")
    result: dict[str, dict[str, str]] = {}
    for line in lines[1:]:
        row = dict(zip(header, line.split(","), strict=False))
        if row.get("svname") in ("FRONTEND", "BACKEND", None):
            continue
        result.setdefault(row["pxname"], {})[row["svname"]] = row.get("status", "")
    return result


def haproxy_backends(socket_path: str = "/run/haproxy/admin.sock") -> dict[str, dict[str, str]]:
    """Server status per listener, from haproxy's runtime API."""
    chunks = []
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.settimeout(5)
        sock.connect(socket_path)
        sock.sendall(b"show stat\n")
        while chunk := sock.recv(65536):
            chunks.append(chunk)
    return parse_haproxy_stat(b"".join(chunks).decode())


def _part_health(module: str, **kwargs: Any) -> dict[str, Any]:
    """``<module>.health(**kwargs)``, or a problem when its tool is not installed."""
    function = f"{module}.health"
    if function not in __salt__:
        return {"ok": False, "problems": [f"not installed ({module} is not loaded)"]}
    return __salt__[function](**kwargs)


def health() -> dict:
    """This node's view of the cluster: VIPs held, haproxy backends, VIP
    manager, RabbitMQ and Galera. ``ok`` only when every part is healthy."""
    config = _state_tree_settings()
    problems: list[str] = []
    report: dict[str, Any] = {"node": __grains__.get("id")}
    held = {a for addrs in local_addresses().values() for a in addrs}
    report["vips_held"] = sorted(v["address"] for v in config["vips"].values() if v["address"] in held)
    try:
        report["haproxy"] = haproxy_backends(config["lookup"]["paths"]["haproxy_socket"])
    except (OSError, CommandExecutionError) as exc:
        report["haproxy"] = {}
        problems.append(f"haproxy runtime API unreachable: {exc}")
    for name, service in config["services_enabled"].items():
        if service["check"]["kind"] == "galera" and "UP" not in report["haproxy"].get(name, {}).values():
            problems.append(f"haproxy: no Galera server is UP behind {name}")
    hostnames = [n["hostname"] for n in config["nodes"]]
    if config["vip_manager"] == "pacemaker":
        resources = ["haproxy-clone", *(f"vip_{n}" for n in config["vips"])]
        report["pacemaker"] = _part_health("pacemaker_cluster", expected_nodes=hostnames, resources=resources)
        parts = ["pacemaker"]
    else:
        active = __salt__["service.status"](config["lookup"]["services"]["keepalived"])
        report["keepalived"] = {
            "ok": bool(active),
            "active": bool(active),
            "problems": [] if active else ["keepalived is not running"],
        }
        parts = ["keepalived"]
    report["rabbitmq"] = _part_health("rabbitmq_cluster", expected_nodes=config["rabbitmq_nodes"])
    report["galera"] = _part_health("galera_cluster", expected_size=len(config["nodes"]))
    for part in [*parts, "rabbitmq", "galera"]:
        problems += [f"{part}: {p}" for p in report[part].get("problems", [])]
    report["problems"] = problems
    report["ok"] = not problems
    return report
