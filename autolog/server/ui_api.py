"""The REST endpoints the web UI reads, beyond one route per ``Store`` operation.

They are ordinary ``/api/v1`` endpoints, open to any client: a page of a run search with its
total and child counts, experiment summaries, downsampled metric series for charts (the
chart's width in pixels, an optional step range: zooming in and live growth ask for the steps
they need), a run's metric summary, registered models, and, for artifacts, previews and the
cards of logged models. Every answer is a bounded amount of JSON, whatever the store holds.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query, Request, Response
from pydantic import BaseModel, ConfigDict, Field

from autolog import wire
from autolog.entities import ModelVersion
from autolog.errors import InvalidInputError, NotFoundError
from autolog.search import Comparison, OrderBy, parse_filter, parse_order_by
from autolog.server import schemas
from autolog.server.api import ERROR_RESPONSES, check_text
from autolog.server.downsample import buckets_for_width, downsample
from autolog.server.state import public_run, state_of
from autolog.stores.base import Store
from autolog.validation import check_artifact_path

__all__ = ["MAX_PAGE", "MAX_PREVIEW", "MAX_SERIES", "preview_kind", "router"]

#: the most runs one page of a search holds
MAX_PAGE = 1000
#: the most (run, key) series one metric-series request may ask for
MAX_SERIES = 100

router = APIRouter(prefix="/api/v1", tags=["ui"], responses=ERROR_RESPONSES)
_number = wire.number_to_json


# The answers' shapes, for the OpenAPI document (the answers themselves are built as JSON).


class ExperimentSummary(BaseModel):
    experiment_id: str
    name: str
    creation_time: int
    run_count: int
    running_count: int
    last_activity: int | None = Field(description="the latest start or end of one of its runs")


class ExperimentSummaries(BaseModel):
    experiments: list[ExperimentSummary]


class Series(BaseModel):
    run_id: str
    key: str
    total: int = Field(description="values in the step range before downsampling")
    downsampled: bool
    t0: int = Field(description="the first point's timestamp; times are relative to it")
    steps: list[int]
    times: list[int]
    values: list[schemas.Number]


class SeriesBody(BaseModel):
    series: list[Series]


class MetricStats(BaseModel):
    latest: schemas.Number
    min: schemas.Number | None
    max: schemas.Number | None
    count: int
    last_step: int | None


class MetricSummary(BaseModel):
    metrics: dict[str, MetricStats]


class RegisteredModel(BaseModel):
    name: str
    latest_version: int | None = Field(description="null: every version was deleted")
    version_count: int
    creation_time: int
    last_updated: int
    aliases: dict[str, int]
    latest_run_id: str | None
    latest_run_name: str | None
    description: str | None
    tags: dict[str, str]


class RegisteredModels(BaseModel):
    models: list[RegisteredModel]


class VersionWithRun(schemas.ModelVersion):
    run_name: str | None


class ModelVersions(BaseModel):
    versions: list[VersionWithRun]


class ArtifactPreview(BaseModel):
    path: str
    size: int
    kind: Literal["image", "json", "csv", "html", "svg", "text", "binary"]
    truncated: bool
    text: str | None
    text_bytes: int


class ModelFile(BaseModel):
    name: str
    sha256: str | None = Field(
        description="as the model's metadata file lists it (the metadata file's own: as the "
        "model's record holds it, since a file cannot list its own digest)"
    )
    recorded: str | None = Field(description="as the tracking store recorded it")


class VersionRef(BaseModel):
    name: str
    version: int
    aliases: list[str]


class LoggedModel(BaseModel):
    path: str
    flavor: str | None
    model_class: str | None
    python_version: str | None
    libraries: dict[str, str]
    created_time: int | None
    files: list[ModelFile]
    load_uri: str
    registered: list[VersionRef]


class LoggedModels(BaseModel):
    models: list[LoggedModel]


def _store(request: Request) -> Store:
    return state_of(request).store


def _json(data: Any) -> Response:
    return Response(wire.dumps(data), media_type="application/json")


def _version_json(version: ModelVersion, run_name: str | None = None) -> dict[str, Any]:
    return {**wire.model_version_to_json(version), "run_name": run_name}


# -------------------------------------------------------------------------------- searching


class SearchPageRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    experiment_ids: list[str] | None = Field(default=None, description="null: every experiment")
    filter: str = Field(default="", description="e.g. metrics.acc > 0.9 and params.model = 'rf'")
    filters: list[schemas.Comparison] = Field(
        default_factory=list, description="parsed conditions, ANDed with filter"
    )
    order_by: list[str] = Field(default_factory=list, description="e.g. ['metrics.acc DESC']")
    order: list[schemas.OrderBy] = Field(
        default_factory=list, description="parsed order clauses, after order_by"
    )
    offset: int = Field(default=0, ge=0, le=2**62, description="how many matches to skip")
    limit: int = Field(default=100, ge=0, le=MAX_PAGE, description="the most runs to return")
    top_level: bool = Field(default=False, description="only runs without a parent run")
    lifecycle: Literal["active", "deleted", "all"] = Field(
        default="active", description="runs not deleted (nor their experiment), deleted, or all"
    )


@router.post("/runs/search-page", response_model=schemas.RunPage)
def search_page(request: Request, body: SearchPageRequest) -> Response:
    """One page of a run search, in order, with the number of all matches and, for each run of
    the page, how many of its child runs match too (its children are the search
    ``attributes.parent_run_id = '<run_id>'``)."""
    filters: list[Comparison] = parse_filter(check_text(body.filter, "filter"))
    filters += [wire.comparison_from_json(c.model_dump()) for c in body.filters]
    for comparison in filters:
        values = comparison.value if isinstance(comparison.value, tuple) else (comparison.value,)
        for text in (comparison.key, *values):
            if isinstance(text, str):
                check_text(text, "filter")
    order: list[OrderBy] = parse_order_by([check_text(o, "order_by") for o in body.order_by])
    order += [wire.order_by_from_json(o.model_dump()) for o in body.order]
    ids = body.experiment_ids
    if ids is not None:
        ids = [check_text(i, "experiment id") for i in ids]
    page = _store(request).search_run_page(
        ids,
        filters,
        order,
        body.offset,
        body.limit,
        top_level=body.top_level,
        lifecycle=body.lifecycle,
    )
    return _json(wire.run_page_to_json(page._replace(runs=[public_run(r) for r in page.runs])))


@router.get("/experiment-summaries", response_model=ExperimentSummaries)
def experiment_summaries(request: Request) -> Response:
    """Every experiment with its number of runs, of running runs, and its last activity (the
    latest start or end of one of its runs)."""
    store = _store(request)
    running = parse_filter("attributes.status = 'RUNNING'")
    summaries: list[dict[str, Any]] = []
    for experiment in store.list_experiments():
        ids = [experiment.experiment_id]
        total = store.search_run_page(ids, [], [], 0, 0).total
        last = None
        if total:
            newest = store.search_run_page(ids, [], [], 0, 1).runs
            ended = store.search_run_page(ids, [], parse_order_by("end_time DESC"), 0, 1).runs
            times = [r.info.start_time for r in newest] + [
                r.info.end_time for r in ended if r.info.end_time is not None
            ]
            last = max(times, default=None)
        summaries.append(
            {
                "experiment_id": experiment.experiment_id,
                "name": experiment.name,
                "creation_time": experiment.creation_time,
                "run_count": total,
                "running_count": store.search_run_page(ids, running, [], 0, 0).total
                if total
                else 0,
                "last_activity": last,
            }
        )
    summaries.sort(key=lambda s: (-(s["last_activity"] or s["creation_time"]), s["name"]))
    return _json({"experiments": summaries})


# ---------------------------------------------------------------------------------- metrics


@router.get("/metric-series", response_model=SeriesBody)
def metric_series(
    request: Request,
    run_id: Annotated[list[str], Query(min_length=1, description="one or more runs")],
    key: Annotated[list[str], Query(min_length=1, description="one or more metric keys")],
    width: Annotated[int, Query(ge=1, le=100_000, description="the chart's width in pixels")],
    min_step: Annotated[int | None, Query(description="the first step wanted")] = None,
    max_step: Annotated[int | None, Query(description="the last step wanted")] = None,
) -> Response:
    """Each run's values of each key within the step range, downsampled for a chart ``width``
    pixels wide: per bucket of steps the first, lowest, highest and last value, so that every
    spike is drawn. Under about 100 KB per series whatever its length. Timestamps are given
    relative to ``t0``; values that are not finite as "NaN", "Infinity", "-Infinity"."""
    if len(run_id) * len(key) > MAX_SERIES:
        raise InvalidInputError(
            f"{len(run_id)} runs x {len(key)} keys is more than {MAX_SERIES} series at once"
        )
    store = _store(request)
    buckets = buckets_for_width(width)
    series = []
    for rid in dict.fromkeys(check_text(r, "run_id") for r in run_id):
        for k in dict.fromkeys(check_text(k, "key") for k in key):
            columns = store.get_metric_columns(rid, k, min_step, max_step)
            kept = downsample(columns.steps, columns.timestamps, columns.values, buckets)
            t0 = kept.timestamps[0] if kept.timestamps else 0
            series.append(
                {
                    "run_id": rid,
                    "key": k,
                    "total": kept.total,
                    "downsampled": kept.downsampled,
                    "t0": t0,
                    "steps": kept.steps,
                    "times": [t - t0 for t in kept.timestamps],
                    "values": [_number(v) for v in kept.values],
                }
            )
    return _json({"series": series})


def _summary(steps: Sequence[int], values: Sequence[float]) -> dict[str, Any]:
    finite = [v for v in values if math.isfinite(v)] if not math.isfinite(sum(values)) else values
    return {
        "min": _number(min(finite)) if finite else None,
        "max": _number(max(finite)) if finite else None,
        "count": len(values),
        "last_step": steps[-1] if steps else None,  # ordered by step
    }


@router.get("/runs/{run_id}/metric-summary", response_model=MetricSummary)
def metric_summary(request: Request, run_id: str) -> Response:
    """Each metric of the run: its latest value, lowest and highest finite values, how many
    values it has, and its last step."""
    store = _store(request)
    run = store.get_run(check_text(run_id, "run_id"))
    metrics = {}
    for key, latest in sorted(run.data.metrics.items()):
        columns = store.get_metric_columns(run_id, key)
        metrics[key] = {"latest": _number(latest), **_summary(columns.steps, columns.values)}
    return _json({"metrics": metrics})


# ----------------------------------------------------------------------------------- models


@router.get("/registered-models", response_model=RegisteredModels)
def registered_models(request: Request) -> Response:
    """Every registered model: latest version, aliases, description, tags, when it last
    changed, and the run its latest version came from."""
    store = _store(request)
    by_name: dict[str, list[ModelVersion]] = {}
    for version in store.list_model_versions():
        by_name.setdefault(version.name, []).append(version)
    models: list[dict[str, Any]] = []
    for model in store.search_registered_models("", 2**31 - 1):  # every one
        versions = by_name.get(model.name, [])
        latest = max(versions, key=lambda v: v.version, default=None)
        run_id = None if latest is None else latest.run_id
        models.append(
            {
                "name": model.name,
                "latest_version": None if latest is None else latest.version,
                "version_count": len(versions),
                "creation_time": model.creation_time,
                "last_updated": model.last_updated_time,
                "aliases": dict(model.aliases),
                "latest_run_id": run_id,
                "latest_run_name": _run_name(store, run_id),
                "description": model.description,
                "tags": dict(model.tags),
            }
        )
    models.sort(key=lambda m: (-m["last_updated"], m["name"]))
    return _json({"models": models})


@router.get("/registered-models/versions", response_model=ModelVersions)
def model_versions(
    request: Request,
    name: Annotated[str | None, Query(min_length=1, max_length=500)] = None,
) -> Response:
    """Every version of the registered model ``name`` (every model's without a name), ordered
    by name and version, with the names of their source runs; none for an unknown name."""
    store = _store(request)
    versions = store.list_model_versions(name)
    names = {v.run_id: _run_name(store, v.run_id) for v in versions if v.run_id}
    return _json({"versions": [_version_json(v, names.get(v.run_id or "")) for v in versions]})


def _run_name(store: Store, run_id: str | None) -> str | None:
    if run_id is None:
        return None
    try:
        return store.get_run(run_id).info.run_name
    except NotFoundError:
        return None


# -------------------------------------------------------------------------------- artifacts

#: the most bytes of a file an artifact preview reads
MAX_PREVIEW = 1 << 20
_IMAGES = {
    ".png": b"\x89PNG\r\n\x1a\n",
    ".jpg": b"\xff\xd8\xff",
    ".jpeg": b"\xff\xd8\xff",
    ".gif": b"GIF8",
    ".webp": b"RIFF",
    ".bmp": b"BM",
}
_KINDS = {".json": "json", ".csv": "csv", ".tsv": "csv", ".html": "html", ".htm": "html"}


def preview_kind(path: str, head: bytes) -> str:
    """How a UI shows a file: image, json, csv, html, svg, text, or binary (download only).

    Judged from the name and the first bytes; HTML and SVG are kinds of their own so that a
    page shows them as text, never renders them.
    """
    name = path.rsplit("/", 1)[-1].lower()
    suffix = name[name.rfind(".") :] if "." in name else ""
    magic = _IMAGES.get(suffix)
    if magic is not None:
        return "image" if head.startswith(magic) else "binary"
    if b"\x00" in head[:8192]:
        return "binary"
    try:
        head[:8192].decode("utf-8")
    except UnicodeDecodeError as exc:
        if exc.start < len(head[:8192]) - 4:  # not just a character cut at the end
            return "binary"
    if suffix == ".svg":
        return "svg"
    return _KINDS.get(suffix, "text")


@router.get("/runs/{run_id}/artifact-preview", response_model=ArtifactPreview)
def artifact_preview(
    request: Request,
    run_id: str,
    path: Annotated[str, Query(min_length=1, max_length=1000)],
    max_bytes: Annotated[int, Query(ge=1, le=MAX_PREVIEW)] = 256 * 1024,
) -> Response:
    """What a page needs to preview the file at ``path``: its kind (image, json, csv, html,
    svg, text or binary), its size, and for text kinds the first ``max_bytes`` as text.

    The file is read as data: HTML and SVG come back as their text, never to be rendered.
    """
    import codecs

    checked = check_artifact_path(path)
    if not checked:
        raise InvalidInputError("a preview needs the path of a file under the run's artifacts")
    _, repository = state_of(request).run_artifacts(run_id)
    size, pieces = repository.stream(checked)
    head = bytearray()
    try:
        for piece in pieces:
            head += piece
            if len(head) >= max_bytes:
                break
    finally:
        close = getattr(pieces, "close", None)
        if close is not None:
            close()
    data = bytes(head[:max_bytes])
    kind = preview_kind(checked, data)
    text = None
    if kind not in ("image", "binary"):
        # an incremental decoder leaves a character cut at the end out, not garbled
        text = codecs.getincrementaldecoder("utf-8")("replace").decode(
            data, final=size <= max_bytes
        )
    return _json(
        {
            "path": checked,
            "size": size,
            "kind": kind,
            "truncated": size > len(data),
            "text": text,
            "text_bytes": len(data) if text is not None else 0,
        }
    )


@router.get("/runs/{run_id}/logged-models", response_model=LoggedModels)
def logged_models(request: Request, run_id: str) -> Response:
    """The models logged in the run (folders holding ``autolog-model.json`` that the store
    holds a complete model record for): flavor, class, Python and library versions, each
    file's SHA-256 as the model recorded it beside the one the tracking store recorded, and
    the registered versions made from it."""
    from autolog.models import MODEL_META
    from autolog.tracking import incomplete_model

    state = state_of(request)
    store = state.store
    store.get_run(check_text(run_id, "run_id"))  # NotFoundError for a run that does not exist
    records = {
        folder: store.get_model_files(run_id, folder)
        for folder in {
            p[: -len(MODEL_META) - 1]
            for p in store.get_artifact_hashes(run_id)
            if p.endswith(f"/{MODEL_META}")
        }
    }
    hashes: dict[str, str] = {}
    folders = []
    for folder, record in sorted(records.items()):
        if record is not None and not incomplete_model(folder, record):
            folders.append(folder)
            hashes.update(record)
    if not folders:
        return _json({"models": []})
    _, repository = state.run_artifacts(run_id)
    registered = [v for v in store.list_model_versions() if v.run_id == run_id]
    models = []
    for folder in folders:
        try:
            meta = json.loads(repository.read_bytes(f"{folder}/{MODEL_META}"))
        except (NotFoundError, ValueError, OSError):
            meta = {}
        if not isinstance(meta, dict):
            meta = {}
        listed = meta.get("files")
        files = {
            str(k): _text_or_none(v)
            for k, v in (listed if isinstance(listed, dict) else {}).items()
        }
        files[MODEL_META] = hashes.get(f"{folder}/{MODEL_META}")
        names = sorted(files)
        libraries = meta.get("libraries")
        created = meta.get("created_time")
        models.append(
            {
                "path": folder,
                "flavor": _text_or_none(meta.get("flavor")),
                "model_class": _text_or_none(meta.get("model_class")),
                "python_version": _text_or_none(meta.get("python_version")),
                "libraries": {
                    str(k): str(v)
                    for k, v in (libraries if isinstance(libraries, dict) else {}).items()
                },
                "created_time": created if type(created) is int else None,
                "files": [
                    {
                        "name": name,
                        "sha256": files.get(name),
                        "recorded": hashes.get(f"{folder}/{name}"),
                    }
                    for name in names
                ],
                "load_uri": f"runs:/{run_id}/{folder}",
                "registered": [
                    {"name": v.name, "version": v.version, "aliases": list(v.aliases)}
                    for v in registered
                    if v.source == f"runs:/{run_id}/{folder}"
                ],
            }
        )
    return _json({"models": models})


def _text_or_none(value: object) -> str | None:
    """A string from a model's metadata file (written by a client: trusted for nothing)."""
    return value if isinstance(value, str) else None
