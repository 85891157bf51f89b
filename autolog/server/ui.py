"""The web UI: a single-page app of static files (ES modules, uPlot), served at ``/``.

The pages read everything through the REST API (``/api/v1``, ``autolog.server.ui_api`` for
what only a UI needs); nothing here reads the store. ``install`` adds the UI to the server's
app: its page addresses, ``/static`` and security headers on every response.

Security: every response carries a Content-Security-Policy that allows scripts, styles and
images from the server only (no inline script or style, no ``eval``, no frames), plus
``nosniff`` and no referrer. The pages build the DOM from text nodes only, so a run named
``<img src=x onerror=alert(1)>`` is shown as those characters.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fastapi import APIRouter, FastAPI, Request, Response
from starlette.staticfiles import StaticFiles
from starlette.types import ASGIApp, Message, Receive, Scope, Send

__all__ = ["CONTENT_SECURITY_POLICY", "STATIC_DIR", "SecurityHeaders", "install"]

STATIC_DIR = Path(__file__).parent / "static"

#: the policy of every page (a response that sets its own, like a download, keeps it)
CONTENT_SECURITY_POLICY = "; ".join(
    [
        "default-src 'none'",
        "script-src 'self'",
        "style-src 'self'",
        # blob: images are files fetched with an access token (an <img> cannot send one)
        "img-src 'self' blob:",
        "connect-src 'self'",
        "font-src 'self'",
        "base-uri 'none'",
        "form-action 'none'",
        "frame-ancestors 'none'",
    ]
)

_HEADERS = [
    (b"content-security-policy", CONTENT_SECURITY_POLICY.encode()),
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"no-referrer"),
    (b"x-frame-options", b"DENY"),
    (b"cross-origin-opener-policy", b"same-origin"),
]


class SecurityHeaders:
    """ASGI middleware: the headers above on every HTTP response that lacks them."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                present = {name.lower() for name, _ in headers}
                headers += [(n, v) for n, v in _HEADERS if n not in present]
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, send_with_headers)


_pages = APIRouter(include_in_schema=False)
_INDEX_CACHE: dict[str, bytes] = {}


def _index(request: Request) -> Response:
    """The app's page; to ``HEAD``, the same status and headers without the body (monitors and
    link checkers ask with ``HEAD``, and an ASGI server need not drop a body it is given)."""
    body = _INDEX_CACHE.get("index")
    if body is None:
        body = _INDEX_CACHE["index"] = (STATIC_DIR / "index.html").read_bytes()
    headers = {"Cache-Control": "no-cache"}
    if request.method == "HEAD":
        headers["Content-Length"] = str(len(body))
        body = b""
    return Response(body, media_type="text/html; charset=utf-8", headers=headers)


# The app's addresses: each serves the same page, whose script shows what the path names.
for _path in (
    "/",
    "/experiments/{experiment_id}",
    "/runs/{run_id}",
    "/compare",
    "/models",
    "/models/{name}",
):
    _pages.add_api_route(_path, _index, methods=["GET", "HEAD"])


def install(app: FastAPI, **_: Any) -> None:
    """Serve the UI from ``app``: its API routes, pages, static files and security headers."""
    from autolog.server.ui_api import router as ui_api_router

    app.include_router(ui_api_router)
    app.include_router(_pages)
    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")
    app.add_middleware(SecurityHeaders)
