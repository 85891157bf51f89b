"""The request and response bodies of the REST API, as pydantic models.

They give FastAPI the OpenAPI document (``/openapi.json``) and validate the small request
bodies. Responses are built by ``autolog.wire`` (the same functions the REST store reads them
back with) and must keep to these shapes: the schemathesis test checks every answer.

The records' models (``Experiment``, ``Run``, ``Metric``, ``ModelVersion``, ...) are derived
from the entities (``autolog.entities``) field by field, as ``autolog.wire`` derives their JSON
forms: a field added to an entity is in the OpenAPI document with no change here. Only the
constraints and descriptions of their fields are written here, and the bodies that are no
record (requests, lists, errors): ``tests/test_record_shapes.py`` checks those that repeat an
entity's fields.
"""

from __future__ import annotations

import enum
import functools
import operator
import types
import typing
from collections.abc import Collection, Mapping, Sequence
from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, create_model
from pydantic.fields import FieldInfo

from autolog import entities

__all__ = [
    "Artifacts",
    "Empty",
    "ErrorBody",
    "Experiment",
    "ExperimentCreate",
    "ExperimentRename",
    "ExperimentTag",
    "Experiments",
    "FileInfo",
    "Hashes",
    "HashesRecord",
    "Metric",
    "MetricBatch",
    "MetricPage",
    "ModelAliasSet",
    "ModelVersion",
    "ModelVersionCreate",
    "ModelVersionTagSet",
    "ModelVersionUpdate",
    "RegisteredModel",
    "RegisteredModelSearch",
    "RegisteredModelTagSet",
    "RegisteredModelUpdate",
    "RegisteredModels",
    "Run",
    "RunCreate",
    "RunPage",
    "RunUpdate",
    "Runs",
    "SearchRequest",
    "ServerInfo",
    "Token",
    "TokenCreate",
    "TokenRecord",
    "Tokens",
    "Upload",
]

INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1
#: a metric value: a JSON number, or one of these strings for what JSON numbers cannot hold
Number = float | Literal["NaN", "Infinity", "-Infinity"]
Status = Literal["RUNNING", "FINISHED", "FAILED", "KILLED"]
Scope = Literal["read", "write", "admin"]
Lifecycle = Literal["active", "deleted", "all"]
Millis = int


class _Closed(BaseModel):
    model_config = ConfigDict(extra="forbid")


# ------------------------------------------------------------------- derived from the entities

#: the models of entities, under their own names, for the entities that nest them
_MODELS: dict[type, type[BaseModel]] = {}
#: enums whose values a model spells as a ``Literal`` (mypy needs those written out; a test
#: checks that they list every member)
_LITERALS: dict[type, Any] = {entities.RunStatus: Status}


def _derive(
    entity: type[tuple[Any, ...]],
    name: str | None = None,
    *,
    base: type[BaseModel] = BaseModel,
    exclude: Collection[str] = (),
    annotations: Mapping[str, Any] | None = None,
    fields: Mapping[str, FieldInfo] | None = None,
    doc: str | None = None,
) -> type[BaseModel]:
    """The model of ``entity``'s JSON form: every field but ``exclude``, in order, required.

    ``annotations`` replaces a field's derived type (a ``Literal`` for a plain ``str``), ``fields``
    adds constraints and descriptions. Without ``name``, it is the entity's own model, which
    entities that nest it use.
    """
    names: tuple[str, ...] = entity._fields  # type: ignore[attr-defined]
    annotations, fields = annotations or {}, fields or {}
    unknown = (set(exclude) | set(annotations) | set(fields)) - set(names)
    if unknown:
        raise TypeError(f"{entity.__name__} has no field {sorted(unknown)}")
    hints = typing.get_type_hints(entity)
    definitions: dict[str, Any] = {
        field: (annotations.get(field) or _annotation(hints[field]), fields.get(field, ...))
        for field in names
        if field not in exclude
    }
    model: type[BaseModel] = create_model(
        name or entity.__name__, __base__=base, __module__=__name__, __doc__=doc, **definitions
    )
    if name is None:
        _MODELS[entity] = model
    return model


def _annotation(hint: Any) -> Any:
    """The pydantic type of a field annotated ``hint``: what ``autolog.wire`` sends for it."""
    if hint is float:
        return Number
    if hint in (str, int, bool, type(None)):
        return hint
    if hint in _LITERALS:
        return _LITERALS[hint]
    if hint in _MODELS:
        return _MODELS[hint]
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin in (types.UnionType, typing.Union):
        return functools.reduce(operator.or_, map(_annotation, args))
    if origin in (Mapping, dict) and args[0] is str:
        return dict[str, _annotation(args[1])]  # type: ignore[misc]
    if origin in (tuple, list, Sequence) and (origin is not tuple or args[1:] == (...,)):
        return list[_annotation(args[0])]  # type: ignore[misc]
    what = "an enum without a Literal" if isinstance(hint, enum.EnumMeta) else "no JSON form"
    raise TypeError(f"{hint!r}: {what} in autolog.server.schemas")


if TYPE_CHECKING:
    # mypy cannot follow models made at run time: to it they are plain models
    Experiment = BaseModel
    RunInfo = BaseModel
    RunData = BaseModel
    Run = BaseModel
    RunPage = BaseModel
    Metric = BaseModel
    HistoryPoint = BaseModel
    KeyValue = BaseModel
    FileInfo = BaseModel
    ModelVersion = BaseModel
    RegisteredModel = BaseModel
    Token = BaseModel
    TokenRecord = BaseModel
else:
    Experiment = _derive(
        entities.Experiment,
        fields={
            "deleted_time": Field(description="set while the experiment is deleted"),
            "tags": Field(description="the experiment's own tags"),
        },
    )
    RunInfo = _derive(
        entities.RunInfo, fields={"deleted_time": Field(description="set while the run is deleted")}
    )
    RunData = _derive(entities.RunData)
    Run = _derive(entities.Run)
    RunPage = _derive(
        entities.RunPage,
        doc="One page of a run search, with what a table needs around it.",
        fields={
            "total": Field(description="runs matching in all pages"),
            "child_counts": Field(description="run id -> its matching child runs"),
        },
    )
    Metric = _derive(
        entities.Metric,
        fields={
            "step": Field(ge=INT64_MIN, le=INT64_MAX),
            "timestamp": Field(ge=0, le=INT64_MAX),
        },
    )
    HistoryPoint = _derive(entities.Metric, "HistoryPoint", exclude=("key",))
    KeyValue = _derive(entities.Param, "KeyValue")
    FileInfo = _derive(entities.FileInfo)
    ModelVersion = _derive(entities.ModelVersion)
    RegisteredModel = _derive(
        entities.RegisteredModel,
        fields={
            "aliases": Field(description="alias -> the version it points at"),
            "latest_version": Field(description="the highest version number; null: none"),
        },
    )
    Token = _derive(
        entities.AccessToken, "Token", exclude=("secret_hash",), annotations={"scope": Scope}
    )
    TokenRecord = _derive(entities.AccessToken, "TokenRecord", annotations={"scope": Scope})


class ErrorDetail(BaseModel):
    code: str = Field(description="stable, machine-readable: not_found, invalid_key, ...")
    message: str = Field(description="what went wrong, for people")
    details: dict[str, object] = Field(description="the error's data (key, path, ...)")


class ErrorBody(BaseModel):
    """Every error answer, whatever the status."""

    error: ErrorDetail


class Empty(BaseModel):
    """Done; nothing to report."""


class ServerInfo(BaseModel):
    version: str
    auth_required: bool
    artifact_root: str
    max_artifact_bytes: int
    max_request_bytes: int


class Experiments(BaseModel):
    experiments: list[Experiment]


class ExperimentCreate(_Closed):
    name: str = Field(min_length=1, max_length=500)
    creation_time: Millis | None = Field(
        default=None,
        ge=0,
        le=INT64_MAX,
        description="for imports: when another system created it (default: now)",
    )


class ExperimentTag(_Closed):
    key: str = Field(min_length=1, description="checked as run tags' keys are")
    value: str


class ExperimentRename(_Closed):
    name: str = Field(min_length=1, max_length=500)


class Runs(BaseModel):
    runs: list[Run]


class RunCreate(_Closed):
    run_id: str = Field(pattern=r"^[A-Za-z0-9_-]{1,128}$")
    experiment_id: str = Field(min_length=1, max_length=64)
    run_name: str = Field(max_length=500)
    start_time: Millis = Field(ge=0, le=INT64_MAX)
    artifact_uri: str = Field(max_length=2000)
    parent_run_id: str | None = Field(default=None, pattern=r"^[A-Za-z0-9_-]{1,128}$")
    tags: dict[str, str] = Field(default_factory=dict)


class RunUpdate(_Closed):
    """A new name (run_name), an end (status, with end_time), or both: one of them at least."""

    status: Status | None = None
    end_time: Millis | None = Field(default=None, ge=0, le=INT64_MAX)
    run_name: str | None = Field(default=None, min_length=1, max_length=500)


class Comparison(_Closed):
    entity: Literal["metric", "param", "tag", "attribute"]
    key: str = Field(min_length=1)
    op: str
    value: Number | str | list[str]


class OrderBy(_Closed):
    entity: Literal["metric", "param", "tag", "attribute"]
    key: str = Field(min_length=1)
    ascending: bool = True


class SearchRequest(_Closed):
    experiment_ids: list[str] | None = Field(default=None, description="null: every experiment")
    filter: str = Field(default="", description="e.g. metrics.acc > 0.9 and params.model = 'rf'")
    filters: list[Comparison] = Field(
        default_factory=list, description="parsed conditions, ANDed with filter"
    )
    order_by: list[str] = Field(default_factory=list, description="e.g. ['metrics.acc DESC']")
    order: list[OrderBy] = Field(
        default_factory=list, description="parsed order clauses, after order_by"
    )
    max_results: int = Field(default=1000, ge=1, le=2**31 - 1)
    lifecycle: Lifecycle = Field(default="active", description="active runs, deleted ones, or all")


class MetricBatch(BaseModel):
    """Metric values, params and tags of one run, stored together or not at all.

    Also accepted as ``application/x-autolog-metrics`` (see ``autolog.wire``).
    """

    batch_id: str | None = Field(
        default=None,
        max_length=200,
        description="a batch whose id the run has stored before is not stored again",
    )
    metrics: list[Metric] = Field(default_factory=list)
    params: list[KeyValue] = Field(default_factory=list)
    tags: list[KeyValue] = Field(default_factory=list)


class MetricPage(BaseModel):
    key: str
    metrics: list[HistoryPoint]
    next_page_token: str | None = Field(description="pass as page_token for the next page")


class HashesRecord(_Closed):
    hashes: dict[str, str] = Field(description="artifact path -> SHA-256 (64 hex digits)")


class Hashes(BaseModel):
    hashes: dict[str, str]


class ModelRecord(_Closed):
    path: str = Field(description="the model's folder in the run's artifacts")
    files: dict[str, str] = Field(
        description="the model's files: artifact path (under path/) -> SHA-256 (64 hex digits)"
    )


class ModelFiles(BaseModel):
    files: dict[str, str] | None = Field(description="null where no model was logged there")


class Artifacts(BaseModel):
    files: list[FileInfo]


class Upload(BaseModel):
    path: str
    sha256: str
    file_size: int


class ModelVersionCreate(_Closed):
    name: str = Field(min_length=1, max_length=500)
    source: str = Field(min_length=1, max_length=2000)
    run_id: str | None = Field(default=None, pattern=r"^[A-Za-z0-9_-]{1,128}$")


class ModelAliasSet(_Closed):
    name: str = Field(min_length=1, max_length=500)
    alias: str = Field(min_length=1, max_length=250)
    version: int = Field(ge=INT64_MIN, le=INT64_MAX)


class Tokens(BaseModel):
    tokens: list[TokenRecord]


# Written out, not derived: its handler reads its fields, which mypy must see. A test keeps
# them those of ``AccessToken``.
class TokenCreate(_Closed):
    """A token made by the caller (``autolog server token create``): the secret never travels,
    only its SHA-256."""

    token_id: str = Field(pattern=r"^[0-9a-f]{1,64}$")
    name: str = Field(min_length=1, max_length=200)
    scope: Scope
    creation_time: Millis = Field(ge=0, le=INT64_MAX)
    secret_hash: str = Field(pattern=r"^[0-9a-f]{64}$")


class RegisteredModels(BaseModel):
    registered_models: list[RegisteredModel]


class RegisteredModelSearch(_Closed):
    filter: str = Field(
        default="",
        max_length=10_000,
        description="name = 'x', name LIKE 'x%', tags.k = 'v', joined by and",
    )
    max_results: int = Field(default=100, ge=1, le=INT64_MAX)


class RegisteredModelUpdate(_Closed):
    """A rename (new_name) or a new description (null or "": none), or both."""

    name: str = Field(min_length=1, max_length=500)
    new_name: str | None = Field(default=None, min_length=1, max_length=500)
    description: str | None = Field(default=None, max_length=100_000)


class ModelVersionUpdate(_Closed):
    name: str = Field(min_length=1, max_length=500)
    version: int = Field(ge=INT64_MIN, le=INT64_MAX)
    description: str | None = Field(max_length=100_000)


class RegisteredModelTagSet(_Closed):
    name: str = Field(min_length=1, max_length=500)
    key: str = Field(description="checked as every key is: a bad one is invalid_key")
    value: str


class ModelVersionTagSet(_Closed):
    name: str = Field(min_length=1, max_length=500)
    version: int = Field(ge=INT64_MIN, le=INT64_MAX)
    key: str = Field(description="checked as every key is: a bad one is invalid_key")
    value: str
