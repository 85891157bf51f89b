"""The context a run is recorded in: source, git commit, user, host, Python, package versions.

``cheap_tags()`` reads only files and process facts (well under a millisecond once cached) and
runs on the caller's thread. ``background_tags()`` may take longer (``git status`` for the dirty
flag, untracked files included; package metadata) and runs on the writer thread.
"""

from __future__ import annotations

import os
import sys
from functools import cache
from pathlib import Path

from autolog.errors import InvalidInputError

# getpass, platform, socket, subprocess and importlib.metadata are imported where used: this
# module is imported with autolog, and together they would double its import time.

__all__ = [
    "NOT_OURS",
    "TAG_HEARTBEAT",
    "TAG_PARENT",
    "TAG_PRESUMED_KILLED",
    "TAG_RUNNER",
    "background_tags",
    "cheap_tags",
    "git_head",
    "process_identity",
    "runner_is_alive",
    "set_source",
]

TAG_RUNNER = "autolog.runner"
TAG_HEARTBEAT = "autolog.heartbeat"
#: on a run read as KILLED because its process seemed gone (see ``tracking.reaped``)
TAG_PRESUMED_KILLED = "autolog.presumed_killed"
TAG_PARENT = "autolog.parentRunId"

# Distribution names whose versions are worth recording with every run.
ML_PACKAGES = (
    "numpy",
    "scipy",
    "pandas",
    "scikit-learn",
    "torch",
    "lightgbm",
    "xgboost",
    "lightning",
    "pytorch-lightning",
    "cloudpickle",
    "autolog",
)


def process_start_ticks(pid: int) -> str:
    """The kernel's start time of ``pid`` ('' where unknown): tells a reused pid apart."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            stat = f.read()
    except OSError:
        return ""
    # The command name (field 2) may contain spaces; fields after it are counted from ')'.
    fields = stat[stat.rindex(b")") + 2 :].split()
    return fields[19].decode() if len(fields) > 19 else ""


_identity: tuple[int, str] | None = None


def process_identity() -> str:
    """``host:namespace:pid:start`` of this process, recorded on every run it owns.

    Found once per process (a forked child has another pid, hence its own): reading
    ``/proc/<pid>/stat`` of a busy multi-threaded process can take milliseconds, and every
    run's creation asks."""
    global _identity
    pid = os.getpid()
    known = _identity
    if known is None or known[0] != pid:
        known = _identity = (pid, f"{_host()}:{_pid_namespace()}:{pid}:{process_start_ticks(pid)}")
    return known[1]


@cache
def _pid_namespace() -> str:
    """Which machine boot and which pid namespace our pids belong to ('' where unknown).

    Containers may share a host name (Kubernetes pods, --network host) but not their pids:
    only a reader in the same boot and pid namespace may judge a pid."""
    try:
        with open("/proc/sys/kernel/random/boot_id") as f:
            boot = f.read().strip()[:8]
        namespace = os.readlink("/proc/self/ns/pid").strip("pid:[]")
    except OSError:
        return ""
    return f"{boot}-{namespace}"


def runner_is_alive(identity: str) -> bool | None:
    """Whether the process named by ``identity`` still runs; None where this process cannot
    tell (another host, another container): the heartbeat decides then."""
    parts = identity.rsplit(":", 3)
    if len(parts) != 4 or not parts[2].isdigit():
        return None
    host, namespace, pid_text, start = parts
    if host != _host() or namespace != _pid_namespace():
        return None
    pid = int(pid_text)
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass  # exists, owned by someone else
    return not start or process_start_ticks(pid) in ("", start)


@cache
def _host() -> str:
    import socket

    return socket.gethostname()


def _user() -> str:
    import getpass

    try:
        return getpass.getuser()
    except Exception:
        return str(os.getuid()) if hasattr(os, "getuid") else "unknown"


_source_override: tuple[str, str] | None = None


def set_source(kind: str, name: str) -> None:
    """Record runs of this process as coming from ``name`` (a SCRIPT path or a MODULE name),
    with the git state of its folder: ``autolog run`` runs someone else's script."""
    global _source_override
    if kind not in ("SCRIPT", "MODULE"):
        raise InvalidInputError(f"source kind must be SCRIPT or MODULE, not {kind!r}")
    _source_override = (kind, name)
    _process_tags.cache_clear()


def source() -> tuple[str, str]:
    """(type, name) of what is running: a script, a module, a notebook or an interactive shell."""
    if _source_override is not None:
        return _source_override
    main = sys.modules.get("__main__")
    notebook = os.environ.get("JPY_SESSION_NAME") or getattr(main, "__vsc_ipynb_file__", None)
    if notebook:
        return "NOTEBOOK", str(notebook)
    if "ipykernel" in sys.modules:
        return "NOTEBOOK", "<notebook>"
    spec = getattr(main, "__spec__", None)
    if spec is not None and spec.name not in ("__main__", None):
        return "MODULE", spec.name
    argv0 = sys.argv[0] if sys.argv else ""
    if argv0 and argv0 not in ("-c", "-"):
        return "SCRIPT", str(Path(argv0).resolve())
    return "INTERACTIVE", argv0 or "<interactive>"


def _git_dir(start: Path) -> Path | None:
    for folder in (start, *start.parents):
        dot_git = folder / ".git"
        if dot_git.is_dir():
            return dot_git
        if dot_git.is_file():  # worktrees and submodules: "gitdir: <path>"
            text = dot_git.read_text(errors="replace").strip()
            if text.startswith("gitdir:"):
                target = Path(text.removeprefix("gitdir:").strip())
                return target if target.is_absolute() else (folder / target).resolve()
    return None


def _read_ref(git_dir: Path, ref: str) -> str | None:
    common = git_dir
    commondir = git_dir / "commondir"
    if commondir.is_file():
        common = (git_dir / commondir.read_text().strip()).resolve()
    for base in (git_dir, common):
        loose = base / ref
        if loose.is_file():
            return loose.read_text().strip() or None
    packed = common / "packed-refs"
    if packed.is_file():
        for line in packed.read_text(errors="replace").splitlines():
            if line.endswith(" " + ref):
                return line.split(" ", 1)[0]
    return None


def git_head(start: Path) -> dict[str, str]:
    """Commit, branch and repository root of the git checkout containing ``start``, from files."""
    try:
        git_dir = _git_dir(start.resolve())
        if git_dir is None:
            return {}
        head = (git_dir / "HEAD").read_text().strip()
        info: dict[str, str] = {}
        if head.startswith("ref:"):
            ref = head.removeprefix("ref:").strip()
            info["autolog.git.branch"] = ref.removeprefix("refs/heads/")
            commit = _read_ref(git_dir, ref)
        else:
            commit = head
        if commit:
            info["autolog.git.commit"] = commit
        root = git_dir.parent if git_dir.name == ".git" else start
        info["autolog.git.root"] = str(root)
        return info
    except OSError:
        return {}


def _source_dir() -> Path:
    kind, name = source()
    if kind == "SCRIPT":
        return Path(name).parent
    return Path.cwd()


@cache
def _process_tags() -> dict[str, str]:
    import platform

    kind, name = source()
    return {
        "autolog.source.type": kind,
        "autolog.source.name": name,
        "autolog.user": _user(),
        "autolog.host": _host(),
        "autolog.python": platform.python_version(),
        "autolog.platform": f"{sys.platform}-{platform.machine()}",
        **git_head(_source_dir()),
    }


def cheap_tags() -> dict[str, str]:
    """Context tags that cost nothing after the first run of the process."""
    return {**_process_tags(), TAG_RUNNER: process_identity()}


def background_tags() -> dict[str, str]:
    """Context tags that may take a while: the git dirty flag and installed package versions."""
    tags = dict(_package_versions())
    root = _process_tags().get("autolog.git.root")
    if root:
        dirty = _cached_git_dirty(root)
        if dirty is not None:
            tags["autolog.git.dirty"] = "true" if dirty else "false"
    return tags


@cache
def _package_versions() -> dict[str, str]:
    from importlib import metadata

    versions = {}
    for name in ML_PACKAGES:
        try:
            versions[f"autolog.versions.{name}"] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return versions


#: a pathspec for ``git status`` in a repository's root: every file but autolog's own store
#: folders (``./autolog-runs/`` by default, wherever a run started), which are not code and
#: would make every run that keeps them in its repository dirty
NOT_OURS = ("--", ".", ":(exclude,glob)**/autolog-runs/**")

_dirty_cache: dict[str, tuple[float, bool | None]] = {}
# `git status` runs on the writer thread; in a big checkout it takes a while, so a process that
# starts many runs asks at most once a minute.
_DIRTY_TTL_SECONDS = 60.0


def _cached_git_dirty(root: str) -> bool | None:
    import time

    now = time.monotonic()
    cached = _dirty_cache.get(root)
    if cached is None or now - cached[0] > _DIRTY_TTL_SECONDS:
        cached = _dirty_cache[root] = (now, _git_dirty(root))
    return cached[1]


def _git_dirty(root: str) -> bool | None:
    import shutil
    import subprocess

    git = shutil.which("git")
    if git is None:
        return None
    # Untracked files count (not ignored ones): an untracked script being run makes the code
    # differ from the commit. No optional locks: `git status` must not write the user's index.
    env = {**os.environ, "GIT_OPTIONAL_LOCKS": "0"}
    try:
        result = subprocess.run(
            [git, "-C", root, "status", "--porcelain", "--untracked-files=normal", *NOT_OURS],
            capture_output=True,
            timeout=10,
            check=False,
            env=env,
            stdin=subprocess.DEVNULL,
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    if result.returncode != 0:
        return None
    return bool(result.stdout.strip())
