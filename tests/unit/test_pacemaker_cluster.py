"""Unit tests of _modules/pacemaker_cluster.py (running crm_mon, cibadmin and crm, mocked cmd.run_all),
fed outputs recorded from Debian 12's pacemaker 2.1.5 / crmsh 4.4 and Debian 13's pacemaker 3.0 / crmsh 5.0
(tests/fixtures/record-pacemaker.sh), once per release that recorded them."""

from __future__ import annotations

import shlex
from typing import Any

import pytest
from salt.exceptions import CommandExecutionError, SaltInvocationError

from tests.unit.loader import library, load
from tests.unit.test_pacemaker_cluster_library import (
    DESIRED,
    FENCE,
    SECRET,
    VIP,
    VIP_LINE,
    current,
    per_release,
    rec,
)

pcm = load("_modules", "pacemaker_cluster")
pacemaker = library("prereqos_pacemaker")


def result(stdout: str = "", stderr: str = "", retcode: int = 0) -> dict[str, Any]:
    return {"pid": 4242, "retcode": retcode, "stdout": stdout, "stderr": stderr}


class FakeRun:
    """``cmd.run_all`` answering from a queue of results, recording every call."""

    def __init__(self) -> None:
        self.results: list[dict[str, Any]] = []
        self.calls: list[tuple[list[str], dict[str, Any]]] = []

    def __call__(self, argv: list[str], **kwargs: Any) -> dict[str, Any]:
        self.calls.append((argv, kwargs))
        assert kwargs["python_shell"] is False and isinstance(argv, list)
        assert kwargs["output_loglevel"] == "quiet"
        return self.results.pop(0)

    @property
    def argvs(self) -> list[list[str]]:
        return [argv for argv, _ in self.calls]


@pytest.fixture
def run() -> FakeRun:
    return FakeRun()


@pytest.fixture
def configure_loader_modules(run: FakeRun) -> dict:
    return {pcm: {"__salt__": {"cmd.run_all": run}}}


# ---------------------------------------------------------------- __virtual__


def test_virtual_needs_crm_mon_and_cibadmin(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(pcm.salt.utils.path, "which", lambda name: None if name == "cibadmin" else f"/usr/sbin/{name}")
    assert pcm.__virtual__() == (False, "pacemaker_cluster: cibadmin not found (install pacemaker-cli-utils)")
    monkeypatch.setattr(pcm.salt.utils.path, "which", lambda name: f"/usr/sbin/{name}")
    assert pcm.__virtual__() == "pacemaker_cluster"


# ---------------------------------------------------------------- status


@per_release("crm_mon-3-nodes.xml")
def test_status_three_nodes_with_vip_and_clone(run: FakeRun, release: str) -> None:
    run.results = [result(rec("crm_mon-3-nodes.xml", release))]
    status = pcm.status()
    assert run.argvs == [["crm_mon", "--output-as=xml", "--one-shot"]]
    assert status["dc"] == "ctrl1" and status["quorate"] is True
    assert status["nodes"] == {
        name: {"online": True, "standby": False, "maintenance": False} for name in ("ctrl1", "ctrl2", "ctrl3")
    }
    assert status["resources"]["haproxy-clone"] == {
        "agent": "systemd:haproxy",
        "role": "Started",
        "active": True,
        "nodes": ["ctrl1", "ctrl2", "ctrl3"],
    }
    vip = status["resources"]["vip_srv"]
    assert vip["agent"] == "ocf:heartbeat:IPaddr2" and vip["role"] == "Started" and vip["active"]
    assert len(vip["nodes"]) == 1
    assert set(status["resources"]) == {"vip_srv", "haproxy-clone"}


@per_release("crm_mon-node-offline.xml")
def test_status_one_node_offline_groups_stopped_instance(run: FakeRun, release: str) -> None:
    run.results = [result(rec("crm_mon-node-offline.xml", release))]
    status = pcm.status()
    assert status["nodes"]["ctrl3"]["online"] is False
    assert status["quorate"] is True
    clone = status["resources"]["haproxy-clone"]
    assert clone["role"] == "Started,Stopped" and clone["active"] is True
    assert "ctrl3" not in clone["nodes"] and len(clone["nodes"]) == 2


@per_release("crm_mon-no-dc.xml")
def test_status_no_dc_yet(run: FakeRun, release: str) -> None:
    # Recorded within the first seconds of pacemaker: nodes_configured may still be 0.
    run.results = [result(rec("crm_mon-no-dc.xml", release))]
    status = pcm.status()
    assert status["dc"] is None and status["quorate"] is False and status["resources"] == {}
    assert not any(node["online"] for node in status["nodes"].values())


@per_release("crm_mon-no-dc-nodes.xml")
def test_status_no_dc_yet_with_nodes(run: FakeRun, release: str) -> None:
    run.results = [result(rec("crm_mon-no-dc-nodes.xml", release))]
    offline = {"online": False, "standby": False, "maintenance": False}
    assert pcm.status() == {
        "dc": None,
        "quorate": False,
        "nodes": {"ctrl1": offline, "ctrl2": offline, "ctrl3": offline},
        "resources": {},
    }


@per_release("crm_mon-no-quorum.xml")
def test_status_dc_without_quorum(run: FakeRun, release: str) -> None:
    run.results = [result(rec("crm_mon-no-quorum.xml", release))]
    status = pcm.status()
    assert status["dc"] == "ctrl1" and status["quorate"] is False
    assert [name for name, node in status["nodes"].items() if node["online"]] == ["ctrl1"]


@per_release("crm_mon-not-running.xml")
def test_status_pacemaker_not_running_raises_its_error(run: FakeRun, release: str) -> None:
    run.results = [result(rec("crm_mon-not-running.xml", release), retcode=102)]
    with pytest.raises(CommandExecutionError, match=r"Not connected \(code 102\).*Connection refused"):
        pcm.status()


def test_status_error_without_details(run: FakeRun) -> None:
    run.results = [
        result('<pacemaker-result api-version="2.25"><status code="105" message="No such device"/></pacemaker-result>')
    ]
    with pytest.raises(CommandExecutionError, match=r"^crm_mon: No such device \(code 105\)$"):
        pcm.status()


def test_status_without_output_reports_stderr(run: FakeRun) -> None:
    run.results = [result("", "crm_mon: command failed", retcode=1)]
    with pytest.raises(CommandExecutionError, match=r"crm_mon failed \(rc 1\): crm_mon: command failed"):
        pcm.status()


# ---------------------------------------------------------------- health / vip_holder


@per_release("crm_mon-3-nodes.xml")
def test_health_ok_when_whole(run: FakeRun, release: str) -> None:
    run.results = [result(rec("crm_mon-3-nodes.xml", release))]
    report = pcm.health(["ctrl1", "ctrl2", "ctrl3"], ["vip_srv", "haproxy-clone"])
    assert report["ok"] is True and report["problems"] == []
    assert report["online"] == ["ctrl1", "ctrl2", "ctrl3"] and report["offline"] == []
    assert report["resources"]["haproxy-clone"] == ["ctrl1", "ctrl2", "ctrl3"]
    assert report["dc"] == "ctrl1" and report["quorate"] is True


@per_release("crm_mon-node-offline.xml")
def test_health_defaults_to_every_known_node(run: FakeRun, release: str) -> None:
    run.results = [result(rec("crm_mon-node-offline.xml", release))]
    report = pcm.health()
    assert report["ok"] is False
    assert report["offline"] == ["ctrl3"] and report["problems"] == ["node ctrl3 is offline"]


@per_release("crm_mon-no-quorum.xml")
def test_health_reports_every_problem(run: FakeRun, release: str) -> None:
    run.results = [result(rec("crm_mon-no-quorum.xml", release))]
    report = pcm.health(["ctrl1", "ctrl2", "ctrl3", "ctrl4"], ["vip_srv"])
    assert report["ok"] is False
    assert report["offline"] == ["ctrl2", "ctrl3", "ctrl4"]
    assert report["problems"] == [
        "partition without quorum",
        "node ctrl2 is offline",
        "node ctrl3 is offline",
        "node ctrl4 is not a cluster member",
        "resource vip_srv is not configured",
    ]
    assert report["resources"] == {"vip_srv": []}


@per_release("crm_mon-no-dc-nodes.xml", "crm_mon-3-nodes.xml")
def test_health_no_dc_and_stopped_resource(run: FakeRun, release: str) -> None:
    run.results = [result(rec("crm_mon-no-dc-nodes.xml", release))]
    assert pcm.health(["ctrl1", "ctrl9"])["problems"] == [
        "no DC elected",
        "partition without quorum",
        "node ctrl1 is offline",
        "node ctrl9 is not a cluster member",
    ]
    stopped = rec("crm_mon-3-nodes.xml", release).replace(
        'role="Started" active="true"', 'role="Stopped" active="false"'
    )
    run.results = [result(stopped)]
    assert pcm.health(resources=["vip_srv"])["problems"] == ["resource vip_srv is not started on any node"]


@per_release("crm_mon-not-running.xml")
def test_health_never_raises_when_pacemaker_is_down(run: FakeRun, release: str) -> None:
    run.results = [result(rec("crm_mon-not-running.xml", release), retcode=102)]
    report = pcm.health(["ctrl1", "ctrl2"])
    assert report["ok"] is False and report["dc"] is None and report["online"] == []
    assert report["offline"] == ["ctrl1", "ctrl2"]
    assert report["problems"][0].startswith("pacemaker status unavailable: crm_mon: Not connected (code 102)")


@per_release("crm_mon-3-nodes.xml")
def test_vip_holder(run: FakeRun, release: str) -> None:
    run.results = [result(rec("crm_mon-3-nodes.xml", release))]
    holders = pcm.vip_holder("vip_srv")
    assert len(holders) == 1 and holders[0] in ("ctrl1", "ctrl2", "ctrl3")
    run.results = [result(rec("crm_mon-3-nodes.xml", release))]
    with pytest.raises(CommandExecutionError, match="vip_api is not configured"):
        pcm.vip_holder("vip_api")


# ---------------------------------------------------------------- CIB


@per_release("cib-stonith-host.xml")
def test_cib_masks_password_like_values(run: FakeRun, release: str) -> None:
    run.results = [result(rec("cib-stonith-host.xml", release))]
    text = pcm.cib()
    assert run.argvs == [["cibadmin", "--query"]]
    assert "dummy" not in text and 'name="password" value="******"' in text
    assert 'name="username" value="admin"' in text


@per_release("cibadmin-not-running.txt")
def test_cib_not_running_raises_stderr(run: FakeRun, release: str) -> None:
    err = rec("cibadmin-not-running.txt", release).rsplit("rc=", 1)[0]
    run.results = [result("", err, retcode=102)]
    with pytest.raises(CommandExecutionError, match=r"rc 102.*Could not connect to the CIB"):
        pcm.cib()


# ---------------------------------------------------------------- apply


@per_release("cib-after-apply.xml")
def test_apply_on_a_matching_cib_writes_nothing(run: FakeRun, release: str) -> None:
    run.results = [result(rec("cib-after-apply.xml", release))]
    assert pcm.apply(DESIRED) == {}
    assert run.argvs == [["cibadmin", "--query"]]


@per_release("cib-before-apply.xml")
def test_apply_test_mode_predicts_and_writes_nothing(run: FakeRun, release: str) -> None:
    run.results = [result(rec("cib-before-apply.xml", release))]
    changes = pcm.apply(DESIRED, test=True)
    assert sorted(changes) == sorted(
        [
            "properties",
            "rsc_defaults",
            "vip_srv",
            "haproxy",
            "haproxy-clone",
            "vip_srv-with-haproxy",
            "haproxy-before-vip_srv",
        ]
    )
    assert run.argvs == [["cibadmin", "--query"]]


@per_release("cib-before-apply.xml", "cib-after-apply.xml")
def test_apply_writes_the_difference_on_stdin_and_checks_the_result(
    run: FakeRun, monkeypatch: pytest.MonkeyPatch, release: str
) -> None:
    monkeypatch.setattr(pcm.salt.utils.path, "which", lambda name: f"/usr/sbin/{name}")
    run.results = [
        result(rec("cib-before-apply.xml", release)),
        result(stderr="WARNING: blind faith"),
        result(rec("cib-after-apply.xml", release)),
    ]
    changes = pcm.apply(DESIRED)
    assert run.argvs == [
        ["cibadmin", "--query"],
        ["crm", "--no", "--display=plain", "configure", "load", "update", "-"],
        ["cibadmin", "--query"],
    ]
    assert run.calls[1][1]["stdin"] == pacemaker.render_crm(
        pacemaker.diff(DESIRED, current("cib-before-apply.xml", release))
    )
    assert changes["vip_srv"]["old"] is None and changes["vip_srv"]["new"]["params"]["ip"] == VIP


@per_release("cib-drift.xml", "cib-drift-reapplied.xml")
def test_apply_updates_only_the_drifted_object(run: FakeRun, monkeypatch: pytest.MonkeyPatch, release: str) -> None:
    monkeypatch.setattr(pcm.salt.utils.path, "which", lambda name: f"/usr/sbin/{name}")
    run.results = [result(rec("cib-drift.xml", release)), result(), result(rec("cib-drift-reapplied.xml", release))]
    changes = pcm.apply(DESIRED)
    assert list(changes) == ["vip_srv"]
    assert run.calls[1][1]["stdin"] == (f"{VIP_LINE} meta target-role=Stopped op monitor interval=10s\n")


@per_release("cib-before-apply.xml", "cib-stonith-host.xml")
def test_apply_secret_only_on_stdin_never_in_argv_or_return(
    run: FakeRun, monkeypatch: pytest.MonkeyPatch, release: str
) -> None:
    monkeypatch.setattr(pcm.salt.utils.path, "which", lambda name: f"/usr/sbin/{name}")
    desired = {"properties": {"stonith-enabled": "false"}, "primitives": FENCE}
    run.results = [result(rec("cib-before-apply.xml", release)), result(), result(rec("cib-stonith-host.xml", release))]
    changes = pcm.apply(desired)
    assert all("dummy" not in " ".join(argv) for argv in run.argvs)
    assert f"password={SECRET}" in shlex.split(run.calls[1][1]["stdin"].splitlines()[1])
    assert "dummy" not in repr(changes)


@per_release("crm-load-error.txt", "cib-before-apply.xml")
def test_apply_failure_raises_crmsh_error_masked(run: FakeRun, monkeypatch: pytest.MonkeyPatch, release: str) -> None:
    monkeypatch.setattr(pcm.salt.utils.path, "which", lambda name: f"/usr/sbin/{name}")
    crm_error = rec("crm-load-error.txt", release).rsplit("rc=", 1)[0]
    leaky = crm_error + "\x1b[31mERROR\x1b[0m: fence_x: password=hunter2 passwd='a b' secret=\"c d\" ip=1.2.3.4\n"
    run.results = [result(rec("cib-before-apply.xml", release)), result(stderr=leaky, retcode=1)]
    with pytest.raises(CommandExecutionError) as err:
        pcm.apply(DESIRED)
    message = str(err.value)
    assert message.startswith("crm configure load update failed (rc 1): ")
    assert "NoSuchAgent" in message and "ip=1.2.3.4" in message and "\x1b" not in message
    assert "hunter2" not in message and "a b" not in message and "c d" not in message
    assert len(run.calls) == 2


@per_release("cib-before-apply.xml")
def test_apply_failure_masks_a_fence_password_the_tool_echoes_alone(
    run: FakeRun, monkeypatch: pytest.MonkeyPatch, release: str
) -> None:
    monkeypatch.setattr(pcm.salt.utils.path, "which", lambda name: f"/usr/sbin/{name}")
    run.results = [
        result(rec("cib-before-apply.xml", release)),
        result(stderr=f"ERROR: fence_ctrl1: cannot parse '{SECRET}' near line 2\n", retcode=1),
    ]
    with pytest.raises(CommandExecutionError) as err:
        pcm.apply({"primitives": FENCE})
    assert str(err.value) == (
        "crm configure load update failed (rc 1): ERROR: fence_ctrl1: cannot parse '******' near line 2"
    )


@per_release("cib-before-apply.xml")
def test_apply_raises_when_the_cib_does_not_converge(
    run: FakeRun, monkeypatch: pytest.MonkeyPatch, release: str
) -> None:
    monkeypatch.setattr(pcm.salt.utils.path, "which", lambda name: f"/usr/sbin/{name}")
    run.results = [result(rec("cib-before-apply.xml", release)), result(), result(rec("cib-before-apply.xml", release))]
    with pytest.raises(CommandExecutionError, match=r"still differ in the CIB: .*'vip_srv'"):
        pcm.apply(DESIRED)


@per_release("cib-before-apply.xml", "cib-after-apply.xml")
def test_apply_needs_crmsh_only_to_write(run: FakeRun, monkeypatch: pytest.MonkeyPatch, release: str) -> None:
    monkeypatch.setattr(pcm.salt.utils.path, "which", lambda name: None)
    run.results = [result(rec("cib-before-apply.xml", release))]
    with pytest.raises(CommandExecutionError, match="crm not found: install crmsh"):
        pcm.apply(DESIRED)
    run.results = [result(rec("cib-after-apply.xml", release))]
    assert pcm.apply(DESIRED) == {}


@per_release("cib-before-apply.xml")
def test_apply_bad_desired_reads_but_never_writes(run: FakeRun, release: str) -> None:
    run.results = [result(rec("cib-before-apply.xml", release))]
    with pytest.raises(SaltInvocationError):
        pcm.apply({"primitives": {"v": {"agent": "nope"}}})
    assert run.argvs == [["cibadmin", "--query"]]


# ---------------------------------------------------------------- standby


def recorded_command(name: str, release: str) -> dict[str, Any]:
    """A command's stdout, stderr and exit code recorded as ``--- stdout``/``--- stderr``/``--- rc=N``."""
    text = rec(name, release)
    stdout = text.split("--- stdout\n", 1)[1].split("--- stderr\n", 1)[0]
    stderr, code = text.split("--- stderr\n", 1)[1].rsplit("--- rc=", 1)
    return result(stdout, stderr, int(code))


@per_release("crm_mon-3-nodes.xml", "standby-on.txt")
def test_standby_puts_a_node_in_standby_for_good(run: FakeRun, release: str) -> None:
    run.results = [result(rec("crm_mon-3-nodes.xml", release)), recorded_command("standby-on.txt", release)]
    assert pcm.standby("ctrl2") is True
    assert run.argvs[1] == [
        "crm_attribute",
        "--node",
        "ctrl2",
        "--name",
        "standby",
        "--lifetime",
        "forever",
        "--update",
        "on",
    ]


@per_release("crm_mon-standby.xml", "standby-off.txt")
def test_standby_off_and_no_op(run: FakeRun, release: str) -> None:
    run.results = [result(rec("crm_mon-standby.xml", release))]
    assert pcm.standby("ctrl2", enabled=True) is False
    run.results = [result(rec("crm_mon-standby.xml", release)), recorded_command("standby-off.txt", release)]
    assert pcm.standby("ctrl2", enabled=False) is True
    assert run.argvs[-1][-1] == "--delete"


@per_release("crm_mon-3-nodes.xml")
def test_standby_of_an_unknown_node_or_a_failure_raises(run: FakeRun, release: str) -> None:
    run.results = [result(rec("crm_mon-3-nodes.xml", release))]
    with pytest.raises(CommandExecutionError, match=r"ctrl9 is not a node of this cluster \(ctrl1, ctrl2, ctrl3\)"):
        pcm.standby("ctrl9")
    run.results = [result(rec("crm_mon-3-nodes.xml", release)), result(stderr="Could not map name=ctrl2", retcode=105)]
    with pytest.raises(CommandExecutionError, match="crm_attribute standby failed \\(rc 105\\): Could not map"):
        pcm.standby("ctrl2")


@per_release("crm_mon-standby.xml")
def test_resources_on_a_node(run: FakeRun, release: str) -> None:
    run.results = [result(rec("crm_mon-standby.xml", release))] * 2
    assert pcm.resources_on("ctrl2") == []
    assert "haproxy-clone" in pcm.resources_on("ctrl1")
