"""The code a run ran: commit, branch, remote, the uncommitted diff and the untracked files.

``capture_code`` asks the real ``git`` (four short commands, well under 100 ms on a
1,000-file repository) and keeps the bytes as they are at the call: the diff and every
untracked, not-ignored file within a size bound. It never writes to the repository: git runs
with ``GIT_OPTIONAL_LOCKS=0`` (no index refresh written back by ``git status``), and nothing
touches the index, the stash or a branch. ``record_code`` sets the run's tags at once and
writes ``code/manifest.json``, ``code/diff.patch`` and ``code/untracked/...`` on the writer's
file thread; ``autolog rerun`` rebuilds the tree from them.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import urlsplit, urlunsplit

from autolog.context import NOT_OURS
from autolog.errors import AutologError, InvalidInputError

if TYPE_CHECKING:
    from autolog.projects.recording import RecordingClient

__all__ = [
    "MAX_UNTRACKED_ENV",
    "CodeSnapshot",
    "Skipped",
    "capture_code",
    "code_files",
    "code_tags",
    "max_untracked_bytes",
    "record_code",
    "strip_credentials",
]

#: environment variable: the bound on untracked bytes kept, in MB (default 10)
MAX_UNTRACKED_ENV = "AUTOLOG_MAX_UNTRACKED_MB"
_DEFAULT_MAX_UNTRACKED_MB = 10.0
_MB = 1_000_000
# git's empty tree: what a repository without a commit is diffed against
_EMPTY_TREE = "4b825dc642cb6eb9a060e54bf8d69288fbee4904"
_GIT_TIMEOUT_S = 30.0
# A patch that `git apply --binary` takes whatever the user's diff settings say (no external
# diff or textconv tool, the usual a/ b/ prefixes, the whole tree, no colours).
_DIFF_OPTIONS = (
    "--binary",
    "--no-color",
    "--no-ext-diff",
    "--no-textconv",
    "--no-relative",
    "--src-prefix=a/",
    "--dst-prefix=b/",
    "--submodule=short",
)


@dataclass(frozen=True)
class Skipped:
    """An untracked file left out of the run's code, and why."""

    path: str
    size: int
    reason: str


@dataclass(frozen=True)
class CodeSnapshot:
    """The code of a run as it was when captured (paths relative to ``root``, POSIX form)."""

    root: str  #: absolute repository root
    workdir: str  #: the working folder relative to ``root`` ("." at the root)
    argv: tuple[str, ...]  #: what follows ``python`` to run it again
    commit: str | None  #: None in a repository without a commit yet
    branch: str | None  #: None on a detached HEAD
    remote: str | None  #: credentials stripped; None without a remote
    diff: bytes  #: ``git diff HEAD --binary`` (against the empty tree without a commit)
    untracked: dict[str, bytes] = field(default_factory=dict)
    skipped: tuple[Skipped, ...] = ()
    max_untracked_bytes: int = int(_DEFAULT_MAX_UNTRACKED_MB * _MB)

    @property
    def dirty(self) -> bool:
        """Whether the tree differs from the commit: changes, untracked files, or no commit."""
        return bool(self.diff or self.untracked or self.skipped) or self.commit is None

    def manifest(self) -> dict[str, object]:
        """``code/manifest.json``: what ``autolog rerun`` rebuilds the tree from."""
        return {
            "commit": self.commit,
            "branch": self.branch,
            "remote": self.remote,
            "root": self.root,
            "workdir": self.workdir,
            "argv": list(self.argv),
            "dirty": self.dirty,
            "diff_bytes": len(self.diff),
            "untracked": [{"path": p, "size": len(b)} for p, b in self.untracked.items()],
            "skipped": [{"path": s.path, "size": s.size, "reason": s.reason} for s in self.skipped],
            "max_untracked_bytes": self.max_untracked_bytes,
        }


def max_untracked_bytes() -> int:
    """The bound on untracked bytes kept: ``$AUTOLOG_MAX_UNTRACKED_MB`` MB, default 10.

    Raises:
        InvalidInputError: the variable is not a number of MB at least 0.
    """
    text = os.environ.get(MAX_UNTRACKED_ENV, "").strip()
    if not text:
        return int(_DEFAULT_MAX_UNTRACKED_MB * _MB)
    try:
        megabytes = float(text)
    except ValueError:
        megabytes = -1.0
    if not megabytes >= 0 or megabytes == float("inf"):
        raise InvalidInputError(f"{MAX_UNTRACKED_ENV} must be a number of MB >= 0, not {text!r}")
    return int(megabytes * _MB)


def capture_code(
    start: Path,
    argv: Sequence[str],
    *,
    max_untracked_bytes: int | None = None,
    exclude: Sequence[Path] = (),
) -> CodeSnapshot | None:
    """The code of the git work tree holding ``start`` (the working folder), now.

    None outside a git work tree, or where git is not installed. ``argv`` is what follows
    ``python`` to run it again (``["train.py", "--lr", "0.1"]``). Untracked files are kept
    up to ``max_untracked_bytes`` in all (default ``$AUTOLOG_MAX_UNTRACKED_MB``, 10 MB); the
    others are listed as skipped. ``exclude``: files and folders that are not code (the
    tracking store's own database and folders, where they lie inside the work tree).
    """
    git = shutil.which("git")
    if git is None:
        return None
    bound = _max_untracked() if max_untracked_bytes is None else max_untracked_bytes
    start = Path(start).resolve()
    top = _git(git, start, "rev-parse", "--show-toplevel")
    if top is None:
        return None
    root = Path(os.fsdecode(top.rstrip(b"\n"))).resolve()
    # a work tree git cannot read, or a diff it cannot make: an error, not code recorded wrong
    status = _git_checked(
        git,
        root,
        "status",
        "--porcelain=v2",
        "-z",
        "--branch",
        "-uall",
        *NOT_OURS,
        *_excluded(root, exclude),
    )
    head = _parse_status(status)
    diff = b""
    if head.changed:
        diff = _git_checked(git, root, "diff", head.commit or _EMPTY_TREE, *_DIFF_OPTIONS)
    untracked, skipped = _read_untracked(root, head.untracked, bound)
    workdir = Path(os.path.relpath(start, root)).as_posix()
    return CodeSnapshot(
        root=str(root),
        workdir=workdir,
        argv=tuple(argv),
        commit=head.commit,
        branch=head.branch,
        remote=_remote(git, root, head.branch),
        diff=diff,
        untracked=untracked,
        skipped=tuple(skipped),
        max_untracked_bytes=bound,
    )


def code_tags(snapshot: CodeSnapshot) -> dict[str, str]:
    """The run's tags for ``snapshot`` (every value a string)."""
    tags = {
        "autolog.git.root": snapshot.root,
        "autolog.git.dirty": "true" if snapshot.dirty else "false",
        "autolog.code.workdir": snapshot.workdir,
        "autolog.code.argv": json.dumps(list(snapshot.argv)),
    }
    for key, value in (
        ("autolog.git.commit", snapshot.commit),
        ("autolog.git.branch", snapshot.branch),
        ("autolog.git.remote", snapshot.remote),
    ):
        if value:
            tags[key] = value
    return tags


def code_files(snapshot: CodeSnapshot) -> dict[str, bytes]:
    """The run's artifacts for ``snapshot``: artifact path -> bytes."""
    manifest = json.dumps(snapshot.manifest(), indent=2, sort_keys=True) + "\n"
    files = {"code/manifest.json": manifest.encode()}
    if snapshot.diff:
        files["code/diff.patch"] = snapshot.diff
    for path, data in snapshot.untracked.items():
        files[f"code/untracked/{path}"] = data
    return files


def record_code(client: RecordingClient, run_id: str, snapshot: CodeSnapshot) -> None:
    """Record ``snapshot`` in the run: its tags at once, its files on the writer's file
    thread (the caller never waits for them)."""
    client.set_tags(run_id, code_tags(snapshot))
    files = code_files(snapshot)
    client.record_later(run_id, lambda: ({}, files), what="the run's code")


def strip_credentials(url: str) -> str:
    """``url`` without what may be a secret: the user and password of an http(s), git or
    ftp URL (a token is often given as the user name), the password of an ssh URL and of an
    scp-like ``user:password@host:path`` (their user name, ``git@``, is needed to clone)."""
    if "://" in url:
        parts = urlsplit(url)
        if "@" not in parts.netloc:
            return url
        userinfo, _, host = parts.netloc.rpartition("@")
        user = userinfo.partition(":")[0]
        if "ssh" in parts.scheme and user:
            host = f"{user}@{host}"
        return urlunsplit(parts._replace(netloc=host))
    scp = re.fullmatch(r"([^@/:]*)(?::[^@/]*)?@([^/:]+:.*)", url, flags=re.DOTALL)
    if scp is None:
        return url
    user, rest = scp.groups()
    return f"{user}@{rest}" if user else rest


# internals ------------------------------------------------------------------------------------


def _max_untracked() -> int:
    return max_untracked_bytes()


def _git(git: str, folder: Path, *args: str) -> bytes | None:
    """``git args`` in ``folder``: its output, None where it failed. No optional locks: a
    ``git status`` must not write the user's index back (an editor or another git would see
    the lock, and its mtime would change)."""
    env = {**os.environ, "GIT_OPTIONAL_LOCKS": "0", "LC_ALL": "C"}
    env.pop("GIT_DIR", None)
    env.pop("GIT_WORK_TREE", None)
    env.pop("GIT_INDEX_FILE", None)
    try:
        done = subprocess.run(
            [git, "-C", str(folder), *args],
            capture_output=True,
            env=env,
            timeout=_GIT_TIMEOUT_S,
            check=False,
            stdin=subprocess.DEVNULL,
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    return done.stdout if done.returncode == 0 else None


def _excluded(root: Path, paths: Sequence[Path]) -> list[str]:
    """Pathspecs leaving out each of ``paths`` that lies inside ``root`` (a file, or a folder
    and everything in it)."""
    specs = []
    for path in paths:
        try:
            relative = Path(path).resolve().relative_to(root)
        except ValueError:
            continue  # outside the work tree: git lists nothing of it anyway
        if relative.parts:
            specs.append(f":(exclude,literal){relative.as_posix()}")
    return specs


def _git_checked(git: str, folder: Path, *args: str) -> bytes:
    """``git args``'s output; ``AutologError`` naming the command where it failed."""
    found = _git(git, folder, *args)
    if found is None:
        raise AutologError(f"`git {' '.join(args[:3])}` failed in {folder}")
    return found


@dataclass
class _Head:
    commit: str | None = None
    branch: str | None = None
    changed: bool = False  # a tracked file differs from the commit (staged or not)
    untracked: list[str] = field(default_factory=list)


def _parse_status(output: bytes) -> _Head:
    """``git status --porcelain=v2 -z --branch --untracked-files=all``, read."""
    head = _Head()
    entries = output.split(b"\0")
    skip_next = False
    for raw in entries:
        if skip_next:  # the original path of a rename or copy
            skip_next = False
            continue
        if not raw:
            continue
        entry = os.fsdecode(raw)
        if entry.startswith("# branch.oid "):
            oid = entry.removeprefix("# branch.oid ")
            head.commit = None if oid == "(initial)" else oid
        elif entry.startswith("# branch.head "):
            name = entry.removeprefix("# branch.head ")
            head.branch = None if name == "(detached)" else name
        elif entry.startswith("? "):
            head.untracked.append(entry[2:])
        elif entry[:2] in ("1 ", "2 ", "u "):
            head.changed = True
            skip_next = entry.startswith("2 ")
    return head


def _read_untracked(
    root: Path, paths: list[str], bound: int
) -> tuple[dict[str, bytes], list[Skipped]]:
    """The bytes of each untracked file, in path order, while they fit in ``bound``."""
    kept: dict[str, bytes] = {}
    skipped: list[Skipped] = []
    left = bound
    for path in sorted(paths):
        if path.endswith("/"):  # a nested repository: git does not look inside
            skipped.append(Skipped(path, 0, "a nested git repository"))
            continue
        full = root / path
        try:
            info = full.lstat()
        except OSError as exc:
            skipped.append(Skipped(path, 0, f"unreadable: {exc.strerror or exc}"))
            continue
        if not _is_regular(info.st_mode):
            skipped.append(Skipped(path, info.st_size, "not a regular file (a link?)"))
            continue
        if info.st_size > left:
            skipped.append(Skipped(path, info.st_size, f"over the size bound ({bound} bytes)"))
            continue
        try:
            data = full.read_bytes()
        except OSError as exc:
            skipped.append(Skipped(path, info.st_size, f"unreadable: {exc.strerror or exc}"))
            continue
        if len(data) > left:  # grew since the stat
            skipped.append(Skipped(path, len(data), f"over the size bound ({bound} bytes)"))
            continue
        kept[path] = data
        left -= len(data)
    return kept, skipped


def _is_regular(mode: int) -> bool:
    import stat

    return stat.S_ISREG(mode)


def _remote(git: str, root: Path, branch: str | None) -> str | None:
    """The URL of the branch's upstream remote, else ``origin``, else the only remote."""
    output = _git(
        git, root, "config", "-z", "--get-regexp", r"^(remote\..*\.url|branch\..*\.remote)$"
    )
    if not output:
        return None
    urls: dict[str, str] = {}
    upstreams: dict[str, str] = {}
    for item in output.split(b"\0"):
        key, _, value = os.fsdecode(item).partition("\n")
        if key.startswith("remote.") and key.endswith(".url"):
            urls.setdefault(key[len("remote.") : -len(".url")], value)
        elif key.startswith("branch.") and key.endswith(".remote"):
            upstreams[key[len("branch.") : -len(".remote")]] = value
    chosen = _chosen_remote(urls, upstreams.get(branch) if branch else None)
    return strip_credentials(urls[chosen]) if chosen is not None else None


def _chosen_remote(urls: Mapping[str, str], upstream: str | None) -> str | None:
    if upstream in urls:
        return upstream
    if "origin" in urls:
        return "origin"
    if len(urls) == 1:
        return next(iter(urls))
    return None
