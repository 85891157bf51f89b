"""``autolog sync``: send what was spooled while the tracking server was away.

Example::

    $ autolog sync                                    # ./autolog-runs/spool -> its servers
    $ autolog sync --tracking-uri http://tracking.example.com:5000
"""

from __future__ import annotations

import sys
from typing import Any

import click

from autolog.errors import AutologError

__all__ = ["command"]


@click.command(
    context_settings={"help_option_names": ["-h", "--help"]},
    epilog="Example: autolog sync --tracking-uri http://127.0.0.1:5000",
)
@click.option(
    "--tracking-uri",
    help="send every spool to this server (default: the server each was meant for)",
)
@click.option(
    "--folder",
    type=click.Path(file_okay=False),
    help="the working folder whose autolog-runs/spool to send (default: this one)",
)
def command(tracking_uri: str | None, folder: str | None) -> None:
    """Send what runs logged while the tracking server did not answer, exactly once.

    Processes that could not reach their server keep what they logged in
    ./autolog-runs/spool; this sends it (a spool half sent before is finished without
    doubling anything) and removes what was sent.
    """
    from autolog.stores.rest import sync

    bars: list[Any] = []  # the progress bar, made once the number of writes is known

    def progress(done: int, total: int, values: int) -> None:
        if not bars:
            bar = click.progressbar(
                length=total, label="autolog sync", file=sys.stderr, show_pos=True
            )
            bar.__enter__()
            bars.append(bar)
        bars[0].update(done - bars[0].pos)

    try:
        report = sync(tracking_uri, folder=folder, progress=progress)
    except AutologError as exc:
        message = " ".join(str(exc).split())
        click.echo(f"\nautolog sync: {message}; what was not sent stays spooled", err=True)
        sys.exit(1)
    finally:
        for bar in bars:
            bar.__exit__(None, None, None)
    if report.writes == 0 and report.busy_sessions == 0:
        click.echo("autolog sync: nothing is spooled", err=True)
        return
    click.echo(
        f"autolog sync: sent {report.values} values of {report.runs} run(s) "
        f"in {report.writes} writes",
        err=True,
    )
    if report.busy_sessions:
        click.echo(
            f"autolog sync: {report.busy_sessions} spool(s) still in use by running processes "
            "were left to them",
            err=True,
        )
