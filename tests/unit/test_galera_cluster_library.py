"""Unit tests of _utils/prereqos_galera.py (parsers, decisions, SQL text), fed outputs recorded
from Debian 12's MariaDB 10.11 and Debian 13's MariaDB 11.8, both with galera-4 26.4.23
(tests/fixtures/record-galera.sh): each test of a recorded output runs once per release."""

from __future__ import annotations

import copy
from typing import Any

import pytest
from salt.exceptions import CommandExecutionError

from tests.unit.loader import library, recorded, releases

galera = library("prereqos_galera")


def rec(name: str, release: str) -> str:
    """An output recorded on Debian ``release``."""
    return recorded("galera", name, release)


def per_release(*names: str) -> pytest.MarkDecorator:
    """Run the test once per Debian release (argument ``release``) that recorded all of ``names``."""
    return pytest.mark.parametrize("release", releases("galera", *names))


def uuid_of(release: str) -> str:
    """The uuid of the cluster recorded on Debian ``release`` (a new one each time record-galera.sh runs)."""
    return galera.parse_grastate(rec("grastate-clean-last.dat", release), "grastate.dat")["uuid"]


# The uuid of the decisions' made-up nodes: Debian 12's recorded cluster.
UUID = uuid_of("12")
OTHER_UUID = "11111111-2222-3333-4444-555555555555"
SECRET = "fixture 'pw' \\ with; quotes"
# Passwords a site may well choose: every character that means something to SQL, a shell or the client.
HOSTILE = [
    "it's",
    'say "hi"',
    "back\\slash\\",
    "\\'",
    "$HOME $(id) `id` ${x}",
    "# not a comment",
    "-- not a comment either",
    "/* nor this */",
    "a;b; DROP DATABASE mysql;",
    "  spaces inside and around  ",
    "ü€ and 😀",
    "tab\tnewline\ncr\rnul\0ctrl-z\x1a",
    "%_ like wildcards",
]


def unquote(literal: str) -> str:
    """What MariaDB (default sql_mode) reads from a quoted string literal; fails unless it is exactly one."""
    assert literal.startswith("'") and literal.endswith("'") and len(literal) >= 2
    escapes = {"0": "\0", "'": "'", '"': '"', "b": "\b", "n": "\n", "r": "\r", "t": "\t", "Z": "\x1a", "\\": "\\"}
    body, value, index = literal[1:-1], [], 0
    while index < len(body):
        char = body[index]
        if char == "\\":
            index += 1
            value.append(escapes.get(body[index], body[index]))
        elif char == "'":
            assert body[index + 1] == "'", f"the literal ends early at {index}: {literal!r}"
            index += 1
            value.append("'")
        else:
            value.append(char)
        index += 1
    return "".join(value)


# ---------------------------------------------------------------- SQL text and client errors


def test_sql_quote_escapes_quotes_backslashes_and_controls() -> None:
    assert galera.sql_quote("a'b\\c\nd\0") == "'a\\'b\\\\c\\nd\\0'"


def test_redact_removes_secret_escaped_secret_and_quoted_statement() -> None:
    text = f"ERROR 1064 (42000) at line 1: syntax error near '{galera.sql_quote(SECRET)[1:-1]}' at line 1 {SECRET}"
    cleaned = galera.redact(text, (SECRET,))
    assert "pw" not in cleaned and cleaned.endswith("near <statement not shown>")
    assert galera.redact("near 'x'", ()) == "near 'x'"


@per_release("client-error-non-primary.txt")
def test_client_error_takes_the_error_line(release: str) -> None:
    assert galera.client_error(rec("client-error-non-primary.txt", release)).startswith("ERROR 1047 (08S01)")
    assert galera.client_error("") == "no error message"
    assert galera.client_error("something odd\n") == "something odd"


@pytest.mark.parametrize("password", HOSTILE)
def test_sql_quote_gives_mariadb_back_any_password(password: str) -> None:
    literal = galera.sql_quote(password)
    assert unquote(literal) == password
    # One line, so the client's line reader sees the whole statement.
    assert "\n" not in literal and "\r" not in literal and "\0" not in literal


@pytest.mark.parametrize("password", HOSTILE)
def test_identified_and_check_statements_carry_the_password_as_one_literal(password: str) -> None:
    quoted = galera.sql_quote(password)
    assert galera.identified(password, False) == f"IDENTIFIED BY {quoted}"
    assert galera.identified(password, True) == (
        f"IDENTIFIED VIA unix_socket OR mysql_native_password USING PASSWORD({quoted})"
    )
    # The server hashes for the check the same literal IDENTIFIED BY stores.
    assert galera.user_check_statement("sst", "localhost", password) == (
        f"SELECT JSON_SEARCH(Priv, 'one', PASSWORD({quoted})) IS NOT NULL, "
        "JSON_SEARCH(Priv, 'one', 'unix_socket') IS NOT NULL "
        "FROM mysql.global_priv WHERE User = 'sst' AND Host = 'localhost'"
    )


def test_account_quotes_name_and_host() -> None:
    assert galera.account("o'brien", "10.0.0.%") == "'o\\'brien'@'10.0.0.%'"


@pytest.mark.parametrize("password", HOSTILE)
def test_redact_hides_any_password_raw_and_escaped(password: str) -> None:
    escaped = galera.sql_quote(password)[1:-1]
    text = f"ERROR 1396 (HY000): failed for {escaped} ({password}) near '{escaped}' at line 1"
    cleaned = galera.redact(text, (password,))
    assert password not in cleaned and escaped not in cleaned
    assert cleaned == "ERROR 1396 (HY000): failed for ****** (******) near <statement not shown>"


@pytest.mark.parametrize(
    ("answer", "expected"),
    [("", None), ("1\t0\n", (True, False)), ("0\t1\n", (False, True)), ("1\t1\n", (True, True))],
)
def test_parse_user_check(answer: str, expected: tuple[bool, bool] | None) -> None:
    assert galera.parse_user_check(answer, "sst", "localhost") == expected


@pytest.mark.parametrize("answer", ["1\t1\n1\t0\n", "yes\tno\n", "1\n"])
def test_parse_user_check_rejects_other_answers(answer: str) -> None:
    with pytest.raises(CommandExecutionError, match="unexpected answer checking the user sst@localhost"):
        galera.parse_user_check(answer, "sst", "localhost")


@per_release("user-check-absent.txt", "user-check-sst-match.txt", "user-check-sst-mismatch.txt")
def test_user_check_fixtures_are_what_the_parser_reads(release: str) -> None:
    assert galera.parse_user_check(rec("user-check-absent.txt", release), "sst", "localhost") is None
    assert galera.parse_user_check(rec("user-check-sst-match.txt", release), "sst", "localhost") == (True, False)
    assert galera.parse_user_check(rec("user-check-sst-mismatch.txt", release), "sst", "localhost") == (False, False)


# ---------------------------------------------------------------- status


RECORDED_STATUSES = [
    ("status-synced-primary.txt", "Primary", "Synced", "3"),
    ("status-joined-member.txt", "Primary", "Synced", "3"),
    ("status-bootstrapped-1node.txt", "Primary", "Synced", "1"),
    ("status-desynced.txt", "Primary", "Donor/Desynced", "3"),
    ("status-non-primary.txt", "non-Primary", "Initialized", "1"),
    ("status-standalone.txt", "Disconnected", None, "0"),
]


@per_release(*(name for name, *_ in RECORDED_STATUSES))
@pytest.mark.parametrize(("name", "cluster_status", "local_state", "size"), RECORDED_STATUSES)
def test_parse_status_recorded(
    name: str, cluster_status: str, local_state: str | None, size: str, release: str
) -> None:
    parsed = galera.parse_status(rec(name, release))
    assert parsed["wsrep_cluster_status"] == cluster_status
    assert parsed.get("wsrep_local_state_comment") == local_state
    assert parsed["wsrep_cluster_size"] == size


@per_release("status-standalone.txt")
def test_parse_status_keeps_empty_values(release: str) -> None:
    parsed = galera.parse_status(rec("status-standalone.txt", release))
    assert parsed["wsrep_cluster_state_uuid"] == "" and parsed["wsrep_provider_name"] == ""


@per_release("corrupt-status-truncated.txt", "corrupt-status-no-tab.txt", "status-synced-primary.txt")
@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("corrupt-status-truncated.txt", "truncated: no wsrep_cluster_size"),
        ("corrupt-status-no-tab.txt", "unexpected line 6 in the wsrep status output: 'wsrep_cluster_status'"),
    ],
)
def test_parse_status_recorded_garbage_is_a_clear_error(name: str, message: str, release: str) -> None:
    with pytest.raises(CommandExecutionError, match=message):
        galera.parse_status(rec(name, release))
    with pytest.raises(CommandExecutionError, match="truncated: it does not end with a newline"):
        galera.parse_status(rec("status-synced-primary.txt", release).rstrip("\n"))


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "truncated: it does not end with a newline"),
        ("\n", "unexpected line 1"),
        ("wsrep_ready\tON\nwsrep_ready\tON\n", "repeats wsrep_ready"),
        ("<html>\tbody\n", "unexpected line 1"),
        ("wsrep_ready\tON\tOFF\n", "unexpected line 1"),
    ],
)
def test_parse_status_garbage_is_a_clear_error(text: str, message: str) -> None:
    with pytest.raises(CommandExecutionError, match=message):
        galera.parse_status(text)


@per_release("wsrep-on-member.txt", "wsrep-on-standalone.txt", "databases-standalone.txt", "databases-member.txt")
def test_parse_flag_and_databases(release: str) -> None:
    assert galera.parse_flag(rec("wsrep-on-member.txt", release), "x") is True
    assert galera.parse_flag(rec("wsrep-on-standalone.txt", release), "x") is False
    with pytest.raises(CommandExecutionError, match="unexpected answer for x: 'ON'"):
        galera.parse_flag("ON\n", "x")
    assert galera.parse_databases(rec("databases-standalone.txt", release)) == ["legacy_app"]
    assert galera.parse_databases(rec("databases-member.txt", release)) == ["app", "legacy_app"]


# ---------------------------------------------------------------- grastate.dat


def test_grastate_path() -> None:
    assert galera.grastate_path("/srv/mysql") == "/srv/mysql/grastate.dat"


@per_release("corrupt-grastate-seqno.dat")
def test_parse_grastate_names_the_file(release: str) -> None:
    with pytest.raises(CommandExecutionError, match=r"^/srv/mysql/grastate\.dat is corrupt: no valid seqno"):
        galera.parse_grastate(rec("corrupt-grastate-seqno.dat", release), "/srv/mysql/grastate.dat")


@per_release("grastate-clean-not-last.dat", "handmade-grastate-v2.0.dat")
def test_with_safe_to_bootstrap_rewrites_only_that_line(release: str) -> None:
    before = rec("grastate-clean-not-last.dat", release)
    assert galera.with_safe_to_bootstrap(before) == before.replace("safe_to_bootstrap: 0", "safe_to_bootstrap: 1")
    after = galera.with_safe_to_bootstrap(rec("handmade-grastate-v2.0.dat", release))
    assert after.endswith("\nsafe_to_bootstrap: 1\n")
    assert galera.parse_grastate(after, "grastate.dat")["seqno"] == 12


# ---------------------------------------------------------------- --wsrep-recover


def test_server_errors_keeps_the_last_three() -> None:
    log = "".join(f"2026-11-22 0 [ERROR] error {number}\n2026 [Note] ok\n" for number in range(5))
    assert galera.server_errors(log) == (
        "2026-11-22 0 [ERROR] error 2; 2026-11-22 0 [ERROR] error 3; 2026-11-22 0 [ERROR] error 4"
    )
    assert galera.server_errors("[Note] fine\n") == ""


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (f"x [Note] WSREP: Recovered position: {UUID}:42,0-1-17\n", {"uuid": UUID, "seqno": 42}),
        (f"WSREP: Recovered position: {UUID}:7\nWSREP: Recovered position: {UUID}:7\n", {"uuid": UUID, "seqno": 7}),
    ],
)
def test_parse_recovered_variants(text: str, expected: dict) -> None:
    assert galera.parse_recovered(text) == expected


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (f"WSREP: Recovered position: {UUID}:7\nWSREP: Recovered position: {UUID}:8\n", "several positions"),
        ("WSREP: Recovered position: not-a-uuid:7\n", "invalid cluster uuid"),
        ("[Note] InnoDB: started\n", "no 'WSREP: Recovered position' line"),
        ("[ERROR] mariadbd: Can't lock aria control file\n", "found no position: .*Can't lock aria"),
    ],
)
def test_parse_recovered_garbage(text: str, message: str) -> None:
    with pytest.raises(CommandExecutionError, match=message):
        galera.parse_recovered(text)


@per_release("recover-clean.txt")
def test_parse_recovered_log_cut_before_the_position(release: str) -> None:
    with pytest.raises(CommandExecutionError, match="found no position"):
        galera.parse_recovered(rec("recover-clean.txt", release).split("WSREP: Recovered")[0])


# ---------------------------------------------------------------- node state and health


def test_summarize_rejects_a_non_numeric_size() -> None:
    with pytest.raises(CommandExecutionError, match="wsrep_cluster_size is not a number"):
        galera.summarize(True, False, {"wsrep_cluster_status": "Disconnected", "wsrep_cluster_size": "x"}, None, [])


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
@per_release("status-standalone.txt", "status-non-primary.txt", "status-desynced.txt")
def test_health_problems(status: str, expected: list[str], release: str) -> None:
    wsrep_on = status != "status-standalone.txt"
    state = galera.summarize(True, wsrep_on, galera.parse_status(rec(status, release)), None, [])
    assert galera.health_problems(state) == expected


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
    decision = galera.plan(me, "n1", states)
    assert decision["action"] == action, (case, decision)
    assert any(word in decision["reason"] for word in reason.split("|")), (case, decision)
    assert states == before


def test_plan_never_bootstraps_a_node_that_was_a_member() -> None:
    for me_state in (STOPPED_MEMBER, NON_PRIMARY, node(running=True, wsrep_on=False, status="Disconnected")):
        for others in (FRESH_STOPPED, FRESH_STANDALONE, STOPPED_MEMBER):
            assert galera.plan("n1", "n1", {"n1": me_state, "n2": others})["action"] != "bootstrap"


def test_valid_node_state_rejects_malformed_entries() -> None:
    assert galera.valid_node_state(SYNCED)
    for bad in (
        None,
        "error string",
        {**SYNCED, "running": "yes"},
        {**SYNCED, "cluster_status": "Prim"},
        {**SYNCED, "grastate": {"uuid": UUID}},
        {**SYNCED, "fresh": True},
        {**SYNCED, "user_databases": None},
    ):
        assert not galera.valid_node_state(bad)


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
    decision = galera.recovery_plan(states, forced)
    assert decision["node"] == chosen, (case, decision)
    assert text in (decision.get("reason") or decision.get("refused")), (case, decision)
    assert set(decision["table"]) == set(states)


def test_recovery_plan_needed_flag_and_table() -> None:
    assert galera.recovery_plan({"n1": SYNCED, "n2": down(19)})["needed"] is False
    assert galera.recovery_plan({"n1": FRESH_STOPPED})["needed"] is False
    refused = galera.recovery_plan({"n1": down(19), "n2": None})
    assert refused["needed"] is True
    assert refused["table"]["n2"] == {"state": "unknown (unreachable or no valid facts)"}
    chosen = galera.recovery_plan({"n1": down(15, safe=True), "n2": down(13)})
    assert chosen["forced"] is False and chosen["needed"] is True
    assert chosen["table"]["n1"] == {
        "state": "stopped",
        "uuid": UUID,
        "seqno": 15,
        "saved_seqno": 15,
        "safe_to_bootstrap": True,
        "error": None,
    }


# ---------------------------------------------------------------- users and grants

SST_GRANTS = ["RELOAD, PROCESS, LOCK TABLES, BINLOG MONITOR ON *.*"]


@per_release("grants-sst.txt", "grants-root-debian.txt", "grants-app.txt")
def test_parse_grants_recorded(release: str) -> None:
    assert galera.parse_grants(rec("grants-sst.txt", release)) == {
        "*.*": {"privileges": {"RELOAD", "PROCESS", "LOCK TABLES", "BINLOG MONITOR"}, "grant_option": False}
    }
    root = galera.parse_grants(rec("grants-root-debian.txt", release))
    assert root["*.*"] == {"privileges": {"ALL PRIVILEGES"}, "grant_option": True}
    assert root["@%"]["privileges"] == {"PROXY"}
    app = galera.parse_grants(rec("grants-app.txt", release))
    assert app["app.*"]["privileges"] == {"SELECT", "INSERT"} and app["*.*"]["privileges"] == {"USAGE"}


def test_parse_grants_skips_roles_and_rejects_garbage_without_showing_hashes() -> None:
    assert galera.parse_grants("GRANT `admin` TO `app`@`%`\n") == {}
    with pytest.raises(CommandExecutionError) as info:
        galera.parse_grants("REVOKE x FROM `a`@`b` IDENTIFIED BY PASSWORD '*ABC'\n")
    assert "*ABC" not in str(info.value)


def test_wanted_grants() -> None:
    wanted = galera.parse_wanted_grant("all on `app`.* with grant option")
    assert wanted["privileges"] == {"ALL PRIVILEGES"} and wanted["target"] == "app.*" and wanted["grant_option"]
    assert galera.grant_statement("all on `app`.* with grant option", "'a'@'%'") == (
        "GRANT all ON `app`.* TO 'a'@'%' WITH GRANT OPTION"
    )
    assert galera.parse_wanted_grant("REPLICATION CLIENT ON *.*")["privileges"] == {"BINLOG MONITOR"}
    for bad in ("SELECT ON *.*; DROP DATABASE mysql", "SELECT ON app.* TO 'x'@'%'", "ON *.*", "SELECT ON 'a'.*"):
        with pytest.raises(CommandExecutionError, match="is not of the form"):
            galera.parse_wanted_grant(bad)


@per_release("grants-root-debian.txt", "grants-sst.txt")
def test_grant_missing(release: str) -> None:
    held = galera.parse_grants(rec("grants-root-debian.txt", release))
    assert not galera.grant_missing(galera.parse_wanted_grant("ALL PRIVILEGES ON *.* WITH GRANT OPTION"), held)
    assert not galera.grant_missing(galera.parse_wanted_grant("SELECT ON *.*"), held)
    sst = galera.parse_grants(rec("grants-sst.txt", release))
    assert not galera.grant_missing(galera.parse_wanted_grant(SST_GRANTS[0]), sst)
    assert galera.grant_missing(galera.parse_wanted_grant("RELOAD ON *.* WITH GRANT OPTION"), sst)
    assert galera.grant_missing(galera.parse_wanted_grant("SELECT ON app.*"), sst)


def test_user_changes() -> None:
    absent = {"exists": False, "password_ok": False, "unix_socket_ok": False, "missing_grants": SST_GRANTS}
    assert galera.user_changes(absent, False) == {
        "user": {"old": "absent", "new": "present"},
        "grants": {"old": "missing", "new": SST_GRANTS},
    }
    drifted = {"exists": True, "password_ok": False, "unix_socket_ok": False, "missing_grants": []}
    assert galera.user_changes(drifted, True) == {
        "password": {"old": "different", "new": "set from pillar (not shown)"},
        "unix_socket": {"old": False, "new": True},
    }
    right = {"exists": True, "password_ok": True, "unix_socket_ok": True, "missing_grants": []}
    assert galera.user_changes(right, False) == {}


# ---------------------------------------------------------------- texts for state comments


def test_describe() -> None:
    assert galera.describe(FRESH_STANDALONE) == "standalone (fresh)"
    assert galera.describe(FRESH_STOPPED) == "stopped (fresh)"
    assert galera.describe(STOPPED_MEMBER) == "stopped (Galera data, seqno 19)"
    assert galera.describe(SYNCED) == "Synced, Primary, cluster size 2"


def test_entry_problem() -> None:
    assert galera.entry_problem(SYNCED, 1010.0, 300) is None
    assert "no data in the mine" in galera.entry_problem(None, 1010.0, 300)
    assert galera.entry_problem({"running": True}, 1010.0, 300) == "malformed data in the mine"
    assert galera.entry_problem({**SYNCED, "collected_at": "x"}, 1010.0, 300) == "malformed data in the mine"
    assert galera.entry_problem(SYNCED, 5000.0, 300).startswith("mine data is 4000 s old")
    assert galera.entry_problem(SYNCED, 10.0, 300).startswith("mine data is -990 s old")


def test_health_text() -> None:
    synced = {"ok": True, "local_state": "Synced", "cluster_status": "Primary", "cluster_size": 3, "problems": []}
    assert galera.health_text(synced) == "Synced, Primary, cluster size 3"
    assert galera.health_text({"ok": False, "problems": ["a", "b"]}) == "a; b"


def test_table_text() -> None:
    table = galera.recovery_plan({"n1": down(15, safe=True), "n2": None})["table"]
    assert galera.table_text(table) == [
        f"  n1: stopped; cluster {UUID}; recovered seqno 15; grastate seqno 15, safe_to_bootstrap 1",
        "  n2: unknown (unreachable or no valid facts)",
    ]


def test_sessions_from_a_node_match_its_address_and_name() -> None:
    statement = galera.sessions_from_statement("2001:db8::12", "ctrl-2")
    assert statement == (
        "SELECT ID FROM information_schema.PROCESSLIST WHERE ID <> CONNECTION_ID() AND "
        "(HOST LIKE '2001:db8::12:%' OR HOST LIKE '[2001:db8::12]:%' OR HOST LIKE 'ctrl-2:%') ORDER BY ID"
    )
    idle = galera.sessions_from_statement("2001:db8::12", "ctrl-2", idle=True)
    assert idle == statement.replace(" ORDER BY ID", " AND COMMAND = 'Sleep' ORDER BY ID")
    between = galera.sessions_from_statement("2001:db8::12", "ctrl-2", between_transactions=True)
    assert between == idle.replace(
        " ORDER BY ID", " AND ID NOT IN (SELECT trx_mysql_thread_id FROM information_schema.INNODB_TRX) ORDER BY ID"
    )
    with pytest.raises(ValueError):
        galera.sessions_from_statement("ctrl-2'; DROP", "ctrl-2")


# The ids of the two sessions record-galera.sh opened, as each release's recording numbered them.
RECORDED_SESSION_IDS = {"12": [37, 38], "13": [198]}


@per_release("sessions-from.txt", "sessions-from-none.txt")
def test_session_ids_are_parsed(release: str) -> None:
    assert galera.parse_session_ids(rec("sessions-from.txt", release)) == RECORDED_SESSION_IDS[release]
    assert galera.parse_session_ids(rec("sessions-from-none.txt", release)) == []
    with pytest.raises(ValueError, match="not a session id"):
        galera.parse_session_ids("198\nERROR\n")
