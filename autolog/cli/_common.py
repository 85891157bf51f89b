"""What every subcommand shares: ``--tracking-uri``, opening the store, run ids, tags."""

from __future__ import annotations

import contextlib
import re
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, TypeVar

import click

if TYPE_CHECKING:
    from pathlib import Path

    from autolog.client import Client
    from autolog.entities import Experiment, Run

__all__ = [
    "find_experiment",
    "find_run",
    "format_option",
    "local_store_path",
    "name_values",
    "open_client",
    "parse_tags",
    "tracking_uri_option",
]

F = TypeVar("F", bound=Callable[..., Any])


def tracking_uri_option(function: F) -> F:
    """``--tracking-uri URI``: else $AUTOLOG_TRACKING_URI, else the store under ./autolog-runs."""
    return click.option(
        "--tracking-uri",
        metavar="URI",
        help="where runs are kept: sqlite:///relative.db, sqlite:////abs.db, file:///dir, "
        "postgresql://..., http://host:port (default: $AUTOLOG_TRACKING_URI, else ./autolog-runs)",
    )(function)


def format_option(*choices: str, default: str | None = None) -> Callable[[F], F]:
    """``--format``: tables for people (tab-separated when piped), json/csv for scripts."""
    return click.option(
        "--format",
        "output_format",
        type=click.Choice(choices, case_sensitive=False),
        default=default,
        help="output format (default: a table, tab-separated text when piped)",
    )


def open_client(tracking_uri: str | None, *, create: bool = False) -> Client:
    """The client for ``tracking_uri``. Unless ``create``, a local store that does not exist
    is an error (a read in the wrong folder should not leave an empty store behind)."""
    from autolog.client import Client, resolve_tracking_uri
    from autolog.errors import NotFoundError

    uri = resolve_tracking_uri(tracking_uri)
    if not create:
        path = local_store_path(uri)
        if path is not None and not path.exists():
            raise NotFoundError("tracking store", f"{uri} (nothing has been recorded there)")
    return Client(uri)


def local_store_path(uri: str) -> Path | None:
    """The file or folder of a local store (SQLite, files); None for any other store."""
    from pathlib import Path
    from urllib.parse import unquote, urlsplit

    parts = urlsplit(uri)
    scheme = parts.scheme.lower()
    if scheme == "sqlite":
        from autolog.stores.base import sqlite_path

        path = sqlite_path(uri)  # SQLAlchemy's: sqlite:///relative.db, sqlite:////absolute.db
        return None if path == ":memory:" else Path(path)
    if scheme == "file":
        return Path(unquote(parts.path))
    return None


def find_experiment(client: Client, name_or_id: str) -> Experiment:
    """The experiment called ``name_or_id``, else the one with that id (deleted ones too)."""
    from autolog.errors import NotFoundError

    found = client.get_experiment_by_name(name_or_id)
    if found is not None:
        return found
    if name_or_id.isdigit():
        with contextlib.suppress(NotFoundError):
            return client.store.get_experiment(name_or_id)
    raise NotFoundError("experiment", name_or_id)


def parse_tags(values: tuple[str, ...] | list[str]) -> dict[str, str]:
    """``KEY=VALUE`` options as a dict (a usage error names a malformed one)."""
    tags = {}
    for value in values:
        key, sep, text = value.partition("=")
        if not sep or not key.strip():
            raise click.BadParameter(f"expected KEY=VALUE, got {value!r}", param_hint="--tag")
        tags[key.strip()] = text
    return tags


def name_values(
    pairs: Sequence[str], param_hint: str, *, valid: re.Pattern[str] | None = None
) -> dict[str, str]:
    """``NAME=VALUE`` options (``-P``, ``--set``) as a dict; a usage error names a malformed
    one (no ``=``, an empty name, or one ``valid`` does not match) or a name given twice."""
    values: dict[str, str] = {}
    for pair in pairs:
        name, sep, value = pair.partition("=")
        name = name.strip()
        if not sep or not name or (valid is not None and not valid.fullmatch(name)):
            raise click.BadParameter(f"expected NAME=VALUE, got {pair!r}", param_hint=param_hint)
        if name in values:
            raise click.BadParameter(
                f"{name!r} is given twice ({values[name]!r}, {value!r})", param_hint=param_hint
            )
        values[name] = value
    return values


def tag_changes(pairs: tuple[str, ...], deleted: tuple[str, ...]) -> dict[str, str]:
    """The tags a ``tag NAME KEY=VALUE... [--delete KEY]`` command sets (a usage error names
    a malformed pair, or says there is nothing to do)."""
    malformed = [pair for pair in pairs if "=" not in pair]
    if malformed or not (pairs or deleted):
        raise click.UsageError(
            f"tags are KEY=VALUE, not {malformed[0]!r}"
            if malformed
            else "give KEY=VALUE pairs or --delete KEY"
        )
    return dict(pair.partition("=")[::2] for pair in pairs)


def find_run(client: Client, run_id: str) -> Run:
    """The run ``run_id``: its id, a unique start of it (4 characters at least), its name
    where no other run has it, or ``last`` for the newest run."""
    from autolog.errors import InvalidInputError, NotFoundError

    text = run_id.strip()
    if text == "last":
        newest = client.search_runs(max_results=1)  # the newest run that is not deleted
        if not newest:
            raise NotFoundError("run", "last (there are no runs)")
        return newest[0]
    if len(text) == 32:
        with contextlib.suppress(NotFoundError):
            return client.get_run(text)
    matches: list[Run] = []
    if len(text) >= 4 and all(c in "0123456789abcdef" for c in text.lower()):
        matches = client.search_runs(
            filter_string=f"attributes.run_id LIKE '{text.lower()}%'",
            max_results=2,
            lifecycle="all",
        )
    if not matches:  # a run's name, where no other run has it
        quoted = text.replace("'", "''")
        matches = client.search_runs(
            filter_string=f"attributes.run_name = '{quoted}'", max_results=2, lifecycle="all"
        )
    if not matches and len(text) < 4 and all(c in "0123456789abcdef" for c in text.lower()):
        raise InvalidInputError(
            f"no run is named {run_id!r}, and a run id prefix needs 4 characters at least "
            "(see `autolog runs ls` for the ids)"
        )
    if not matches:
        raise NotFoundError("run", run_id)
    if len(matches) > 1:
        raise InvalidInputError(f"{run_id!r} names more than one run; give (more of) the run id")
    return matches[0]
