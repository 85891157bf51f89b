"""``autolog import-mlflow SOURCE``: move an MLflow tracking store into autolog's.

Experiments (by name, with their tags and MLflow's creation and deletion times), runs with
their ids, names, status, times and parent links, params, tags, every value of every metric,
and artifacts (copied, each hashed as ours are) go through the ``Store`` protocol, so the target
may be any store, a tracking server included. A run is written whole, and marked imported
last: importing again skips what is there and finishes a run an interrupted import left half
written.

MLflow's models come too (see ``_mlflow_models``): model folders in run artifacts and MLflow
3's logged models, as autolog models of their run with every file's hash recorded at the
import, and the model registry (names, versions, aliases, tags, descriptions) over them.

A run still RUNNING in MLflow arrives RUNNING, as it was at the import (tagged with MLflow's
status and the import's time; nothing here ends it or takes it for dead). Importing again
brings in what it logged since, each value once, and its end once MLflow has one.
"""

from __future__ import annotations

import math
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, NamedTuple

import click

from autolog.cli._common import open_client, tracking_uri_option

if TYPE_CHECKING:
    from autolog.cli._mlflow import MlflowExperiment, MlflowRun, Point, Source
    from autolog.cli._mlflow_models import LoggedModel, Planned
    from autolog.entities import Experiment, Metric, Run
    from autolog.stores.base import Store

__all__ = [
    "TAG_IMPORTED",
    "TAG_IMPORT_TIME",
    "TAG_MLFLOW_EXPERIMENT",
    "TAG_MLFLOW_RUN",
    "TAG_MLFLOW_STATUS",
    "TAG_SOURCE",
    "Summary",
    "command",
    "import_store",
]

TAG_MLFLOW_RUN = "autolog.mlflow.run_id"
#: on experiments and runs: the experiment's id in MLflow
TAG_MLFLOW_EXPERIMENT = "autolog.mlflow.experiment_id"
TAG_SOURCE = "autolog.import.source"
#: written last: the run is complete
TAG_IMPORTED = "autolog.import.complete"
#: MLflow's status of the run when last imported (RUNNING or SCHEDULED: the run is RUNNING
#: here, as it was there at that import)
TAG_MLFLOW_STATUS = "autolog.mlflow.status"
#: when the last import that found the run running read it (milliseconds)
TAG_IMPORT_TIME = "autolog.import.time"
_ENDED = ("FINISHED", "FAILED", "KILLED")
# MLflow's context tags and ours
_SAME_TAGS = {
    "mlflow.user": "autolog.user",
    "mlflow.source.name": "autolog.source.name",
    "mlflow.source.git.commit": "autolog.git.commit",
    "mlflow.source.git.branch": "autolog.git.branch",
    "mlflow.parentRunId": "autolog.parentRunId",
}
_BATCH = 50_000


class Summary:
    """What was imported, what was skipped and why: the lines printed at the end."""

    def __init__(self) -> None:
        self.experiments = 0
        self.experiment_tags = 0
        self.runs = 0
        self.params = 0
        self.metric_values = 0
        self.tags = 0
        self.artifacts = 0
        self.artifact_bytes = 0
        self.running = 0
        self.caught_up = 0
        self.ended = 0
        self.skipped_present = 0
        self.skipped_deleted = 0
        self.resumed = 0
        #: "experiment 'mnist': MLflow id 5189... is 1 here (new)", one per experiment
        self.mapped: list[str] = []
        self.notes: list[str] = []
        from autolog.cli._mlflow_models import ModelCounts

        self.models = ModelCounts()
        #: MLflow 3 logged model id -> (run id, path) of the model here
        self.located: dict[str, tuple[str, str]] = {}
        #: the runs whose models were looked at
        self.planned_runs: set[str] = set()

    def line(self) -> str:
        parts = [
            f"imported {self.runs} runs into {self.experiments} experiments: "
            f"{self.params} params, {self.tags} tags, {self.metric_values} metric values, "
            f"{self.artifacts} artifact files ({self.artifact_bytes} bytes), "
            f"{self.experiment_tags} experiment tags"
        ]
        if self.running:
            parts.append(
                f"{self.running} runs still RUNNING in MLflow arrived running "
                "(import again for what they log next and their end)"
            )
        if self.caught_up:
            parts.append(
                f"{self.caught_up} runs running at the last import brought up to date "
                f"({self.ended} ended since)"
            )
        if self.skipped_present:
            parts.append(f"{self.skipped_present} runs were imported before")
        if self.skipped_deleted:
            parts.append(
                f"{self.skipped_deleted} runs deleted in MLflow left out (--include-deleted)"
            )
        if self.resumed:
            parts.append(f"{self.resumed} half-imported runs redone")
        parts.extend(self.models.parts())
        return "; ".join(parts)


@click.command(
    "import-mlflow",
    epilog="""Examples:

\b
  autolog import-mlflow ./mlruns
  autolog import-mlflow mlflow.db --tracking-uri sqlite:///team.db
  autolog import-mlflow sqlite:////srv/mlflow/mlflow.db --include-deleted""",
)
@click.argument("source")
@click.option(
    "--include-deleted",
    is_flag=True,
    help="also import runs and experiments deleted in MLflow (they arrive deleted)",
)
@tracking_uri_option
def command(source: str, include_deleted: bool, tracking_uri: str | None) -> None:
    """Import an MLflow tracking store (an mlruns folder or an MLflow SQLite database) into
    this store: experiments (tags, creation and deletion times), runs (names, status, times,
    parent links), params, tags, every metric's history, artifacts, copied and hashed, and
    MLflow's models (sklearn models become autolog models, hashed at the import, nothing
    unpickled) with its model registry. MLflow itself is not needed.

    Running it again imports nothing twice, and brings runs that were still running up to
    date. Runs keep their MLflow ids; each experiment's MLflow id is printed with its id here.
    """
    from autolog.cli._mlflow import open_source
    from autolog.stores.common import redact_uri

    reader = open_source(source)
    try:
        client = open_client(tracking_uri, create=True)
        click.echo(
            f"importing {reader.location.resolve()} into {redact_uri(client.tracking_uri)}",
            err=True,
        )
        summary = import_store(reader, client.store, source, include_deleted=include_deleted)
    finally:
        reader.close()
    for note in summary.notes:
        click.echo(f"note: {note}", err=True)
    for line in summary.mapped:
        click.echo(line)
    click.echo(summary.line())


def import_store(
    reader: Source, store: Store, source: str, *, include_deleted: bool = False
) -> Summary:
    from autolog.cli._mlflow_models import import_registry, logged_models

    summary = Summary()
    logged = logged_models(reader)
    experiments = [e for e in reader.experiments() if include_deleted or not e.deleted]
    plan = []
    for experiment in experiments:
        runs = reader.runs(experiment.experiment_id)
        kept = [r for r in runs if include_deleted or not r.deleted]
        summary.skipped_deleted += len(runs) - len(kept)
        plan.append((experiment, _parents_first(kept)))
    total = sum(len(runs) for _, runs in plan)
    with _progress(total) as advance:
        for experiment, runs in plan:
            target = _experiment(store, experiment, len(runs), summary)
            if target is None:
                advance(len(runs))
                continue
            for run in runs:
                _import_run(reader, store, target, run, source, summary, logged)
                advance(1)
            if experiment.deleted:
                store.delete_experiment(target.experiment_id, deleted_time=experiment.deleted_time)
    for model in logged:
        if model.model_id not in summary.located and model.run_id not in summary.planned_runs:
            summary.models.left_out.append(
                f"logged model {model.model_id} ({model.name!r}): made by no imported run"
            )
    import_registry(reader, store, summary.located, summary.models)
    return summary


def _experiment(
    store: Store, experiment: MlflowExperiment, runs: int, summary: Summary
) -> Experiment | None:
    """The experiment here that ``experiment``'s ``runs`` go to, with its MLflow tags; None
    (and why, in the summary) where they cannot go."""
    from autolog.errors import InvalidInputError

    name, mlflow_id = experiment.name, experiment.experiment_id
    found = store.get_experiment_by_name(name)
    if found is not None and found.deleted_time is not None:
        if experiment.deleted:  # deleted there, and so here by an earlier import
            summary.mapped.append(_mapped(experiment, found, "deleted, imported before"))
            summary.skipped_present += runs
        else:
            summary.mapped.append(_mapped(experiment, found, "deleted here: not imported"))
            summary.notes.append(
                f"experiment {name!r} is deleted here: its runs were not imported "
                f"(autolog experiments restore {name!r}, then import again)"
            )
        return None
    try:
        target = store.get_or_create_experiment(name, creation_time=experiment.creation_time)
    except InvalidInputError as exc:
        summary.notes.append(f"MLflow experiment {mlflow_id} not imported: {exc}")
        return None
    if found is None:
        summary.experiments += 1
    summary.mapped.append(_mapped(experiment, target, "existing" if found else "new"))
    wanted = _valid_tags(experiment.tags, f"experiment {name!r}", summary)
    wanted[TAG_MLFLOW_EXPERIMENT] = mlflow_id
    for key, value in wanted.items():
        if target.tags.get(key) != value:
            store.set_experiment_tag(target.experiment_id, key, value)
            summary.experiment_tags += 1
    return target


def _mapped(experiment: MlflowExperiment, target: Experiment, how: str) -> str:
    return (
        f"experiment {experiment.name!r}: MLflow id {experiment.experiment_id} "
        f"is {target.experiment_id} here ({how})"
    )


def _valid_tags(tags: Mapping[str, str], where: str, summary: Summary) -> dict[str, str]:
    """The tags whose keys and values autolog can hold; the others named in a note."""
    from autolog.errors import AutologError
    from autolog.validation import check_key, stringify

    kept, dropped = {}, []
    for key, value in tags.items():
        try:
            kept[check_key(key)] = stringify(key, value)
        except AutologError:
            dropped.append(key)
    if dropped:
        summary.notes.append(f"{where}: left out tags autolog cannot hold: {_listed(dropped)}")
    return kept


def _listed(keys: Iterable[str]) -> str:
    return ", ".join(map(repr, keys))


def _parents_first(runs: list[MlflowRun]) -> list[MlflowRun]:
    by_id = {r.run_id: r for r in runs}
    ordered: list[MlflowRun] = []
    seen: set[str] = set()

    def visit(run: MlflowRun, trail: frozenset[str]) -> None:
        if run.run_id in seen:
            return
        parent = by_id.get(run.tags.get("mlflow.parentRunId", ""))
        if parent is not None and parent.run_id not in trail:
            visit(parent, trail | {run.run_id})
        seen.add(run.run_id)
        ordered.append(run)

    for run in runs:
        visit(run, frozenset())
    return ordered


class _Keys:
    """The keys of one run autolog can hold; the others are named once in a note."""

    def __init__(self) -> None:
        self.dropped: list[str] = []

    def valid(self, key: str) -> bool:
        from autolog.errors import AutologError
        from autolog.validation import check_key

        try:
            check_key(key)
        except AutologError:
            if key not in self.dropped:
                self.dropped.append(key)
            return False
        return True

    def note(self, run: MlflowRun, summary: Summary) -> None:
        if self.dropped:
            summary.notes.append(
                f"run {run.run_id}: left out keys autolog cannot hold: {_listed(self.dropped)}"
            )


class _Added(NamedTuple):
    """What one run's import wrote."""

    params: int
    tags: int
    metric_values: int
    artifacts: int
    artifact_bytes: int


def _import_run(
    reader: Source,
    store: Store,
    experiment: Experiment,
    run: MlflowRun,
    source: str,
    summary: Summary,
    logged: list[LoggedModel],
) -> None:
    from autolog.cli._mlflow_models import run_models
    from autolog.entities import RunStatus
    from autolog.errors import NotFoundError

    try:
        present = store.get_run(run.run_id)
    except NotFoundError:
        present = None
    keys = _Keys()
    planned = run_models(run, reader.artifacts(run), logged)
    summary.planned_runs.add(run.run_id)
    for model in planned:
        if model.model_id is not None and model.meta is not None:
            summary.located[model.model_id] = (run.run_id, model.path)
    if present is not None:
        if present.data.tags.get(TAG_MLFLOW_RUN) != run.run_id:
            summary.notes.append(f"run {run.run_id} exists here already and is not an import")
            return
        if TAG_IMPORTED in present.data.tags:
            if present.info.status is not RunStatus.RUNNING:
                summary.skipped_present += 1
                _models_lacking(store, present, planned, summary)
                return
            # running at the last import: what it logged since, and its end if it has one
            _models_left(planned, run, summary, "the run was running at the last import")
            added = _catch_up(reader, store, present, run, source, keys)
            summary.caught_up += 1
            summary.ended += run.status in _ENDED
            _count(summary, added)
            keys.note(run, summary)
            return
        # an import cut short: its run is written again from the start
        store.delete_run(run.run_id)
        store.purge_run(run.run_id)
        summary.resumed += 1
    added = _first_import(reader, store, experiment, run, source, keys, planned)
    summary.models.models += sum(model.meta is not None for model in planned)
    _models_left(planned, run, summary)
    summary.runs += 1
    summary.running += run.status not in _ENDED
    _count(summary, added)
    keys.note(run, summary)


def _models_lacking(store: Store, present: Run, planned: list[Planned], summary: Summary) -> None:
    """Name the models a run imported before lacks: an earlier autolog copied MLflow's model
    folders as plain files and left MLflow 3's logged models out. A run that has ended takes
    no new model (its record is final), so the summary says how to bring them: the run
    deleted for good here, then imported again."""
    from autolog.cli._mlflow_models import needs_model

    run_id = present.info.run_id
    for model in planned:
        if model.meta is not None and needs_model(store, run_id, model.path):
            summary.models.left_out.append(
                f"model {model.path!r} of run {run_id}: the run was imported before autolog "
                f"imported models, and an ended run takes no new model (`autolog runs delete "
                f"{run_id} && autolog gc`, then import again, brings it)"
            )


def _models_left(
    planned: list[Planned], run: MlflowRun, summary: Summary, because: str | None = None
) -> None:
    """Say why the models of ``run`` that are not imported are not (``because``: all of
    them; those in its artifacts are copied as files)."""
    for model in planned:
        reason = because or model.reason
        if reason is None:
            continue
        what = f"logged model {model.model_id}" if model.model_id else "model"
        line = f"{what} {model.path!r} of run {run.run_id}: {reason}"
        if because is None and model.meta is not None:
            summary.notes.append(line)  # imported, without a part of its signature
        else:
            summary.models.left_out.append(line)


def _count(summary: Summary, added: _Added) -> None:
    summary.params += added.params
    summary.tags += added.tags
    summary.metric_values += added.metric_values
    summary.artifacts += added.artifacts
    summary.artifact_bytes += added.artifact_bytes


def _first_import(
    reader: Source,
    store: Store,
    experiment: Experiment,
    run: MlflowRun,
    source: str,
    keys: _Keys,
    planned: list[Planned],
) -> _Added:
    from autolog.artifacts import artifact_repository
    from autolog.cli._mlflow_models import write_model
    from autolog.entities import Param, RunTag

    parent = run.tags.get("mlflow.parentRunId") or None
    tags = _tags(run, source, keys.valid)
    artifact_uri = f"{experiment.artifact_location}/{run.run_id}/artifacts"
    store.create_run(
        run.run_id,
        experiment.experiment_id,
        run.name or run.run_id[:8],
        run.start_time,
        artifact_uri,
        parent,
        tags,
    )
    params = [Param(k, v) for k, v in sorted(run.params.items()) if keys.valid(k)]
    store.log_batch(run.run_id, params=params)
    histories = {k: points for k, points in reader.metrics(run).items() if keys.valid(k)}
    values = _log_points(store, run.run_id, histories)
    models = [model for model in planned if model.meta is not None]
    skipped = tuple(f"{model.path}/" for model in models if model.model_id is None)
    copied, size = _copy_artifacts(reader, store, run, artifact_uri, {}, skipped)
    if models:
        repository = artifact_repository(artifact_uri, store=store, run_id=run.run_id)
        for model in models:
            write_model(store, repository, run.run_id, model)
    store.log_batch(run.run_id, tags=[RunTag(TAG_IMPORTED, "true")])
    _end(store, run, histories)
    return _Added(len(params), len(tags), values, copied, size)


def _catch_up(
    reader: Source, store: Store, present: Run, run: MlflowRun, source: str, keys: _Keys
) -> _Added:
    """Bring a run that was running at the last import up to date: the params, tags, metric
    values and artifacts it logged since (each value once: a history here is MLflow's, value
    for value), then its end, if MLflow has one."""
    from autolog.entities import Param, RunTag

    ours = present.data
    params = [
        Param(k, v) for k, v in sorted(run.params.items()) if k not in ours.params and keys.valid(k)
    ]
    wanted = _tags(run, source, keys.valid)
    tags = [RunTag(k, v) for k, v in wanted.items() if ours.tags.get(k) != v]
    histories = {k: points for k, points in reader.metrics(run).items() if keys.valid(k)}
    new = {
        key: _not_stored(
            points, store.get_metric_history(run.run_id, key) if key in ours.metrics else []
        )
        for key, points in histories.items()
    }
    store.log_batch(run.run_id, params=params, tags=tags)
    values = _log_points(store, run.run_id, new)
    hashes = store.get_artifact_hashes(run.run_id)
    copied, size = _copy_artifacts(reader, store, run, present.info.artifact_uri, hashes)
    _end(store, run, histories)
    return _Added(len(params), len(tags), values, copied, size)


def _end(store: Store, run: MlflowRun, histories: Mapping[str, list[Point]]) -> None:
    """End the run as MLflow did; leave it RUNNING while MLflow's is not ended; delete it if
    MLflow did (runs are imported RUNNING, so deleting comes last)."""
    from autolog.entities import RunStatus

    if run.status in _ENDED:
        last_time = max((t for points in histories.values() for t, _, _ in points), default=0)
        end_time = run.end_time if run.end_time is not None else max(last_time, run.start_time)
        store.update_run(run.run_id, RunStatus(run.status), end_time)
    if run.deleted:  # deleting it again (a run caught up) changes nothing
        store.delete_run(run.run_id)


def _tags(run: MlflowRun, source: str, valid: Callable[[str], bool]) -> dict[str, str]:
    """MLflow's tags as they are, ours beside them, and where the run came from; for a run
    MLflow had not ended, its status there and when that was read."""
    tags = {k: v for k, v in run.tags.items() if valid(k)}
    for theirs, ours in _SAME_TAGS.items():
        if theirs in run.tags and ours not in tags:
            tags[ours] = run.tags[theirs]
    tags[TAG_MLFLOW_RUN] = run.run_id
    tags[TAG_MLFLOW_EXPERIMENT] = run.experiment_id
    tags[TAG_SOURCE] = source
    tags[TAG_MLFLOW_STATUS] = run.status
    if run.status not in _ENDED:  # RUNNING as of this import
        tags[TAG_IMPORT_TIME] = str(time.time_ns() // 1_000_000)
    return tags


def _log_points(store: Store, run_id: str, histories: Mapping[str, list[Point]]) -> int:
    from autolog.entities import Metric

    metrics = [
        Metric(key, value, step, timestamp)
        for key, points in sorted(histories.items())
        for timestamp, value, step in points
    ]
    for start in range(0, len(metrics), _BATCH):
        store.log_batch(run_id, metrics=metrics[start : start + _BATCH])
    return len(metrics)


def _not_stored(theirs: list[Point], ours: list[Metric]) -> list[Point]:
    """The values of MLflow's history ``theirs`` that the history here lacks, counted: a
    value MLflow holds twice is stored twice, and one stored here already is not again."""
    stored = Counter(_same(m.timestamp, m.value, m.step) for m in ours)
    new = []
    for point in theirs:
        key = _same(*point)
        if stored[key]:
            stored[key] -= 1
        else:
            new.append(point)
    return new


def _same(timestamp: int, value: float, step: int) -> tuple[int, int, float | str]:
    """A metric value as compared between MLflow and here (every NaN is the same NaN)."""
    return timestamp, step, "NaN" if math.isnan(value) else value


def _copy_artifacts(
    reader: Source,
    store: Store,
    run: MlflowRun,
    artifact_uri: str,
    stored: Mapping[str, str],
    models: tuple[str, ...] = (),
) -> tuple[int, int]:
    """Copy the run's artifacts, but those ``stored`` already with the same content and the
    files of the model folders ``models`` (``path/``: imported as models)."""
    from autolog.artifacts import artifact_repository
    from autolog.validation import check_artifact_path

    folder = reader.artifacts(run)
    if folder is None:
        return 0, 0
    from autolog.artifacts.local import sha256_file

    repository = artifact_repository(artifact_uri, store=store, run_id=run.run_id)
    hashes = {}
    size = 0
    for path in sorted(folder.rglob("*")):
        if not path.is_file() or path.is_symlink():
            continue  # a link could point anywhere: only the store's own files are copied
        relative = check_artifact_path(path.relative_to(folder).as_posix())
        if relative.startswith(models):
            continue
        if relative in stored and stored[relative] == sha256_file(path):
            continue
        hashes[relative] = repository.put_file(path, relative)
        size += path.stat().st_size
    if hashes:
        store.record_artifact_hashes(run.run_id, hashes)
    return len(hashes), size


@contextmanager
def _progress(total: int) -> Iterator[Callable[[int], None]]:
    """A progress bar over runs on stderr, where stderr is a terminal."""
    if total == 0 or not sys.stderr.isatty():
        yield lambda n: None
        return
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeRemainingColumn

    progress: Any = Progress(
        "importing runs",
        BarColumn(),
        MofNCompleteColumn(),
        TimeRemainingColumn(),
        console=Console(stderr=True),
        transient=True,
    )
    with progress:
        task = progress.add_task("import", total=total)
        yield lambda n: progress.advance(task, n)
