"""The model server's ASGI app: ``/invocations`` and the read-only routes around it.

A plain ASGI app rather than a framework's router: eight routes, and a one-row prediction
whose whole budget is a millisecond. Requests pass the tracking server's own checks first
(``RequestChecksMiddleware``: Host header, cross-origin writes, body size, tokens); its token
check covers the API's paths, so every route but ``/ping`` and ``/health`` is shown to it
under the API prefix.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import os
import time
from collections.abc import Awaitable, Callable, MutableMapping
from dataclasses import dataclass
from typing import Any

from autolog.serving.batching import Batcher, first_line
from autolog.serving.formats import BadRequest, predictions_body, read_body
from autolog.serving.metrics import Metrics
from autolog.serving.model import ModelHolder
from autolog.wire import error_body

__all__ = ["SETTINGS_ENV", "ServeSettings", "app_from_env", "create_app", "needs_store"]

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

SETTINGS_ENV = "AUTOLOG_SERVE_SETTINGS"
_log = logging.getLogger(__name__)
_JSON = (b"content-type", b"application/json")


@dataclass(frozen=True)
class ServeSettings:
    """How a model server is configured; the same in every worker process.

    ``batch_wait_ms``: how long a request may wait for others to share its ``predict`` call
    (0: never batch). ``alias_poll_seconds``: how often ``models:/NAME@ALIAS`` is looked up.
    ``require_token``: every request but ``/ping`` and ``/health`` needs a token of the
    tracking store's (see ``autolog server token``). ``metrics_dir``: the folder where each
    worker process of one server keeps its counts, so that ``/metrics`` on any of them shows
    the server's totals (``autolog models serve --workers N`` makes it; None: this process's
    counts only).
    """

    model_uri: str
    tracking_uri: str | None = None
    batch_wait_ms: float = 2.0
    alias_poll_seconds: float = 10.0
    require_token: bool = False
    allowed_hosts: tuple[str, ...] = ()
    max_request_bytes: int = 64 * 1024 * 1024
    metrics_dir: str | None = None

    def to_env(self) -> str:
        return json.dumps(dataclasses.asdict(self))

    @classmethod
    def from_env(cls) -> ServeSettings:
        data = json.loads(os.environ[SETTINGS_ENV])
        data["allowed_hosts"] = tuple(data.get("allowed_hosts", ()))
        return cls(**data)


def needs_store(settings: ServeSettings) -> bool:
    """Whether serving reads the tracking store: for a model of it, or for its tokens."""
    return settings.require_token or settings.model_uri.startswith(("runs:/", "models:/"))


def create_app(settings: ServeSettings) -> ASGIApp:
    """The ASGI app serving ``settings.model_uri``, loaded and verified now.

    Raises:
        AutologError: the model cannot be found, verified or loaded.
    """
    from autolog.client import Client
    from autolog.server.security import RequestChecksMiddleware
    from autolog.server.settings import ServerSettings

    # a folder's model served without tokens needs no store: an empty one in memory stands
    # in (a default store would leave ./autolog-runs behind, in a container's working folder)
    client = Client(settings.tracking_uri if needs_store(settings) else "memory:")
    try:
        metrics = Metrics(settings.metrics_dir)
    except BaseException:
        client.close()
        raise
    try:
        holder = ModelHolder(client, settings.model_uri, metrics.swapped)
    except BaseException:
        metrics.close()
        client.close()
        raise
    server_settings = ServerSettings(
        backend_store_uri=settings.tracking_uri or "",
        artifacts_destination="",
        require_token=settings.require_token,
        allowed_hosts=settings.allowed_hosts,
        max_request_bytes=settings.max_request_bytes,
    )
    inner = _Routes(holder, metrics, Batcher(settings.batch_wait_ms / 1000, metrics))
    checked = RequestChecksMiddleware(inner, server_settings, client.store)
    return _Front(checked, inner, client, settings.alias_poll_seconds)


def app_from_env() -> ASGIApp:
    """The app of a worker process (``--workers`` > 1), from ``$AUTOLOG_SERVE_SETTINGS``."""
    return create_app(ServeSettings.from_env())


class _Front:
    """Counts and times every request (refusals of the checks included), shows the checked
    routes under the API prefix (see the module docstring), and runs the lifespan: alias
    polling starts with the server and everything closes with it."""

    def __init__(self, app: ASGIApp, routes: _Routes, client: Any, poll: float) -> None:
        from autolog.server.security import API_PREFIX

        self.app = app
        self.routes = routes
        self.client = client
        self.poll = poll
        self.prefix = API_PREFIX

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await self._lifespan(receive, send)
            return
        if scope["type"] != "http":
            return
        path: str = scope["path"]
        if path != "/ping":  # /health becomes the API's health path, open as /ping is
            scope = {**scope, "path": self.prefix + path}
        started = time.perf_counter()
        status = 500

        async def watching(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, watching)
        finally:
            self.routes.metrics.request(path, status, time.perf_counter() - started)

    async def _lifespan(self, receive: Receive, send: Send) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                self.routes.holder.follow(self.poll)
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                self.routes.holder.close()
                await self.routes.batcher.close()
                self.client.close()
                self.routes.metrics.close()
                await send({"type": "lifespan.shutdown.complete"})
                return


class _Routes:
    """The routes themselves (paths as the client sent them, the prefix taken off)."""

    def __init__(self, holder: ModelHolder, metrics: Metrics, batcher: Batcher) -> None:
        from autolog import __version__
        from autolog.server.security import API_PREFIX

        self.holder = holder
        self.metrics = metrics
        self.batcher = batcher
        self.version = __version__
        self.prefix = API_PREFIX
        self._openapi: tuple[int, bytes] | None = None
        self._get: dict[str, Callable[[], tuple[bytes, bytes]]] = {
            "/ping": lambda: (b"\n", b"text/plain"),
            "/health": self._health,
            "/version": self._version,
            "/metadata": lambda: (self.holder.current.metadata_body, b"application/json"),
            "/metrics": lambda: (
                self.metrics.text(self.holder.current.version).encode(),
                b"text/plain; version=0.0.4; charset=utf-8",
            ),
            "/openapi.json": self._openapi_body,
        }

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path: str = scope["path"]
        if path.startswith(self.prefix):
            path = path[len(self.prefix) :]
        method: str = scope["method"]
        if path == "/invocations" and method == "POST":
            await self._invocations(scope, receive, send)
        elif method in ("GET", "HEAD") and path in self._get:
            body, content_type = self._get[path]()
            await _respond(send, 200, body, content_type, head=method == "HEAD")
        elif path in self._get or path == "/invocations":
            allowed = "POST" if path == "/invocations" else "GET"
            await _error(send, 405, "method_not_allowed", f"{path} takes {allowed}, not {method}")
        else:
            await _error(send, 404, "not_found", f"no route {path}; POST /invocations to predict")

    def _health(self) -> tuple[bytes, bytes]:
        served = self.holder.current
        body = {
            "status": "ok",
            "model": self.holder.uri,
            "version": served.version,
            "flavor": served.predictor.flavor,
        }
        return json.dumps(body).encode(), b"application/json"

    def _version(self) -> tuple[bytes, bytes]:
        served = self.holder.current
        body = {
            "autolog": self.version,
            "model": self.holder.uri,
            "version": served.version,
            "run_id": served.info.get("run_id"),
        }
        return json.dumps(body).encode(), b"application/json"

    def _openapi_body(self) -> tuple[bytes, bytes]:
        from autolog.serving.openapi import document

        served = self.holder.current
        if self._openapi is None or self._openapi[0] != id(served):
            text = json.dumps(document(served.info, self.version), default=str).encode()
            self._openapi = (id(served), text)
        return self._openapi[1], b"application/json"

    async def _invocations(self, scope: Scope, receive: Receive, send: Send) -> None:
        self.batcher.arriving += 1
        try:
            body = await _body(receive)
            served = self.holder.current
            data = read_body(body, _header(scope, b"content-type"))
            if isinstance(data, list) and not data:
                raise BadRequest(400, "invalid_input", "the input has no rows")
        except BadRequest as exc:
            await _error(send, exc.status, exc.code, exc.message)
            return
        finally:
            self.batcher.arriving -= 1
        try:
            output = await self.batcher.predict(served.predictor, data)
        except BadRequest as exc:
            await _error(send, exc.status, exc.code, exc.message)
            return
        except Exception as exc:
            await _model_error(send, exc)
            return
        await _respond(send, 200, predictions_body(output), b"application/json")


async def _model_error(send: Send, exc: Exception) -> None:
    """A model that raised on input its signature took: 422 for the errors that say the
    input is at fault (ValueError, TypeError, KeyError, IndexError: an unseen category, a
    value out of range), 500 for any other (the model or the machine is at fault). Either
    way one line names the error; the traceback goes to the server's log only."""
    what = f"the model raised {type(exc).__name__}: {first_line(exc)}"
    if isinstance(exc, (ValueError, TypeError, KeyError, IndexError)):
        await _error(send, 422, "model_rejected_input", what)
        return
    _log.error("autolog models serve: %s", what, exc_info=exc)
    await _error(send, 500, "model_error", what)


def _header(scope: Scope, name: bytes) -> str:
    for key, value in scope["headers"]:
        if key.lower() == name:
            return str(value.decode("latin-1"))
    return ""


async def _body(receive: Receive) -> bytes:
    """The request body (the checks' middleware stops it past the size limit: 413)."""
    chunks = []
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            break
        chunks.append(message.get("body", b""))
        if not message.get("more_body", False):
            break
    return b"".join(chunks)


async def _respond(
    send: Send, status: int, body: bytes, content_type: bytes, *, head: bool = False
) -> None:
    headers = [(b"content-type", content_type), (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": b"" if head else body})


async def _error(send: Send, status: int, code: str, message: str) -> None:
    """The JSON error of the tracking server's API, with MLflow's two keys beside it so that
    its clients show the message too."""
    body = {**error_body(code, message), "error_code": code.upper(), "message": message}
    await _respond(send, status, json.dumps(body).encode(), _JSON[1])
