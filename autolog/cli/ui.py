"""``autolog ui``: this machine's runs in the web UI, on loopback, opened in your browser.

Example::

    $ autolog ui                                          # ./autolog-runs, http://127.0.0.1:5000
    $ autolog ui --backend-store-uri sqlite:///runs.db --port 8080 --no-browser   # ./runs.db
"""

from __future__ import annotations

import errno
import socket
import threading
import time
import webbrowser

import click

__all__ = ["command"]

_HOST = "127.0.0.1"
_DEFAULT_PORT = 5000


def _free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        try:
            probe.bind((_HOST, port))
        except OSError as exc:
            if exc.errno in (errno.EADDRINUSE, errno.EACCES):
                return False
            raise
    return True


def _any_free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind((_HOST, 0))
        port: int = probe.getsockname()[1]
        return port


def _open_when_up(url: str, timeout: float = 30.0) -> None:
    """Open ``url`` in the user's browser once the server answers (a daemon thread)."""
    import urllib.request

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"{url}api/v1/health", timeout=2):
                break
        except OSError:
            time.sleep(0.1)
    else:
        return
    webbrowser.open(url)


@click.command(
    context_settings={"help_option_names": ["-h", "--help"]},
    epilog="Example: autolog ui --backend-store-uri sqlite:///runs.db --port 8080  (./runs.db)",
)
@click.option(
    "--backend-store-uri",
    "--tracking-uri",
    "backend_store_uri",
    envvar="AUTOLOG_BACKEND_STORE_URI",
    help="tracking store to show (default: ./autolog-runs/autolog.db, SQLite)",
)
@click.option(
    "--port",
    type=click.IntRange(0, 65535),
    help=f"port on {_HOST} (default: {_DEFAULT_PORT}, or a free one if it is taken)",
)
@click.option("--no-browser", is_flag=True, help="print the URL only; do not open a browser")
@click.pass_context
def command(
    ctx: click.Context, backend_store_uri: str | None, port: int | None, no_browser: bool
) -> None:
    """Show the runs of a local store in the web UI, served on loopback only.

    Once it listens it prints the URL, opens it in your browser and serves until Ctrl-C (a
    port that is taken or a missing server extra is said instead, with exit status 1). For a
    server that others can reach, use `autolog server`.
    """
    from autolog.cli.server import LISTENING
    from autolog.cli.server import command as server

    if port is None:
        port = _DEFAULT_PORT if _free(_DEFAULT_PORT) else _any_free_port()

    def listening(url: str) -> None:
        # Only now: a taken port, a missing extra or a bad store was said first, and no URL.
        click.echo(f"autolog UI at {url}")
        if not no_browser:
            threading.Thread(target=_open_when_up, args=(url,), daemon=True).start()

    ctx.meta[LISTENING] = listening
    ctx.invoke(server, backend_store_uri=backend_store_uri, host=_HOST, port=port)
