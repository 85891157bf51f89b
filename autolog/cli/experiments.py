"""``autolog experiments``: list, show, create, rename, tag, delete and restore experiments."""

from __future__ import annotations

import sys
from typing import Any

import click

from autolog.cli._common import (
    find_experiment,
    format_option,
    open_client,
    tag_changes,
    tracking_uri_option,
)
from autolog.cli._output import FORMATS, Time, emit, emit_json, emit_sections
from autolog.cli._records import experiment_record

__all__ = ["command"]


@click.group(
    epilog="""Examples:

\b
  autolog experiments ls
  autolog experiments create mnist
  autolog experiments tag mnist team=vision
  autolog experiments show mnist
  autolog experiments rename mnist mnist-2024
  autolog experiments delete mnist-2024"""
)
def command() -> None:
    """List, show, create, rename, tag, delete and restore experiments."""


@command.command(
    "ls",
    epilog="""Examples:

\b
  autolog experiments ls
  autolog experiments ls --format json""",
)
@click.option("--deleted", is_flag=True, help="list deleted experiments instead")
@format_option(*FORMATS)
@tracking_uri_option
def ls(deleted: bool, output_format: str | None, tracking_uri: str | None) -> None:
    """List experiments, oldest first."""
    client = open_client(tracking_uri)
    experiments = sorted(
        client.list_experiments("deleted" if deleted else "active"),
        key=lambda e: (e.creation_time, _numeric(e.experiment_id)),
    )
    records = [experiment_record(e) for e in experiments]
    columns = ["experiment_id", "name", "creation_time", "artifact_location"]
    emit(
        records,
        [*columns, "deleted_time"] if deleted else columns,
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
    "show",
    epilog="""Examples:

\b
  autolog experiments show mnist
  autolog experiments show 3 --format json""",
)
@click.argument("experiment", metavar="EXPERIMENT")
@format_option(*FORMATS)
@tracking_uri_option
def show(experiment: str, output_format: str | None, tracking_uri: str | None) -> None:
    """Show EXPERIMENT (a name or an id, deleted ones too): its id, times, artifact location
    and tags."""
    client = open_client(tracking_uri)
    found = find_experiment(client, experiment)
    if output_format == "json":
        emit_json({**experiment_record(found), "tags": dict(found.tags)})
        return
    overview: list[tuple[str, Any]] = [
        ("id", found.experiment_id),
        ("name", found.name),
        ("created", Time(found.creation_time)),
        ("deleted", None if found.deleted_time is None else Time(found.deleted_time)),
        ("artifacts", found.artifact_location),
    ]
    emit_sections(
        [
            ("experiment", [(k, v) for k, v in overview if v is not None]),
            ("tags", sorted(found.tags.items())),
        ],
        output_format,
    )


@command.command(
    "tag",
    epilog="""Examples:

\b
  autolog experiments tag mnist team=vision owner=ana
  autolog experiments tag mnist --delete owner""",
)
@click.argument("experiment", metavar="EXPERIMENT")
@click.argument("pairs", nargs=-1, metavar="KEY=VALUE...")
@click.option("--delete", "deleted", multiple=True, metavar="KEY", help="remove this tag")
@tracking_uri_option
def tag(
    experiment: str, pairs: tuple[str, ...], deleted: tuple[str, ...], tracking_uri: str | None
) -> None:
    """Set tags (KEY=VALUE) of EXPERIMENT (a name or an id) itself, or remove them
    (--delete KEY)."""
    tags = tag_changes(pairs, deleted)
    client = open_client(tracking_uri)
    found = find_experiment(client, experiment)
    for key, value in tags.items():
        client.set_experiment_tag(found.experiment_id, key, value)
    for key in deleted:
        client.delete_experiment_tag(found.experiment_id, key)


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


@command.command(
    "rename",
    epilog="""Example:

\b
  autolog experiments rename mnist mnist-2024""",
)
@click.argument("experiment", metavar="EXPERIMENT")
@click.argument("new_name")
@tracking_uri_option
def rename(experiment: str, new_name: str, tracking_uri: str | None) -> None:
    """Rename EXPERIMENT (a name or an id) to NEW_NAME; its runs stay in it."""
    client = open_client(tracking_uri)
    found = find_experiment(client, experiment)
    client.rename_experiment(found.experiment_id, new_name)
    click.echo(f"renamed experiment {found.name!r} to {new_name!r}", err=True)


@command.command(
    "delete",
    epilog="""Examples:

\b
  autolog experiments delete mnist
  autolog experiments restore mnist""",
)
@click.argument("experiment", metavar="EXPERIMENT")
@tracking_uri_option
def delete(experiment: str, tracking_uri: str | None) -> None:
    """Delete EXPERIMENT (a name or an id) softly: it and its runs are hidden until restored,
    and removed for good by `autolog gc`. Its name stays taken until then."""
    client = open_client(tracking_uri)
    found = find_experiment(client, experiment)
    client.delete_experiment(found.experiment_id)
    click.echo(f"deleted experiment {found.name!r} (id {found.experiment_id})", err=True)


@command.command(
    "restore",
    epilog="""Example:

\b
  autolog experiments restore mnist""",
)
@click.argument("experiment", metavar="EXPERIMENT")
@tracking_uri_option
def restore(experiment: str, tracking_uri: str | None) -> None:
    """Bring back a deleted EXPERIMENT (a name or an id) with its runs."""
    client = open_client(tracking_uri)
    found = find_experiment(client, experiment)
    client.restore_experiment(found.experiment_id)
    click.echo(f"restored experiment {found.name!r} (id {found.experiment_id})", err=True)
