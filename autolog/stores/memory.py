"""An in-process engine: the reference implementation of ``Engine``, and a store for tests."""

from __future__ import annotations

import itertools
import sys
import threading
from array import array
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager

from autolog.entities import (
    AccessToken,
    Experiment,
    Metric,
    MetricColumns,
    ModelVersion,
    Param,
    RegisteredModel,
    Run,
    RunData,
    RunInfo,
    RunPage,
    RunStatus,
    RunTag,
)
from autolog.errors import StoreError
from autolog.search import Comparison, OrderBy, matches, page_runs, sort_runs
from autolog.stores.common import (
    Lifecycle,
    default_artifact_root,
    history_columns,
    in_lifecycle,
    is_newer,
    under,
)
from autolog.tracking import Tracking

__all__ = ["MemoryEngine", "MemoryStore"]


class _RunRecord:
    __slots__ = ("batches", "history", "info", "latest", "models", "params", "tags")

    def __init__(self, info: RunInfo) -> None:
        self.info = info
        self.batches: set[str] = set()
        self.params: dict[str, str] = {}
        self.tags: dict[str, str] = {}
        self.history: dict[str, list[Metric]] = {}
        self.latest: dict[str, Metric] = {}
        self.models: dict[str, dict[str, str]] = {}  # model path -> its files' digests


def _as_stored(metrics: Sequence[Metric]) -> None:
    """What the other engines' encodings hold (64-bit floats and integers), or ``StoreError``:
    the memory engine keeps objects, and must not keep what no other engine could."""
    try:
        array("d", (m.value for m in metrics))
        array("q", (m.step for m in metrics))
        array("q", (m.timestamp for m in metrics))
    except (TypeError, OverflowError) as exc:
        raise StoreError(f"a metric value that no store can hold: {exc}") from exc


class _Unit:
    """A run's unit of work: writes go straight to the engine's dictionaries (under its lock),
    each with the step that takes it back, taken in reverse if the unit raises."""

    def __init__(self, engine: MemoryEngine, run_id: str) -> None:
        self._engine = engine
        self._run_id = run_id
        self._undo: list[Callable[[], None]] = []

    def rollback(self) -> None:
        for step in reversed(self._undo):
            step()

    @property
    def _record(self) -> _RunRecord | None:
        return self._engine._runs.get(self._run_id)

    def _existing(self) -> _RunRecord:
        record = self._record
        assert record is not None, "the service writes only to runs it found"
        return record

    # reads
    def info(self) -> RunInfo | None:
        record = self._record
        return None if record is None else record.info

    def tag(self, key: str) -> str | None:
        record = self._record
        return None if record is None else record.tags.get(key)

    def params(self, keys: Sequence[str]) -> dict[str, str]:
        stored = self._existing().params
        return {key: stored[key] for key in keys if key in stored}

    def claim_batch(self, batch_id: str) -> bool:
        batches = self._existing().batches
        if batch_id in batches:
            return False
        batches.add(batch_id)
        self._undo.append(lambda: batches.discard(batch_id))
        return True

    def models(self) -> dict[str, dict[str, str]]:
        return dict(self._existing().models)

    def registered_as(self, source: str) -> ModelVersion | None:
        found = [v for v in self._engine.all_versions() if v.source == source]
        return min(found, key=lambda v: (v.name, v.version), default=None)

    def _forget(self, run_id: str) -> None:
        self._engine._runs.pop(run_id, None)

    # writes
    def create(self, info: RunInfo, tags: Mapping[str, str]) -> bool:
        runs = self._engine._runs
        if info.run_id in runs:
            return False
        record = runs[info.run_id] = _RunRecord(info)
        record.tags.update(tags)
        self._undo.append(lambda: self._forget(info.run_id))
        return True

    def add(
        self, metrics: Sequence[Metric], params: Sequence[Param], tags: Sequence[RunTag]
    ) -> None:
        record = self._existing()
        if metrics:
            _as_stored(metrics)
        if params or tags:
            before_params, before_tags = dict(record.params), dict(record.tags)

            def restore() -> None:
                record.params, record.tags = before_params, before_tags

            self._undo.append(restore)
        record.params.update(params)
        record.tags.update(tags)
        if metrics:
            lengths = {key: len(values) for key, values in record.history.items()}
            latest = dict(record.latest)

            def forget() -> None:
                for key in list(record.history):
                    if key in lengths:
                        del record.history[key][lengths[key] :]
                    else:
                        del record.history[key]
                record.latest = latest

            self._undo.append(forget)
        for metric in metrics:
            record.history.setdefault(metric.key, []).append(metric)
            if is_newer(metric, record.latest.get(metric.key)):
                record.latest[metric.key] = metric

    def _keep_info(self, record: _RunRecord) -> None:
        info = record.info
        self._undo.append(lambda: setattr(record, "info", info))

    def untag(self, key: str) -> None:
        record = self._existing()
        if key in record.tags:
            value = record.tags.pop(key)
            self._undo.append(lambda: record.tags.__setitem__(key, value))

    def set_status(self, status: RunStatus, end_time: int | None) -> None:
        record = self._existing()
        self._keep_info(record)
        record.info = record.info._replace(status=status, end_time=end_time)

    def set_name(self, run_name: str) -> None:
        record = self._existing()
        self._keep_info(record)
        record.info = record.info._replace(run_name=run_name)

    def set_deleted(self, deleted_time: int | None) -> None:
        record = self._existing()
        self._keep_info(record)
        record.info = record.info._replace(deleted_time=deleted_time)

    def add_hashes(self, hashes: Mapping[str, str]) -> None:
        recorded = self._engine._hashes.setdefault(self._run_id, {})
        before = dict(recorded)
        self._undo.append(lambda: self._engine._hashes.__setitem__(self._run_id, before))
        recorded.update(hashes)

    def put_model(self, path: str, files: Mapping[str, str], creation_time: int) -> None:
        record = self._existing()
        models = dict(record.models)
        self._undo.append(lambda: setattr(record, "models", models))
        record.models = {**models, path: dict(files)}

    def register(self, name: str, source: str, creation_time: int) -> ModelVersion:
        models = self._engine._models
        model = models.get(name)
        if model is None:
            model = models[name] = _ModelRecord(creation_time)

            def forget() -> None:
                models.pop(name, None)

            self._undo.append(forget)
        else:
            before = (model.last_number, model.updated)

            def restore() -> None:
                model.versions.pop(before[0] + 1, None)
                model.last_number, model.updated = before

            self._undo.append(restore)
        model.last_number += 1
        model.updated = creation_time
        version = ModelVersion(name, model.last_number, source, self._run_id, creation_time)
        model.versions[version.version] = version
        return version


class _ModelRecord:
    """A registered model: its versions by number (without aliases), aliases, and the
    highest number ever given (a deleted version's is not given again)."""

    __slots__ = (
        "aliases",
        "creation_time",
        "description",
        "last_number",
        "tags",
        "updated",
        "versions",
    )

    def __init__(self, creation_time: int) -> None:
        self.creation_time = creation_time
        self.updated = creation_time
        self.description: str | None = None
        self.tags: dict[str, str] = {}
        self.aliases: dict[str, int] = {}
        self.last_number = 0
        self.versions: dict[int, ModelVersion] = {}

    def entity(self, name: str) -> RegisteredModel:
        return RegisteredModel(
            name,
            self.creation_time,
            self.updated,
            self.description,
            dict(self.tags),
            dict(sorted(self.aliases.items())),
            max(self.versions, default=None),
        )


class MemoryEngine:
    """Everything in dictionaries guarded by one lock; nothing survives the process."""

    def __init__(self, artifact_root: str | None = None) -> None:
        self.artifact_root = artifact_root or default_artifact_root()
        self._lock = threading.RLock()
        self._ids = itertools.count()
        self._experiments: dict[str, Experiment] = {}
        self._runs: dict[str, _RunRecord] = {}
        self._hashes: dict[str, dict[str, str]] = {}
        self._models: dict[str, _ModelRecord] = {}
        self._tokens: dict[str, AccessToken] = {}

    def __repr__(self) -> str:
        return "MemoryEngine()"

    @contextmanager
    def run_unit(self, run_id: str) -> Iterator[_Unit]:
        with self._lock:
            unit = _Unit(self, run_id)
            try:
                yield unit
            except BaseException:
                unit.rollback()
                raise

    # experiments
    def experiment(self, experiment_id: str) -> Experiment | None:
        with self._lock:
            return self._experiments.get(experiment_id)

    def experiment_named(self, name: str) -> Experiment | None:
        with self._lock:
            return next((e for e in self._experiments.values() if e.name == name), None)

    def experiments(self) -> list[Experiment]:
        with self._lock:
            return list(self._experiments.values())

    def add_experiment(self, name: str, creation_time: int) -> Experiment:
        with self._lock:
            found = self.experiment_named(name)
            if found is not None:
                return found
            experiment_id = str(next(self._ids))
            experiment = Experiment(
                experiment_id, name, f"{self.artifact_root}/{experiment_id}", creation_time
            )
            self._experiments[experiment_id] = experiment
            return experiment

    def set_experiment(self, experiment: Experiment) -> bool:
        with self._lock:
            taken = self.experiment_named(experiment.name)
            if taken is not None and taken.experiment_id != experiment.experiment_id:
                return False
            stored = self._experiments[experiment.experiment_id]
            self._experiments[experiment.experiment_id] = stored._replace(
                name=experiment.name, deleted_time=experiment.deleted_time
            )
            return True

    def set_experiment_tag(self, experiment_id: str, key: str, value: str | None) -> None:
        with self._lock:
            stored = self._experiments.get(experiment_id)
            if stored is None:
                return
            tags = {k: v for k, v in stored.tags.items() if k != key}
            if value is not None:
                tags[key] = value
            self._experiments[experiment_id] = stored._replace(tags=tags)

    def drop_experiment(self, experiment_id: str) -> None:
        with self._lock:
            for run_id, record in list(self._runs.items()):
                if record.info.experiment_id == experiment_id:
                    self.drop_run(run_id)
            self._experiments.pop(experiment_id, None)

    # runs
    def run(self, run_id: str) -> Run | None:
        with self._lock:
            record = self._runs.get(run_id)
            return None if record is None else self._snapshot(record)

    @staticmethod
    def _snapshot(record: _RunRecord) -> Run:
        metrics = {key: m.value for key, m in record.latest.items()}
        return Run(record.info, RunData(dict(record.params), metrics, dict(record.tags)))

    def find_runs(
        self,
        experiment_ids: Sequence[str] | None,
        filters: Sequence[Comparison],
        order_by: Sequence[OrderBy],
        max_results: int,
        lifecycle: Lifecycle,
    ) -> list[Run]:
        with self._lock:
            wanted = None if experiment_ids is None else set(experiment_ids)
            gone = {e.experiment_id for e in self._experiments.values() if e.deleted_time}
            runs = [
                self._snapshot(r)
                for r in self._runs.values()
                if (wanted is None or r.info.experiment_id in wanted)
                and in_lifecycle(
                    r.info.deleted_time is not None, r.info.experiment_id in gone, lifecycle
                )
            ]
        selected = [run for run in runs if matches(run, filters)]
        return sort_runs(selected, order_by)[:max_results]

    def find_run_page(
        self,
        experiment_ids: Sequence[str] | None,
        filters: Sequence[Comparison],
        order_by: Sequence[OrderBy],
        offset: int,
        limit: int,
        top_level: bool,
        lifecycle: Lifecycle,
    ) -> RunPage:
        matching = self.find_runs(experiment_ids, filters, order_by, sys.maxsize, lifecycle)
        return page_runs(matching, offset, limit, top_level=top_level)

    def drop_run(self, run_id: str) -> None:
        with self._lock:
            self._runs.pop(run_id, None)
            self._hashes.pop(run_id, None)

    def metric_history(self, run_id: str, key: str) -> list[Metric] | None:
        with self._lock:
            record = self._runs.get(run_id)
            if record is None:
                return None
            history = list(record.history.get(key, ()))
        history.sort(key=lambda m: m.step)  # stable: equal steps keep their logging order
        return history

    def metric_columns(
        self, run_id: str, key: str, min_step: int | None, max_step: int | None
    ) -> MetricColumns | None:
        history = self.metric_history(run_id, key)
        return None if history is None else history_columns(history, min_step, max_step)

    def artifact_hashes(self, run_id: str, prefix: str) -> dict[str, str]:
        with self._lock:
            recorded = self._hashes.get(run_id, {})
            return {p: h for p, h in recorded.items() if under(p, prefix)}

    def model_files(self, run_id: str, path: str) -> dict[str, str] | None:
        with self._lock:
            record = self._runs.get(run_id)
            found = None if record is None else record.models.get(path)
            return None if found is None else dict(found)

    # model registry
    def all_versions(self) -> list[ModelVersion]:
        """Every version of every model, without aliases."""
        with self._lock:
            return [v for model in self._models.values() for v in model.versions.values()]

    def model_version(self, name: str, version: int) -> ModelVersion | None:
        with self._lock:
            model = self._models.get(name)
            found = None if model is None else model.versions.get(version)
            if model is None or found is None:
                return None
            aliases = tuple(sorted(a for a, v in model.aliases.items() if v == version))
            return found._replace(aliases=aliases)

    def model_versions(self, name: str | None) -> list[ModelVersion]:
        with self._lock:
            names = sorted(self._models) if name is None else [name]
            found = (
                self.model_version(each, number)
                for each in names
                for number in sorted(self._models[each].versions if each in self._models else ())
            )
            return [version for version in found if version is not None]

    def versions_of_run(self, run_id: str) -> list[ModelVersion]:
        with self._lock:
            return [v for v in self.all_versions() if v.run_id == run_id]

    def alias_version(self, name: str, alias: str) -> int | None:
        with self._lock:
            model = self._models.get(name)
            return None if model is None else model.aliases.get(alias)

    def set_alias(self, name: str, alias: str, version: int) -> None:
        with self._lock:
            self._models[name].aliases[alias] = version

    def drop_alias(self, name: str, alias: str) -> bool:
        with self._lock:
            model = self._models.get(name)
            return model is not None and model.aliases.pop(alias, None) is not None

    def registered_model(self, name: str) -> RegisteredModel | None:
        with self._lock:
            model = self._models.get(name)
            return None if model is None else model.entity(name)

    def registered_models(self) -> list[RegisteredModel]:
        with self._lock:
            return [self._models[name].entity(name) for name in sorted(self._models)]

    def drop_model_version(self, name: str, version: int, update_time: int) -> None:
        with self._lock:
            model = self._models[name]
            model.versions.pop(version, None)
            model.aliases = {a: v for a, v in model.aliases.items() if v != version}
            model.updated = update_time

    def drop_registered_model(self, name: str) -> None:
        with self._lock:
            self._models.pop(name, None)

    def rename_model(self, name: str, new_name: str, update_time: int) -> bool:
        with self._lock:
            if new_name in self._models:
                return False
            model = self._models[new_name] = self._models.pop(name)
            model.versions = {n: v._replace(name=new_name) for n, v in model.versions.items()}
            model.updated = update_time
            return True

    def describe_model(
        self, name: str, version: int | None, description: str | None, update_time: int
    ) -> None:
        with self._lock:
            model = self._models[name]
            if version is None:
                model.description = description
            else:
                model.versions[version] = model.versions[version]._replace(description=description)
            model.updated = update_time

    def tag_model(
        self, name: str, version: int | None, key: str, value: str | None, update_time: int
    ) -> None:
        with self._lock:
            model = self._models[name]
            tags = dict(model.tags if version is None else model.versions[version].tags)
            if value is None:
                tags.pop(key, None)
            else:
                tags[key] = value
            if version is None:
                model.tags = tags
            else:
                model.versions[version] = model.versions[version]._replace(tags=tags)
            model.updated = update_time

    # access tokens
    def add_token(self, token: AccessToken) -> bool:
        with self._lock:
            if token.token_id in self._tokens or any(
                t.name == token.name for t in self._tokens.values()
            ):
                return False
            self._tokens[token.token_id] = token
            return True

    def token(self, token_id: str) -> AccessToken | None:
        with self._lock:
            return self._tokens.get(token_id)

    def tokens(self) -> list[AccessToken]:
        with self._lock:
            return sorted(self._tokens.values(), key=lambda t: (t.creation_time, t.name))

    def drop_token(self, name: str) -> bool:
        with self._lock:
            for token_id, token in list(self._tokens.items()):
                if token.name == name:
                    del self._tokens[token_id]
                    return True
            return False

    def close(self) -> None:
        pass


class MemoryStore(Tracking):
    """Tracking in dictionaries: the reference engine under the service, and a store for tests;
    nothing survives the process."""

    def __init__(self, artifact_root: str | None = None) -> None:
        super().__init__(MemoryEngine(artifact_root))
