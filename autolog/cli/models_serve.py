"""``autolog models serve URI``: a model behind HTTP, answering MLflow's scoring requests.

Example::

    $ autolog models serve models:/churn@prod                # 127.0.0.1:5001
    $ curl -s localhost:5001/invocations -H 'Content-Type: application/json' \\
          -d '{"dataframe_records": [{"age": 41, "plan": 2}]}'
    {"predictions": [1]}
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import shutil
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any, NoReturn

import click

from autolog.cli._common import tracking_uri_option
from autolog.errors import AutologError

__all__ = ["command"]


def _fail(message: str) -> NoReturn:
    """One line on stderr, exit status 1: what is wrong, never a traceback."""
    first = " ".join(message.strip().split("\n")[0].split())
    click.echo(f"autolog models serve: {first}", err=True)
    sys.exit(1)


@click.command(
    "serve",
    epilog="""Examples:

\b
  autolog models serve models:/churn@prod
  autolog models serve runs:/3fa2c1d0/model --port 8080 --workers 2
  autolog models serve ./exported-model --host 0.0.0.0 --insecure-no-auth""",
)
@click.argument("model_uri", metavar="URI")
@click.option("--host", default="127.0.0.1", show_default=True, help="address to listen on")
@click.option("--port", default=5001, show_default=True, type=click.IntRange(1, 65535))
@click.option(
    "--workers",
    default=1,
    show_default=True,
    type=click.IntRange(1, 64),
    help="processes, each with its own copy of the model",
)
@click.option(
    "--batch-wait-ms",
    default=2.0,
    show_default=True,
    type=click.FloatRange(0, 1000),
    help="how long a request may wait for others to share one predict call (0: never batch)",
)
@click.option(
    "--alias-poll-seconds",
    default=10.0,
    show_default=True,
    type=click.FloatRange(0.1, 3600),
    help="for models:/NAME@ALIAS, how often to check where the alias points",
)
@click.option(
    "--allowed-hosts",
    multiple=True,
    help="Host header values to answer besides loopback names (repeat or comma-separate; "
    "* wildcards)",
)
@click.option("--require-token", is_flag=True, help="require tokens on loopback too")
@click.option(
    "--insecure-no-auth",
    is_flag=True,
    help="serve a non-loopback host without tokens: anyone who reaches it can predict",
)
@click.option(
    "--max-request-bytes",
    default=64 * 1024 * 1024,
    show_default=True,
    type=click.IntRange(1),
    help="the largest request body taken (larger: 413)",
)
@tracking_uri_option
def command(
    model_uri: str,
    host: str,
    port: int,
    workers: int,
    batch_wait_ms: float,
    alias_poll_seconds: float,
    allowed_hosts: tuple[str, ...],
    require_token: bool,
    insecure_no_auth: bool,
    max_request_bytes: int,
    tracking_uri: str | None,
) -> None:
    """Serve the model at URI: POST /invocations takes MLflow's JSON bodies (dataframe_split,
    dataframe_records, instances, inputs) or CSV and answers {"predictions": [...]}.

    URI is runs:/ID/PATH, models:/NAME/N, models:/NAME@ALIAS (followed: when the alias moves,
    the new version is loaded and verified, then swapped in) or a model folder. GET /ping,
    /health, /version, /metadata, /metrics and /openapi.json describe it. On a host other than
    loopback, requests need an access token of the tracking store (`autolog server token
    create`) unless told --insecure-no-auth.
    """
    try:
        import uvicorn  # noqa: F401 - checked here, used by _serve
    except ImportError as exc:
        _fail(f"serving needs {exc.name or exc}: pip install 'autolog[server]'")
    from autolog.server.settings import is_loopback
    from autolog.serving.app import ServeSettings

    loopback = is_loopback(host)
    settings = ServeSettings(
        model_uri=model_uri,
        tracking_uri=_tracking_uri(tracking_uri),
        batch_wait_ms=batch_wait_ms,
        alias_poll_seconds=alias_poll_seconds,
        require_token=require_token or (not loopback and not insecure_no_auth),
        allowed_hosts=tuple(p.strip() for v in allowed_hosts for p in v.split(",") if p.strip()),
        max_request_bytes=max_request_bytes,
    )
    if settings.require_token:
        _check_tokens(settings.tracking_uri, loopback, host)
    with _metrics_folder(workers) as folder:
        settings = dataclasses.replace(settings, metrics_dir=folder)
        app = _app(settings, workers)
        _announce(settings, host, port, loopback)
        _serve(app, settings, host, port, workers)


def _tracking_uri(option: str | None) -> str:
    from autolog.cli._common import local_store_path
    from autolog.client import resolve_tracking_uri

    uri = resolve_tracking_uri(option)
    path = local_store_path(uri)
    if path is not None and not path.exists():
        return "memory:"  # nothing recorded there: a models:/ or runs:/ URI is then not found
    return uri


def _check_tokens(uri: str | None, loopback: bool, host: str) -> None:
    """Refuse now, in one line, to require tokens that nobody has."""
    from autolog.stores.base import open_store

    try:
        store = open_store(uri or "")
        try:
            tokens = store.list_tokens()
        finally:
            store.close()
    except AutologError as exc:
        _fail(f"cannot read the access tokens of {uri}: {exc}")
    if not tokens:
        from autolog.cli.server import no_tokens_message

        _fail(no_tokens_message(host, loopback, "read"))


@contextlib.contextmanager
def _metrics_folder(workers: int) -> Iterator[str | None]:
    """With several workers, the folder where each keeps its counts for ``/metrics`` to sum
    (see ``autolog.serving.metrics``), removed when the server stops; None with one.

    In shared memory where the system has it: the counts change on every request, and a
    file on disk would be written back for nothing."""
    if workers == 1:
        yield None
        return
    shm = "/dev/shm"
    where = shm if os.path.isdir(shm) and os.access(shm, os.W_OK | os.X_OK) else None
    prefix = f"{_METRICS_PREFIX}{os.getpid()}-"
    try:
        _remove_abandoned(Path(where or tempfile.gettempdir()))
        folder = tempfile.mkdtemp(prefix=prefix, dir=where)
    except OSError as exc:
        _fail(f"cannot make a folder for the workers' metrics: {exc}")
    try:
        yield folder
    finally:
        shutil.rmtree(folder, ignore_errors=True)


_METRICS_PREFIX = "autolog-serve-metrics-"


def _remove_abandoned(where: Path) -> None:
    """The metrics folders of servers that died without removing theirs (SIGKILL): each is
    named after its server's process, and one whose process is gone is removed. A folder of
    a live process (or another user's) is left alone."""
    for folder in where.glob(f"{_METRICS_PREFIX}*-*"):
        pid = folder.name.removeprefix(_METRICS_PREFIX).partition("-")[0]
        if not pid.isdigit() or not folder.is_dir() or folder.stat().st_uid != os.getuid():
            continue
        try:
            os.kill(int(pid), 0)
        except ProcessLookupError:
            shutil.rmtree(folder, ignore_errors=True)
        except OSError:
            continue  # alive, another user's


def _app(settings: Any, workers: int) -> Any:
    """The app, the model loaded and verified now (one worker); with several, each worker
    loads its own, and the model is checked here first so that a bad URI fails at once."""
    import autolog
    from autolog.serving.app import SETTINGS_ENV, create_app, needs_store

    try:
        if workers == 1:
            return create_app(settings)
        uri = settings.tracking_uri if needs_store(settings) else "memory:"
        with autolog.Client(uri) as client:
            client.get_model_info(settings.model_uri)
    except AutologError as exc:
        _fail(f"cannot serve {settings.model_uri}: {exc}")
    os.environ[SETTINGS_ENV] = settings.to_env()  # read by every worker's app_from_env
    return "autolog.serving.app:app_from_env"


def _announce(settings: Any, host: str, port: int, loopback: bool) -> None:
    shown = f"[{host}]" if ":" in host and not host.startswith("[") else host
    click.echo(f"autolog model server at http://{shown}:{port} serving {settings.model_uri}")
    if settings.require_token:
        access = "tokens required"
    elif loopback:
        access = "no token needed (loopback only)"
    else:
        access = "open to anyone who can reach it"
        click.echo(
            "autolog models serve: warning: --insecure-no-auth: anyone who reaches this host "
            "can use the model",
            err=True,
        )
    batching = f"up to {settings.batch_wait_ms:g} ms" if settings.batch_wait_ms else "off"
    click.echo(f"  access:   {access}\n  batching: {batching}\nPress Ctrl-C to stop.")
    sys.stdout.flush()


def _serve(app: Any, settings: Any, host: str, port: int, workers: int) -> None:
    import uvicorn

    config = uvicorn.Config(
        app,
        host=host,
        port=port,
        factory=isinstance(app, str),
        workers=workers if isinstance(app, str) else None,
        log_level="warning",
        access_log=False,
        timeout_keep_alive=75,
        timeout_graceful_shutdown=30,
        server_header=False,
        lifespan="on",
    )
    try:
        if workers == 1:
            uvicorn.Server(config).run()
        else:
            from uvicorn.supervisors import Multiprocess

            Multiprocess(config, sockets=[config.bind_socket()]).run()
    except KeyboardInterrupt:
        pass
    click.echo("autolog models serve: stopped")
