"""``autolog experiments``: list and create experiments."""

from __future__ import annotations

import sys

import click

from autolog.cli._common import format_option, open_client, tracking_uri_option
from autolog.cli._output import FORMATS, emit
from autolog.cli._records import experiment_record

__all__ = ["command"]


@click.group(
    epilog="""Examples:

\b
  autolog experiments ls
  autolog experiments create mnist"""
)
def command() -> None:
    """List and create experiments."""


@command.command(
    "ls",
    epilog="""Examples:

\b
  autolog experiments ls
  autolog experiments ls --format json""",
)
@format_option(*FORMATS)
@tracking_uri_option
def ls(output_format: str | None, tracking_uri: str | None) -> None:
    """List experiments, oldest first."""
    client = open_client(tracking_uri)
    experiments = sorted(
        client.list_experiments(), key=lambda e: (e.creation_time, _numeric(e.experiment_id))
    )
    records = [experiment_record(e) for e in experiments]
    emit(
        records,
        ["experiment_id", "name", "creation_time", "artifact_location"],
        output_format,
        headers={
            "experiment_id": "id",
            "creation_time": "created",
            "artifact_location": "artifacts",
        },
    )


def _numeric(experiment_id: str) -> tuple[int, str]:
    return (int(experiment_id), "") if experiment_id.isdigit() else (0, experiment_id)


@command.command(
    "create",
    epilog="""Example:

\b
  autolog experiments create mnist""",
)
@click.argument("name")
@tracking_uri_option
def create(name: str, tracking_uri: str | None) -> None:
    """Create the experiment NAME and print its id (an existing NAME is an error)."""
    from autolog.errors import InvalidInputError

    client = open_client(tracking_uri, create=True)
    existing = client.get_experiment_by_name(name)
    if existing is not None:
        raise InvalidInputError(f"experiment {name!r} already exists (id {existing.experiment_id})")
    experiment = client.get_or_create_experiment(name)
    if sys.stdout.isatty():
        click.echo(f"created experiment {name!r} (id {experiment.experiment_id})")
    else:
        click.echo(experiment.experiment_id)
