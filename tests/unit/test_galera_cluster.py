"""Unit tests of _modules/galera_cluster.py (reading and acting, mocked cmd.run_all), fed outputs
recorded from Debian 12's MariaDB 10.11 and Debian 13's MariaDB 11.8, both with galera-4
(tests/fixtures/record-galera.sh), once per release that recorded them."""

from __future__ import annotations

import os
import re
import shutil
from pathlib import Path
from typing import Any

import pytest
from salt.exceptions import CommandExecutionError

from tests.unit.loader import library, load, recorded_path
from tests.unit.test_galera_cluster_library import (
    HOSTILE,
    RECORDED_SESSION_IDS,
    SECRET,
    SST_GRANTS,
    per_release,
    rec,
    uuid_of,
)

gc = load("_modules", "galera_cluster")
galera = library("prereqos_galera")
common = library("prereqos_common")

STATUS_SQL = "SHOW GLOBAL STATUS LIKE 'wsrep_%'"
WSREP_ON_SQL = "SELECT @@GLOBAL.wsrep_on"


def result(stdout: str = "", stderr: str = "", retcode: int = 0) -> dict[str, Any]:
    return {"pid": 4242, "retcode": retcode, "stdout": stdout, "stderr": stderr}


def down(release: str) -> dict[str, Any]:
    """The client's answer when the server is down, as recorded on Debian ``release``."""
    return result(stderr=rec("client-error-down.txt", release), retcode=1)


INACTIVE = result("inactive\n", retcode=3)


def command_key(argv: list[str], kwargs: dict[str, Any]) -> str:
    """How FakeHost files a command: the SQL text, ``stdin:<first word>``, or the argv."""
    if argv[0] == "mariadb":
        if "--execute" in argv:
            return argv[-1]
        return "stdin:" + kwargs["stdin"].split(None, 1)[0]
    return " ".join(argv)


class FakeHost:
    """``cmd.run_all`` answering per command (a list answers in turn, its last entry for good)."""

    def __init__(self) -> None:
        self.answers: dict[str, Any] = {}
        self.calls: list[tuple[list[str], dict[str, Any]]] = []

    def __call__(self, argv: list[str], **kwargs: Any) -> dict[str, Any]:
        assert kwargs["python_shell"] is False and isinstance(argv, list)
        self.calls.append((argv, kwargs))
        answer = self.answers[command_key(argv, kwargs)]
        if isinstance(answer, list):
            return answer.pop(0) if len(answer) > 1 else answer[0]
        return answer

    @property
    def keys(self) -> list[str]:
        return [command_key(argv, kwargs) for argv, kwargs in self.calls]

    def member(
        self, release: str, status: str = "status-synced-primary.txt", databases: str = "databases-member.txt"
    ) -> None:
        self.answers.update(
            {
                WSREP_ON_SQL: result(rec("wsrep-on-member.txt", release)),
                STATUS_SQL: result(rec(status, release)),
                "SHOW DATABASES": result(rec(databases, release)),
                "SELECT 1": result("1\n"),
                "systemctl is-active mariadb": result("active\n"),
            }
        )

    def standalone(self, release: str) -> None:
        self.answers.update(
            {
                WSREP_ON_SQL: result(rec("wsrep-on-standalone.txt", release)),
                STATUS_SQL: result(rec("status-standalone.txt", release)),
                "SHOW DATABASES": result(rec("databases-standalone.txt", release)),
                "SELECT 1": result("1\n"),
                "systemctl is-active mariadb": result("active\n"),
            }
        )

    def stopped(self, release: str) -> None:
        self.answers.update(
            {WSREP_ON_SQL: down(release), "SELECT 1": down(release), "systemctl is-active mariadb": INACTIVE}
        )


@pytest.fixture
def host() -> FakeHost:
    return FakeHost()


@pytest.fixture
def configure_loader_modules(host: FakeHost) -> dict:
    return {gc: {"__salt__": {"cmd.run_all": host}}}


def datadir(tmp_path: Path, name: str | None, release: str | None = None) -> str:
    """A datadir holding a copy of a grastate.dat recorded on Debian ``release`` (name None: no file)."""
    if name is not None:
        shutil.copy(recorded_path("galera", name, str(release)), tmp_path / "grastate.dat")
    return str(tmp_path)


def grastate_file(tmp_path: Path, name: str | None, release: str | None = None) -> str:
    """Path of a copy of a recorded grastate.dat in the datadir ``tmp_path`` (name None: no file)."""
    return galera.grastate_path(datadir(tmp_path, name, release))


# ---------------------------------------------------------------- __virtual__ and plumbing


def test_virtual_needs_the_mariadb_client(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(gc.salt.utils.path, "which", lambda name: None)
    assert gc.__virtual__() == (False, "galera_cluster: the mariadb client is not installed (package mariadb-client)")
    monkeypatch.setattr(gc.salt.utils.path, "which", lambda name: f"/usr/bin/{name}")
    assert gc.__virtual__() == "galera_cluster"


@per_release("wsrep-on-member.txt", "status-synced-primary.txt", "databases-member.txt")
def test_sql_argv_is_root_over_the_socket_in_batch_mode(host: FakeHost, release: str) -> None:
    host.member(release)
    gc.status()
    argv, kwargs = host.calls[0]
    assert argv == [
        "mariadb",
        "--user=root",
        "--protocol=socket",
        "--default-character-set=utf8mb4",
        "--batch",
        "--skip-column-names",
        "--skip-print-query-on-error",
        "--connect-timeout=10",
        "--execute",
        STATUS_SQL,
    ]
    assert kwargs["rstrip"] is False and "stdin" not in kwargs


@per_release("client-error-no-socket.txt")
def test_server_down_is_its_own_error(host: FakeHost, release: str) -> None:
    host.answers[STATUS_SQL] = result(stderr=rec("client-error-no-socket.txt", release), retcode=1)
    with pytest.raises(gc.ServerDown, match="MariaDB is not running: ERROR 2002"):
        gc.status()


@per_release("client-error-non-primary.txt")
def test_other_client_errors_are_not_server_down(host: FakeHost, release: str) -> None:
    host.answers["SHOW DATABASES"] = result(stderr=rec("client-error-non-primary.txt", release), retcode=1)
    with pytest.raises(CommandExecutionError, match="mariadb client failed: ERROR 1047") as info:
        gc._sql("SHOW DATABASES")
    assert not isinstance(info.value, gc.ServerDown)


def test_start_stop_and_unit_state_use_systemctl(host: FakeHost) -> None:
    host.answers.update(
        {
            "systemctl start mariadb": result(),
            "systemctl stop mariadb": result(),
            "systemctl is-active mariadb": result("activating\n", retcode=3),
        }
    )
    assert gc.start() is True and gc.stop() is True
    assert gc._unit_state("mariadb") == "activating"
    assert host.calls[0][1]["timeout"] == 900


def test_start_failure_raises_with_systemctl_stderr(host: FakeHost) -> None:
    host.answers["systemctl start mariadb"] = result(stderr="Job for mariadb.service failed.", retcode=1)
    with pytest.raises(CommandExecutionError, match=r"systemctl start mariadb failed: Job for mariadb\.service failed"):
        gc.start()
    host.answers["systemctl stop mariadb"] = result(stderr="Access denied", retcode=1)
    with pytest.raises(CommandExecutionError, match="systemctl stop mariadb failed: Access denied"):
        gc.stop()


def test_unit_state_without_answer_raises(host: FakeHost) -> None:
    host.answers["systemctl is-active mariadb"] = result(stderr="System has not been booted with systemd", retcode=1)
    with pytest.raises(CommandExecutionError, match="gave no answer: System has not been booted"):
        gc._unit_state("mariadb")


# ---------------------------------------------------------------- grastate.dat


RECORDED_GRASTATES = [
    ("grastate-running.dat", -1, True),
    ("grastate-clean-last.dat", 15, True),
    ("grastate-clean-not-last.dat", 13, False),
    ("grastate-killed.dat", -1, False),
    ("grastate-killed-after-recover.dat", -1, False),
    ("grastate-killed-non-primary.dat", -1, False),
    ("handmade-grastate-v2.0.dat", 12, False),
]


@per_release(*(name for name, *_ in RECORDED_GRASTATES))
@pytest.mark.parametrize(("name", "seqno", "safe"), RECORDED_GRASTATES)
def test_grastate_recorded(tmp_path: Path, name: str, seqno: int, safe: bool, release: str) -> None:
    """grastate.dat version 2.1 as galera-4 26.4.23 writes it under both MariaDB releases (v2.0: made by hand)."""
    saved = gc.grastate(datadir(tmp_path, name, release))
    assert saved["uuid"] == uuid_of(release) and saved["seqno"] == seqno and saved["safe_to_bootstrap"] is safe
    assert galera.is_fresh(saved) is False


def test_grastate_absent_is_none_and_fresh(tmp_path: Path) -> None:
    assert gc.grastate(datadir(tmp_path, None)) is None
    assert galera.is_fresh(None) is True


@per_release("grastate-fresh-never-joined.dat")
def test_grastate_empty_file_left_by_a_node_that_never_joined_is_fresh(tmp_path: Path, release: str) -> None:
    saved = gc.grastate(datadir(tmp_path, "grastate-fresh-never-joined.dat", release))
    assert saved == {"uuid": galera.ZERO_UUID, "seqno": -1, "safe_to_bootstrap": False, "version": None}
    assert galera.is_fresh(saved) is True


CORRUPT_GRASTATES = [
    ("corrupt-grastate-truncated.dat", "no valid uuid"),
    ("corrupt-grastate-garbage.dat", "unexpected line 1"),
    ("corrupt-grastate-seqno.dat", "no valid seqno"),
    ("corrupt-grastate-safe.dat", "safe_to_bootstrap is 'yes'"),
    ("corrupt-grastate-duplicate.dat", "unexpected line 5"),
]


@per_release(*(name for name, _ in CORRUPT_GRASTATES))
@pytest.mark.parametrize(("name", "message"), CORRUPT_GRASTATES)
def test_grastate_corrupt_names_the_file(tmp_path: Path, name: str, message: str, release: str) -> None:
    path = grastate_file(tmp_path, name, release)
    with pytest.raises(CommandExecutionError, match=f"{re.escape(path)} is corrupt: {message}"):
        gc.grastate(str(tmp_path))


def test_grastate_binary_or_huge_or_unreadable(tmp_path: Path) -> None:
    path = tmp_path / "grastate.dat"
    path.write_bytes(b"\xff\xfe\x00garbage")
    with pytest.raises(CommandExecutionError, match="is corrupt: not a text file"):
        gc.grastate(str(tmp_path))
    path.write_text("# x\n" * 20000)
    with pytest.raises(CommandExecutionError, match="larger than 65536 bytes"):
        gc.grastate(str(tmp_path))
    path.unlink()
    path.mkdir()
    with pytest.raises(CommandExecutionError, match="cannot read"):
        gc.grastate(str(tmp_path))


@per_release("client-error-down.txt", "grastate-clean-not-last.dat")
def test_mark_safe_to_bootstrap_rewrites_only_that_line(tmp_path: Path, host: FakeHost, release: str) -> None:
    host.stopped(release)
    path = grastate_file(tmp_path, "grastate-clean-not-last.dat", release)
    os.chmod(path, 0o660)
    before = Path(path).read_text()
    assert gc.mark_safe_to_bootstrap(str(tmp_path)) == {"path": path, "changed": True, "safe_to_bootstrap": True}
    after = Path(path).read_text()
    assert after == before.replace("safe_to_bootstrap: 0", "safe_to_bootstrap: 1")
    assert os.stat(path).st_mode & 0o777 == 0o660
    assert gc.mark_safe_to_bootstrap(str(tmp_path))["changed"] is False
    assert sorted(os.listdir(tmp_path)) == ["grastate.dat"]


@per_release("client-error-down.txt", "handmade-grastate-v2.0.dat")
def test_mark_safe_to_bootstrap_adds_the_line_to_an_old_file(tmp_path: Path, host: FakeHost, release: str) -> None:
    host.stopped(release)
    data = datadir(tmp_path, "handmade-grastate-v2.0.dat", release)
    assert gc.mark_safe_to_bootstrap(data)["changed"] is True
    assert gc.grastate(data)["safe_to_bootstrap"] is True and gc.grastate(data)["seqno"] == 12


@per_release("client-error-down.txt", "grastate-clean-not-last.dat")
def test_mark_safe_to_bootstrap_write_failure_leaves_the_file(
    tmp_path: Path, host: FakeHost, monkeypatch: pytest.MonkeyPatch, release: str
) -> None:
    host.stopped(release)
    data = datadir(tmp_path, "grastate-clean-not-last.dat", release)

    def refuse(*args: Any) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(common.os, "replace", refuse)
    with pytest.raises(CommandExecutionError, match=r"cannot write .*: No space left on device"):
        gc.mark_safe_to_bootstrap(data)
    assert sorted(os.listdir(tmp_path)) == ["grastate.dat"]
    assert gc.grastate(data)["safe_to_bootstrap"] is False


@per_release(
    "wsrep-on-member.txt",
    "status-synced-primary.txt",
    "databases-member.txt",
    "client-error-down.txt",
    "corrupt-grastate-seqno.dat",
    "grastate-clean-not-last.dat",
)
def test_mark_safe_to_bootstrap_refuses_absent_corrupt_or_running(tmp_path: Path, host: FakeHost, release: str) -> None:
    host.stopped(release)
    with pytest.raises(CommandExecutionError, match="does not exist"):
        gc.mark_safe_to_bootstrap(datadir(tmp_path, None))
    with pytest.raises(CommandExecutionError, match="is corrupt"):
        gc.mark_safe_to_bootstrap(datadir(tmp_path, "corrupt-grastate-seqno.dat", release))
    host.member(release)
    data = datadir(tmp_path, "grastate-clean-not-last.dat", release)
    with pytest.raises(CommandExecutionError, match="cannot mark this node safe to bootstrap: mariadb is active"):
        gc.mark_safe_to_bootstrap(data)
    assert gc.grastate(data)["safe_to_bootstrap"] is False


def test_ensure_stopped_also_asks_the_socket(host: FakeHost) -> None:
    host.answers.update({"systemctl is-active mariadb": INACTIVE, "SELECT 1": result("1\n")})
    with pytest.raises(CommandExecutionError, match="a MariaDB server answers on the local socket"):
        gc.recover_position()
    assert "/usr/sbin/mariadbd --user=mysql --wsrep-recover --disable-log-error" not in host.keys


# ---------------------------------------------------------------- --wsrep-recover

RECOVER = "/usr/sbin/mariadbd --user=mysql --wsrep-recover --disable-log-error"


# The logs of mariadbd --wsrep-recover and the position in each: uuid None is the recorded cluster's.
RECOVERED = [
    ("recover-clean.txt", None, 15),
    ("recover-killed.txt", None, 19),
    ("recover-killed-non-primary.txt", None, 19),
    ("recover-fresh.txt", galera.ZERO_UUID, -1),
]


@per_release("client-error-down.txt", "grastate-clean-last.dat", *(name for name, *_ in RECOVERED))
@pytest.mark.parametrize(("name", "uuid", "seqno"), RECOVERED)
def test_recover_position_recorded(host: FakeHost, name: str, uuid: str | None, seqno: int, release: str) -> None:
    """11.8 logs more around the position (no MAC address, wsrep-provider plugin...): the same line is read."""
    host.stopped(release)
    host.answers[RECOVER] = result(stderr=rec(name, release))
    assert gc.recover_position() == {"uuid": uuid or uuid_of(release), "seqno": seqno}
    assert host.keys == ["systemctl is-active mariadb", "SELECT 1", RECOVER]
    assert host.calls[-1][1]["timeout"] == 900


@per_release("recover-no-wsrep.txt", "client-error-down.txt")
def test_recover_position_wsrep_disabled(host: FakeHost, release: str) -> None:
    host.stopped(release)
    host.answers[RECOVER] = result(stderr=rec("recover-no-wsrep.txt", release))
    with pytest.raises(CommandExecutionError, match="skipped position recovery: wsrep is off"):
        gc.recover_position()


@per_release("client-error-down.txt")
def test_recover_position_failure_shows_the_errors(host: FakeHost, release: str) -> None:
    host.stopped(release)
    log = "2026-11-22 0 [ERROR] InnoDB: Unable to lock ./ibdata1 error: 11\n2026-11-22 0 [ERROR] Aborting\n"
    host.answers[RECOVER] = result(stderr=log, retcode=1)
    with pytest.raises(CommandExecutionError, match=r"failed \(exit 1\): .*Unable to lock ./ibdata1.*Aborting"):
        gc.recover_position()


@per_release("wsrep-on-member.txt", "status-synced-primary.txt", "databases-member.txt")
def test_recover_position_refuses_a_running_service(host: FakeHost, release: str) -> None:
    host.member(release)
    with pytest.raises(CommandExecutionError, match="cannot recover the Galera position: mariadb is active"):
        gc.recover_position()
    assert RECOVER not in host.keys


# ---------------------------------------------------------------- node_state, recovery_facts, health


@per_release("wsrep-on-member.txt", "status-synced-primary.txt", "databases-member.txt", "grastate-running.dat")
def test_node_state_synced_member(tmp_path: Path, host: FakeHost, release: str) -> None:
    host.member(release)
    state = gc.node_state(datadir(tmp_path, "grastate-running.dat", release))
    assert {key: value for key, value in state.items() if key not in ("grastate", "collected_at")} == {
        "running": True,
        "wsrep_on": True,
        "cluster_status": "Primary",
        "local_state": "Synced",
        "cluster_size": 3,
        "cluster_state_uuid": uuid_of(release),
        "ready": True,
        "fresh": False,
        "user_databases": ["app", "legacy_app"],
    }
    assert state["grastate"]["uuid"] == uuid_of(release) and isinstance(state["collected_at"], float)
    assert galera.valid_node_state(state)


@per_release("wsrep-on-standalone.txt", "status-standalone.txt", "databases-standalone.txt")
def test_node_state_debian_standalone_server_is_fresh_but_running_with_data(
    tmp_path: Path, host: FakeHost, release: str
) -> None:
    host.standalone(release)
    state = gc.node_state(datadir(tmp_path, None))
    assert state["running"] is True and state["wsrep_on"] is False and state["fresh"] is True
    assert state["cluster_status"] == "Disconnected" and state["local_state"] is None
    assert state["cluster_size"] == 0 and state["cluster_state_uuid"] is None
    assert state["user_databases"] == ["legacy_app"]


@per_release("client-error-down.txt", "grastate-killed.dat")
def test_node_state_stopped(tmp_path: Path, host: FakeHost, release: str) -> None:
    host.stopped(release)
    state = gc.node_state(datadir(tmp_path, "grastate-killed.dat", release))
    assert state["running"] is False and state["wsrep_on"] is False and state["cluster_status"] is None
    assert state["fresh"] is False and state["user_databases"] == [] and state["cluster_size"] == 0
    assert host.keys == [WSREP_ON_SQL]


@per_release("wsrep-on-member.txt", "status-non-primary.txt", "databases-non-primary.txt", "grastate-running.dat")
def test_node_state_non_primary(tmp_path: Path, host: FakeHost, release: str) -> None:
    host.member(status="status-non-primary.txt", databases="databases-non-primary.txt", release=release)
    state = gc.node_state(datadir(tmp_path, "grastate-running.dat", release))
    assert state["cluster_status"] == "non-Primary" and state["local_state"] == "Initialized"
    assert state["ready"] is False


@pytest.mark.parametrize(
    ("status", "message"),
    [
        ("corrupt-status-truncated.txt", "truncated"),
        ("corrupt-status-bad-value.txt", "unknown wsrep_cluster_status 'Prim'"),
        ("status-standalone.txt", "no wsrep_local_state_comment although wsrep is on"),
    ],
)
@per_release("wsrep-on-member.txt", "status-synced-primary.txt", "databases-member.txt", "grastate-running.dat")
def test_node_state_bad_status_raises(tmp_path: Path, host: FakeHost, status: str, message: str, release: str) -> None:
    host.member(status=status, release=release)
    with pytest.raises(CommandExecutionError, match=message):
        gc.node_state(datadir(tmp_path, "grastate-running.dat", release))


@per_release("wsrep-on-member.txt", "status-synced-primary.txt", "databases-member.txt", "grastate-running.dat")
def test_node_state_server_going_down_midway_counts_as_stopped(tmp_path: Path, host: FakeHost, release: str) -> None:
    host.member(release)
    host.answers["SHOW DATABASES"] = down(release)
    assert gc.node_state(datadir(tmp_path, "grastate-running.dat", release))["running"] is False


@per_release("recover-killed.txt", "client-error-down.txt", "grastate-killed.dat")
def test_recovery_facts_recovers_a_stopped_member(tmp_path: Path, host: FakeHost, release: str) -> None:
    host.stopped(release)
    host.answers[RECOVER] = result(stderr=rec("recover-killed.txt", release))
    facts = gc.recovery_facts(datadir=datadir(tmp_path, "grastate-killed.dat", release))
    assert facts["recovered"] == {"uuid": uuid_of(release), "seqno": 19} and facts["recover_error"] is None


@per_release("recover-no-wsrep.txt", "client-error-down.txt", "grastate-killed.dat")
def test_recovery_facts_reports_a_failed_recovery(tmp_path: Path, host: FakeHost, release: str) -> None:
    host.stopped(release)
    host.answers[RECOVER] = result(stderr=rec("recover-no-wsrep.txt", release))
    facts = gc.recovery_facts(datadir=datadir(tmp_path, "grastate-killed.dat", release))
    assert facts["recovered"] is None and "wsrep is off" in facts["recover_error"]


@pytest.mark.parametrize("grastate_name", [None, "grastate-fresh-never-joined.dat"])
@per_release("client-error-down.txt")
def test_recovery_facts_skips_fresh_nodes(
    tmp_path: Path, host: FakeHost, grastate_name: str | None, release: str
) -> None:
    host.stopped(release)
    facts = gc.recovery_facts(datadir=datadir(tmp_path, grastate_name, release))
    assert facts["recovered"] is None and facts["fresh"] is True and RECOVER not in host.keys


@per_release("wsrep-on-member.txt", "status-synced-primary.txt", "databases-member.txt", "grastate-running.dat")
def test_recovery_facts_of_a_running_node(tmp_path: Path, host: FakeHost, release: str) -> None:
    host.member(release)
    facts = gc.recovery_facts(datadir=datadir(tmp_path, "grastate-running.dat", release))
    assert facts["running"] is True and facts["recovered"] is None and RECOVER not in host.keys


SESSIONS_SQL = galera.sessions_from_statement("172.31.252.12", "ctrl-2")


@per_release("sessions-from.txt")
def test_sessions_from_a_node_are_ended(host: FakeHost, release: str) -> None:
    ids = RECORDED_SESSION_IDS[release]
    host.answers[SESSIONS_SQL] = result(rec("sessions-from.txt", release))
    host.answers.update({f"KILL CONNECTION {session}": result() for session in ids})
    assert gc.end_sessions_from("172.31.252.12", "ctrl-2") == ids
    assert host.keys == [SESSIONS_SQL, *(f"KILL CONNECTION {session}" for session in ids)]


@pytest.mark.parametrize("which", [{"idle": True}, {"between_transactions": True}], ids=lambda w: next(iter(w)))
@per_release("sessions-from.txt")
def test_only_the_sessions_asked_for_are_ended(host: FakeHost, release: str, which: dict[str, bool]) -> None:
    """Only the idle ones, or only those between transactions."""
    ids = RECORDED_SESSION_IDS[release]
    statement = galera.sessions_from_statement("172.31.252.12", "ctrl-2", **which)
    host.answers[statement] = result(rec("sessions-from.txt", release))
    host.answers.update({f"KILL CONNECTION {session}": result() for session in ids})
    assert gc.end_sessions_from("172.31.252.12", "ctrl-2", **which) == ids
    assert host.keys[0] == statement


@per_release("sessions-from.txt", "client-error-kill-unknown.txt")
def test_a_session_that_ended_meanwhile_is_left_out(host: FakeHost, release: str) -> None:
    first, *others = RECORDED_SESSION_IDS[release]
    gone = result(stderr=rec("client-error-kill-unknown.txt", release), retcode=1)
    host.answers[SESSIONS_SQL] = result(rec("sessions-from.txt", release))
    host.answers.update({f"KILL CONNECTION {first}": gone} | {f"KILL CONNECTION {s}": result() for s in others})
    assert gc.end_sessions_from("172.31.252.12", "ctrl-2") == others


@per_release("sessions-from-none.txt", "client-error-non-primary.txt")
def test_no_session_from_a_node_and_other_errors_raise(host: FakeHost, release: str) -> None:
    host.answers[SESSIONS_SQL] = result(rec("sessions-from-none.txt", release))
    assert gc.end_sessions_from("172.31.252.12", "ctrl-2") == []
    host.answers[SESSIONS_SQL] = result(stderr=rec("client-error-non-primary.txt", release), retcode=1)
    with pytest.raises(CommandExecutionError, match="mariadb client failed"):
        gc.sessions_from("172.31.252.12", "ctrl-2")


@per_release("wsrep-on-member.txt", "status-synced-primary.txt", "databases-member.txt")
def test_health_ok(host: FakeHost, release: str) -> None:
    host.member(release)
    report = gc.health(expected_size=3)
    assert report == {
        "ok": True,
        "running": True,
        "cluster_size": 3,
        "cluster_status": "Primary",
        "local_state": "Synced",
        "ready": True,
        "problems": [],
    }
    assert gc.health(expected_size=4)["problems"] == ["cluster size is 3, expected at least 4"]
    assert "SHOW DATABASES" not in host.keys


@per_release("wsrep-on-member.txt", "status-synced-primary.txt", "databases-member.txt")
def test_health_ignores_a_corrupt_grastate(host: FakeHost, monkeypatch: pytest.MonkeyPatch, release: str) -> None:
    def corrupt(path: str) -> str:
        raise CommandExecutionError(f"{path} is corrupt: unexpected line 1")

    monkeypatch.setattr(gc, "_read_text", corrupt)
    host.member(release)
    assert gc.health()["ok"] is True


@per_release("client-error-down.txt")
def test_health_of_a_stopped_server_does_not_raise(host: FakeHost, release: str) -> None:
    host.stopped(release)
    report = gc.health(expected_size=3)
    assert report["ok"] is False and report["problems"] == ["MariaDB is not running"]


def test_health_reports_errors_instead_of_raising(host: FakeHost) -> None:
    host.answers[WSREP_ON_SQL] = result(
        stderr="ERROR 1045 (28000): Access denied for user 'root'@'localhost'", retcode=1
    )
    report = gc.health()
    assert report["ok"] is False and "Access denied" in report["problems"][0]


@per_release(
    "client-error-down.txt",
    "grastate-killed-non-primary.dat",
    "recover-killed-non-primary.txt",
    "grastate-killed.dat",
    "recover-killed.txt",
)
def test_recovery_plan_from_recorded_outage(tmp_path: Path, host: FakeHost, release: str) -> None:
    """The recorded power loss: both nodes recovered seqno 19 of one cluster, nobody safe."""
    states = {}
    for name, saved, log in (
        ("n1", "grastate-killed-non-primary.dat", "recover-killed-non-primary.txt"),
        ("n2", "grastate-killed.dat", "recover-killed.txt"),
    ):
        host.stopped(release)
        host.answers[RECOVER] = result(stderr=rec(log, release))
        states[name] = gc.recovery_facts(datadir=datadir(tmp_path, saved, release))
    plan = galera.recovery_plan(states)
    assert plan["node"] == "n1" and plan["forced"] is False
    assert plan["reason"] == (
        "n1, n2 have the same highest recovered seqno 19 of one cluster: each holds every transaction; "
        "n1 is the first by name"
    )
    assert galera.recovery_plan(states, preferred="n2")["reason"].endswith("n2 is the bootstrap node")
    assert galera.recovery_plan(states, "n2")["node"] == "n2"


# ---------------------------------------------------------------- bootstrap


@per_release("client-error-down.txt", "grastate-clean-last.dat")
def test_bootstrap_runs_galera_new_cluster(tmp_path: Path, host: FakeHost, release: str) -> None:
    host.stopped(release)
    host.answers["galera_new_cluster mariadb"] = result()
    assert gc.bootstrap(datadir=datadir(tmp_path, "grastate-clean-last.dat", release)) is True
    assert host.keys[-1] == "galera_new_cluster mariadb"
    assert gc.bootstrap(datadir=datadir(tmp_path, None)) is True


@per_release("wsrep-on-standalone.txt", "status-standalone.txt", "databases-standalone.txt")
def test_bootstrap_refuses_a_running_server(tmp_path: Path, host: FakeHost, release: str) -> None:
    host.standalone(release)
    with pytest.raises(CommandExecutionError, match="cannot bootstrap a new cluster: mariadb is active"):
        gc.bootstrap(datadir=datadir(tmp_path, None))
    assert "galera_new_cluster mariadb" not in host.keys


@per_release("client-error-down.txt", "grastate-clean-not-last.dat")
def test_bootstrap_refuses_unsafe_grastate(tmp_path: Path, host: FakeHost, release: str) -> None:
    host.stopped(release)
    with pytest.raises(CommandExecutionError, match="safe_to_bootstrap: 0"):
        gc.bootstrap(datadir=datadir(tmp_path, "grastate-clean-not-last.dat", release))
    assert "galera_new_cluster mariadb" not in host.keys


@per_release("client-error-down.txt")
def test_bootstrap_failure_raises(tmp_path: Path, host: FakeHost, release: str) -> None:
    host.stopped(release)
    host.answers["galera_new_cluster mariadb"] = result(stderr="Job for mariadb.service failed", retcode=1)
    with pytest.raises(CommandExecutionError, match=r"galera_new_cluster failed: Job for mariadb\.service failed"):
        gc.bootstrap(datadir=datadir(tmp_path, None))


# ---------------------------------------------------------------- users

CHECK = "stdin:SELECT"


def user_host(host: FakeHost, check: str, grants: str | None, release: str) -> None:
    host.answers[CHECK] = result(rec(check, release))
    if grants:
        host.answers["SHOW GRANTS FOR 'sst'@'localhost'"] = result(rec(grants, release))
        host.answers["SHOW GRANTS FOR 'root'@'localhost'"] = result(rec(grants, release))


@per_release("user-check-sst-match.txt", "grants-sst.txt")
def test_user_check_sst_as_wanted(host: FakeHost, release: str) -> None:
    user_host(host, "user-check-sst-match.txt", "grants-sst.txt", release)
    check = gc.user_check("sst", "localhost", SECRET, SST_GRANTS)
    assert check == {"exists": True, "password_ok": True, "unix_socket_ok": True, "missing_grants": []}
    assert galera.user_changes(check, False) == {}


@per_release("user-check-sst-match.txt", "grants-sst.txt")
def test_user_check_statement_goes_on_stdin_quietly(host: FakeHost, release: str) -> None:
    user_host(host, "user-check-sst-match.txt", "grants-sst.txt", release)
    gc.user_check("sst", "localhost", SECRET, SST_GRANTS)
    argv, kwargs = host.calls[0]
    assert SECRET not in " ".join(argv) and "--execute" not in argv
    assert kwargs["output_loglevel"] == "quiet"
    assert kwargs["stdin"] == (
        "SELECT JSON_SEARCH(Priv, 'one', PASSWORD('fixture \\'pw\\' \\\\ with; quotes')) IS NOT NULL, "
        "JSON_SEARCH(Priv, 'one', 'unix_socket') IS NOT NULL FROM mysql.global_priv "
        "WHERE User = 'sst' AND Host = 'localhost';\n"
    )
    assert host.calls[1][1]["output_loglevel"] == "quiet"  # SHOW GRANTS prints the password hash


@per_release("user-check-absent.txt", "user-check-sst-match.txt", "grants-sst.txt")
def test_user_present_creates_an_absent_user(host: FakeHost, release: str) -> None:
    host.answers[CHECK] = [
        result(rec("user-check-absent.txt", release)),
        result(rec("user-check-sst-match.txt", release)),
    ]
    host.answers["stdin:CREATE"] = result()
    host.answers[f"GRANT {SST_GRANTS[0]} TO 'sst'@'localhost'"] = result()
    host.answers["SHOW GRANTS FOR 'sst'@'localhost'"] = result(rec("grants-sst.txt", release))
    changes = gc.user_present("sst", "localhost", SECRET, SST_GRANTS)["changes"]
    assert changes == {"user": {"old": "absent", "new": "present"}, "grants": {"old": "missing", "new": SST_GRANTS}}
    create = next(kwargs for argv, kwargs in host.calls if kwargs.get("stdin", "").startswith("CREATE"))
    assert create["stdin"].startswith("CREATE USER 'sst'@'localhost' IDENTIFIED BY 'fixture \\'pw")
    assert create["output_loglevel"] == "quiet"


@per_release("user-check-sst-mismatch.txt", "grants-sst.txt")
def test_user_present_changes_a_wrong_password(host: FakeHost, release: str) -> None:
    user_host(host, "user-check-sst-mismatch.txt", "grants-sst.txt", release)
    host.answers["stdin:ALTER"] = result()
    changes = gc.user_present("sst", "localhost", SECRET, SST_GRANTS)["changes"]
    assert changes == {"password": {"old": "different", "new": "set from pillar (not shown)"}}
    assert "stdin:ALTER" in host.keys and not any(key.startswith("GRANT") for key in host.keys)


@per_release("user-check-root-debian.txt", "grants-root-debian.txt")
def test_user_present_root_keeps_socket_login(host: FakeHost, release: str) -> None:
    user_host(host, "user-check-root-debian.txt", "grants-root-debian.txt", release)
    host.answers["stdin:ALTER"] = result()
    grants = ["ALL PRIVILEGES ON *.* WITH GRANT OPTION"]
    changes = gc.user_present("root", "localhost", SECRET, grants, unix_socket=True)["changes"]
    assert changes == {"password": {"old": "different", "new": "set from pillar (not shown)"}}
    alter = next(kwargs["stdin"] for argv, kwargs in host.calls if kwargs.get("stdin", "").startswith("ALTER"))
    assert alter.startswith(
        "ALTER USER 'root'@'localhost' IDENTIFIED VIA unix_socket OR mysql_native_password USING PASSWORD('"
    )


@per_release("user-check-root-socket-password.txt", "grants-root-socket-password.txt")
def test_user_present_root_already_right(host: FakeHost, release: str) -> None:
    user_host(host, "user-check-root-socket-password.txt", "grants-root-socket-password.txt", release)
    grants = ["ALL PRIVILEGES ON *.* WITH GRANT OPTION"]
    assert gc.user_present("root", "localhost", SECRET, grants, unix_socket=True) == {"changes": {}}


@per_release("user-check-root-socket-password.txt", "grants-root-socket-password.txt")
def test_user_present_socket_login_removed_when_not_wanted(host: FakeHost, release: str) -> None:
    user_host(host, "user-check-root-socket-password.txt", "grants-root-socket-password.txt", release)
    host.answers["stdin:ALTER"] = result()
    changes = gc.user_present("root", "localhost", SECRET, [], unix_socket=False)["changes"]
    assert changes == {"unix_socket": {"old": True, "new": False}}


@per_release("user-check-sst-match.txt", "grants-sst.txt")
def test_user_present_grant_that_never_shows_up_is_an_error(host: FakeHost, release: str) -> None:
    user_host(host, "user-check-sst-match.txt", "grants-sst.txt", release)
    host.answers["GRANT SELECT ON app.* TO 'sst'@'localhost'"] = result()
    with pytest.raises(CommandExecutionError, match="SHOW GRANTS does not list it"):
        gc.user_present("sst", "localhost", SECRET, ["SELECT ON app.*"])


@per_release("user-check-sst-match.txt")
def test_user_check_without_grants_skips_show_grants(host: FakeHost, release: str) -> None:
    user_host(host, "user-check-sst-match.txt", None, release)
    assert gc.user_check("sst", "localhost", SECRET)["missing_grants"] == []
    assert host.keys == [CHECK]


def test_user_check_unexpected_answer(host: FakeHost) -> None:
    host.answers[CHECK] = result("1\t1\n1\t0\n")
    with pytest.raises(CommandExecutionError, match="unexpected answer checking the user sst@localhost"):
        gc.user_check("sst", "localhost", SECRET)


@per_release("user-check-sst-mismatch.txt", "grants-sst.txt")
def test_failed_secret_statement_error_is_redacted(host: FakeHost, release: str) -> None:
    user_host(host, "user-check-sst-mismatch.txt", "grants-sst.txt", release)
    stderr = (
        "ERROR 1064 (42000) at line 1: You have an error in your SQL syntax; check the manual that corresponds "
        f"to your MariaDB server version for the right syntax to use near '{SECRET}' at line 1"
    )
    host.answers["stdin:ALTER"] = result(stderr=stderr, retcode=1)
    with pytest.raises(CommandExecutionError) as info:
        gc.user_present("sst", "localhost", SECRET, SST_GRANTS)
    assert "pw" not in str(info.value) and "ERROR 1064" in str(info.value)


@per_release("user-check-root-debian.txt", "grants-root-debian.txt")
def test_no_secret_on_any_command_line_or_unquiet_call(host: FakeHost, release: str) -> None:
    user_host(host, "user-check-root-debian.txt", "grants-root-debian.txt", release)
    host.answers["stdin:ALTER"] = result()
    returned = gc.user_present("root", "localhost", SECRET, ["ALL ON *.*"], unix_socket=True)
    assert SECRET not in repr(returned) and "pw" not in repr(returned)
    for argv, kwargs in host.calls:
        assert not any("pw" in arg for arg in argv)
        if "pw" in kwargs.get("stdin", ""):
            assert kwargs["output_loglevel"] == "quiet"


@pytest.mark.parametrize("password", HOSTILE)
@per_release("user-check-absent.txt", "user-check-sst-match.txt", "grants-sst.txt")
def test_any_password_reaches_the_server_as_one_literal_on_stdin_only(
    host: FakeHost, password: str, release: str
) -> None:
    """Quotes, backslashes, $, backquotes, #, ;, blanks, line breaks, non-ASCII: set and checked intact."""
    host.answers[CHECK] = [
        result(rec("user-check-absent.txt", release)),
        result(rec("user-check-sst-match.txt", release)),
    ]
    host.answers["stdin:CREATE"] = result()
    host.answers[f"GRANT {SST_GRANTS[0]} TO 'sst'@'localhost'"] = result()
    host.answers["SHOW GRANTS FOR 'sst'@'localhost'"] = result(rec("grants-sst.txt", release))
    returned = gc.user_present("sst", "localhost", password, SST_GRANTS)
    statements = [kwargs["stdin"] for argv, kwargs in host.calls if "stdin" in kwargs]
    literal = galera.sql_quote(password)
    assert statements[0] == galera.user_check_statement("sst", "localhost", password) + ";\n"
    assert statements[1] == f"CREATE USER 'sst'@'localhost' IDENTIFIED BY {literal};\n"
    for argv, kwargs in host.calls:
        assert password not in " ".join(argv) and literal not in " ".join(argv)
        assert "--default-character-set=utf8mb4" in argv
        if "stdin" in kwargs:
            assert kwargs["output_loglevel"] == "quiet" and kwargs["stdin"].count("\n") == 1
    assert password not in repr(returned)


@pytest.mark.parametrize("password", HOSTILE)
@per_release("user-check-sst-mismatch.txt", "grants-sst.txt")
def test_a_failed_statement_never_shows_any_password(host: FakeHost, password: str, release: str) -> None:
    user_host(host, "user-check-sst-mismatch.txt", "grants-sst.txt", release)
    literal = galera.sql_quote(password)[1:-1]
    stderr = f"ERROR 1064 (42000) at line 1: You have an error near '{literal}' ({password}) at line 1"
    host.answers["stdin:ALTER"] = result(stderr=stderr, retcode=1)
    with pytest.raises(CommandExecutionError) as info:
        gc.user_present("sst", "localhost", password, SST_GRANTS)
    assert password not in str(info.value) and literal not in str(info.value)
    assert (
        str(info.value)
        == "mariadb client failed: ERROR 1064 (42000) at line 1: You have an error near <statement not shown>"
    )
