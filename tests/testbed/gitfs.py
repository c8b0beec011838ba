"""The formula served to the test bed's master through gitfs, as an operator serves it.

The master is configured with exactly the README's gitfs block (its remote URL
pointed at a bare repository on the master), and that repository holds the
tree under test: the files of this checkout that git tracks or would track
(tracked, and untracked but not ignored), committed on branch ``main``. On a
clean clone that is the commit under test.
"""

from __future__ import annotations

import io
import os
import re
import shutil
import subprocess
import tarfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from tests.testbed.harness import Testbed

REPO_ROOT = Path(__file__).resolve().parents[2]
#: where the master sees the served repository (bind-mounted from the host)
SERVED_PATH = "/srv/prereqos.git"
#: the file of the README's block, on the master
MASTER_CONFIG = "/etc/salt/master.d/prereqos.conf"
#: the remote URL the README's block names, replaced by the served repository
README_URL = "https://git.example.org/prereqos.git"
#: the master's gitfs caches (the fetched repositories, the files served, their lists)
MASTER_CACHES = ("/var/cache/salt/master/gitfs", "/var/cache/salt/master/file_lists")
BRANCH = "main"
# Salt's gitfs makes the cache directory of a folder of the tree on the first request
# for a file in it (find_file: isdir, then makedirs, and on an error it removes the
# "file" in the way): a second worker doing the same at that moment fails, and the
# minion is told the file does not exist. RACE_PAUSE holds every worker in that window.
_GITFS_MODULE = "import salt.utils.gitfs as m; print(m.__file__)"
_RACE_LINE = "        if not os.path.isdir(destdir):"
_RACE_MARK = "  # prereqos test bed: race window"
RACE_PAUSE = 1.0
_IDENTITY = {
    "GIT_AUTHOR_NAME": "prereqos test bed",
    "GIT_AUTHOR_EMAIL": "testbed@prereqos.invalid",
    "GIT_COMMITTER_NAME": "prereqos test bed",
    "GIT_COMMITTER_EMAIL": "testbed@prereqos.invalid",
}


class GitfsError(RuntimeError):
    """The served repository or the README's block is not what the test bed needs."""


def readme_master_config(readme: Path = REPO_ROOT / "README.md") -> str:
    """The README's gitfs block (the fenced YAML that starts with the master.d file's
    name), with its remote URL pointed at the served repository."""
    blocks = re.findall(r"```yaml\n(.*?)```", readme.read_text(), flags=re.DOTALL)
    found = [b for b in blocks if b.startswith(f"# {MASTER_CONFIG}\n")]
    if len(found) != 1:
        raise GitfsError(f"README.md must hold exactly one ```yaml block starting with '# {MASTER_CONFIG}'")
    if README_URL not in found[0]:
        raise GitfsError(f"the README's gitfs block no longer names {README_URL}")
    return found[0].replace(README_URL, f"file://{SERVED_PATH}")


def _git(cwd: Path, *args: str) -> str:
    result = subprocess.run(
        ["git", *args],
        cwd=cwd,
        env={**os.environ, **_IDENTITY},
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode != 0:
        raise GitfsError(f"git {' '.join(args)} failed in {cwd}: {result.stderr.strip()}")
    return result.stdout


@dataclass
class ServedRepository:
    """A work tree (on the host) and the bare repository the master serves from."""

    worktree: Path
    bare: Path

    @classmethod
    def create(cls, where: Path, source: Path = REPO_ROOT, release: str | None = None) -> ServedRepository:
        """Commit ``source``'s tree (what git tracks or would track) on ``main`` and clone it bare;
        with ``release`` (a commit of ``source``'s history), that release's tree instead."""
        worktree, bare = where / "worktree", where / "prereqos.git"
        worktree.mkdir(parents=True)
        if release is None:
            _copy_tree(source, worktree)
        else:
            _extract_release(source, release, worktree)
        _git(worktree, "init", "-q", "-b", BRANCH)
        _git(worktree, "add", "-A")
        _git(worktree, "commit", "-q", "-m", f"release {release}" if release else "the tree under test")
        _git(where, "clone", "-q", "--bare", str(worktree), str(bare))
        return cls(worktree=worktree, bare=bare)

    def upgrade(self, source: Path = REPO_ROOT) -> str:
        """Commit ``source``'s tree over the served one (an operator moving to the tree under
        test), push; the new commit."""
        for entry in self.worktree.iterdir():
            if entry.name != ".git":
                shutil.rmtree(entry) if entry.is_dir() else entry.unlink()
        _copy_tree(source, self.worktree)
        _git(self.worktree, "add", "-A")
        _git(self.worktree, "commit", "-q", "-m", "the tree under test")
        _git(self.worktree, "push", "-q", str(self.bare), BRANCH)
        return self.head()

    def commit(self, path: str, old: str, new: str, message: str) -> str:
        """Replace the one occurrence of ``old`` in ``path`` by ``new``, commit, push; the new commit."""
        file = self.worktree / path
        text = file.read_text()
        if text.count(old) != 1:
            raise GitfsError(f"{path}: expected exactly one {old!r}, found {text.count(old)}")
        file.write_text(text.replace(old, new))
        _git(self.worktree, "commit", "-q", "-am", message)
        _git(self.worktree, "push", "-q", str(self.bare), BRANCH)
        return _git(self.worktree, "rev-parse", "HEAD").strip()

    def head(self) -> str:
        """The commit the master should serve as base."""
        return _git(self.bare, "rev-parse", BRANCH).strip()


def _copy_tree(source: Path, worktree: Path) -> None:
    """Copy the files of ``source`` that git tracks or would track into ``worktree``."""
    names = _git(source, "ls-files", "-z", "--cached", "--others", "--exclude-standard").split("\0")
    for name in filter(None, names):
        src = source / name
        if src.is_file():  # a file deleted but not yet committed is listed, and skipped
            (worktree / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, worktree / name)


def _extract_release(source: Path, release: str, worktree: Path) -> None:
    """Write the tree of commit ``release`` of ``source``'s history into ``worktree``."""
    result = subprocess.run(["git", "archive", release], cwd=source, capture_output=True, check=False)
    if result.returncode != 0:
        raise GitfsError(
            f"release {release} is not in {source}'s history ({result.stderr.decode().strip()}): "
            "clone the repository with its history (no --depth)"
        )
    with tarfile.open(fileobj=io.BytesIO(result.stdout)) as archive:
        archive.extractall(worktree, filter="data")


@contextmanager
def widened_cache_race(tb: Testbed) -> Iterator[None]:
    """Within the block, the master's gitfs pauses RACE_PAUSE seconds between finding a
    cache directory missing and making it (every new folder, every fetch), so that
    minions asking at once for files of a new folder collide; the master's code is
    restored after. Restart the master inside the block for the change to load."""
    from tests.testbed.harness import MASTER

    module = tb.exec(MASTER, ["/opt/saltstack/bin/python3", "-c", _GITFS_MODULE], check=True).stdout.strip()
    text = tb.exec(MASTER, ["cat", module], check=True).stdout
    if text.count(_RACE_LINE + "\n") != 1:
        raise GitfsError(f"{module} no longer has the line {_RACE_LINE.strip()!r} once: update widened_cache_race")
    pause = f"{_RACE_LINE}\n            __import__('time').sleep({RACE_PAUSE}){_RACE_MARK}\n"
    tb.write_file(MASTER, module, text.replace(_RACE_LINE + "\n", pause))
    try:
        yield
    finally:
        tb.write_file(MASTER, module, text)
