"""Records of the file store: the JSON files that hold experiments, runs, model versions and
tokens, and the names that make folders and files of ids.

Every reader here answers ``None`` for a record that is not there and raises ``StoreError`` for
one that is there but damaged (someone edited it, a disk lost part of it), naming the file.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from autolog.entities import (
    AccessToken,
    Experiment,
    ModelVersion,
    RegisteredModel,
    RunInfo,
    RunStatus,
)
from autolog.errors import StoreError
from autolog.stores.file_io import read_json

__all__ = [
    "aliases",
    "experiment_from",
    "experiment_json",
    "info_json",
    "is_id",
    "is_run_id",
    "is_token_id",
    "load_info",
    "model_json",
    "read_model",
    "read_version",
    "token_from",
    "version_json",
    "version_numbers",
]

_RUN = "run.json"
_RUN_ID_CHARS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-")
_MAX_RUN_ID = 128


def is_id(text: object) -> bool:
    """A canonical experiment id or version number: ascii digits, no leading zero."""
    return (
        isinstance(text, str)
        and text.isascii()
        and text.isdigit()
        and (text == "0" or not text.startswith("0"))
    )


def is_run_id(text: object) -> bool:
    """Whether ``text`` can name a run's folder (other ids name no run of this store)."""
    return (
        isinstance(text, str)
        and 0 < len(text) <= _MAX_RUN_ID
        and _RUN_ID_CHARS.issuperset(text)
        and not text.startswith("-")
    )


def is_token_id(text: str) -> bool:
    return 0 < len(text) <= 64 and all(c in "0123456789abcdef" for c in text)


def _malformed(path: Path, exc: Exception) -> StoreError:
    return StoreError(f"file store: {path} is malformed ({exc!r})")


def _optional_int(value: Any) -> int | None:
    return None if value is None else int(value)


# ------------------------------------------------------------------------------ experiments


def experiment_from(data: Mapping[str, Any], path: Path) -> Experiment:
    try:
        return Experiment(
            str(data["experiment_id"]),
            str(data["name"]),
            str(data["artifact_location"]),
            int(data["creation_time"]),
            _optional_int(data.get("deleted_time")),
            _string_map(data.get("tags")),
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise _malformed(path, exc) from exc


def experiment_json(experiment: Experiment) -> dict[str, Any]:
    record: dict[str, Any] = {
        "experiment_id": experiment.experiment_id,
        "name": experiment.name,
        "artifact_location": experiment.artifact_location,
        "creation_time": experiment.creation_time,
    }
    if experiment.deleted_time is not None:
        record["deleted_time"] = experiment.deleted_time
    if experiment.tags:
        record["tags"] = dict(experiment.tags)
    return record


# ------------------------------------------------------------------------------------- runs


def info_json(info: RunInfo) -> dict[str, Any]:
    return {
        "run_id": info.run_id,
        "experiment_id": info.experiment_id,
        "run_name": info.run_name,
        "status": RunStatus(info.status).value,
        "start_time": info.start_time,
        "end_time": info.end_time,
        "artifact_uri": info.artifact_uri,
        "parent_run_id": info.parent_run_id,
        **({} if info.deleted_time is None else {"deleted_time": info.deleted_time}),
    }


def load_info(folder: Path) -> RunInfo | None:
    """The record of the run in ``folder``; None if it has none (not a run, or not yet)."""
    path = folder / _RUN
    data = read_json(path, settle=True)
    if data is None:
        return None
    try:
        end_time = data["end_time"]
        parent = data["parent_run_id"]
        return RunInfo(
            str(data["run_id"]),
            str(data["experiment_id"]),
            str(data["run_name"]),
            RunStatus(data["status"]),
            int(data["start_time"]),
            None if end_time is None else int(end_time),
            str(data["artifact_uri"]),
            None if parent is None else str(parent),
            _optional_int(data.get("deleted_time")),
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise _malformed(path, exc) from exc


# --------------------------------------------------------------------------- model registry


def version_json(version: ModelVersion) -> dict[str, Any]:
    record: dict[str, Any] = {
        "name": version.name,
        "version": version.version,
        "source": version.source,
        "run_id": version.run_id,
        "creation_time": version.creation_time,
    }
    if version.description is not None:
        record["description"] = version.description
    if version.tags:
        record["tags"] = dict(version.tags)
    return record


def model_json(model: RegisteredModel) -> dict[str, Any]:
    """A registered model's ``model.json``: what its versions do not say (aliases and the
    latest version are read from their files)."""
    record: dict[str, Any] = {
        "name": model.name,
        "creation_time": model.creation_time,
        "last_updated_time": model.last_updated_time,
        "tags": dict(model.tags),
    }
    if model.description is not None:
        record["description"] = model.description
    return record


def read_model(path: Path) -> RegisteredModel | None:
    """The model recorded in ``path`` (without aliases and latest version); None if none."""
    data = read_json(path, settle=True)
    if data is None:
        return None
    try:
        return RegisteredModel(
            str(data["name"]),
            int(data["creation_time"]),
            int(data["last_updated_time"]),
            _optional_str(data.get("description")),
            _string_map(data.get("tags")),
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise _malformed(path, exc) from exc


def _optional_str(value: object) -> str | None:
    if value is not None and not isinstance(value, str):
        raise TypeError(f"expected a string, not {value!r}")
    return value


def _string_map(data: object) -> dict[str, str]:
    """Tags of an experiment, a registered model or a version (none in records written
    before they had tags)."""
    if data is None:
        return {}
    if not isinstance(data, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in data.items()
    ):
        raise TypeError(f"tags are an object of strings, not {data!r}")
    return dict(data)


def read_version(path: Path) -> ModelVersion | None:
    """The version recorded in ``path`` (without aliases); None if there is no such file."""
    data = read_json(path, settle=True)
    if data is None:
        return None
    try:
        return ModelVersion(
            str(data["name"]),
            int(data["version"]),
            str(data["source"]),
            None if data["run_id"] is None else str(data["run_id"]),
            int(data["creation_time"]),
            description=_optional_str(data.get("description")),
            tags=_string_map(data.get("tags")),
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise _malformed(path, exc) from exc


def version_numbers(folder: Path) -> Iterator[int]:
    """The numbers of the versions in a model's ``versions`` folder (none if it has none)."""
    try:
        names = os.listdir(folder)
    except FileNotFoundError:
        return
    for name in names:
        stem, dot, suffix = name.partition(".")
        if dot and suffix == "json" and is_id(stem):
            yield int(stem)


def aliases(folder: Path) -> Iterator[tuple[str, int]]:
    """(alias, version number) of each alias file in a model's ``aliases`` folder."""
    try:
        names = os.listdir(folder)
    except FileNotFoundError:
        return
    for name in names:
        if name.startswith(".") or not name.endswith(".json"):
            continue
        data = read_json(folder / name)
        if data is None:
            continue  # replaced between listing and reading
        alias, version = data.get("alias"), data.get("version")
        if isinstance(alias, str) and isinstance(version, int):
            yield alias, version


# ----------------------------------------------------------------------------------- tokens


def token_from(data: Mapping[str, Any], path: Path) -> AccessToken:
    try:
        return AccessToken(
            str(data["token_id"]),
            str(data["name"]),
            str(data["scope"]),
            int(data["creation_time"]),
            str(data["secret_hash"]),
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise _malformed(path, exc) from exc
