"""The ``autolog`` command: one click group whose subcommands live in modules of their own.

Each subcommand's module is imported only when that subcommand runs, so ``autolog --help``
and ``autolog runs ls`` never import a web server or a framework. A module registers its
command by adding one line to ``COMMANDS``; it defines the click command as ``command``.

Example::

    $ autolog --help
    $ python -m autolog --version
"""

from __future__ import annotations

import sys
from collections.abc import Sequence

__all__ = ["COMMANDS", "main"]

#: subcommand -> (module that defines it as ``command``, the one line ``autolog --help`` shows)
COMMANDS: dict[str, tuple[str, str]] = {
    "rerun": ("autolog.cli.rerun", "Run a recorded run again and say whether it reproduced."),
    "run": ("autolog.cli.run", "Run a Python script or module, recorded as one run."),
    "runs": ("autolog.cli.runs", "List, show, compare, delete and restore runs."),
    "experiments": (
        "autolog.cli.experiments",
        "List, create, rename, delete and restore experiments.",
    ),
    "artifacts": ("autolog.cli.artifacts", "List, download and upload the files of a run."),
    "doctor": (
        "autolog.cli.doctor",
        "Show versions, the store and server a run would use, and whether they answer.",
    ),
    "export": ("autolog.cli.export", "Export runs to CSV, Parquet or JSON lines."),
    "gc": ("autolog.cli.gc", "Remove deleted runs and their artifacts for good."),
    "import-mlflow": ("autolog.cli.import_mlflow", "Import an MLflow tracking store."),
    "models": ("autolog.cli.models", "List, show and register models; set their aliases."),
    "server": ("autolog.cli.server", "Run the tracking server; manage its access tokens."),
    "sync": ("autolog.cli.sync", "Send what was logged while the tracking server was away."),
    "ui": ("autolog.cli.ui", "Show this machine's runs in the web UI, in your browser."),
}


def main(args: Sequence[str] | None = None) -> None:
    """The console script: run the ``autolog`` command line (exits the process)."""
    try:
        from autolog.cli._group import root
    except ImportError as exc:  # the command line is an extra: the core needs no click
        missing = getattr(exc, "name", None) or str(exc)
        sys.stderr.write(
            f"autolog: the command line needs {missing!r}: pip install 'autolog[cli]'\n"
        )
        raise SystemExit(1) from None  # 2 is for usage errors: this one is the install's
    root.main(args=list(args) if args is not None else None, prog_name="autolog")
