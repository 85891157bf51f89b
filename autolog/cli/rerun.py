"""``autolog rerun``: run a recorded run again from what it recorded, and say whether it
reproduced.

The run's code is rebuilt in a fresh checkout (``autolog.projects.workspace``), its
environment from its lock or the current interpreter (``autolog.projects.envs``); its
command runs there as ``autolog run`` runs one (``record_command``), recorded as a new run of
the same experiment tagged ``autolog.rerun_of``; then the two runs are compared
(``autolog.projects.compare``). Progress lines go to stderr; the verdict to stdout:
"reproduced" (exit 0), else the table of what differs (exit 3).
"""

from __future__ import annotations

import json
import math
import re
import shlex
import sys
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import click
from click.core import ParameterSource

from autolog.cli._common import find_run, name_values, open_client, tracking_uri_option
from autolog.cli.run import (
    TAG_COMMAND,
    TAG_ENTRY_POINT,
    record_command,
)
from autolog.projects.entry_points import TAG_NAME, TAG_PARAMETERS

if TYPE_CHECKING:
    from autolog.client import Client
    from autolog.entities import Run
    from autolog.projects.compare import Comparison
    from autolog.projects.envs import PythonEnv
    from autolog.projects.workspace import CodeRecord, Workspace

__all__ = ["EXIT_DIFFERS", "TAG_RERUN_OF", "apply_settings", "command", "parse_settings"]

TAG_RERUN_OF = "autolog.rerun_of"
EXIT_DIFFERS = 3
_SETTING_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]*")
_NUMBER = re.compile(r"-\d|-\.\d|-inf|-nan", re.IGNORECASE)  # a value, not an option


@click.command(
    epilog="""Examples:

\b
  autolog rerun 3fa2
  autolog rerun last --set lr=0.05 --set epochs=3
  autolog rerun 3fa2 --env current --workdir ./rebuilt --rtol 1e-6"""
)
@click.argument("run_id", metavar="RUN")
@click.option(
    "--set",
    "settings",
    multiple=True,
    metavar="NAME=VALUE",
    help="override the script's option --NAME (or the entry point's parameter NAME)",
)
@click.option(
    "--env",
    "env_mode",
    type=click.Choice(["recorded", "current"]),
    default="recorded",
    show_default=True,
    help="recorded: a virtual environment built from the run's lock (cached); "
    "current: this interpreter",
)
@click.option(
    "--workdir",
    type=click.Path(path_type=Path),
    metavar="DIR",
    help="rebuild the code in DIR (absent or empty) and keep it (default: a temporary folder)",
)
@click.option(
    "--rtol",
    type=float,
    default=1e-9,
    show_default=True,
    metavar="R",
    help="relative tolerance for metrics and predictions",
)
@tracking_uri_option
@click.pass_context
def command(
    ctx: click.Context,
    run_id: str,
    settings: tuple[str, ...],
    env_mode: str,
    workdir: Path | None,
    rtol: float,
    tracking_uri: str | None,
) -> None:
    """Run RUN again from what it recorded (code, environment, command) and say whether it
    reproduced.

    The code is rebuilt in a fresh checkout of the run's commit with its uncommitted changes
    and untracked files (your repository is not touched); the environment is built from the
    run's lock (cached: a second rerun starts at once), or --env current uses this Python.
    The recorded command runs from the recorded folder as a new run of the same experiment
    (tagged autolog.rerun_of). Then params, final metrics (timings aside), the model's
    predictions on its input example and the recorded inputs are compared: "reproduced"
    (exit 0), else a table of what differs (exit 3).
    """
    overrides = parse_settings(settings)
    if not math.isfinite(rtol) or rtol < 0:
        raise click.BadParameter(f"{rtol!r} is not a tolerance >= 0", param_hint="--rtol")
    keep = _checked_workdir(workdir)
    client = open_client(tracking_uri)
    original = find_run(client, run_id)
    plan = _prepare(client, original, env_mode)
    _say(f"rerun of run {original.info.run_id} ({original.info.run_name})")
    _say_inputs(original)
    status = _rerun(ctx, client, original, plan, overrides, keep, rtol)
    ctx.exit(status)


@dataclass(frozen=True)
class _Plan:
    """What the run recorded that a rerun needs: its code and, maybe, its lock."""

    record: CodeRecord
    lock_text: str | None
    env_mode: str


@dataclass(frozen=True)
class _Command:
    """What runs: a script or module, its arguments, where, with which params and tags."""

    kind: str
    target: str
    args: list[str]
    cwd: Path
    params: Mapping[str, object] = field(default_factory=dict)
    tags: Mapping[str, str] = field(default_factory=dict)


def parse_settings(settings: Sequence[str]) -> dict[str, str]:
    """``--set NAME=VALUE`` options as a dict (a usage error names a malformed or repeated
    one)."""
    return name_values(settings, "--set", valid=_SETTING_NAME)


def apply_settings(argv: Sequence[str], settings: Mapping[str, str]) -> list[str]:
    """``argv`` (what follows ``python``: a script or ``-m MODULE``, then its arguments) with
    each setting's option ``--NAME`` given VALUE: in place where it is (``--NAME VALUE`` or
    ``--NAME=VALUE``; dashes and underscores alike), else appended as ``--NAME VALUE``.

    Raises:
        click.BadParameter: the command gives ``--NAME`` as a flag (no value to replace).
    """
    head = 2 if argv[:1] == ["-m"] else 1
    out, rest = list(argv[:head]), list(argv[head:])
    for name, value in settings.items():
        rest = _set_option(rest, name, value)
    return out + rest


def _set_option(args: list[str], name: str, value: str) -> list[str]:
    wanted = _option_key(name)
    out: list[str] = []
    found = False
    i = 0
    while i < len(args):
        arg = args[i]
        if arg == "--":  # what follows is not the script's options
            out += args[i:]
            break
        option, sep, _ = arg.partition("=")
        if option.startswith("--") and _option_key(option) == wanted:
            found = True
            if sep:
                out.append(f"{option}={value}")
            elif i + 1 < len(args) and _is_value(args[i + 1]):
                out += [arg, value]
                i += 1
            else:
                raise click.BadParameter(
                    f"the recorded command gives {option} as a flag, with no value to set",
                    param_hint="--set",
                )
        else:
            out.append(arg)
        i += 1
    if not found:
        cut = out.index("--") if "--" in out else len(out)
        out[cut:cut] = [f"--{name}", value]
    return out


def _option_key(option: str) -> str:
    return option.lstrip("-").replace("_", "-")


def _is_value(arg: str) -> bool:
    return not arg.startswith("-") or arg == "-" or bool(_NUMBER.match(arg))


def _checked_workdir(workdir: Path | None) -> Path | None:
    if workdir is None:
        return None
    from autolog.errors import InvalidInputError
    from autolog.projects.workspace import check_workdir

    try:
        return check_workdir(workdir)
    except InvalidInputError as exc:
        raise click.BadParameter(str(exc), param_hint="--workdir") from None


def _prepare(client: Client, original: Run, env_mode: str) -> _Plan:
    """The run's code record and lock, read before anything is built."""
    from autolog.errors import RerunError
    from autolog.projects.environment import LOCK_ARTIFACT
    from autolog.projects.workspace import load_code_record

    run_id = original.info.run_id
    record = load_code_record(client, run_id)
    lock_text = _lock_text(client, run_id)
    if lock_text is None and env_mode == "recorded":
        raise RerunError(
            f"run {run_id} recorded no environment ({LOCK_ARTIFACT}); rerun it with --env current"
        )
    return _Plan(record, lock_text, env_mode)


def _lock_text(client: Client, run_id: str) -> str | None:
    """The run's lock, checked against its recorded SHA-256 (``pip install`` runs it); None
    when the run recorded none."""
    from autolog.errors import RerunError
    from autolog.projects.environment import LOCK_ARTIFACT
    from autolog.projects.workspace import verified_artifact

    if LOCK_ARTIFACT not in {i.path for i in client.list_artifacts(run_id, "environment")}:
        return None
    try:
        return verified_artifact(client, run_id, LOCK_ARTIFACT).decode("utf-8")
    except UnicodeDecodeError as exc:
        raise RerunError(f"run {run_id}: {LOCK_ARTIFACT} cannot be read: {exc}") from exc


def _say(text: str) -> None:
    click.echo(f"autolog rerun: {text}", err=True)


def _say_inputs(original: Run) -> None:
    """Whether the run's recorded inputs are still there, unchanged (said before running:
    a changed data file explains a changed result)."""
    from autolog.projects.compare import check_inputs

    for check in check_inputs(original.data.tags):
        if check.state == "same":
            _say(f"input {check.name}: {check.path} is as recorded")
        elif check.state == "missing":
            _say(f"input {check.name}: {check.path} is missing")
        else:
            _say(
                f"input {check.name}: {check.path} differs from the recorded one "
                f"(sha256 {check.recorded_sha256[:12]}, now {(check.current_sha256 or '')[:12]})"
            )


def _rerun(
    ctx: click.Context,
    client: Client,
    original: Run,
    plan: _Plan,
    overrides: Mapping[str, str],
    keep: Path | None,
    rtol: float,
) -> int:
    from autolog.client import Client
    from autolog.errors import RerunError
    from autolog.projects.workspace import rebuilt

    started = time.monotonic()
    with rebuilt(client, original.info.run_id, plan.record, keep=keep) as ws:
        _say_workspace(ws, time.monotonic() - started)
        env = _environment(plan)
        launch = _command(ws, original, overrides)
        experiment = client.store.get_experiment(original.info.experiment_id).name
        uri = client.tracking_uri
        # record_command blocks the signals it forwards in this thread: the store's threads
        # of this client (started before) must not be there to take them
        client.close()
        new_id = _launch(launch, env, experiment, uri, original.info.run_id, ctx)
        if not new_id:
            raise RerunError("the rerun ran, but the tracking store did not record it")
        with Client(uri) as reader, _importable(ws, launch):
            comparison = _compare(reader, original, new_id, overrides, rtol)
    return _verdict(comparison, new_id)


def _say_workspace(ws: Workspace, seconds: float) -> None:
    record = ws.record
    done = [f"commit {record.commit[:12]} from {ws.source}" if record.commit else ws.source]
    if record.diff_bytes:
        done.append("uncommitted changes applied")
    if record.untracked:
        count = len(record.untracked)
        done.append(f"{count} untracked file{'s' if count != 1 else ''} copied")
    _say(f"code: {', '.join(done)}, in {ws.root} ({seconds:.1f} s)")


def _environment(plan: _Plan) -> PythonEnv:
    from autolog.projects import envs

    if plan.env_mode == "current":
        lock = None
        if plan.lock_text is not None:
            from autolog.projects.environment import parse_lock

            lock = parse_lock(plan.lock_text)
        env = envs.current_env(lock)
        _say(f"environment: the current interpreter ({env.python})")
        return env
    assert plan.lock_text is not None
    started = time.monotonic()
    uv = envs.find_uv()
    if not envs.recorded_env_cached(plan.lock_text):
        _say(f"environment: building it from the run's lock with {'uv' if uv else 'pip'} ...")
    env = envs.recorded_env(plan.lock_text, uv=uv)
    for note in env.notes:
        _say(f"environment: {note}")
    if env.built:
        _say(f"environment: built with {env.installer} in {env.seconds:.1f} s ({env.path})")
    else:
        _say(f"environment: reused ({env.path}) in {time.monotonic() - started:.1f} s")
    return env


def _command(ws: Workspace, original: Run, overrides: Mapping[str, str]) -> _Command:
    """What to run: the recorded entry point rendered again from the rebuilt code with the
    overridden parameters, else the recorded command line with the overridden options."""
    from autolog.errors import RerunError

    tags = original.data.tags
    name = tags.get(TAG_NAME)
    if name:
        return _entry_point_command(ws, name, tags.get(TAG_PARAMETERS), overrides)
    argv = apply_settings(ws.record.argv, overrides)
    if argv[0] == "-m" and len(argv) > 1:
        return _Command("module", argv[1], argv[2:], ws.workdir)
    if argv[0].startswith("-"):
        raise RerunError(f"the recorded command `python {shlex.join(argv)}` cannot be re-run")
    return _Command("script", argv[0], argv[1:], ws.workdir)


def _entry_point_command(
    ws: Workspace, name: str, recorded: str | None, overrides: Mapping[str, str]
) -> _Command:
    from autolog.errors import InvalidInputError, RerunError
    from autolog.projects.entry_points import find_entry_points

    entry_point = find_entry_points(ws.workdir).get(name)
    if entry_point is not None and not entry_point.source.is_relative_to(ws.root.resolve()):
        entry_point = None  # a pyproject.toml above the rebuilt code is not the project's
    if entry_point is None:
        raise RerunError(f"the rebuilt code has no entry point {name!r} in its pyproject.toml")
    try:
        values = {str(k): str(v) for k, v in json.loads(recorded or "{}").items()}
    except (ValueError, AttributeError) as exc:
        raise RerunError(f"the run's entry point parameters cannot be read: {exc}") from exc
    values = {k: v for k, v in values.items() if k in entry_point.parameters}
    values.update(overrides)
    try:
        run = entry_point.invocation(values)
    except InvalidInputError as exc:
        raise click.BadParameter(str(exc), param_hint="--set") from None
    return _Command(run.kind, run.target, run.args, entry_point.folder, run.params, run.tags)


def _launch(
    launch: _Command,
    env: PythonEnv,
    experiment: str,
    tracking_uri: str,
    original_id: str,
    ctx: click.Context,
) -> str:
    """Run the command recorded as a new run; its id ("" when it was not recorded)."""
    shown = launch.target if launch.kind == "script" else f"-m {launch.target}"
    _say(f"running python {shlex.join([shown, *launch.args])} in {launch.cwd}")
    _, new_id = record_command(
        launch.kind,
        launch.target,
        launch.args,
        experiment=experiment,
        run_name=None,
        tags={
            TAG_COMMAND: shlex.join(["autolog", "rerun", *_typed_args(ctx)]),
            TAG_ENTRY_POINT: shown,
            TAG_RERUN_OF: original_id,
            **launch.tags,
        },
        tracking_uri=tracking_uri,
        params=launch.params,
        python=env.python,
        cwd=str(launch.cwd),
        env=env.child_environment(),
    )
    return new_id


def _typed_args(ctx: click.Context) -> list[str]:
    """This command's own arguments, as they were given (for ``autolog.command``)."""
    params = ctx.params
    args = [str(params["run_id"])]
    for setting in params["settings"]:
        args += ["--set", setting]
    source = ctx.get_parameter_source
    for name, option in (("env_mode", "--env"), ("workdir", "--workdir"), ("rtol", "--rtol")):
        given = source(name)
        if params[name] is not None and given is not ParameterSource.DEFAULT:
            args += [option, str(params[name])]
    return args


@contextmanager
def _importable(ws: Workspace, launch: _Command) -> Iterator[None]:
    """The rebuilt code importable while models are loaded: a model pickled by reference to
    a class in the project's modules (a helper module) loads as it does for the project."""
    folders = [str(launch.cwd)]
    if launch.kind == "script":
        folders.insert(0, str((launch.cwd / launch.target).resolve().parent))
    added = [f for f in dict.fromkeys(folders) if f not in sys.path]
    sys.path[:0] = added
    try:
        yield
    finally:
        for folder in added:
            if folder in sys.path:
                sys.path.remove(folder)


def _compare(
    client: Client, original: Run, new_id: str, overrides: Mapping[str, str], rtol: float
) -> Comparison:
    from autolog.projects.compare import compare_runs

    rerun = client.get_run(new_id)
    return compare_runs(client, original, rerun, rtol=rtol, overridden=overrides.keys())


def _verdict(comparison: Comparison, new_id: str) -> int:
    """Print "reproduced" or the table of differences; the exit status."""
    from autolog.cli._output import emit

    skipped = [what for what, why in comparison.not_compared if why == "time or resources"]
    if skipped:
        _say(f"not compared (time or resources): {', '.join(w.split(' ', 1)[1] for w in skipped)}")
    for what, why in comparison.not_compared:
        if why != "time or resources":
            _say(f"{what} not compared: {why}")
    _say(f"new run {new_id}; compared {comparison.summary()}")
    if comparison.reproduced:
        expected = [d.key for d in comparison.differences]
        click.echo("reproduced" + (f" (set by --set: {', '.join(expected)})" if expected else ""))
        return 0
    rows = [
        {
            "what": d.section,
            "key": d.key,
            "original": d.original,
            "rerun": d.rerun,
            "note": d.note,
        }
        for d in comparison.differences
    ]
    emit(rows, ["what", "key", "original", "rerun", "note"], None, title="differs")
    return EXIT_DIFFERS
