"""``create_app``: the tracking server as one ASGI application (FastAPI).

The REST API lives under ``/api/v1`` (``api.py``, ``artifact_routes.py``), its OpenAPI document
at ``/openapi.json``. The app holds its settings and one tracking store and nothing else, so
any number of processes (``--workers N``, or machines behind a load balancer) can serve one
database and one bucket.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI, Request, Response
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException

from autolog import __version__, wire
from autolog.errors import AutologError
from autolog.server.api import ERROR_RESPONSES, json_response
from autolog.server.api import router as api_router
from autolog.server.security import RequestChecksMiddleware
from autolog.server.settings import ServerSettings
from autolog.server.state import ServerState
from autolog.server.ui import install as install_ui
from autolog.stores.base import Store, open_store

__all__ = ["app_from_env", "create_app", "open_backend"]

_log = logging.getLogger(__name__)
#: seconds a client waits before it asks again when the store is out (503)
_RETRY_AFTER = "1"

_HTTP_CODES = {
    400: "invalid_request",
    401: "unauthenticated",
    403: "forbidden",
    404: "no_route",
    405: "method_not_allowed",
    406: "not_acceptable",
    413: "too_large",
    415: "unsupported_media_type",
}


def open_backend(settings: ServerSettings) -> Store:
    """The tracking store the server serves, keeping new experiments' artifacts at the
    artifacts destination."""
    store = open_store(settings.backend_store_uri)
    store.artifact_root = settings.artifacts_destination.rstrip("/")
    return store


def create_app(
    backend_store_uri: str | None = None,
    artifacts_destination: str | None = None,
    *,
    settings: ServerSettings | None = None,
    store: Store | None = None,
    freeze_gc: bool = False,
) -> FastAPI:
    """The tracking server's ASGI app, over the store at ``backend_store_uri``.

    Example::

        app = create_app("sqlite:////srv/autolog/autolog.db", "file:///srv/autolog/artifacts")
        uvicorn.run(app, host="127.0.0.1", port=5000)

    ``settings`` gives every option (tokens, hosts, limits); ``store`` serves an open store
    (closed with the app). ``freeze_gc`` (for a process that only serves this app, as
    ``autolog server`` does): once started, keep what start-up made out of the garbage
    collector's full passes (see ``_freeze_startup_objects``).
    """
    if settings is None:
        if backend_store_uri is None or artifacts_destination is None:
            raise TypeError("create_app needs backend_store_uri and artifacts_destination")
        settings = ServerSettings(backend_store_uri, artifacts_destination)
    backend = store if store is not None else open_backend(settings)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        if freeze_gc:
            _freeze_startup_objects()
        yield
        backend.close()

    app = FastAPI(
        title="autolog tracking server",
        version=__version__,
        description=(
            "Experiments, runs, metrics, params, tags, artifacts and models of autolog, "
            "shared by many machines. Errors are JSON: {error: {code, message, details}}."
        ),
        openapi_url="/openapi.json",
        docs_url=None,  # the interactive docs load scripts from a CDN: not on a private network
        redoc_url=None,
        lifespan=lifespan,
        responses=ERROR_RESPONSES,
    )
    app.state.autolog = ServerState(settings, backend)
    app.include_router(api_router)
    _add_error_handlers(app)
    if settings.cors_origins:
        from starlette.middleware.cors import CORSMiddleware

        app.add_middleware(
            CORSMiddleware,
            allow_origins=list(settings.cors_origins),
            allow_methods=["GET", "POST", "PUT", "PATCH", "DELETE"],
            allow_headers=["Authorization", "Content-Type", "X-Content-SHA256"],
        )
    app.add_middleware(RequestChecksMiddleware, settings=settings, store=backend)

    install_ui(app)
    return app


def app_from_env() -> FastAPI:
    """The app of a worker process started by ``autolog server --workers N`` (settings from
    ``$AUTOLOG_SERVER_SETTINGS``)."""
    return create_app(settings=ServerSettings.from_env(), freeze_gc=True)


def _freeze_startup_objects() -> None:
    """Keep what start-up made (modules, routes, schemas: a few hundred thousand objects that
    live as long as the server) out of the garbage collector's full passes.

    A full pass over them took about 70 ms, during which no request was answered: with 8
    clients sending batches it set the p99 latency (158 ms before, 45 ms after, and about 50%
    more values per second; ``benchmarks/bench_server.py``). Process-wide, so only where the
    process serves this app alone.
    """
    import gc

    gc.collect()
    gc.freeze()


def _allowed_methods(request: Request) -> list[str]:
    from starlette.routing import Match, Route

    methods: set[str] = set()
    for route in request.app.routes:
        if isinstance(route, Route) and route.methods:
            match, _ = route.matches({**request.scope, "method": "__none__"})
            if match is not Match.NONE:
                methods |= route.methods
    return sorted(methods)


def _add_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(AutologError)
    async def autolog_error(request: Request, exc: AutologError) -> Response:
        status, body = wire.error_to_json(exc)
        if status >= 500:
            _log.warning("autolog server: %s %s failed: %s", request.method, request.url.path, exc)
        response = json_response(body, status)
        if status == 503:
            # the store is out (database stopped, locked): the client tries again shortly
            # rather than taking the write for refused or keeping it for later
            response.headers["Retry-After"] = _RETRY_AFTER
        return response

    @app.exception_handler(RequestValidationError)
    async def invalid_request(request: Request, exc: RequestValidationError) -> Response:
        problems = []
        for error in exc.errors()[:5]:
            where = ".".join(str(part) for part in error.get("loc", ()))
            problems.append(f"{where}: {error.get('msg', 'invalid')}")
        message = "the request does not have the documented form: " + "; ".join(problems)
        return json_response(wire.error_body("invalid_request", message), 422)

    @app.exception_handler(HTTPException)
    async def http_error(request: Request, exc: HTTPException) -> Response:
        code = _HTTP_CODES.get(exc.status_code, "http_error")
        message = exc.detail if isinstance(exc.detail, str) else str(exc.detail)
        if exc.status_code == 404:
            message = f"no such route: {request.method} {request.url.path}"
        response = json_response(wire.error_body(code, message), exc.status_code)
        for name, value in (exc.headers or {}).items():
            response.headers[name] = value
        if exc.status_code == 405:
            # Starlette names the methods of the first route on the path; a path served by
            # several routes (GET and PUT of an artifact) allows all of theirs.
            response.headers["Allow"] = ", ".join(_allowed_methods(request))
        return response

    @app.exception_handler(Exception)
    async def internal_error(request: Request, exc: Exception) -> Response:
        # The details go to the server's log, never to the client.
        _log.error("autolog server: %s %s failed", request.method, request.url.path, exc_info=exc)
        body = wire.error_body(
            "internal_error", "internal server error; the server's log has the details"
        )
        return json_response(body, 500)
