"""The prereqos pillar contract: merge, validate and derive a site's settings.

Plain Python, no Salt dunders: the ``prereqos`` execution module imports it for
``map.jinja`` (``import prereqos_settings``; Salt puts the synced ``_utils``
directory on ``sys.path``), and so do the tests. Every rule lives here, so any
prereqos SLS stops at render time, naming the pillar key and the fix, before
anything changes on any node. No message ever holds a value under ``secrets``.
"""

from __future__ import annotations

import base64
import binascii
import copy
import difflib
import hashlib
import ipaddress
import math
import posixpath
import re
import unicodedata
from collections.abc import Callable
from typing import Any

import prereqos_crypt
import prereqos_maintenance

# Where the deploy leaves this node's non-secret facts for prereqos.health and
# prereqos.preflight: a fixed place, so both work from the command line with no
# argument (derive hands it to the SLS as ``facts_path``).
FACTS_PATH = "/etc/prereqos/facts.json"

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
# keepalived VRRP priorities 250, 240, ... 10, one per controller.
MAX_KEEPALIVED_CONTROLLERS = 25
# Ports MariaDB/Galera listen on themselves (client, SST, group communication, IST).
GALERA_PORTS = (3306, 4444, 4567, 4568)
# HAProxy keeps times in milliseconds in a signed 32-bit integer.
HAPROXY_MAX_MS = 2**31 - 1
HAPROXY_TIME_UNITS_MS = {"us": 0.001, "ms": 1, "": 1, "s": 1000, "m": 60_000, "h": 3_600_000, "d": 86_400_000}
# HAProxy needs about two file descriptors per connection; Linux allows a
# process 1048576 (fs.nr_open).
HAPROXY_MAXCONN = (1, 500_000)
# VRRPv3 carries the advert interval in centiseconds, in 12 bits.
ADVERT_INT_SECONDS = (0.01, 40.95)
# corosync totem token (ms): below, a busy node is declared dead; above, a dead
# node keeps its VIPs for minutes.
COROSYNC_TOKEN_MS = (500, 60_000)
# Galera's gcs.fc_limit: below its default, a single writer stalls more often.
FLOW_CONTROL_LIMIT = (16, 2**31 - 1)
# galera:membership_retransmit_ms: from Galera's defaults (1000, for busy networks) down to LANs'.
MEMBERSHIP_RETRANSMIT_MS = (100, 1000)
# haproxy:hard_stop_after under pacemaker: its stop operation times out after
# 20 s, and systemd kills what is left of haproxy this long after hard-stop-after.
PACEMAKER_HAPROXY_STOP_MS = 15_000
HAPROXY_STOP_MARGIN_S = 3
# MariaDB's own range for max_connections.
MAX_CONNECTIONS = (10, 100_000)
# my_print_defaults / mariadbd read an option-file line into a 4096-byte buffer:
# a longer line is cut in two.
MARIADB_OPTION_LINE_MAX = 4094
LINUX_IFNAMSIZ = 16

NAME_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]*")
SHORT_HOSTNAME_RE = re.compile(r"[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?")
NETWORK_NAME_RE = re.compile(r"[A-Za-z][A-Za-z0-9_-]{0,31}")
# Names written bare into haproxy.cfg, the CIB, SLS ids and commands.
IDENTIFIER_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.@-]{0,63}")
CIB_ID_RE = re.compile(r"[A-Za-z_][A-Za-z0-9_.-]*")
STONITH_AGENT_RE = re.compile(r"stonith:[A-Za-z0-9_.-]+")
VHOST_RE = re.compile(r"[A-Za-z0-9_./@-]{1,255}")
SQL_USER_RE = re.compile(r"[A-Za-z0-9_]{1,80}")
APACHE_MODULE_RE = re.compile(r"[a-z0-9_]+")
DEBIAN_PACKAGE_RE = re.compile(r"[a-z0-9][a-z0-9+.-]+")
SYSTEMD_UNIT_RE = re.compile(r"[A-Za-z0-9@._:-]+")
PATH_RE = re.compile(r"/[A-Za-z0-9._+@/-]*")
SIZE_RE = re.compile(r"[1-9][0-9]*[KMGTPE]?", re.IGNORECASE)
SCORE_RE = re.compile(r"[+-]?([0-9]+|INFINITY)")
HAPROXY_TIME_RE = re.compile(r"([0-9]+)(us|ms|s|m|h|d)?")
# `http-check expect [!]<match> <pattern>`: one token, nothing haproxy.cfg would unquote.
CHECK_EXPECT_RE = re.compile(r"!?(status|rstatus|string|rstring) [^\s#\"'\\]+")
CHECK_PATH_RE = re.compile(r"/[^\s#\"'\\]*")
# Characters a POSIX shell and a MariaDB option file take bare (shlex's set):
# a value with any other character is quoted.
# Release-specific lines of rabbitmq.conf and MariaDB's option file (lookup).
CONF_KEY_RE = re.compile(r"[a-z0-9_][a-z0-9_.-]*")
CONF_VALUE_RE = re.compile(r"[A-Za-z0-9_.-]+")
SAFE_WORD_RE = re.compile(r"[A-Za-z0-9_@%+=:,./-]+")
ERLANG_COOKIE_RE = re.compile(r"[A-Za-z0-9]{20,255}")
# What str.splitlines() breaks on: each would cut a secret in two somewhere.
LINE_BREAKS = frozenset("\n\r\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029")

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
SECTIONS = (
    "networks",
    "haproxy",
    "keepalived",
    "pacemaker",
    "rabbitmq",
    "galera",
    "apache",
    "buildenv",
    "openrc",
    "maintenance",
)
# Seconds (maintenance:drain_timeout, maintenance:ready_timeout).
MAINTENANCE_SECONDS = {"drain_timeout": (0, 3600), "ready_timeout": (1, 86_400)}
SERVICE_KEYS: dict[str, type | tuple[type, ...]] = {
    "enabled": bool,
    "port": int,
    "backend_port": (int, type(None)),
    "backend_network": (str, type(None)),
    "networks": list,
    "mode": str,
    "balance": str,
    "active_backup": bool,
    "tls": bool,
    "idle_timeout": (str, int, type(None)),
    "check": dict,
}
CHECK_KEYS = ("kind", "path", "expect")
# RabbitMQ objects and the defaults each is merged over.
RABBITMQ_DEFAULTS = {"users": "user_defaults", "policies": "policy_defaults"}
CONTROLLER_KEYS = {"id", "hostname", "addresses"}
NETWORK_KEYS = {"cidr", "interface", "vip"}
# pip.installed arguments a site may set; the SLS sets pkgs and bin_env itself.
PIP_OPTIONS: dict[str, type | tuple[type, ...]] = {
    "index_url": str,
    "extra_index_url": (str, list),
    "no_index": bool,
    "find_links": (str, list),
    "trusted_host": (str, list),
    "proxy": str,
    "cert": str,
    "timeout": int,
    "upgrade": bool,
    "force_reinstall": bool,
    "ignore_installed": bool,
    "no_deps": bool,
    "pre_releases": bool,
    "no_binary": (str, list),
    "no_cache_dir": bool,
    "cache_dir": str,
    "exists_action": str,
    "extra_args": list,
    "global_options": (str, list),
    "install_options": (str, list),
    "env_vars": dict,
}


class InvalidPillar(ValueError):
    """The site pillar breaks the contract; ``problems`` lists each ``key: problem; fix``."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        super().__init__("invalid prereqos pillar:\n  " + "\n  ".join(problems))


class Errors:
    """Collects validation errors, each as ``prereqos:<key>: <problem>; <fix>``, once each."""

    def __init__(self) -> None:
        self.items: list[str] = []

    def add(self, key: str, problem: str) -> None:
        item = f"prereqos:{key}: {problem}"
        if item not in self.items:
            self.items.append(item)

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


def service_settings(config: dict, name: str) -> dict:
    """Service ``name`` as used: ``haproxy:service_defaults`` <- its own keys."""
    return merge(config["haproxy"].get("service_defaults") or {}, config["haproxy"]["services"][name])


def enabled_services(config: dict) -> dict[str, dict]:
    """Every enabled service (defaults applied), by name."""
    haproxy = config.get("haproxy")
    services = haproxy.get("services") if isinstance(haproxy, dict) else None
    if not isinstance(services, dict) or not isinstance(haproxy.get("service_defaults") or {}, dict):
        return {}
    views = {name: service_settings(config, name) for name, s in services.items() if isinstance(s, dict)}
    return {name: view for name, view in views.items() if view.get("enabled") is not False}


# ---------------------------------------------------- encoders for consumers
def mariadb_option_value(value: str) -> str:
    """``value`` for a MariaDB option file, read back as is by mariadbd and my_print_defaults:
    bare when every character is safe, else in double quotes, which the parser strips,
    keeping blanks and ``#`` inside and undoing ``\\\\`` and ``\\"``."""
    if SAFE_WORD_RE.fullmatch(value):
        return value
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def shell_word(value: str) -> str:
    """``value`` as one POSIX shell word: bare when every character is safe, else in
    single quotes, each ``'`` written ``'\\''``."""
    if SAFE_WORD_RE.fullmatch(value):
        return value
    return "'" + value.replace("'", "'\\''") + "'"


def stats_password_hash(password: str, cluster_name: str, user: str) -> str:
    """SHA-512 crypt hash for haproxy's userlist; the salt is derived from the
    site so every node renders the same file and a re-run changes nothing."""
    crypt_salt = hashlib.sha256(f"prereqos:{cluster_name}:{user}".encode()).hexdigest()[:16]
    return prereqos_crypt.sha512_crypt(password, crypt_salt)


def erlang_ip_tuple(address: str) -> str:
    """An IP address as an Erlang tuple (``{192,0,2,11}``; IPv6: eight 16-bit words)."""
    packed = ipaddress.ip_address(address).packed
    size = 1 if len(packed) == 4 else 2
    words = [int.from_bytes(packed[i : i + size], "big") for i in range(0, len(packed), size)]
    return "{" + ",".join(str(w) for w in words) + "}"


def haproxy_duration_ms(value: Any) -> float | None:
    """Milliseconds of a HAProxy time (``<int>[us|ms|s|m|h|d]``, bare = ms), or None if not one."""
    if isinstance(value, bool) or not isinstance(value, int | str):
        return None
    match = HAPROXY_TIME_RE.fullmatch(str(value))
    if match is None:
        return None
    return int(match.group(1)) * HAPROXY_TIME_UNITS_MS[match.group(2) or ""]


# ------------------------------------------------------------- validation
def _type_name(value: Any) -> str:
    return {dict: "a mapping", list: "a list", str: "a string", bool: "true/false"}.get(
        type(value), type(value).__name__
    )


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _expect(errors: Errors, key: str, value: Any, kind: type | tuple[type, ...], secret: bool = False) -> bool:
    """Check ``value`` is of ``kind`` (bool is not an int); report if not (a secret by its type only)."""
    kinds = kind if isinstance(kind, tuple) else (kind,)
    ok = any(isinstance(value, k) and not (k is int and isinstance(value, bool)) for k in kinds)
    if not ok:
        want = {int: "an integer", str: "a string", bool: "true or false", list: "a list", dict: "a mapping"}
        wanted = " or ".join(want.get(k, k.__name__) for k in kinds if k is not type(None))
        got = _type_name(value) if secret else f"{_type_name(value)} {value!r}"
        errors.add(key, f"expected {wanted}, got {got}")
    return ok


def _int_in(errors: Errors, key: str, value: Any, low: int, high: int | None, what: str) -> bool:
    """``value`` is an integer from ``low`` to ``high`` (None: no upper bound); report if not."""
    if not _expect(errors, key, value, int):
        return False
    if value < low or (high is not None and value > high):
        bounds = f"from {low} to {high}" if high is not None else f"of {low} or more"
        errors.add(key, f"{value} is out of range; {what} is an integer {bounds}")
        return False
    return True


def _port(errors: Errors, key: str, value: Any) -> bool:
    if not _expect(errors, key, value, int):
        return False
    if not 1 <= value <= 65535:
        errors.add(key, f"{value} is not a TCP port (1-65535)")
        return False
    return True


def _matches(errors: Errors, key: str, value: Any, pattern: re.Pattern[str], what: str) -> bool:
    """``value`` is a string matching ``pattern``; else report ``what`` it must be."""
    if not isinstance(value, str) or not pattern.fullmatch(value):
        errors.add(key, f"{value!r} is not {what}")
        return False
    return True


def _path(errors: Errors, key: str, value: Any) -> None:
    """An absolute, normalised path that config files and commands can hold bare."""
    if not (isinstance(value, str) and PATH_RE.fullmatch(value) and posixpath.normpath(value) == value):
        errors.add(
            key,
            f"{value!r} is not an absolute path; write it like /etc/prereqos/file "
            "(letters, digits and . _ + @ - between slashes, no '..', no trailing slash)",
        )


def _duration(errors: Errors, key: str, value: Any, optional: bool = False) -> None:
    """A positive HAProxy time that fits HAProxy's 32-bit millisecond counter."""
    if optional and value is None:
        return
    ms = haproxy_duration_ms(value)
    if ms is None or ms <= 0:
        errors.add(key, f"{value!r} is not a HAProxy duration; write a positive <integer>[us|ms|s|m|h|d], e.g. 5s")
    elif math.ceil(ms) > HAPROXY_MAX_MS:
        errors.add(key, f"{value} exceeds HAProxy's limit of {HAPROXY_MAX_MS} ms (about 24.8 days)")


def _text(errors: Errors, key: str, value: Any) -> None:
    """A non-empty one-line string (it is written into a file or a command)."""
    if not _expect(errors, key, value, str):
        return
    if not value:
        errors.add(key, "empty; give a value")
    problem = unusable_character(value)
    if problem:
        errors.add(key, f"{problem}; write it on one line of printable characters")


def unusable_character(value: str) -> str | None:
    """The first character no consumer can take intact, described by its code point only."""
    for char in value:
        if char in LINE_BREAKS:
            return f"contains a line break (U+{ord(char):04X})"
        if unicodedata.category(char) in ("Cc", "Cs"):
            return f"contains the control character U+{ord(char):04X}"
    return None


def check_unknown_keys(errors: Errors, raw: Any, reference: Any, path: str = "") -> None:
    """Report keys of the site pillar that defaults.yaml or the OS map does not know (typos)."""
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


def _network(errors: Errors, name: Any, net: Any) -> ipaddress.IPv4Network | ipaddress.IPv6Network | None:
    key = f"networks:{name}"
    if not isinstance(name, str) or not NETWORK_NAME_RE.fullmatch(name):
        errors.add(key, "not a usable network name; use up to 32 letters, digits, '_' or '-', starting with a letter")
    if not _expect(errors, key, net, dict):
        return None
    for extra in sorted(set(net) - NETWORK_KEYS):
        errors.add(f"{key}:{extra}", f"unknown key; a network has {', '.join(sorted(NETWORK_KEYS))}")
    for field in ("cidr", "interface", "vip"):
        if not net.get(field):
            errors.add(f"{key}:{field}", "missing; every network needs cidr, interface and vip")
    interface = net.get("interface")
    if interface and not _linux_interface_name(interface):
        errors.add(
            f"{key}:interface",
            f"{interface!r} is not a Linux interface name (1-15 characters, no '/', ':' or whitespace); "
            "name the interface, e.g. eth0 or bond0.100",
        )
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


def _is_network(networks: dict, name: Any) -> bool:
    return isinstance(name, str) and name in networks


def _stats_enabled(config: dict) -> bool:
    stats = config["haproxy"].get("stats")
    return isinstance(stats, dict) and stats.get("enabled") is True


def _linux_interface_name(name: Any) -> bool:
    """The kernel's rule (dev_valid_name): 1-15 bytes, not . or .., no '/', ':' or whitespace."""
    if not isinstance(name, str) or name in (".", ".."):
        return False
    if not 0 < len(name.encode()) < LINUX_IFNAMSIZ:
        return False
    return not any(char in "/:" or char.isspace() for char in name)


def _networks(errors: Errors, networks: dict) -> dict[str, dict]:
    """Each network checked; ranges and VIPs must not collide. Returns ``{name: {..., _cidr}}``."""
    checked: dict[str, dict] = {}
    for name, net in networks.items():
        cidr = _network(errors, name, net)
        checked[name] = {**net, "_cidr": cidr} if isinstance(net, dict) else {}
    seen: list[tuple[str, Any]] = []
    vips: dict[str, str] = {}
    for name, net in checked.items():
        cidr = net.get("_cidr")
        if cidr is not None:
            for other, other_cidr in seen:
                if cidr.version == other_cidr.version and cidr.overlaps(other_cidr):
                    errors.add(
                        f"networks:{name}:cidr",
                        f"{cidr} overlaps network {other} ({other_cidr}); each network needs its own range",
                    )
            seen.append((name, cidr))
        vip = str(net.get("vip"))
        if net.get("vip") and vip in vips:
            errors.add(f"networks:{name}:vip", f"{vip} is also the VIP of network {vips[vip]}; give each its own VIP")
        vips.setdefault(vip, name)
    return checked


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
        if not isinstance(node_id, str) or not NAME_RE.fullmatch(node_id):
            errors.add(f"{key}:id", f"{node_id!r} is not a minion id; give each controller its minion id")
            continue
        key = f"controllers:{node_id}"
        if node_id in ids:
            errors.add(key, "listed twice; list each controller once")
            continue
        ids.append(node_id)
        hostname = node.get("hostname", node_id)
        if not isinstance(hostname, str) or not SHORT_HOSTNAME_RE.fullmatch(hostname):
            errors.add(
                f"{key}:hostname",
                f"{hostname!r} is not a short host name (letters, digits and '-', no dots; RabbitMQ and "
                "corosync name nodes by it); set hostname to the node's `hostname -s`",
            )
        elif hostname in seen_hostnames:
            errors.add(f"{key}:hostname", f"{hostname} is also the host name of {seen_hostnames[hostname]}")
        else:
            seen_hostnames[hostname] = node_id
        addresses = node.get("addresses")
        if not _expect(errors, f"{key}:addresses", addresses, dict):
            continue
        for net_name in sorted(set(addresses) - set(networks), key=str):
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


# ---------------------------------------------------------------- secrets
def _secret(errors: Errors, secrets: dict, name: str, why: str) -> str | None:
    value = secrets.get(name)
    if value is None or value == "":
        errors.add(f"secrets:{name}", f"missing; required {why} (secrets have no default)")
        return None
    if not isinstance(value, str):
        errors.add(f"secrets:{name}", f"expected a string, got {_type_name(value)}; quote the value in the pillar")
        return None
    return value


def _password(errors: Errors, key: str, value: str | None, trimmed_by: str | None = None) -> None:
    """A password reaches its consumers intact unless a character would cut or change it there.

    Quotes, backslashes, ``$``, backticks, ``#``, ``;``, blanks and any
    printable Unicode are fine: each consumer gets them escaped in its syntax.
    """
    if value is None:
        return
    problem = unusable_character(value)
    if problem:
        errors.add(key, f"{problem}; use printable characters on one line (quotes, '\\', '$', spaces are fine)")
    if trimmed_by and value != value.strip():
        errors.add(key, f"starts or ends with whitespace, which {trimmed_by} trims; remove it")


def _secrets(errors: Errors, config: dict) -> None:
    secrets = config.get("secrets")
    if not _expect(errors, "secrets", secrets, dict, secret=True):
        return
    for extra in sorted(set(secrets) - set(SECRET_KEYS), key=str):
        close = difflib.get_close_matches(str(extra), SECRET_KEYS, n=1)
        hint = f"did you mean '{close[0]}'?" if close else f"known secrets: {', '.join(SECRET_KEYS)}"
        errors.add(f"secrets:{extra}", f"unknown secret; {hint}")
    for name in SECRET_KEYS:  # a secret given is checked even when no part needs it
        if name != "rabbitmq_users" and secrets.get(name) is not None:
            _secret(errors, secrets, name, "")
    cookie = _secret(errors, secrets, "erlang_cookie", "for RabbitMQ clustering")
    if cookie is not None and not ERLANG_COOKIE_RE.fullmatch(cookie):
        errors.add("secrets:erlang_cookie", "must be 20 to 255 letters and digits (RabbitMQ's rule)")
    _password(
        errors, "secrets:db_root_password", _secret(errors, secrets, "db_root_password", "for the MariaDB root account")
    )
    sst = _secret(errors, secrets, "db_sst_password", "for Galera state transfers (mariabackup)")
    sst_reader = "MariaDB's SST script (it reads the password with the shell's `read`)"
    _password(errors, "secrets:db_sst_password", sst, trimmed_by=sst_reader)
    if sst is not None and "\\" in sst:
        errors.add(
            "secrets:db_sst_password",
            f"contains '\\', which {sst_reader} drops, so state transfers would fail to log in; "
            "use a password without backslashes",
        )
    sst_user = config["galera"].get("sst_user")
    if sst is not None and isinstance(sst_user, str):
        line = len(f"wsrep_sst_auth = {mariadb_option_value(f'{sst_user}:{sst}')}".encode())
        if line > MARIADB_OPTION_LINE_MAX:
            errors.add(
                "secrets:db_sst_password",
                f"too long: its MariaDB option-file line would be {line} bytes, MariaDB reads at most "
                f"{MARIADB_OPTION_LINE_MAX}; use a shorter password",
            )
    if _stats_enabled(config):
        stats = _secret(errors, secrets, "haproxy_stats_password", "while haproxy:stats:enabled is true")
        _password(errors, "secrets:haproxy_stats_password", stats)
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
        openrc = _secret(errors, secrets, "openrc_admin_password", "while openrc:ensure is present")
        _password(errors, "secrets:openrc_admin_password", openrc)
    if any(s.get("tls") for s in enabled_services(config).values()):
        pem = _secret(errors, secrets, "tls_pem", "because a service has tls: true (certificate and key, PEM)")
        if pem is not None and ("BEGIN CERTIFICATE" not in pem or "PRIVATE KEY" not in pem):
            errors.add("secrets:tls_pem", "must hold a PEM certificate and its private key")
    users = secrets.get("rabbitmq_users", {})
    if _expect(errors, "secrets:rabbitmq_users", users, dict, secret=True):
        rabbitmq_users = config["rabbitmq"].get("users")
        wanted = rabbitmq_users if isinstance(rabbitmq_users, dict) else {}
        for user in wanted:
            value = users.get(user)
            key = f"secrets:rabbitmq_users:{user}"
            if value is None or value == "":
                errors.add(key, f"missing; required for rabbitmq:users:{user}")
            elif not isinstance(value, str):
                errors.add(key, f"expected a string, got {_type_name(value)}; quote the value in the pillar")
            else:
                _password(errors, key, value, trimmed_by="rabbitmqctl (reading it from stdin)")
                beyond_ascii = next((char for char in value if not char.isascii()), None)
                if beyond_ascii is not None:
                    errors.add(
                        key,
                        f"contains U+{ord(beyond_ascii):04X}: rabbitmqctl reads passwords as Latin-1 and would "
                        "store another one; use ASCII characters (quotes, '\\', '$', spaces are fine)",
                    )
        for extra in sorted(set(users) - set(wanted), key=str):
            errors.add(f"secrets:rabbitmq_users:{extra}", "a password for a user not in rabbitmq:users")


# ----------------------------------------------------------------- haproxy
def _haproxy(errors: Errors, config: dict) -> None:
    haproxy = config["haproxy"]
    timeouts = haproxy.get("timeouts")
    if _expect(errors, "haproxy:timeouts", timeouts, dict):
        for name, value in timeouts.items():
            _duration(errors, f"haproxy:timeouts:{name}", value)
    _int_in(errors, "haproxy:retries", haproxy.get("retries"), 0, None, "the number of connection retries")
    _duration(errors, "haproxy:hard_stop_after", haproxy.get("hard_stop_after"))
    hard_stop_ms = haproxy_duration_ms(haproxy.get("hard_stop_after"))
    if config["vip_manager"] == "pacemaker" and hard_stop_ms is not None and hard_stop_ms > PACEMAKER_HAPROXY_STOP_MS:
        errors.add(
            "haproxy:hard_stop_after",
            f"{haproxy['hard_stop_after']} is longer than pacemaker waits for haproxy to stop "
            f"(its stop timeout, 20 s, less 5 s of margin); write at most {PACEMAKER_HAPROXY_STOP_MS // 1000}s",
        )
    low, high = HAPROXY_MAXCONN
    _int_in(errors, "haproxy:maxconn", haproxy.get("maxconn"), low, high, "HAProxy's connection limit")
    check = haproxy.get("check")
    if _expect(errors, "haproxy:check", check, dict):
        for name in ("inter", "fastinter"):
            _duration(errors, f"haproxy:check:{name}", check.get(name))
        for name in ("rise", "fall"):
            _int_in(errors, f"haproxy:check:{name}", check.get(name), 1, None, "a count of checks")
    stats = haproxy.get("stats")
    if _expect(errors, "haproxy:stats", stats, dict):
        for name in ("enabled", "prometheus"):
            _expect(errors, f"haproxy:stats:{name}", stats.get(name), bool)
        if stats.get("enabled"):
            if not _is_network(config["networks"], stats.get("network")):
                errors.add("haproxy:stats:network", f"unknown network {stats.get('network')!r}")
            _port(errors, "haproxy:stats:port", stats.get("port"))
            _matches(
                errors,
                "haproxy:stats:user",
                stats.get("user"),
                IDENTIFIER_RE,
                "a user name for HAProxy's userlist (letters, digits, '_', '.', '@', '-')",
            )
    _path(errors, "haproxy:tls_pem_path", haproxy.get("tls_pem_path"))
    defaults = haproxy.get("service_defaults")
    if _expect(errors, "haproxy:service_defaults", defaults, dict):
        _services(errors, config)
    _binds(errors, config)


def _origin(key: str, own: Any, field: str, defaults_key: str) -> str:
    """The pillar key a merged value came from: the entry's own ``field``, else its defaults'."""
    return f"{key}:{field}" if isinstance(own, dict) and field in own else f"{defaults_key}:{field}"


def _field_key(service_key: str, own: dict, field: str, sub: str | None = None) -> str:
    """The pillar key a service's value came from: the service itself, or service_defaults."""
    if sub is None:
        return _origin(service_key, own, field, "haproxy:service_defaults")
    return _origin(f"{service_key}:{field}", own.get(field), sub, f"haproxy:service_defaults:{field}")


def _services(errors: Errors, config: dict) -> None:
    networks = config["networks"]
    services = config["haproxy"].get("services")
    if not _expect(errors, "haproxy:services", services, dict):
        return
    stats_enabled = _stats_enabled(config)
    for name, own in services.items():
        key = f"haproxy:services:{name}"
        if own is None or not _expect(errors, key, own, dict):
            continue
        for extra in sorted(set(own) - set(SERVICE_KEYS), key=str):
            close = difflib.get_close_matches(str(extra), SERVICE_KEYS, n=1)
            hint = f"; did you mean '{close[0]}'?" if close else ""
            errors.add(f"{key}:{extra}", f"unknown key{hint}")
        service = service_settings(config, name)
        where = {field: _field_key(key, own, field) for field in SERVICE_KEYS}
        types_ok = all(
            [_expect(errors, where[f], service[f], kind) for f, kind in SERVICE_KEYS.items() if f in service]
        )
        if service.get("enabled") is False:
            continue
        if not isinstance(name, str) or not NAME_RE.fullmatch(name):
            errors.add(key, "not a usable service name; use letters, digits, '_', '.' or '-' (HAProxy names it)")
        elif name == "stats" and stats_enabled:
            errors.add(key, "'stats' is the name of HAProxy's stats listener; name the service otherwise")
        if "port" not in service:
            errors.add(f"{key}:port", "missing; the port clients connect to on the VIP")
        if not types_ok:
            continue
        for field in ("port", "backend_port"):
            if service.get(field) is not None:
                _port(errors, where[field], service[field])
        nets = service.get("networks", [])
        if not nets:
            errors.add(f"{key}:networks", "empty; name the networks whose VIP serves it")
        for index, net in enumerate(nets):
            if not _is_network(networks, net):
                errors.add(f"{key}:networks", f"unknown network '{net}'; known: {', '.join(sorted(networks))}")
            elif net in nets[:index]:
                errors.add(f"{key}:networks", f"lists network '{net}' twice; name each network once")
        if service.get("backend_network") is not None and not _is_network(networks, service["backend_network"]):
            errors.add(where["backend_network"], f"unknown network '{service['backend_network']}'")
        for field, allowed in (("mode", SERVICE_MODES), ("balance", BALANCE_ALGORITHMS)):
            if service.get(field) not in allowed:
                errors.add(where[field], f"{service.get(field)!r} is not one of {', '.join(allowed)}")
        _duration(errors, where["idle_timeout"], service.get("idle_timeout"), optional=True)
        _check(errors, key, own, service)
        if service.get("tls") and service.get("mode") != "http":
            errors.add(f"{key}:tls", "TLS termination needs mode http")


def _check(errors: Errors, key: str, own: dict, service: dict) -> None:
    """A service's health check: its kind fits its mode, and haproxy.cfg can hold it bare."""
    check = service["check"]
    for extra in sorted(set(check) - set(CHECK_KEYS), key=str):
        errors.add(f"{key}:check:{extra}", f"unknown key; a check has {', '.join(CHECK_KEYS)}")
    kind = check.get("kind")
    if kind not in CHECK_KINDS:
        errors.add(_field_key(key, own, "check", "kind"), f"{kind!r} is not one of {', '.join(CHECK_KINDS)}")
    elif kind == "http" and service.get("mode") == "tcp":
        errors.add(f"{key}:check:kind", "an http check needs mode http; use kind tcp or galera")
    if kind in ("http", "galera"):
        _matches(
            errors,
            _field_key(key, own, "check", "path"),
            check.get("path"),
            CHECK_PATH_RE,
            "an HTTP path for the check: starting with '/', without spaces, quotes, '#' or '\\'",
        )
        _matches(
            errors,
            _field_key(key, own, "check", "expect"),
            check.get("expect"),
            CHECK_EXPECT_RE,
            "a HAProxy `http-check expect`: [!]status|rstatus|string|rstring and one pattern "
            "without spaces, quotes, '#' or '\\', e.g. 'status 200'",
        )


def _binds(errors: Errors, config: dict) -> None:
    """Two listeners on one VIP:port cannot both bind."""
    owners: dict[tuple[str, int], str] = {}
    listeners = [
        (f"haproxy:services:{n}", s.get("networks", []), s.get("port")) for n, s in enabled_services(config).items()
    ]
    if _stats_enabled(config):
        stats = config["haproxy"]["stats"]
        listeners.append(("haproxy:stats", [stats.get("network")], stats.get("port")))
    for key, nets, port in listeners:
        if not isinstance(nets, list) or not _is_int(port):
            continue
        for net in dict.fromkeys(n for n in nets if isinstance(n, str)):
            if net not in config["networks"]:
                continue
            where = (net, port)
            if where in owners:
                other = f"prereqos:{owners[where]}"
                errors.add(key, f"binds {net} VIP port {port}, already bound by {other}; choose another port")
            else:
                owners[where] = key


# ---------------------------------------------------------- VIP managers
def _pacemaker(errors: Errors, pcmk: dict) -> None:
    stonith = pcmk.get("stonith") or {}
    if not _expect(errors, "pacemaker:stonith", stonith, dict):
        stonith = {}
    enabled = stonith.get("enabled")
    if not isinstance(enabled, bool):
        errors.add(
            "pacemaker:stonith:enabled",
            "must be set explicitly: true (with stonith:devices) or false to run without fencing",
        )
    elif enabled and not stonith.get("devices"):
        errors.add("pacemaker:stonith:devices", "empty while fencing is enabled; describe at least one fence device")
    devices = stonith.get("devices") or {}
    if _expect(errors, "pacemaker:stonith:devices", devices, dict):
        for dev_id, device in devices.items():
            key = f"pacemaker:stonith:devices:{dev_id}"
            if not isinstance(dev_id, str) or not CIB_ID_RE.fullmatch(dev_id):
                errors.add(key, "not a usable CIB id; use letters, digits, '_', '.' or '-', not starting with a digit")
            if not isinstance(device, dict) or not device.get("agent"):
                errors.add(f"{key}:agent", "missing; e.g. stonith:fence_ipmilan")
                continue
            _matches(
                errors, f"{key}:agent", device["agent"], STONITH_AGENT_RE, "a fence agent like stonith:fence_ipmilan"
            )
            params = device.get("params") or {}
            if _expect(errors, f"{key}:params", params, dict):
                for param, value in params.items():
                    if not isinstance(value, str | int | float) or isinstance(value, bool):
                        errors.add(f"{key}:params:{param}", f"expected a string or number, got {_type_name(value)}")
    if pcmk.get("no_quorum_policy") not in NO_QUORUM_POLICIES:
        errors.add("pacemaker:no_quorum_policy", f"must be one of {', '.join(NO_QUORUM_POLICIES)}")
    low, high = COROSYNC_TOKEN_MS
    _int_in(errors, "pacemaker:token", pcmk.get("token"), low, high, "corosync's token timeout in ms")
    stickiness = pcmk.get("resource_stickiness")
    if not (_is_int(stickiness) or (isinstance(stickiness, str) and SCORE_RE.fullmatch(stickiness))):
        errors.add(
            "pacemaker:resource_stickiness", f"{stickiness!r} is not a pacemaker score; use an integer or INFINITY"
        )


def _keepalived(errors: Errors, keepalived: dict, networks: dict) -> None:
    advert = keepalived.get("advert_int")
    low, high = ADVERT_INT_SECONDS
    if isinstance(advert, bool) or not isinstance(advert, int | float):
        errors.add("keepalived:advert_int", f"{advert!r} must be a number of seconds")
    elif not low <= advert <= high or abs(round(advert * 100) - advert * 100) > 1e-6:
        errors.add(
            "keepalived:advert_int",
            f"{advert} is outside VRRPv3's range; use {low} to {high} seconds in steps of {low}",
        )
    first = keepalived.get("first_router_id")
    if not _int_in(errors, "keepalived:first_router_id", first, 1, 255, "a VRRP router id"):
        return
    router_ids = keepalived.get("router_ids") or {}
    if not _expect(errors, "keepalived:router_ids", router_ids, dict):
        return
    for net, rid in router_ids.items():
        key = f"keepalived:router_ids:{net}"
        if net not in networks:
            errors.add(key, "no such network")
        if not _is_int(rid) or not 1 <= rid <= 255:
            errors.add(key, f"{rid!r} must be an integer from 1 to 255")
    seen: dict[int, str] = {}
    for net, rid in router_ids_by_network(keepalived, networks).items():
        given = net in router_ids
        key = f"keepalived:router_ids:{net}" if given else "keepalived:first_router_id"
        if not _is_int(rid) or not 1 <= rid <= 255:
            if not given:
                errors.add(key, f"network {net} would get router id {rid}; lower first_router_id")
        elif rid in seen:
            errors.add(
                f"keepalived:router_ids:{net}",
                f"router id {rid} is also used by network {seen[rid]}"
                + ("" if given else " (the default is first_router_id + the network's position by name)")
                + "; set distinct keepalived:router_ids",
            )
        else:
            seen[rid] = net


def router_ids_by_network(keepalived: dict, networks: dict) -> dict[str, Any]:
    """VRRP router id of each network: the site's, else first_router_id + its position by name."""
    first = keepalived["first_router_id"]
    given = keepalived.get("router_ids") or {}
    return {name: given.get(name, first + offset) for offset, name in enumerate(sorted(networks))}


# ------------------------------------------------------- the other parts
def rabbitmq_objects(rabbitmq: dict, kind: str) -> dict[str, Any]:
    """RabbitMQ ``users`` or ``policies`` by name, each merged over its ``<kind>_defaults``
    (an entry that is not a mapping is kept as is, for validation to name)."""
    defaults = rabbitmq.get(RABBITMQ_DEFAULTS[kind]) or {}
    entries = rabbitmq.get(kind) or {}
    if not isinstance(entries, dict) or not isinstance(defaults, dict):
        return entries
    return {
        name: merge(defaults, spec or {}) if isinstance(spec, dict | None) else spec for name, spec in entries.items()
    }


def _rabbitmq(errors: Errors, rabbitmq: dict) -> None:
    for defaults in RABBITMQ_DEFAULTS.values():
        _expect(errors, f"rabbitmq:{defaults}", rabbitmq.get(defaults), dict)
    vhosts = rabbitmq.get("vhosts")
    if not _expect(errors, "rabbitmq:vhosts", vhosts, list):
        vhosts = []
    for index, vhost in enumerate(vhosts):
        if not _matches(errors, "rabbitmq:vhosts", vhost, VHOST_RE, "a vhost name (letters, digits and / _ . @ -)"):
            continue
        if vhost in vhosts[:index]:
            errors.add("rabbitmq:vhosts", f"lists {vhost!r} twice; list each vhost once")
    users = rabbitmq_objects(rabbitmq, "users")
    if not _expect(errors, "rabbitmq:users", users, dict):
        users = {}
    for user, spec in users.items():
        key = f"rabbitmq:users:{user}"
        own = rabbitmq["users"][user]
        if user == "guest":
            errors.add(key, "guest is removed by prereqos; name the account otherwise")
        elif not isinstance(user, str) or not IDENTIFIER_RE.fullmatch(user):
            errors.add(key, "not a usable user name; use letters, digits, '_', '.', '@' or '-' (up to 64)")
        if not _expect(errors, key, spec, dict):
            continue
        for extra in sorted(set(spec) - {"tags", "permissions"}, key=str):
            errors.add(f"{key}:{extra}", "unknown key; a user has tags and permissions (its password is in secrets)")
        tags_key = _origin(key, own, "tags", "rabbitmq:user_defaults")
        if _expect(errors, tags_key, spec.get("tags"), list):
            for tag in spec["tags"]:
                _matches(errors, tags_key, tag, IDENTIFIER_RE, "a user tag like administrator or monitoring")
        permissions_key = _origin(key, own, "permissions", "rabbitmq:user_defaults")
        if not _expect(errors, permissions_key, spec.get("permissions"), dict):
            continue
        for vhost, perms in spec["permissions"].items():
            if vhost not in vhosts:
                errors.add(f"{permissions_key}:{vhost}", "vhost not in rabbitmq:vhosts")
            if not (isinstance(perms, list) and len(perms) == 3 and all(isinstance(p, str) for p in perms)):
                errors.add(f"{permissions_key}:{vhost}", "must be [configure, write, read] regular expressions")
    policies = rabbitmq_objects(rabbitmq, "policies")
    if _expect(errors, "rabbitmq:policies", policies, dict):
        for name, policy in policies.items():
            key = f"rabbitmq:policies:{name}"
            own = rabbitmq["policies"][name]
            if not isinstance(name, str) or not NAME_RE.fullmatch(name):
                errors.add(key, "not a usable policy name; use letters, digits, '_', '.' or '-'")
            if not _expect(errors, key, policy, dict):
                continue
            if policy.get("vhost") not in vhosts:
                errors.add(_origin(key, own, "vhost", "rabbitmq:policy_defaults"), "vhost not in rabbitmq:vhosts")
            if not isinstance(policy.get("pattern"), str):
                errors.add(f"{key}:pattern", "missing; a regular expression of queue/exchange names")
            if not isinstance(policy.get("definition"), dict) or not policy.get("definition"):
                errors.add(f"{key}:definition", "missing; a mapping of policy keys")
            _expect(errors, _origin(key, own, "priority", "rabbitmq:policy_defaults"), policy.get("priority"), int)
            if policy.get("apply_to") not in POLICY_TARGETS:
                where = _origin(key, own, "apply_to", "rabbitmq:policy_defaults")
                errors.add(where, f"must be one of {', '.join(POLICY_TARGETS)}")


def _galera(errors: Errors, config: dict, ids: list[str]) -> None:
    galera = config["galera"]
    _matches(
        errors,
        "galera:sst_user",
        galera.get("sst_user"),
        SQL_USER_RE,
        "a MariaDB user name for mariabackup (1-80 letters, digits or '_')",
    )
    check_port = galera.get("check_port")
    if _port(errors, "galera:check_port", check_port):
        if check_port in GALERA_PORTS:
            errors.add("galera:check_port", f"{check_port} is a port MariaDB/Galera uses itself")
        apache = config["apache"]
        ports = apache.get("ports") if isinstance(apache.get("ports"), list) else []
        if apache.get("network") == config.get("internal_network") and check_port in ports:
            errors.add("galera:check_port", f"{check_port} is also an apache port on the same address; pick another")
    size = galera.get("innodb_buffer_pool_size")
    if not (_is_int(size) and size > 0) and not (isinstance(size, str) and SIZE_RE.fullmatch(size)):
        errors.add("galera:innodb_buffer_pool_size", f"{size!r} is not a MariaDB size; write bytes or e.g. 256M, 4G")
    low, high = MAX_CONNECTIONS
    _int_in(errors, "galera:max_connections", galera.get("max_connections"), low, high, "MariaDB's max_connections")
    _int_in(errors, "galera:flow_control_limit", galera.get("flow_control_limit"), *FLOW_CONTROL_LIMIT, "gcs.fc_limit")
    _int_in(
        errors,
        "galera:membership_retransmit_ms",
        galera.get("membership_retransmit_ms"),
        *MEMBERSHIP_RETRANSMIT_MS,
        "evs.join_retrans_period and evs.keepalive_period in milliseconds",
    )
    if galera.get("recover_from") is not None and galera["recover_from"] not in ids:
        errors.add(
            "galera:recover_from",
            f"{galera['recover_from']!r} is not among the controllers ({', '.join(ids) or 'none'}); "
            "name the controller orch.prereqos_recover must bootstrap, or leave it unset",
        )


def _apache(errors: Errors, apache: dict, networks: dict) -> None:
    if not _is_network(networks, apache.get("network")):
        errors.add("apache:network", f"unknown network {apache.get('network')!r}")
    if _expect(errors, "apache:ports", apache.get("ports"), list):
        for index, port in enumerate(apache["ports"]):
            if not _is_int(port) or not 1 <= port <= 65535:
                errors.add("apache:ports", f"{port!r} is not a TCP port")
            elif port in apache["ports"][:index]:
                errors.add("apache:ports", f"lists port {port} twice; apache cannot listen twice on one port")
    if _expect(errors, "apache:modules", apache.get("modules"), list):
        for module in apache["modules"]:
            _matches(errors, "apache:modules", module, APACHE_MODULE_RE, "an apache module name like wsgi")


def _buildenv(errors: Errors, buildenv: dict) -> None:
    if _expect(errors, "buildenv:packages", buildenv.get("packages"), list):
        for package in buildenv["packages"]:
            _matches(errors, "buildenv:packages", package, DEBIAN_PACKAGE_RE, "a Debian package name")
    _path(errors, "buildenv:venv", buildenv.get("venv"))
    if _expect(errors, "buildenv:pip_packages", buildenv.get("pip_packages"), list):
        for requirement in buildenv["pip_packages"]:
            _text(errors, "buildenv:pip_packages", requirement)
    options = buildenv.get("pip_options") or {}
    if not _expect(errors, "buildenv:pip_options", options, dict):
        return
    for option, value in options.items():
        key = f"buildenv:pip_options:{option}"
        if option not in PIP_OPTIONS:
            close = difflib.get_close_matches(str(option), PIP_OPTIONS, n=1)
            hint = f"did you mean '{close[0]}'?" if close else f"known options: {', '.join(sorted(PIP_OPTIONS))}"
            errors.add(key, f"not an option of pip.installed prereqos passes on; {hint}")
        else:
            _expect(errors, key, value, PIP_OPTIONS[option])


def _openrc(errors: Errors, config: dict, networks: dict) -> None:
    openrc = config["openrc"]
    if openrc.get("ensure") not in OPENRC_ENSURE:
        errors.add("openrc:ensure", f"must be one of {', '.join(OPENRC_ENSURE)}")
        return
    _path(errors, "openrc:path", openrc.get("path"))
    if openrc["ensure"] != "present":
        return
    if not _is_network(networks, openrc.get("network")):
        errors.add("openrc:network", f"unknown network {openrc.get('network')!r}")
    if "keystone" not in enabled_services(config):
        errors.add("openrc:ensure", "present needs the keystone service in haproxy:services")
    for field in ("username", "project_name", "user_domain_name", "project_domain_name", "region_name"):
        _text(errors, f"openrc:{field}", openrc.get(field))
    version = openrc.get("identity_api_version")
    if not (_is_int(version) or (isinstance(version, str) and re.fullmatch(r"[0-9]+(\.[0-9]+)?", version))):
        errors.add("openrc:identity_api_version", f"{version!r} is not an API version like 3")


def _lookup(errors: Errors, lookup: Any) -> None:
    """Package, service and path names: the kind of value each consumer takes."""
    if not _expect(errors, "lookup", lookup, dict):
        return
    _expect(errors, "lookup:install_recommends", lookup.get("install_recommends"), bool)
    checks: dict[str, Callable[[str, Any], None]] = {
        "pkgs": lambda key, value: _package_list(errors, key, value),
        "services": lambda key, value: _matches(errors, key, value, SYSTEMD_UNIT_RE, "a systemd unit name"),
        "paths": lambda key, value: _path(errors, key, value),
    }
    for group, check in checks.items():
        entries = lookup.get(group)
        if _expect(errors, f"lookup:{group}", entries, dict):
            for name, value in entries.items():
                check(f"lookup:{group}:{name}", value)
    for group in ("rabbitmq_conf", "mariadb_conf"):
        entries = lookup.get(group)
        if _expect(errors, f"lookup:{group}", entries, dict):
            for name, value in entries.items():
                key = f"lookup:{group}:{name}"
                if not isinstance(name, str) or not CONF_KEY_RE.fullmatch(name):
                    errors.add(key, "not a setting name (lower-case letters, digits, '_', '.', '-')")
                elif isinstance(value, bool) or not isinstance(value, (str, int)):
                    errors.add(key, f"expected a string or an integer, got {_type_name(value)}")
                else:
                    _matches(errors, key, str(value), CONF_VALUE_RE, "a plain setting value (letters, digits, '_.-')")


def _package_list(errors: Errors, key: str, value: Any) -> None:
    if _expect(errors, key, value, list):
        for package in value:
            _matches(errors, key, package, DEBIAN_PACKAGE_RE, "a Debian package name")


def validate(config: dict, raw: dict, reference: dict) -> list[str]:
    """Every problem of the merged ``config`` (site pillar ``raw``), as text.

    ``reference`` is defaults.yaml with the OS map as ``lookup``: the keys a site may set.
    """
    errors = Errors()
    if not raw:
        errors.add("", "no pillar for this minion; assign the site pillar (start from pillar.example)")
        return errors.items
    check_unknown_keys(errors, raw, reference)
    for key in SECTIONS:
        if not _expect(errors, key, config.get(key), dict):
            return errors.items
    if not isinstance(config.get("cluster_name"), str) or not NAME_RE.fullmatch(config["cluster_name"]):
        errors.add("cluster_name", "must be letters, digits, '-', '_' or '.'")
    if config.get("vip_manager") not in VIP_MANAGERS:
        errors.add("vip_manager", f"{config.get('vip_manager')!r} is not one of {', '.join(VIP_MANAGERS)}")
    _expect(errors, "allow_small_cluster", config.get("allow_small_cluster"), bool)
    networks = config["networks"]
    if not networks:
        errors.add("networks", "empty; describe at least the internal network 'srv' (cidr, interface, vip)")
    elif not _is_network(networks, config.get("internal_network")):
        errors.add(
            "internal_network",
            f"{config.get('internal_network')!r} is not among the networks ({', '.join(sorted(map(str, networks)))}); "
            "name the network of Galera, RabbitMQ and corosync",
        )
    checked = _networks(errors, networks)
    ids = _controllers(errors, config.get("controllers"), checked)
    if len(ids) < MIN_QUORUM_CONTROLLERS and not config.get("allow_small_cluster"):
        errors.add(
            "controllers",
            f"{len(ids)} controller(s); quorum needs {MIN_QUORUM_CONTROLLERS} "
            "(set allow_small_cluster: true to accept a cluster that cannot survive a failure)",
        )
    if config.get("vip_manager") == "keepalived" and len(ids) > MAX_KEEPALIVED_CONTROLLERS:
        errors.add(
            "controllers",
            f"{len(ids)} controllers; keepalived gives each its own VRRP priority, from 250 down by 10: "
            f"at most {MAX_KEEPALIVED_CONTROLLERS} (use vip_manager: pacemaker for more)",
        )
    bootstrap = config.get("bootstrap")
    if not bootstrap:
        errors.add("bootstrap", "missing; name the controller (minion id) that starts new clusters")
    elif bootstrap not in ids:
        errors.add("bootstrap", f"{bootstrap!r} is not among the controllers ({', '.join(ids) or 'none'})")
    _haproxy(errors, config)
    _secrets(errors, config)
    if config.get("vip_manager") == "pacemaker":
        _pacemaker(errors, config["pacemaker"])
    # Checked with either VIP manager: the VIPs carry their router ids.
    _keepalived(errors, config["keepalived"], networks)
    _rabbitmq(errors, config["rabbitmq"])
    _galera(errors, config, ids)
    _apache(errors, config["apache"], networks)
    _buildenv(errors, config["buildenv"])
    _openrc(errors, config, networks)
    for key, (low, high) in MAINTENANCE_SECONDS.items():
        _int_in(errors, f"maintenance:{key}", config["maintenance"].get(key), low, high, "seconds")
    _lookup(errors, config.get("lookup"))
    return errors.items


# ---------------------------------------------------------------- deriving
def _server_check(service: dict, check_port: int, timing: dict) -> str:
    """The ``check ...`` options of a service's server lines."""
    line = f"check inter {timing['inter']} fastinter {timing['fastinter']} rise {timing['rise']} fall {timing['fall']}"
    if service["check"]["kind"] == "galera":
        line += f" port {check_port}"
    return line


def vip_resource(network: str) -> str:
    """The name of the pacemaker resource that holds the VIP of ``network``."""
    return f"vip_{network}"


def pacemaker_config(config: dict, vips: dict) -> dict:
    """The CIB objects prereqos owns, in pacemaker_cluster's normalised shape."""
    pcmk = config["pacemaker"]
    haproxy = config["lookup"]["services"]["haproxy"]
    primitives: dict[str, dict] = {
        "haproxy": {"agent": f"systemd:{haproxy}", "params": {}, "meta": {}, "ops": {"monitor": {"interval": "5s"}}},
    }
    colocations, orders = {}, {}
    for name, vip in sorted(vips.items()):
        rsc = vip_resource(name)
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


def node_expectation(minion_id: str | None, nodes: list[dict], vips: dict, me: dict | None) -> dict:
    """What prereqos.preflight checks on this node: its host name, and per network its
    address on the interface, the VIP and the peers' addresses (for ARP)."""
    networks = {}
    if me is not None:
        for net, vip in vips.items():
            networks[net] = {
                "interface": vip["interface"],
                "address": me["addresses"][net],
                "vip": vip["address"],
                "peers": [n["addresses"][net] for n in nodes if n["id"] != me["id"]],
            }
    return {
        "id": minion_id,
        "controllers": [n["id"] for n in nodes],
        "hostname": me["hostname"] if me else None,
        "networks": networks,
    }


def _openrc_exports(config: dict, vips: dict, services: dict) -> list[list[str]] | None:
    """``[name, shell word]`` of each variable of the admin openrc, or None when absent."""
    openrc = config["openrc"]
    if openrc["ensure"] != "present":
        return None
    keystone = services["keystone"]
    scheme = "https" if keystone["tls"] else "http"
    values = {
        "OS_AUTH_URL": f"{scheme}://{vips[openrc['network']]['address']}:{keystone['port']}/v3",
        "OS_IDENTITY_API_VERSION": str(openrc["identity_api_version"]),
        "OS_USERNAME": openrc["username"],
        "OS_PASSWORD": config["secrets"]["openrc_admin_password"],
        "OS_PROJECT_NAME": openrc["project_name"],
        "OS_USER_DOMAIN_NAME": openrc["user_domain_name"],
        "OS_PROJECT_DOMAIN_NAME": openrc["project_domain_name"],
        "OS_REGION_NAME": openrc["region_name"],
    }
    return [[name, shell_word(value)] for name, value in values.items()]


def facts(derived: dict) -> dict | None:
    """The non-secret facts prereqos.health and prereqos.preflight read on a deployed node."""
    if derived["me"] is None:
        return None
    pacemaker = derived["vip_manager"] == "pacemaker"
    return {
        "cluster_name": derived["cluster_name"],
        "node": derived["node_expectation"],
        "nodes": [{"id": n["id"], "hostname": n["hostname"]} for n in derived["nodes"]],
        "vip_manager": derived["vip_manager"],
        "vips": {name: vip["address"] for name, vip in derived["vips"].items()},
        "haproxy_checks": {name: s["check"]["kind"] for name, s in derived["services_enabled"].items()},
        "pacemaker_resources": ["haproxy-clone", *map(vip_resource, derived["vips"])] if pacemaker else [],
        "rabbitmq_nodes": derived["rabbitmq_nodes"],
        "galera_size": len(derived["nodes"]),
        "service_names": dict(derived["lookup"]["services"]),
        "paths": {"haproxy_socket": derived["lookup"]["paths"]["haproxy_socket"]},
    }


def derive(config: dict, minion_id: str | None, drained: list[str] | tuple[str, ...] = ()) -> dict:
    """Add what SLS files and templates need to a valid ``config``: this node, VIPs,
    listeners, and each secret already encoded for the file that consumes it.
    ``drained``: the controllers drained for maintenance (their servers are disabled)."""
    networks = config["networks"]
    internal = config["internal_network"]
    nodes = []
    for index, node in enumerate(config["controllers"], start=1):
        nodes.append(
            {
                "id": node["id"],
                "hostname": node.get("hostname", node["id"]),
                "addresses": node["addresses"],
                "index": index,
                # Earlier controllers are preferred VIP holders (keepalived priority). Near
                # the top: a backup takes over a released VIP after (256 - priority)/256
                # advert intervals, before a waiting client's first TCP retransmission.
                "priority": 260 - 10 * index,  # 250, 240, ... 10: MAX_KEEPALIVED_CONTROLLERS
            }
        )
    router_ids = router_ids_by_network(config["keepalived"], networks)
    vips = {}
    for name, net in sorted(networks.items()):
        vips[name] = {
            "network": name,
            "address": net["vip"],
            "prefixlen": ipaddress.ip_network(net["cidr"]).prefixlen,
            "interface": net["interface"],
            "router_id": router_ids[name],
        }
    services = {}
    for name, service in sorted(enabled_services(config).items()):
        port = service["port"]
        backend_network = service["backend_network"] or internal
        services[name] = {
            "name": name,
            "port": port,
            "backend_port": service["backend_port"] or port,
            "mode": service["mode"],
            "balance": service["balance"],
            "active_backup": service["active_backup"],
            "tls": service["tls"],
            "idle_timeout": service["idle_timeout"],
            "binds": [{"address": networks[n]["vip"], "port": port, "network": n} for n in service["networks"]],
            "servers": [
                {"name": n["hostname"], "address": n["addresses"][backend_network], "drained": n["id"] in drained}
                for n in nodes
            ],
            "check": {
                **service["check"],
                "server": _server_check(service, config["galera"]["check_port"], config["haproxy"]["check"]),
            },
        }
    me = next((n for n in nodes if n["id"] == minion_id), None)
    bootstrap = next(n for n in nodes if n["id"] == config["bootstrap"])
    stats = config["haproxy"]["stats"]
    secrets = config["secrets"]
    derived = {
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
            stats_password_hash(secrets["haproxy_stats_password"], config["cluster_name"], stats["user"])
            if stats["enabled"]
            else None
        ),
        "galera_sst_auth": mariadb_option_value(f"{config['galera']['sst_user']}:{secrets['db_sst_password']}"),
        "openrc_exports": _openrc_exports(config, vips, services),
        "pacemaker_config": pacemaker_config(config, vips) if config["vip_manager"] == "pacemaker" else None,
        "rabbitmq_user_settings": rabbitmq_objects(config["rabbitmq"], "users"),
        "rabbitmq_policy_settings": rabbitmq_objects(config["rabbitmq"], "policies"),
        "rabbitmq_nodes": [f"rabbit@{n['hostname']}" for n in nodes],
        "rabbitmq_bootstrap_node": f"rabbit@{bootstrap['hostname']}",
        "galera_cluster_address": "gcomm://" + ",".join(n["addresses"][internal] for n in nodes),
        "haproxy_stop_timeout_s": math.ceil(haproxy_duration_ms(config["haproxy"]["hard_stop_after"]) / 1000)
        + HAPROXY_STOP_MARGIN_S,
        "galera_membership_period": f"PT{config['galera']['membership_retransmit_ms'] / 1000:g}S",
        "erlang_dist_address": erlang_ip_tuple(me["addresses"][internal]) if me else None,
        "node_expectation": node_expectation(minion_id, nodes, vips, me),
        "facts_path": FACTS_PATH,
        "drained": sorted(drained),
        "state_dir": prereqos_maintenance.STATE_DIR,
        "maintenance_path": prereqos_maintenance.MAINTENANCE_PATH,
        "vips_released_path": prereqos_maintenance.VIPS_RELEASED_PATH,
        "haproxy_undrained_cfg_path": prereqos_maintenance.HAPROXY_UNDRAINED_CFG_PATH,
    }
    derived["facts"] = facts(derived)
    return derived


def settings(
    defaults: dict,
    osmap: dict,
    site: Any,
    minion_id: str | None,
    drained: list[str] | tuple[str, ...] = (),
    maintenance: Any = None,
) -> dict:
    """The merged, validated and derived prereqos settings of ``minion_id``.

    ``defaults`` is defaults.yaml, ``osmap`` the OS map's entry for the node's
    OS family, ``site`` the ``prereqos`` pillar. ``drained`` is this node's
    maintenance record, ``maintenance`` the ``prereqos_maintenance`` pillar of a
    drain or undrain step (the record as it will be after that step). Raises
    :class:`InvalidPillar` listing every problem at once.
    """
    base = defaults["prereqos"]
    reference = merged_config(base, osmap, {})
    if not isinstance(site, dict):
        raise InvalidPillar([f"prereqos: expected a mapping, got {_type_name(site)}; see pillar.example"])
    config = merged_config(base, osmap, site)
    problems = validate(config, site, reference)
    if problems:
        raise InvalidPillar(problems)
    ids = [node["id"] for node in config["controllers"]]
    try:
        intent = prereqos_maintenance.intent(maintenance, ids)
    except ValueError as exc:
        raise InvalidPillar([str(exc)]) from None
    planned = prereqos_maintenance.planned(list(drained), intent)
    derived = derive(config, minion_id, prereqos_maintenance.of_controllers(planned, ids))
    derived["maintenance_intent"] = intent
    return derived


# What derive returns that holds a secret, in clear or encoded for its file.
SECRET_SETTINGS = ("secrets", "galera_sst_auth", "openrc_exports")
MASK = "******"


def without_secrets(derived: dict) -> dict:
    """``derived`` with every secret, and every setting that carries one, masked:
    what an operator may see in a job return."""
    masked = dict(derived)
    for key in SECRET_SETTINGS:
        value = masked.get(key)
        if isinstance(value, dict):
            masked[key] = {name: MASK for name in value}
        elif value is not None:
            masked[key] = MASK
    return masked
