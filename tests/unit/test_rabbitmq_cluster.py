"""Unit tests of _modules/rabbitmq_cluster.py (running rabbitmqctl, mocked cmd.run_all), fed outputs
recorded from Debian 12's RabbitMQ 3.10.8 and Debian 13's RabbitMQ 4.0.5 (once per release that
recorded them).

The fixtures come from tests/fixtures/record-rabbitmq.sh (see tests/fixtures/rabbitmq/README.md).
"""

from __future__ import annotations

from typing import Any

import pytest
from salt.exceptions import CommandExecutionError

from tests.unit.loader import load, release_cases
from tests.unit.test_rabbitmq_cluster_library import HOSTILE, PASSWORDS, RABBIT, err, per_release, rec

mod = load("_modules", "rabbitmq_cluster")

SECRET = "S3cret-$(id)-`x`-\\n-e"


class FakeCtl:
    """Stands in for ``cmd.run_all``: answers rabbitmqctl subcommands with recorded outputs, keeps every call.

    ``answers`` maps a subcommand (or ``"subcommand vhost"`` for ``-p`` commands) to a stdout
    string, a cmd.run_all dict, or a list of those given out in turn (the last one repeats).
    """

    def __init__(self) -> None:
        self.answers: dict[str, Any] = {}
        self.calls: list[tuple[list[str], dict[str, Any]]] = []

    def add(self, key: str, answer: Any) -> FakeCtl:
        self.answers[key] = answer
        return self

    def __call__(self, argv: list[str], **kwargs: Any) -> dict[str, Any]:
        self.calls.append((argv, kwargs))
        args = argv[1:]
        key = args[0]
        if "-p" in args and f"{key} {args[args.index('-p') + 1]}" in self.answers:
            key = f"{key} {args[args.index('-p') + 1]}"
        assert key in self.answers, f"unexpected rabbitmqctl call: {argv}"
        answer = self.answers[key]
        if isinstance(answer, list):
            answer = answer.pop(0) if len(answer) > 1 else answer[0]
        if isinstance(answer, str):
            return {"retcode": 0, "stdout": answer, "stderr": "", "pid": 1}
        return answer

    @property
    def commands(self) -> list[str]:
        return [argv[1] for argv, _ in self.calls]

    def argv_of(self, command: str) -> list[str]:
        return next(argv for argv, _ in self.calls if argv[1] == command)

    def kwargs_of(self, command: str) -> dict[str, Any]:
        return next(kwargs for argv, kwargs in self.calls if argv[1] == command)


def assert_no_secret(secret: str, fake: FakeCtl, *returns: Any) -> None:
    """The secret is on no command line, in no return, and only ever sent as (unlogged) stdin."""
    for argv, kwargs in fake.calls:
        assert not any(secret in arg for arg in argv)
        assert all(secret not in repr(value) for key, value in kwargs.items() if key != "stdin")
        if secret in (kwargs.get("stdin") or ""):
            assert kwargs["output_loglevel"] == "quiet"
            assert kwargs["stdin_raw_newlines"] is True
    for value in returns:
        assert secret not in repr(value)


@pytest.fixture
def ctl(monkeypatch: pytest.MonkeyPatch) -> FakeCtl:
    fake = FakeCtl()
    monkeypatch.setattr(mod, "__salt__", {"cmd.run_all": fake}, raising=False)
    monkeypatch.setattr(mod, "_cli", lambda tool="rabbitmqctl": [tool])
    return fake


def cluster(status: str, node: int, fake: FakeCtl, release: str) -> FakeCtl:
    """Answer cluster_status with a recorded file, status with the recorded node ``node``, and
    the queues of every vhost with one quorum queue, its three replicas online."""
    fake.add("cluster_status", rec(status, release)).add("status", rec(f"status-rabbit{node}.json", release))
    fake.add("list_vhosts", rec("list_vhosts.json", release))
    return fake.add("list_queues", rec("list_queues-quorum.json", release))


# ---------------------------------------------------------------------------
# Loading and running rabbitmqctl


def test_virtual_needs_rabbitmqctl(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(mod.salt.utils.path, "which", lambda name: "/usr/sbin/rabbitmqctl")
    assert mod.__virtual__() == "rabbitmq_cluster"
    monkeypatch.setattr(mod.salt.utils.path, "which", lambda name: None)
    loaded, reason = mod.__virtual__()
    assert loaded is False and "rabbitmqctl" in reason


def test_cli_bypasses_the_debian_shell_wrapper_as_root(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(mod.os, "geteuid", lambda: 0)
    monkeypatch.setattr(mod.os.path, "exists", lambda path: path == f"{mod.DEBIAN_TOOLS}/rabbitmqctl")
    assert mod._cli() == ["runuser", "-u", "rabbitmq", "--", "/usr/lib/rabbitmq/bin/rabbitmqctl"]
    monkeypatch.setattr(mod.os, "geteuid", lambda: 1000)
    monkeypatch.setattr(mod.salt.utils.path, "which", lambda name: "/usr/sbin/rabbitmqctl")
    assert mod._cli() == ["/usr/sbin/rabbitmqctl"]


@per_release("list_vhosts.json")
def test_run_passes_a_list_without_shell_and_returns_stdout(ctl: FakeCtl, release: str) -> None:
    ctl.add("list_vhosts", rec("list_vhosts.json", release))
    assert mod._run(["list_vhosts", "--formatter", "json"]) == rec("list_vhosts.json", release)
    argv, kwargs = ctl.calls[0]
    assert argv == ["rabbitmqctl", "list_vhosts", "--formatter", "json"]
    assert kwargs["python_shell"] is False and kwargs["ignore_retcode"] is True
    assert "stdin" not in kwargs and "output_loglevel" not in kwargs


@per_release("err-node-down.json", "err-app-stopped.json")
def test_run_raises_with_the_tools_error_without_colours_or_cookie_hash(ctl: FakeCtl, release: str) -> None:
    ctl.add("cluster_status", err("err-node-down.json", release))
    assert "Erlang cookie hash: " in err("err-node-down.json", release)["stderr"]
    with pytest.raises(CommandExecutionError) as exc:
        mod._run(["cluster_status"])
    message = str(exc.value)
    assert message.startswith("rabbitmqctl cluster_status failed (exit 69): Error: unable to perform an operation")
    assert "Erlang cookie hash: ******" in message
    assert "==" not in message.split("Erlang cookie hash:")[1]

    ctl.add("cluster_status", err("err-app-stopped.json", release))
    with pytest.raises(CommandExecutionError, match="Start it with 'rabbitmqctl start_app'") as exc:
        mod._run(["cluster_status"])
    assert "\x1b[" not in str(exc.value)


def test_run_quiet_never_puts_stdout_in_the_error(ctl: FakeCtl) -> None:
    ctl.add("export_definitions", {"retcode": 2, "stdout": "password_hash", "stderr": "", "pid": 1})
    with pytest.raises(CommandExecutionError) as exc:
        mod._run(["export_definitions"], quiet=True)
    assert "password_hash" not in str(exc.value)
    assert ctl.kwargs_of("export_definitions")["output_loglevel"] == "quiet"


@per_release("cluster_status-3nodes.json", "status-rabbit2.json")
def test_cluster_status_adds_the_local_node(ctl: FakeCtl, release: str) -> None:
    cluster("cluster_status-3nodes.json", 2, ctl, release)
    status = mod.cluster_status()
    assert status["node"] == RABBIT(2)
    assert status["members"] == [RABBIT(1), RABBIT(2), RABBIT(3)]
    assert ctl.argv_of("cluster_status") == ["rabbitmqctl", "cluster_status", "--formatter", "json"]


# ---------------------------------------------------------------------------
# Users, vhosts, permissions, policies, queues: parsing and reads


@per_release("list_users.json")
def test_list_users(ctl: FakeCtl, release: str) -> None:
    ctl.add("list_users", rec("list_users.json", release))
    users = mod.list_users()
    assert users["monitor"] == {"tags": ["monitoring"]}
    assert users["guest"] == {"tags": ["administrator"]}
    assert set(users) == {"openstack", "monitor", "nopass", "legacy512", "legacymd5", "guest"}


@per_release("list_vhosts.json")
def test_list_vhosts(ctl: FakeCtl, release: str) -> None:
    ctl.add("list_vhosts", rec("list_vhosts.json", release))
    assert mod.list_vhosts() == {"/": {}, "openstack": {}}


@per_release("list_permissions-openstack.json")
def test_list_permissions(ctl: FakeCtl, release: str) -> None:
    ctl.add("list_permissions", rec("list_permissions-openstack.json", release))
    assert mod.list_permissions("openstack") == {
        "openstack": {"configure": ".*", "write": ".*", "read": ".*"},
        "monitor": {"configure": "", "write": "", "read": ".*"},
    }
    assert ctl.argv_of("list_permissions") == [
        "rabbitmqctl",
        "list_permissions",
        "-p",
        "openstack",
        "--formatter",
        "json",
    ]


@per_release("list_policies-openstack.json", "list_policies-root.json")
def test_list_policies_decodes_the_definition_string(ctl: FakeCtl, release: str) -> None:
    ctl.add("list_policies openstack", rec("list_policies-openstack.json", release)).add(
        "list_policies /", rec("list_policies-root.json", release)
    )
    assert mod.list_policies("openstack") == {
        "queue-limits": {
            "vhost": "openstack",
            "pattern": "^(?!amq\\.).*",
            "definition": {"max-length": 10000, "overflow": "reject-publish"},
            "priority": 0,
            "apply_to": "queues",
        },
        "alt-exchange": {
            "vhost": "openstack",
            "pattern": "^amq\\.",
            "definition": {"alternate-exchange": "unrouted"},
            "priority": 5,
            "apply_to": "exchanges",
        },
    }
    assert mod.list_policies() == {}


@per_release("list_queues-messages.json")
def test_list_queues(ctl: FakeCtl, release: str) -> None:
    ctl.add("list_queues", rec("list_queues-messages.json", release))
    assert mod.list_queues("/") == {"orders": {"messages": 3}}
    assert ctl.argv_of("list_queues") == [
        "rabbitmqctl",
        "list_queues",
        "-p",
        "/",
        "name",
        "messages",
        "--formatter",
        "json",
    ]


@per_release("err-list_permissions-no-vhost.json")
def test_read_errors_are_the_tools_own(ctl: FakeCtl, release: str) -> None:
    ctl.add("list_permissions", err("err-list_permissions-no-vhost.json", release))
    with pytest.raises(CommandExecutionError, match="Virtual host 'novhost' does not exist"):
        mod.list_permissions("novhost")


@per_release("export_definitions.json")
def test_check_password_reads_the_export_quietly(ctl: FakeCtl, release: str) -> None:
    ctl.add("export_definitions", rec("export_definitions.json", release))
    assert mod.check_password("openstack", PASSWORDS["openstack"]) is True
    assert mod.check_password("openstack", SECRET) is False
    assert mod.check_password("nopass", SECRET) is False
    assert mod.check_password("nobody", SECRET) is False
    for argv, kwargs in ctl.calls:
        assert argv == ["rabbitmqctl", "export_definitions", "-", "--format", "json"]
        assert kwargs["output_loglevel"] == "quiet"
    assert_no_secret(PASSWORDS["openstack"], ctl)


@per_release("export_definitions-truncated.json")
def test_check_password_garbage(ctl: FakeCtl, release: str) -> None:
    ctl.add("export_definitions", rec("export_definitions-truncated.json", release))
    with pytest.raises(
        CommandExecutionError, match="export_definitions printed something that is not complete JSON"
    ) as exc:
        mod.check_password("openstack", SECRET)
    assert "password_hash" not in str(exc.value)


@pytest.mark.parametrize("function", ["add_user", "change_password"])
def test_password_goes_to_stdin_only(ctl: FakeCtl, function: str) -> None:
    ctl.add(function, "Password:\n")
    assert getattr(mod, function)("openstack", SECRET) is True
    argv, kwargs = ctl.calls[0]
    # Exactly two arguments: RabbitMQ 4.0's rabbitmqctl wrapper opens stdin only then.
    assert argv == ["rabbitmqctl", function, "openstack"]
    assert kwargs["stdin"] == SECRET + "\n"
    assert_no_secret(SECRET, ctl)


@pytest.mark.parametrize(
    ("password", "problem"),
    [
        ("", "empty"),
        (None, "empty"),
        ("two\nlines", "line break"),
        ("cr\r", "line break"),
        (" lead", "blanks"),
        ("trail\t", "blanks"),
    ],
)
def test_unusable_passwords_are_refused_before_running_anything(ctl: FakeCtl, password: Any, problem: str) -> None:
    with pytest.raises(CommandExecutionError, match=problem) as exc:
        mod.add_user("openstack", password)
    assert ctl.calls == []
    if password:
        assert password.strip() not in str(exc.value)


@pytest.mark.parametrize("function", ["add_user", "change_password"])
@pytest.mark.parametrize("password", HOSTILE)
def test_hostile_passwords_reach_rabbitmqctl_intact_on_stdin(ctl: FakeCtl, function: str, password: str) -> None:
    ctl.add(function, "")
    assert getattr(mod, function)("openstack", password) is True
    argv, kwargs = ctl.calls[0]
    assert argv == ["rabbitmqctl", function, "openstack"]
    assert kwargs["stdin"] == password + "\n" and kwargs["stdin_raw_newlines"] is True
    assert kwargs["output_loglevel"] == "quiet"


@pytest.mark.parametrize("function", ["add_user", "change_password"])
def test_a_user_name_like_an_option_is_refused(ctl: FakeCtl, function: str) -> None:
    with pytest.raises(CommandExecutionError, match="must not start with '-'"):
        getattr(mod, function)("--help", SECRET)
    assert ctl.calls == []


def test_a_refused_password_names_the_user_and_the_character(ctl: FakeCtl) -> None:
    with pytest.raises(CommandExecutionError) as exc:
        mod.change_password("monitor", "S3cret\u00a0")
    assert str(exc.value) == (
        "cannot set the password: the password of RabbitMQ user monitor contains U+00A0 (NO-BREAK SPACE): "
        "rabbitmqctl reads stdin as Latin-1 and would store another password; use ASCII characters; "
        "choose another one in pillar"
    )
    assert ctl.calls == []


@per_release("err-add_user-exists.json", "err-add_user-no-password.json")
def test_add_user_errors(ctl: FakeCtl, release: str) -> None:
    ctl.add("add_user", err("err-add_user-exists.json", release))
    with pytest.raises(CommandExecutionError, match=r'(?s)exit 70.*User "openstack" already exists') as exc:
        mod.add_user("openstack", SECRET)
    assert_no_secret(SECRET, ctl, str(exc.value))
    ctl.add("add_user", err("err-add_user-no-password.json", release))
    with pytest.raises(CommandExecutionError, match="Password is not provided via argument or stdin"):
        mod.add_user("openstack", SECRET)


# ---------------------------------------------------------------------------
# Writes: argv shapes (positional arguments after "--")


@pytest.mark.parametrize(
    ("call", "argv"),
    [
        (lambda: mod.add_vhost("openstack"), ["add_vhost", "--", "openstack"]),
        (lambda: mod.delete_user("guest"), ["delete_user", "--", "guest"]),
        (lambda: mod.set_user_tags("-n", ["monitoring", "management"]),
         ["set_user_tags", "--", "-n", "monitoring", "management"]),
        (lambda: mod.set_user_tags("a", []), ["set_user_tags", "--", "a"]),
        (lambda: mod.set_permissions("openstack", "/", ".*", "", "^x$"),
         ["set_permissions", "-p", "/", "--", "openstack", ".*", "", "^x$"]),
        (lambda: mod.set_policy("queue-limits", "^(?!amq\\.).*", {"overflow": "reject-publish", "max-length": 10000},
                                5, "queues", "openstack"),
         ["set_policy", "-p", "openstack", "--priority", "5", "--apply-to", "queues", "--", "queue-limits",
          "^(?!amq\\.).*", '{"max-length": 10000, "overflow": "reject-publish"}']),
        (lambda: mod.set_policy("p", "^", {}), ["set_policy", "-p", "/", "--priority", "0", "--apply-to", "all", "--",
                                                "p", "^", "{}"]),
        (lambda: mod.clear_policy("queue-limits", "openstack"),
         ["clear_policy", "-p", "openstack", "--", "queue-limits"]),
    ],
)  # fmt: skip
def test_write_argv(ctl: FakeCtl, call: Any, argv: list[str]) -> None:
    ctl.add(argv[0], "")
    assert call() is True
    assert ctl.calls[0][0] == ["rabbitmqctl", *argv]


def test_set_policy_needs_a_mapping(ctl: FakeCtl) -> None:
    with pytest.raises(CommandExecutionError, match="must be a mapping"):
        mod.set_policy("p", "^", ["max-length", 1])
    assert ctl.calls == []


@pytest.mark.parametrize(
    ("release", "fixture_name", "call", "message"),
    release_cases("rabbitmq", [
        ("err-delete_user-missing.json", lambda: mod.delete_user("nobody"),
         '(?s)exit 67.*User "nobody" does not exist'),
        ("err-clear_policy-missing.json", lambda: mod.clear_policy("nope", "openstack"), "Parameter does not exist"),
        ("err-set_permissions-no-vhost.json", lambda: mod.set_permissions("openstack", "novhost", ".*", ".*", ".*"),
         "Virtual host novhost does not exist"),
    ]),
)  # fmt: skip
def test_write_errors(ctl: FakeCtl, release: str, fixture_name: str, call: Any, message: str) -> None:
    ctl.add(fixture_name.split("-")[1], err(fixture_name, release))  # err-<command>-<case>.json
    with pytest.raises(CommandExecutionError, match=message):
        call()


@per_release("delete_user-missing.json")
def test_deleting_a_missing_user_succeeds_where_rabbitmqctl_allows_it(ctl: FakeCtl, release: str) -> None:
    """4.0 deletes a user that does not exist without a word of error (3.10 exits 67)."""
    ctl.add("delete_user", err("delete_user-missing.json", release))
    assert mod.delete_user("nobody") is True


# ---------------------------------------------------------------------------
# Joining: safety first


def standalone_with(queues: str, fake: FakeCtl, release: str) -> FakeCtl:
    cluster("cluster_status-standalone.json", 1, fake, release)
    return fake.add("list_vhosts", rec("list_vhosts-standalone.json", release)).add("list_queues", rec(queues, release))


@per_release("cluster_status-3nodes.json", "status-rabbit2.json")
def test_join_check_member_of_the_target_cluster(ctl: FakeCtl, release: str) -> None:
    cluster("cluster_status-3nodes.json", 2, ctl, release)
    check = mod.join_check(RABBIT(1))
    assert check == {"node": RABBIT(2), "members": [RABBIT(1), RABBIT(2), RABBIT(3)], "member": True, "refusals": []}


@per_release("cluster_status-standalone.json", "list_vhosts-standalone.json", "list_queues-empty.json")
def test_join_check_standalone_without_messages(ctl: FakeCtl, release: str) -> None:
    standalone_with("list_queues-empty.json", ctl, release)
    assert mod.join_check(RABBIT(2)) == {"node": RABBIT(1), "members": [RABBIT(1)], "member": False, "refusals": []}


@per_release("cluster_status-3nodes.json", "status-rabbit2.json")
def test_join_is_a_no_op_for_a_member(ctl: FakeCtl, release: str) -> None:
    cluster("cluster_status-3nodes.json", 2, ctl, release)
    assert mod.join(RABBIT(1)) == {"changed": False, "node": RABBIT(2), "members": [RABBIT(1), RABBIT(2), RABBIT(3)]}
    assert mod.join(RABBIT(2)) == {"changed": False, "node": RABBIT(2), "members": [RABBIT(1), RABBIT(2), RABBIT(3)]}
    assert set(ctl.commands) == {"cluster_status", "status"}


@per_release("cluster_status-3nodes.json", "status-rabbit2.json")
def test_join_refuses_to_reset_a_member_of_another_cluster(ctl: FakeCtl, release: str) -> None:
    cluster("cluster_status-3nodes.json", 2, ctl, release)
    with pytest.raises(CommandExecutionError) as exc:
        mod.join("rabbit@elsewhere")
    message = str(exc.value)
    assert "rabbit2@localhost is already a member of a cluster with rabbit1@localhost, rabbit3@localhost" in message
    assert "will not be reset" in message and "forget_cluster_node" in message
    assert set(ctl.commands) == {"cluster_status", "status"}


@per_release("cluster_status-standalone.json", "list_vhosts-standalone.json", "list_queues-messages.json")
def test_join_refuses_a_standalone_node_holding_messages(ctl: FakeCtl, release: str) -> None:
    standalone_with("list_queues-messages.json", ctl, release)
    with pytest.raises(CommandExecutionError) as exc:
        mod.join(RABBIT(2))
    message = str(exc.value)
    assert "queue 'orders' in vhost '/' (messages: 3)" in message
    assert "join_cluster would destroy" in message and "Consume or move them" in message
    assert "stop_app" not in ctl.commands and "join_cluster" not in ctl.commands


@per_release("cluster_status-standalone.json", "list_vhosts-standalone.json", "list_queues-empty.json")
def test_join_refuses_when_a_message_count_is_unknown(ctl: FakeCtl, release: str) -> None:
    standalone_with("list_queues-empty.json", ctl, release).add("list_queues", '[{"name": "orders", "messages": ""}]')
    with pytest.raises(CommandExecutionError, match=r"queue 'orders' in vhost '/' \(message count unknown: ''\)"):
        mod.join(RABBIT(2))


@per_release("cluster_status-standalone.json", "list_vhosts-standalone.json", "list_queues-empty.json")
def test_join_stops_joins_and_starts(ctl: FakeCtl, release: str) -> None:
    standalone_with("list_queues-empty.json", ctl, release)
    ctl.add(
        "cluster_status", [rec("cluster_status-standalone.json", release), rec("cluster_status-3nodes.json", release)]
    )
    ctl.add("stop_app", "").add("join_cluster", "").add("start_app", "")
    result = mod.join(RABBIT(2))
    assert result == {
        "changed": True,
        "node": RABBIT(1),
        "members": [RABBIT(1), RABBIT(2), RABBIT(3)],
        "running_nodes": [RABBIT(1), RABBIT(2), RABBIT(3)],
    }
    writes = [
        command for command in ctl.commands if command not in ("cluster_status", "status", "list_vhosts", "list_queues")
    ]
    assert writes == ["stop_app", "join_cluster", "start_app"]
    assert ctl.argv_of("join_cluster") == ["rabbitmqctl", "join_cluster", "--", RABBIT(2)]


# What rabbitmqctl says when the node to join does not exist: 3.10 diagnoses the connection (and prints
# a hash of the cookie), 4.0 fails the feature flag check it runs first with the connection error.
UNREACHABLE = {
    "12": ["unable to perform an operation on node 'rabbit9@localhost'", "Erlang cookie hash: ******"],
    "13": ["{:aborted_feature_flags_compat_check, {:error, {:erpc, :noconnection}}}"],
}


@per_release("err-join-unreachable.json")
def test_join_failure_restarts_the_app_and_says_so(ctl: FakeCtl, release: str) -> None:
    standalone_with("list_queues-empty.json", ctl, release)
    ctl.add("stop_app", "").add("join_cluster", err("err-join-unreachable.json", release)).add("start_app", "")
    with pytest.raises(CommandExecutionError) as exc:
        mod.join("rabbit9@localhost")
    message = str(exc.value)
    assert message.startswith("rabbit1@localhost could not join rabbit9@localhost (its app was started again): ")
    for words in UNREACHABLE[release]:
        assert words in message
    assert "Feature flags:" not in message  # 4.0's log lines on stdout stay out when stderr says why
    assert ctl.commands[-2:] == ["join_cluster", "start_app"]


@pytest.mark.parametrize(
    ("release", "failure"), release_cases("rabbitmq", [("err-join-app-running.json",), ("err-join-unreachable.json",)])
)
def test_join_failure_when_the_app_does_not_start_again(ctl: FakeCtl, release: str, failure: str) -> None:
    """Any failed join_cluster (3.10 refuses a running app; 4.0 joins it, so its failure is an unreachable node)."""
    standalone_with("list_queues-empty.json", ctl, release)
    ctl.add("stop_app", "").add("join_cluster", err(failure, release))
    ctl.add("start_app", {"retcode": 75, "stdout": "", "stderr": "Error: boot failed", "pid": 1})
    with pytest.raises(CommandExecutionError, match=r"restarting its app failed too: .*boot failed"):
        mod.join(RABBIT(2))


@per_release("err-app-stopped.json")
def test_join_on_a_stopped_app_is_the_tools_error(ctl: FakeCtl, release: str) -> None:
    ctl.add("cluster_status", err("err-app-stopped.json", release))
    with pytest.raises(CommandExecutionError, match="requires the 'rabbit' app to be running"):
        mod.join(RABBIT(2))


# ---------------------------------------------------------------------------
# Health


@per_release("cluster_status-3nodes.json", "status-rabbit1.json")
def test_health_ok(ctl: FakeCtl, release: str) -> None:
    cluster("cluster_status-3nodes.json", 1, ctl, release)
    assert mod.health([RABBIT(1), RABBIT(2), RABBIT(3)]) == {
        "ok": True,
        "node": RABBIT(1),
        "running_nodes": [RABBIT(1), RABBIT(2), RABBIT(3)],
        "members": [RABBIT(1), RABBIT(2), RABBIT(3)],
        "partitions": [],
        "alarms": [],
        "problems": [],
        "maintenance": [],
    }
    assert mod.health()["ok"] is True


@per_release("cluster_status-stopped-member.json", "status-rabbit1.json")
def test_health_stopped_member(ctl: FakeCtl, release: str) -> None:
    cluster("cluster_status-stopped-member.json", 1, ctl, release)
    health = mod.health()
    assert health["ok"] is False
    assert health["problems"] == [
        "rabbit3@localhost is a cluster member but is not running: start it (systemctl start rabbitmq-server, "
        "or rabbitmqctl start_app if only its app was stopped)."
    ]
    assert mod.health([RABBIT(1), RABBIT(2)])["ok"] is True


@per_release("cluster_status-stopped-member.json", "status-rabbit1.json")
def test_health_takes_a_comma_list_from_the_command_line(ctl: FakeCtl, release: str) -> None:
    cluster("cluster_status-stopped-member.json", 1, ctl, release)
    assert mod.health("rabbit1@localhost, rabbit2@localhost")["ok"] is True
    assert mod.health("rabbit1@localhost,rabbit3@localhost")["ok"] is False


@per_release("cluster_status-standalone.json", "status-rabbit1.json")
def test_health_node_not_joined(ctl: FakeCtl, release: str) -> None:
    cluster("cluster_status-standalone.json", 1, ctl, release)
    health = mod.health([RABBIT(1), RABBIT(2)])
    assert health["ok"] is False
    assert health["problems"] == [
        "rabbit2@localhost is not a member of the cluster: it has not joined (or was removed)."
    ]


@per_release("cluster_status-partition.json", "cluster_status-partition-all-running.json", "status-rabbit1.json")
@pytest.mark.parametrize("name", ["cluster_status-partition.json", "cluster_status-partition-all-running.json"])
def test_health_partition(ctl: FakeCtl, name: str, release: str) -> None:
    cluster(name, 1, ctl, release)
    health = mod.health([RABBIT(1)])
    assert health["ok"] is False and health["partitions"] == [RABBIT(1)]
    assert health["problems"][0].startswith(
        "rabbit1@localhost reports a network partition from rabbit2@localhost, rabbit3@localhost"
    )


@per_release("cluster_status-alarms.json", "status-rabbit1.json")
def test_health_alarms(ctl: FakeCtl, release: str) -> None:
    cluster("cluster_status-alarms.json", 1, ctl, release)
    health = mod.health()
    assert health["ok"] is False
    assert health["problems"] == [
        "memory alarm on rabbit1@localhost: publishers are blocked until it clears.",
        "disk alarm on rabbit2@localhost: publishers are blocked until it clears.",
    ]


@per_release("err-node-down.json", "err-app-stopped.json", "cluster_status-truncated.json", "empty.txt")
@pytest.mark.parametrize(
    ("answer", "problem"),
    [
        ("err-node-down.json", "failed (exit 69): Error: unable to perform an operation on node"),
        ("err-app-stopped.json", "requires the 'rabbit' app to be running"),
        ("cluster_status-truncated.json", "not complete JSON"),
        ("empty.txt", "printed nothing"),
    ],
)
def test_health_never_raises(ctl: FakeCtl, answer: str, problem: str, release: str) -> None:
    ctl.add("cluster_status", err(answer, release) if answer.startswith("err-") else rec(answer, release))
    health = mod.health([RABBIT(1)])
    assert health["ok"] is False and health["node"] is None and health["running_nodes"] == []
    assert len(health["problems"]) == 1
    assert health["problems"][0].startswith("cannot read the cluster status of the local node: ")
    assert problem in health["problems"][0] and "\n" not in health["problems"][0]


# ---------------------------------------------------------------------------
# Maintenance mode


@per_release("cluster_status-maintenance.json", "status-rabbit1.json")
def test_health_says_which_node_is_in_maintenance(ctl: FakeCtl, release: str) -> None:
    cluster("cluster_status-maintenance.json", 1, ctl, release)
    health = mod.health()
    assert health["ok"] is False and health["problems"] == []
    assert health["maintenance"] == [
        f"{RABBIT(2)} is in maintenance mode (rabbitmq-upgrade drain): it serves no client until revived"
    ]


@per_release("cluster_status-3nodes.json", "status-rabbit1.json", "list_queues-quorum-member-down.json")
def test_health_counts_quorum_replicas_offline(ctl: FakeCtl, release: str) -> None:
    cluster("cluster_status-3nodes.json", 1, ctl, release)
    ctl.add("list_queues", rec("list_queues-quorum-member-down.json", release))
    assert mod.health()["problems"] == [
        f"quorum queue 'scheduler' in vhost '{vhost}': 2 of 3 replicas online ({RABBIT(3)} offline)"
        for vhost in ("/", "openstack")
    ]
    assert mod.health(queues=False)["ok"] is True


@per_release("quorum-critical-no.json", "quorum-critical-yes.json")
def test_quorum_critical(ctl: FakeCtl, release: str) -> None:
    ctl.add("check_if_node_is_quorum_critical", rec("quorum-critical-no.json", release))
    assert mod.quorum_critical() == []
    assert ctl.calls[-1][0][:1] == ["rabbitmq-diagnostics"]
    ctl.add("check_if_node_is_quorum_critical", err("quorum-critical-yes.json", release))
    assert mod.quorum_critical() == ["'scheduler' in vhost '/'"]


def test_quorum_critical_other_failures_raise(ctl: FakeCtl) -> None:
    ctl.add("check_if_node_is_quorum_critical", {"retcode": 69, "stdout": "", "stderr": "Error: unable to perform"})
    with pytest.raises(CommandExecutionError, match="check_if_node_is_quorum_critical failed \\(exit 69\\)"):
        mod.quorum_critical()


@per_release("cluster_status-3nodes.json", "cluster_status-maintenance.json", "upgrade-drain.txt")
def test_drain_and_revive_only_when_needed(ctl: FakeCtl, release: str) -> None:
    cluster("cluster_status-3nodes.json", 2, ctl, release).add("drain", rec("upgrade-drain.txt", release))
    assert mod.drain() is True and ctl.argv_of("drain") == ["rabbitmq-upgrade", "drain"]
    assert mod.revive() is False
    cluster("cluster_status-maintenance.json", 2, ctl, release).add("revive", rec("upgrade-revive.txt", release))
    assert mod.drain() is False
    assert mod.revive() is True and ctl.argv_of("revive") == ["rabbitmq-upgrade", "revive"]
