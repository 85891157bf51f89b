"""A tracking server process for the test session, serving one fresh store per test.

Run as ``python tests/server_harness.py ROOT``; it prints ``port N`` once it listens on
127.0.0.1. ``POST /_tenants`` makes a new SQLite store under ROOT and answers its prefix;
requests under ``/t/<n>/`` go to that store's app (the real ``create_app``, as
``autolog server`` runs it) with the prefix taken off, as a reverse proxy would;
``DELETE /_tenants/<n>`` closes it. Starting a server costs about a second, a tenant a few
milliseconds: the REST store runs the whole store contract suite, each test on an empty store,
through one real server process.
"""

from __future__ import annotations

import itertools
import json
import socket
import sys
from pathlib import Path
from typing import Any

import uvicorn

from autolog.server.app import create_app
from autolog.server.settings import ServerSettings

Scope = dict[str, Any]


class Harness:
    def __init__(self, root: Path) -> None:
        self.root = root
        self.tenants: dict[str, Any] = {}
        self.ids = itertools.count()

    async def __call__(self, scope: Scope, receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            while True:
                message = await receive()
                if message["type"] == "lifespan.startup":
                    await send({"type": "lifespan.startup.complete"})
                elif message["type"] == "lifespan.shutdown":
                    for app in self.tenants.values():
                        app.state.autolog.store.close()
                    await send({"type": "lifespan.shutdown.complete"})
                    return
        path: str = scope["path"]
        if path == "/_tenants" and scope["method"] == "POST":
            await self._reply(send, 200, {"prefix": self._new_tenant()})
            return
        if path.startswith("/_tenants/") and scope["method"] == "DELETE":
            app = self.tenants.pop(path.rsplit("/", 1)[-1], None)
            if app is not None:
                app.state.autolog.store.close()
            await self._reply(send, 200, {})
            return
        parts = path.split("/", 3)
        if len(parts) >= 3 and parts[1] == "t" and parts[2] in self.tenants:
            prefix = f"/t/{parts[2]}"
            inner = dict(scope, path=path[len(prefix) :] or "/")
            inner["raw_path"] = scope.get("raw_path", b"")[len(prefix) :] or b"/"
            await self.tenants[parts[2]](inner, receive, send)
            return
        await self._reply(send, 404, {"error": "no such tenant"})

    def _new_tenant(self) -> str:
        name = str(next(self.ids))
        folder = self.root / name
        folder.mkdir(parents=True)
        settings = ServerSettings(
            backend_store_uri=f"sqlite:///{folder}/t.db",
            artifacts_destination=(folder / "artifacts").as_uri(),
        )
        self.tenants[name] = create_app(settings=settings)
        return f"/t/{name}"

    @staticmethod
    async def _reply(send: Any, status: int, body: Any) -> None:
        data = json.dumps(body).encode()
        headers = [(b"content-type", b"application/json")]
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": data})


def main() -> None:
    root = Path(sys.argv[1])
    sock = socket.socket()
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)  # as autolog server does
    sock.bind(("127.0.0.1", 0))
    sock.listen(128)
    print(f"port {sock.getsockname()[1]}", flush=True)
    config = uvicorn.Config(Harness(root), log_level="warning", timeout_keep_alive=75)
    uvicorn.Server(config).run(sockets=[sock])


if __name__ == "__main__":
    main()
