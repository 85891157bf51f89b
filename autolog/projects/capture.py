"""Record what a run needs to be run again: its code and its environment.

Called by the child of ``autolog run`` right after it attaches the run (before the script
starts, so the code is the code it runs) and by ``Client.create_run`` for every top-level
run when ``autolog.autolog(log_code=True)`` is on. Our failure never stops the user's
program: it becomes one ``AutologWarning`` (raised under ``AUTOLOG_STRICT=1``, as the test
suite runs).
"""

from __future__ import annotations

import shlex
import sys
from collections.abc import Sequence
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING

from autolog.errors import issue_warning, strict

if TYPE_CHECKING:
    from autolog.projects.recording import RecordingClient

__all__ = [
    "TAG_COMMAND",
    "command_line",
    "logging_code",
    "process_argv",
    "record_run_context",
    "set_logging_code",
    "store_paths",
]

TAG_COMMAND = "autolog.command"
# ``autolog.autolog(log_code=...)``: whether every top-level run records its code; a plain
# bool read by every run's creation (a ContextVar would hide it from other threads' runs)
_log_code = False


def set_logging_code(on: bool) -> None:
    """Record the code and environment of every top-level run this process starts from now
    on (``autolog.autolog(log_code=True)``), or stop doing so."""
    global _log_code
    _log_code = on


def logging_code() -> bool:
    """Whether ``autolog.autolog(log_code=True)`` is on."""
    return _log_code


def record_run_context(
    client: RecordingClient, run_id: str, argv: Sequence[str], *, later: bool = False
) -> None:
    """Record the run's code (when the working folder is in a git work tree) and
    environment. Never raises into the user's program: one warning for each of the two
    that could not be recorded instead.

    The code is captured on this thread, now (tens of milliseconds: the bytes are those
    the script starts with), and written on the writer's file thread; the environment lock
    is found and written there. ``later``: capture the code on the file thread too (a run
    started while the program runs: the caller waits for nothing).
    """
    from autolog.projects.code import capture_code, record_code
    from autolog.projects.environment import record_environment

    folder = Path.cwd()
    arguments = tuple(argv)
    try:
        store = store_paths(client.tracking_uri)
        if later:
            produce = partial(_code_record, folder, arguments, run_id, store)
            client.record_later(run_id, produce, what="the run's code")
        else:
            snapshot = capture_code(folder, arguments, exclude=store)
            if snapshot is not None:
                record_code(client, run_id, snapshot)
    except Exception as exc:
        _warn(exc, "code", run_id)
    try:
        record_environment(client, run_id)
    except Exception as exc:
        _warn(exc, "environment", run_id)


def store_paths(tracking_uri: str) -> list[Path]:
    """The files and folders of a local tracking store (an SQLite database and its journals,
    a file store's folder) and the default artifact folder: never code, though a project may
    keep them in its work tree (``sqlite:///runs.db``)."""
    from urllib.parse import urlsplit

    from autolog.stores.common import default_artifact_root, local_path
    from autolog.stores.uris import sqlite_path

    paths = []
    scheme = urlsplit(tracking_uri).scheme.lower()
    if scheme == "sqlite":
        database = sqlite_path(tracking_uri)
        if database != ":memory:":
            paths += [Path(database + suffix) for suffix in ("", "-wal", "-shm", "-journal")]
    elif scheme in ("file", ""):
        paths.append(local_path(tracking_uri))
    else:
        return paths  # a server or a database elsewhere: it keeps its artifacts itself
    artifacts = default_artifact_root()
    if urlsplit(artifacts).scheme == "file":
        paths.append(local_path(artifacts))
    return paths


def _code_record(
    folder: Path, argv: tuple[str, ...], run_id: str, exclude: Sequence[Path]
) -> tuple[dict[str, str], dict[str, bytes]]:
    """On the writer's file thread: the code's tags and files (none outside a git tree)."""
    from autolog.projects.code import capture_code, code_files, code_tags

    try:
        snapshot = capture_code(folder, argv, exclude=exclude)
    except Exception as exc:
        _warn(exc, "code", run_id)
        return {}, {}
    if snapshot is None:
        return {}, {}
    return code_tags(snapshot), code_files(snapshot)


def process_argv() -> list[str]:
    """What follows ``python`` to run this process again, as typed: the script and its
    arguments, or ``-m MODULE`` and its arguments; ``[]`` for a notebook or an interactive
    session (``python -c``, a shell), which no command runs again."""
    from autolog.context import source

    kind, name = source()
    argv = list(getattr(sys, "argv", None) or [""])  # an embedded interpreter may have none
    if kind == "MODULE":
        return ["-m", name, *argv[1:]]
    if kind == "SCRIPT" and argv[0]:
        return argv
    return []


def command_line(argv: Sequence[str]) -> str:
    """``python ARGV``, shell-quoted: what ``autolog.command`` says for a plain run."""
    return shlex.join(["python", *argv])


def _warn(exc: Exception, what: str, run_id: str) -> None:
    """One warning for our failure (re-raised under ``AUTOLOG_STRICT``, as the tests run)."""
    if strict():
        raise exc
    issue_warning(f"autolog: the {what} of run {run_id} was not recorded: {exc!r}")
