"""Helpers that every store implementation shares (and nothing else needs).

Kept here, not in one store, so that no store imports another's private parts and the rules
that must agree across stores (which value is the latest, what a path prefix covers) are
written once.
"""

from __future__ import annotations

import os
import threading
import time
import weakref
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, Literal, cast
from urllib.parse import unquote, urlsplit, urlunsplit

from autolog import lifecycle
from autolog.entities import (
    Metric,
    MetricColumns,
)
from autolog.errors import InvalidInputError, InvalidURIError

if TYPE_CHECKING:
    from pathlib import Path

__all__ = [
    "DEFAULT_DIR",
    "Lifecycle",
    "check_lifecycle",
    "default_artifact_root",
    "fork_safe_lock",
    "history_columns",
    "in_lifecycle",
    "is_newer",
    "local_path",
    "now_ms",
    "redact_uri",
    "under",
]

DEFAULT_DIR = "autolog-runs"

#: which runs and experiments a listing covers: not deleted, deleted, or both
Lifecycle = Literal["active", "deleted", "all"]


def in_lifecycle(run_deleted: bool, experiment_deleted: bool, lifecycle: str) -> bool:
    """Whether a run belongs to a listing of ``lifecycle`` runs (see ``Store.search_runs``)."""
    if lifecycle == "active":
        return not run_deleted and not experiment_deleted
    if lifecycle == "deleted":
        return run_deleted
    return True


def check_lifecycle(lifecycle: str) -> Lifecycle:
    if lifecycle in ("active", "deleted", "all"):
        return cast("Lifecycle", lifecycle)
    raise InvalidInputError(f"lifecycle is 'active', 'deleted' or 'all', not {lifecycle!r}")


def now_ms() -> int:
    """Milliseconds since the epoch: the unit of every time a store records."""
    return time.time_ns() // 1_000_000


def is_newer(candidate: Metric, current: Metric | None) -> bool:
    """The latest value of a metric is the one with the highest step, then the newest; of
    equal (step, timestamp) the one logged last."""
    if current is None:
        return True
    return (candidate.step, candidate.timestamp) >= (current.step, current.timestamp)


def under(path: str, prefix: str) -> bool:
    """Whether the artifact ``path`` is ``prefix`` or lies below it ('' covers everything)."""
    prefix = prefix.strip("/")
    return not prefix or path == prefix or path.startswith(prefix + "/")


_lock_owners: weakref.WeakSet[Any] = weakref.WeakSet()


def fork_safe_lock(owner: object) -> threading.RLock:
    """A lock for ``owner._lock`` that a forked child gets anew: the parent's writer or another
    thread may hold the old one at the moment of the fork, and never release it there."""
    _lock_owners.add(owner)
    return threading.RLock()


def _new_locks_after_fork() -> None:
    for owner in list(_lock_owners):
        owner._lock = threading.RLock()


lifecycle.on_fork(lifecycle.Layer.STORE, after_in_child=_new_locks_after_fork)


def local_path(uri: str) -> Path:
    """The filesystem path of a ``file:`` URI or a plain path."""
    from pathlib import Path

    parts = urlsplit(uri)
    if parts.scheme == "file":
        if parts.netloc not in ("", "localhost"):
            raise InvalidURIError(uri, "file URIs must name a local path (file:///dir)")
        return Path(unquote(parts.path))
    if parts.scheme and len(parts.scheme) > 1:
        raise InvalidURIError(uri, f"expected a local path or file:// URI, not {parts.scheme}:")
    return Path(uri)


def default_artifact_root() -> str:
    """``$AUTOLOG_ARTIFACT_ROOT``, else ``./autolog-runs/artifacts``, as an absolute file URI."""
    from pathlib import Path

    configured = os.environ.get("AUTOLOG_ARTIFACT_ROOT")
    if configured:
        if "://" in configured:
            return configured.rstrip("/")
        return Path(configured).resolve().as_uri()
    return (Path.cwd() / DEFAULT_DIR / "artifacts").resolve().as_uri()


def history_columns(
    history: Sequence[Metric], min_step: int | None = None, max_step: int | None = None
) -> MetricColumns:
    """``get_metric_columns`` for a store that reads whole histories: columns of the values of
    ``history`` (ordered by step) within the step bounds."""
    from bisect import bisect_left, bisect_right

    steps = [m.step for m in history]
    start = 0 if min_step is None else bisect_left(steps, min_step)
    stop = len(steps) if max_step is None else bisect_right(steps, max_step)
    selected = history[start:stop]
    return MetricColumns(
        steps[start:stop], [m.timestamp for m in selected], [m.value for m in selected]
    )


def redact_uri(uri: str) -> str:
    """The URI without its password, for messages."""
    parts = urlsplit(uri)
    if parts.password is None:
        return uri
    netloc = parts.netloc.rpartition("@")
    user = netloc[0].partition(":")[0]
    return urlunsplit(parts._replace(netloc=f"{user}:***@{netloc[2]}"))
