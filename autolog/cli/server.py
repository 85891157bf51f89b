"""``autolog server``: the tracking server, and ``autolog server token`` to manage its tokens.

Example::

    $ autolog server                                  # ./autolog-runs, on 127.0.0.1:5000
    $ autolog server --backend-store-uri postgresql://autolog@db/autolog \\
          --artifacts-destination s3://bucket/autolog --host 0.0.0.0 --workers 4 \\
          --allowed-hosts tracking.example.com
    $ autolog server token create ci --scope write    # prints the token once
"""

from __future__ import annotations

import contextlib
import errno
import os
import re
import signal
import socket
import sys
from pathlib import Path
from typing import Any, NoReturn

import click

from autolog.cli._common import format_option
from autolog.cli._output import FORMATS, Time, emit
from autolog.errors import AutologError

__all__ = ["LISTENING", "command"]

_SIZE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([kmgt]?i?b?)?\s*$", re.IGNORECASE)
_UNITS = {
    "": 1,
    "b": 1,
    "k": 1000,
    "kb": 1000,
    "kib": 1024,
    "m": 1000**2,
    "mb": 1000**2,
    "mib": 1024**2,
    "g": 1000**3,
    "gb": 1000**3,
    "gib": 1024**3,
    "t": 1000**4,
    "tb": 1000**4,
    "tib": 1024**4,
}
_STORE_HELP = "tracking store to serve (default: ./autolog-runs/autolog.db, SQLite)"
_STORE_ENV = "AUTOLOG_BACKEND_STORE_URI"
#: ``ctx.meta`` key of a function that a command serving through this one (``autolog ui``)
#: sets: called with the URL once the socket listens, in place of the server's first line
LISTENING = "autolog.server.listening"


def no_tokens_message(host: str, loopback: bool, scope: str) -> str:
    """Why a server that requires access tokens refuses to start where there are none, and
    what to do (tokens of ``scope`` are what its users need first)."""
    where = "" if loopback else f" on {host}"
    return (
        f"refusing to serve{where} without access tokens: create one with "
        f"`autolog server token create NAME --scope {scope}`"
        + ("" if loopback else ", or pass --insecure-no-auth")
    )


def _fail(message: str) -> NoReturn:
    """One line on stderr, exit status 1: what is wrong, never a traceback."""
    first = " ".join(message.strip().split("\n")[0].split())
    click.echo(f"autolog server: {first}", err=True)
    sys.exit(1)


def _size(value: str, option: str) -> int:
    match = _SIZE.match(value)
    unit = (match.group(2) or "").lower() if match else ""
    if match is None or unit not in _UNITS:
        raise click.BadParameter(f"{value!r} is not a size like 500MB or 10GiB", param_hint=option)
    return int(float(match.group(1)) * _UNITS[unit])


def _split(values: tuple[str, ...]) -> tuple[str, ...]:
    """Options that may be repeated or given comma-separated."""
    return tuple(part.strip() for value in values for part in value.split(",") if part.strip())


def _backend_uri(uri: str | None) -> str:
    """The store to serve: the option, else $AUTOLOG_TRACKING_URI unless it names a server,
    else the local default store (./autolog-runs/autolog.db)."""
    from autolog.client import resolve_tracking_uri
    from autolog.stores.common import DEFAULT_DIR

    chosen = uri or os.environ.get("AUTOLOG_TRACKING_URI", "")
    if chosen and not chosen.lower().startswith(("http://", "https://")):
        return resolve_tracking_uri(chosen)
    if chosen and uri:
        return chosen  # refused by the caller, with its reason
    return f"sqlite:///{(Path.cwd() / DEFAULT_DIR / 'autolog.db').resolve()}"


def _open_store(uri: str) -> Any:
    from autolog.stores.base import open_store

    try:
        return open_store(uri)
    except AutologError as exc:
        _fail(f"cannot open the backend store: {exc}")


def _destination(value: str | None, store: Any) -> str:
    """The artifacts destination as a URI (a plain path made absolute), checked."""
    chosen = value or store.artifact_root
    if chosen.lower().startswith("s3://"):
        from autolog.artifacts.s3 import check_bucket

        try:
            check_bucket(chosen)
        except AutologError as exc:
            _fail(f"cannot use the artifacts destination {chosen}: {exc}")
        return chosen.rstrip("/")
    from autolog.stores.common import local_path

    try:
        path = local_path(chosen).expanduser().resolve()
        path.mkdir(parents=True, exist_ok=True)
    except (AutologError, OSError) as exc:
        _fail(f"cannot use the artifacts destination {chosen}: {exc}")
    return path.as_uri()


def _bind(host: str, port: int) -> socket.socket:
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    except socket.gaierror as exc:
        _fail(f"cannot listen on {host!r}: {exc.strerror}")
    family, _, _, _, address = infos[0]
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        if os.name != "nt":
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        # Accepted connections inherit it: an answer's head and body go out at once, not
        # 40 ms apart (Nagle's algorithm waiting on the client's delayed acknowledgement).
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        sock.bind(address)
        sock.listen(2048)
    except OSError as exc:
        sock.close()
        if exc.errno == errno.EADDRINUSE:
            _fail(f"port {port} on {host} is in use (another server?); choose one with --port")
        if exc.errno in (errno.EACCES, errno.EPERM):
            _fail(f"no permission to listen on port {port} of {host}; try a port above 1023")
        _fail(f"cannot listen on {host}:{port}: {exc.strerror or exc}")
    sock.set_inheritable(True)
    return sock


_WILDCARDS = {"": socket.AF_INET, "0.0.0.0": socket.AF_INET, "::": socket.AF_INET6}


def _url(host: str, port: int) -> str:
    shown = f"[{host}]" if ":" in host and not host.startswith("[") else host
    return f"http://{shown}:{port}"


def _serving(host: str, port: int) -> str:
    """Where the server answers: its address, and for a wildcard bind every address of this
    host that it answers on (printing 127.0.0.1 for 0.0.0.0 hid that the server is public)."""
    family = _WILDCARDS.get(host)
    if family is None:
        return _url(host, port)
    loopback = "127.0.0.1" if family == socket.AF_INET else "::1"
    found = [loopback]
    with contextlib.suppress(OSError):
        for info in socket.getaddrinfo(socket.gethostname(), None, family, socket.SOCK_STREAM):
            address = str(info[4][0])
            if address not in found:
                found.append(address)
    every = ", ".join(_url(address, port) for address in found)
    return f"{_url(host or '0.0.0.0', port)} (every address of this host: {every})"


@click.group(
    invoke_without_command=True,
    context_settings={"help_option_names": ["-h", "--help"]},
    epilog=(
        "Example: autolog server --backend-store-uri postgresql://autolog@db/autolog "
        "--artifacts-destination s3://bucket/autolog --host 0.0.0.0 --allowed-hosts "
        "tracking.example.com"
    ),
)
@click.option(
    "--backend-store-uri",
    "--tracking-uri",
    "backend_store_uri",
    envvar=_STORE_ENV,
    help=_STORE_HELP,
)
@click.option(
    "--artifacts-destination",
    help="folder or s3://bucket/prefix for new experiments' artifacts (default: beside the store)",
)
@click.option("--host", default="127.0.0.1", show_default=True, help="address to listen on")
@click.option("--port", default=5000, show_default=True, type=click.IntRange(0, 65535))
@click.option("--workers", default=1, show_default=True, type=click.IntRange(1, 64))
@click.option(
    "--allowed-hosts",
    multiple=True,
    help="Host header values to answer besides loopback names (repeat or comma-separate; "
    "* wildcards)",
)
@click.option(
    "--cors-allowed-origins",
    multiple=True,
    help="web origins allowed to call the API from a browser (default: none)",
)
@click.option("--require-token", is_flag=True, help="require tokens on loopback too")
@click.option(
    "--insecure-no-auth",
    is_flag=True,
    help="serve a non-loopback host without tokens: anyone who reaches it can read and write",
)
@click.option("--max-artifact-size", default="10GiB", show_default=True)
@click.option("--max-request-size", default="256MiB", show_default=True)
@click.option(
    "--log-level",
    default="warning",
    show_default=True,
    type=click.Choice(["critical", "error", "warning", "info", "debug"]),
)
@click.pass_context
def command(
    ctx: click.Context,
    backend_store_uri: str | None,
    artifacts_destination: str | None,
    host: str,
    port: int,
    workers: int,
    allowed_hosts: tuple[str, ...],
    cors_allowed_origins: tuple[str, ...],
    require_token: bool,
    insecure_no_auth: bool,
    max_artifact_size: str,
    max_request_size: str,
    log_level: str,
) -> None:
    """Run the tracking server: the REST API (and web UI) over a tracking store.

    It prints the URL it serves and runs until Ctrl-C or SIGTERM, letting requests in flight
    finish. On a host other than loopback it needs access tokens (see `autolog server token`)
    unless told --insecure-no-auth.
    """
    if ctx.invoked_subcommand is not None:
        return
    try:
        import uvicorn  # noqa: F401 - checked here, used by _serve

        from autolog.server.app import create_app  # noqa: F401
    except ImportError as exc:
        _fail(f"the server needs {exc.name or exc}: pip install 'autolog[server]'")
    from autolog.server.settings import ServerSettings, is_loopback
    from autolog.stores.common import redact_uri

    artifact_limit = _size(max_artifact_size, "--max-artifact-size")
    request_limit = _size(max_request_size, "--max-request-size")
    uri = _backend_uri(backend_store_uri)
    if uri.lower().startswith(("http://", "https://")):
        _fail(f"the backend store must be a database or a folder, not a server ({uri})")
    loopback = is_loopback(host)
    needs_tokens = require_token or (not loopback and not insecure_no_auth)
    destination = _check_backend(uri, artifacts_destination, needs_tokens, loopback, host)
    settings = ServerSettings(
        backend_store_uri=uri,
        artifacts_destination=destination,
        require_token=needs_tokens,
        allowed_hosts=_split(allowed_hosts),
        cors_origins=_split(cors_allowed_origins),
        max_request_bytes=request_limit,
        max_artifact_bytes=artifact_limit,
    )
    sock = _bind(host, port)
    port = sock.getsockname()[1]
    config = _config(settings, workers, log_level)
    listening = ctx.meta.get(LISTENING)
    if listening is not None:
        listening(f"{_url(host, port)}/")
    else:
        click.echo(f"autolog tracking server at {_serving(host, port)}")
    click.echo(f"  store:     {redact_uri(uri)}")
    click.echo(f"  artifacts: {destination}")
    access = "tokens required" if needs_tokens else "open to anyone who can reach it"
    if loopback and not needs_tokens:
        access = "no token needed (loopback only)"
    click.echo(f"  access:    {access}")
    if not loopback and not needs_tokens:
        click.echo(
            "autolog server: warning: --insecure-no-auth: anyone who reaches this host can "
            "read and write",
            err=True,
        )
    click.echo("Press Ctrl-C to stop.")
    sys.stdout.flush()
    _serve(config, sock, workers)
    click.echo("autolog server: stopped")


def _check_backend(
    uri: str, artifacts_destination: str | None, needs_tokens: bool, loopback: bool, host: str
) -> str:
    """Open the store once to say now, in one line, what is wrong with it; return the
    artifacts destination."""
    store = _open_store(uri)
    try:
        destination = _destination(artifacts_destination, store)
        if needs_tokens:
            try:
                tokens = store.list_tokens()
            except AutologError as exc:
                _fail(f"cannot read the access tokens: {exc}")
            if not tokens:
                _fail(no_tokens_message(host, loopback, "admin"))
    finally:
        store.close()
    return destination


def _config(settings: Any, workers: int, log_level: str) -> Any:
    import uvicorn

    from autolog.server.app import create_app
    from autolog.server.settings import SETTINGS_ENV

    common: dict[str, Any] = {
        "log_level": log_level,
        "access_log": log_level in ("info", "debug"),
        # longer than the REST store keeps idle connections, so the client closes first
        "timeout_keep_alive": 75,
        "timeout_graceful_shutdown": 30,
        "server_header": False,
    }
    if workers == 1:
        try:
            app = create_app(settings=settings, freeze_gc=True)
        except AutologError as exc:
            _fail(f"cannot open the backend store: {exc}")
        return uvicorn.Config(app, **common)
    os.environ[SETTINGS_ENV] = settings.to_env()  # read by every worker's app_from_env
    return uvicorn.Config(
        "autolog.server.app:app_from_env", factory=True, workers=workers, **common
    )


def _serve(config: Any, sock: socket.socket, workers: int) -> None:
    """Serve until Ctrl-C or SIGTERM; uvicorn lets requests in flight finish."""
    import uvicorn

    server = uvicorn.Server(config)
    # uvicorn shuts down gracefully on SIGINT and SIGTERM, then raises the signal again for
    # the program's own handler: ours ends the command normally.
    previous = signal.signal(signal.SIGTERM, _stop)
    try:
        if workers == 1:
            server.run(sockets=[sock])
        else:
            from uvicorn.supervisors import Multiprocess

            Multiprocess(config, sockets=[sock]).run()
    except (KeyboardInterrupt, _Stopped):
        pass
    finally:
        signal.signal(signal.SIGTERM, previous)
        sock.close()


class _Stopped(Exception):
    pass


def _stop(signum: int, frame: object) -> None:
    raise _Stopped


# ------------------------------------------------------------------------------------ tokens


@command.group("token", epilog="Example: autolog server token create ci --scope write")
def token() -> None:
    """Access tokens: create (shown once), list, revoke. Kept as hashes in the store."""


_TOKEN_STORE_HELP = (
    "where the tokens are kept: the server's store (sqlite:///relative.db, sqlite:////abs.db, "
    "postgresql://...), or "
    "http(s)://host:port to manage them through a running server with an admin token in "
    "$AUTOLOG_TRACKING_TOKEN (default: $AUTOLOG_BACKEND_STORE_URI, else $AUTOLOG_TRACKING_URI "
    "unless it names a server, else ./autolog-runs/autolog.db)"
)


def _token_store_option(function: Any) -> Any:
    """``--tracking-uri`` as on every command; ``--backend-store-uri`` as on the server."""
    return click.option(
        "--tracking-uri",
        "--backend-store-uri",
        "store_uri",
        metavar="URI",
        envvar=_STORE_ENV,
        help=_TOKEN_STORE_HELP,
    )(function)


def _token_store(uri: str | None) -> Any:
    """The store that keeps the tokens: a server named on the command line is asked through
    its API (as its admin); otherwise the store the server would serve."""
    if uri and uri.lower().startswith(("http://", "https://")):
        return _open_store(uri)
    return _open_store(_backend_uri(uri))


@token.command("create", epilog="Example: autolog server token create ci-runner --scope write")
@click.argument("name")
@click.option(
    "--scope",
    type=click.Choice(["read", "write", "admin"]),
    default="write",
    show_default=True,
    help="read: GET only; write: logging; admin: deletes and tokens",
)
@_token_store_option
def token_create(name: str, scope: str, store_uri: str | None) -> None:
    """Create a token called NAME and print it (the only time it is shown)."""
    from autolog.server.tokens import create_token

    store = _token_store(store_uri)
    try:
        secret, record = create_token(store, name, scope)
    except AutologError as exc:
        _fail(str(exc))
    finally:
        store.close()
    click.echo(secret)
    click.echo(
        f"token {record.name!r} ({record.scope}) created: keep it now, it is not shown again. "
        "Clients send it from AUTOLOG_TRACKING_TOKEN.",
        err=True,
    )


@token.command(
    "ls",
    epilog="""Examples:

\b
  autolog server token ls
  autolog server token ls --format json --tracking-uri https://tracking.example.com""",
)
@format_option(*FORMATS)
@_token_store_option
def token_ls(output_format: str | None, store_uri: str | None) -> None:
    """List the tokens, oldest first: name, scope, id, creation time (never the secrets)."""
    from autolog import wire

    store = _token_store(store_uri)
    try:
        tokens = store.list_tokens()
    except AutologError as exc:
        _fail(str(exc))
    finally:
        store.close()
    rows = [
        {"name": t.name, "scope": t.scope, "id": t.token_id, "created": Time(t.creation_time)}
        for t in tokens
    ]
    records = [wire.token_to_json(t) for t in tokens]
    emit(rows, ["name", "scope", "id", "created"], output_format, records=records)
    if not tokens and (output_format or "").lower() != "json":
        click.echo("no tokens", err=True)


@token.command("revoke", epilog="Example: autolog server token revoke ci-runner")
@click.argument("name")
@_token_store_option
def token_revoke(name: str, store_uri: str | None) -> None:
    """Revoke the token called NAME (every server stops taking it within seconds)."""
    store = _token_store(store_uri)
    try:
        store.revoke_token(name)
    except AutologError as exc:
        _fail(str(exc))
    finally:
        store.close()
    click.echo(f"token {name!r} revoked", err=True)
