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
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, Literal, cast
from urllib.parse import unquote, urlsplit, urlunsplit

from autolog import lifecycle
from autolog.entities import (
    Experiment,
    Metric,
    MetricColumns,
    ModelVersion,
    Param,
    RunStatus,
    RunTag,
)
from autolog.errors import InvalidInputError, InvalidURIError, RunStateError
from autolog.validation import text_problem

if TYPE_CHECKING:
    from pathlib import Path

__all__ = [
    "DEFAULT_DIR",
    "PRESUMED_KILLED_TAG",
    "Lifecycle",
    "check_batch",
    "check_lifecycle",
    "check_model_files",
    "check_storable",
    "check_unregistered",
    "check_update",
    "default_artifact_root",
    "ended",
    "fork_safe_lock",
    "history_columns",
    "in_lifecycle",
    "inside_models",
    "is_newer",
    "local_path",
    "model_path",
    "now_ms",
    "redact_uri",
    "refuse_deleted",
    "takes_writes",
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


def refuse_deleted(experiment: Experiment) -> Experiment:
    """``experiment``, unless it is deleted: runs are not started in a deleted experiment."""
    if experiment.deleted_time is not None:
        raise InvalidInputError(
            f"experiment {experiment.name!r} is deleted: restore it "
            f"(autolog experiments restore {experiment.name!r}) or choose another name"
        )
    return experiment


def check_unregistered(run_id: str, registered: Mapping[str, Sequence[ModelVersion]]) -> None:
    """A run that registered model versions point at is kept (their models live in it)."""
    versions = registered.get(run_id)
    if versions:
        named = ", ".join(f"{v.name}/{v.version}" for v in versions)
        raise InvalidInputError(
            f"run {run_id} holds registered model versions ({named}); it is kept"
        )


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


# -- the rules every store enforces ---------------------------------------------------------


def check_storable(what: str, *texts: str) -> None:
    """``InvalidInputError`` naming the first text no store can hold (see text_problem)."""
    for text in texts:
        if not isinstance(text, str):
            raise InvalidInputError(f"{what} must be a string, not {text!r}")
        if text.isascii() and "\x00" not in text:
            continue
        problem = text_problem(text)
        if problem is not None:
            shown = text if len(text) <= 60 else text[:57] + "..."
            raise InvalidInputError(f"{what} {shown!r}: {problem}")


def check_batch(metrics: Sequence[Metric], params: Sequence[Param], tags: Sequence[RunTag]) -> None:
    """What every store refuses in a ``log_batch``, before anything of it is written."""
    if metrics:
        for key in {metric.key for metric in metrics}:
            check_storable("metric key", key)
    for key, value in params:
        check_storable("param", key, value)
    for key, value in tags:
        check_storable("tag", key, value)


#: Set by a reader that found a RUNNING run's process gone and recorded the run KILLED: the run
#: was presumed killed, not ended by its owner. Such a run still takes its owner's writes (what
#: a process spooled while the tracking server was away, sent later by ``autolog sync``), and
#: the owner's own end replaces KILLED (and this tag).
PRESUMED_KILLED_TAG = "autolog.presumed_killed"


def takes_writes(status: RunStatus | str, presumed_killed: bool) -> bool:
    """Whether a run in ``status`` takes writes: RUNNING, or KILLED only by a reader's
    presumption (``presumed_killed``: it carries ``PRESUMED_KILLED_TAG``)."""
    status = RunStatus(status)
    return status is RunStatus.RUNNING or (status is RunStatus.KILLED and presumed_killed)


def check_update(
    run_id: str,
    current: RunStatus,
    end: int | None,
    status: RunStatus,
    end_time: int | None,
    presumed_killed: bool = False,
) -> bool:
    """Whether ``update_run`` changes anything; ``RunStateError`` if it would change a run that
    has ended (the same end again, a retried write, is no change). A run a reader presumed
    killed takes its owner's end."""
    if takes_writes(current, presumed_killed):
        return True
    if status is current and end_time == end:
        return False
    raise ended(run_id, current)


def ended(run_id: str, status: RunStatus | str) -> RunStateError:
    """The error for a write to a run that has ended."""
    return RunStateError(
        f"run {run_id} is {RunStatus(status).value}: a run that has ended takes no writes"
    )


def model_path(run_id: str, source: str) -> str:
    """The model's path in ``source`` (``runs:/<run_id>/<path>``); InvalidInputError if the
    source is not in that run."""
    prefix = f"runs:/{run_id}/"
    path = source[len(prefix) :].strip("/") if source.startswith(prefix) else ""
    if not path:
        raise InvalidInputError(
            f"a model version's source is runs:/{run_id}/<path> of a logged model, not {source!r}"
        )
    return path


def check_model_files(path: str, files: Mapping[str, str]) -> None:
    """A model's files lie in its folder."""
    check_storable("model path", path, *files)
    outside = [name for name in files if not under(name, path) or name == path.strip("/")]
    if not files or outside:
        raise InvalidInputError(
            f"a model at {path!r} is made of files under {path + '/'!r}, not {outside or files}"
        )


def inside_models(hashes: Mapping[str, str], models: Mapping[str, Mapping[str, str]]) -> list[str]:
    """The paths of ``hashes`` that would change a model's files: in a model's folder, with
    another digest than its record holds (the same file again, as a tracking server records it
    on upload, changes nothing)."""
    return [
        path
        for path, digest in hashes.items()
        for folder, files in models.items()
        if under(path, folder) and files.get(path) != digest
    ]
