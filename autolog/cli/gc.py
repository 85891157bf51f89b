"""``autolog gc``: remove deleted runs and experiments, and their artifacts, for good."""

from __future__ import annotations

import re

import click

from autolog.cli._common import open_client, tracking_uri_option

__all__ = ["command", "parse_age"]

_AGE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhdw]?)\s*$")
_SECONDS = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}


def parse_age(text: str) -> float:
    """``30d``, ``12h``, ``90m``, ``45s``, ``2w`` or plain seconds, as seconds."""
    match = _AGE.match(text.lower())
    if match is None:
        raise click.BadParameter(
            f"{text!r} is not an age like 30d, 12h, 90m or 2w", param_hint="--older-than"
        )
    return float(match.group(1)) * _SECONDS[match.group(2)]


@click.command(
    epilog="""Examples:

\b
  autolog gc                      # everything deleted so far
  autolog gc --older-than 30d     # what was deleted 30 days ago or earlier
  autolog gc --dry-run""",
)
@click.option(
    "--older-than",
    default="0",
    metavar="AGE",
    help="only what was deleted at least this long ago: 30d, 12h, 90m, 2w (default: all)",
)
@click.option("--dry-run", is_flag=True, help="say what would be removed, remove nothing")
@tracking_uri_option
def command(older_than: str, dry_run: bool, tracking_uri: str | None) -> None:
    """Remove deleted runs and experiments for good, with their artifacts, and say how many
    bytes that freed. Runs that registered model versions point at are kept."""
    age = parse_age(older_than)
    client = open_client(tracking_uri)
    report = client.purge_deleted(age, dry_run=dry_run)
    for line in report.kept:
        click.echo(f"kept: {line}", err=True)
    verb = "would remove" if dry_run else "removed"
    click.echo(
        f"{verb} {len(report.runs)} runs and {len(report.experiments)} experiments, "
        f"{_size(report.bytes_freed)} of artifacts" + (" freed" if not dry_run else "")
    )


def _size(n: int) -> str:
    value = float(n)
    for unit in ("bytes", "KB", "MB", "GB"):
        if value < 1024 or unit == "GB":
            return f"{n} bytes" if unit == "bytes" else f"{value:.1f} {unit} ({n} bytes)"
        value /= 1024
    return f"{n} bytes"
