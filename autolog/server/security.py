"""The checks every request passes before a route sees it, as one ASGI middleware.

In order: the Host header is one the server answers to (loopback names always; others from
``--allowed-hosts``), which defeats DNS rebinding; a request that changes something and comes
from a web page of another origin is refused (CORS is off unless origins are configured); the
body stays under its limit (artifact uploads have their own); and, where tokens are required,
the API request carries a token whose scope allows it.
"""

from __future__ import annotations

import fnmatch
import json
import time
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any
from urllib.parse import urlsplit

import anyio.to_thread
from starlette.exceptions import HTTPException

from autolog.entities import AccessToken, TokenScope
from autolog.server.settings import ServerSettings, is_loopback
from autolog.server.tokens import parse_token, verify_token
from autolog.stores.base import Store
from autolog.wire import error_body

__all__ = ["API_PREFIX", "BodyTooLarge", "RequestChecksMiddleware", "needed_scope"]

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

API_PREFIX = "/api/v1"
_OPEN_PATHS = frozenset((f"{API_PREFIX}/health",))
_SAFE_METHODS = frozenset(("GET", "HEAD", "OPTIONS"))
# A verified token is trusted this long before the store is asked again: revoking one takes
# effect within this many seconds on every server process.
_TOKEN_CACHE_SECONDS = 2.0


# Searches are reads that take a body (a filter, an order): a read token may make them.
_READ_POSTS = frozenset(
    f"{API_PREFIX}{path}"
    for path in (
        "/runs/search",
        "/runs/search-page",
        "/registered-models/search",
        # a model server's predictions (``autolog models serve`` checks its routes under this
        # prefix): answering them changes nothing, so a read token may ask
        "/invocations",
    )
)


def needed_scope(method: str, path: str) -> TokenScope:
    """read for GET and searches; admin for deletes (restores and purges too) and tokens;
    write for the rest."""
    if path.startswith(f"{API_PREFIX}/tokens") or method == "DELETE":
        return TokenScope.ADMIN
    if method == "POST" and path.endswith(("/restore", "/purge")):
        return TokenScope.ADMIN
    if method in _SAFE_METHODS or (method == "POST" and path in _READ_POSTS):
        return TokenScope.READ
    return TokenScope.WRITE


class BodyTooLarge(HTTPException):
    """Raised while a body is read once it passes its limit: FastAPI lets HTTP errors through
    its body parsing, and the error handlers answer 413."""

    def __init__(self, message: str) -> None:
        super().__init__(413, message)


class RequestChecksMiddleware:
    """The pure-ASGI middleware that applies the checks (see the module docstring)."""

    def __init__(self, app: ASGIApp, settings: ServerSettings, store: Store) -> None:
        self.app = app
        self.settings = settings
        self.store = store
        self._hosts = tuple(h.lower() for h in settings.allowed_hosts)
        self._origins = frozenset(o.rstrip("/").lower() for o in settings.cors_origins)
        self._tokens: dict[str, tuple[float, AccessToken]] = {}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        method: str = scope["method"]
        path: str = scope["path"]
        refusal = self._check_host(headers) or self._check_origin(method, headers)
        if refusal is None and path.startswith(API_PREFIX) and path not in _OPEN_PATHS:
            refusal = await self._check_token(method, path, headers, scope)
        limit = self._limit(method, path)
        if refusal is None:
            length = headers.get("content-length", "")
            if length.isdigit() and int(length) > limit:
                refusal = (413, "too_large", _too_large(method, path, limit))
        if refusal is not None:
            await _send_error(send, *refusal)
            return
        await self._forward(scope, receive, send, limit)

    async def _forward(self, scope: Scope, receive: Receive, send: Send, limit: int) -> None:
        received = 0
        started = False

        async def counting_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    raise BodyTooLarge(_too_large(scope["method"], scope["path"], limit))
            return message

        async def watching_send(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, counting_receive, watching_send)
        except BodyTooLarge as exc:
            if not started:
                await _send_error(send, 413, "too_large", str(exc.detail))

    def _limit(self, method: str, path: str) -> int:
        if method == "PUT" and "/artifacts/" in path:
            return self.settings.max_artifact_bytes
        return self.settings.max_request_bytes

    def _check_host(self, headers: dict[str, str]) -> tuple[int, str, str] | None:
        host = headers.get("host")
        if host is None:
            return 400, "host_not_allowed", "the request has no Host header"
        name = urlsplit(f"//{host}").hostname or ""
        if is_loopback(name) or any(fnmatch.fnmatch(name, h) for h in self._hosts):
            return None
        if any(fnmatch.fnmatch(host.lower(), h) for h in self._hosts):
            return None
        return (
            400,
            "host_not_allowed",
            f"this server does not answer to the host {host!r}; "
            "its operator can allow it with --allowed-hosts",
        )

    def _check_origin(self, method: str, headers: dict[str, str]) -> tuple[int, str, str] | None:
        if method in _SAFE_METHODS:
            return None
        origin = headers.get("origin")
        site = headers.get("sec-fetch-site")
        if origin is None or origin == "null":
            if site == "cross-site" or origin == "null":
                return 403, "cross_origin", "requests from other web sites are refused"
            return None
        if origin.rstrip("/").lower() in self._origins:
            return None
        parts = urlsplit(origin)
        if parts.netloc.lower() == headers.get("host", "").lower():
            return None  # the server's own pages
        return (
            403,
            "cross_origin",
            f"requests from the web origin {origin!r} are refused; "
            "its operator can allow it with --cors-allowed-origins",
        )

    async def _check_token(
        self, method: str, path: str, headers: dict[str, str], scope: Scope
    ) -> tuple[int, str, str] | None:
        if not self.settings.require_token:
            return None
        authorization = headers.get("authorization", "")
        kind, _, presented = authorization.partition(" ")
        if kind.lower() != "bearer" or not presented.strip():
            return (
                401,
                "unauthenticated",
                "this server needs an access token: set AUTOLOG_TRACKING_TOKEN "
                "(sent as 'Authorization: Bearer <token>')",
            )
        parsed = parse_token(presented.strip())
        record = None
        if parsed is not None:
            record = await self._token(parsed[0])
        if parsed is None or not verify_token(record, parsed[1]):
            return 401, "unauthenticated", "the access token is not valid (revoked or mistyped)"
        assert record is not None
        needed = needed_scope(method, path)
        try:
            granted = TokenScope(record.scope)
        except ValueError:
            granted = TokenScope.READ
        if not granted.allows(needed):
            return (
                403,
                "forbidden",
                f"the token {record.name!r} has the {granted} scope; this request needs {needed}",
            )
        scope.setdefault("state", {})["token"] = record
        return None

    async def _token(self, token_id: str) -> AccessToken | None:
        now = time.monotonic()
        cached = self._tokens.get(token_id)
        if cached is not None and now - cached[0] < _TOKEN_CACHE_SECONDS:
            return cached[1]
        record = await anyio.to_thread.run_sync(self.store.get_token, token_id)
        if record is None:
            self._tokens.pop(token_id, None)
        else:
            if len(self._tokens) > 10_000:
                self._tokens.clear()
            self._tokens[token_id] = (now, record)
        return record


def _too_large(method: str, path: str, limit: int) -> str:
    what = "artifact" if method == "PUT" and "/artifacts/" in path else "request body"
    return f"the {what} is larger than this server's limit of {limit} bytes"


async def _send_error(send: Send, status: int, code: str, message: str) -> None:
    body = json.dumps(error_body(code, message)).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    if status == 401:
        headers.append((b"www-authenticate", b'Bearer realm="autolog"'))
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})
