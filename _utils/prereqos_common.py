"""Helpers shared by prereqos' Salt modules: polling, atomic writes, secret masking, early state returns.

Plain Python, no Salt dunders: execution and state modules import it (``import prereqos_common``,
Salt puts the synced ``_utils`` directory on ``sys.path`` while it loads them), and so do the tests.
"""

from __future__ import annotations

import os
import re
import tempfile
import time
from collections.abc import Callable, Iterable
from typing import Any, TypeVar

Report = TypeVar("Report")

MASK = "******"
# Parameter, key and option names whose values are secrets (password, passwd, client_secret...).
SECRET_NAME = re.compile(r"passw|secret", re.IGNORECASE)
# ``name=value`` in tool output, the value bare or quoted.
_NAME_VALUE = re.compile(r"([\w.-]+)=(\"[^\"]*\"|'[^']*'|\S+)")
_COLOURS = re.compile(r"\x1b\[[0-9;]*m")


def wait_until(
    probe: Callable[[], tuple[bool, Report]],
    timeout: float,
    interval: float,
    *,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], Any] = time.sleep,
) -> tuple[bool, Report]:
    """Call ``probe`` until it reports done or ``timeout`` seconds passed; return ``(done, last report)``.

    ``probe`` returns ``(done, report)``. It runs once at once, then every ``interval`` seconds
    (the last sleep is cut short at the deadline); ``timeout=0`` probes exactly once (test=True).
    """
    deadline = clock() + timeout
    while True:
        done, report = probe()
        remaining = deadline - clock()
        if done or remaining <= 0:
            return done, report
        sleep(min(interval, remaining))


def atomic_write(path: str, data: bytes, mode: int, uid: int | None = None, gid: int | None = None) -> None:
    """Replace ``path`` with ``data`` at once: readers see the old file or the new one, never a part.

    The new file has ``mode`` and the owner ``uid``/``gid`` (None keeps the writer's) before any
    byte is written, so a secret is never readable by others, not even for an instant. Raises
    OSError; no temporary file is left behind.
    """
    directory = os.path.dirname(path) or "."
    handle, temporary = tempfile.mkstemp(dir=directory, prefix=f".{os.path.basename(path)}.")
    try:
        with os.fdopen(handle, "wb") as out:
            os.fchmod(out.fileno(), mode)
            if uid is not None or gid is not None:
                os.fchown(out.fileno(), -1 if uid is None else uid, -1 if gid is None else gid)
            out.write(data)
            out.flush()
            os.fsync(out.fileno())
        os.replace(temporary, path)
    except BaseException:
        if os.path.lexists(temporary):
            os.unlink(temporary)
        raise


def is_secret_name(name: str) -> bool:
    """Whether a parameter or key of this name holds a secret (``password``, ``passwd``, ``secret``...)."""
    return bool(SECRET_NAME.search(name))


def strip_colours(text: str) -> str:
    """``text`` without terminal colour codes (tools colour their errors)."""
    return _COLOURS.sub("", text)


def mask(value: Any, secrets: Iterable[str] = (), patterns: Iterable[re.Pattern[str]] = ()) -> Any:
    """``value`` (text, or dicts and lists of it) with every secret replaced by ``******``.

    Masked: each of ``secrets`` wherever it appears (the longest first, so an escaped form given
    beside the raw one goes whole); in text, the value of ``name=value`` when the name looks
    like a secret, and the last group of each of ``patterns``; in a dict, a scalar under a key
    that looks like a secret. The input is not changed.
    """
    known = sorted({secret for secret in secrets if secret}, key=len, reverse=True)
    extra = tuple(patterns)
    return _mask(value, known, extra)


def _mask(value: Any, secrets: list[str], patterns: tuple[re.Pattern[str], ...]) -> Any:
    if isinstance(value, str):
        return _mask_text(value, secrets, patterns)
    if isinstance(value, dict):
        return {
            key: MASK
            if isinstance(key, str) and is_secret_name(key) and not isinstance(item, dict | list | None)
            else _mask(item, secrets, patterns)
            for key, item in value.items()
        }
    if isinstance(value, list):
        return [_mask(item, secrets, patterns) for item in value]
    if isinstance(value, tuple):
        return tuple(_mask(item, secrets, patterns) for item in value)
    return value


def _mask_text(text: str, secrets: list[str], patterns: tuple[re.Pattern[str], ...]) -> str:
    for secret in secrets:
        text = text.replace(secret, MASK)
    text = _NAME_VALUE.sub(
        lambda match: f"{match.group(1)}={MASK}" if is_secret_name(match.group(1)) else match.group(0), text
    )
    for pattern in patterns:
        text = pattern.sub(_mask_last_group, text)
    return text


def _mask_last_group(match: re.Match[str]) -> str:
    """The matched text with its last group masked."""
    whole, start = match.group(0), match.start(0)
    group = match.lastindex or 0
    return whole[: match.start(group) - start] + MASK + whole[match.end(group) - start :]


def not_installed(name: str, package: str, action: str, changes: bool = True, test: bool = False) -> dict[str, Any]:
    """The return of a state whose tool (``package``) is not installed yet.

    Under test=True that is expected on a fresh node (an earlier step installs the package),
    so the state predicts ``action``; otherwise it fails and says what to install first.
    ``changes``: whether ``action`` changes the node.
    """
    if test:
        return {
            "name": name,
            "result": None,
            "changes": {"predicted": {"old": None, "new": action}} if changes else {},
            "comment": f"{package} is not installed yet (an earlier step installs it): would {action}",
        }
    return {
        "name": name,
        "result": False,
        "changes": {},
        "comment": f"{package} is not installed: cannot {action}; apply the prereqos part that installs it first",
    }
