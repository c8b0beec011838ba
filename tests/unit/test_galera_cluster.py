"""Unit tests of _modules/galera_cluster.py, fed outputs recorded from Debian 12's
MariaDB 10.11 + galera-4 (tests/fixtures/record-galera.sh)."""

from __future__ import annotations

import copy
import os
import re
import shutil
from pathlib import Path
from typing import Any

import pytest
from salt.exceptions import CommandExecutionError

from tests.unit.loader import FIXTURES, fixture, load

gc = load("_modules", "galera_cluster")

# The recorded cluster's uuid (a new one each time record-galera.sh runs).
UUID = gc.parse_grastate(fixture("galera", "grastate-clean-last.dat"))["uuid"]
OTHER_UUID = "11111111-2222-3333-4444-555555555555"
SECRET = "fixture 'pw' \\ with; quotes"
STATUS_SQL = "SHOW GLOBAL STATUS LIKE 'wsrep_%'"
WSREP_ON_SQL = "SELECT @@GLOBAL.wsrep_on"


def rec(name: str) -> str:
    return fixture("galera", name)


def result(stdout: str = "", stderr: str = "", retcode: int = 0) -> dict[str, Any]:
    return {"pid": 4242, "retcode": retcode, "stdout": stdout, "stderr": stderr}


DOWN = result(stderr=rec("client-error-down.txt"), retcode=1)
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

    def member(self, status: str = "status-synced-primary.txt", databases: str = "databases-member.txt") -> None:
        self.answers.update(
            {
                WSREP_ON_SQL: result(rec("wsrep-on-member.txt")),
                STATUS_SQL: result(rec(status)),
                "SHOW DATABASES": result(rec(databases)),
                "SELECT 1": result("1\n"),
                "systemctl is-active mariadb": result("active\n"),
            }
        )

    def standalone(self) -> None:
        self.answers.update(
            {
                WSREP_ON_SQL: result(rec("wsrep-on-standalone.txt")),
                STATUS_SQL: result(rec("status-standalone.txt")),
                "SHOW DATABASES": result(rec("databases-standalone.txt")),
                "SELECT 1": result("1\n"),
                "systemctl is-active mariadb": result("active\n"),
            }
        )

    def stopped(self) -> None:
        self.answers.update({WSREP_ON_SQL: DOWN, "SELECT 1": DOWN, "systemctl is-active mariadb": INACTIVE})


@pytest.fixture
def host() -> FakeHost:
    return FakeHost()


@pytest.fixture
def configure_loader_modules(host: FakeHost) -> dict:
    return {gc: {"__salt__": {"cmd.run_all": host}}}


def grastate_file(tmp_path: Path, name: str | None) -> str:
    """Path of a copy of a recorded grastate.dat (None: no file)."""
    path = tmp_path / "grastate.dat"
    if name is not None:
        shutil.copy(FIXTURES / "galera" / name, path)
    return str(path)


# ---------------------------------------------------------------- __virtual__ and plumbing


def test_virtual_needs_the_mariadb_client(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(gc.salt.utils.path, "which", lambda name: None)
    assert gc.__virtual__() == (False, "galera_cluster: the mariadb client is not installed (package mariadb-client)")
    monkeypatch.setattr(gc.salt.utils.path, "which", lambda name: f"/usr/bin/{name}")
    assert gc.__virtual__() == "galera_cluster"


def test_sql_argv_is_root_over_the_socket_in_batch_mode(host: FakeHost) -> None:
    host.member()
    gc.status()
    argv, kwargs = host.calls[0]
    assert argv == [
        "mariadb",
        "--user=root",
        "--protocol=socket",
        "--batch",
        "--skip-column-names",
        "--skip-print-query-on-error",
        "--connect-timeout=10",
        "--execute",
        STATUS_SQL,
    ]
    assert kwargs["rstrip"] is False and "stdin" not in kwargs


def test_sql_quote_escapes_quotes_backslashes_and_controls() -> None:
    assert gc.sql_quote("a'b\\c\nd\0") == "'a\\'b\\\\c\\nd\\0'"


def test_redact_removes_secret_escaped_secret_and_quoted_statement() -> None:
    text = f"ERROR 1064 (42000) at line 1: syntax error near '{gc.sql_quote(SECRET)[1:-1]}' at line 1 {SECRET}"
    cleaned = gc.redact(text, (SECRET,))
    assert "pw" not in cleaned and cleaned.endswith("near <statement not shown>")
    assert gc.redact("near 'x'", ()) == "near 'x'"


def test_client_error_takes_the_error_line() -> None:
    assert gc.client_error(rec("client-error-non-primary.txt")).startswith("ERROR 1047 (08S01)")
    assert gc.client_error("") == "no error message"
    assert gc.client_error("something odd\n") == "something odd"


def test_server_down_is_its_own_error(host: FakeHost) -> None:
    host.answers[STATUS_SQL] = result(stderr=rec("client-error-no-socket.txt"), retcode=1)
    with pytest.raises(gc.ServerDown, match="MariaDB is not running: ERROR 2002"):
        gc.status()


def test_other_client_errors_are_not_server_down(host: FakeHost) -> None:
    host.answers["SHOW DATABASES"] = result(stderr=rec("client-error-non-primary.txt"), retcode=1)
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
    assert gc.unit_state() == "activating"
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
        gc.unit_state()


# ---------------------------------------------------------------- status


@pytest.mark.parametrize(
    ("name", "cluster_status", "local_state", "size"),
    [
        ("status-synced-primary.txt", "Primary", "Synced", "3"),
        ("status-joined-member.txt", "Primary", "Synced", "3"),
        ("status-bootstrapped-1node.txt", "Primary", "Synced", "1"),
        ("status-desynced.txt", "Primary", "Donor/Desynced", "3"),
        ("status-non-primary.txt", "non-Primary", "Initialized", "1"),
        ("status-standalone.txt", "Disconnected", None, "0"),
    ],
)
def test_parse_status_recorded(name: str, cluster_status: str, local_state: str | None, size: str) -> None:
    parsed = gc.parse_status(rec(name))
    assert parsed["wsrep_cluster_status"] == cluster_status
    assert parsed.get("wsrep_local_state_comment") == local_state
    assert parsed["wsrep_cluster_size"] == size


def test_parse_status_keeps_empty_values() -> None:
    parsed = gc.parse_status(rec("status-standalone.txt"))
    assert parsed["wsrep_cluster_state_uuid"] == "" and parsed["wsrep_provider_name"] == ""


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (rec("corrupt-status-truncated.txt"), "truncated: no wsrep_cluster_size"),
        (rec("corrupt-status-no-tab.txt"), "unexpected line 6 in the wsrep status output: 'wsrep_cluster_status'"),
        (rec("status-synced-primary.txt").rstrip("\n"), "truncated: it does not end with a newline"),
        ("", "truncated: it does not end with a newline"),
        ("\n", "unexpected line 1"),
        ("wsrep_ready\tON\nwsrep_ready\tON\n", "repeats wsrep_ready"),
        ("<html>\tbody\n", "unexpected line 1"),
        ("wsrep_ready\tON\tOFF\n", "unexpected line 1"),
    ],
)
def test_parse_status_garbage_is_a_clear_error(text: str, message: str) -> None:
    with pytest.raises(CommandExecutionError, match=message):
        gc.parse_status(text)


def test_parse_flag_and_databases() -> None:
    assert gc.parse_flag(rec("wsrep-on-member.txt"), "x") is True
    assert gc.parse_flag(rec("wsrep-on-standalone.txt"), "x") is False
    with pytest.raises(CommandExecutionError, match="unexpected answer for x: 'ON'"):
        gc.parse_flag("ON\n", "x")
    assert gc.parse_databases(rec("databases-standalone.txt")) == ["legacy_app"]
    assert gc.parse_databases(rec("databases-member.txt")) == ["app", "legacy_app"]


# ---------------------------------------------------------------- grastate.dat


@pytest.mark.parametrize(
    ("name", "seqno", "safe"),
    [
        ("grastate-running.dat", -1, True),
        ("grastate-clean-last.dat", 15, True),
        ("grastate-clean-not-last.dat", 13, False),
        ("grastate-killed.dat", -1, False),
        ("grastate-killed-after-recover.dat", -1, False),
        ("grastate-killed-non-primary.dat", -1, False),
        ("handmade-grastate-v2.0.dat", 12, False),
    ],
)
def test_grastate_recorded(tmp_path: Path, name: str, seqno: int, safe: bool) -> None:
    saved = gc.grastate(grastate_file(tmp_path, name))
    assert saved["uuid"] == UUID and saved["seqno"] == seqno and saved["safe_to_bootstrap"] is safe
    assert gc.is_fresh(saved) is False


def test_grastate_absent_is_none_and_fresh(tmp_path: Path) -> None:
    assert gc.grastate(grastate_file(tmp_path, None)) is None
    assert gc.is_fresh(None) is True


def test_grastate_empty_file_left_by_a_node_that_never_joined_is_fresh(tmp_path: Path) -> None:
    saved = gc.grastate(grastate_file(tmp_path, "grastate-fresh-never-joined.dat"))
    assert saved == {"uuid": gc.ZERO_UUID, "seqno": -1, "safe_to_bootstrap": False, "version": None}
    assert gc.is_fresh(saved) is True


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("corrupt-grastate-truncated.dat", "no valid uuid"),
        ("corrupt-grastate-garbage.dat", "unexpected line 1"),
        ("corrupt-grastate-seqno.dat", "no valid seqno"),
        ("corrupt-grastate-safe.dat", "safe_to_bootstrap is 'yes'"),
        ("corrupt-grastate-duplicate.dat", "unexpected line 5"),
    ],
)
def test_grastate_corrupt_names_the_file(tmp_path: Path, name: str, message: str) -> None:
    path = grastate_file(tmp_path, name)
    with pytest.raises(CommandExecutionError, match=f"{re.escape(path)} is corrupt: {message}"):
        gc.grastate(path)


def test_grastate_binary_or_huge_or_unreadable(tmp_path: Path) -> None:
    path = tmp_path / "grastate.dat"
    path.write_bytes(b"\xff\xfe\x00garbage")
    with pytest.raises(CommandExecutionError, match="is corrupt: not a text file"):
        gc.grastate(str(path))
    path.write_text("# x\n" * 20000)
    with pytest.raises(CommandExecutionError, match="larger than 65536 bytes"):
        gc.grastate(str(path))
    with pytest.raises(CommandExecutionError, match="cannot read"):
        gc.grastate(str(tmp_path))


def test_mark_safe_to_bootstrap_rewrites_only_that_line(tmp_path: Path, host: FakeHost) -> None:
    host.stopped()
    path = grastate_file(tmp_path, "grastate-clean-not-last.dat")
    os.chmod(path, 0o660)
    before = Path(path).read_text()
    assert gc.mark_safe_to_bootstrap(path) == {"path": path, "changed": True, "safe_to_bootstrap": True}
    after = Path(path).read_text()
    assert after == before.replace("safe_to_bootstrap: 0", "safe_to_bootstrap: 1")
    assert os.stat(path).st_mode & 0o777 == 0o660
    assert gc.mark_safe_to_bootstrap(path)["changed"] is False
    assert sorted(os.listdir(tmp_path)) == ["grastate.dat"]


def test_mark_safe_to_bootstrap_adds_the_line_to_an_old_file(tmp_path: Path, host: FakeHost) -> None:
    host.stopped()
    path = grastate_file(tmp_path, "handmade-grastate-v2.0.dat")
    assert gc.mark_safe_to_bootstrap(path)["changed"] is True
    assert gc.grastate(path)["safe_to_bootstrap"] is True and gc.grastate(path)["seqno"] == 12


def test_mark_safe_to_bootstrap_write_failure_leaves_the_file(
    tmp_path: Path, host: FakeHost, monkeypatch: pytest.MonkeyPatch
) -> None:
    host.stopped()
    path = grastate_file(tmp_path, "grastate-clean-not-last.dat")

    def refuse(*args: Any) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(gc.os, "replace", refuse)
    with pytest.raises(CommandExecutionError, match=r"cannot write .*: No space left on device"):
        gc.mark_safe_to_bootstrap(path)
    assert sorted(os.listdir(tmp_path)) == ["grastate.dat"]
    assert gc.grastate(path)["safe_to_bootstrap"] is False


def test_mark_safe_to_bootstrap_refuses_absent_corrupt_or_running(tmp_path: Path, host: FakeHost) -> None:
    host.stopped()
    with pytest.raises(CommandExecutionError, match="does not exist"):
        gc.mark_safe_to_bootstrap(grastate_file(tmp_path, None))
    with pytest.raises(CommandExecutionError, match="is corrupt"):
        gc.mark_safe_to_bootstrap(grastate_file(tmp_path, "corrupt-grastate-seqno.dat"))
    host.member()
    path = grastate_file(tmp_path, "grastate-clean-not-last.dat")
    with pytest.raises(CommandExecutionError, match="cannot mark this node safe to bootstrap: mariadb is active"):
        gc.mark_safe_to_bootstrap(path)
    assert gc.grastate(path)["safe_to_bootstrap"] is False


def test_ensure_stopped_also_asks_the_socket(host: FakeHost) -> None:
    host.answers.update({"systemctl is-active mariadb": INACTIVE, "SELECT 1": result("1\n")})
    with pytest.raises(CommandExecutionError, match="a MariaDB server answers on the local socket"):
        gc.recover_position()
    assert "/usr/sbin/mariadbd --user=mysql --wsrep-recover --disable-log-error" not in host.keys


# ---------------------------------------------------------------- --wsrep-recover

RECOVER = "/usr/sbin/mariadbd --user=mysql --wsrep-recover --disable-log-error"


@pytest.mark.parametrize(
    ("name", "uuid", "seqno"),
    [
        ("recover-clean.txt", UUID, 15),
        ("recover-killed.txt", UUID, 19),
        ("recover-killed-non-primary.txt", UUID, 19),
        ("recover-fresh.txt", gc.ZERO_UUID, -1),
    ],
)
def test_recover_position_recorded(host: FakeHost, name: str, uuid: str, seqno: int) -> None:
    host.stopped()
    host.answers[RECOVER] = result(stderr=rec(name))
    assert gc.recover_position() == {"uuid": uuid, "seqno": seqno}
    assert host.keys == ["systemctl is-active mariadb", "SELECT 1", RECOVER]
    assert host.calls[-1][1]["timeout"] == 900


def test_recover_position_wsrep_disabled(host: FakeHost) -> None:
    host.stopped()
    host.answers[RECOVER] = result(stderr=rec("recover-no-wsrep.txt"))
    with pytest.raises(CommandExecutionError, match="skipped position recovery: wsrep is off"):
        gc.recover_position()


def test_recover_position_failure_shows_the_errors(host: FakeHost) -> None:
    host.stopped()
    log = "2026-11-22 0 [ERROR] InnoDB: Unable to lock ./ibdata1 error: 11\n2026-11-22 0 [ERROR] Aborting\n"
    host.answers[RECOVER] = result(stderr=log, retcode=1)
    with pytest.raises(CommandExecutionError, match=r"failed \(exit 1\): .*Unable to lock ./ibdata1.*Aborting"):
        gc.recover_position()


def test_recover_position_refuses_a_running_service(host: FakeHost) -> None:
    host.member()
    with pytest.raises(CommandExecutionError, match="cannot recover the Galera position: mariadb is active"):
        gc.recover_position()
    assert RECOVER not in host.keys


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (f"x [Note] WSREP: Recovered position: {UUID}:42,0-1-17\n", {"uuid": UUID, "seqno": 42}),
        (f"WSREP: Recovered position: {UUID}:7\nWSREP: Recovered position: {UUID}:7\n", {"uuid": UUID, "seqno": 7}),
    ],
)
def test_parse_recovered_variants(text: str, expected: dict) -> None:
    assert gc.parse_recovered(text) == expected


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (f"WSREP: Recovered position: {UUID}:7\nWSREP: Recovered position: {UUID}:8\n", "several positions"),
        ("WSREP: Recovered position: not-a-uuid:7\n", "invalid cluster uuid"),
        ("[Note] InnoDB: started\n", "no 'WSREP: Recovered position' line"),
        ("[ERROR] mariadbd: Can't lock aria control file\n", "found no position: .*Can't lock aria"),
        (rec("recover-clean.txt").split("WSREP: Recovered")[0], "found no position"),
    ],
)
def test_parse_recovered_garbage(text: str, message: str) -> None:
    with pytest.raises(CommandExecutionError, match=message):
        gc.parse_recovered(text)


# ---------------------------------------------------------------- node_state, recovery_facts, health


def test_node_state_synced_member(tmp_path: Path, host: FakeHost) -> None:
    host.member()
    state = gc.node_state(grastate_file(tmp_path, "grastate-running.dat"))
    assert {key: value for key, value in state.items() if key not in ("grastate", "collected_at")} == {
        "running": True,
        "wsrep_on": True,
        "cluster_status": "Primary",
        "local_state": "Synced",
        "cluster_size": 3,
        "cluster_state_uuid": UUID,
        "ready": True,
        "fresh": False,
        "user_databases": ["app", "legacy_app"],
    }
    assert state["grastate"]["uuid"] == UUID and isinstance(state["collected_at"], float)
    assert gc.valid_node_state(state)


def test_node_state_debian_standalone_server_is_fresh_but_running_with_data(tmp_path: Path, host: FakeHost) -> None:
    host.standalone()
    state = gc.node_state(grastate_file(tmp_path, None))
    assert state["running"] is True and state["wsrep_on"] is False and state["fresh"] is True
    assert state["cluster_status"] == "Disconnected" and state["local_state"] is None
    assert state["cluster_size"] == 0 and state["cluster_state_uuid"] is None
    assert state["user_databases"] == ["legacy_app"]


def test_node_state_stopped(tmp_path: Path, host: FakeHost) -> None:
    host.stopped()
    state = gc.node_state(grastate_file(tmp_path, "grastate-killed.dat"))
    assert state["running"] is False and state["wsrep_on"] is False and state["cluster_status"] is None
    assert state["fresh"] is False and state["user_databases"] == [] and state["cluster_size"] == 0
    assert host.keys == [WSREP_ON_SQL]


def test_node_state_non_primary(tmp_path: Path, host: FakeHost) -> None:
    host.member(status="status-non-primary.txt", databases="databases-non-primary.txt")
    state = gc.node_state(grastate_file(tmp_path, "grastate-running.dat"))
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
def test_node_state_bad_status_raises(tmp_path: Path, host: FakeHost, status: str, message: str) -> None:
    host.member(status=status)
    with pytest.raises(CommandExecutionError, match=message):
        gc.node_state(grastate_file(tmp_path, "grastate-running.dat"))


def test_summarize_rejects_a_non_numeric_size() -> None:
    with pytest.raises(CommandExecutionError, match="wsrep_cluster_size is not a number"):
        gc.summarize(True, False, {"wsrep_cluster_status": "Disconnected", "wsrep_cluster_size": "x"}, None, [])


def test_node_state_server_going_down_midway_counts_as_stopped(tmp_path: Path, host: FakeHost) -> None:
    host.member()
    host.answers["SHOW DATABASES"] = DOWN
    assert gc.node_state(grastate_file(tmp_path, "grastate-running.dat"))["running"] is False


def test_recovery_facts_recovers_a_stopped_member(tmp_path: Path, host: FakeHost) -> None:
    host.stopped()
    host.answers[RECOVER] = result(stderr=rec("recover-killed.txt"))
    facts = gc.recovery_facts(path=grastate_file(tmp_path, "grastate-killed.dat"))
    assert facts["recovered"] == {"uuid": UUID, "seqno": 19} and facts["recover_error"] is None


def test_recovery_facts_reports_a_failed_recovery(tmp_path: Path, host: FakeHost) -> None:
    host.stopped()
    host.answers[RECOVER] = result(stderr=rec("recover-no-wsrep.txt"))
    facts = gc.recovery_facts(path=grastate_file(tmp_path, "grastate-killed.dat"))
    assert facts["recovered"] is None and "wsrep is off" in facts["recover_error"]


@pytest.mark.parametrize("grastate_name", [None, "grastate-fresh-never-joined.dat"])
def test_recovery_facts_skips_fresh_nodes(tmp_path: Path, host: FakeHost, grastate_name: str | None) -> None:
    host.stopped()
    facts = gc.recovery_facts(path=grastate_file(tmp_path, grastate_name))
    assert facts["recovered"] is None and facts["fresh"] is True and RECOVER not in host.keys


def test_recovery_facts_of_a_running_node(tmp_path: Path, host: FakeHost) -> None:
    host.member()
    facts = gc.recovery_facts(path=grastate_file(tmp_path, "grastate-running.dat"))
    assert facts["running"] is True and facts["recovered"] is None and RECOVER not in host.keys


def test_health_ok(host: FakeHost) -> None:
    host.member()
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


def test_health_ignores_a_corrupt_grastate(host: FakeHost, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setattr(gc, "GRASTATE", grastate_file(tmp_path, "corrupt-grastate-garbage.dat"))
    host.member()
    assert gc.health()["ok"] is True


def test_health_of_a_stopped_server_does_not_raise(host: FakeHost) -> None:
    host.stopped()
    report = gc.health(expected_size=3)
    assert report["ok"] is False and report["problems"] == ["MariaDB is not running"]


def test_health_reports_errors_instead_of_raising(host: FakeHost) -> None:
    host.answers[WSREP_ON_SQL] = result(
        stderr="ERROR 1045 (28000): Access denied for user 'root'@'localhost'", retcode=1
    )
    report = gc.health()
    assert report["ok"] is False and "Access denied" in report["problems"][0]


@pytest.mark.parametrize(
    ("status", "expected"),
    [
        ("status-standalone.txt", ["MariaDB runs without wsrep (standalone)"]),
        (
            "status-non-primary.txt",
            [
                "cluster status is non-Primary, not Primary",
                "local state is Initialized, not Synced",
                "wsrep_ready is OFF",
            ],
        ),
        ("status-desynced.txt", ["local state is Donor/Desynced, not Synced"]),
    ],
)
def test_health_problems(status: str, expected: list[str]) -> None:
    wsrep_on = status != "status-standalone.txt"
    state = gc.summarize(True, wsrep_on, gc.parse_status(rec(status)), None, [])
    assert gc.health_problems(state) == expected


# ---------------------------------------------------------------- plan


def node(
    *,
    running: bool = False,
    wsrep_on: bool = True,
    status: str | None = None,
    local: str | None = None,
    size: int = 0,
    uuid: str | None = UUID,
    seqno: int = 15,
    safe: bool = False,
    fresh: bool = False,
    databases: list[str] | None = None,
    recovered: int | None = None,
    recover_error: str | None = None,
) -> dict[str, Any]:
    """A node_state / recovery_facts as node_state builds it."""
    saved = None if fresh else {"uuid": uuid, "seqno": seqno, "safe_to_bootstrap": safe, "version": "2.1"}
    return {
        "running": running,
        "wsrep_on": wsrep_on and running,
        "cluster_status": status if running else None,
        "local_state": local if running and wsrep_on else None,
        "cluster_size": size,
        "cluster_state_uuid": uuid if running and wsrep_on else None,
        "ready": local == "Synced",
        "grastate": saved,
        "fresh": fresh,
        "user_databases": databases or [],
        "collected_at": 1000.0,
        "recovered": None if recovered is None else {"uuid": uuid, "seqno": recovered},
        "recover_error": recover_error,
    }


SYNCED = node(running=True, status="Primary", local="Synced", size=2, seqno=-1)
JOINING = node(running=True, status="Primary", local="Joining: receiving State Transfer", size=3, seqno=-1)
NON_PRIMARY = node(running=True, status="non-Primary", local="Initialized", size=1, seqno=-1)
FRESH_STOPPED = node(fresh=True)
FRESH_STANDALONE = node(running=True, wsrep_on=False, status="Disconnected", fresh=True)
FRESH_WITH_DATA = node(running=True, wsrep_on=False, status="Disconnected", fresh=True, databases=["legacy_app"])
STOPPED_MEMBER = node(seqno=19)
OTHER_CLUSTER = node(uuid=OTHER_UUID, seqno=3)


@pytest.mark.parametrize(
    ("case", "me", "states", "action", "reason"),
    [
        ("new cluster, bootstrap node", "n1", {"n1": FRESH_STANDALONE, "n2": FRESH_STANDALONE}, "bootstrap", "fresh"),
        (
            "new cluster, bootstrap node with data",
            "n1",
            {"n1": FRESH_WITH_DATA, "n2": FRESH_STOPPED, "n3": FRESH_STANDALONE},
            "bootstrap",
            "new cluster",
        ),
        ("new cluster, other node first", "n2", {"n1": FRESH_STANDALONE, "n2": FRESH_STANDALONE}, "refuse", "n1 must"),
        ("bootstrap node unknown name", "n2", {"n2": FRESH_STOPPED, "n3": FRESH_STOPPED}, "refuse", "not among"),
        ("fresh node joins", "n2", {"n1": SYNCED, "n2": FRESH_STANDALONE}, "join", "by a full state transfer"),
        ("stopped fresh joins", "n3", {"n1": SYNCED, "n2": None, "n3": FRESH_STOPPED}, "join", "on n1"),
        ("standalone with data", "n2", {"n1": SYNCED, "n2": FRESH_WITH_DATA}, "refuse", "legacy_app"),
        ("member rejoins", "n2", {"n1": SYNCED, "n2": STOPPED_MEMBER}, "join", "rejoins"),
        ("other cluster's data", "n2", {"n1": SYNCED, "n2": OTHER_CLUSTER}, "refuse", "different|holds data of"),
        ("already synced", "n1", {"n1": SYNCED, "n2": None}, "none", "cluster size 2"),
        ("joining", "n3", {"n1": SYNCED, "n3": JOINING}, "wait", "Joining: receiving"),
        ("non-Primary beside a Primary", "n2", {"n1": SYNCED, "n2": NON_PRIMARY}, "wait", "rejoin by itself"),
        ("full outage", "n1", {"n1": STOPPED_MEMBER, "n2": STOPPED_MEMBER}, "refuse", "full outage"),
        ("all non-Primary", "n1", {"n1": NON_PRIMARY, "n2": NON_PRIMARY}, "refuse", "orch.prereqos_recover"),
        ("unknown node", "n1", {"n1": FRESH_STANDALONE, "n2": None}, "refuse", "n2 is unknown (unreachable"),
        (
            "unknown node and data",
            "n1",
            {"n1": FRESH_STANDALONE, "n2": None, "n3": STOPPED_MEMBER},
            "refuse",
            "n3 hold(s) Galera cluster data and the state of n2 is unknown",
        ),
        ("garbage mine data", "n1", {"n1": FRESH_STANDALONE, "n2": {"running": "yes"}}, "refuse", "n2 is unknown"),
        ("member bootstrap node", "n1", {"n1": STOPPED_MEMBER, "n2": FRESH_STOPPED}, "refuse", "n1 hold"),
        ("no state for me", "n1", {"n2": SYNCED}, "refuse", "no valid state for this node"),
    ],
)
def test_plan(case: str, me: str, states: dict, action: str, reason: str) -> None:
    before = copy.deepcopy(states)
    decision = gc.plan(me, "n1", states)
    assert decision["action"] == action, (case, decision)
    assert any(word in decision["reason"] for word in reason.split("|")), (case, decision)
    assert states == before


def test_plan_never_bootstraps_a_node_that_was_a_member() -> None:
    for me_state in (STOPPED_MEMBER, NON_PRIMARY, node(running=True, wsrep_on=False, status="Disconnected")):
        for others in (FRESH_STOPPED, FRESH_STANDALONE, STOPPED_MEMBER):
            assert gc.plan("n1", "n1", {"n1": me_state, "n2": others})["action"] != "bootstrap"


def test_valid_node_state_rejects_malformed_entries() -> None:
    assert gc.valid_node_state(SYNCED)
    for bad in (
        None,
        "error string",
        {**SYNCED, "running": "yes"},
        {**SYNCED, "cluster_status": "Prim"},
        {**SYNCED, "grastate": {"uuid": UUID}},
        {**SYNCED, "fresh": True},
        {**SYNCED, "user_databases": None},
    ):
        assert not gc.valid_node_state(bad)


# ---------------------------------------------------------------- recovery_plan


def down(seqno: int, safe: bool = False, uuid: str = UUID, recovered: int | None = None) -> dict[str, Any]:
    """A node stopped by the outage, with its recovered position."""
    return node(seqno=seqno, safe=safe, uuid=uuid, recovered=seqno if recovered is None else recovered)


@pytest.mark.parametrize(
    ("case", "states", "forced", "chosen", "text"),
    [
        ("safe_to_bootstrap wins", {"n1": down(13), "n2": down(15, safe=True), "n3": down(13)}, None, "n2", "safe"),
        (
            "highest seqno",
            {"n1": down(19, recovered=19), "n2": down(-1, recovered=12), "n3": FRESH_STOPPED},
            None,
            "n1",
            "highest recovered seqno 19",
        ),
        ("tie", {"n1": down(-1, recovered=19), "n2": down(-1, recovered=19)}, None, "n1", "the first by name"),
        ("tie forced", {"n1": down(-1, recovered=19), "n2": down(-1, recovered=19)}, "n2", "n2", "forced"),
        ("unknown node", {"n1": down(19), "n2": None}, None, None, "n2 is unknown"),
        ("unknown node forced", {"n1": down(19), "n2": None}, "n1", "n1", "automatic choice refused"),
        ("forced unknown", {"n1": down(19), "n2": None}, "n2", None, "not a known node"),
        ("forced not a node", {"n1": down(19)}, "n9", None, "not a known node"),
        ("forced fresh", {"n1": down(19), "n2": FRESH_STOPPED}, "n2", None, "never was a Galera member"),
        ("forced lower seqno", {"n1": down(19), "n2": down(12)}, "n2", "n2", "automatic choice: n1"),
        ("different clusters", {"n1": down(19), "n2": down(25, uuid=OTHER_UUID)}, None, None, "different clusters"),
        (
            "recover failed",
            {"n1": down(19), "n2": node(seqno=-1, recover_error="wsrep is off")},
            None,
            None,
            "n2: wsrep is off",
        ),
        ("two safe", {"n1": down(15, safe=True), "n2": down(15, safe=True)}, None, None, "several nodes"),
        ("safe but behind", {"n1": down(13, safe=True), "n2": down(15)}, None, None, "inconsistent"),
        ("primary running", {"n1": SYNCED, "n2": down(19)}, None, None, "no recovery needed"),
        ("primary running forced", {"n1": SYNCED, "n2": down(19)}, "n2", None, "no recovery needed"),
        ("non-Primary running", {"n1": NON_PRIMARY, "n2": down(19)}, "n2", None, "systemctl stop mariadb"),
        ("standalone running", {"n1": FRESH_STANDALONE, "n2": down(19)}, None, None, "still run"),
        ("new cluster", {"n1": FRESH_STOPPED, "n2": FRESH_STOPPED}, None, None, "new cluster"),
        ("garbage facts", {"n1": down(19), "n2": ["garbage"]}, None, None, "n2 is unknown"),
    ],
)
def test_recovery_plan(case: str, states: dict, forced: str | None, chosen: str | None, text: str) -> None:
    decision = gc.recovery_plan(states, forced)
    assert decision["node"] == chosen, (case, decision)
    assert text in (decision.get("reason") or decision.get("refused")), (case, decision)
    assert set(decision["table"]) == set(states)


def test_recovery_plan_needed_flag_and_table() -> None:
    assert gc.recovery_plan({"n1": SYNCED, "n2": down(19)})["needed"] is False
    assert gc.recovery_plan({"n1": FRESH_STOPPED})["needed"] is False
    refused = gc.recovery_plan({"n1": down(19), "n2": None})
    assert refused["needed"] is True
    assert refused["table"]["n2"] == {"state": "unknown (unreachable or no valid facts)"}
    chosen = gc.recovery_plan({"n1": down(15, safe=True), "n2": down(13)})
    assert chosen["forced"] is False and chosen["needed"] is True
    assert chosen["table"]["n1"] == {
        "state": "stopped",
        "uuid": UUID,
        "seqno": 15,
        "saved_seqno": 15,
        "safe_to_bootstrap": True,
        "error": None,
    }


def test_recovery_plan_from_recorded_outage(tmp_path: Path, host: FakeHost) -> None:
    """The recorded power loss: both nodes recovered seqno 19 of one cluster, nobody safe."""
    states = {}
    for name, saved, log in (
        ("n1", "grastate-killed-non-primary.dat", "recover-killed-non-primary.txt"),
        ("n2", "grastate-killed.dat", "recover-killed.txt"),
    ):
        host.stopped()
        host.answers[RECOVER] = result(stderr=rec(log))
        states[name] = gc.recovery_facts(path=grastate_file(tmp_path, saved))
    plan = gc.recovery_plan(states)
    assert plan["node"] == "n1" and plan["forced"] is False
    assert plan["reason"] == (
        "n1, n2 have the same highest recovered seqno 19 of one cluster: each holds every transaction; "
        "n1 is the first by name"
    )
    assert gc.recovery_plan(states, preferred="n2")["reason"].endswith("n2 is the bootstrap node")
    assert gc.recovery_plan(states, "n2")["node"] == "n2"


# ---------------------------------------------------------------- bootstrap


def test_bootstrap_runs_galera_new_cluster(tmp_path: Path, host: FakeHost) -> None:
    host.stopped()
    host.answers["galera_new_cluster mariadb"] = result()
    assert gc.bootstrap(path=grastate_file(tmp_path, "grastate-clean-last.dat")) is True
    assert host.keys[-1] == "galera_new_cluster mariadb"
    assert gc.bootstrap(path=grastate_file(tmp_path, None)) is True


def test_bootstrap_refuses_a_running_server(tmp_path: Path, host: FakeHost) -> None:
    host.standalone()
    with pytest.raises(CommandExecutionError, match="cannot bootstrap a new cluster: mariadb is active"):
        gc.bootstrap(path=grastate_file(tmp_path, None))
    assert "galera_new_cluster mariadb" not in host.keys


def test_bootstrap_refuses_unsafe_grastate(tmp_path: Path, host: FakeHost) -> None:
    host.stopped()
    with pytest.raises(CommandExecutionError, match="safe_to_bootstrap: 0"):
        gc.bootstrap(path=grastate_file(tmp_path, "grastate-clean-not-last.dat"))
    assert "galera_new_cluster mariadb" not in host.keys


def test_bootstrap_failure_raises(tmp_path: Path, host: FakeHost) -> None:
    host.stopped()
    host.answers["galera_new_cluster mariadb"] = result(stderr="Job for mariadb.service failed", retcode=1)
    with pytest.raises(CommandExecutionError, match=r"galera_new_cluster failed: Job for mariadb\.service failed"):
        gc.bootstrap(path=grastate_file(tmp_path, None))


# ---------------------------------------------------------------- users

CHECK = "stdin:SELECT"


def user_host(host: FakeHost, check: str, grants: str | None) -> None:
    host.answers[CHECK] = result(rec(check))
    if grants:
        host.answers["SHOW GRANTS FOR 'sst'@'localhost'"] = result(rec(grants))
        host.answers["SHOW GRANTS FOR 'root'@'localhost'"] = result(rec(grants))


SST_GRANTS = ["RELOAD, PROCESS, LOCK TABLES, BINLOG MONITOR ON *.*"]


def test_parse_grants_recorded() -> None:
    assert gc.parse_grants(rec("grants-sst.txt")) == {
        "*.*": {"privileges": {"RELOAD", "PROCESS", "LOCK TABLES", "BINLOG MONITOR"}, "grant_option": False}
    }
    root = gc.parse_grants(rec("grants-root-debian.txt"))
    assert root["*.*"] == {"privileges": {"ALL PRIVILEGES"}, "grant_option": True}
    assert root["@%"]["privileges"] == {"PROXY"}
    app = gc.parse_grants(rec("grants-app.txt"))
    assert app["app.*"]["privileges"] == {"SELECT", "INSERT"} and app["*.*"]["privileges"] == {"USAGE"}


def test_parse_grants_skips_roles_and_rejects_garbage_without_showing_hashes() -> None:
    assert gc.parse_grants("GRANT `admin` TO `app`@`%`\n") == {}
    with pytest.raises(CommandExecutionError) as info:
        gc.parse_grants("REVOKE x FROM `a`@`b` IDENTIFIED BY PASSWORD '*ABC'\n")
    assert "*ABC" not in str(info.value)


def test_wanted_grants() -> None:
    wanted = gc.parse_wanted_grant("all on `app`.* with grant option")
    assert wanted["privileges"] == {"ALL PRIVILEGES"} and wanted["target"] == "app.*" and wanted["grant_option"]
    assert gc.grant_statement("all on `app`.* with grant option", "'a'@'%'") == (
        "GRANT all ON `app`.* TO 'a'@'%' WITH GRANT OPTION"
    )
    assert gc.parse_wanted_grant("REPLICATION CLIENT ON *.*")["privileges"] == {"BINLOG MONITOR"}
    for bad in ("SELECT ON *.*; DROP DATABASE mysql", "SELECT ON app.* TO 'x'@'%'", "ON *.*", "SELECT ON 'a'.*"):
        with pytest.raises(CommandExecutionError, match="is not of the form"):
            gc.parse_wanted_grant(bad)


def test_grant_missing() -> None:
    held = gc.parse_grants(rec("grants-root-debian.txt"))
    assert not gc.grant_missing(gc.parse_wanted_grant("ALL PRIVILEGES ON *.* WITH GRANT OPTION"), held)
    assert not gc.grant_missing(gc.parse_wanted_grant("SELECT ON *.*"), held)
    sst = gc.parse_grants(rec("grants-sst.txt"))
    assert not gc.grant_missing(gc.parse_wanted_grant(SST_GRANTS[0]), sst)
    assert gc.grant_missing(gc.parse_wanted_grant("RELOAD ON *.* WITH GRANT OPTION"), sst)
    assert gc.grant_missing(gc.parse_wanted_grant("SELECT ON app.*"), sst)


def test_user_check_sst_as_wanted(host: FakeHost) -> None:
    user_host(host, "user-check-sst-match.txt", "grants-sst.txt")
    check = gc.user_check("sst", "localhost", SECRET, SST_GRANTS)
    assert check == {"exists": True, "password_ok": True, "unix_socket_ok": True, "missing_grants": []}
    assert gc.user_changes(check, False) == {}


def test_user_check_statement_goes_on_stdin_quietly(host: FakeHost) -> None:
    user_host(host, "user-check-sst-match.txt", "grants-sst.txt")
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


def test_user_present_creates_an_absent_user(host: FakeHost) -> None:
    host.answers[CHECK] = [result(rec("user-check-absent.txt")), result(rec("user-check-sst-match.txt"))]
    host.answers["stdin:CREATE"] = result()
    host.answers[f"GRANT {SST_GRANTS[0]} TO 'sst'@'localhost'"] = result()
    host.answers["SHOW GRANTS FOR 'sst'@'localhost'"] = result(rec("grants-sst.txt"))
    changes = gc.user_present("sst", "localhost", SECRET, SST_GRANTS)["changes"]
    assert changes == {"user": {"old": "absent", "new": "present"}, "grants": {"old": "missing", "new": SST_GRANTS}}
    create = next(kwargs for argv, kwargs in host.calls if kwargs.get("stdin", "").startswith("CREATE"))
    assert create["stdin"].startswith("CREATE USER 'sst'@'localhost' IDENTIFIED BY 'fixture \\'pw")
    assert create["output_loglevel"] == "quiet"


def test_user_present_changes_a_wrong_password(host: FakeHost) -> None:
    user_host(host, "user-check-sst-mismatch.txt", "grants-sst.txt")
    host.answers["stdin:ALTER"] = result()
    changes = gc.user_present("sst", "localhost", SECRET, SST_GRANTS)["changes"]
    assert changes == {"password": {"old": "different", "new": "set from pillar (not shown)"}}
    assert "stdin:ALTER" in host.keys and not any(key.startswith("GRANT") for key in host.keys)


def test_user_present_root_keeps_socket_login(host: FakeHost) -> None:
    user_host(host, "user-check-root-debian.txt", "grants-root-debian.txt")
    host.answers["stdin:ALTER"] = result()
    grants = ["ALL PRIVILEGES ON *.* WITH GRANT OPTION"]
    changes = gc.user_present("root", "localhost", SECRET, grants, unix_socket=True)["changes"]
    assert changes == {"password": {"old": "different", "new": "set from pillar (not shown)"}}
    alter = next(kwargs["stdin"] for argv, kwargs in host.calls if kwargs.get("stdin", "").startswith("ALTER"))
    assert alter.startswith(
        "ALTER USER 'root'@'localhost' IDENTIFIED VIA unix_socket OR mysql_native_password USING PASSWORD('"
    )


def test_user_present_root_already_right(host: FakeHost) -> None:
    user_host(host, "user-check-root-socket-password.txt", "grants-root-socket-password.txt")
    grants = ["ALL PRIVILEGES ON *.* WITH GRANT OPTION"]
    assert gc.user_present("root", "localhost", SECRET, grants, unix_socket=True) == {"changes": {}}


def test_user_present_socket_login_removed_when_not_wanted(host: FakeHost) -> None:
    user_host(host, "user-check-root-socket-password.txt", "grants-root-socket-password.txt")
    host.answers["stdin:ALTER"] = result()
    changes = gc.user_present("root", "localhost", SECRET, [], unix_socket=False)["changes"]
    assert changes == {"unix_socket": {"old": True, "new": False}}


def test_user_present_grant_that_never_shows_up_is_an_error(host: FakeHost) -> None:
    user_host(host, "user-check-sst-match.txt", "grants-sst.txt")
    host.answers["GRANT SELECT ON app.* TO 'sst'@'localhost'"] = result()
    with pytest.raises(CommandExecutionError, match="SHOW GRANTS does not list it"):
        gc.user_present("sst", "localhost", SECRET, ["SELECT ON app.*"])


def test_user_check_without_grants_skips_show_grants(host: FakeHost) -> None:
    user_host(host, "user-check-sst-match.txt", None)
    assert gc.user_check("sst", "localhost", SECRET)["missing_grants"] == []
    assert host.keys == [CHECK]


def test_user_check_unexpected_answer(host: FakeHost) -> None:
    host.answers[CHECK] = result("1\t1\n1\t0\n")
    with pytest.raises(CommandExecutionError, match="unexpected answer checking the user sst@localhost"):
        gc.user_check("sst", "localhost", SECRET)


def test_failed_secret_statement_error_is_redacted(host: FakeHost) -> None:
    user_host(host, "user-check-sst-mismatch.txt", "grants-sst.txt")
    stderr = (
        "ERROR 1064 (42000) at line 1: You have an error in your SQL syntax; check the manual that corresponds "
        f"to your MariaDB server version for the right syntax to use near '{SECRET}' at line 1"
    )
    host.answers["stdin:ALTER"] = result(stderr=stderr, retcode=1)
    with pytest.raises(CommandExecutionError) as info:
        gc.user_present("sst", "localhost", SECRET, SST_GRANTS)
    assert "pw" not in str(info.value) and "ERROR 1064" in str(info.value)


def test_no_secret_on_any_command_line_or_unquiet_call(host: FakeHost) -> None:
    user_host(host, "user-check-root-debian.txt", "grants-root-debian.txt")
    host.answers["stdin:ALTER"] = result()
    returned = gc.user_present("root", "localhost", SECRET, ["ALL ON *.*"], unix_socket=True)
    assert SECRET not in repr(returned) and "pw" not in repr(returned)
    for argv, kwargs in host.calls:
        assert not any("pw" in arg for arg in argv)
        if "pw" in kwargs.get("stdin", ""):
            assert kwargs["output_loglevel"] == "quiet"
