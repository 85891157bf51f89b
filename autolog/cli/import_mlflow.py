"""``autolog import-mlflow SOURCE``: move an MLflow tracking store into autolog's.

Experiments (by name), runs with their ids, names, status, times and parent links, params,
tags, every value of every metric, and artifacts (copied, each hashed as ours are) go through
the ``Store`` protocol, so the target may be any store, a tracking server included. A run is
written whole, and marked imported last: importing again skips what is there and finishes a
run an interrupted import left half written.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

import click

from autolog.cli._common import open_client, tracking_uri_option

if TYPE_CHECKING:
    from autolog.cli._mlflow import MlflowRun, Source
    from autolog.entities import Experiment
    from autolog.stores.base import Store

__all__ = ["TAG_IMPORTED", "TAG_MLFLOW_RUN", "TAG_SOURCE", "Summary", "command", "import_store"]

TAG_MLFLOW_RUN = "autolog.mlflow.run_id"
TAG_SOURCE = "autolog.import.source"
#: written last: the run is complete
TAG_IMPORTED = "autolog.import.complete"
TAG_ORIGINAL_STATUS = "autolog.mlflow.status"
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
    """Counts for the line printed at the end."""

    def __init__(self) -> None:
        self.experiments = 0
        self.runs = 0
        self.params = 0
        self.metric_values = 0
        self.tags = 0
        self.artifacts = 0
        self.artifact_bytes = 0
        self.skipped_present = 0
        self.skipped_deleted = 0
        self.resumed = 0
        self.notes: list[str] = []

    def line(self) -> str:
        parts = [
            f"imported {self.runs} runs into {self.experiments} experiments: "
            f"{self.params} params, {self.tags} tags, {self.metric_values} metric values, "
            f"{self.artifacts} artifact files ({self.artifact_bytes} bytes)"
        ]
        if self.skipped_present:
            parts.append(f"{self.skipped_present} runs were imported before")
        if self.skipped_deleted:
            parts.append(f"{self.skipped_deleted} runs deleted in MLflow left out")
        if self.resumed:
            parts.append(f"{self.resumed} half-imported runs redone")
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
    this store: experiments, runs (names, status, times, parent links), params, tags, every
    metric's history, and artifacts, copied and hashed. MLflow itself is not needed.

    Running it again imports nothing twice. Runs keep their MLflow ids.
    """
    from autolog.cli._mlflow import open_source

    reader = open_source(source)
    try:
        client = open_client(tracking_uri, create=True)
        summary = import_store(reader, client.store, source, include_deleted=include_deleted)
    finally:
        reader.close()
    for note in summary.notes:
        click.echo(f"note: {note}", err=True)
    click.echo(summary.line())


def import_store(
    reader: Source, store: Store, source: str, *, include_deleted: bool = False
) -> Summary:
    summary = Summary()
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
            found = store.get_experiment_by_name(experiment.name)
            if found is not None and found.deleted_time is not None:
                if experiment.deleted:  # deleted there, and so here by an earlier import
                    summary.skipped_present += len(runs)
                else:
                    summary.notes.append(
                        f"experiment {experiment.name!r} is deleted here: "
                        f"its {len(runs)} runs were not imported"
                    )
                advance(len(runs))
                continue
            target = _experiment(store, experiment.name, summary)
            if target is None:
                advance(len(runs))
                continue
            for run in runs:
                _import_run(reader, store, target, run, source, summary)
                advance(1)
            if experiment.deleted:
                store.delete_experiment(target.experiment_id)
    return summary


def _experiment(store: Store, name: str, summary: Summary) -> Experiment | None:
    from autolog.errors import InvalidInputError

    found = store.get_experiment_by_name(name)
    try:
        experiment = store.get_or_create_experiment(name)
    except InvalidInputError as exc:
        summary.notes.append(str(exc))
        return None
    if found is None:
        summary.experiments += 1
    return experiment


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


def _import_run(
    reader: Source,
    store: Store,
    experiment: Experiment,
    run: MlflowRun,
    source: str,
    summary: Summary,
) -> None:
    from autolog.entities import Metric, Param, RunStatus, RunTag
    from autolog.errors import NotFoundError
    from autolog.validation import check_key

    try:
        present = store.get_run(run.run_id)
    except NotFoundError:
        present = None
    if present is not None:
        if present.data.tags.get(TAG_MLFLOW_RUN) != run.run_id:
            summary.notes.append(f"run {run.run_id} exists here already and is not an import")
            return
        if TAG_IMPORTED in present.data.tags:
            summary.skipped_present += 1
            return
        # an import cut short: its run is written again from the start
        store.delete_run(run.run_id)
        store.purge_run(run.run_id)
        summary.resumed += 1

    dropped: list[str] = []

    def valid(key: str) -> bool:
        try:
            check_key(key)
        except Exception:
            dropped.append(key)
            return False
        return True

    # A run still RUNNING (or SCHEDULED) in MLflow is a snapshot here: nothing will end it.
    status = run.status if run.status in ("FINISHED", "FAILED", "KILLED") else "KILLED"
    parent = run.tags.get("mlflow.parentRunId") or None
    tags = _tags(run, source, status, valid)
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
    params = [Param(k, v) for k, v in sorted(run.params.items()) if valid(k)]
    metrics = [
        Metric(key, value, step, timestamp)
        for key, points in sorted(reader.metrics(run).items())
        if valid(key)
        for timestamp, value, step in points
    ]
    last_time = max((m.timestamp for m in metrics), default=run.start_time)
    store.log_batch(run.run_id, params=params)
    for start in range(0, len(metrics), _BATCH):
        store.log_batch(run.run_id, metrics=metrics[start : start + _BATCH])
    copied, size = _copy_artifacts(reader, store, run, artifact_uri)
    store.log_batch(run.run_id, tags=[RunTag(TAG_IMPORTED, "true")])
    end_time = run.end_time if run.end_time is not None else max(last_time, run.start_time)
    store.update_run(run.run_id, RunStatus(status), end_time)
    if run.deleted:
        store.delete_run(run.run_id)
    summary.runs += 1
    summary.params += len(params)
    summary.tags += len(tags)
    summary.metric_values += len(metrics)
    summary.artifacts += copied
    summary.artifact_bytes += size
    if dropped:
        summary.notes.append(
            f"run {run.run_id}: left out keys autolog cannot hold: {', '.join(map(repr, dropped))}"
        )


def _tags(run: MlflowRun, source: str, status: str, valid: Callable[[str], bool]) -> dict[str, str]:
    """MLflow's tags as they are, ours beside them, and where the run came from."""
    tags = {k: v for k, v in run.tags.items() if valid(k)}
    for theirs, ours in _SAME_TAGS.items():
        if theirs in run.tags and ours not in tags:
            tags[ours] = run.tags[theirs]
    tags[TAG_MLFLOW_RUN] = run.run_id
    tags[TAG_SOURCE] = source
    if status != run.status:
        tags[TAG_ORIGINAL_STATUS] = run.status
    return tags


def _copy_artifacts(
    reader: Source, store: Store, run: MlflowRun, artifact_uri: str
) -> tuple[int, int]:
    from autolog.artifacts import artifact_repository
    from autolog.validation import check_artifact_path

    folder = reader.artifacts(run)
    if folder is None:
        return 0, 0
    repository = artifact_repository(artifact_uri, store=store, run_id=run.run_id)
    hashes = {}
    size = 0
    for path in sorted(folder.rglob("*")):
        if not path.is_file() or path.is_symlink():
            continue  # a link could point anywhere: only the store's own files are copied
        relative = check_artifact_path(path.relative_to(folder).as_posix())
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
