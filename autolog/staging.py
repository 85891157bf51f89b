"""Artifact staging: what ``log_artifact`` and ``log_model`` do on the writer's file thread
(copy, hash, record, put in place), one copy on disk per content within a run.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from autolog.errors import InvalidInputError

if TYPE_CHECKING:
    from autolog.artifacts import ArtifactRepository
    from autolog.run_state import RunState
    from autolog.stores.base import Store

__all__ = ["ArtifactJob", "file_stamp", "mkdtemp", "path_arg", "place", "same_bytes"]


class ArtifactJob:
    """``log_artifact``'s work on the writer's file thread: copy and hash each snapshot,
    record the hashes, put the copies in place. Tried again after a failure for now (a full
    disk) from where it stopped."""

    def __init__(
        self,
        repository: Callable[[], ArtifactRepository],
        store: Callable[[], Store],
        state: RunState,
        run_id: str,
        snapshots: list[tuple[Any, str]],
    ) -> None:
        self.repository = repository  # the run's artifacts, once the run is stored
        self.store = store
        self.state = state
        self.run_id = run_id
        self.snapshots = snapshots
        self.staged: dict[str, tuple[Any, str]] = {}  # target -> (copy, SHA-256)
        self.placed: set[str] = set()
        self.changed: list[str] = []  # files whose logged bytes were gone before the copy

    def run(self) -> None:
        from autolog.artifacts import LocalArtifactRepository
        from autolog.artifacts.local import copy_snapshot, discard_snapshot, discard_staged

        into = self.repository()
        local = into if isinstance(into, LocalArtifactRepository) else None
        for snapshot, target in self.snapshots:
            if target not in self.staged and target not in self.changed:
                try:
                    copy = copy_snapshot(snapshot, local)
                except InvalidInputError:
                    self.changed.append(target)  # said below, once the others are placed
                    discard_snapshot(snapshot)
                    continue
                self.staged[target] = copy
                if copy[0] != snapshot.path:
                    discard_snapshot(snapshot)  # a link (or nothing of ours): copied now
        unplaced = {t: d for t, (_, d) in self.staged.items() if t not in self.placed}
        if unplaced:
            self.store().record_artifact_hashes(self.run_id, unplaced)
        for target, (copy, digest) in self.staged.items():
            if target not in self.placed:
                if not same_bytes(into, self.state, target, digest):
                    place(into, copy, target)
                discard_staged([copy])  # left where it was uploaded (a copy), else gone
                self.placed.add(target)
        if self.changed:
            raise InvalidInputError(
                f"{', '.join(self.changed)[:200]} changed (rewritten in place, replaced or "
                "removed) before autolog could copy it: the bytes logged are gone, so it was "
                "not logged (log a file once it is complete, or log it again after a change)"
            )

    def drop(self) -> None:
        from autolog.artifacts.local import discard_snapshot, discard_staged

        for snapshot, target in self.snapshots:
            if target not in self.placed:
                discard_snapshot(snapshot)
        unplaced = [copy for target, (copy, _) in self.staged.items() if target not in self.placed]
        discard_staged(unplaced)


def same_bytes(repo: ArtifactRepository, state: RunState, target: str, digest: str) -> bool:
    """Whether ``target`` became a hard link to an artifact of the run already holding the
    bytes of ``digest``: one copy on disk where the run's artifacts are a local folder (a
    tracking server links its own folder's files on upload; a bucket keeps every object).
    Remembers ``target`` as holding them either way: the caller writes them there when this
    says False."""
    link = getattr(repo, "link_same", None)
    other = state.digests.get(digest)
    state.digests[digest] = target
    return link is not None and other is not None and bool(link(target, digest, [other]))


def place(repo: ArtifactRepository, staged: Any, target: str) -> None:
    """Put a snapshot in its place: a rename beside a local run's files, else a copy (an
    upload to a tracking server or a bucket)."""
    place = getattr(repo, "place", None)
    if place is not None:
        place(staged, target)
    else:
        repo.put_file(staged, target)


def path_arg(value: object, what: str) -> str | os.PathLike[str]:
    if not isinstance(value, (str, os.PathLike)):
        raise InvalidInputError(f"{what} takes a path, not {value!r}")
    return value


def mkdtemp() -> str:
    import tempfile

    return tempfile.mkdtemp(prefix="autolog-")


def file_stamp(path: os.PathLike[str]) -> tuple[int, int, int]:
    """What changes when a file is rewritten: inode, size, modification time."""
    info = os.stat(path)
    return info.st_ino, info.st_size, info.st_mtime_ns
