"""Unit tests of _utils/prereqos_common.py: polling, atomic writes, masking, early state returns."""

from __future__ import annotations

import os
import re
import stat
from pathlib import Path
from typing import Any

import pytest

from tests.unit.loader import library

common = library("prereqos_common")


class Clock:
    """A monotonic clock that only moves when something sleeps."""

    def __init__(self) -> None:
        self.now = 100.0
        self.sleeps: list[float] = []

    def monotonic(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


def probe_of(*answers: bool) -> tuple[Any, list[int]]:
    """A probe giving ``answers`` in turn (the last one for good), reporting its call number."""
    calls: list[int] = []

    def probe() -> tuple[bool, int]:
        calls.append(len(calls) + 1)
        return answers[min(len(calls), len(answers)) - 1], len(calls)

    return probe, calls


# ---------------------------------------------------------------- wait_until


def test_wait_until_done_at_once_never_sleeps() -> None:
    clock = Clock()
    probe, calls = probe_of(True)
    assert common.wait_until(probe, 60, 2, clock=clock.monotonic, sleep=clock.sleep) == (True, 1)
    assert calls == [1] and clock.sleeps == []


def test_wait_until_polls_every_interval_until_done() -> None:
    clock = Clock()
    probe, _ = probe_of(False, False, True)
    assert common.wait_until(probe, 60, 2, clock=clock.monotonic, sleep=clock.sleep) == (True, 3)
    assert clock.sleeps == [2, 2]


def test_wait_until_gives_up_at_the_deadline_with_the_last_report() -> None:
    clock = Clock()
    probe, calls = probe_of(False)
    assert common.wait_until(probe, 5, 2, clock=clock.monotonic, sleep=clock.sleep) == (False, 4)
    assert clock.sleeps == [2, 2, 1] and clock.now == 105.0 and len(calls) == 4


def test_wait_until_with_no_time_probes_once() -> None:
    clock = Clock()
    probe, calls = probe_of(False)
    assert common.wait_until(probe, 0, 2, clock=clock.monotonic, sleep=clock.sleep) == (False, 1)
    assert calls == [1] and clock.sleeps == []


def test_wait_until_counts_the_probes_own_time() -> None:
    clock = Clock()

    def slow_probe() -> tuple[bool, str]:
        clock.now += 3  # a probe that takes 3 s
        return False, "slow"

    assert common.wait_until(slow_probe, 10, 2, clock=clock.monotonic, sleep=clock.sleep) == (False, "slow")
    assert clock.sleeps == [2, 2] and clock.now == 113.0


# ---------------------------------------------------------------- atomic_write


def test_atomic_write_creates_the_file_with_mode_and_owner(tmp_path: Path) -> None:
    path = tmp_path / "secret"
    common.atomic_write(str(path), b"s3cret\n", 0o400, os.getuid(), os.getgid())
    info = path.stat()
    assert path.read_bytes() == b"s3cret\n" and stat.S_IMODE(info.st_mode) == 0o400
    assert (info.st_uid, info.st_gid) == (os.getuid(), os.getgid())
    assert sorted(os.listdir(tmp_path)) == ["secret"]


def test_atomic_write_replaces_an_existing_file_and_its_mode(tmp_path: Path) -> None:
    path = tmp_path / "grastate.dat"
    path.write_text("old")
    path.chmod(0o644)
    common.atomic_write(str(path), "ü€ new".encode(), 0o660)
    assert path.read_text() == "ü€ new" and stat.S_IMODE(path.stat().st_mode) == 0o660


def test_atomic_write_sets_mode_and_owner_before_writing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    order: list[str] = []
    real_fdopen, real_fchmod, real_fchown = os.fdopen, os.fchmod, os.fchown

    class Recorded:
        """The temporary file, its writes recorded."""

        def __init__(self, fd: int, mode: str) -> None:
            self.handle = real_fdopen(fd, mode)

        def __enter__(self) -> Recorded:
            return self

        def __exit__(self, *exc: object) -> None:
            self.handle.close()

        def fileno(self) -> int:
            return self.handle.fileno()

        def write(self, data: bytes) -> int:
            order.append("write")
            return self.handle.write(data)

        def flush(self) -> None:
            self.handle.flush()

    def fchmod(fd: int, mode: int) -> None:
        order.append(f"fchmod {mode:o}")
        real_fchmod(fd, mode)

    def fchown(fd: int, uid: int, gid: int) -> None:
        order.append(f"fchown {uid} {gid}")
        real_fchown(fd, uid, gid)

    monkeypatch.setattr(common.os, "fdopen", Recorded)
    monkeypatch.setattr(common.os, "fchmod", fchmod)
    monkeypatch.setattr(common.os, "fchown", fchown)
    common.atomic_write(str(tmp_path / "f"), b"x", 0o600, gid=os.getgid())
    assert order == ["fchmod 600", f"fchown -1 {os.getgid()}", "write"]
    assert (tmp_path / "f").read_bytes() == b"x"


def test_atomic_write_failure_keeps_the_old_file_and_leaves_no_temporary(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "cookie"
    path.write_text("OLD")

    def refuse(*args: Any) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(common.os, "replace", refuse)
    with pytest.raises(OSError, match="No space left on device"):
        common.atomic_write(str(path), b"NEW", 0o400)
    assert path.read_text() == "OLD" and sorted(os.listdir(tmp_path)) == ["cookie"]


def test_atomic_write_into_a_missing_directory_raises(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        common.atomic_write(str(tmp_path / "missing" / "f"), b"x", 0o600)


# ---------------------------------------------------------------- mask

HOSTILE = "a'b\"c\\d$e`f#g;h i ü€"


def test_mask_removes_every_given_secret_longest_first() -> None:
    escaped = "a\\'b\"c\\\\d$e`f#g;h i ü€"
    text = f"near '{escaped}' and {HOSTILE} and again {HOSTILE}"
    masked = common.mask(text, [HOSTILE, escaped, ""])
    assert masked == "near '******' and ****** and again ******"


def test_mask_hides_secret_named_values_in_text() -> None:
    text = "ERROR: fence_x: password=hunter2 passwd='a b' client_secret=\"c d\" ip=1.2.3.4 user=admin"
    assert common.mask(text) == (
        "ERROR: fence_x: password=****** passwd=****** client_secret=****** ip=1.2.3.4 user=admin"
    )


def test_mask_hides_the_last_group_of_extra_patterns() -> None:
    cookie_hash = re.compile(r"Erlang cookie hash:\s*(\S+)")
    text = "Erlang cookie hash: YWJj==\nother: x"
    assert common.mask(text, patterns=[cookie_hash]) == "Erlang cookie hash: ******\nother: x"


def test_mask_walks_changes_and_keeps_the_input() -> None:
    changes = {
        "fence": {
            "old": None,
            "new": {"params": {"password": HOSTILE, "username": "admin"}, "ops": [{"note": f"pw {HOSTILE}"}]},
        },
        "password": {"old": "differs", "new": "updated"},
        "count": 3,
        "pair": ("x", HOSTILE),
    }
    masked = common.mask(changes, [HOSTILE])
    assert masked == {
        "fence": {
            "old": None,
            "new": {"params": {"password": "******", "username": "admin"}, "ops": [{"note": "pw ******"}]},
        },
        "password": {"old": "differs", "new": "updated"},
        "count": 3,
        "pair": ("x", "******"),
    }
    assert changes["fence"]["new"]["params"]["password"] == HOSTILE


@pytest.mark.parametrize("name", ["password", "passwd", "snmp_priv_passwd", "PASSWORD", "client_secret"])
def test_is_secret_name(name: str) -> None:
    assert common.is_secret_name(name)


@pytest.mark.parametrize("name", ["ip", "username", "pcmk_host_list", "nic", "login"])
def test_is_not_secret_name(name: str) -> None:
    assert not common.is_secret_name(name)


def test_strip_colours() -> None:
    assert common.strip_colours("\x1b[31mERROR\x1b[0m: x") == "ERROR: x"


# ---------------------------------------------------------------- not_installed


def test_not_installed_predicts_under_test() -> None:
    assert common.not_installed("s", "pacemaker", "wait", changes=False, test=True) == {
        "name": "s",
        "result": None,
        "changes": {},
        "comment": "pacemaker is not installed yet (an earlier step installs it): would wait",
    }
    assert common.not_installed("s", "pacemaker", "configure", test=True)["changes"] == {
        "predicted": {"old": None, "new": "configure"}
    }


def test_not_installed_fails_a_real_run() -> None:
    assert common.not_installed("s", "mariadb-server", "join") == {
        "name": "s",
        "result": False,
        "changes": {},
        "comment": "mariadb-server is not installed: cannot join; apply the prereqos part that installs it first",
    }
