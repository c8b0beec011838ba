"""Unit tests of _states/rabbitmq_cluster.py.

The states run on the real execution module, whose ``cmd.run_all`` answers with rabbitmqctl
outputs recorded from RabbitMQ 3.10.8; only ``service.*`` and the clock are stand-ins.
"""

from __future__ import annotations

import functools
import grp
import inspect
import os
import pwd
import stat
from pathlib import Path
from typing import Any

import pytest

from tests.unit.loader import library, load
from tests.unit.test_rabbitmq_cluster import RABBIT, FakeCtl, assert_no_secret, err, rec
from tests.unit.test_rabbitmq_cluster import mod as execmod
from tests.unit.test_rabbitmq_cluster_library import HOSTILE, per_release

states = load("_states", "rabbitmq_cluster")
common = library("prereqos_common")

COOKIE = "PREREQOSUNITTESTCOOKIE"
COOKIE_KEY = "prereqos:secrets:erlang_cookie"
OPENSTACK_PASSWORD = "Test-Pass-openstack-1"  # the recorded user's test password
NEW_PASSWORD = "N3w-$(id)-`x`-\\n-pass"
PILLAR = {
    "prereqos": {
        "secrets": {
            "erlang_cookie": COOKIE,
            "rabbitmq_users": {"openstack": OPENSTACK_PASSWORD, "monitor": NEW_PASSWORD, "newbie": NEW_PASSWORD},
        }
    }
}
SECRETS = (COOKIE, OPENSTACK_PASSWORD, NEW_PASSWORD)
READS = {"cluster_status", "status", "list_vhosts", "list_users", "list_permissions", "list_policies", "list_queues"}
READS |= {"export_definitions"}
ME = pwd.getpwuid(os.getuid()).pw_name
MY_GROUP = grp.getgrgid(os.getgid()).gr_name
NODES = [RABBIT(1), RABBIT(2), RABBIT(3)]


class Service:
    """Stands in for ``service.status/stop/start`` and remembers the calls."""

    def __init__(self, running: bool = False) -> None:
        self.running, self.calls = running, []
        self.stop_ok = self.start_ok = True

    def status(self, name: str) -> bool:
        return self.running

    def stop(self, name: str) -> bool:
        self.calls.append(("stop", name))
        return self.stop_ok

    def start(self, name: str) -> bool:
        self.calls.append(("start", name))
        return self.start_ok


class Clock:
    """Stands in for ``time``: sleeping advances the clock at once."""

    def __init__(self) -> None:
        self.now, self.sleeps = 0.0, []

    def monotonic(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


@pytest.fixture
def ctl(monkeypatch: pytest.MonkeyPatch) -> FakeCtl:
    fake = FakeCtl()
    monkeypatch.setattr(execmod, "__salt__", {"cmd.run_all": fake}, raising=False)
    monkeypatch.setattr(execmod, "_cli", lambda tool="rabbitmqctl": [tool])
    return fake


@pytest.fixture
def service() -> Service:
    return Service()


@pytest.fixture
def opts(monkeypatch: pytest.MonkeyPatch, ctl: FakeCtl, service: Service) -> dict[str, Any]:
    """Wire the state module's dunders; returns ``__opts__`` (set ``opts["test"] = True`` for test mode)."""
    functions = inspect.getmembers(execmod, inspect.isfunction)
    salt = {
        f"rabbitmq_cluster.{name}": function
        for name, function in functions
        if not name.startswith("_") and function.__module__ == execmod.__name__
    }
    salt.update({"service.status": service.status, "service.stop": service.stop, "service.start": service.start})
    opts = {"test": False}
    monkeypatch.setattr(states, "__salt__", salt, raising=False)
    monkeypatch.setattr(states, "__opts__", opts, raising=False)
    monkeypatch.setattr(states, "__pillar__", PILLAR, raising=False)
    return opts


def check(ret: dict[str, Any], ctl: FakeCtl, result: bool | None) -> dict[str, Any]:
    """A well-formed state return with ``result``, free of secrets, with no secret on any argv."""
    assert set(ret) == {"name", "result", "changes", "comment"}
    assert ret["result"] is result, ret
    assert isinstance(ret["comment"], str) and ret["comment"]
    for secret in SECRETS:
        assert_no_secret(secret, ctl, ret)
    return ret


def writes(ctl: FakeCtl) -> list[str]:
    return [command for command in ctl.commands if command not in READS]


# ---------------------------------------------------------------------------
# cookie


def run_cookie(path: Path, **kwargs: Any) -> dict[str, Any]:
    return states.cookie(name=str(path), pillar_key=COOKIE_KEY, user=ME, group=MY_GROUP, **kwargs)


def write(path: Path, text: str, mode: int = 0o400) -> Path:
    path.write_text(text)
    path.chmod(mode)
    return path


def mode_of(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_cookie_written_when_absent_without_restart(tmp_path: Path, opts: dict, ctl: FakeCtl, service: Service) -> None:
    path = tmp_path / ".erlang.cookie"
    ret = check(run_cookie(path), ctl, True)
    assert ret["changes"] == {"cookie": {"old": "absent", "new": "set from pillar"}}
    assert path.read_text() == COOKIE and mode_of(path) == 0o400
    assert service.calls == [] and list(tmp_path.iterdir()) == [path]


def test_cookie_differs_and_service_running_is_restarted(
    tmp_path: Path, opts: dict, ctl: FakeCtl, service: Service
) -> None:
    path = write(tmp_path / ".erlang.cookie", "RANDOMPACKAGECOOKIE", 0o400)
    service.running = True
    ret = check(run_cookie(path), ctl, True)
    assert ret["changes"] == {
        "cookie": {"old": "differs", "new": "set from pillar"},
        "service": {"old": "running", "new": "restarted"},
    }
    assert service.calls == [("stop", "rabbitmq-server"), ("start", "rabbitmq-server")]
    assert path.read_text() == COOKIE and mode_of(path) == 0o400


def test_cookie_test_mode_predicts_and_touches_nothing(
    tmp_path: Path, opts: dict, ctl: FakeCtl, service: Service
) -> None:
    path = write(tmp_path / ".erlang.cookie", "RANDOMPACKAGECOOKIE", 0o644)
    service.running, opts["test"] = True, True
    ret = check(run_cookie(path), ctl, None)
    assert ret["changes"] == {
        "cookie": {"old": "differs", "new": "set from pillar"},
        "mode": {"old": "0644", "new": "0400"},
        "service": {"old": "running", "new": "restarted"},
    }
    assert "rabbitmq-server would be restarted" in ret["comment"]
    assert path.read_text() == "RANDOMPACKAGECOOKIE" and mode_of(path) == 0o644 and service.calls == []


def test_cookie_in_place_is_a_no_op(tmp_path: Path, opts: dict, ctl: FakeCtl, service: Service) -> None:
    path = write(tmp_path / ".erlang.cookie", COOKIE + "\n")  # Erlang ignores one trailing newline
    service.running = True
    ret = check(run_cookie(path), ctl, True)
    assert ret["changes"] == {} and service.calls == []
    assert path.read_text() == COOKIE + "\n"


def test_cookie_mode_only_is_fixed_without_restart(tmp_path: Path, opts: dict, ctl: FakeCtl, service: Service) -> None:
    path = write(tmp_path / ".erlang.cookie", COOKIE, 0o644)
    service.running = True
    ret = check(run_cookie(path), ctl, True)
    assert ret["changes"] == {"mode": {"old": "0644", "new": "0400"}}
    assert mode_of(path) == 0o400 and service.calls == []


def test_cookie_owner_only(tmp_path: Path, opts: dict, ctl: FakeCtl, monkeypatch: pytest.MonkeyPatch) -> None:
    path = write(tmp_path / ".erlang.cookie", COOKIE)
    chowned = []
    monkeypatch.setattr(states.os, "chown", lambda *args: chowned.append(args))
    monkeypatch.setattr(states.pwd, "getpwnam", lambda name: pwd.struct_passwd(("rabbitmq", "x", 4242, 0, "", "", "")))
    ret = check(states.cookie(name=str(path), pillar_key=COOKIE_KEY, group=MY_GROUP), ctl, True)
    assert ret["changes"] == {"owner": {"old": f"{ME}:{MY_GROUP}", "new": f"rabbitmq:{MY_GROUP}"}}
    assert chowned == [(str(path), 4242, os.getgid())]


@pytest.mark.parametrize(
    ("pillar", "message"),
    [
        ({}, "Pillar key prereqos:secrets:erlang_cookie is not set"),
        ({"prereqos": {"secrets": {"erlang_cookie": ""}}}, "is not set"),
        ({"prereqos": {"secrets": {"erlang_cookie": "x" * 256}}}, "longer than 255"),
        ({"prereqos": {"secrets": {"erlang_cookie": "caf\u00e9"}}}, "printable ASCII"),
        ({"prereqos": {"secrets": {"erlang_cookie": "two\nlines"}}}, "printable ASCII"),
    ],
)
def test_cookie_bad_pillar(
    tmp_path: Path, opts: dict, ctl: FakeCtl, monkeypatch: pytest.MonkeyPatch, pillar: dict, message: str
) -> None:
    monkeypatch.setattr(states, "__pillar__", pillar, raising=False)
    ret = check(run_cookie(tmp_path / ".erlang.cookie"), ctl, False)
    assert message in ret["comment"] and not (tmp_path / ".erlang.cookie").exists()


def test_cookie_before_the_package(tmp_path: Path, opts: dict, ctl: FakeCtl) -> None:
    path = tmp_path / "missing" / ".erlang.cookie"
    ret = check(run_cookie(path), ctl, False)
    assert "install rabbitmq-server before writing the cookie" in ret["comment"]
    opts["test"] = True
    path = tmp_path / ".erlang.cookie"
    ret = check(states.cookie(name=str(path), pillar_key=COOKIE_KEY, user="no-such-user-xyz"), ctl, None)
    assert ret["changes"] == {"cookie": {"old": "absent", "new": "set from pillar"}}


def test_cookie_stop_fails(tmp_path: Path, opts: dict, ctl: FakeCtl, service: Service) -> None:
    path = write(tmp_path / ".erlang.cookie", "OLD")
    service.running, service.stop_ok = True, False
    ret = check(run_cookie(path), ctl, False)
    assert "Could not stop rabbitmq-server, so the cookie was not changed" in ret["comment"]
    assert path.read_text() == "OLD" and service.calls == [("stop", "rabbitmq-server")]


def test_cookie_start_fails(tmp_path: Path, opts: dict, ctl: FakeCtl, service: Service) -> None:
    path = write(tmp_path / ".erlang.cookie", "OLD")
    service.running, service.start_ok = True, False
    ret = check(run_cookie(path), ctl, False)
    assert "did not start again: see journalctl -u rabbitmq-server" in ret["comment"]
    assert ret["changes"]["cookie"] == {"old": "differs", "new": "set from pillar"}
    assert path.read_text() == COOKIE


def test_cookie_write_fails_and_the_node_comes_back(
    tmp_path: Path, opts: dict, ctl: FakeCtl, service: Service, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = write(tmp_path / ".erlang.cookie", "OLD")
    service.running = True

    def refuse(*args: Any) -> None:
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(states.os, "replace", refuse)
    ret = check(run_cookie(path), ctl, False)
    assert (
        ret["comment"] == f"Cannot write {path}: Permission denied. rabbitmq-server started again with the old cookie."
    )
    assert service.calls == [("stop", "rabbitmq-server"), ("start", "rabbitmq-server")]
    assert path.read_text() == "OLD" and list(tmp_path.iterdir()) == [path]  # no temporary file left
    service.start_ok = False
    assert check(run_cookie(path), ctl, False)["comment"].endswith("rabbitmq-server is stopped: it failed to start.")


def test_owner_names_unknown_ids() -> None:
    assert states._owner(2**31 - 2, 2**31 - 2) == f"{2**31 - 2}:{2**31 - 2}"


def test_cookie_unreadable(tmp_path: Path, opts: dict, ctl: FakeCtl) -> None:
    path = tmp_path / ".erlang.cookie"
    path.mkdir()
    ret = check(run_cookie(path), ctl, False)
    assert ret["comment"].startswith(f"Cannot read {path}")


# ---------------------------------------------------------------------------
# joined


def cluster(status: str, node: int, ctl: FakeCtl, release: str) -> FakeCtl:
    return ctl.add("cluster_status", rec(status, release)).add("status", rec(f"status-rabbit{node}.json", release))


def standalone(ctl: FakeCtl, release: str, queues: str = "list_queues-empty.json") -> FakeCtl:
    cluster("cluster_status-standalone.json", 1, ctl, release)
    return ctl.add("list_vhosts", rec("list_vhosts-standalone.json", release)).add("list_queues", rec(queues, release))


@per_release("cluster_status-3nodes.json", "status-rabbit2.json")
def test_joined_member_is_a_no_op(opts: dict, ctl: FakeCtl, release: str) -> None:
    cluster("cluster_status-3nodes.json", 2, ctl, release)
    ret = check(states.joined(RABBIT(1)), ctl, True)
    assert (
        ret["changes"] == {} and ret["comment"] == "rabbit2@localhost is already in the cluster of rabbit1@localhost."
    )
    assert writes(ctl) == []


@per_release(
    "cluster_status-standalone.json", "status-rabbit1.json", "list_vhosts-standalone.json", "list_queues-empty.json"
)
def test_joined_test_mode(opts: dict, ctl: FakeCtl, release: str) -> None:
    standalone(ctl, release)
    opts["test"] = True
    ret = check(states.joined(RABBIT(2)), ctl, None)
    assert ret["changes"] == {
        "members": {"old": [RABBIT(1)], "new": f"the members of {RABBIT(2)}'s cluster and {RABBIT(1)}"}
    }
    assert writes(ctl) == []


@per_release(
    "cluster_status-standalone.json",
    "cluster_status-3nodes.json",
    "status-rabbit1.json",
    "list_vhosts-standalone.json",
    "list_queues-empty.json",
)
def test_joined_joins(opts: dict, ctl: FakeCtl, release: str) -> None:
    standalone(ctl, release)
    before = rec("cluster_status-standalone.json", release)
    ctl.add(
        "cluster_status", [before, before, rec("cluster_status-3nodes.json", release)]
    )  # state check, join check, after
    ctl.add("stop_app", "").add("join_cluster", "").add("start_app", "")
    ret = check(states.joined(RABBIT(2)), ctl, True)
    assert ret["changes"] == {"members": {"old": [RABBIT(1)], "new": NODES}}
    assert writes(ctl) == ["stop_app", "join_cluster", "start_app"]


@pytest.mark.parametrize("test_mode", [False, True])
@per_release(
    "cluster_status-3nodes.json",
    "status-rabbit2.json",
    "cluster_status-standalone.json",
    "status-rabbit1.json",
    "list_vhosts-standalone.json",
    "list_queues-messages.json",
)
def test_joined_refusals(opts: dict, ctl: FakeCtl, test_mode: bool, release: str) -> None:
    opts["test"] = test_mode
    cluster("cluster_status-3nodes.json", 2, ctl, release)
    ret = check(states.joined("rabbit@elsewhere"), ctl, False)
    assert "will not be reset" in ret["comment"]
    standalone(ctl, release, "list_queues-messages.json")
    ret = check(states.joined(RABBIT(2)), ctl, False)
    assert "queue 'orders' in vhost '/' (messages: 3)" in ret["comment"]
    assert writes(ctl) == []


@per_release(
    "cluster_status-standalone.json",
    "cluster_status-3nodes.json",
    "status-rabbit1.json",
    "list_vhosts-standalone.json",
    "list_queues-empty.json",
)
def test_joined_by_someone_else_meanwhile(opts: dict, ctl: FakeCtl, release: str) -> None:
    standalone(ctl, release)
    ctl.add(
        "cluster_status", [rec("cluster_status-standalone.json", release), rec("cluster_status-3nodes.json", release)]
    )
    ret = check(states.joined(RABBIT(2)), ctl, True)
    assert ret["changes"] == {} and writes(ctl) == []


@per_release(
    "err-join-unreachable.json",
    "cluster_status-standalone.json",
    "status-rabbit1.json",
    "list_vhosts-standalone.json",
    "list_queues-empty.json",
)
def test_joined_join_fails(opts: dict, ctl: FakeCtl, release: str) -> None:
    standalone(ctl, release)
    ctl.add("stop_app", "").add("join_cluster", err("err-join-unreachable.json", release)).add("start_app", "")
    ret = check(states.joined("rabbit9@localhost"), ctl, False)
    assert ret["comment"].startswith("rabbit1@localhost could not join rabbit9@localhost (its app was started again): ")
    assert ret["changes"] == {}


@per_release("err-node-down.json")
def test_joined_node_down(opts: dict, ctl: FakeCtl, release: str) -> None:
    ctl.add("cluster_status", err("err-node-down.json", release))
    ret = check(states.joined(RABBIT(1)), ctl, False)
    assert ret["comment"].startswith("Cannot read the local RabbitMQ node's state: rabbitmqctl cluster_status failed")


# ---------------------------------------------------------------------------
# running_nodes


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Clock:
    fake = Clock()
    waiting = functools.partial(common.wait_until, clock=fake.monotonic, sleep=fake.sleep)
    monkeypatch.setattr(common, "wait_until", waiting)
    return fake


@pytest.mark.parametrize("test_mode", [False, True])
@per_release("cluster_status-3nodes.json", "status-rabbit1.json")
def test_running_nodes_already_met(opts: dict, ctl: FakeCtl, clock: Clock, test_mode: bool, release: str) -> None:
    opts["test"] = test_mode
    cluster("cluster_status-3nodes.json", 1, ctl, release)
    ret = check(states.running_nodes("gate", NODES), ctl, True)
    assert ret["changes"] == {} and clock.sleeps == []


@per_release(
    "err-app-stopped.json", "cluster_status-stopped-member.json", "cluster_status-3nodes.json", "status-rabbit1.json"
)
def test_running_nodes_waits_until_met(opts: dict, ctl: FakeCtl, clock: Clock, release: str) -> None:
    cluster("cluster_status-3nodes.json", 1, ctl, release)
    ctl.add(
        "cluster_status",
        [
            err("err-app-stopped.json", release),
            rec("cluster_status-stopped-member.json", release),
            rec("cluster_status-3nodes.json", release),
        ],
    )
    ret = check(states.running_nodes("gate", NODES, timeout=60), ctl, True)
    assert clock.sleeps == [2, 2] and ret["changes"] == {}


@per_release("cluster_status-stopped-member.json", "status-rabbit1.json")
def test_running_nodes_test_mode_reports_what_it_would_wait_for(
    opts: dict, ctl: FakeCtl, clock: Clock, release: str
) -> None:
    opts["test"] = True
    cluster("cluster_status-stopped-member.json", 1, ctl, release)
    ret = check(states.running_nodes("gate", NODES, timeout=120), ctl, None)
    assert ret["comment"] == "Would wait up to 120 s for not running yet: rabbit3@localhost."
    assert clock.sleeps == [] and ret["changes"] == {}


@per_release("cluster_status-partition-all-running.json", "status-rabbit1.json")
def test_running_nodes_deadline_with_partition(opts: dict, ctl: FakeCtl, clock: Clock, release: str) -> None:
    cluster("cluster_status-partition-all-running.json", 1, ctl, release)
    ret = check(states.running_nodes("gate", NODES, timeout=10), ctl, False)
    assert ret["comment"].startswith(
        "After 10 s, partition reported by: rabbit1@localhost. Running: rabbit1@localhost,"
    )
    assert "reports a network partition from rabbit2@localhost, rabbit3@localhost" in ret["comment"]
    assert clock.sleeps == [2] * 5 and ret["changes"] == {}


@pytest.mark.parametrize("nodes", [[], "rabbit1@localhost", [None]])
def test_running_nodes_needs_a_list(opts: dict, ctl: FakeCtl, clock: Clock, nodes: Any) -> None:
    ret = check(states.running_nodes("gate", nodes), ctl, False)
    assert ret["comment"].startswith("nodes must be a non-empty list of node names") and ctl.calls == []


@per_release("err-node-down.json")
def test_running_nodes_deadline_node_down(opts: dict, ctl: FakeCtl, clock: Clock, release: str) -> None:
    ctl.add("cluster_status", err("err-node-down.json", release))
    ret = check(states.running_nodes("gate", NODES, timeout=4), ctl, False)
    assert ret["comment"].startswith(
        "After 4 s, not running yet: rabbit1@localhost, rabbit2@localhost, rabbit3@localhost. Running: none. "
        "cannot read the cluster status of the local node: rabbitmqctl cluster_status failed (exit 69)"
    )


# ---------------------------------------------------------------------------
# vhosts


@per_release("list_vhosts.json")
def test_vhost_present(opts: dict, ctl: FakeCtl, release: str) -> None:
    ctl.add("list_vhosts", rec("list_vhosts.json", release)).add("add_vhost", "")
    assert check(states.vhost_present("openstack"), ctl, True)["changes"] == {}
    opts["test"] = True
    ret = check(states.vhost_present("nova"), ctl, None)
    assert ret["changes"] == {"vhost": {"old": None, "new": "nova"}} and writes(ctl) == []
    opts["test"] = False
    ret = check(states.vhost_present("nova"), ctl, True)
    assert ret["changes"] == {"vhost": {"old": None, "new": "nova"}}
    assert ctl.argv_of("add_vhost") == ["rabbitmqctl", "add_vhost", "--", "nova"]


@per_release("empty.txt")
def test_vhost_present_garbage(opts: dict, ctl: FakeCtl, release: str) -> None:
    ctl.add("list_vhosts", rec("empty.txt", release))
    ret = check(states.vhost_present("nova"), ctl, False)
    assert ret["comment"] == "rabbitmqctl list_vhosts printed nothing where JSON was expected" and ret["changes"] == {}


# ---------------------------------------------------------------------------
# users


def users(ctl: FakeCtl, release: str) -> FakeCtl:
    ctl.add("list_users", rec("list_users.json", release)).add("list_vhosts", rec("list_vhosts.json", release))
    ctl.add("list_permissions /", rec("list_permissions-root.json", release))
    ctl.add("list_permissions openstack", rec("list_permissions-openstack.json", release))
    return ctl.add("export_definitions", rec("export_definitions.json", release))


ALL = [".*", ".*", ".*"]
OPENSTACK_KEY = "prereqos:secrets:rabbitmq_users:openstack"

# What user_present reads: users, vhosts, permissions and the password hashes.
USER_FIXTURES = (
    "list_users.json",
    "list_vhosts.json",
    "list_permissions-root.json",
    "list_permissions-openstack.json",
    "export_definitions.json",
)


@per_release(*USER_FIXTURES)
def test_user_present_in_place(opts: dict, ctl: FakeCtl, release: str) -> None:
    users(ctl, release)
    ret = states.user_present("openstack", OPENSTACK_KEY, tags=[], permissions={"/": ALL, "openstack": ALL})
    assert check(ret, ctl, True)["changes"] == {} and writes(ctl) == []
    assert "export_definitions" in ctl.commands  # the password was checked


@per_release(*USER_FIXTURES)
def test_user_present_creates(opts: dict, ctl: FakeCtl, release: str) -> None:
    users(ctl, release).add("add_user", "").add("set_user_tags", "").add("set_permissions", "")
    ret = states.user_present(
        "newbie", "prereqos:secrets:rabbitmq_users:newbie", tags=["monitoring"], permissions={"openstack": ALL}
    )
    assert check(ret, ctl, True)["changes"] == {
        "user": {"old": None, "new": "newbie"},
        "tags": {"old": [], "new": ["monitoring"]},
        "permissions": {"openstack": {"old": None, "new": ALL}},
    }
    assert writes(ctl) == ["add_user", "set_user_tags", "set_permissions"]
    assert ctl.kwargs_of("add_user")["stdin"] == NEW_PASSWORD + "\n"
    assert ctl.argv_of("set_permissions") == ["rabbitmqctl", "set_permissions", "-p", "openstack", "--", "newbie", *ALL]
    assert "export_definitions" not in ctl.commands


@per_release(*USER_FIXTURES)
def test_user_present_updates_password_tags_permissions(opts: dict, ctl: FakeCtl, release: str) -> None:
    users(ctl, release).add("change_password", "").add("set_user_tags", "").add("set_permissions", "")
    ret = states.user_present(
        "monitor", "prereqos:secrets:rabbitmq_users:monitor", tags=["monitoring", "management"],
        permissions={"openstack": ["", "", ".*"], "/": ["", "", ".*"]},
    )  # fmt: skip
    assert check(ret, ctl, True)["changes"] == {
        "password": {"old": "differs", "new": "updated"},
        "tags": {"old": ["monitoring"], "new": ["management", "monitoring"]},
        "permissions": {"/": {"old": None, "new": ["", "", ".*"]}},
    }
    assert writes(ctl) == ["change_password", "set_user_tags", "set_permissions"]
    assert ctl.kwargs_of("change_password")["stdin"] == NEW_PASSWORD + "\n"


@per_release(*USER_FIXTURES)
def test_user_present_test_mode(opts: dict, ctl: FakeCtl, release: str) -> None:
    users(ctl, release)
    opts["test"] = True
    ret = states.user_present("monitor", "prereqos:secrets:rabbitmq_users:monitor", permissions={"nova": ALL})
    assert check(ret, ctl, None)["changes"] == {
        "password": {"old": "differs", "new": "updated"},
        "permissions": {"nova": {"old": None, "new": ALL}},  # the vhost would be created first
    }
    assert writes(ctl) == []


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"password_pillar": "prereqos:secrets:rabbitmq_users:nobody"},
         "Pillar key prereqos:secrets:rabbitmq_users:nobody is not set"),
        ({"password_pillar": OPENSTACK_KEY, "permissions": {"nova": ALL}}, "virtual host nova does not exist: put a"),
        ({"password_pillar": OPENSTACK_KEY, "permissions": {"/": ".*"}}, "must be [configure, write, read]"),
    ],
)  # fmt: skip
@per_release(*USER_FIXTURES)
def test_user_present_errors(opts: dict, ctl: FakeCtl, kwargs: dict, message: str, release: str) -> None:
    users(ctl, release)
    ret = check(states.user_present("openstack", **kwargs), ctl, False)
    assert message in ret["comment"] and writes(ctl) == []


@per_release(
    "err-add_user-exists.json",
    "list_users.json",
    "list_vhosts.json",
    "list_permissions-root.json",
    "list_permissions-openstack.json",
    "export_definitions.json",
)
def test_user_present_tool_error_keeps_the_password_out(
    opts: dict, ctl: FakeCtl, monkeypatch: pytest.MonkeyPatch, release: str
) -> None:
    users(ctl, release).add("add_user", err("err-add_user-exists.json", release))
    ret = check(states.user_present("newbie", "prereqos:secrets:rabbitmq_users:newbie"), ctl, False)
    assert (
        'User newbie: rabbitmqctl add_user failed (exit 70): Error:\nUser "openstack" already exists' in ret["comment"]
    )
    monkeypatch.setitem(PILLAR["prereqos"]["secrets"]["rabbitmq_users"], "newbie", " padded")
    ret = check(states.user_present("newbie", "prereqos:secrets:rabbitmq_users:newbie"), ctl, False)
    assert "starts or ends with blanks" in ret["comment"] and "padded" not in ret["comment"]


@pytest.mark.parametrize("password", HOSTILE)
@per_release(*USER_FIXTURES)
def test_user_present_sets_a_hostile_password_intact(
    opts: dict, ctl: FakeCtl, monkeypatch: pytest.MonkeyPatch, password: str, release: str
) -> None:
    monkeypatch.setitem(PILLAR["prereqos"]["secrets"]["rabbitmq_users"], "newbie", password)
    users(ctl, release).add("add_user", "")
    ret = check(states.user_present("newbie", "prereqos:secrets:rabbitmq_users:newbie"), ctl, True)
    assert ret["changes"] == {"user": {"old": None, "new": "newbie"}}
    assert ctl.kwargs_of("add_user")["stdin"] == password + "\n"
    assert_no_secret(password, ctl, ret)


@pytest.mark.parametrize("test_mode", [False, True])
@per_release(*USER_FIXTURES)
def test_user_present_refuses_what_rabbitmqctl_would_cut_naming_the_character(
    opts: dict, ctl: FakeCtl, monkeypatch: pytest.MonkeyPatch, test_mode: bool, release: str
) -> None:
    opts["test"] = test_mode
    monkeypatch.setitem(PILLAR["prereqos"]["secrets"]["rabbitmq_users"], "monitor", "Alpha\nBravo")
    users(ctl, release)
    ret = check(states.user_present("monitor", "prereqos:secrets:rabbitmq_users:monitor"), ctl, False)
    assert ret["comment"] == (
        "Nothing was changed: the password of RabbitMQ user monitor contains a line break, U+000A (LINE FEED): "
        "rabbitmqctl reads only the first line of stdin; choose another one in pillar."
    )
    assert ret["changes"] == {} and writes(ctl) == []
    assert_no_secret("Alpha", ctl, ret)
    assert_no_secret("Bravo", ctl, ret)


@per_release("list_users.json")
def test_user_absent(opts: dict, ctl: FakeCtl, release: str) -> None:
    ctl.add("list_users", rec("list_users.json", release)).add("delete_user", "")
    assert check(states.user_absent("nobody"), ctl, True)["changes"] == {}
    opts["test"] = True
    assert check(states.user_absent("guest"), ctl, None)["changes"] == {"user": {"old": "guest", "new": None}}
    assert writes(ctl) == []
    opts["test"] = False
    assert check(states.user_absent("guest"), ctl, True)["changes"] == {"user": {"old": "guest", "new": None}}
    assert ctl.argv_of("delete_user") == ["rabbitmqctl", "delete_user", "--", "guest"]


@per_release("list_users.json", "err-delete_user-missing.json")
def test_user_absent_tool_error(opts: dict, ctl: FakeCtl, release: str) -> None:
    ctl.add("list_users", rec("list_users.json", release)).add(
        "delete_user", err("err-delete_user-missing.json", release)
    )
    ret = check(states.user_absent("guest"), ctl, False)
    assert "does not exist" in ret["comment"] and ret["changes"] == {}


# ---------------------------------------------------------------------------
# policies

LIMITS = {"max-length": 10000, "overflow": "reject-publish"}


@per_release("list_policies-openstack.json")
def test_policy_present_in_place(opts: dict, ctl: FakeCtl, release: str) -> None:
    ctl.add("list_policies", rec("list_policies-openstack.json", release))
    ret = states.policy_present("queue-limits", "^(?!amq\\.).*", LIMITS, apply_to="queues", vhost="openstack")
    assert check(ret, ctl, True)["changes"] == {} and writes(ctl) == []


@per_release("list_policies-openstack.json")
def test_policy_present_changes(opts: dict, ctl: FakeCtl, release: str) -> None:
    ctl.add("list_policies", rec("list_policies-openstack.json", release)).add("set_policy", "")
    opts["test"] = True
    ret = states.policy_present(
        "queue-limits", "^(?!amq\\.).*", LIMITS, priority=1, apply_to="queues", vhost="openstack"
    )
    old = {"pattern": "^(?!amq\\.).*", "definition": LIMITS, "priority": 0, "apply_to": "queues"}
    assert check(ret, ctl, None)["changes"] == {"policy": {"old": old, "new": {**old, "priority": 1}}}
    assert writes(ctl) == []
    opts["test"] = False
    ret = states.policy_present(
        "queue-limits", "^(?!amq\\.).*", LIMITS, priority=1, apply_to="queues", vhost="openstack"
    )
    assert check(ret, ctl, True)["changes"] == {"policy": {"old": old, "new": {**old, "priority": 1}}}
    assert ctl.argv_of("set_policy")[-7:] == [
        "1", "--apply-to", "queues", "--", "queue-limits", "^(?!amq\\.).*",
        '{"max-length": 10000, "overflow": "reject-publish"}',
    ]  # fmt: skip


@per_release("list_policies-root.json", "list_policies-bad-definition.json", "list_vhosts.json")
def test_policy_present_new_and_errors(opts: dict, ctl: FakeCtl, release: str) -> None:
    ctl.add("list_policies", rec("list_policies-root.json", release)).add("set_policy", "")
    ret = check(states.policy_present("ttl", ".*", {"message-ttl": 60000}), ctl, True)
    assert ret["changes"]["policy"]["old"] is None
    ret = check(states.policy_present("ttl", ".*", "message-ttl=60000"), ctl, False)
    assert "definition must be a mapping" in ret["comment"]
    ctl.add("list_policies", rec("list_policies-bad-definition.json", release)).add(
        "list_vhosts", rec("list_vhosts.json", release)
    )
    ret = check(states.policy_present("ttl", ".*", {"message-ttl": 60000}), ctl, False)
    assert "Policy ttl in vhost /: rabbitmqctl list_policies (definition of queue-limits)" in ret["comment"]


@per_release("err-list_policies-no-vhost.json", "list_vhosts.json")
def test_policies_of_a_vhost_not_created_yet(opts: dict, ctl: FakeCtl, release: str) -> None:
    ctl.add("list_policies", err("err-list_policies-no-vhost.json", release)).add(
        "list_vhosts", rec("list_vhosts.json", release)
    )
    opts["test"] = True
    ret = check(states.policy_present("ttl", ".*", {"message-ttl": 60000}, vhost="nova"), ctl, None)
    assert ret["changes"]["policy"]["old"] is None  # vhost_present would create it first
    assert check(states.policy_absent("ttl", "nova"), ctl, True)["changes"] == {}
    opts["test"] = False
    ret = check(states.policy_present("ttl", ".*", {"message-ttl": 60000}, vhost="nova"), ctl, False)
    assert ret["comment"] == (
        "Virtual host nova does not exist: put a rabbitmq_cluster.vhost_present for it before policy ttl (require it)."
    )
    assert check(states.policy_absent("ttl", "nova"), ctl, True)["changes"] == {}
    assert writes(ctl) == []


@per_release("err-node-down.json", "list_vhosts.json")
def test_policies_read_error_of_an_existing_vhost(opts: dict, ctl: FakeCtl, release: str) -> None:
    ctl.add("list_policies", err("err-node-down.json", release)).add("list_vhosts", rec("list_vhosts.json", release))
    ret = check(states.policy_present("ttl", ".*", {"message-ttl": 60000}, vhost="openstack"), ctl, False)
    assert "Policy ttl in vhost openstack: rabbitmqctl list_policies failed (exit 69)" in ret["comment"]
    assert "(exit 69)" in check(states.policy_absent("ttl", "openstack"), ctl, False)["comment"]


@per_release("list_policies-openstack.json", "err-clear_policy-missing.json")
def test_policy_absent(opts: dict, ctl: FakeCtl, release: str) -> None:
    ctl.add("list_policies", rec("list_policies-openstack.json", release)).add("clear_policy", "")
    assert check(states.policy_absent("nope", "openstack"), ctl, True)["changes"] == {}
    opts["test"] = True
    ret = check(states.policy_absent("alt-exchange", "openstack"), ctl, None)
    assert ret["changes"]["policy"]["old"]["pattern"] == "^amq\\." and ret["changes"]["policy"]["new"] is None
    assert writes(ctl) == []
    opts["test"] = False
    check(states.policy_absent("alt-exchange", "openstack"), ctl, True)
    assert ctl.argv_of("clear_policy") == ["rabbitmqctl", "clear_policy", "-p", "openstack", "--", "alt-exchange"]
    ctl.add("clear_policy", err("err-clear_policy-missing.json", release))
    assert "Parameter does not exist" in check(states.policy_absent("alt-exchange", "openstack"), ctl, False)["comment"]


@pytest.mark.parametrize("test_mode", [True, False])
@per_release("cluster_status-3nodes.json", "status-rabbit2.json", "upgrade-drain.txt")
def test_maintenance_drains_the_local_node(opts: dict, ctl: FakeCtl, test_mode: bool, release: str) -> None:
    cluster("cluster_status-3nodes.json", 2, ctl, release).add("drain", rec("upgrade-drain.txt", release))
    opts["test"] = test_mode
    ret = check(states.maintenance(RABBIT(2), enabled=True), ctl, None if test_mode else True)
    assert ret["changes"] == {"maintenance": {"old": False, "new": True}}
    assert ("drain" in ctl.commands) is not test_mode


@per_release("cluster_status-maintenance.json", "status-rabbit2.json")
def test_maintenance_already_drained_is_a_no_op(opts: dict, ctl: FakeCtl, release: str) -> None:
    cluster("cluster_status-maintenance.json", 2, ctl, release)
    ret = check(states.maintenance(RABBIT(2), enabled=True), ctl, True)
    assert ret["changes"] == {} and ret["comment"] == f"{RABBIT(2)} is in maintenance mode."


@per_release("cluster_status-maintenance.json", "status-rabbit2.json", "upgrade-revive.txt")
def test_maintenance_revives(opts: dict, ctl: FakeCtl, release: str) -> None:
    cluster("cluster_status-maintenance.json", 2, ctl, release).add("revive", rec("upgrade-revive.txt", release))
    ret = check(states.maintenance(RABBIT(2), enabled=False), ctl, True)
    assert ret["changes"] == {"maintenance": {"old": True, "new": False}} and "revive" in ctl.commands


@per_release("cluster_status-3nodes.json", "status-rabbit1.json")
def test_maintenance_of_another_node_is_refused(opts: dict, ctl: FakeCtl, release: str) -> None:
    cluster("cluster_status-3nodes.json", 1, ctl, release)
    ret = check(states.maintenance(RABBIT(2), enabled=True), ctl, False)
    assert (
        ret["comment"] == f"The local RabbitMQ node is {RABBIT(1)}, not {RABBIT(2)}: target {RABBIT(2)}'s controller."
    )
