"""``autolog models``: the model registry, from a shell."""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, Any

import click

from autolog.cli import models_io, models_serve
from autolog.cli._common import (
    find_run,
    format_option,
    open_client,
    tag_changes,
    tracking_uri_option,
)
from autolog.cli._output import FORMATS, RunId, Time, emit
from autolog.cli._records import model_version_record

if TYPE_CHECKING:
    from autolog.entities import RegisteredModel

__all__ = ["command"]


@click.group(
    epilog="""Examples:

\b
  autolog models register runs:/3fa2c1d0/model classifier
  autolog models alias classifier champion 3
  autolog models ls --filter "tags.team = 'ml'"
  autolog models show classifier
  autolog models show models:/classifier/latest
  autolog models predict models:/classifier@champion -i rows.csv -o scores.csv
  autolog models export models:/classifier@champion ./classifier
  autolog models tag classifier/3 validated=yes
  autolog models rename classifier churn-classifier
  autolog models delete classifier/1"""
)
def command() -> None:
    """List, show, register, describe, tag, rename and delete models, and point aliases at
    their versions."""


def _model_ref(reference: str) -> tuple[str, int | None]:
    """NAME or NAME/VERSION (a registered model's name holds no '/')."""
    from autolog.registry import version_arg

    name, slash, version = reference.rpartition("/")
    if not slash:
        return reference, None
    return name, version_arg(version)


@command.command(
    "ls",
    epilog="""Examples:

\b
  autolog models ls
  autolog models ls --format json""",
)
@click.option(
    "--filter",
    "filter_string",
    default="",
    help="name = 'x', name LIKE 'x%', tags.k = 'v', joined by and",
)
@format_option(*FORMATS)
@tracking_uri_option
def ls(filter_string: str, output_format: str | None, tracking_uri: str | None) -> None:
    """List registered models: their number of versions, the latest, and the aliases."""
    client = open_client(tracking_uri)
    chosen = client.search_registered_models(filter_string, max_results=2**31 - 1)
    models: dict[str, list[Any]] = {model.name: [] for model in chosen}
    for version in client.store.list_model_versions(None):
        if version.name in models:
            models[version.name].append(version)
    rows = [
        {
            "name": model.name,
            "versions": len(models[model.name]),
            "latest": model.latest_version,
            "aliases": ", ".join(f"{a}={v}" for a, v in sorted(model.aliases.items())),
            "updated": Time(model.last_updated_time),
        }
        for model in chosen
    ]
    records = [
        {
            "name": model.name,
            "description": model.description,
            "tags": dict(model.tags),
            "versions": [model_version_record(v) for v in models[model.name]],
        }
        for model in chosen
    ]
    emit(rows, ["name", "versions", "latest", "aliases", "updated"], output_format, records=records)


@command.command(
    "show",
    epilog="""Examples:

\b
  autolog models show classifier
  autolog models show classifier --format json
  autolog models show models:/classifier/latest    # what the model takes, gives, needs
  autolog models show ./exported-model""",
)
@click.argument("name", metavar="NAME|URI")
@format_option(*FORMATS)
@tracking_uri_option
def show(name: str, output_format: str | None, tracking_uri: str | None) -> None:
    """Show the versions of the registered model NAME: aliases, source run, when registered.
    Given a model URI (runs:/..., models:/..., a folder: ./DIR), show what that model takes,
    gives and needs: its signature, input example, requirements and registered versions."""
    if models_io.is_model_uri(name):
        models_io.show_model(name, output_format, tracking_uri)
        return
    client = open_client(tracking_uri)
    model = client.get_registered_model(name)  # unknown: an error; without versions: none
    versions = client.store.list_model_versions(name)
    records = [
        {**model_version_record(v), "description": v.description, "tags": dict(v.tags)}
        for v in versions
    ]
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
        title=_title(model),
    )


def _title(model: RegisteredModel) -> str:
    """The model's description and tags, above its versions in a terminal."""
    tags = ", ".join(f"{k}={v}" for k, v in sorted(model.tags.items()))
    return " · ".join(part for part in (model.name, model.description, tags) if part)


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
    and print the version's URI (models:/NAME/N)."""
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
        click.echo(f"registered runs:/{run.info.run_id}/{path} as:", err=True)
    click.echo(f"models:/{version.name}/{version.version}")


@command.command(
    "alias",
    epilog="""Examples:

\b
  autolog models alias classifier champion 3
  autolog models alias classifier champion --delete
  autolog runs ls   # then: autolog.load_model("models:/classifier@champion")""",
)
@click.argument("name")
@click.argument("alias")
@click.argument("version", type=click.IntRange(min=1), required=False)
@click.option("--delete", is_flag=True, help="remove the alias (the version stays)")
@tracking_uri_option
def alias(
    name: str, alias: str, version: int | None, delete: bool, tracking_uri: str | None
) -> None:
    """Point ALIAS of the model NAME at VERSION (moving it from where it pointed), or remove
    it with --delete."""
    if delete == (version is not None):
        raise click.UsageError("give a VERSION, or --delete without one")
    client = open_client(tracking_uri)
    if version is None:
        client.delete_model_alias(name, alias)
        click.echo(f"deleted models:/{name}@{alias}", err=True)
        return
    client.set_model_alias(name, alias, version)
    click.echo(f"models:/{name}@{alias} is version {version}", err=True)


@command.command(
    "delete",
    epilog="""Examples:

\b
  autolog models delete classifier/2   # one version, with its aliases and tags
  autolog models delete classifier     # the model, every version, alias and tag""",
)
@click.argument("reference", metavar="NAME[/VERSION]")
@tracking_uri_option
def delete(reference: str, tracking_uri: str | None) -> None:
    """Delete a version of a registered model, or the model with all of its versions. A run
    none of whose versions remain can be purged again (autolog gc)."""
    name, version = _model_ref(reference)
    client = open_client(tracking_uri)
    if version is None:
        client.delete_registered_model(name)
        click.echo(f"deleted registered model {name!r}", err=True)
    else:
        client.delete_model_version(name, version)
        click.echo(f"deleted models:/{name}/{version}", err=True)


@command.command(
    "rename",
    epilog="""Examples:

\b
  autolog models rename classifier churn-classifier""",
)
@click.argument("name")
@click.argument("new_name")
@tracking_uri_option
def rename(name: str, new_name: str, tracking_uri: str | None) -> None:
    """Rename the model NAME to NEW_NAME: its versions, aliases and tags follow."""
    open_client(tracking_uri).rename_registered_model(name, new_name)
    click.echo(f"renamed {name!r} to {new_name!r}", err=True)


@command.command(
    "tag",
    epilog="""Examples:

\b
  autolog models tag classifier team=ml owner=ana
  autolog models tag classifier/3 validated=yes
  autolog models tag classifier --delete owner""",
)
@click.argument("reference", metavar="NAME[/VERSION]")
@click.argument("pairs", nargs=-1, metavar="KEY=VALUE...")
@click.option("--delete", "deleted", multiple=True, metavar="KEY", help="remove this tag")
@tracking_uri_option
def tag(
    reference: str, pairs: tuple[str, ...], deleted: tuple[str, ...], tracking_uri: str | None
) -> None:
    """Set tags (KEY=VALUE) of a registered model or of one of its versions, or remove them
    (--delete KEY)."""
    tags = tag_changes(pairs, deleted)
    name, version = _model_ref(reference)
    client = open_client(tracking_uri)
    for key, value in tags.items():
        if version is None:
            client.set_registered_model_tag(name, key, value)
        else:
            client.set_model_version_tag(name, version, key, value)
    for key in deleted:
        if version is None:
            client.delete_registered_model_tag(name, key)
        else:
            client.delete_model_version_tag(name, version, key)


@command.command(
    "describe",
    epilog="""Examples:

\b
  autolog models describe classifier "Churn, weekly retrain"
  autolog models describe classifier/3 "passed the holdout check"
  autolog models describe classifier ""     # no description""",
)
@click.argument("reference", metavar="NAME[/VERSION]")
@click.argument("text")
@tracking_uri_option
def describe(reference: str, text: str, tracking_uri: str | None) -> None:
    """Set the description of a registered model or of one of its versions ("": none)."""
    name, version = _model_ref(reference)
    client = open_client(tracking_uri)
    if version is None:
        client.update_registered_model(name, text)
    else:
        client.update_model_version(name, version, text)


command.add_command(models_serve.command)  # `autolog models serve`: autolog/cli/models_serve.py
command.add_command(models_io.predict)  # `autolog models predict`: autolog/cli/models_io.py
command.add_command(models_io.export)  # `autolog models export`: autolog/cli/models_io.py
