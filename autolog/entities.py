"""The records autolog keeps: experiments, runs, metrics, params, tags, files, model versions.

All are immutable named tuples (cheap to build by the million, and ``dataclasses`` would add
to ``import autolog``). Times are integer milliseconds since the epoch.

This module is the one description of each record: their JSON forms (``autolog.wire``) and
the tracking server's schemas (``autolog.server.schemas``) are derived from the fields and
annotations below, so a field is added here and nowhere else. Its type must be one those know:
``str``, ``int``, ``float``, ``bool``, an enum, ``X | None``, ``Mapping[str, X]``,
``tuple[X, ...]``, ``list[X]`` or another record (``tests/test_record_shapes.py``).
"""

from __future__ import annotations

import enum
from collections.abc import Mapping, Sequence
from typing import Any, NamedTuple

__all__ = [
    "AccessToken",
    "Experiment",
    "FileInfo",
    "Metric",
    "MetricColumns",
    "ModelInfo",
    "ModelVersion",
    "Param",
    "RegisteredModel",
    "Run",
    "RunData",
    "RunInfo",
    "RunPage",
    "RunStatus",
    "RunTag",
    "TokenScope",
]


class RunStatus(str, enum.Enum):
    """Lifecycle of a run. ``RUNNING`` until ended; ``KILLED`` when its process died."""

    RUNNING = "RUNNING"
    FINISHED = "FINISHED"
    FAILED = "FAILED"
    KILLED = "KILLED"

    def __str__(self) -> str:
        return self.value

    @property
    def is_terminal(self) -> bool:
        return self is not RunStatus.RUNNING


class Metric(NamedTuple):
    """One value of a metric: ``step`` orders a history, ``timestamp`` is in ms."""

    key: str
    value: float
    step: int
    timestamp: int


class MetricColumns(NamedTuple):
    """A metric's history as three columns, ordered as ``get_metric_history`` orders it.

    Columns cost a few bytes a point where a list of ``Metric`` costs an object each: this is
    how a chart reads a million points.
    """

    steps: Sequence[int]
    timestamps: Sequence[int]
    values: Sequence[float]


class Param(NamedTuple):
    key: str
    value: str


class RunTag(NamedTuple):
    key: str
    value: str


class FileInfo(NamedTuple):
    """An entry of a run's artifacts: ``path`` is relative to the run's artifact root."""

    path: str
    is_dir: bool
    file_size: int | None


class Experiment(NamedTuple):
    experiment_id: str
    name: str
    artifact_location: str
    creation_time: int
    #: when it was deleted (soft: hidden with its runs until purged), None while active
    deleted_time: int | None = None
    #: the experiment's own tags (``Client.set_experiment_tag``), beside its runs' tags
    tags: Mapping[str, str] = {}  # a default record field: never mutated


class RunInfo(NamedTuple):
    run_id: str
    experiment_id: str
    run_name: str
    status: RunStatus
    start_time: int
    end_time: int | None
    artifact_uri: str
    parent_run_id: str | None = None
    #: when it was deleted (soft: hidden from search until purged), None while active
    deleted_time: int | None = None


class RunData(NamedTuple):
    """What was logged: params, the latest value of each metric, and tags."""

    params: Mapping[str, str]
    metrics: Mapping[str, float]
    tags: Mapping[str, str]


class Run(NamedTuple):
    info: RunInfo
    data: RunData


class RunPage(NamedTuple):
    """One page of a run search, with what a table needs around it."""

    runs: list[Run]
    #: how many runs match in all pages
    total: int
    #: run id -> how many of its child runs match the same filters (runs with none are absent)
    child_counts: Mapping[str, int]


class ModelVersion(NamedTuple):
    """A numbered version of a registered model, pointing at a logged model."""

    name: str
    version: int
    source: str
    run_id: str | None
    creation_time: int
    aliases: tuple[str, ...] = ()
    description: str | None = None
    tags: Mapping[str, str] = {}  # a default record field: never mutated


class RegisteredModel(NamedTuple):
    """A name model versions are numbered under, with its description, tags and aliases."""

    name: str
    creation_time: int
    #: when its name, description, tags or versions last changed
    last_updated_time: int
    description: str | None = None
    tags: Mapping[str, str] = {}  # a default record field: never mutated
    #: alias -> the version number it points at
    aliases: Mapping[str, int] = {}
    #: the highest number among its versions; None while it has none
    latest_version: int | None = None


class TokenScope(str, enum.Enum):
    """What a tracking server's access token allows: each scope includes the ones before it."""

    READ = "read"  # GET requests only
    WRITE = "write"  # logging: experiments, runs, metrics, artifacts, model versions
    ADMIN = "admin"  # deletes and tokens

    def __str__(self) -> str:
        return self.value

    def allows(self, needed: TokenScope) -> bool:
        order = (TokenScope.READ, TokenScope.WRITE, TokenScope.ADMIN)
        return order.index(self) >= order.index(needed)


class AccessToken(NamedTuple):
    """A tracking server's access token, as stored: never the secret, only its SHA-256.

    A token reads ``autolog_<token_id>_<secret>``; ``token_id`` finds the record and the
    secret's hash is compared in constant time.
    """

    token_id: str
    name: str
    scope: str
    creation_time: int
    secret_hash: str


class ModelInfo(NamedTuple):
    """What a logged model is, takes and needs, from its verified metadata (no unpickling):
    ``autolog.get_model_info(uri)``."""

    uri: str
    flavor: str
    model_class: str
    #: {"inputs": ..., "outputs": ...} (see ``autolog.signatures``), None where not seen
    signature: dict[str, Any] | None
    #: at most 5 rows in the ``dataframe_split`` form, None where none was kept
    input_example: dict[str, Any] | None
    #: pinned distributions (``name==version``) as installed when it was logged
    requirements: tuple[str, ...]
    python_version: str
    libraries: dict[str, str]
    created_time: int | None
    files: tuple[str, ...]
    run_id: str | None  # None for a model in a local folder
    path: str | None
    #: the registered versions made from it, as ``name/version``
    registered: tuple[str, ...]
