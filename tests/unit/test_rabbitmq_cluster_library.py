"""Unit tests of _utils/prereqos_rabbitmq.py (parsers, password rules, decisions), fed rabbitmqctl
outputs recorded from Debian 12's RabbitMQ 3.10.8 and Debian 13's RabbitMQ 4.0.5
(tests/fixtures/record-rabbitmq.sh, tests/fixtures/rabbitmq/README.md): each test of a recorded
output runs once per release that recorded it."""

from __future__ import annotations

import json
from typing import Any

import pytest
from salt.exceptions import CommandExecutionError

from tests.unit.loader import library, recorded, releases

rabbit = library("prereqos_rabbitmq")

# Test-only passwords of the recorded users (see the fixtures' README).
PASSWORDS = {
    "openstack": "Test-Pass-openstack-1",
    "monitor": "Test-Pass-monitor-1",
    "legacy512": "Test-Pass-legacy-sha512",
    "legacymd5": "Test-Pass-legacy-md5",
}
RABBIT = "rabbit{}@localhost".format
# Passwords rabbitmqctl reads intact from stdin: every character that means something to a shell,
# SQL or JSON, blanks and breaks inside (not at the ends), non-ASCII, and characters Python calls
# blanks but Elixir's String.trim keeps.
HOSTILE = [
    'it\'s "quoted"',
    "back\\slash\\",
    "$HOME $(id) `id` ${x}",
    "# not a comment; a;b",
    "spaces inside",
    "cr\rinside",
    "tab\tinside",
    "ends with unit separator\x1f",
    "\x1cstarts with file separator",
    "nul\0inside",
    "-n",
]


def rec(name: str, release: str) -> str:
    """A stdout recorded on Debian ``release``."""
    return recorded("rabbitmq", name, release)


def err(name: str, release: str) -> dict[str, Any]:
    """A failure (or a success where another release failed) recorded on Debian ``release``, as cmd.run_all
    returns it."""
    return json.loads(recorded("rabbitmq", name, release))


def per_release(*names: str) -> pytest.MarkDecorator:
    """Run the test once per Debian release (argument ``release``) whose rabbitmqctl recorded all of ``names``."""
    return pytest.mark.parametrize("release", releases("rabbitmq", *names))


# ---------------------------------------------------------------------------
# Parsing cluster_status and status


@per_release("cluster_status-standalone.json")
def test_parse_standalone(release: str) -> None:
    status = rabbit.parse_cluster_status(rec("cluster_status-standalone.json", release))
    assert status == {
        "cluster_name": "rabbit1@vm",
        "running_nodes": [RABBIT(1)],
        "disk_nodes": [RABBIT(1)],
        "ram_nodes": [],
        "members": [RABBIT(1)],
        "partitions": [],
        "partitioned_from": {},
        "alarms": [],
        "maintenance": [],
    }


@per_release("cluster_status-3nodes.json")
def test_parse_three_nodes(release: str) -> None:
    status = rabbit.parse_cluster_status(rec("cluster_status-3nodes.json", release))
    assert status["running_nodes"] == status["members"] == status["disk_nodes"] == [RABBIT(1), RABBIT(2), RABBIT(3)]
    assert status["partitions"] == [] and status["alarms"] == []


@per_release("cluster_status-stopped-member.json")
def test_parse_stopped_member(release: str) -> None:
    status = rabbit.parse_cluster_status(rec("cluster_status-stopped-member.json", release))
    assert status["members"] == [RABBIT(1), RABBIT(2), RABBIT(3)]
    assert status["running_nodes"] == [RABBIT(1), RABBIT(2)]


@per_release("cluster_status-partition.json", "cluster_status-partition-all-running.json")
@pytest.mark.parametrize(
    ("name", "running"),
    [
        ("cluster_status-partition.json", [RABBIT(1)]),
        ("cluster_status-partition-all-running.json", [RABBIT(1), RABBIT(2), RABBIT(3)]),
    ],
)
def test_parse_partitions(name: str, running: list[str], release: str) -> None:
    status = rabbit.parse_cluster_status(rec(name, release))
    assert status["running_nodes"] == running
    assert status["partitions"] == [RABBIT(1)]
    assert status["partitioned_from"] == {RABBIT(1): [RABBIT(2), RABBIT(3)]}


@per_release("cluster_status-alarms.json")
def test_parse_alarms(release: str) -> None:
    """Sorted by node and resource: 4.0 lists them in the order the nodes answered (disk on rabbit2 first)."""
    status = rabbit.parse_cluster_status(rec("cluster_status-alarms.json", release))
    assert status["alarms"] == [
        {"node": RABBIT(1), "resource": "memory", "type": "resource_limit"},
        {"node": RABBIT(2), "resource": "disk", "type": "resource_limit"},
    ]


@per_release("empty.txt", "cluster_status-truncated.json", "cluster_status-text.txt", "cluster_status-wrong-shape.json")
@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("empty.txt", "printed nothing"),
        ("cluster_status-truncated.json", "not complete JSON"),
        ("cluster_status-text.txt", "not complete JSON"),
        ("cluster_status-wrong-shape.json", "'running_nodes' as a list"),
    ],
)
def test_parse_cluster_status_recorded_garbage(name: str, message: str, release: str) -> None:
    with pytest.raises(CommandExecutionError, match=message):
        rabbit.parse_cluster_status(rec(name, release))


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("\n", "printed nothing"),
        ("[]", "expected an object"),
        ('{"running_nodes": [], "disk_nodes": [], "partitions": []}', "'partitions' as an object"),
        ('{"running_nodes": [], "disk_nodes": [], "partitions": {"a": "b"}}', "'partitions' as an object"),
        ('{"running_nodes": [], "disk_nodes": [], "alarms": ["memory"]}', "'alarms' as a list of objects"),
        ('{"running_nodes": [], "disk_nodes": [1]}', "'disk_nodes' as a list"),
        ('{"running_nodes": [], "disk_nodes": [], "ram_nodes": null}', "'ram_nodes' as a list"),
    ],
)
def test_parse_cluster_status_garbage(text: str, message: str) -> None:
    with pytest.raises(CommandExecutionError, match=message):
        rabbit.parse_cluster_status(text)


@per_release("status-rabbit1.json", "status-rabbit2.json")
def test_parse_node_name(release: str) -> None:
    assert rabbit.parse_node_name(rec("status-rabbit1.json", release)) == RABBIT(1)
    assert rabbit.parse_node_name(rec("status-rabbit2.json", release)) == RABBIT(2)


@pytest.mark.parametrize("text", ["", "{}", '{"listeners": [{"protocol": "amqp", "node": "x"}]}', "[1]", "{"])
def test_parse_node_name_garbage(text: str) -> None:
    with pytest.raises(CommandExecutionError, match="rabbitmqctl status"):
        rabbit.parse_node_name(text)


RECORDED_GARBAGE = [
    ("parse_users", "list_users-truncated.json", "not complete JSON"),
    ("parse_users", "list_users-wrong-shape.json", "a list of objects with 'user', 'tags'"),
    ("parse_users", "empty.txt", "printed nothing"),
    ("parse_policies", "list_policies-bad-definition.json", "definition of queue-limits"),
    ("parse_password_hashes", "export_definitions-truncated.json", "not complete JSON"),
]


@per_release(*(name for _, name, _ in RECORDED_GARBAGE))
@pytest.mark.parametrize(("parser", "name", "message"), RECORDED_GARBAGE)
def test_parsers_reject_recorded_garbage(parser: str, name: str, message: str, release: str) -> None:
    with pytest.raises(CommandExecutionError, match=message):
        getattr(rabbit, parser)(rec(name, release))


@pytest.mark.parametrize(
    ("parser", "text", "message"),
    [
        ("parse_users", '[{"user": "a", "tags": "administrator"}]', "'tags'"),
        ("parse_users", '[{"user": "a", "tags": [1]}]', "'tags' as a list of strings"),
        ("parse_vhosts", '[{"nom": "/"}]', "'name'"),
        ("parse_vhosts", "[\n", "not complete JSON"),
        ("parse_permissions", '[{"user": "a", "configure": ".*"}]', "'write'"),
        ("parse_policies", '[{"vhost": "/", "name": "p", "pattern": "x", "apply-to": "all", "definition": "[]", '
         '"priority": 0}]', "definition of p as a JSON object"),
        ("parse_queues", '{"orders": 3}', "a list of objects with 'name'"),
        ("parse_password_hashes", '{"users": {}}', "'users' as a list"),
        ("parse_password_hashes", '{"users": [{"name": "a", "password_hash": null}]}', "'users' as a list"),
    ],
)  # fmt: skip
def test_parsers_reject_garbage(parser: str, text: str, message: str) -> None:
    with pytest.raises(CommandExecutionError, match=message):
        getattr(rabbit, parser)(text)


# ---------------------------------------------------------------------------
# Passwords: stdin only, hashes checked like RabbitMQ


@per_release("export_definitions.json")
@pytest.mark.parametrize("user", sorted(PASSWORDS))
def test_recorded_hashes_match_the_test_passwords(user: str, release: str) -> None:
    """The node hashed what it read on stdin (trailing newline dropped), with each hashing module."""
    hashes = rabbit.parse_password_hashes(rec("export_definitions.json", release))
    entry = hashes[user]
    assert rabbit.password_matches(PASSWORDS[user], entry["password_hash"], entry["hashing_algorithm"])
    assert not rabbit.password_matches(PASSWORDS[user] + "\n", entry["password_hash"], entry["hashing_algorithm"])
    assert not rabbit.password_matches("wrong", entry["password_hash"], entry["hashing_algorithm"])


@per_release("export_definitions.json")
def test_recorded_hashing_algorithms(release: str) -> None:
    hashes = rabbit.parse_password_hashes(rec("export_definitions.json", release))
    assert hashes["openstack"]["hashing_algorithm"] == "rabbit_password_hashing_sha256"
    assert hashes["legacy512"]["hashing_algorithm"] == "rabbit_password_hashing_sha512"
    assert hashes["legacymd5"]["hashing_algorithm"] == "rabbit_password_hashing_md5"
    assert hashes["nopass"]["password_hash"] == ""


def test_password_matches_refuses_what_it_cannot_check() -> None:
    with pytest.raises(CommandExecutionError, match="cannot verify a password hashed with 'rabbit_password_hashing_x'"):
        rabbit.password_matches("x", "AAAA", "rabbit_password_hashing_x")
    with pytest.raises(CommandExecutionError, match="not base64"):
        rabbit.password_matches("x", "not base64!", "rabbit_password_hashing_sha256")
    assert rabbit.password_matches("", "", "rabbit_password_hashing_sha256") is False  # password login disabled


# ---------------------------------------------------------------------------
# Passwords on stdin: what rabbitmqctl reads intact, and what it cannot


@pytest.mark.parametrize("password", HOSTILE)
def test_hostile_passwords_pass_intact(password: str) -> None:
    assert rabbit.password_problem("openstack", password) is None


@pytest.mark.parametrize(
    ("password", "problem"),
    [
        ("", "the password of RabbitMQ user openstack is empty or not a string"),
        (None, "the password of RabbitMQ user openstack is empty or not a string"),
        (
            "two\nlines",
            "the password of RabbitMQ user openstack contains a line break, U+000A (LINE FEED): "
            "rabbitmqctl reads only the first line of stdin",
        ),
        (
            "crlf\r\n",
            "the password of RabbitMQ user openstack contains a line break, U+000A (LINE FEED): "
            "rabbitmqctl reads only the first line of stdin",
        ),
        (
            " lead",
            "the password of RabbitMQ user openstack starts or ends with blanks or line breaks, which rabbitmqctl "
            "trims from stdin: it starts with U+0020 (SPACE)",
        ),
        ("trail\t", "it ends with U+0009 (CHARACTER TABULATION)"),
        ("cr\r", "it ends with U+000D (CARRIAGE RETURN)"),
        # Beyond ASCII: rabbitmqctl decodes stdin as Latin-1 (RabbitMQ 4.0 stores "ü" as "Ã¼").
        (
            "ü€ and 😀",
            "the password of RabbitMQ user openstack contains U+00FC (LATIN SMALL LETTER U WITH DIAERESIS): "
            "rabbitmqctl reads stdin as Latin-1 and would store another password; use ASCII characters",
        ),
        ("\u00a0nbsp", "contains U+00A0 (NO-BREAK SPACE): rabbitmqctl reads stdin as Latin-1"),
        ("ideographic\u3000", "contains U+3000 (IDEOGRAPHIC SPACE): rabbitmqctl reads stdin as Latin-1"),
        ("next line\x85", "contains U+0085 (NEXT LINE): rabbitmqctl reads stdin as Latin-1"),
        ("\u2028separator", "contains U+2028 (LINE SEPARATOR): rabbitmqctl reads stdin as Latin-1"),
        ("half\ud800", "contains U+D800: rabbitmqctl reads stdin as Latin-1"),
    ],
)
def test_password_problem_names_the_user_and_the_character_never_the_value(password: Any, problem: str) -> None:
    found = rabbit.password_problem("openstack", password)
    assert found is not None and problem in found
    if password:
        visible = "".join(char for char in password if char.isalnum())
        assert visible not in found


def test_trimmed_is_unicode_white_space_as_elixir_trims_it() -> None:
    # Elixir's String.trim/1 removes the Unicode White_Space property (PropList.txt): 25 code points.
    assert len(rabbit.TRIMMED) == 25
    assert {"\x1c", "\x1d", "\x1e", "\x1f", "\u180e", "\u200b", "\ufeff"}.isdisjoint(rabbit.TRIMMED)


def test_character_names_controls_and_unnamed_ones() -> None:
    assert rabbit.character("\n") == "U+000A (LINE FEED)"
    assert rabbit.character("\x01") == "U+0001"
    assert rabbit.character("€") == "U+20AC (EURO SIGN)"


# ---------------------------------------------------------------------------
# Tool output, cluster decisions


@per_release("err-node-down.json")
def test_scrub_hides_the_cookie_hash_and_colours(release: str) -> None:
    stderr = err("err-node-down.json", release)["stderr"]
    assert "Erlang cookie hash: " in stderr
    scrubbed = rabbit.scrub(stderr)
    assert "Erlang cookie hash: ******" in scrubbed and "\x1b[" not in scrubbed
    assert "==" not in scrubbed.split("Erlang cookie hash:")[1]
    assert rabbit.scrub("\x1b[1mError:\x1b[0m start it\n") == "Error: start it"


@per_release("cluster_status-stopped-member.json")
def test_health_problems_default_to_every_member(release: str) -> None:
    status = rabbit.parse_cluster_status(rec("cluster_status-stopped-member.json", release))
    assert rabbit.health_problems(status) == [
        "rabbit3@localhost is a cluster member but is not running: start it (systemctl start rabbitmq-server, "
        "or rabbitmqctl start_app if only its app was stopped)."
    ]
    assert rabbit.health_problems(status, [RABBIT(1), RABBIT(2)]) == []


def test_waiting_for() -> None:
    nodes = [RABBIT(1), RABBIT(2), RABBIT(3)]
    stopped = {"running_nodes": [RABBIT(1), RABBIT(2)], "partitions": []}
    assert rabbit.waiting_for(nodes, stopped) == ["not running yet: rabbit3@localhost"]
    split = {"running_nodes": nodes, "partitions": [RABBIT(1)]}
    assert rabbit.waiting_for(nodes, split) == ["partition reported by: rabbit1@localhost"]
    assert rabbit.waiting_for(nodes, {"running_nodes": nodes, "partitions": []}) == []


@per_release("list_queues-messages.json", "list_queues-empty.json")
def test_busy_queues(release: str) -> None:
    queues = {
        "/": rabbit.parse_queues(rec("list_queues-messages.json", release)),
        "empty": rabbit.parse_queues(rec("list_queues-empty.json", release)),
        "odd": {"q": {"messages": ""}},
    }
    assert rabbit.busy_queues(queues) == [
        "queue 'orders' in vhost '/' (messages: 3)",
        "queue 'q' in vhost 'odd' (message count unknown: '')",
    ]


def test_join_refusals() -> None:
    assert rabbit.join_refusals(RABBIT(1), [], RABBIT(2), []) == []
    member = rabbit.join_refusals(RABBIT(2), [RABBIT(1)], "rabbit@elsewhere", ["queue 'x'"])
    assert len(member) == 1 and "will not be reset" in member[0] and "forget_cluster_node rabbit2" in member[0]
    busy = rabbit.join_refusals(RABBIT(1), [], RABBIT(2), ["queue 'orders' in vhost '/' (messages: 3)"])
    assert busy == [
        "rabbit1@localhost holds messages that join_cluster would destroy (joining resets the node): "
        "queue 'orders' in vhost '/' (messages: 3). Consume or move them (or delete those queues), then join again."
    ]


# ---------------------------------------------------------------------------
# Cookie, users, policies


@pytest.mark.parametrize(
    ("value", "problem"),
    [
        (None, "is not set"),
        ("", "is not set"),
        ("x" * 256, "longer than 255"),
        ("caf\u00e9", "printable ASCII"),
        ("two\nlines", "printable ASCII"),
    ],
)
def test_cookie_problem(value: Any, problem: str) -> None:
    assert problem in rabbit.cookie_problem(value)


def test_cookie_problem_accepts_printable_ascii() -> None:
    assert rabbit.cookie_problem("A" * 255) is None and rabbit.cookie_problem("with space ~!") is None


def test_permission_spec() -> None:
    assert rabbit.permission_spec("/", (".*", "", "^x$")) == [".*", "", "^x$"]
    for bad in (".*", [".*", ".*"], [".*", ".*", 1]):
        with pytest.raises(CommandExecutionError, match=r"must be \[configure, write, read\]"):
            rabbit.permission_spec("/", bad)


@per_release("list_users.json", "list_permissions-openstack.json")
def test_user_changes(release: str) -> None:
    users = rabbit.parse_users(rec("list_users.json", release))
    held = rabbit.parse_permissions(rec("list_permissions-openstack.json", release))
    assert rabbit.user_changes("newbie", None, False, ["monitoring"], {"openstack": [".*", ".*", ".*"]}, {}) == {
        "user": {"old": None, "new": "newbie"},
        "tags": {"old": [], "new": ["monitoring"]},
        "permissions": {"openstack": {"old": None, "new": [".*", ".*", ".*"]}},
    }
    wanted = {"openstack": ["", "", ".*"]}
    assert rabbit.user_changes("monitor", users["monitor"], True, None, wanted, {"openstack": held["monitor"]}) == {}
    assert rabbit.user_changes("monitor", users["monitor"], False, ["management"], {}, {}) == {
        "password": {"old": "differs", "new": "updated"},
        "tags": {"old": ["monitoring"], "new": ["management"]},
    }


@per_release("list_policies-openstack.json")
def test_wanted_policy_compares_as_rabbitmqctl_gives_it_back(release: str) -> None:
    live = rabbit.parse_policies(rec("list_policies-openstack.json", release))["queue-limits"]
    want = rabbit.wanted_policy("^(?!amq\\.).*", {"overflow": "reject-publish", "max-length": 10000}, "0", "queues")
    assert want == {key: live[key] for key in want}
    assert rabbit.wanted_policy("^", {"ha-params": (1, 2)}, 1, "all")["definition"] == {"ha-params": [1, 2]}


# ---------------------------------------------------------------------------
# Maintenance mode and quorum queue replicas


@per_release("cluster_status-maintenance.json", "cluster_status-3nodes.json")
def test_parse_a_node_in_maintenance_mode(release: str) -> None:
    """3.10 wraps "marked for maintenance" in mangled colour codes; 4.0 does not."""
    status = rabbit.parse_cluster_status(rec("cluster_status-maintenance.json", release))
    assert status["maintenance"] == [RABBIT(2)] and status["running_nodes"] == [RABBIT(1), RABBIT(2), RABBIT(3)]
    assert rabbit.maintenance_notes(status) == [
        f"{RABBIT(2)} is in maintenance mode (rabbitmq-upgrade drain): it serves no client until revived"
    ]
    assert rabbit.parse_cluster_status(rec("cluster_status-3nodes.json", release))["maintenance"] == []


@per_release("list_queues-quorum.json", "list_queues-quorum-member-down.json")
def test_quorum_queue_replicas(release: str) -> None:
    whole = rabbit.parse_queue_replicas(rec("list_queues-quorum.json", release))
    assert whole == {
        "scheduler": {
            "type": "quorum",
            "members": [RABBIT(1), RABBIT(2), RABBIT(3)],
            "online": [RABBIT(1), RABBIT(2), RABBIT(3)],
            "leader": RABBIT(1),
        }
    }
    nodes = [RABBIT(1), RABBIT(2), RABBIT(3)]
    assert rabbit.replica_problems({"/": whole}, nodes) == []
    down = rabbit.parse_queue_replicas(rec("list_queues-quorum-member-down.json", release))
    assert rabbit.replica_problems({"/": down}, nodes) == [
        f"quorum queue 'scheduler' in vhost '/': 2 of 3 replicas online ({RABBIT(3)} offline)"
    ]
    assert rabbit.replica_problems({"/": whole}, [*nodes, "rabbit4@localhost"]) == [
        "quorum queue 'scheduler' in vhost '/' has no replica on rabbit4@localhost: "
        "rabbitmq-queues grow rabbit4@localhost all --vhost-pattern '/' --queue-pattern 'scheduler'"
    ]


def test_classic_queues_have_no_replicas() -> None:
    rows = rabbit.parse_queue_replicas('[{"name":"orders","type":"classic","members":"","online":""}]')
    assert rows["orders"]["members"] == [] and rabbit.replica_problems({"/": rows}, [RABBIT(1)]) == []


@per_release("quorum-critical-yes.json")
def test_parse_quorum_critical_queues(release: str) -> None:
    assert rabbit.parse_quorum_critical(err("quorum-critical-yes.json", release)["stderr"]) == [
        "'scheduler' in vhost '/'"
    ]


@per_release("list_queues-quorum-member-down.json")
def test_a_replica_offline_on_a_node_in_maintenance_is_no_problem(release: str) -> None:
    down = rabbit.parse_queue_replicas(rec("list_queues-quorum-member-down.json", release))
    nodes = [RABBIT(1), RABBIT(2), RABBIT(3)]
    assert rabbit.replica_problems({"/": down}, nodes, in_maintenance=[RABBIT(3)]) == []
