"""Pacemaker facts and decisions, as pure functions: crm_mon and CIB XML in, plain data out.

Parsing
    ``crm_mon --output-as=xml`` (:func:`parse_status`, :func:`health_report`) and the CIB
    (:func:`parse_configuration`), as pacemaker 2.1.5 (Debian 12) and 3.0 (Debian 13)
    write them; anything else raises CommandExecutionError saying what was expected.
Deciding
    :func:`normalise_desired` validates what the formula wants and spells it as the CIB
    does; :func:`diff` says which objects differ; :func:`render_crm` writes them in crm
    syntax (for ``crm configure load update -``); :func:`masked_changes` reports them with
    password-like values masked.

No I/O and no Salt dunders: ``_modules/pacemaker_cluster.py`` runs the tools.
"""

from __future__ import annotations

import re
import shlex
import xml.etree.ElementTree as ET
from typing import Any

import prereqos_common
from salt.exceptions import CommandExecutionError, SaltInvocationError

# crm_mon's XML API: pacemaker 2.1.5 (Debian 12) writes api-version="2.25",
# pacemaker 3.0 (Debian 13) "2.38": same major, the elements read here unchanged.
CRM_MON_API_MAJOR = 2
# CIB schema major version -> the pacemaker that writes it: pacemaker-3.9 (Debian 12),
# pacemaker-4.0 (Debian 13; deprecated syntax removed, none of it used here).
CIB_SCHEMA_MAJORS = {3: "pacemaker 2.1", 4: "pacemaker 3.0"}
SECTIONS = ("properties", "rsc_defaults", "primitives", "clones", "colocations", "orders")
OBJECT_KEYS = {
    "primitives": ({"agent"}, {"agent", "params", "meta", "ops"}),
    "clones": ({"rsc"}, {"rsc", "meta"}),
    "colocations": ({"score", "rsc", "with_rsc"}, {"score", "rsc", "with_rsc"}),
    "orders": ({"first", "then"}, {"kind", "first", "then"}),
}
ORDER_KINDS = ("Mandatory", "Optional", "Serialize")
# XML ids (NCName-like) and attribute names as pacemaker accepts them.
ID_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_.-]*$")
NAME_RE = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.:-]*$")
AGENT_RE = re.compile(r"^(?:ocf:[A-Za-z0-9_.-]+|(?!ocf:)[a-z]+):[A-Za-z0-9_.@+-]+$")
# crmsh 4.4 turns non-ASCII characters into literal "&#NNN;" text, and splits lines.
SAFE_VALUE_RE = re.compile(r"^[\x20-\x7e]*$")
CIB_SCHEMA_RE = re.compile(r"^pacemaker-(\d+)\.\d+$")
TIME_ATTRS = ("interval", "timeout", "start-delay")
TIME_RE = re.compile(r"^(\d+)\s*(ms|msec|us|usec|s|sec|m|min|h|hr)?$")
ISO_TIME_RE = re.compile(r"^P(?:(\d+)D)?(?:T(?:(\d+)H)?(?:(\d+)M)?(?:(\d+)S)?)?$")
TIME_UNIT_MS = {"ms": 1, "msec": 1, "s": 1000, "sec": 1000, "m": 60000, "min": 60000, "h": 3600000, "hr": 3600000}


# ---------------------------------------------------------------- values


def _xml(text: str, what: str) -> ET.Element:
    try:
        return ET.fromstring(text)
    except ET.ParseError as exc:
        raise CommandExecutionError(f"{what} is not well-formed XML ({exc}); truncated or not XML output?") from None


def _bool(value: str | None) -> bool:
    return (value or "").lower() in ("true", "yes", "on", "1")


def _text(value: Any, where: str) -> str:
    """A desired scalar as pacemaker stores it (YAML ``false`` -> ``"false"``, ``24`` -> ``"24"``)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float | str):
        text = str(value)
        if not SAFE_VALUE_RE.match(text):
            raise SaltInvocationError(
                f"{where}: only printable ASCII can be stored through crmsh 4.4 (non-ASCII or control character)"
            )
        return text
    raise SaltInvocationError(f"{where}: expected a string or number, got {type(value).__name__}")


def msec(value: str) -> str:
    """A pacemaker time (``10``, ``10s``, ``10000ms``, ``1min``, ``PT10S``) as ``"<n>ms"``; unknown forms unchanged."""
    text = value.strip()
    match = TIME_RE.match(text)
    if match:
        number, unit = int(match.group(1)), match.group(2) or "s"
        return f"{number // 1000 if unit in ('us', 'usec') else number * TIME_UNIT_MS[unit]}ms"
    match = ISO_TIME_RE.match(text)
    if match and text not in ("P", "PT"):
        days, hours, minutes, seconds = (int(part or 0) for part in match.groups())
        return f"{((days * 24 + hours) * 60 + minutes) * 60000 + seconds * 1000}ms"
    return value


def score(value: Any) -> str:
    """A constraint score in one spelling: ``inf``/``+INFINITY`` -> ``INFINITY``, ``-inf`` -> ``-INFINITY``."""
    text = str(value).strip()
    lowered = text.lower()
    if lowered.lstrip("+") in ("inf", "infinity"):
        return "INFINITY"
    if lowered in ("-inf", "-infinity"):
        return "-INFINITY"
    try:
        return str(int(text))
    except ValueError:
        return text


def _nvpairs(parent: ET.Element, set_tag: str) -> dict[str, str]:
    """Name -> value of the nvpairs in ``parent``'s ``set_tag`` sets (the first set that names a key wins)."""
    pairs: dict[str, str] = {}
    for nvset in parent.findall(set_tag):
        for nvpair in nvset.findall("nvpair"):
            if nvpair.get("name") is not None:
                pairs.setdefault(nvpair.get("name"), nvpair.get("value", ""))
    return pairs


# ---------------------------------------------------------------- status


def _resource_entry(instances: list[ET.Element]) -> dict[str, Any]:
    agents = sorted({item.get("resource_agent", "") for item in instances})
    roles = sorted({item.get("role", "") for item in instances})
    nodes = sorted(
        {node.get("name", "") for item in instances if _bool(item.get("active")) for node in item.findall("node")}
    )
    return {
        "agent": ",".join(agents),
        "role": ",".join(roles),
        "active": any(_bool(item.get("active")) for item in instances),
        "nodes": nodes,
    }


def parse_status(xml_text: str) -> dict[str, Any]:
    """Parse ``crm_mon --output-as=xml`` into dc, quorate, nodes and resources.

    Clone (and bundle) instances are grouped under the clone's id; members of a group
    are listed under their own ids. Raises :class:`CommandExecutionError` for an error
    document (pacemaker not running), an unknown API major version or a malformed document.
    """
    root = _xml(xml_text, "crm_mon output")
    if root.tag != "pacemaker-result":
        raise CommandExecutionError(
            f"crm_mon output has root <{root.tag}>, expected <pacemaker-result> (crm_mon --output-as=xml)"
        )
    api = root.get("api-version", "")
    if api.split(".")[0] != str(CRM_MON_API_MAJOR):
        raise CommandExecutionError(
            f"crm_mon XML api-version {api or '(none)'} is not supported: expected {CRM_MON_API_MAJOR}.x "
            "(pacemaker 2.1, 3.0)"
        )
    result = root.find("status")
    if result is not None and result.get("code") != "0":
        errors = "; ".join((error.text or "").strip() for error in result.iter("error"))
        raise CommandExecutionError(
            f"crm_mon: {result.get('message', 'error')} (code {result.get('code')})" + (f": {errors}" if errors else "")
        )
    summary, nodes = root.find("summary"), root.find("nodes")
    dc = summary.find("current_dc") if summary is not None else None
    if dc is None or nodes is None or result is None:
        raise CommandExecutionError("crm_mon output lacks summary/current_dc, nodes or status: truncated document?")
    present = _bool(dc.get("present"))
    status: dict[str, Any] = {
        "dc": dc.get("name") if present else None,
        "quorate": present and _bool(dc.get("with_quorum")),
        "nodes": {
            node.get("name", ""): {
                "online": _bool(node.get("online")),
                "standby": _bool(node.get("standby")),
                "maintenance": _bool(node.get("maintenance")),
            }
            for node in nodes.findall("node")
        },
        "resources": {},
    }
    resources = root.find("resources")
    for element in resources if resources is not None else ():
        for item in element.findall("resource") if element.tag == "group" else [element]:
            if item.tag in ("resource", "clone", "bundle"):
                status["resources"][item.get("id", "")] = _resource_entry(list(item.iter("resource")))
    return status


def resources_on(current: dict[str, Any], node: str) -> list[str]:
    """The resources active on ``node`` in ``current`` (from :func:`parse_status`)."""
    return sorted(rsc for rsc, entry in current["resources"].items() if node in entry["nodes"])


def health_report(
    current: dict[str, Any], expected_nodes: list[str] | None = None, resources: list[str] | None = None
) -> dict[str, Any]:
    """Whether the cluster in ``current`` (from :func:`parse_status`) is whole, and if not why.

    Whole: quorate, a DC, every expected node (default: every node the cluster knows)
    online, each of ``resources`` started somewhere. A node in standby or maintenance is
    planned, not broken: it is listed under ``maintenance`` (and ``ok`` is False). Returns
    ``{"ok", "dc", "quorate", "online", "offline", "standby", "resources": {id: nodes},
    "problems", "maintenance"}``.
    """
    nodes = current["nodes"]
    expected = list(expected_nodes) if expected_nodes is not None else sorted(nodes)
    problems: list[str] = []
    report: dict[str, Any] = {
        "ok": False,
        "dc": current["dc"],
        "quorate": current["quorate"],
        "online": sorted(name for name, node in nodes.items() if node["online"]),
        "offline": sorted(
            {name for name, node in nodes.items() if not node["online"]}
            | {name for name in expected if name not in nodes}
        ),
        "standby": sorted(name for name, node in nodes.items() if node["standby"]),
        "resources": {},
        "problems": problems,
        "maintenance": [
            f"node {name} is in {'standby' if node['standby'] else 'maintenance'}"
            for name, node in sorted(nodes.items())
            if node["standby"] or node["maintenance"]
        ],
    }
    if current["dc"] is None:
        problems.append("no DC elected")
    if not current["quorate"]:
        problems.append("partition without quorum")
    for name in expected:
        if name not in nodes:
            problems.append(f"node {name} is not a cluster member")
        elif not nodes[name]["online"]:
            problems.append(f"node {name} is offline")
    for rsc in resources or []:
        entry = current["resources"].get(rsc)
        report["resources"][rsc] = entry["nodes"] if entry else []
        if entry is None:
            problems.append(f"resource {rsc} is not configured")
        elif not entry["nodes"]:
            problems.append(f"resource {rsc} is not started on any node")
    report["ok"] = not problems and not report["maintenance"]
    return report


# ---------------------------------------------------------------- configuration


def _agent(primitive: ET.Element) -> str:
    if primitive.get("template"):
        return "@" + primitive.get("template", "")
    return ":".join(part for part in (primitive.get("class"), primitive.get("provider"), primitive.get("type")) if part)


def _ops(primitive: ET.Element) -> dict[str, dict[str, str]]:
    """Operations by name; a repeated name (e.g. per-role monitors) is keyed ``name:<interval in ms>``."""
    elements = primitive.findall("operations/op")
    names = [op.get("name", "") for op in elements]
    ops: dict[str, dict[str, str]] = {}
    for op, name in zip(elements, names, strict=True):
        key = name if names.count(name) == 1 else f"{name}:{msec(op.get('interval', '0'))}"
        ops[key] = {attr: value for attr, value in op.attrib.items() if attr not in ("id", "name")}
    return ops


def _first_child_id(clone: ET.Element) -> str | None:
    for child in clone:
        if child.tag in ("primitive", "group"):
            return child.get("id")
    return None


def _order_kind(order: ET.Element) -> str:
    if order.get("kind"):
        return order.get("kind", "")
    return "Optional" if order.get("score") is not None and score(order.get("score")) == "0" else "Mandatory"


def _configuration(cib_xml: str) -> ET.Element:
    root = _xml(cib_xml, "CIB")
    if root.tag != "cib":
        raise CommandExecutionError(f"CIB has root <{root.tag}>, expected <cib> (cibadmin --query)")
    schema = root.get("validate-with", "")
    match = CIB_SCHEMA_RE.match(schema)
    if not match or int(match.group(1)) not in CIB_SCHEMA_MAJORS:
        known = ", ".join(f"pacemaker-{major}.x ({writer})" for major, writer in CIB_SCHEMA_MAJORS.items())
        raise CommandExecutionError(f"CIB schema {schema or '(none)'} is not supported: expected {known}")
    configuration = root.find("configuration")
    if configuration is None:
        raise CommandExecutionError("CIB has no <configuration> section: truncated document?")
    return configuration


def parse_configuration(cib_xml: str) -> dict[str, Any]:
    """Normalise the parts of a CIB (``cibadmin --query``) that prereqos manages.

    Returns ``{"properties", "rsc_defaults", "primitives", "clones", "colocations",
    "orders"}`` in the shape :func:`configured <salt.states.pacemaker_cluster.configured>`
    takes. Values are as stored (``interval="10s"``); scores and order kinds are spelled
    one way. Parameter values are not masked: callers mask what they return.
    """
    conf = _configuration(cib_xml)
    resources = conf.find("resources")
    constraints = conf.find("constraints")
    properties = _nvpairs(conf, "crm_config/cluster_property_set[@id='cib-bootstrap-options']")
    rsc_defaults = conf.find("rsc_defaults")
    return {
        "properties": properties,
        "rsc_defaults": _nvpairs(rsc_defaults, "meta_attributes") if rsc_defaults is not None else {},
        "primitives": {
            primitive.get("id", ""): {
                "agent": _agent(primitive),
                "params": _nvpairs(primitive, "instance_attributes"),
                "meta": _nvpairs(primitive, "meta_attributes"),
                "ops": _ops(primitive),
            }
            for primitive in (resources.iter("primitive") if resources is not None else ())
        },
        "clones": {
            clone.get("id", ""): {"rsc": _first_child_id(clone), "meta": _nvpairs(clone, "meta_attributes")}
            for clone in (resources.iter("clone") if resources is not None else ())
        },
        "colocations": {
            colocation.get("id", ""): {
                "score": score(colocation.get("score", "")) if colocation.get("score") is not None else None,
                "rsc": colocation.get("rsc"),
                "with_rsc": colocation.get("with-rsc"),
            }
            for colocation in (constraints.iter("rsc_colocation") if constraints is not None else ())
        },
        "orders": {
            order.get("id", ""): {"kind": _order_kind(order), "first": order.get("first"), "then": order.get("then")}
            for order in (constraints.iter("rsc_order") if constraints is not None else ())
        },
    }


def rsc_defaults_set_id(cib_xml: str) -> str:
    """Id of the rsc_defaults set to write into: the first existing one, else crmsh's ``rsc-options``."""
    first = _configuration(cib_xml).find("rsc_defaults/meta_attributes")
    return first.get("id", "rsc-options") if first is not None else "rsc-options"


def masked_cib(cib_xml: str) -> str:
    """The CIB with the values of password-like nvpairs masked."""
    root = _xml(cib_xml, "CIB")
    for nvpair in root.iter("nvpair"):
        if prereqos_common.is_secret_name(nvpair.get("name", "")) and nvpair.get("value") is not None:
            nvpair.set("value", prereqos_common.MASK)
    return ET.tostring(root, encoding="unicode")


# ---------------------------------------------------------------- desired state


def _pairs(value: Any, where: str) -> dict[str, str]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise SaltInvocationError(f"{where}: expected a mapping of name: value")
    pairs = {}
    for name, item in value.items():
        if not isinstance(name, str) or not NAME_RE.match(name):
            raise SaltInvocationError(f"{where}: invalid name {name!r}")
        pairs[name] = _text(item, f"{where}.{name}")
    return pairs


def _check_id(value: Any, where: str) -> str:
    if not isinstance(value, str) or not ID_RE.match(value):
        raise SaltInvocationError(f"{where}: {value!r} is not a valid pacemaker id (letters, digits, _ . -)")
    return value


def _normalise_object(section: str, obj_id: str, obj: Any) -> dict[str, Any]:
    where = f"{section}.{obj_id}"
    required, allowed = OBJECT_KEYS[section]
    if not isinstance(obj, dict):
        raise SaltInvocationError(f"{where}: expected a mapping")
    if unknown := sorted(set(obj) - allowed):
        raise SaltInvocationError(f"{where}: unknown keys {unknown}; allowed: {sorted(allowed)}")
    if missing := sorted(required - set(obj)):
        raise SaltInvocationError(f"{where}: missing {missing}")
    if section == "primitives":
        if not isinstance(obj["agent"], str) or not AGENT_RE.match(obj["agent"]):
            raise SaltInvocationError(
                f"{where}.agent: {obj['agent']!r} is not class:provider:type (ocf) or class:type (systemd, stonith...)"
            )
        ops = {} if obj.get("ops") is None else obj["ops"]
        if not isinstance(ops, dict):
            raise SaltInvocationError(f"{where}.ops: expected a mapping of operation name: attributes")
        return {
            "agent": obj["agent"],
            "params": _pairs(obj.get("params"), f"{where}.params"),
            "meta": _pairs(obj.get("meta"), f"{where}.meta"),
            "ops": {
                _check_id(name, f"{where}.ops"): _pairs(attrs, f"{where}.ops.{name}") for name, attrs in ops.items()
            },
        }
    if section == "clones":
        return {"rsc": _check_id(obj["rsc"], f"{where}.rsc"), "meta": _pairs(obj.get("meta"), f"{where}.meta")}
    if section == "colocations":
        return {
            "score": score(_text(obj["score"], f"{where}.score")),
            "rsc": _check_id(obj["rsc"], f"{where}.rsc"),
            "with_rsc": _check_id(obj["with_rsc"], f"{where}.with_rsc"),
        }
    kind = _text(obj.get("kind", "Mandatory"), f"{where}.kind").capitalize()
    if kind not in ORDER_KINDS:
        raise SaltInvocationError(f"{where}.kind: {kind!r} is not one of {list(ORDER_KINDS)}")
    return {
        "kind": kind,
        "first": _check_id(obj["first"], f"{where}.first"),
        "then": _check_id(obj["then"], f"{where}.then"),
    }


def normalise_desired(desired: dict[str, Any]) -> dict[str, Any]:
    """Validate ``desired`` (the shape of :func:`parse_configuration`) and spell its values as the CIB does.

    Raises :class:`SaltInvocationError` naming the offending key; never echoes a value.
    """
    if not isinstance(desired, dict):
        raise SaltInvocationError("desired configuration: expected a mapping")
    if unknown := sorted(set(desired) - set(SECTIONS)):
        raise SaltInvocationError(f"unknown sections {unknown}; allowed: {list(SECTIONS)}")
    result: dict[str, Any] = {
        "properties": _pairs(desired.get("properties"), "properties"),
        "rsc_defaults": _pairs(desired.get("rsc_defaults"), "rsc_defaults"),
    }
    for section in SECTIONS[2:]:
        objects = {} if desired.get(section) is None else desired[section]
        if not isinstance(objects, dict):
            raise SaltInvocationError(f"{section}: expected a mapping of id: definition")
        result[section] = {
            _check_id(obj_id, section): _normalise_object(section, obj_id, obj) for obj_id, obj in objects.items()
        }
    return result


def _comparable(section: str, obj: dict[str, Any]) -> dict[str, Any]:
    """``obj`` with times in milliseconds, so ``10s`` equals ``10000ms``."""
    if section != "primitives":
        return obj
    return {
        **obj,
        "ops": {
            name: {attr: msec(value) if attr in TIME_ATTRS else value for attr, value in attrs.items()}
            for name, attrs in obj["ops"].items()
        },
    }


def _merged(section: str, want: dict[str, Any], have: dict[str, Any] | None) -> dict[str, Any]:
    """What to write for an object: ``want`` plus, from ``have``, the meta attributes and ops it does not name.

    Parameters are exactly ``want``'s. A named operation replaces every current
    operation of that name, keeping the current one's attributes ``want`` does not set.
    """
    if have is None or section in ("colocations", "orders"):
        return want
    merged = {**want, "meta": {**have["meta"], **want["meta"]}}
    if section == "primitives":
        ops = {key: attrs for key, attrs in have["ops"].items() if key.split(":")[0] not in want["ops"]}
        for name, attrs in want["ops"].items():
            current = next((have["ops"][key] for key in have["ops"] if key.split(":")[0] == name), {})
            ops[name] = {**current, **attrs}
        merged["ops"] = ops
    return merged


def diff(desired: dict[str, Any], current: dict[str, Any]) -> dict[str, Any]:
    """What must change for ``current`` (from :func:`parse_configuration`) to satisfy ``desired``.

    Returns ``{section: {name_or_id: {"old": current_or_None, "new": to_write}}}`` with only
    the entries that differ (``{}`` when in sync). Objects and properties ``desired`` does
    not name are left alone. Values are not masked.
    """
    want = normalise_desired(desired)
    changes: dict[str, Any] = {}
    for section in ("properties", "rsc_defaults"):
        have = current.get(section, {})
        entries = {
            name: {"old": have.get(name), "new": value}
            for name, value in want[section].items()
            if have.get(name) != value
        }
        if entries:
            changes[section] = entries
    for section in SECTIONS[2:]:
        have_section = current.get(section, {})
        entries = {}
        for obj_id, obj in want[section].items():
            have = have_section.get(obj_id)
            new = _merged(section, obj, have)
            if have is None or _comparable(section, new) != _comparable(section, have):
                entries[obj_id] = {"old": have, "new": new}
        if entries:
            changes[section] = entries
    return changes


def _pair_tokens(pairs: dict[str, str]) -> list[str]:
    return [f"{name}={value}" for name, value in pairs.items()]


def render_crm(changes: dict[str, Any], rsc_defaults_set: str = "rsc-options") -> str:
    """crm configure syntax (for ``crm configure load update``) writing the ``new`` side of ``changes``.

    Every token is shell-quoted: crmsh 4.4 splits lines with :func:`shlex.split`.
    """
    lines: list[list[str]] = []
    if "properties" in changes:
        values = {name: entry["new"] for name, entry in changes["properties"].items()}
        lines.append(["property", "cib-bootstrap-options:", *_pair_tokens(values)])
    if "rsc_defaults" in changes:
        values = {name: entry["new"] for name, entry in changes["rsc_defaults"].items()}
        lines.append(["rsc_defaults", f"{rsc_defaults_set}:", *_pair_tokens(values)])
    for obj_id, entry in changes.get("primitives", {}).items():
        new = entry["new"]
        line = ["primitive", obj_id, new["agent"]]
        if new["params"]:
            line += ["params", *_pair_tokens(new["params"])]
        if new["meta"]:
            line += ["meta", *_pair_tokens(new["meta"])]
        for key, attrs in new["ops"].items():
            line += ["op", key.split(":")[0], *_pair_tokens(attrs)]
        lines.append(line)
    for obj_id, entry in changes.get("clones", {}).items():
        new = entry["new"]
        lines.append(["clone", obj_id, new["rsc"], *(["meta", *_pair_tokens(new["meta"])] if new["meta"] else [])])
    for obj_id, entry in changes.get("colocations", {}).items():
        new = entry["new"]
        lines.append(["colocation", obj_id, f"{new['score']}:", new["rsc"], new["with_rsc"]])
    for obj_id, entry in changes.get("orders", {}).items():
        new = entry["new"]
        lines.append(["order", obj_id, f"{new['kind']}:", new["first"], new["then"]])
    return "".join(" ".join(shlex.quote(token) for token in line) + "\n" for line in lines)


def masked_changes(changes: dict[str, Any]) -> dict[str, Any]:
    """:func:`diff`'s result as a state's ``changes``: ``{id: {"old", "new"}}``, password-like values masked.

    Properties and resource defaults are reported under ``properties`` and ``rsc_defaults``.
    """
    result: dict[str, Any] = {}
    for section in ("properties", "rsc_defaults"):
        if section in changes:
            entries = changes[section]
            result[section] = {
                "old": {name: entry["old"] for name, entry in entries.items()},
                "new": {name: entry["new"] for name, entry in entries.items()},
            }
    for section in SECTIONS[2:]:
        for obj_id, entry in changes.get(section, {}).items():
            result[obj_id] = {"old": entry["old"], "new": entry["new"]}
    return prereqos_common.mask(result)


def secret_values(changes: dict[str, Any]) -> list[str]:
    """The values of password-like parameters in :func:`diff`'s result, to mask wherever a tool echoes them."""
    return [
        value
        for section in SECTIONS[2:]
        for entry in changes.get(section, {}).values()
        for obj in (entry["old"], entry["new"])
        if obj
        for name, value in obj.get("params", {}).items()
        if prereqos_common.is_secret_name(name)
    ]
