"""The request and response bodies of the REST API, as pydantic models.

They give FastAPI the OpenAPI document (``/openapi.json``) and validate the small request
bodies. Responses are built by ``autolog.wire`` (the same functions the REST store reads them
back with) and must keep to these shapes: the schemathesis test checks every answer.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

__all__ = [
    "Artifacts",
    "Empty",
    "ErrorBody",
    "Experiment",
    "ExperimentCreate",
    "ExperimentRename",
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
    "Run",
    "RunCreate",
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
Int64 = int
Millis = int


class _Closed(BaseModel):
    model_config = ConfigDict(extra="forbid")


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


class Experiment(BaseModel):
    experiment_id: str
    name: str
    artifact_location: str
    creation_time: Millis
    deleted_time: Millis | None = Field(description="set while the experiment is deleted")


class Experiments(BaseModel):
    experiments: list[Experiment]


class ExperimentCreate(_Closed):
    name: str = Field(min_length=1, max_length=500)


class ExperimentRename(_Closed):
    name: str = Field(min_length=1, max_length=500)


class RunInfo(BaseModel):
    run_id: str
    experiment_id: str
    run_name: str
    status: Status
    start_time: Millis
    end_time: Millis | None
    artifact_uri: str
    parent_run_id: str | None
    deleted_time: Millis | None = Field(description="set while the run is deleted")


class RunData(BaseModel):
    params: dict[str, str]
    metrics: dict[str, Number]
    tags: dict[str, str]


class Run(BaseModel):
    info: RunInfo
    data: RunData


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
    status: Status
    end_time: Millis | None = Field(default=None, ge=0, le=INT64_MAX)


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


class Metric(BaseModel):
    key: str
    value: Number
    step: Int64 = Field(ge=INT64_MIN, le=INT64_MAX)
    timestamp: Millis = Field(ge=0, le=INT64_MAX)


class KeyValue(BaseModel):
    key: str
    value: str


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


class HistoryPoint(BaseModel):
    value: Number
    step: Int64
    timestamp: Millis


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


class FileInfo(BaseModel):
    path: str
    is_dir: bool
    file_size: int | None


class Artifacts(BaseModel):
    files: list[FileInfo]


class Upload(BaseModel):
    path: str
    sha256: str
    file_size: int


class ModelVersion(BaseModel):
    name: str
    version: int
    source: str
    run_id: str | None
    creation_time: Millis
    aliases: list[str]


class ModelVersionCreate(_Closed):
    name: str = Field(min_length=1, max_length=500)
    source: str = Field(min_length=1, max_length=2000)
    run_id: str | None = Field(default=None, pattern=r"^[A-Za-z0-9_-]{1,128}$")


class ModelAliasSet(_Closed):
    name: str = Field(min_length=1, max_length=500)
    alias: str = Field(min_length=1, max_length=250)
    version: int = Field(ge=INT64_MIN, le=INT64_MAX)


class Token(BaseModel):
    token_id: str
    name: str
    scope: Scope
    creation_time: Millis


class TokenRecord(Token):
    secret_hash: str


class Tokens(BaseModel):
    tokens: list[TokenRecord]


class TokenCreate(_Closed):
    """A token made by the caller (``autolog server token create``): the secret never travels,
    only its SHA-256."""

    token_id: str = Field(pattern=r"^[0-9a-f]{1,64}$")
    name: str = Field(min_length=1, max_length=200)
    scope: Scope
    creation_time: Millis = Field(ge=0, le=INT64_MAX)
    secret_hash: str = Field(pattern=r"^[0-9a-f]{64}$")
