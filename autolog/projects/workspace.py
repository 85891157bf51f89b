"""Rebuild the code a run ran: a fresh checkout of its commit, its patch and untracked files.

The run's ``code/manifest.json`` (written by ``autolog.projects.code``) is the source of truth.
The commit is looked for, in order, in the repository holding the current folder, the
recorded repository root and the recorded remote; the first that has it is cloned with
``git clone --shared --no-checkout`` (objects are borrowed, not copied: a second on a large
repository) into a new folder and checked out there, detached. The user's own repository is
only read: its index, stash, branches and work tree are never touched. Then
``code/diff.patch`` is applied with ``git apply --binary`` and the untracked files the
manifest lists are copied in. Every file read from the run (manifest, patch, untracked files,
and the lock ``autolog rerun`` installs) is first checked against the SHA-256 the store
recorded when it was logged (``verified_artifact``): what runs is what the run recorded.

Example::

    with rebuilt(client, run_id) as ws:
        subprocess.run([sys.executable, "train.py"], cwd=ws.workdir)
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING, Any

from autolog.errors import InvalidInputError, NotFoundError, RerunError
from autolog.validation import check_artifact_path

if TYPE_CHECKING:
    from autolog.client import Client

__all__ = [
    "CodeRecord",
    "Workspace",
    "build_workspace",
    "check_workdir",
    "load_code_record",
    "rebuilt",
    "verified_artifact",
]

MANIFEST = "code/manifest.json"
PATCH = "code/diff.patch"
UNTRACKED = "code/untracked"

# git's own variables that would point our commands at another repository than the one named
# with -C (set, for instance, when autolog rerun runs from a git hook)
_GIT_LOCATION_VARIABLES = (
    "GIT_DIR",
    "GIT_WORK_TREE",
    "GIT_INDEX_FILE",
    "GIT_OBJECT_DIRECTORY",
    "GIT_ALTERNATE_OBJECT_DIRECTORIES",
    "GIT_COMMON_DIR",
    "GIT_NAMESPACE",
)
# A clone of a remote that does not answer must not hang the rerun (nor ask for a password).
_REMOTE_TIMEOUT_S = 120.0
_LOCAL_TIMEOUT_S = 60.0


@dataclass(frozen=True)
class CodeRecord:
    """What a run recorded of its code (``code/manifest.json``)."""

    commit: str | None  #: None: the repository had no commit yet (the patch holds it all)
    root: str
    remote: str | None
    workdir: str
    argv: tuple[str, ...]
    diff_bytes: int
    untracked: tuple[str, ...]

    @classmethod
    def from_manifest(cls, manifest: Mapping[str, Any], run_id: str) -> CodeRecord:
        """The record in a parsed manifest; RerunError naming what is malformed."""
        commit = manifest.get("commit")
        if commit is not None and (not isinstance(commit, str) or not commit.isalnum()):
            raise RerunError(f"run {run_id} recorded no usable commit in {MANIFEST}: {commit!r}")
        argv = manifest.get("argv")
        if not isinstance(argv, list) or not argv or not all(isinstance(a, str) for a in argv):
            raise RerunError(f"run {run_id} recorded no command in {MANIFEST}: {argv!r}")
        untracked = manifest.get("untracked") or []
        paths = tuple(
            str(entry["path"]) for entry in untracked if isinstance(entry, dict) and "path" in entry
        )
        remote = manifest.get("remote")
        return cls(
            commit=commit,
            root=str(manifest.get("root") or ""),
            remote=remote if isinstance(remote, str) and remote else None,
            workdir=_relative(str(manifest.get("workdir") or "."), run_id),
            argv=tuple(argv),
            diff_bytes=int(manifest.get("diff_bytes") or 0),
            untracked=paths,
        )


@dataclass(frozen=True)
class Workspace:
    """A rebuilt checkout: ``root`` is the repository's top, ``workdir`` where the run ran,
    ``source`` the repository its commit came from."""

    root: Path
    workdir: Path
    source: str
    record: CodeRecord


def load_code_record(client: Client, run_id: str) -> CodeRecord:
    """The run's code record, read from its ``code/manifest.json`` artifact.

    Raises:
        RerunError: the run recorded no code, or a manifest that cannot be read.
    """
    present = {info.path for info in client.list_artifacts(run_id, "code")}
    if MANIFEST not in present:
        raise RerunError(
            f"run {run_id} recorded no code, so it cannot be re-run (runs of `autolog run`, "
            "or with autolog(log_code=True), record it)"
        )
    try:
        manifest = json.loads(verified_artifact(client, run_id, MANIFEST).decode("utf-8"))
    except ValueError as exc:
        raise RerunError(f"run {run_id}: {MANIFEST} cannot be read: {exc}") from exc
    if not isinstance(manifest, dict):
        raise RerunError(f"run {run_id}: {MANIFEST} is not a JSON object")
    return CodeRecord.from_manifest(manifest, run_id)


def verified_artifact(client: Client, run_id: str, path: str) -> bytes:
    """The bytes of the run's artifact file at ``path``, checked against the SHA-256 the store
    recorded when it was logged, as ``load_model`` checks a model: a rerun applies, runs and
    installs these files, so one changed in the artifact store since must not be used.

    Raises:
        RerunError: no SHA-256 is recorded for ``path``, or the file does not match it (the
            message names the file and the run).
        NotFoundError: the file is missing (the message says where it was expected).
    """
    with tempfile.TemporaryDirectory(prefix="autolog-artifact-") as folder:
        # downloaded first: the download waits for this process's queued writes
        copy = Path(client.download_artifacts(run_id, path, folder))
        expected = client.store.get_artifact_hashes(run_id, path).get(path)
        if expected is None:
            raise RerunError(
                f"{path} has no SHA-256 recorded with run {run_id}, so it cannot be checked "
                "before it is used"
            )
        data = copy.read_bytes()
    if hashlib.sha256(data).hexdigest() != expected:
        raise RerunError(
            f"{path} does not match the SHA-256 recorded with run {run_id}: it was changed since"
        )
    return data


def check_workdir(path: Path) -> Path:
    """``path`` as a place to rebuild into: absent, or an empty folder.

    Raises:
        InvalidInputError: it is a file, or a folder that holds something.
    """
    if path.exists() or path.is_symlink():
        if not path.is_dir() or path.is_symlink():
            raise InvalidInputError(f"{path} is not a folder")
        if any(path.iterdir()):
            raise InvalidInputError(f"{path} is not empty (the code is rebuilt into an empty one)")
    return path.absolute()


@contextmanager
def rebuilt(
    client: Client,
    run_id: str,
    record: CodeRecord,
    *,
    keep: Path | None = None,
    start: Path | None = None,
) -> Iterator[Workspace]:
    """The run's code rebuilt in ``keep`` (left there), else in a temporary folder removed
    when the block ends."""
    if keep is not None:
        destination = check_workdir(keep)
        yield build_workspace(client, run_id, record, destination, start=start, kept=True)
        return
    folder = Path(tempfile.mkdtemp(prefix="autolog-rerun-"))
    try:
        yield build_workspace(client, run_id, record, folder / "code", start=start)
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def build_workspace(
    client: Client,
    run_id: str,
    record: CodeRecord,
    destination: Path,
    *,
    start: Path | None = None,
    kept: bool = False,
) -> Workspace:
    """Check the run's commit out into ``destination`` (absent or empty), apply its patch and
    copy its untracked files. ``kept``: the checkout outlives this command, so it gets its
    own copy of the objects it borrowed (``--dissociate``): a later ``git gc`` in the source
    repository cannot break it.

    Raises:
        RerunError: git is missing, no repository tried has the commit (the message names
            the commit and every place tried), or the patch does not apply (git's words).
    """
    if shutil.which("git") is None:
        raise RerunError("rebuilding a run's code needs git, which is not installed here")
    if record.commit is None:
        _init(destination)
        source = "a new repository (the run's had no commit yet)"
    else:
        source = _clone_with_commit(
            record.commit, record, destination, start or Path.cwd(), kept=kept
        )
        _git(destination, "checkout", "--quiet", "--detach", record.commit)
    if record.diff_bytes:
        _apply_patch(client, run_id, destination)
    if record.untracked:
        _copy_untracked(client, run_id, record.untracked, destination)
    workdir = destination / record.workdir
    if not workdir.is_dir():
        raise RerunError(
            f"run {run_id} ran in {record.workdir}, which the rebuilt code does not have"
        )
    return Workspace(root=destination, workdir=workdir, source=source, record=record)


def _init(destination: Path) -> None:
    result = _run_git(["init", "--quiet", str(destination)], _LOCAL_TIMEOUT_S)
    if result.returncode != 0:
        raise RerunError(f"git init {destination} failed: {_words(result)}")


def _clone_with_commit(
    commit: str, record: CodeRecord, destination: Path, start: Path, *, kept: bool
) -> str:
    """Clone the first repository that has ``commit`` into ``destination``; which it was."""
    tried: list[str] = []
    for candidate in _local_candidates(record, start):
        if candidate in tried:
            continue
        tried.append(candidate)
        if _has_commit(candidate, commit):
            options = ["--shared", "--no-checkout", *(["--dissociate"] if kept else [])]
            _clone([*options, candidate], destination, _LOCAL_TIMEOUT_S)
            return candidate
    if record.remote is not None and record.remote not in tried:
        tried.append(record.remote)
        if _clone_remote(record.remote, commit, destination):
            return record.remote
    raise RerunError(
        f"commit {commit} is in none of the repositories tried: {', '.join(tried)} "
        "(fetch it into one of them, or run autolog rerun from a clone that has it)"
    )


def _local_candidates(record: CodeRecord, start: Path) -> list[str]:
    """The repository holding ``start``, then the recorded root (when it is one)."""
    found = []
    here = _toplevel(start)
    if here is not None:
        found.append(here)
    if record.root and Path(record.root).is_dir():
        root = _toplevel(Path(record.root))
        found.append(root if root is not None else record.root)
    elif record.root:
        found.append(record.root)
    return found


def _toplevel(folder: Path) -> str | None:
    result = _run_git(["-C", str(folder), "rev-parse", "--show-toplevel"], _LOCAL_TIMEOUT_S)
    return result.stdout.strip() if result.returncode == 0 and result.stdout.strip() else None


def _has_commit(repository: str, commit: str) -> bool:
    if not Path(repository).is_dir():
        return False
    result = _run_git(
        ["-C", repository, "cat-file", "-e", f"{commit}^{{commit}}"], _LOCAL_TIMEOUT_S
    )
    return result.returncode == 0


def _clone_remote(remote: str, commit: str, destination: Path) -> bool:
    """Clone the recorded remote; whether the clone has the commit (else it is removed)."""
    result = _run_git(
        ["clone", "--quiet", "--no-checkout", remote, str(destination)], _REMOTE_TIMEOUT_S
    )
    if result.returncode == 0 and _has_commit(str(destination), commit):
        return True
    if destination.exists():
        for child in destination.iterdir():  # left as it was: absent or empty
            if child.is_dir() and not child.is_symlink():
                shutil.rmtree(child)
            else:
                child.unlink()
    return False


def _clone(options: list[str], destination: Path, timeout: float) -> None:
    result = _run_git(["clone", "--quiet", *options, str(destination)], timeout)
    if result.returncode != 0:
        raise RerunError(f"git clone into {destination} failed: {_words(result)}")


def _apply_patch(client: Client, run_id: str, destination: Path) -> None:
    data = verified_artifact(client, run_id, PATCH)
    with tempfile.TemporaryDirectory(prefix="autolog-patch-") as folder:
        patch = Path(folder) / "diff.patch"
        patch.write_bytes(data)
        result = _run_git(
            ["-C", str(destination), "apply", "--binary", "--whitespace=nowarn", str(patch)],
            _LOCAL_TIMEOUT_S,
        )
    if result.returncode != 0:
        raise RerunError(
            f"the recorded changes of run {run_id} ({PATCH}) do not apply to its commit: "
            f"{_words(result)}"
        )


def _copy_untracked(client: Client, run_id: str, paths: tuple[str, ...], destination: Path) -> None:
    """Copy the untracked files the manifest lists, each checked, into the checkout (anything
    else under ``code/untracked`` was not recorded with the run); never into its ``.git`` nor
    through a link out of it (a file there could make later git commands run anything)."""
    inside = destination.resolve()
    for path in paths:
        artifact = check_artifact_path(f"{UNTRACKED}/{path}")
        relative = PurePosixPath(artifact).relative_to(UNTRACKED)
        target = destination / relative
        if _unsafe(relative, target, inside):
            raise RerunError(
                f"run {run_id} lists an untracked file it cannot write inside its checkout: {path}"
            )
        try:
            data = verified_artifact(client, run_id, artifact)
        except NotFoundError as exc:
            raise RerunError(f"run {run_id} lists the untracked file {path}: {exc}") from exc
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(data)


def _unsafe(relative: PurePosixPath, target: Path, inside: Path) -> bool:
    """Whether writing ``target`` would reach ``.git``, or leave the checkout through a link."""
    if not relative.parts or relative.parts[0] == ".git" or target.is_symlink():
        return True
    return not target.parent.resolve().is_relative_to(inside)


def _relative(workdir: str, run_id: str) -> str:
    """The recorded working folder, checked to stay inside the repository."""
    path = PurePosixPath(workdir)
    if path.is_absolute() or ".." in path.parts:
        raise RerunError(f"run {run_id} recorded a working folder outside its repository")
    return str(path)


def _git(repository: Path, *args: str) -> None:
    result = _run_git(["-C", str(repository), *args], _LOCAL_TIMEOUT_S)
    if result.returncode != 0:
        raise RerunError(f"git {' '.join(args)} failed: {_words(result)}")


def _run_git(args: list[str], timeout: float) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k not in _GIT_LOCATION_VARIABLES}
    env["GIT_TERMINAL_PROMPT"] = "0"  # a remote asking for a password fails instead
    try:
        return subprocess.run(
            ["git", *args],
            capture_output=True,
            text=True,
            env=env,
            stdin=subprocess.DEVNULL,
            timeout=timeout,
            check=False,
        )
    except subprocess.TimeoutExpired:
        return subprocess.CompletedProcess(args, 124, "", f"no answer in {timeout:.0f} s")


def _words(result: subprocess.CompletedProcess[str]) -> str:
    """git's own message, on one line."""
    text = (result.stderr or result.stdout).strip()
    return " ".join(text.split()) or f"exit status {result.returncode}"
