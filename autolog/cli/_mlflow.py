"""Reading an MLflow tracking store without mlflow: its ``mlruns`` folder or its SQLite file.

Both give the same records: experiments, runs (with params and tags), each run's metric
histories and the folder of its artifacts. The formats are MLflow's own, as written by
MLflow 1.x to 3.x: in ``mlruns``, a ``meta.yaml`` per experiment and run, a file per param
and tag, a line per metric value (``timestamp value [step]``); in SQLite, the tables
``experiments``, ``runs``, ``params``, ``tags`` and ``metrics``.

Artifacts are where MLflow recorded them, or, for a store copied from elsewhere, found again
beside the store (``<run_id>/artifacts`` under the ``mlruns`` folder or the database's folder).
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any, NamedTuple
from urllib.parse import unquote, urlsplit

from autolog.errors import InvalidInputError, StoreError
from autolog.stores.uris import sqlite_path

__all__ = ["MlflowExperiment", "MlflowRun", "open_source"]

#: MLflow's RunStatus numbers, as its file store writes them
_STATUS = {1: "RUNNING", 2: "SCHEDULED", 3: "FINISHED", 4: "FAILED", 5: "KILLED"}
_NOT_RUNS = {"tags", "datasets", "models", "traces", "outputs", "inputs"}


class MlflowExperiment(NamedTuple):
    experiment_id: str
    name: str
    deleted: bool
    creation_time: int | None
    #: when it was deleted: MLflow keeps no deletion time of its own, but deleting is the last
    #: change of a deleted experiment (its ``last_update_time``); None while active
    deleted_time: int | None = None
    tags: dict[str, str] = {}  # a default record field: never mutated


class MlflowRun(NamedTuple):
    run_id: str
    experiment_id: str
    name: str
    status: str
    start_time: int
    end_time: int | None
    deleted: bool
    deleted_time: int | None
    params: dict[str, str]
    tags: dict[str, str]
    artifact_uri: str


#: one metric value: (timestamp, value, step)
Point = tuple[int, float, int]


class Source:
    """An MLflow store opened for reading."""

    location: Path

    def experiments(self) -> list[MlflowExperiment]:
        raise NotImplementedError

    def runs(self, experiment_id: str) -> list[MlflowRun]:
        raise NotImplementedError

    def metrics(self, run: MlflowRun) -> dict[str, list[Point]]:
        raise NotImplementedError

    def artifacts(self, run: MlflowRun) -> Path | None:
        """The run's artifact folder, if it is on this machine."""
        recorded = local_path(run.artifact_uri)
        if recorded is not None and recorded.is_dir():
            return recorded
        return self._found_artifacts().get(run.run_id)

    def _found_artifacts(self) -> dict[str, Path]:
        """``<run_id>/artifacts`` folders below the store's folder (a copied store)."""
        cached: dict[str, Path] | None = getattr(self, "_found", None)
        if cached is None:
            cached = {}
            base = self.location if self.location.is_dir() else self.location.parent
            for folder, names, _ in _walk(base, depth=4):
                if "artifacts" in names and _is_run_id(Path(folder).name):
                    cached.setdefault(Path(folder).name, Path(folder) / "artifacts")
            self._found = cached
        return cached

    def close(self) -> None:
        pass

    def __enter__(self) -> Source:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


def open_source(source: str) -> Source:
    """The MLflow store at ``source``: an ``mlruns`` folder, a SQLite file, or their URIs."""
    parts = urlsplit(source)
    if parts.scheme == "sqlite":
        path = Path(sqlite_path(source))  # sqlite:///mlflow.db: in the working folder
    elif parts.scheme == "file":
        path = Path(unquote(parts.path))
    elif parts.scheme and len(parts.scheme) > 1:
        raise InvalidInputError(
            f"cannot import {source!r}: give an mlruns folder or an MLflow SQLite database "
            "(a tracking server's store is read through its database)"
        )
    else:
        path = Path(source)
    if path.is_dir():
        if not any((path / name / "meta.yaml").is_file() for name in os.listdir(path)):
            raise InvalidInputError(f"{str(path)!r} is not an MLflow mlruns folder (no meta.yaml)")
        return FileSource(path)
    if path.is_file():
        with path.open("rb") as f:
            if f.read(16) != b"SQLite format 3\x00":
                raise InvalidInputError(f"{str(path)!r} is neither an mlruns folder nor SQLite")
        return SqliteSource(path)
    raise InvalidInputError(f"{source!r} does not exist")


# ------------------------------------------------------------------------------- mlruns


class FileSource(Source):
    def __init__(self, root: Path) -> None:
        self.location = root

    def _experiment_folders(self) -> Iterator[Path]:
        for base in (self.location, self.location / ".trash"):
            if not base.is_dir():
                continue
            for name in sorted(os.listdir(base)):
                folder = base / name
                if not name.startswith(".") and (folder / "meta.yaml").is_file():
                    yield folder

    def experiments(self) -> list[MlflowExperiment]:
        found = []
        for folder in self._experiment_folders():
            meta = read_meta(folder / "meta.yaml")
            deleted = meta.get("lifecycle_stage") == "deleted" or folder.parent.name == ".trash"
            found.append(
                MlflowExperiment(
                    str(meta.get("experiment_id", folder.name)),
                    str(meta.get("name", folder.name)),
                    deleted,
                    int_of(meta.get("creation_time")),
                    int_of(meta.get("last_update_time")) if deleted else None,
                    read_tree(folder / "tags"),  # a file per tag, as a run's
                )
            )
        return found

    def _folder(self, experiment_id: str) -> Path:
        for folder in self._experiment_folders():
            if folder.name == experiment_id:
                return folder
        raise StoreError(f"MLflow experiment {experiment_id} vanished while importing")

    def runs(self, experiment_id: str) -> list[MlflowRun]:
        folder = self._folder(experiment_id)
        runs = []
        for name in sorted(os.listdir(folder)):
            run_folder = folder / name
            if name in _NOT_RUNS or not (run_folder / "meta.yaml").is_file():
                continue
            meta = read_meta(run_folder / "meta.yaml")
            tags = read_tree(run_folder / "tags")
            status = meta.get("status", 3)
            deleted = meta.get("lifecycle_stage") == "deleted"
            runs.append(
                MlflowRun(
                    run_id=str(meta.get("run_id") or meta.get("run_uuid") or name),
                    experiment_id=experiment_id,
                    name=str(meta.get("run_name") or tags.get("mlflow.runName") or ""),
                    status=_STATUS.get(status, str(status))
                    if isinstance(status, int)
                    else str(status),
                    start_time=int_of(meta.get("start_time")) or 0,
                    end_time=int_of(meta.get("end_time")),
                    deleted=deleted,
                    deleted_time=int_of(meta.get("deleted_time")),
                    params=read_tree(run_folder / "params"),
                    tags=tags,
                    artifact_uri=str(meta.get("artifact_uri") or ""),
                )
            )
        return runs

    def metrics(self, run: MlflowRun) -> dict[str, list[Point]]:
        folder = self._folder(run.experiment_id) / run.run_id / "metrics"
        histories: dict[str, list[Point]] = {}
        for key, path in _tree_files(folder):
            points = []
            with path.open(encoding="utf-8") as f:
                for line in f:
                    fields = line.split()
                    if len(fields) < 2:
                        continue
                    step = int(fields[2]) if len(fields) > 2 else 0
                    points.append((int(fields[0]), float(fields[1]), step))
            histories[key] = points
        return histories

    def artifacts(self, run: MlflowRun) -> Path | None:
        found = super().artifacts(run)
        if found is not None:
            return found
        own = self._folder(run.experiment_id) / run.run_id / "artifacts"
        return own if own.is_dir() else None


def _tree_files(base: Path) -> Iterator[tuple[str, Path]]:
    """(key, file) for every file under ``base``: a key's '/' is a folder in MLflow's layout."""
    for folder, _, files in _walk(base, depth=32):
        for name in files:
            path = Path(folder) / name
            yield path.relative_to(base).as_posix(), path


def read_tree(base: Path) -> dict[str, str]:
    return {key: path.read_text(encoding="utf-8") for key, path in _tree_files(base)}


# ------------------------------------------------------------------------------- SQLite


class SqliteSource(Source):
    def __init__(self, path: Path) -> None:
        self.location = path
        try:
            self._db = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True)
            tables = {r[0] for r in self._db.execute("SELECT name FROM sqlite_master")}
        except sqlite3.Error as exc:
            raise InvalidInputError(f"cannot read {str(path)!r} as SQLite: {exc}") from None
        if not {"experiments", "runs", "params", "tags", "metrics"} <= tables:
            self._db.close()
            raise InvalidInputError(f"{str(path)!r} is not an MLflow tracking database")
        self._run_columns = {r[1] for r in self._db.execute("PRAGMA table_info(runs)")}
        self._metric_columns = {r[1] for r in self._db.execute("PRAGMA table_info(metrics)")}

    def experiments(self) -> list[MlflowExperiment]:
        created, updated = (
            column if self._has("experiments", column) else "NULL"
            for column in ("creation_time", "last_update_time")
        )
        rows = self._db.execute(
            f"SELECT experiment_id, name, lifecycle_stage, {created}, {updated}"
            " FROM experiments ORDER BY experiment_id"
        ).fetchall()
        tags: dict[str, dict[str, str]] = {}
        if self._has("experiment_tags", "key"):
            for key, value, number in self._db.execute(
                "SELECT key, value, experiment_id FROM experiment_tags ORDER BY key"
            ):
                tags.setdefault(str(number), {})[key] = "" if value is None else str(value)
        return [
            MlflowExperiment(
                str(i),
                name,
                stage == "deleted",
                int_of(created_at),
                int_of(updated_at) if stage == "deleted" else None,
                tags.get(str(i), {}),
            )
            for i, name, stage, created_at, updated_at in rows
        ]

    def _has(self, table: str, column: str) -> bool:
        return column in {r[1] for r in self._db.execute(f"PRAGMA table_info({table})")}

    def runs(self, experiment_id: str) -> list[MlflowRun]:
        deleted_time = "deleted_time" if "deleted_time" in self._run_columns else "NULL"
        rows = self._db.execute(
            "SELECT run_uuid, name, status, start_time, end_time, lifecycle_stage, artifact_uri,"
            f" {deleted_time} FROM runs WHERE experiment_id = ? ORDER BY start_time, run_uuid",
            (int(experiment_id),),
        ).fetchall()
        runs = []
        for run_id, name, status, start, end, stage, artifact_uri, deleted_at in rows:
            params = dict(
                self._db.execute("SELECT key, value FROM params WHERE run_uuid = ?", (run_id,))
            )
            tags = dict(
                self._db.execute("SELECT key, value FROM tags WHERE run_uuid = ?", (run_id,))
            )
            runs.append(
                MlflowRun(
                    run_id,
                    experiment_id,
                    name or tags.get("mlflow.runName", ""),
                    str(status),
                    int_of(start) or 0,
                    int_of(end),
                    stage == "deleted",
                    int_of(deleted_at),
                    {k: "" if v is None else str(v) for k, v in params.items()},
                    {k: "" if v is None else str(v) for k, v in tags.items()},
                    artifact_uri or "",
                )
            )
        return runs

    def metrics(self, run: MlflowRun) -> dict[str, list[Point]]:
        is_nan = "is_nan" if "is_nan" in self._metric_columns else "0"
        step = "step" if "step" in self._metric_columns else "0"
        histories: dict[str, list[Point]] = {}
        rows = self._db.execute(
            f"SELECT key, value, timestamp, {step}, {is_nan} FROM metrics WHERE run_uuid = ?"
            f" ORDER BY key, timestamp, {step}",
            (run.run_id,),
        )
        for key, value, timestamp, at, nan in rows:
            number = math.nan if nan else float(value)
            histories.setdefault(key, []).append((int(timestamp), number, int(at or 0)))
        return histories

    def rows(self, query: str) -> list[tuple[Any, ...]]:
        """The rows of ``query``; none where a table or column it names is not there (a
        store of an older MLflow)."""
        try:
            return self._db.execute(query).fetchall()
        except sqlite3.OperationalError:
            return []

    def close(self) -> None:
        self._db.close()


# ------------------------------------------------------------------------------- helpers


def read_meta(path: Path) -> dict[str, Any]:
    """An MLflow ``meta.yaml``: flat ``key: value`` lines, as ``yaml.safe_dump`` writes them.

    PyYAML reads it where installed; otherwise the scalars MLflow writes (plain, quoted,
    numbers, null, empty lists and maps, and long values folded onto indented lines) are
    read here.
    """
    text = path.read_text(encoding="utf-8")
    with contextlib.suppress(ImportError):
        import yaml  # type: ignore[import-untyped]

        loaded = yaml.safe_load(text)
        return loaded if isinstance(loaded, dict) else {}
    entries: list[tuple[str, str]] = []
    for line in text.splitlines():
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        if line[:1] in (" ", "\t", "-") and entries:
            key, value = entries[-1]
            entries[-1] = (key, f"{value} {line.strip()}".strip())
            continue
        key, sep, value = line.partition(":")
        if sep:
            entries.append((key.strip(), value.strip()))
    return {key: scalar_of(value) for key, value in entries}


def scalar_of(text: str) -> Any:
    if text in ("", "null", "~"):
        return None
    if text in ("[]", "{}"):
        return [] if text == "[]" else {}
    if text.startswith("'") and text.endswith("'") and len(text) >= 2:
        return text[1:-1].replace("''", "'")
    if text.startswith('"') and text.endswith('"') and len(text) >= 2:
        with contextlib.suppress(ValueError):
            return json.loads(text)
        return text[1:-1]
    if text in ("true", "false"):
        return text == "true"
    with contextlib.suppress(ValueError):
        return int(text)
    return text


def int_of(value: Any) -> int | None:
    if value is None or value == "":
        return None
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def local_path(uri: str) -> Path | None:
    if not uri:
        return None
    parts = urlsplit(uri)
    if parts.scheme == "file":
        return Path(unquote(parts.path))
    if parts.scheme and len(parts.scheme) > 1:
        return None  # s3://, a server, ...: not on this machine
    return Path(uri)


def _walk(base: Path, depth: int) -> Iterator[tuple[str, list[str], list[str]]]:
    if not base.is_dir():
        return
    start = len(base.parts)
    for folder, names, files in os.walk(base):
        if len(Path(folder).parts) - start >= depth:
            names[:] = []
        names.sort()
        yield folder, names, sorted(files)


def _is_run_id(name: str) -> bool:
    return len(name) == 32 and all(c in "0123456789abcdef" for c in name)
