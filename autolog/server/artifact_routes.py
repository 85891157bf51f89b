"""Artifacts through the server: listed, uploaded and downloaded as streams.

Uploads are hashed on the way in and checked against the SHA-256 the client sends in
``X-Content-SHA256``; the file appears only once complete and checked, and its hash is then
recorded in the tracking store. Downloads are streamed from the folder or the bucket, with the
recorded hash in ``X-Content-SHA256`` where there is one. The server never opens what it
stores: every file is served as ``application/octet-stream``.
"""

from __future__ import annotations

import hashlib
from typing import Annotated, Any

from fastapi import APIRouter, Header, Query, Request, Response
from starlette.concurrency import run_in_threadpool
from starlette.responses import FileResponse, StreamingResponse

from autolog import wire
from autolog.artifacts.local import LocalArtifactRepository
from autolog.errors import InvalidInputError, NotFoundError, RunStateError
from autolog.server import schemas
from autolog.server.state import ServerState, state_of
from autolog.tracking import PRESUMED_KILLED_TAG, inside_models, takes_writes
from autolog.validation import check_artifact_path

__all__ = ["router"]

router = APIRouter()
_PIECE = 1 << 20
#: uploads this large are looked for among the run's files (one query of its hashes): a
#: smaller one is not worth the query
_SHARED_MIN = 1 << 20


class _BigFileResponse(FileResponse):
    chunk_size = _PIECE  # 64 KiB by default: a thread hop per piece limits the rate


def _check_path(path: str, *, file: bool) -> str:
    checked = check_artifact_path(path)
    if file and not checked:
        raise InvalidInputError("this needs the path of a file under the run's artifacts")
    return checked


@router.get("/runs/{run_id}/artifacts", response_model=schemas.Artifacts, tags=["artifacts"])
def list_artifacts(
    request: Request, run_id: str, path: Annotated[str, Query(max_length=1000)] = ""
) -> Response:
    """The files and folders directly under ``path`` (the run's root by default)."""
    _, repository = state_of(request).run_artifacts(run_id)
    files = repository.list(_check_path(path, file=False))
    return Response(
        wire.dumps({"files": [wire.file_info_to_json(f) for f in files]}),
        media_type="application/json",
    )


_UPLOAD: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "content": {"application/octet-stream": {"schema": {"type": "string", "format": "binary"}}},
    }
}


@router.put(
    "/runs/{run_id}/artifacts/{path:path}",
    response_model=schemas.Upload,
    tags=["artifacts"],
    openapi_extra=_UPLOAD,
)
async def upload_artifact(
    request: Request,
    run_id: str,
    path: str,
    x_content_sha256: Annotated[
        str, Header(pattern=r"^[0-9a-f]{64}$", description="the SHA-256 the bytes must have")
    ] = "",
) -> Response:
    """Write the body to ``path`` under the run's artifacts (a RUNNING run's only).

    The body is streamed to the artifact store (never held whole) and hashed on the way; with
    ``X-Content-SHA256`` a file whose bytes do not match is discarded (400
    ``sha256_mismatch``). The recorded hash is kept in the tracking store.
    """
    state = state_of(request)
    checked = _check_path(path, file=True)
    run, repository = await run_in_threadpool(state.run_artifacts, run_id)
    if not takes_writes(run.info.status, PRESUMED_KILLED_TAG in run.data.tags):
        raise RunStateError(
            f"run {run_id} is {run.info.status}: the artifacts of an ended run do not change"
        )
    # A model's files are written by log_model alone: refused before the first byte lands.
    model = await run_in_threadpool(_model_around, state, run_id, checked)
    _refuse_model_change(run_id, checked, model, x_content_sha256 or None)
    upload = await run_in_threadpool(repository.open_upload, checked)
    digest = hashlib.sha256()
    size = 0

    def write(piece: bytes) -> None:
        digest.update(piece)  # hashlib lets go of the GIL on large pieces
        upload.write(piece)

    try:
        # The body's chunks (64 KiB or so) are gathered into pieces, each hashed and written in
        # one hop to a worker thread: joined once, never copied again on the event loop.
        pending: list[bytes] = []
        held = 0
        async for chunk in request.stream():
            pending.append(chunk)
            held += len(chunk)
            if held >= _PIECE:
                size += held
                await run_in_threadpool(write, b"".join(pending))
                pending.clear()
                held = 0
        if pending:
            size += held
            await run_in_threadpool(write, b"".join(pending))
        actual = digest.hexdigest()
        if x_content_sha256 and actual != x_content_sha256:
            raise wire.DigestMismatchError(
                f"artifact {checked!r} arrived with SHA-256 {actual}, the client sent "
                f"{x_content_sha256}: it was discarded"
            )
        # log_model may have recorded the model while the bytes arrived: asked again, and the
        # file appears only once accepted
        model = await run_in_threadpool(_model_around, state, run_id, checked)
        _refuse_model_change(run_id, checked, model, actual)
        await run_in_threadpool(upload.commit)
    except BaseException:
        await run_in_threadpool(upload.abort)
        raise
    await run_in_threadpool(state.store.record_artifact_hashes, run_id, {checked: actual})
    if isinstance(repository, LocalArtifactRepository) and size >= _SHARED_MIN:
        await run_in_threadpool(_same_bytes, state.store, repository, run_id, checked, actual)
    return Response(
        wire.dumps({"path": checked, "sha256": actual, "file_size": size}),
        media_type="application/json",
    )


def _model_around(state: ServerState, run_id: str, path: str) -> dict[str, dict[str, str]]:
    """The model recorded in a folder holding ``path``, as {folder: its files}; {} if none."""
    parts = path.split("/")
    for end in range(1, len(parts)):
        folder = "/".join(parts[:end])
        files = state.store.get_model_files(run_id, folder)
        if files is not None:
            return {folder: files}
    return {}


def _refuse_model_change(
    run_id: str, path: str, model: dict[str, dict[str, str]], digest: str | None
) -> None:
    """The stores' rule (``inside_models``), asked before any byte lands: a model's folder
    takes only its own files again, byte for byte, as log_model uploads them. Without a
    digest announced, nothing may go into a model's folder."""
    if model and (digest is None or inside_models({path: digest}, model)):
        raise RunStateError(
            f"{path!r} is in a model's folder of run {run_id}: only log_model writes it, "
            "and nothing was written"
        )


def _same_bytes(
    store: Any, repository: LocalArtifactRepository, run_id: str, path: str, digest: str
) -> None:
    """One copy of the bytes in a local folder: an upload holding what another file of the
    run holds becomes a hard link to it (a bucket keeps each object)."""
    others = [p for p, d in store.get_artifact_hashes(run_id).items() if d == digest and p != path]
    if others:
        repository.link_same(path, digest, others[:4])


_DOWNLOAD: dict[int | str, dict[str, Any]] = {
    200: {
        "description": "the file's bytes",
        "content": {"application/octet-stream": {"schema": {"type": "string", "format": "binary"}}},
    }
}


@router.get(
    "/runs/{run_id}/artifacts/{path:path}",
    response_class=Response,
    responses=_DOWNLOAD,
    tags=["artifacts"],
)
def download_artifact(request: Request, run_id: str, path: str) -> Response:
    """The file at ``path``, streamed; its recorded SHA-256 in ``X-Content-SHA256``."""
    state = state_of(request)
    checked = _check_path(path, file=True)
    _, repository = state.run_artifacts(run_id)
    headers = {
        "X-Content-Type-Options": "nosniff",
        "Content-Disposition": "attachment",
    }
    recorded = state.store.get_artifact_hashes(run_id, checked).get(checked)
    if recorded is not None:
        headers["X-Content-SHA256"] = recorded
    if isinstance(repository, LocalArtifactRepository):
        target = repository.resolve(checked)
        if not target.is_file():
            raise NotFoundError("artifact", checked)
        return _BigFileResponse(target, media_type="application/octet-stream", headers=headers)
    size, pieces = repository.stream(checked)
    headers["Content-Length"] = str(size)
    return StreamingResponse(pieces, media_type="application/octet-stream", headers=headers)
