"""The tracking server: a REST API (and the web UI) over any tracking store, so that many
machines share runs. Started with ``autolog server``; embedded with ``create_app``.

Needs the ``server`` extra (FastAPI, uvicorn); ``autolog.server.tokens`` does not.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from fastapi import FastAPI

    from autolog.server.settings import ServerSettings
    from autolog.stores.base import Store

__all__ = ["create_app"]


def create_app(
    backend_store_uri: str | None = None,
    artifacts_destination: str | None = None,
    *,
    settings: ServerSettings | None = None,
    store: Store | None = None,
) -> FastAPI:
    """The tracking server's ASGI app (see ``autolog.server.app.create_app``)."""
    try:
        from autolog.server.app import create_app as create
    except ImportError as exc:
        from autolog.errors import AutologError

        raise AutologError(
            f"the tracking server needs {getattr(exc, 'name', None) or exc}: "
            "pip install 'autolog[server]'"
        ) from exc
    kwargs: dict[str, Any] = {"settings": settings, "store": store}
    return create(backend_store_uri, artifacts_destination, **kwargs)
