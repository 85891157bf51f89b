"""``autolog artifacts``: list a run's files and download them."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from autolog.cli._common import find_run, format_option, open_client, tracking_uri_option
from autolog.cli._output import FORMATS, emit

if TYPE_CHECKING:
    from autolog.client import Client
    from autolog.entities import FileInfo

__all__ = ["command"]

# Below this many bytes a download is quick: no progress bar.
_PROGRESS_MIN_BYTES = 8 * 1024 * 1024


@click.group(
    epilog="""Examples:

\b
  autolog artifacts ls 3fa2
  autolog artifacts get 3fa2 model -o ./downloads
  autolog artifacts log 3fa2 report.html --artifact-path reports"""
)
def command() -> None:
    """List, download and upload the files of a run."""


@command.command(
    "ls",
    epilog="""Examples:

\b
  autolog artifacts ls 3fa2
  autolog artifacts ls 3fa2 model --recursive""",
)
@click.argument("run_id", metavar="RUN")
@click.argument("path", default="", required=False)
@click.option("--recursive", "-r", is_flag=True, help="list the files of every folder below")
@format_option(*FORMATS)
@tracking_uri_option
def ls(
    run_id: str, path: str, recursive: bool, output_format: str | None, tracking_uri: str | None
) -> None:
    """List the artifacts of RUN at PATH (its root by default).

    RUN is a run id, a unique start of one, a unique run name, or "last".
    """
    client = open_client(tracking_uri)
    run = find_run(client, run_id)
    entries = _walk(client, run.info.run_id, path) if recursive else _list(client, run, path)
    rows = [
        {"path": e.path, "type": "dir" if e.is_dir else "file", "size": e.file_size}
        for e in entries
    ]
    emit(rows, ["path", "type", "size"], output_format)


def _list(client: Client, run: Any, path: str) -> list[FileInfo]:
    from autolog.errors import NotFoundError

    entries = client.list_artifacts(run.info.run_id, path or None)
    if not entries and path:
        # The path may be a file: list it, or say that nothing is there.
        parent = path.rstrip("/").rpartition("/")[0]
        same = [e for e in client.list_artifacts(run.info.run_id, parent or None) if e.path == path]
        if not same:
            raise NotFoundError("artifact", f"{path} (in run {run.info.run_id})")
        return same
    return entries


def _walk(client: Client, run_id: str, path: str) -> list[FileInfo]:
    files = []
    for entry in client.list_artifacts(run_id, path or None):
        if entry.is_dir:
            files.extend(_walk(client, run_id, entry.path))
        else:
            files.append(entry)
    return files


@command.command(
    "get",
    epilog="""Examples:

\b
  autolog artifacts get 3fa2                  # every file, into ./artifacts
  autolog artifacts get 3fa2 model -o /tmp    # the folder model, into /tmp/model
  autolog artifacts get last logs/output.txt""",
)
@click.argument("run_id", metavar="RUN")
@click.argument("path", default="", required=False)
@click.option(
    "--output",
    "-o",
    "output",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path("."),
    show_default=True,
    help="folder to download into",
)
@tracking_uri_option
def get(run_id: str, path: str, output: Path, tracking_uri: str | None) -> None:
    """Download the artifact PATH of RUN (a file or a folder; all of them by default) into a
    folder, and print where it went. Large transfers show a progress bar on a terminal."""
    from autolog.errors import NotFoundError
    from autolog.validation import check_artifact_path

    client = open_client(tracking_uri)
    run = find_run(client, run_id)
    run_id = run.info.run_id
    path = check_artifact_path(path)
    entries = client.list_artifacts(run_id, path or None)
    if not entries:
        # a file, or nothing: a file downloads in one piece
        target = client.download_artifacts(run_id, path, output)
        click.echo(target)
        return
    files = _walk(client, run_id, path)
    if not files:
        raise NotFoundError("artifact", f"{path or '/'} (in run {run_id}: no files)")
    root = output / (path.rsplit("/", 1)[-1] if path else "artifacts")
    total = sum(f.file_size or 0 for f in files)
    with _progress(total) as advance:
        for entry in files:
            relative = entry.path[len(path) + 1 :] if path else entry.path
            folder = (root / relative).parent
            client.download_artifacts(run_id, entry.path, folder)
            advance(entry.file_size or 0)
    click.echo(root)


class _progress:
    """A byte-counting progress bar on stderr, for transfers large enough to wait for."""

    def __init__(self, total: int) -> None:
        self.total = total
        self._bar: Any = None

    def __enter__(self) -> Any:
        if self.total < _PROGRESS_MIN_BYTES or not sys.stderr.isatty():
            return lambda n: None
        from rich.console import Console
        from rich.progress import (
            BarColumn,
            DownloadColumn,
            Progress,
            TimeRemainingColumn,
            TransferSpeedColumn,
        )

        self._bar = Progress(
            "[progress.description]{task.description}",
            BarColumn(),
            DownloadColumn(),
            TransferSpeedColumn(),
            TimeRemainingColumn(),
            console=Console(stderr=True),
            transient=True,
        )
        self._bar.__enter__()
        task = self._bar.add_task("downloading", total=self.total)
        return lambda n: self._bar.advance(task, n)

    def __exit__(self, *exc: object) -> None:
        if self._bar is not None:
            self._bar.__exit__(*exc)


@command.command(
    "log",
    epilog="""Examples:

\b
  autolog artifacts log 3fa2 confusion.png            # the artifact confusion.png
  autolog artifacts log last ./plots --artifact-path figures   # figures/plots/...
  autolog artifacts log 3fa2 ./eval --artifact-path .          # eval's files at the root""",
)
@click.argument("run_id", metavar="RUN")
@click.argument("path", type=click.Path(exists=True, path_type=Path))
@click.option(
    "--artifact-path",
    metavar="DIR",
    help="folder of the run's artifacts to put it in (default: the root); a folder PATH "
    "keeps its own name below it unless DIR is '.'",
)
@click.option(
    "--timeout",
    type=click.FloatRange(min=0, min_open=True),
    default=600.0,
    show_default=True,
    help="seconds to wait for the upload",
)
@tracking_uri_option
def log(
    run_id: str,
    path: Path,
    artifact_path: str | None,
    timeout: float,
    tracking_uri: str | None,
) -> None:
    """Upload the file or folder PATH to the artifacts of RUN (a folder with every file
    below it), and print what was stored. It waits until the store holds every file.

    RUN is a run id, a unique start of one, a unique run name, or "last"; it must still be
    RUNNING (a run that has ended takes no more files).
    """
    from autolog.errors import StoreUnavailableError

    client = open_client(tracking_uri)
    run = find_run(client, run_id)
    run_id = run.info.run_id
    destination = _destination(path, artifact_path)
    if path.is_dir():
        logged = client.log_artifacts(run_id, path, destination)
    else:
        logged = [client.log_artifact(run_id, path, destination)]
    if not client.flush(timeout):
        raise StoreUnavailableError(
            f"the upload to run {run_id} did not finish in {timeout:g} s (the store is slow "
            "or away); what was not stored is retried by `autolog sync`, where the store is "
            "a server"
        )
    size = sum(f.stat().st_size for f in _files(path))
    click.echo(
        f"logged {len(logged)} file{'s' if len(logged) != 1 else ''} ({size} bytes) "
        f"to run {run_id} at {_shown(destination)}"
    )


def _destination(path: Path, artifact_path: str | None) -> str | None:
    """Where PATH goes among the run's artifacts: a folder keeps its name, as ``cp -r``."""
    from autolog.validation import check_artifact_path

    base = None if artifact_path in (None, ".") else check_artifact_path(artifact_path) or None
    if not path.is_dir() or artifact_path == ".":
        return base
    name = path.resolve().name
    return f"{base}/{name}" if base else name


def _files(path: Path) -> list[Path]:
    return [path] if not path.is_dir() else [p for p in path.rglob("*") if p.is_file()]


def _shown(destination: str | None) -> str:
    return f"{destination}/" if destination else "its root"
