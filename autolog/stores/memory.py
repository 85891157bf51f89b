"""An in-process store: the reference implementation of ``Store``, and a fake for tests."""

from __future__ import annotations

import itertools
import sys
import threading
from collections.abc import Mapping, Sequence

from autolog.entities import (
    AccessToken,
    Experiment,
    Metric,
    MetricColumns,
    ModelVersion,
    Param,
    Run,
    RunData,
    RunInfo,
    RunPage,
    RunStatus,
    RunTag,
)
from autolog.errors import InvalidInputError, NotFoundError, ParamCollisionError, RunStateError
from autolog.search import Comparison, OrderBy, matches, page_runs, sort_runs
from autolog.stores.common import (
    PRESUMED_KILLED_TAG,
    Lifecycle,
    check_batch,
    check_lifecycle,
    check_model_files,
    check_storable,
    check_unregistered,
    check_update,
    default_artifact_root,
    ended,
    history_columns,
    in_lifecycle,
    inside_models,
    is_newer,
    model_path,
    now_ms,
    refuse_deleted,
    takes_writes,
    under,
)

__all__ = ["MemoryStore"]


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

    def writable(self) -> _RunRecord:
        if not takes_writes(self.info.status, PRESUMED_KILLED_TAG in self.tags):
            raise ended(self.info.run_id, self.info.status)
        return self


class MemoryStore:
    """Everything in dictionaries guarded by one lock; nothing survives the process."""

    def __init__(self, artifact_root: str | None = None) -> None:
        self.artifact_root = artifact_root or default_artifact_root()
        self._lock = threading.RLock()
        self._ids = itertools.count()
        self._experiments: dict[str, Experiment] = {}
        self._runs: dict[str, _RunRecord] = {}
        self._hashes: dict[str, dict[str, str]] = {}
        self._versions: dict[str, list[ModelVersion]] = {}
        self._aliases: dict[str, dict[str, int]] = {}
        self._tokens: dict[str, AccessToken] = {}

    # experiments
    def get_or_create_experiment(self, name: str) -> Experiment:
        check_storable("experiment name", name)
        with self._lock:
            found = self.get_experiment_by_name(name)
            if found is not None:
                return refuse_deleted(found)
            experiment_id = str(next(self._ids))
            experiment = Experiment(
                experiment_id, name, f"{self.artifact_root}/{experiment_id}", now_ms()
            )
            self._experiments[experiment_id] = experiment
            return experiment

    def get_experiment(self, experiment_id: str) -> Experiment:
        with self._lock:
            try:
                return self._experiments[experiment_id]
            except KeyError:
                raise NotFoundError("experiment", experiment_id) from None

    def get_experiment_by_name(self, name: str) -> Experiment | None:
        with self._lock:
            return next((e for e in self._experiments.values() if e.name == name), None)

    def list_experiments(self, lifecycle: Lifecycle = "active") -> list[Experiment]:
        check_lifecycle(lifecycle)
        with self._lock:
            return [
                e
                for e in self._experiments.values()
                if lifecycle == "all" or (e.deleted_time is None) == (lifecycle == "active")
            ]

    def rename_experiment(self, experiment_id: str, name: str) -> None:
        with self._lock:
            experiment = self.get_experiment(experiment_id)
            taken = self.get_experiment_by_name(name)
            if taken is not None and taken.experiment_id != experiment_id:
                raise InvalidInputError(
                    f"experiment name {name!r} is taken (id {taken.experiment_id})"
                )
            self._experiments[experiment_id] = experiment._replace(name=name)

    def delete_experiment(self, experiment_id: str) -> None:
        with self._lock:
            experiment = self.get_experiment(experiment_id)
            if experiment.deleted_time is None:
                self._experiments[experiment_id] = experiment._replace(deleted_time=now_ms())

    def restore_experiment(self, experiment_id: str) -> None:
        with self._lock:
            experiment = self.get_experiment(experiment_id)
            self._experiments[experiment_id] = experiment._replace(deleted_time=None)

    def purge_experiment(self, experiment_id: str) -> None:
        with self._lock:
            experiment = self.get_experiment(experiment_id)
            if experiment.deleted_time is None:
                raise InvalidInputError(
                    f"experiment {experiment.name!r} is not deleted; delete it before purging"
                )
            runs = [
                r.info.run_id for r in self._runs.values() if r.info.experiment_id == experiment_id
            ]
            for run_id in runs:
                check_unregistered(run_id, self._registered_runs())
            for run_id in runs:
                self._forget(run_id)
            del self._experiments[experiment_id]

    # runs
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
        check_storable("run", run_id, run_name, artifact_uri, *(parent_run_id or "",))
        check_batch((), (), [RunTag(k, v) for k, v in tags.items()])
        with self._lock:
            self.get_experiment(experiment_id)
            if run_id in self._runs:
                raise InvalidInputError(f"run {run_id} already exists")
            info = RunInfo(
                run_id,
                experiment_id,
                run_name,
                RunStatus.RUNNING,
                start_time,
                None,
                artifact_uri,
                parent_run_id,
            )
            record = _RunRecord(info)
            record.tags.update(tags)
            self._runs[run_id] = record

    def _record(self, run_id: str) -> _RunRecord:
        try:
            return self._runs[run_id]
        except KeyError:
            raise NotFoundError("run", run_id) from None

    def update_run(self, run_id: str, status: RunStatus, end_time: int | None) -> None:
        status = RunStatus(status)
        with self._lock:
            record = self._record(run_id)
            info = record.info
            presumed = info.status is RunStatus.KILLED and PRESUMED_KILLED_TAG in record.tags
            if check_update(run_id, info.status, info.end_time, status, end_time, presumed):
                record.info = info._replace(status=status, end_time=end_time)
                if presumed:  # the owner's end replaces a reader's presumption
                    del record.tags[PRESUMED_KILLED_TAG]

    def get_run(self, run_id: str) -> Run:
        with self._lock:
            return self._snapshot(self._record(run_id))

    @staticmethod
    def _snapshot(record: _RunRecord) -> Run:
        metrics = {key: m.value for key, m in record.latest.items()}
        return Run(record.info, RunData(dict(record.params), metrics, dict(record.tags)))

    def search_runs(
        self,
        experiment_ids: Sequence[str] | None,
        filters: Sequence[Comparison],
        order_by: Sequence[OrderBy],
        max_results: int,
        lifecycle: Lifecycle = "active",
    ) -> list[Run]:
        check_lifecycle(lifecycle)
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

    def delete_run(self, run_id: str) -> None:
        with self._lock:
            record = self._record(run_id)
            if record.info.deleted_time is None:
                record.info = record.info._replace(deleted_time=now_ms())

    def restore_run(self, run_id: str) -> None:
        with self._lock:
            record = self._record(run_id)
            record.info = record.info._replace(deleted_time=None)

    def purge_run(self, run_id: str) -> None:
        with self._lock:
            record = self._record(run_id)
            if record.info.deleted_time is None:
                raise InvalidInputError(f"run {run_id} is not deleted; delete it before purging")
            check_unregistered(run_id, self._registered_runs())
            self._forget(run_id)

    def _registered_runs(self) -> dict[str, list[ModelVersion]]:
        found: dict[str, list[ModelVersion]] = {}
        for versions in self._versions.values():
            for version in versions:
                if version.run_id is not None:
                    found.setdefault(version.run_id, []).append(version)
        return found

    def _forget(self, run_id: str) -> None:
        self._runs.pop(run_id, None)
        self._hashes.pop(run_id, None)

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
        matching = self.search_runs(experiment_ids, filters, order_by, sys.maxsize, lifecycle)
        return page_runs(matching, offset, limit, top_level=top_level)

    def log_batch(
        self,
        run_id: str,
        metrics: Sequence[Metric] = (),
        params: Sequence[Param] = (),
        tags: Sequence[RunTag] = (),
        batch_id: str | None = None,
    ) -> None:
        check_batch(metrics, params, tags)
        with self._lock:
            record = self._record(run_id)
            if batch_id is not None and batch_id in record.batches:
                return  # stored before: a sender's retry
            record.writable()
            for key, value in params:
                old = record.params.get(key)
                if old is not None and old != value:
                    raise ParamCollisionError(run_id, key, old, value)
            for key, value in params:
                record.params[key] = value
            record.tags.update(tags)
            for metric in metrics:
                record.history.setdefault(metric.key, []).append(metric)
                if is_newer(metric, record.latest.get(metric.key)):
                    record.latest[metric.key] = metric
            if batch_id is not None:
                record.batches.add(batch_id)

    def get_metric_history(self, run_id: str, key: str) -> list[Metric]:
        with self._lock:
            history = list(self._record(run_id).history.get(key, ()))
        history.sort(key=lambda m: m.step)  # stable: equal steps keep their logging order
        return history

    def get_metric_columns(
        self, run_id: str, key: str, min_step: int | None = None, max_step: int | None = None
    ) -> MetricColumns:
        return history_columns(self.get_metric_history(run_id, key), min_step, max_step)

    # artifact integrity
    def record_artifact_hashes(self, run_id: str, hashes: Mapping[str, str]) -> None:
        check_storable("artifact path", *hashes, *hashes.values())
        with self._lock:
            record = self._record(run_id).writable()
            inside = inside_models(hashes, record.models)
            if inside:
                raise RunStateError(
                    f"{inside[0]!r} is a file of a model of run {run_id}: only log_model writes it"
                )
            self._hashes.setdefault(run_id, {}).update(hashes)

    def record_model(self, run_id: str, path: str, files: Mapping[str, str]) -> None:
        check_model_files(path, files)
        path = path.strip("/")
        with self._lock:
            record = self._record(run_id).writable()
            source = f"runs:/{run_id}/{path}"
            registered = [v for vs in self._versions.values() for v in vs if v.source == source]
            if registered:
                raise RunStateError(
                    f"model {path!r} of run {run_id} is registered as "
                    f"{registered[0].name}/{registered[0].version}: it cannot be replaced"
                )
            record.models[path] = dict(files)
            self._hashes.setdefault(run_id, {}).update(files)

    def get_model_files(self, run_id: str, path: str) -> dict[str, str] | None:
        with self._lock:
            record = self._runs.get(run_id)
            found = None if record is None else record.models.get(path.strip("/"))
            return None if found is None else dict(found)

    def get_artifact_hashes(self, run_id: str, prefix: str = "") -> dict[str, str]:
        with self._lock:
            recorded = self._hashes.get(run_id, {})
            return {p: h for p, h in recorded.items() if under(p, prefix)}

    # model registry
    def create_model_version(self, name: str, source: str, run_id: str | None) -> ModelVersion:
        check_storable("registered model name", name)
        check_storable("model source", source)
        with self._lock:
            path = model_path(run_id or "", source)
            if run_id is None or self.get_model_files(run_id, path) is None:
                raise NotFoundError("model", source)
            versions = self._versions.setdefault(name, [])
            version = ModelVersion(name, len(versions) + 1, source, run_id, now_ms())
            versions.append(version)
            return version

    def get_model_version(self, name: str, version: int) -> ModelVersion:
        with self._lock:
            versions = self._versions.get(name, [])
            if not 1 <= version <= len(versions):
                raise NotFoundError("model version", f"{name}/{version}")
            aliases = tuple(
                sorted(a for a, v in self._aliases.get(name, {}).items() if v == version)
            )
            return versions[version - 1]._replace(aliases=aliases)

    def set_model_alias(self, name: str, alias: str, version: int) -> None:
        check_storable("model alias", name, alias)
        with self._lock:
            self.get_model_version(name, version)
            self._aliases.setdefault(name, {})[alias] = version

    def get_model_version_by_alias(self, name: str, alias: str) -> ModelVersion:
        with self._lock:
            version = self._aliases.get(name, {}).get(alias)
            if version is None:
                raise NotFoundError("model alias", f"{name}@{alias}")
            return self.get_model_version(name, version)

    # access tokens
    def create_token(self, token: AccessToken) -> None:
        with self._lock:
            if token.token_id in self._tokens:
                raise InvalidInputError(f"a token with id {token.token_id!r} exists already")
            if any(t.name == token.name for t in self._tokens.values()):
                raise InvalidInputError(f"a token named {token.name!r} exists already")
            self._tokens[token.token_id] = token

    def get_token(self, token_id: str) -> AccessToken | None:
        with self._lock:
            return self._tokens.get(token_id)

    def list_tokens(self) -> list[AccessToken]:
        with self._lock:
            return sorted(self._tokens.values(), key=lambda t: (t.creation_time, t.name))

    def revoke_token(self, name: str) -> None:
        with self._lock:
            for token_id, token in list(self._tokens.items()):
                if token.name == name:
                    del self._tokens[token_id]
                    return
            raise NotFoundError("token", name)

    def list_model_versions(self, name: str | None = None) -> list[ModelVersion]:
        with self._lock:
            names = sorted(self._versions) if name is None else [name]
            return [
                self.get_model_version(each, version.version)
                for each in names
                for version in self._versions.get(each, ())
            ]

    def close(self) -> None:
        pass
