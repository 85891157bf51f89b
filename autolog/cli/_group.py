"""The root click group: ``--version``, ``--help``, and subcommands loaded on demand."""

from __future__ import annotations

import importlib

import click

from autolog.cli import COMMANDS

__all__ = ["root"]

# a module the command line may need -> the extra that installs it
_EXTRA_OF = {
    "click": "cli",
    "rich": "cli",
    "httpx": "client",
    "fastapi": "server",
    "starlette": "server",
    "uvicorn": "server",
    "pydantic": "server",
    "psycopg": "postgres",
    "boto3": "s3",
    "botocore": "s3",
    "pandas": "models",
    "pyarrow": "models",
}


def _missing_extra(exc: ImportError) -> str | None:
    """The line that says which extra installs the module ``exc`` could not import; None
    where that module is not one of an extra's (a bug, or the user's own import)."""
    name = (getattr(exc, "name", None) or "").partition(".")[0]
    extra = _EXTRA_OF.get(name)
    if extra is None:
        return None
    return f"this needs {name}, which is not installed: pip install 'autolog[{extra}]'"


class _LazyGroup(click.Group):
    """A group that imports a subcommand's module only when that subcommand is asked for."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*COMMANDS, *self.commands})

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name in self.commands:
            return self.commands[cmd_name]
        entry = COMMANDS.get(cmd_name)
        if entry is None:
            return None
        command = importlib.import_module(entry[0]).command
        if not isinstance(command, click.Command):
            raise TypeError(f"{entry[0]}.command is not a click command: {command!r}")
        return command

    def invoke(self, ctx: click.Context) -> object:
        from autolog.errors import AutologError

        try:
            return super().invoke(ctx)
        except AutologError as exc:
            # A user's mistake or a store's failure: one line naming it, status 1, no traceback.
            raise click.ClickException(str(exc)) from None
        except ImportError as exc:
            extra = _missing_extra(exc)
            if extra is None:
                raise
            raise click.ClickException(extra) from None

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        # The one-line helps come from COMMANDS: listing them imports no subcommand module.
        rows = [(name, COMMANDS[name][1]) for name in sorted(COMMANDS)]
        rows += [
            (name, command.get_short_help_str())
            for name, command in sorted(self.commands.items())
            if name not in COMMANDS
        ]
        if rows:
            with formatter.section("Commands"):
                formatter.write_dl(rows)


def _version() -> str:
    from autolog import __version__

    return __version__


@click.group(
    cls=_LazyGroup,
    context_settings={"help_option_names": ["-h", "--help"]},
    epilog="""Examples:

\b
  autolog run train.py --epochs 3
  autolog runs ls --filter "metrics.acc > 0.9" --columns params.lr,metrics.acc
  autolog runs compare 3fa2 91bc
  autolog <command> --help""",
)
@click.version_option(_version(), "-V", "--version", prog_name="autolog")
def root() -> None:
    """Record machine-learning training, and see, share and drive the runs it keeps."""
