"""``autolog models``: the model registry, from a shell."""

from __future__ import annotations

import sys
from typing import Any

import click

from autolog.cli._common import find_run, format_option, open_client, tracking_uri_option
from autolog.cli._output import FORMATS, RunId, Time, emit
from autolog.cli._records import model_version_record

__all__ = ["command"]


@click.group(
    epilog="""Examples:

\b
  autolog models register runs:/3fa2c1d0/model classifier
  autolog models alias classifier champion 3
  autolog models ls
  autolog models show classifier"""
)
def command() -> None:
    """List, show and register models, and point aliases at their versions."""


@command.command(
    "ls",
    epilog="""Examples:

\b
  autolog models ls
  autolog models ls --format json""",
)
@format_option(*FORMATS)
@tracking_uri_option
def ls(output_format: str | None, tracking_uri: str | None) -> None:
    """List registered models: their number of versions, the latest, and the aliases."""
    client = open_client(tracking_uri)
    versions = client.store.list_model_versions(None)
    models: dict[str, list[Any]] = {}
    for version in versions:
        models.setdefault(version.name, []).append(version)
    rows = []
    for name, found in models.items():
        latest = max(found, key=lambda v: v.version)
        aliases = sorted(f"{a}={v.version}" for v in found for a in v.aliases)
        rows.append(
            {
                "name": name,
                "versions": len(found),
                "latest": latest.version,
                "aliases": ", ".join(aliases),
                "updated": Time(latest.creation_time),
            }
        )
    records = [
        {
            "name": name,
            "versions": [model_version_record(v) for v in found],
        }
        for name, found in models.items()
    ]
    emit(rows, ["name", "versions", "latest", "aliases", "updated"], output_format, records=records)


@command.command(
    "show",
    epilog="""Examples:

\b
  autolog models show classifier
  autolog models show classifier --format json""",
)
@click.argument("name")
@format_option(*FORMATS)
@tracking_uri_option
def show(name: str, output_format: str | None, tracking_uri: str | None) -> None:
    """Show the versions of the model NAME: aliases, source run, when registered."""
    from autolog.errors import NotFoundError

    client = open_client(tracking_uri)
    versions = client.store.list_model_versions(name)
    if not versions:
        raise NotFoundError("registered model", name)
    records = [model_version_record(v) for v in versions]
    rows = [
        {
            **record,
            "aliases": ", ".join(record["aliases"]),
            "run_id": None if record["run_id"] is None else RunId(record["run_id"]),
        }
        for record in records
    ]
    emit(
        rows,
        ["version", "aliases", "run_id", "source", "creation_time"],
        output_format,
        records=records,
        headers={"run_id": "run id", "creation_time": "registered"},
    )


@command.command(
    "register",
    epilog="""Examples:

\b
  autolog models register runs:/3fa2c1d0e5b14f6a9c8d7e6f5a4b3c2d/model classifier
  autolog models register runs:/3fa2/model classifier     # a unique start of the id""",
)
@click.argument("model_uri", metavar="RUN_URI")
@click.argument("name")
@tracking_uri_option
def register(model_uri: str, name: str, tracking_uri: str | None) -> None:
    """Register the model logged at RUN_URI (runs:/<run>/<path>) as the next version of NAME,
    and print the version number."""
    from autolog.errors import InvalidURIError

    client = open_client(tracking_uri)
    if not model_uri.startswith("runs:/"):
        raise InvalidURIError(model_uri, "register a logged model: runs:/<run>/<path>")
    reference, _, path = model_uri.removeprefix("runs:/").strip("/").partition("/")
    if not reference or not path:
        raise InvalidURIError(model_uri, "expected runs:/<run>/<path>")
    run = find_run(client, reference)
    version = client.register_model(f"runs:/{run.info.run_id}/{path}", name)
    if sys.stdout.isatty():
        click.echo(
            f"registered {name!r} version {version.version} (runs:/{run.info.run_id}/{path})"
        )
    else:
        click.echo(version.version)


@command.command(
    "alias",
    epilog="""Examples:

\b
  autolog models alias classifier champion 3
  autolog runs ls   # then: autolog.load_model("models:/classifier@champion")""",
)
@click.argument("name")
@click.argument("alias")
@click.argument("version", type=click.IntRange(min=1))
@tracking_uri_option
def alias(name: str, alias: str, version: int, tracking_uri: str | None) -> None:
    """Point ALIAS of the model NAME at VERSION (moving it from where it pointed)."""
    client = open_client(tracking_uri)
    client.set_model_alias(name, alias, version)
    click.echo(f"models:/{name}@{alias} is version {version}", err=True)
