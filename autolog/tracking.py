"""``Tracking``: the one home of the tracking rules, over a storage engine.

Every backend that keeps runs itself (memory, files, SQLite, PostgreSQL) is a ``Tracking`` over
an engine (``autolog.stores.engine``) that only stores and fetches; a tracking server runs the
same ``Tracking``, and the REST store is a transport to it. So a rule is written here once, and
holds whoever writes and whoever reads:

- text every store can hold (``check_storable``: no NUL, no lone surrogate), a model's files in
  its folder, statuses, lifecycles and pages that exist;
- the run state machine: a run that has ended takes no metrics, params, artifacts or models
  and its end does not change again (the same end again, a retried write, is no change); a
  run presumed killed takes its owner's writes and end;
- a run's name and tags are metadata: they change whatever the run's state (``rename_run``,
  tags in ``log_batch``, ``delete_tag``), but not while the run is deleted, and an ended run
  takes none of the tags that say whether its process lives (``LIVENESS_TAGS``: they would
  open it again, or have it reaped);
- params are immutable (``ParamCollisionError``; the same value again is no change);
- a batch is stored once (``batch_id``: a sender that lost the answer may send it again);
- a model's files are written by ``record_model`` only, and a model a registered version points
  at is final, as is the run holding it (not purged) until its versions are deleted;
- the registry: version numbers are never given again while their model exists (a deleted
  version's neither); a model's name is unique (a rename onto a taken one is refused) and its
  versions, aliases and tags follow it; names, keys and descriptions are checked here, model
  names (no '/' or '@') and aliases (identifiers) by ``validation``'s rules so that a
  ``models:/`` URI can name them (``model_search`` for the filters of
  ``search_registered_models``);
- runs are not started in a deleted experiment; only deleted runs and experiments are purged;
- a RUNNING run whose process is known to be gone reads as KILLED (``reaped``), for every
  reader, without anything being written: its owner may still send what it spooled, and its
  own end replaces the presumption.

An engine raises no domain error; everything here raises the ``AutologError`` tree.
"""

from __future__ import annotations

import sys
import time
from array import array
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from operator import itemgetter
from typing import TYPE_CHECKING

from autolog import context
from autolog.entities import (
    AccessToken,
    Experiment,
    Metric,
    MetricColumns,
    ModelVersion,
    Param,
    RegisteredModel,
    Run,
    RunInfo,
    RunPage,
    RunStatus,
    RunTag,
)
from autolog.errors import (
    InvalidInputError,
    InvalidValueError,
    NotFoundError,
    ParamCollisionError,
    RunStateError,
    StoreError,
)
from autolog.model_search import matching, parse_model_filter
from autolog.search import check_page, matches, page_runs, sort_runs
from autolog.stores.common import Lifecycle, check_lifecycle, under
from autolog.stores.locations import Locations, home_of
from autolog.stores.writes import RunCreation, RunWrites
from autolog.validation import (
    check_alias,
    check_key,
    check_model_name,
    check_name,
    check_text,
    is_run_id,
    stringify,
    to_float,
    to_step,
    to_timestamp,
)

if TYPE_CHECKING:
    from autolog.search import Comparison, OrderBy
    from autolog.stores.engine import Engine, RunUnit

__all__ = [
    "INCOMPLETE_MODEL",
    "LIVENESS_TAGS",
    "PRESUMED_KILLED_TAG",
    "STALE_SECONDS",
    "Tracking",
    "check_storable",
    "check_writes",
    "ended_error",
    "incomplete_model",
    "inside_models",
    "marked_incomplete",
    "reaped",
    "takes_writes",
]

#: Carried by a run read as KILLED because its process seemed gone (``reaped``), and by runs
#: older versions recorded KILLED on that presumption. Such a run still takes its owner's
#: writes (what a process spooled while the tracking server was away, sent later by
#: ``autolog sync``), and the owner's own end replaces KILLED (and this tag).
PRESUMED_KILLED_TAG = context.TAG_PRESUMED_KILLED

#: The tags autolog keeps on a run while its process lives (and a reader's presumption that it
#: died): written by autolog only, and never to a run that has ended.
LIVENESS_TAGS = frozenset({context.TAG_RUNNER, context.TAG_HEARTBEAT, PRESUMED_KILLED_TAG})

#: A run whose liveness cannot be judged from here (another host or container) is taken for
#: dead when its heartbeat (``context.TAG_HEARTBEAT``, every 10 s) is this old.
STALE_SECONDS = 300.0

#: The file name that marks a model's record incomplete. ``log_model`` replacing a model
#: records the new files before it writes them (so that the store refuses a replacement before
#: a byte is touched), with this mark; the record without it follows once every file is in
#: place. A process killed between leaves the mark: such a model is never loaded, listed or
#: registered. The mark is no file: it is never written, and never one of the run's artifacts.
INCOMPLETE_MODEL = ".autolog-incomplete"
_INCOMPLETE_DIGEST = "0" * 64  # a digest-shaped value, as every store and the REST API take

_VALUE, _STEP, _TIMESTAMP = itemgetter(1), itemgetter(2), itemgetter(3)

# attributes whose value a reaped run changes: searches on them are judged on what readers see
_REAPED_ATTRIBUTES = frozenset({"status", "end_time", "duration"})


def _now_ms() -> int:
    return time.time_ns() // 1_000_000


# -- the rules, as functions the service (and the server's artifact routes) apply ------------


def check_storable(what: str, *texts: str) -> None:
    """``InvalidInputError`` naming the first text no store can hold (``validation.check_text``)."""
    for text in texts:
        if not (isinstance(text, str) and text.isascii() and "\x00" not in text):
            check_text(text, what)


def _check_batch(
    metrics: Sequence[Metric], params: Sequence[Param], tags: Sequence[RunTag]
) -> None:
    """The rules of keys and values (``validation``: the same ``Client`` applies at the call,
    so a caller hears at once what a store would refuse): ``InvalidKeyError`` for a key,
    ``InvalidValueError`` for a value, each naming it."""
    if metrics:
        for key in {metric.key for metric in metrics}:
            check_key(key)
    for pairs in (params, tags):
        for key, value in pairs:
            _check_tag(key, value)


def _check_tag(key: object, value: object) -> None:
    """A param's or tag's key and value (runs, experiments, models alike): ``InvalidKeyError``
    for the key, ``InvalidValueError`` for a value that is not text or too long."""
    checked = check_key(key)
    if not isinstance(value, str):
        raise InvalidValueError(checked, value, "values are strings")
    stringify(checked, value)  # its size and text, as the client checks them at the call


def _check_numbers(metrics: Sequence[Metric]) -> None:
    """``InvalidValueError`` naming the first value that is not a number, or step or timestamp
    (>= 0) that does not fit in 64 bits: converted in C (``array``) for the whole batch, a
    Python scan only to name the value that failed."""
    try:
        array("d", map(_VALUE, metrics))
        array("q", map(_STEP, metrics))
        stamps = array("q", map(_TIMESTAMP, metrics))
        if min(stamps) >= 0:
            return
    except (TypeError, OverflowError):
        pass
    for key, value, step, timestamp in metrics:  # the rules the client applies at the call
        to_float(key, value)
        to_step(key, step)
        to_timestamp(key, timestamp)


def check_writes(run_id: str, writes: RunWrites) -> None:
    """Refuse, before anything is written, what no store takes: texts, keys, values, a model's
    files outside its folder, an unknown status (the REST store asks this before sending)."""
    check_storable("run id", run_id)
    create = writes.create
    if create is not None:
        if not is_run_id(run_id):
            raise InvalidInputError(
                f"run ids are 1-128 letters, digits, '-' and '_' (a folder name and a URL "
                f"path part in every store), not {run_id!r}"
            )
        check_storable("run", create.experiment_id, create.run_name, create.artifact_uri)
        if create.parent_run_id is not None:
            check_storable("parent run id", create.parent_run_id)
        _check_batch((), (), [RunTag(k, v) for k, v in create.tags.items()])
    _check_batch(writes.metrics, writes.params, writes.tags)
    if writes.batch_id is not None:
        check_storable("batch id", writes.batch_id)
    if writes.hashes:
        check_storable("artifact path", *writes.hashes, *writes.hashes.values())
    for path, files in (writes.models or {}).items():
        _check_model_files(path, files)
    if writes.end is not None:
        _status(writes.end[0])


def _check_model_files(path: str, files: Mapping[str, str]) -> None:
    """A model's files lie in its folder."""
    check_storable("model path", path, *files, *files.values())
    outside = [name for name in files if not under(name, path) or name == path.strip("/")]
    if not files or outside:
        raise InvalidInputError(
            f"a model at {path!r} is made of files under {path + '/'!r}, not {outside or files}"
        )


def _model_path(run_id: str, source: str) -> str:
    """The model's path in ``source`` (``runs:/<run_id>/<path>``)."""
    prefix = f"runs:/{run_id}/"
    path = source[len(prefix) :].strip("/") if source.startswith(prefix) else ""
    if not path:
        raise InvalidInputError(
            f"a model version's source is runs:/{run_id}/<path> of a logged model, not {source!r}"
        )
    return path


def _status(status: object) -> RunStatus:
    try:
        return RunStatus(status)
    except ValueError:
        raise InvalidInputError(f"unknown run status {status!r}") from None


def takes_writes(status: RunStatus | str, presumed_killed: bool) -> bool:
    """Whether a run in ``status`` takes writes: RUNNING, or KILLED only by a reader's
    presumption (``presumed_killed``: it carries ``PRESUMED_KILLED_TAG``)."""
    status = RunStatus(status)
    return status is RunStatus.RUNNING or (status is RunStatus.KILLED and presumed_killed)


def ended_error(run_id: str, status: RunStatus | str) -> RunStateError:
    """The error for a write to a run that has ended."""
    return RunStateError(
        f"run {run_id} is {RunStatus(status).value}: a run that has ended takes no writes "
        "but tags and a new name"
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


def marked_incomplete(path: str, files: Mapping[str, str]) -> dict[str, str]:
    """The record of the model at ``path`` made of ``files``, marked incomplete."""
    return {**files, f"{path.strip('/')}/{INCOMPLETE_MODEL}": _INCOMPLETE_DIGEST}


def incomplete_model(path: str, files: Mapping[str, str]) -> bool:
    """Whether the record ``files`` of the model at ``path`` is marked incomplete."""
    return f"{path.strip('/')}/{INCOMPLETE_MODEL}" in files


def _refuse_deleted(experiment: Experiment) -> Experiment:
    """``experiment``, unless it is deleted: runs are not started in a deleted experiment."""
    if experiment.deleted_time is not None:
        raise InvalidInputError(
            f"experiment {experiment.name!r} is deleted: restore it "
            f"(autolog experiments restore {experiment.name!r}) or choose another name"
        )
    return experiment


def _tags_changeable(experiment: Experiment) -> Experiment:
    """``experiment``, unless it is deleted: a deleted experiment's tags stay as they were."""
    if experiment.deleted_time is not None:
        raise InvalidInputError(
            f"experiment {experiment.name!r} is deleted: restore it "
            f"(autolog experiments restore {experiment.name!r}) to change its tags"
        )
    return experiment


def _check_unregistered(run_id: str, versions: Sequence[ModelVersion]) -> None:
    """A run that registered model versions point at is kept (their models live in it)."""
    if versions:
        named = ", ".join(f"{v.name}/{v.version}" for v in versions)
        raise InvalidInputError(
            f"run {run_id} holds registered model versions ({named}); it is kept"
        )


def _description(description: object) -> str | None:
    """A description as stored: text, or None for none ('' clears one too)."""
    if description is None or description == "":
        return None
    if not isinstance(description, str):
        raise InvalidInputError(f"a description is text, not {description!r}")
    check_text(description, "description")
    return description


def reaped(run: Run, now: int | None = None) -> Run:
    """``run`` as readers see it: a RUNNING run whose process is known to be gone is KILLED,
    ended at its last sign of life, with ``PRESUMED_KILLED_TAG``. Judged by the process itself
    where this host can see it (same boot and pid namespace), else by the heartbeat."""
    info = run.info
    if info.status is not RunStatus.RUNNING:
        return run
    tags = run.data.tags
    runner = tags.get(context.TAG_RUNNER)
    if runner is None:
        return run
    heartbeat = tags.get(context.TAG_HEARTBEAT)
    last_seen = int(heartbeat) if heartbeat and heartbeat.isdigit() else info.start_time
    now = _now_ms() if now is None else now
    alive = context.runner_is_alive(runner)
    if alive is None:
        alive = now - last_seen < STALE_SECONDS * 1000
    if alive:
        return run
    end_time = max(last_seen, info.start_time)
    return Run(
        info._replace(status=RunStatus.KILLED, end_time=end_time),
        run.data._replace(tags={**tags, PRESUMED_KILLED_TAG: str(now)}),
    )


def _needs_reaped_view(filters: Sequence[Comparison], order_by: Sequence[OrderBy]) -> bool:
    clauses: list[Comparison | OrderBy] = [*filters, *order_by]
    return any(c.entity == "attribute" and c.key in _REAPED_ATTRIBUTES for c in clauses)


class Tracking:
    """The ``Store`` protocol over an ``Engine``: every rule of tracking, once."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        # a local store keeps the artifact locations under its folder relative to it, and
        # resolves them on the way out: the folder can move (``stores.locations``)
        self.locations = Locations(home_of(engine))
        engine.artifact_root = self.locations.stored(engine.artifact_root)

    @property
    def artifact_root(self) -> str:
        """Where experiments created from now on keep artifacts (the engine's; a tracking
        server sets its artifacts destination here)."""
        return self.locations.resolved(self.engine.artifact_root)

    @artifact_root.setter
    def artifact_root(self, root: str) -> None:
        self.engine.artifact_root = self.locations.stored(root)

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.engine!r})"

    # experiments ------------------------------------------------------------------------------

    def get_or_create_experiment(
        self, name: str, *, creation_time: int | None = None
    ) -> Experiment:
        """The experiment called ``name``, created now if there is none. ``creation_time`` is
        for imports only (the time another system recorded): it is used where the experiment
        is created, never to change one that exists."""
        check_name(name, "experiment name")
        created = (
            _now_ms() if creation_time is None else to_timestamp("creation_time", creation_time)
        )
        found = self.engine.experiment_named(name)
        if found is None:
            found = self.engine.add_experiment(name, created)
        return self.locations.experiment(_refuse_deleted(found))

    def get_experiment(self, experiment_id: str) -> Experiment:
        found = self.engine.experiment(experiment_id)
        if found is None:
            raise NotFoundError("experiment", experiment_id)
        return self.locations.experiment(found)

    def get_experiment_by_name(self, name: str) -> Experiment | None:
        found = self.engine.experiment_named(name)
        return None if found is None else self.locations.experiment(found)

    def list_experiments(self, lifecycle: Lifecycle = "active") -> list[Experiment]:
        check_lifecycle(lifecycle)
        return [
            self.locations.experiment(e)
            for e in self.engine.experiments()
            if lifecycle == "all" or (e.deleted_time is None) == (lifecycle == "active")
        ]

    def rename_experiment(self, experiment_id: str, name: str) -> None:
        check_name(name, "experiment name")
        experiment = self.get_experiment(experiment_id)
        if experiment.name == name:
            return
        if not self.engine.set_experiment(experiment._replace(name=name)):
            taken = self.engine.experiment_named(name)
            taken_id = "?" if taken is None else taken.experiment_id
            raise InvalidInputError(f"experiment name {name!r} is taken (id {taken_id})")

    def delete_experiment(self, experiment_id: str, *, deleted_time: int | None = None) -> None:
        """Soft-delete the experiment, now or, for imports only, at ``deleted_time`` (the time
        another system deleted it); deleting it again changes nothing, its time included."""
        when = _now_ms() if deleted_time is None else to_timestamp("deleted_time", deleted_time)
        experiment = self.get_experiment(experiment_id)
        if experiment.deleted_time is None:
            self.engine.set_experiment(experiment._replace(deleted_time=when))

    def set_experiment_tag(self, experiment_id: str, key: str, value: str) -> None:
        """Set the experiment's tag (a key's value replaces the one before), under the rules
        of run tags; a deleted experiment takes no tags."""
        _check_tag(key, value)
        experiment = _tags_changeable(self.get_experiment(experiment_id))
        self.engine.set_experiment_tag(experiment.experiment_id, key, value)

    def delete_experiment_tag(self, experiment_id: str, key: str) -> None:
        """Remove the experiment's tag ``key``; removing it again (a retried request) changes
        nothing; a deleted experiment keeps its tags."""
        check_key(key)
        experiment = _tags_changeable(self.get_experiment(experiment_id))
        if key in experiment.tags:
            self.engine.set_experiment_tag(experiment.experiment_id, key, None)

    def restore_experiment(self, experiment_id: str) -> None:
        experiment = self.get_experiment(experiment_id)
        if experiment.deleted_time is not None:
            self.engine.set_experiment(experiment._replace(deleted_time=None))

    def purge_experiment(self, experiment_id: str) -> None:
        experiment = self.get_experiment(experiment_id)
        if experiment.deleted_time is None:
            raise InvalidInputError(
                f"experiment {experiment.name!r} is not deleted; delete it before purging"
            )
        runs = self.engine.find_runs([experiment_id], [], [], sys.maxsize, "all")
        for run in runs:
            _check_unregistered(run.info.run_id, self.engine.versions_of_run(run.info.run_id))
        self.engine.drop_experiment(experiment_id)

    # runs -------------------------------------------------------------------------------------

    def create_run(
        self,
        run_id: str,
        experiment_id: str,
        run_name: str,
        start_time: int,
        artifact_uri: str,
        parent_run_id: str | None,
        tags: Mapping[str, str],
    ) -> None:
        creation = RunCreation(
            experiment_id, run_name, start_time, artifact_uri, parent_run_id, tags
        )
        self.write_run(run_id, RunWrites(create=creation))

    def update_run(self, run_id: str, status: RunStatus, end_time: int | None) -> None:
        self.write_run(run_id, RunWrites(end=(_status(status), end_time)))

    def log_batch(
        self,
        run_id: str,
        metrics: Sequence[Metric] = (),
        params: Sequence[Param] = (),
        tags: Sequence[RunTag] = (),
        batch_id: str | None = None,
    ) -> None:
        self.write_run(
            run_id, RunWrites(metrics=metrics, params=params, tags=tags, batch_id=batch_id)
        )

    def record_artifact_hashes(self, run_id: str, hashes: Mapping[str, str]) -> None:
        self.write_run(run_id, RunWrites(hashes=hashes))

    def record_model(self, run_id: str, path: str, files: Mapping[str, str]) -> None:
        self.write_run(run_id, RunWrites(models={path: files}))

    def write_run(self, run_id: str, writes: RunWrites) -> None:
        """Everything in ``writes`` under the rules of the methods it stands for, in one unit
        of work: all of it is stored, or nothing."""
        check_writes(run_id, writes)
        create = writes.create
        if create is not None and self.engine.experiment(create.experiment_id) is None:
            raise NotFoundError("experiment", create.experiment_id)
        try:
            self._apply(run_id, writes)
        except StoreError:
            # An engine's encoding refused a value: say which, as the rule it breaks (checked
            # only now: a scan of every value of every batch costs a quarter of a batch's
            # write, for what the client and the server already checked)
            if writes.metrics:
                _check_numbers(writes.metrics)
            raise

    def _apply(self, run_id: str, writes: RunWrites) -> None:
        create = writes.create
        with self.engine.run_unit(run_id) as unit:
            if create is not None:
                located = self.locations.stored(create.artifact_uri)
                self._create(unit, run_id, create._replace(artifact_uri=located))
            info = unit.info()
            if info is None:
                raise NotFoundError("run", run_id)
            if writes.batch_id is not None and not unit.claim_batch(writes.batch_id):
                # stored before: a sender's retry; what else it carries was stored with it
                return
            if writes.metrics or writes.params:
                self._writable(unit, info)
            elif writes.tags:
                self._taggable(unit, info, {tag.key for tag in writes.tags})
            if writes.metrics or writes.params or writes.tags:
                self._add(unit, run_id, writes.metrics, writes.params, writes.tags)
            if writes.hashes:
                self._add_hashes(unit, run_id, info, writes.hashes)
            for path, files in (writes.models or {}).items():
                self._put_model(unit, run_id, info, path.strip("/"), files)
            if writes.end is not None:
                self._end(unit, run_id, info, *writes.end)

    @staticmethod
    def _create(unit: RunUnit, run_id: str, create: RunCreation) -> None:
        info = RunInfo(
            run_id,
            create.experiment_id,
            create.run_name,
            RunStatus.RUNNING,
            create.start_time,
            None,
            create.artifact_uri,
            create.parent_run_id,
        )
        if not unit.create(info, dict(create.tags)):
            raise InvalidInputError(f"run {run_id} already exists")

    @staticmethod
    def _presumed_killed(unit: RunUnit, info: RunInfo) -> bool:
        return info.status is RunStatus.KILLED and unit.tag(PRESUMED_KILLED_TAG) is not None

    def _writable(self, unit: RunUnit, info: RunInfo) -> None:
        if not takes_writes(info.status, self._presumed_killed(unit, info)):
            raise ended_error(info.run_id, info.status)

    def _taggable(self, unit: RunUnit, info: RunInfo, keys: set[str]) -> None:
        """Tags are metadata: a run that takes writes takes them, and so does one that has
        ended (as MLflow's runs do), unless it is deleted or they are ``LIVENESS_TAGS``."""
        if takes_writes(info.status, self._presumed_killed(unit, info)):
            return
        status = RunStatus(info.status).value
        if info.deleted_time is not None:
            raise RunStateError(
                f"run {info.run_id} is {status} and deleted: restore it to change its tags"
            )
        live = sorted(keys & LIVENESS_TAGS)
        if live:
            raise RunStateError(
                f"run {info.run_id} is {status}: {live[0]!r} says whether a run's process "
                "lives, and a run that has ended takes no such tag"
            )

    @staticmethod
    def _add(
        unit: RunUnit,
        run_id: str,
        metrics: Sequence[Metric],
        params: Sequence[Param],
        tags: Sequence[RunTag],
    ) -> None:
        new: list[Param] = []
        if params:
            final = dict(params)  # the last value of a key wins
            stored = unit.params(list(final))
            for key, value in params:
                old = stored.get(key)
                if old is not None and old != value:
                    raise ParamCollisionError(run_id, key, old, value)
            new = [Param(k, v) for k, v in sorted(final.items()) if k not in stored]
        if metrics or new or tags:
            unit.add(metrics, new, tags)

    def _add_hashes(
        self, unit: RunUnit, run_id: str, info: RunInfo, hashes: Mapping[str, str]
    ) -> None:
        self._writable(unit, info)
        inside = inside_models(hashes, unit.models())
        if inside:
            raise RunStateError(
                f"{inside[0]!r} is a file of a model of run {run_id}: only log_model writes it"
            )
        unit.add_hashes(hashes)

    def _put_model(
        self, unit: RunUnit, run_id: str, info: RunInfo, path: str, files: Mapping[str, str]
    ) -> None:
        self._writable(unit, info)
        registered = unit.registered_as(f"runs:/{run_id}/{path}")
        if registered is not None:
            raise RunStateError(
                f"model {path!r} of run {run_id} is registered as "
                f"{registered.name}/{registered.version}: it cannot be replaced"
            )
        unit.put_model(path, files, _now_ms())
        mark = f"{path}/{INCOMPLETE_MODEL}"
        unit.add_hashes({name: digest for name, digest in files.items() if name != mark})

    def _end(
        self, unit: RunUnit, run_id: str, info: RunInfo, status: RunStatus, end_time: int | None
    ) -> None:
        status = _status(status)
        if takes_writes(info.status, presumed := self._presumed_killed(unit, info)):
            unit.set_status(status, end_time)
            if presumed:  # the owner's end replaces a reader's presumption
                unit.untag(PRESUMED_KILLED_TAG)
            return
        if status is info.status and end_time == info.end_time:
            return  # the same end again: a retried write
        raise ended_error(run_id, info.status)

    def rename_run(self, run_id: str, name: str) -> None:
        """Give the run another name, checked as every run name; a run that has ended is
        renamed too (a name is metadata), a deleted one is not (``RunStateError``)."""
        check_storable("run id", run_id)
        check_name(name, "run name")
        with self._unit(run_id) as (unit, info):
            if info.deleted_time is not None:
                raise RunStateError(f"run {run_id} is deleted: restore it to rename it")
            if info.run_name != name:
                unit.set_name(name)

    def delete_tag(self, run_id: str, key: str) -> None:
        """Remove the run's tag ``key`` under the rules of setting one; a tag the run does not
        have is no change. ``PRESUMED_KILLED_TAG`` is autolog's to remove (the owner's end
        does): without it, a run read as killed would refuse its owner's writes."""
        check_storable("run id", run_id)
        check_key(key)
        if key == PRESUMED_KILLED_TAG:
            raise RunStateError(f"the tag {key!r} of run {run_id} is removed by autolog only")
        with self._unit(run_id) as (unit, info):
            self._taggable(unit, info, {key})
            if unit.tag(key) is not None:
                unit.untag(key)

    def get_run(self, run_id: str) -> Run:
        run = self.engine.run(run_id)
        if run is None:
            raise NotFoundError("run", run_id)
        return self.locations.run(reaped(run))

    def search_runs(
        self,
        experiment_ids: Sequence[str] | None,
        filters: Sequence[Comparison],
        order_by: Sequence[OrderBy],
        max_results: int,
        lifecycle: Lifecycle = "active",
    ) -> list[Run]:
        check_lifecycle(lifecycle)
        if not _needs_reaped_view(filters, order_by):
            found = self.engine.find_runs(experiment_ids, filters, order_by, max_results, lifecycle)
            return self.locations.runs(reaped(run) for run in found)
        judged = self._judged(experiment_ids, filters, order_by, lifecycle)
        return self.locations.runs(judged[:max_results])

    def _judged(
        self,
        experiment_ids: Sequence[str] | None,
        filters: Sequence[Comparison],
        order_by: Sequence[OrderBy],
        lifecycle: Lifecycle,
    ) -> list[Run]:
        """Matches of a search on what a reaped run changes, judged here on reaped runs: the
        engine filters what it can, this sorts and filters the rest."""
        kept = [c for c in filters if not (c.entity == "attribute" and c.key in _REAPED_ATTRIBUTES)]
        now = _now_ms()
        found = self.engine.find_runs(experiment_ids, kept, [], sys.maxsize, lifecycle)
        runs = [r for r in (reaped(run, now) for run in found) if matches(r, filters)]
        return sort_runs(runs, order_by)

    def search_run_page(
        self,
        experiment_ids: Sequence[str] | None,
        filters: Sequence[Comparison],
        order_by: Sequence[OrderBy],
        offset: int,
        limit: int,
        top_level: bool = False,
        lifecycle: Lifecycle = "active",
    ) -> RunPage:
        check_lifecycle(lifecycle)
        check_page(offset, limit)
        if _needs_reaped_view(filters, order_by):
            matching = self._judged(experiment_ids, filters, order_by, lifecycle)
            return self.locations.page(page_runs(matching, offset, limit, top_level=top_level))
        page = self.engine.find_run_page(
            experiment_ids, filters, order_by, offset, limit, top_level, lifecycle
        )
        now = _now_ms()
        return page._replace(runs=self.locations.runs(reaped(run, now) for run in page.runs))

    def delete_run(self, run_id: str) -> None:
        with self._unit(run_id) as (unit, info):
            if info.deleted_time is None:
                unit.set_deleted(_now_ms())

    def restore_run(self, run_id: str) -> None:
        with self._unit(run_id) as (unit, info):
            if info.deleted_time is not None:
                unit.set_deleted(None)

    def purge_run(self, run_id: str) -> None:
        run = self.engine.run(run_id)
        if run is None:
            raise NotFoundError("run", run_id)
        if run.info.deleted_time is None:
            raise InvalidInputError(f"run {run_id} is not deleted; delete it before purging")
        _check_unregistered(run_id, self.engine.versions_of_run(run_id))
        self.engine.drop_run(run_id)

    @contextmanager
    def _unit(self, run_id: str) -> Iterator[tuple[RunUnit, RunInfo]]:
        with self.engine.run_unit(run_id) as unit:
            info = unit.info()
            if info is None:
                raise NotFoundError("run", run_id)
            yield unit, info

    def get_metric_history(self, run_id: str, key: str) -> list[Metric]:
        history = self.engine.metric_history(run_id, key)
        if history is None:
            raise NotFoundError("run", run_id)
        return history

    def get_metric_columns(
        self, run_id: str, key: str, min_step: int | None = None, max_step: int | None = None
    ) -> MetricColumns:
        columns = self.engine.metric_columns(run_id, key, min_step, max_step)
        if columns is None:
            raise NotFoundError("run", run_id)
        return columns

    def get_artifact_hashes(self, run_id: str, prefix: str = "") -> dict[str, str]:
        return self.engine.artifact_hashes(run_id, prefix.strip("/"))

    def get_model_files(self, run_id: str, path: str) -> dict[str, str] | None:
        return self.engine.model_files(run_id, path.strip("/"))

    # model registry ---------------------------------------------------------------------------

    def create_model_version(self, name: str, source: str, run_id: str | None) -> ModelVersion:
        check_model_name(name)  # a name the client can address in a models:/ URI
        check_storable("model source", source)
        path = _model_path(run_id or "", source)
        if run_id is None:
            raise NotFoundError("model", source)
        # in the run's unit: the model is not recorded again between this check and the
        # registration (``record_model`` refuses a registered one)
        with self.engine.run_unit(run_id) as unit:
            files = unit.models().get(path) if unit.info() is not None else None
            if files is None:
                raise NotFoundError("model", source)
            if incomplete_model(path, files):
                raise RunStateError(
                    f"model {path!r} of run {run_id} is incomplete (the process logging it "
                    "stopped before all of its files were written): it cannot be registered"
                )
            return unit.register(name, source, _now_ms())

    def get_model_version(self, name: str, version: int) -> ModelVersion:
        found = None if not 0 < version < 2**63 else self.engine.model_version(name, version)
        if found is None:
            raise NotFoundError("model version", f"{name}/{version}")
        return found

    def set_model_alias(self, name: str, alias: str, version: int) -> None:
        check_model_name(name)
        check_alias(alias)  # so that models:/NAME@ALIAS names it
        self.get_model_version(name, version)
        self.engine.set_alias(name, alias, version)

    def get_model_version_by_alias(self, name: str, alias: str) -> ModelVersion:
        version = self.engine.alias_version(name, alias)
        if version is None:
            raise NotFoundError("model alias", f"{name}@{alias}")
        return self.get_model_version(name, version)

    def list_model_versions(self, name: str | None = None) -> list[ModelVersion]:
        return self.engine.model_versions(name)

    def get_registered_model(self, name: str) -> RegisteredModel:
        found = self.engine.registered_model(name)
        if found is None:
            raise NotFoundError("registered model", name)
        return found

    def search_registered_models(
        self, filter_string: str = "", max_results: int = 100
    ) -> list[RegisteredModel]:
        conditions = parse_model_filter(filter_string)
        if isinstance(max_results, bool) or not isinstance(max_results, int) or max_results < 1:
            raise InvalidInputError(f"max_results is a positive integer, not {max_results!r}")
        return matching(self.engine.registered_models(), conditions)[:max_results]

    def delete_model_version(self, name: str, version: int) -> None:
        self.get_model_version(name, version)
        self.engine.drop_model_version(name, version, _now_ms())

    def delete_registered_model(self, name: str) -> None:
        self.get_registered_model(name)
        self.engine.drop_registered_model(name)

    def delete_model_alias(self, name: str, alias: str) -> None:
        if not self.engine.drop_alias(name, alias):
            raise NotFoundError("model alias", f"{name}@{alias}")

    def rename_registered_model(self, name: str, new_name: str) -> None:
        check_model_name(new_name)
        self.get_registered_model(name)
        if new_name == name:
            return
        if not self.engine.rename_model(name, new_name, _now_ms()):
            raise InvalidInputError(
                f"registered model name {new_name!r} is taken: delete or rename that model first"
            )

    def update_registered_model(self, name: str, description: str | None) -> None:
        self.get_registered_model(name)
        self.engine.describe_model(name, None, _description(description), _now_ms())

    def update_model_version(self, name: str, version: int, description: str | None) -> None:
        self.get_model_version(name, version)
        self.engine.describe_model(name, version, _description(description), _now_ms())

    def set_registered_model_tag(self, name: str, key: str, value: str) -> None:
        self._tag_model(name, None, key, value)

    def delete_registered_model_tag(self, name: str, key: str) -> None:
        self._tag_model(name, None, key, None)

    def set_model_version_tag(self, name: str, version: int, key: str, value: str) -> None:
        self._tag_model(name, version, key, value)

    def delete_model_version_tag(self, name: str, version: int, key: str) -> None:
        self._tag_model(name, version, key, None)

    def _tag_model(self, name: str, version: int | None, key: str, value: str | None) -> None:
        """Set (``value`` None: delete) a tag of model ``name`` or of one of its versions; a tag
        deleted that is not there is ``NotFoundError``, as an unknown model or version."""
        if value is None:
            check_key(key)
        else:
            _check_tag(key, value)
        if version is None:
            tags = self.get_registered_model(name).tags
            where = name
        else:
            tags = self.get_model_version(name, version).tags
            where = f"{name}/{version}"
        if value is None and key not in tags:
            raise NotFoundError("tag", f"{key} of model {where}")
        self.engine.tag_model(name, version, key, value, _now_ms())

    # access tokens ----------------------------------------------------------------------------

    def create_token(self, token: AccessToken) -> None:
        check_storable("token", token.token_id, token.name)
        if self.engine.token(token.token_id) is not None:
            raise InvalidInputError(f"a token with id {token.token_id!r} exists already")
        if not self.engine.add_token(token):
            raise InvalidInputError(f"a token named {token.name!r} exists already")

    def get_token(self, token_id: str) -> AccessToken | None:
        return self.engine.token(token_id)

    def list_tokens(self) -> list[AccessToken]:
        return self.engine.tokens()

    def revoke_token(self, name: str) -> None:
        if not self.engine.drop_token(name):
            raise NotFoundError("token", name)

    def close(self) -> None:
        self.engine.close()
