"""Pacemaker/corosync cluster: read its status and configuration, apply prereqos' objects.

Written against Debian 12: corosync 3.1.7, pacemaker 2.1.5, crmsh 4.4.

- Status comes from ``crm_mon --output-as=xml --one-shot`` (the ``<pacemaker-result>``
  document, api-version 2.x); the configuration from ``cibadmin --query``.
- Changes are written with ``crm configure load update -``: crm syntax for only the
  objects that differ, fed on standard input (never on a command line, never logged).
  crmsh merges ``property``/``rsc_defaults`` into the existing sets and replaces the
  other objects it is given, in one CIB patch; the whole CIB is never replaced.
- prereqos manages only the ids it names. Objects not named are left alone, and of a
  named object the meta attributes and operations that are not named are kept.

The parsers, the desired-vs-live diff and the crm text are pure functions in
``_utils/prereqos_pacemaker.py``. Values of parameters whose name looks like a password
(``passw``, ``secret``) never appear in a return value, a log line or a command line.
"""

from __future__ import annotations

import importlib
import logging
from typing import Any

import prereqos_common
import prereqos_pacemaker
import salt.utils.path
from salt.exceptions import CommandExecutionError

# A sync may have replaced a library since this process first imported it.
prereqos_common = importlib.reload(prereqos_common)
prereqos_pacemaker = importlib.reload(prereqos_pacemaker)

__virtualname__ = "pacemaker_cluster"

log = logging.getLogger(__name__)

REQUIRED_BINARIES = ("crm_mon", "cibadmin", "crm_attribute")
CRM_LOAD = ["crm", "--no", "--display=plain", "configure", "load", "update", "-"]


def __virtual__() -> str | tuple[bool, str]:
    missing = [name for name in REQUIRED_BINARIES if not salt.utils.path.which(name)]
    if missing:
        return False, f"pacemaker_cluster: {', '.join(missing)} not found (install pacemaker-cli-utils)"
    return __virtualname__


def _run(argv: list[str], stdin: str | None = None) -> dict[str, Any]:
    """Run ``argv`` without a shell; its output is never logged (the CIB holds fence passwords)."""
    return __salt__["cmd.run_all"](
        argv,
        python_shell=False,
        stdin=stdin,
        ignore_retcode=True,
        output_loglevel="quiet",
    )


def _query_cib() -> str:
    ret = _run(["cibadmin", "--query"])
    if ret["retcode"] != 0:
        raise CommandExecutionError(
            f"cibadmin --query failed (rc {ret['retcode']}): {ret['stderr'].strip() or ret['stdout'].strip()}"
        )
    return ret["stdout"]


def status() -> dict[str, Any]:
    """Cluster status from ``crm_mon --output-as=xml --one-shot``.

    Returns ``{"dc": name|None, "quorate": bool, "nodes": {name: {"online", "standby",
    "maintenance"}}, "resources": {id: {"agent", "role", "active", "nodes"}}}``.

    CLI Example:

    .. code-block:: bash

        salt ctrl1 pacemaker_cluster.status
    """
    ret = _run(["crm_mon", "--output-as=xml", "--one-shot"])
    if not ret["stdout"].strip():
        raise CommandExecutionError(f"crm_mon failed (rc {ret['retcode']}): {ret['stderr'].strip()}")
    return prereqos_pacemaker.parse_status(ret["stdout"])


def health(expected_nodes: list[str] | None = None, resources: list[str] | None = None) -> dict[str, Any]:
    """Whether the cluster is whole: every expected node online, quorate, a DC, each named resource started.

    ``expected_nodes`` defaults to every node the cluster knows. Never raises: when
    pacemaker is down, ``ok`` is False and ``problems`` says why.

    CLI Example:

    .. code-block:: bash

        salt ctrl1 pacemaker_cluster.health '[ctrl1, ctrl2, ctrl3]' '[vip_api, haproxy-clone]'
    """
    try:
        current = status()
    except CommandExecutionError as exc:
        return {
            "ok": False,
            "dc": None,
            "quorate": False,
            "online": [],
            "offline": list(expected_nodes or []),
            "resources": {},
            "problems": [f"pacemaker status unavailable: {exc}"],
        }
    return prereqos_pacemaker.health_report(current, expected_nodes, resources)


def vip_holder(resource_id: str) -> list[str]:
    """Nodes where ``resource_id`` (e.g. a VIP) is active; ``[]`` when it is stopped.

    CLI Example:

    .. code-block:: bash

        salt ctrl1 pacemaker_cluster.vip_holder vip_api
    """
    entry = status()["resources"].get(resource_id)
    if entry is None:
        raise CommandExecutionError(f"resource {resource_id} is not configured in the cluster")
    return entry["nodes"]


def resources_on(node: str) -> list[str]:
    """The resources active on ``node``.

    CLI Example:

    .. code-block:: bash

        salt ctrl1 pacemaker_cluster.resources_on ctrl2
    """
    return prereqos_pacemaker.resources_on(status(), node)


def standby(node: str, enabled: bool = True) -> bool:
    """Put ``node`` in standby (its resources move to the other nodes and it takes none), or
    take it out (``enabled=False``). Permanent: kept across reboots. True when it changed.

    CLI Example:

    .. code-block:: bash

        salt ctrl1 pacemaker_cluster.standby ctrl2
        salt ctrl1 pacemaker_cluster.standby ctrl2 enabled=False
    """
    nodes = status()["nodes"]
    if node not in nodes:
        raise CommandExecutionError(f"{node} is not a node of this cluster ({', '.join(sorted(nodes))})")
    if nodes[node]["standby"] == enabled:
        return False
    change = ["--update", "on"] if enabled else ["--delete"]
    ret = _run(["crm_attribute", "--node", node, "--name", "standby", "--lifetime", "forever", *change])
    if ret["retcode"] != 0:
        raise CommandExecutionError(
            f"crm_attribute standby failed (rc {ret['retcode']}): {ret['stderr'].strip() or ret['stdout'].strip()}"
        )
    return True


def cib() -> str:
    """The live CIB (``cibadmin --query``), with values of password-like nvpairs masked.

    CLI Example:

    .. code-block:: bash

        salt ctrl1 pacemaker_cluster.cib
    """
    return prereqos_pacemaker.masked_cib(_query_cib())


def apply(desired: dict[str, Any], test: bool = False) -> dict[str, Any]:
    """Make the live CIB satisfy ``desired``, writing only the objects that differ.

    Returns the changes (``{id: {"old", "new"}}``, masked; ``{}`` when nothing differs).
    With ``test=True`` returns the changes that would be made and writes nothing.
    After writing, re-reads the CIB and raises if it still differs.

    CLI Example:

    .. code-block:: bash

        salt ctrl1 pacemaker_cluster.apply '{rsc_defaults: {resource-stickiness: 100}}' test=True
    """
    cib_xml = _query_cib()
    changes = prereqos_pacemaker.diff(desired, prereqos_pacemaker.parse_configuration(cib_xml))
    masked = prereqos_pacemaker.masked_changes(changes)
    if not changes or test:
        return masked
    if not salt.utils.path.which("crm"):
        raise CommandExecutionError("crm not found: install crmsh to change the cluster configuration")
    crm_text = prereqos_pacemaker.render_crm(changes, prereqos_pacemaker.rsc_defaults_set_id(cib_xml))
    ret = _run(CRM_LOAD, stdin=crm_text)
    if ret["retcode"] != 0:
        output = prereqos_common.strip_colours(ret["stderr"].strip() or ret["stdout"].strip())
        raise CommandExecutionError(
            f"crm configure load update failed (rc {ret['retcode']}): "
            f"{prereqos_common.mask(output, prereqos_pacemaker.secret_values(changes))}"
        )
    left = prereqos_pacemaker.diff(desired, prereqos_pacemaker.parse_configuration(_query_cib()))
    if left:
        ids = sorted(key for section in left.values() for key in section)
        raise CommandExecutionError(f"crm configure load update succeeded but these still differ in the CIB: {ids}")
    log.info("pacemaker_cluster: applied %s", sorted(masked))
    return masked
