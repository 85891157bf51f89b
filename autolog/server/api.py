"""The REST API under ``/api/v1``: one route per ``Store`` operation, and the artifacts.

Every route validates what it is given as the ``Client`` would (keys, value sizes, text a store
can hold), calls the tracking store, and answers with the JSON forms of ``autolog.wire``.
Failures are ``AutologError``s, turned into JSON errors by the handlers in ``app.py``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Annotated, Any

from fastapi import APIRouter, Body, Query, Request, Response
from starlette.concurrency import run_in_threadpool

from autolog import __version__, wire
from autolog.entities import AccessToken, Metric, Param, RunStatus, RunTag
from autolog.errors import InvalidInputError, InvalidValueError, NotFoundError
from autolog.search import Comparison, OrderBy, parse_filter, parse_order_by
from autolog.server import schemas
from autolog.server.artifact_routes import router as artifact_router
from autolog.server.state import PUBLIC_ROOT, public_experiment, public_run, state_of
from autolog.stores.base import Store
from autolog.validation import (
    STEP_MAX,
    STEP_MIN,
    check_artifact_path,
    check_key,
    is_run_id,
)

__all__ = ["ERROR_RESPONSES", "json_response", "router"]

_ERROR = {"model": schemas.ErrorBody}
#: every route may answer these, all with an ``ErrorBody``
ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    400: {**_ERROR, "description": "bad input: the code and details say which"},
    401: {**_ERROR, "description": "a token is needed, or the one given is not valid"},
    403: {**_ERROR, "description": "the token's scope does not allow this"},
    404: {**_ERROR, "description": "no such experiment, run, artifact, model or token"},
    409: {**_ERROR, "description": "conflicts with what is stored (e.g. a param's value)"},
    413: {**_ERROR, "description": "the body is larger than the server's limit"},
    422: {**_ERROR, "description": "the request does not have the documented form"},
    500: {**_ERROR, "description": "the server or its store failed"},
    503: {
        **_ERROR,
        "description": "the tracking store is unavailable for now: retry after Retry-After s",
        "headers": {"Retry-After": {"schema": {"type": "integer"}, "description": "seconds"}},
    },
}
_RUN_ID_CHARS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-")
HISTORY_PAGE = 10_000
HISTORY_MAX_PAGE = 100_000
_JSON = "application/json"

router = APIRouter(prefix="/api/v1", responses=ERROR_RESPONSES)
router.include_router(artifact_router)


def json_response(data: Any, status: int = 200) -> Response:
    return Response(wire.dumps(data), status_code=status, media_type=_JSON)


def _store(request: Request) -> Store:
    return state_of(request).store


def check_text(value: str, what: str) -> str:
    """Text that every store can hold: valid Unicode, no NUL."""
    if "\x00" in value:
        raise InvalidValueError(what, value, "NUL characters cannot be stored")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise InvalidValueError(what, value, "lone surrogates are not valid text") from None
    return value


def _check_key(key: str) -> str:
    """A key read from a URL path (written keys are the tracking service's to check)."""
    return check_key(check_text(key, "key"))


def _check_run_id(run_id: str) -> str:
    if not is_run_id(run_id):  # no run can have this id: not found, nothing looked up
        raise NotFoundError("run", run_id)
    return run_id


# -------------------------------------------------------------------------------- the server


@router.get("/health", response_model=schemas.Empty, tags=["server"])
def health() -> Response:
    """Answers while the server runs (no token needed)."""
    return json_response({})


@router.get("/server", response_model=schemas.ServerInfo, tags=["server"])
def server_info(request: Request) -> Response:
    """The server's version, whether it needs tokens, and its limits."""
    state = state_of(request)
    settings = state.settings
    return json_response(
        {
            "version": __version__,
            "auth_required": settings.require_token,
            "artifact_root": PUBLIC_ROOT,
            "max_artifact_bytes": settings.max_artifact_bytes,
            "max_request_bytes": settings.max_request_bytes,
        }
    )


# ------------------------------------------------------------------------------- experiments


@router.post("/experiments", response_model=schemas.Experiment, tags=["experiments"])
def get_or_create_experiment(request: Request, body: schemas.ExperimentCreate) -> Response:
    """The experiment called ``name``, created if there is none (so a retry is harmless);
    ``creation_time`` is for imports: the time another system created it."""
    name = check_text(body.name, "experiment name")
    if not name.strip():
        raise InvalidInputError(f"experiment names must be non-empty, not {name!r}")
    found = _store(request).get_or_create_experiment(name, creation_time=body.creation_time)
    return json_response(wire.experiment_to_json(public_experiment(found)))


@router.get("/experiments", response_model=schemas.Experiments, tags=["experiments"])
def list_experiments(
    request: Request,
    name: Annotated[str | None, Query(max_length=500)] = None,
    lifecycle: schemas.Lifecycle = "active",
) -> Response:
    """Experiments in creation order ("active", "deleted" or "all"), or the one called
    ``name`` whatever its state (an empty list if there is none)."""
    store = _store(request)
    if name is not None:
        found = store.get_experiment_by_name(check_text(name, "experiment name"))
        experiments = [] if found is None else [found]
    else:
        experiments = store.list_experiments(lifecycle)
    return json_response(
        {"experiments": [wire.experiment_to_json(public_experiment(e)) for e in experiments]}
    )


@router.patch("/experiments/{experiment_id}", response_model=schemas.Empty, tags=["experiments"])
def rename_experiment(
    request: Request, experiment_id: str, body: schemas.ExperimentRename
) -> Response:
    """Give the experiment a new name (one no other experiment has)."""
    name = check_text(body.name, "experiment name")
    if not name.strip():
        raise InvalidInputError(f"experiment names must be non-empty, not {name!r}")
    _store(request).rename_experiment(check_text(experiment_id, "experiment id"), name)
    return json_response({})


@router.delete("/experiments/{experiment_id}", response_model=schemas.Empty, tags=["experiments"])
def delete_experiment(
    request: Request,
    experiment_id: str,
    deleted_time: Annotated[int | None, Query(ge=0, le=schemas.INT64_MAX)] = None,
) -> Response:
    """Soft-delete the experiment: hidden with its runs until restored or purged (admin);
    ``deleted_time`` is for imports: the time another system deleted it."""
    checked = check_text(experiment_id, "experiment id")
    _store(request).delete_experiment(checked, deleted_time=deleted_time)
    return json_response({})


@router.put("/experiments/{experiment_id}/tags", response_model=schemas.Empty, tags=["experiments"])
def set_experiment_tag(
    request: Request, experiment_id: str, body: schemas.ExperimentTag
) -> Response:
    """Set a tag of the experiment itself (a key's value replaces the one before)."""
    checked = check_text(experiment_id, "experiment id")
    _store(request).set_experiment_tag(checked, body.key, body.value)
    return json_response({})


@router.delete(
    "/experiments/{experiment_id}/tags", response_model=schemas.Empty, tags=["experiments"]
)
def delete_experiment_tag(
    request: Request, experiment_id: str, key: Annotated[str, Query(min_length=1)]
) -> Response:
    """Remove the experiment's tag ``key`` (admin, as every delete); one it does not have is
    no change."""
    checked = check_text(experiment_id, "experiment id")
    _store(request).delete_experiment_tag(checked, key)
    return json_response({})


@router.post(
    "/experiments/{experiment_id}/restore", response_model=schemas.Empty, tags=["experiments"]
)
def restore_experiment(request: Request, experiment_id: str) -> Response:
    """Undo a delete (admin)."""
    _store(request).restore_experiment(check_text(experiment_id, "experiment id"))
    return json_response({})


@router.post(
    "/experiments/{experiment_id}/purge", response_model=schemas.Empty, tags=["experiments"]
)
def purge_experiment(request: Request, experiment_id: str) -> Response:
    """Remove a deleted experiment for good, with its runs and their artifacts (admin)."""
    state = state_of(request)
    checked = check_text(experiment_id, "experiment id")
    runs = state.store.search_runs([checked], [], [], 2**31 - 1, "all")
    repositories = [state.run_artifacts(run.info.run_id)[1] for run in runs]
    state.store.purge_experiment(checked)
    for repository in repositories:
        repository.remove_all()
    return json_response({})


@router.get("/experiments/{experiment_id}", response_model=schemas.Experiment, tags=["experiments"])
def get_experiment(request: Request, experiment_id: str) -> Response:
    check_text(experiment_id, "experiment id")
    return json_response(
        wire.experiment_to_json(public_experiment(_store(request).get_experiment(experiment_id)))
    )


# -------------------------------------------------------------------------------------- runs


@router.post("/runs", response_model=schemas.Empty, tags=["runs"])
def create_run(request: Request, body: schemas.RunCreate) -> Response:
    """Create a RUNNING run with the caller's run id; an existing id is refused (409)."""
    store = _store(request)
    tags = dict(body.tags)  # checked by the tracking service, as every write
    for value, what in (
        (body.experiment_id, "experiment id"),
        (body.run_name, "run name"),
        (body.artifact_uri, "artifact URI"),
    ):
        check_text(value, what)
    try:
        store.get_run(body.run_id)
    except NotFoundError:
        pass
    else:
        raise wire.AlreadyExistsError("run", body.run_id)
    # the place is the server's to choose: the experiment's, whatever the client sent
    artifact_uri = state_of(request).artifact_root_of(body.experiment_id, body.run_id)
    store.create_run(
        body.run_id,
        body.experiment_id,
        body.run_name,
        body.start_time,
        artifact_uri,
        body.parent_run_id,
        tags,
    )
    return json_response({})


@router.get("/runs/{run_id}", response_model=schemas.Run, tags=["runs"])
def get_run(request: Request, run_id: str) -> Response:
    return json_response(
        wire.run_to_json(public_run(_store(request).get_run(_check_run_id(run_id))))
    )


@router.patch("/runs/{run_id}", response_model=schemas.Empty, tags=["runs"])
def update_run(request: Request, run_id: str, body: schemas.RunUpdate) -> Response:
    """Rename the run (``run_name``: whatever its state, unless it is deleted), set its
    status and end time (FINISHED, FAILED, KILLED), or both: the name first, then the end."""
    checked = _check_run_id(run_id)
    if body.status is None and (body.run_name is None or body.end_time is not None):
        raise InvalidInputError(
            "a run update gives a run_name, a status (with an end_time or none), or both"
        )
    store = _store(request)
    if body.run_name is not None:
        store.rename_run(checked, check_text(body.run_name, "run name"))
    if body.status is not None:
        store.update_run(checked, RunStatus(body.status), body.end_time)
    return json_response({})


@router.delete("/runs/{run_id}", response_model=schemas.Empty, tags=["runs"])
def delete_run(request: Request, run_id: str) -> Response:
    """Soft-delete the run: hidden from search until restored or purged (admin)."""
    _store(request).delete_run(_check_run_id(run_id))
    return json_response({})


@router.delete("/runs/{run_id}/tags", response_model=schemas.Empty, tags=["runs"])
def delete_run_tag(
    request: Request, run_id: str, key: Annotated[str, Query(min_length=1)]
) -> Response:
    """Remove the run's tag ``key`` (admin, as every delete), under the rules of setting one:
    an ended run's too, not a deleted ended run's; one it does not have is no change."""
    _store(request).delete_tag(_check_run_id(run_id), _check_key(key))
    return json_response({})


@router.post("/runs/{run_id}/restore", response_model=schemas.Empty, tags=["runs"])
def restore_run(request: Request, run_id: str) -> Response:
    """Undo a delete (admin)."""
    _store(request).restore_run(_check_run_id(run_id))
    return json_response({})


@router.post("/runs/{run_id}/purge", response_model=schemas.Empty, tags=["runs"])
def purge_run(request: Request, run_id: str) -> Response:
    """Remove a deleted run for good, its artifacts on the server too (admin)."""
    state = state_of(request)
    _, repository = state.run_artifacts(_check_run_id(run_id))
    state.store.purge_run(run_id)
    repository.remove_all()
    return json_response({})


@router.post("/runs/search", response_model=schemas.Runs, tags=["runs"])
def search_runs(request: Request, body: schemas.SearchRequest) -> Response:
    """Runs matching ``filter`` (the ``search_runs`` syntax) and ``filters``, newest first
    unless ordered otherwise."""
    filters: list[Comparison] = parse_filter(check_text(body.filter, "filter"))
    filters += [wire.comparison_from_json(c.model_dump()) for c in body.filters]
    for comparison in filters:
        check_text(comparison.key, "filter key")
        values = comparison.value if isinstance(comparison.value, tuple) else (comparison.value,)
        for value in values:
            if isinstance(value, str):
                check_text(value, "filter value")
    order: list[OrderBy] = parse_order_by([check_text(o, "order_by") for o in body.order_by])
    order += [wire.order_by_from_json(o.model_dump()) for o in body.order]
    ids = (
        None if body.experiment_ids is None else [check_text(i, "id") for i in body.experiment_ids]
    )
    runs = _store(request).search_runs(ids, filters, order, body.max_results, body.lifecycle)
    return json_response({"runs": [wire.run_to_json(public_run(run)) for run in runs]})


# ----------------------------------------------------------------------- params, tags, metrics

_BATCH_BODY = {
    "requestBody": {
        "required": True,
        "content": {
            _JSON: {"schema": {"$ref": "#/components/schemas/MetricBatch"}},
            wire.METRICS_MEDIA_TYPE: {
                "schema": {"type": "string", "format": "binary"},
            },
        },
    }
}


@router.post(
    "/runs/{run_id}/batch",
    response_model=schemas.Empty,
    tags=["runs"],
    openapi_extra=_BATCH_BODY,
)
async def log_batch(request: Request, run_id: str) -> Response:
    """Store metric values, params and tags of a run together, or none of them.

    The body is a ``MetricBatch`` in JSON, or the binary form (``application/x-autolog-metrics``,
    see ``autolog.wire``). A batch whose ``batch_id`` the run has stored before is not stored
    again: a client that lost an answer sends the batch again without doubling anything.
    """
    store = _store(request)
    body = await request.body()
    media = request.headers.get("content-type", _JSON).split(";")[0].strip().lower()
    await run_in_threadpool(_log_batch, store, _check_run_id(run_id), body, media)
    return json_response({})


def _log_batch(store: Store, run_id: str, body: bytes, media: str) -> None:
    if media == wire.METRICS_MEDIA_TYPE:
        header, metrics = wire.decode_metrics(body)
    elif media in (_JSON, "text/json", ""):
        header = _json_object(body)
        raw = header.get("metrics", [])
        if not isinstance(raw, list):
            raise wire.WireError("'metrics' is a list of metric objects")
        metrics = [wire.metric_from_json(item) for item in raw]
    else:
        raise wire.WireError(f"send {_JSON} or {wire.METRICS_MEDIA_TYPE}, not {media!r}")
    batch_id = header.get("batch_id")
    if batch_id is not None and (not isinstance(batch_id, str) or not 0 < len(batch_id) <= 200):
        raise wire.WireError(f"batch_id is a string of 1-200 characters, not {batch_id!r}")
    if batch_id is not None:
        check_text(batch_id, "batch_id")
        if "\n" in batch_id or "\r" in batch_id:
            raise wire.WireError("batch_id is one line")
    # keys, values and texts are the tracking service's to check, as for every store
    params = [Param(k, v) for k, v in _pairs(header, "params")]
    tags = [RunTag(k, v) for k, v in _pairs(header, "tags")]
    _check_metrics(metrics)
    store.log_batch(run_id, metrics, params, tags, batch_id=batch_id)


def _pairs(header: Mapping[str, Any], name: str) -> list[tuple[str, str]]:
    return wire.pairs_from_json(header.get(name, []), name)


def _check_metrics(metrics: Sequence[Metric]) -> None:
    """What the JSON form cannot say: numbers that fit the store's 64-bit columns (keys are the
    tracking service's to check)."""
    for key, value, step, timestamp in metrics:
        if not STEP_MIN <= step <= STEP_MAX:
            raise InvalidValueError(key, step, "steps must fit in 64 bits")
        if not 0 <= timestamp <= STEP_MAX:
            raise InvalidValueError(key, timestamp, "timestamps must fit in 64 bits, >= 0")
        if type(value) is not float:
            raise InvalidValueError(key, value, "metric values are numbers")


def _json_object(body: bytes) -> dict[str, Any]:
    import json

    try:
        data = json.loads(body or b"{}", parse_constant=_no_constant)
    except (ValueError, UnicodeDecodeError) as exc:
        raise wire.WireError(f"the body is not valid JSON ({exc})") from None
    except RecursionError:  # the parser's depth bound: no form of ours nests past a few levels
        raise wire.WireError("the body's JSON is nested too deeply") from None
    if not isinstance(data, dict):
        raise wire.WireError("the body must be a JSON object")
    return data


def _no_constant(name: str) -> float:
    raise wire.WireError(f"{name} is not JSON; send the string {name!r} for such a value")


_HISTORY_RESPONSES: dict[int | str, dict[str, Any]] = {
    200: {
        "description": "the values in order (JSON), or all of them in the binary form",
        "content": {wire.METRICS_MEDIA_TYPE: {"schema": {"type": "string", "format": "binary"}}},
    }
}


@router.get(
    "/runs/{run_id}/metric-history",
    response_model=schemas.MetricPage,
    responses=_HISTORY_RESPONSES,
    tags=["runs"],
)
def get_metric_history(
    request: Request,
    run_id: str,
    key: Annotated[str, Query(min_length=1, max_length=250)],
    page_token: Annotated[str | None, Query(pattern=r"^[0-9]{1,12}$")] = None,
    max_results: Annotated[int | None, Query(ge=1, le=100_000_000)] = None,
) -> Response:
    """Every value of ``key`` ordered by step (equal steps in logging order), in pages.

    JSON pages hold ``max_results`` values (10,000 by default, at most 100,000). With
    ``Accept: application/x-autolog-metrics`` the answer is the binary form, by default the
    whole history.
    """
    history = _store(request).get_metric_history(_check_run_id(run_id), _check_key(key))
    binary = wire.METRICS_MEDIA_TYPE in request.headers.get("accept", "")
    start = int(page_token or 0)
    if binary:
        size = max_results or len(history)
    else:
        size = min(max_results or HISTORY_PAGE, HISTORY_MAX_PAGE)
    page = history[start : start + size]
    following = str(start + size) if start + size < len(history) else None
    if binary:
        header = {"next_page_token": following}
        return Response(wire.encode_history(key, page, header), media_type=wire.METRICS_MEDIA_TYPE)
    number = wire.number_to_json
    points = [{"value": number(value), "step": s, "timestamp": t} for _, value, s, t in page]
    return json_response({"key": key, "metrics": points, "next_page_token": following})


# -------------------------------------------------------------------------------- artifact hashes


@router.post("/runs/{run_id}/artifact-hashes", response_model=schemas.Empty, tags=["artifacts"])
def record_artifact_hashes(request: Request, run_id: str, body: schemas.HashesRecord) -> Response:
    """Record the SHA-256 of artifact files (paths relative to the run's root)."""
    _store(request).record_artifact_hashes(_check_run_id(run_id), _digests(body.hashes))
    return json_response({})


@router.get("/runs/{run_id}/artifact-hashes", response_model=schemas.Hashes, tags=["artifacts"])
def get_artifact_hashes(
    request: Request, run_id: str, prefix: Annotated[str, Query(max_length=1000)] = ""
) -> Response:
    """The recorded digests of files at or under ``prefix``."""
    checked = check_artifact_path(check_text(prefix, "prefix"))
    hashes = _store(request).get_artifact_hashes(_check_run_id(run_id), checked)
    return json_response({"hashes": hashes})


def _digests(hashes: Mapping[str, str]) -> dict[str, str]:
    checked_hashes = {}
    for path, digest in hashes.items():
        checked = check_artifact_path(check_text(path, "artifact path"))
        if not checked:
            raise InvalidInputError("an artifact hash needs a file path, not the root")
        if len(digest) != 64 or any(c not in "0123456789abcdef" for c in digest):
            raise InvalidValueError(path, digest, "a SHA-256 is 64 lower-case hex digits")
        checked_hashes[checked] = digest
    return checked_hashes


@router.put("/runs/{run_id}/models", response_model=schemas.Empty, tags=["models"])
def record_model(request: Request, run_id: str, body: schemas.ModelRecord) -> Response:
    """Record the model ``log_model`` logged at ``path`` (its files' SHA-256, written
    before the files are uploaded). Refused (``run_state``) for a run that has ended or a
    model a registered version points at."""
    path = check_artifact_path(check_text(body.path, "model path"))
    _store(request).record_model(_check_run_id(run_id), path, _digests(body.files))
    return json_response({})


@router.get("/runs/{run_id}/models", response_model=schemas.ModelFiles, tags=["models"])
def get_model_files(
    request: Request, run_id: str, path: Annotated[str, Query(max_length=1000)]
) -> Response:
    """The files of the model recorded at ``path`` (null where there is none)."""
    checked = check_artifact_path(check_text(path, "model path"))
    return json_response({"files": _store(request).get_model_files(_check_run_id(run_id), checked)})


# ------------------------------------------------------------------------------ model registry


@router.post("/model-versions", response_model=schemas.ModelVersion, tags=["models"])
def create_model_version(request: Request, body: schemas.ModelVersionCreate) -> Response:
    """Register ``source`` as the next version of the model ``name`` (created if new)."""
    version = _store(request).create_model_version(
        check_text(body.name, "model name"), check_text(body.source, "source"), body.run_id
    )
    return json_response(wire.model_version_to_json(version))


@router.get("/model-versions", response_model=schemas.ModelVersion, tags=["models"])
def get_model_version(
    request: Request,
    name: Annotated[str, Query(min_length=1, max_length=500)],
    version: Annotated[int, Query(ge=schemas.INT64_MIN, le=schemas.INT64_MAX)],
) -> Response:
    found = _store(request).get_model_version(check_text(name, "model name"), version)
    return json_response(wire.model_version_to_json(found))


@router.get("/model-versions/by-alias", response_model=schemas.ModelVersion, tags=["models"])
def get_model_version_by_alias(
    request: Request,
    name: Annotated[str, Query(min_length=1, max_length=500)],
    alias: Annotated[str, Query(min_length=1, max_length=250)],
) -> Response:
    found = _store(request).get_model_version_by_alias(
        check_text(name, "model name"), check_text(alias, "alias")
    )
    return json_response(wire.model_version_to_json(found))


@router.put("/model-aliases", response_model=schemas.Empty, tags=["models"])
def set_model_alias(request: Request, body: schemas.ModelAliasSet) -> Response:
    """Point ``alias`` at a version of the model (moving it from another)."""
    _store(request).set_model_alias(
        check_text(body.name, "model name"), check_text(body.alias, "alias"), body.version
    )
    return json_response({})


_NAME = Annotated[str, Query(min_length=1, max_length=500)]
_VERSION = Annotated[int, Query(ge=schemas.INT64_MIN, le=schemas.INT64_MAX)]


@router.delete("/model-versions", response_model=schemas.Empty, tags=["models"])
def delete_model_version(request: Request, name: _NAME, version: _VERSION) -> Response:
    """Delete the version with its aliases and tags (its number is not given again)."""
    _store(request).delete_model_version(check_text(name, "model name"), version)
    return json_response({})


@router.delete("/registered-models", response_model=schemas.Empty, tags=["models"])
def delete_registered_model(request: Request, name: _NAME) -> Response:
    """Delete the model with every version, alias and tag; its name is free again."""
    _store(request).delete_registered_model(check_text(name, "model name"))
    return json_response({})


@router.delete("/model-aliases", response_model=schemas.Empty, tags=["models"])
def delete_model_alias(
    request: Request, name: _NAME, alias: Annotated[str, Query(min_length=1, max_length=250)]
) -> Response:
    _store(request).delete_model_alias(check_text(name, "model name"), check_text(alias, "alias"))
    return json_response({})


@router.patch("/registered-models", response_model=schemas.Empty, tags=["models"])
def update_registered_model(request: Request, body: schemas.RegisteredModelUpdate) -> Response:
    """Set the description (when given; null or "": none), then rename (when new_name is
    given): versions, aliases and tags follow the model."""
    store, name = _store(request), check_text(body.name, "model name")
    if "description" in body.model_fields_set:
        description = body.description
        store.update_registered_model(
            name, None if description is None else check_text(description, "description")
        )
    if body.new_name is not None:
        store.rename_registered_model(name, check_text(body.new_name, "model name"))
    return json_response({})


@router.patch("/model-versions", response_model=schemas.Empty, tags=["models"])
def update_model_version(request: Request, body: schemas.ModelVersionUpdate) -> Response:
    description = body.description
    _store(request).update_model_version(
        check_text(body.name, "model name"),
        body.version,
        None if description is None else check_text(description, "description"),
    )
    return json_response({})


@router.put("/registered-model-tags", response_model=schemas.Empty, tags=["models"])
def set_registered_model_tag(request: Request, body: schemas.RegisteredModelTagSet) -> Response:
    _store(request).set_registered_model_tag(
        check_text(body.name, "model name"), _check_key(body.key), check_text(body.value, "value")
    )
    return json_response({})


@router.delete("/registered-model-tags", response_model=schemas.Empty, tags=["models"])
def delete_registered_model_tag(request: Request, name: _NAME, key: str) -> Response:
    _store(request).delete_registered_model_tag(check_text(name, "model name"), _check_key(key))
    return json_response({})


@router.put("/model-version-tags", response_model=schemas.Empty, tags=["models"])
def set_model_version_tag(request: Request, body: schemas.ModelVersionTagSet) -> Response:
    _store(request).set_model_version_tag(
        check_text(body.name, "model name"),
        body.version,
        _check_key(body.key),
        check_text(body.value, "value"),
    )
    return json_response({})


@router.delete("/model-version-tags", response_model=schemas.Empty, tags=["models"])
def delete_model_version_tag(
    request: Request,
    name: _NAME,
    version: _VERSION,
    key: str,
) -> Response:
    _store(request).delete_model_version_tag(
        check_text(name, "model name"), version, _check_key(key)
    )
    return json_response({})


@router.get("/registered-models/by-name", response_model=schemas.RegisteredModel, tags=["models"])
def get_registered_model(request: Request, name: _NAME) -> Response:
    found = _store(request).get_registered_model(check_text(name, "model name"))
    return json_response(wire.registered_model_to_json(found))


@router.post("/registered-models/search", response_model=schemas.RegisteredModels, tags=["models"])
def search_registered_models(request: Request, body: schemas.RegisteredModelSearch) -> Response:
    """Registered models whose name and tags match ``filter``, by name."""
    found = _store(request).search_registered_models(
        check_text(body.filter, "filter"), body.max_results
    )
    return json_response({"registered_models": [wire.registered_model_to_json(m) for m in found]})


# -------------------------------------------------------------------------------------- tokens


@router.post("/tokens", response_model=schemas.Empty, tags=["tokens"])
def create_token(request: Request, body: Annotated[schemas.TokenCreate, Body()]) -> Response:
    """Keep a token made by the caller: its id, name, scope and the SHA-256 of its secret."""
    _store(request).create_token(
        AccessToken(
            body.token_id,
            check_text(body.name, "token name"),
            body.scope,
            body.creation_time,
            body.secret_hash,
        )
    )
    return json_response({})


@router.get("/tokens", response_model=schemas.Tokens, tags=["tokens"])
def list_tokens(request: Request) -> Response:
    """Every token, oldest first: its record and the SHA-256 of its secret (never the
    secret, which only its creator saw)."""
    tokens = _store(request).list_tokens()
    return json_response({"tokens": [wire.token_to_json(t, with_hash=True) for t in tokens]})


@router.get("/tokens/{token_id}", response_model=schemas.TokenRecord, tags=["tokens"])
def get_token(request: Request, token_id: str) -> Response:
    found = _store(request).get_token(check_text(token_id, "token id"))
    if found is None:
        raise NotFoundError("token", token_id)
    return json_response(wire.token_to_json(found, with_hash=True))


@router.delete("/tokens", response_model=schemas.Empty, tags=["tokens"])
def revoke_token(
    request: Request, name: Annotated[str, Query(min_length=1, max_length=200)]
) -> Response:
    """Revoke the token called ``name``: it stops working within seconds on every server."""
    _store(request).revoke_token(check_text(name, "token name"))
    return json_response({})
