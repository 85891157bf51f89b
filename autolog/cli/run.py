"""``autolog run``: run a Python script or module, recorded, with no change to its code.

The command creates one run and owns it; the script runs in a child interpreter exactly as
``python`` would run it (see ``_launch``), with ``autolog()`` on and the run attached, so its
first training call logs into the run and later ones become child runs. This process copies
the child's output live to the terminal and to ``logs/output.txt``, forwards the signals sent
to it, and at the end records the exit code, wall time, CPU time and peak memory and ends the
run FINISHED (exit 0), FAILED (an exception or another exit code) or KILLED (a signal). Its
last two lines (stderr) name the run and where to see it.

``-e NAME`` runs a named entry point of the project's ``pyproject.toml`` instead (see
``autolog.projects.entry_points``), its typed parameters the run's params; ``--system-metrics``
samples the child's process tree from this process. ``record_command`` is all of this for
other commands (``autolog rerun``).
"""

from __future__ import annotations

import os
import shlex
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import click
from click.core import ParameterSource

from autolog.cli._common import name_values, parse_tags, tracking_uri_option
from autolog.errors import InvalidInputError

__all__ = [
    "TAG_COMMAND",
    "TAG_ENTRY_POINT",
    "TAG_EXIT_CODE",
    "TAG_SIGNAL",
    "command",
    "record_command",
]

TAG_COMMAND = "autolog.command"
TAG_ENTRY_POINT = "autolog.entry_point"
TAG_EXIT_CODE = "autolog.exit_code"
TAG_SIGNAL = "autolog.signal"
METRIC_WALL_TIME = "autolog.wall_time_s"
METRIC_CPU_TIME = "autolog.cpu_time_s"
METRIC_PEAK_MEMORY = "autolog.peak_memory_mb"
OUTPUT_ARTIFACT = "logs/output.txt"

# How long output may still arrive after the script's process exits (from processes it forked
# that are still writing) before the run is ended without it.
_OUTPUT_GRACE_S = 2.0
# Signals sent to this process that the script should get. SIGINT and SIGQUIT typed at the
# terminal reach the script directly (it is in our process group): those are not sent twice.
_FORWARDED = ("SIGINT", "SIGTERM", "SIGHUP", "SIGQUIT", "SIGUSR1", "SIGUSR2")
_SI_KERNEL = 0x80  # siginfo si_code of a signal the kernel raised (a terminal key)
# How long the store may take to hold the new run (before the script starts) and the end.
_STORE_WAIT_S = 30.0


class _RunCommand(click.Command):
    """Options stop at the script, as for ``python``: what follows it belongs to the script.
    ``-m MODULE`` ends autolog's options the same way, wherever it comes."""

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        ctx.meta["autolog.run.argv"] = list(args)
        takes_value = {
            name
            for param in self.params
            if isinstance(param, click.Option) and not param.is_flag
            for name in param.opts
        }
        i = 0
        while i < len(args):
            arg = args[i]
            if arg == "--":
                break
            if arg in ("-m", "--module") or (arg.startswith("-m") and len(arg) > 2):
                module = args[i + 1] if arg in ("-m", "--module") and i + 1 < len(args) else None
                if arg.startswith("-m") and arg not in ("-m", "--module"):
                    module, rest = arg[2:], args[i + 1 :]
                elif module is None:
                    raise click.UsageError("-m needs a module name", ctx)
                else:
                    rest = args[i + 2 :]
                args = [*args[:i], "--module", module, "--", *rest]
                break
            if not arg.startswith("-") or arg == "-":
                break  # the script: the rest is its own
            if arg in takes_value:
                i += 1
            i += 1
        return super().parse_args(ctx, args)


@click.command(
    cls=_RunCommand,
    context_settings={"ignore_unknown_options": True, "allow_interspersed_args": False},
    epilog="""Examples:

\b
  autolog run train.py --epochs 3
  autolog run --experiment mnist --tag team=vision -m trainer.main --lr 0.01
  autolog run -x mnist -e train -P lr=0.1 --system-metrics
  autolog runs show last""",
)
@click.option("--experiment", "-x", metavar="NAME", help="experiment of the run (default: Default)")
@click.option("--run-name", "-n", metavar="NAME", help="name of the run (default: generated)")
@click.option("--tag", "-t", "tags", multiple=True, metavar="KEY=VALUE", help="tag the run")
@click.option(
    "--entry-point",
    "-e",
    metavar="NAME",
    help="run the entry point NAME of the nearest pyproject.toml "
    "([tool.autolog.entry-points.NAME]), in its folder",
)
@click.option(
    "--param",
    "-P",
    "param_pairs",
    multiple=True,
    metavar="NAME=VALUE",
    help="a parameter of the entry point (checked against its type; recorded as a param)",
)
@click.option(
    "--system-metrics",
    is_flag=True,
    help="record CPU, memory, disk, network and GPU use of the script as system/... metrics",
)
@click.option(
    "--system-metrics-interval",
    type=click.FloatRange(min=0, min_open=True),
    default=10.0,
    show_default=True,
    metavar="SECONDS",
    help="how often --system-metrics samples",
)
@click.option("--module", "module", metavar="MODULE", hidden=True)
@tracking_uri_option
@click.argument(
    "target_and_args", nargs=-1, type=click.UNPROCESSED, metavar="SCRIPT|-m MODULE [ARGS]..."
)
@click.pass_context
def command(
    ctx: click.Context,
    experiment: str | None,
    run_name: str | None,
    tags: tuple[str, ...],
    entry_point: str | None,
    param_pairs: tuple[str, ...],
    system_metrics: bool,
    system_metrics_interval: float,
    module: str | None,
    tracking_uri: str | None,
    target_and_args: tuple[str, ...],
) -> None:
    """Run a Python script (or -m MODULE, or an entry point -e NAME) recorded as one run,
    with no change to its code.

    The script sees exactly what `python SCRIPT ARGS` would give it (sys.argv, __main__,
    sys.path, stdin, signals) and autolog() is on: its training calls log into this run. Its
    output shows live and is kept as the artifact logs/output.txt. The run records the
    command line, git state, wall time, peak memory and exit code, and ends FINISHED (exit 0),
    FAILED (an exception or another exit code) or KILLED (a signal). The command exits as the
    script did, after two lines on stderr: the run's id, name and status, and its page on the
    tracking server (or the `autolog ui` command that shows a local store).

    An entry point is a command of the project named in its pyproject.toml, run in its
    folder, with typed parameters (float, int, str, bool, path; -P NAME=VALUE, the others take
    their defaults, one without a default must be given), recorded as the run's params:

    \b
      [tool.autolog.entry-points.train]
      command = "python train.py --lr {lr}"
      lr = {type = "float", default = 0.01}
    """
    user_tags = parse_tags(tags)
    interval = _system_metrics_interval(ctx, system_metrics, system_metrics_interval)
    if entry_point is not None:
        if module is not None or target_and_args:
            raise click.UsageError(
                "-e/--entry-point runs the entry point's own command: name no script or "
                "-m MODULE with it",
                ctx,
            )
        chosen = _entry_point_target(ctx, entry_point, param_pairs)
    else:
        if param_pairs:
            raise click.UsageError("-P/--param sets a parameter of an entry point (-e NAME)", ctx)
        chosen = _script_target(ctx, module, target_and_args)
    argv = ctx.meta.get("autolog.run.argv", [])
    returncode, _ = _record(
        chosen.kind,
        chosen.target,
        chosen.args,
        experiment=experiment,
        run_name=run_name,
        tags={
            TAG_COMMAND: shlex.join(["autolog", "run", *argv]),
            TAG_ENTRY_POINT: chosen.target if chosen.kind == "script" else f"-m {chosen.target}",
            **chosen.tags,
            **user_tags,
        },
        tracking_uri=tracking_uri,
        params=chosen.params,
        launch=_Launch(sys.executable, chosen.cwd, dict(os.environ), interval),
    )
    ctx.exit(_exit_like(returncode))


@dataclass(frozen=True)
class _Target:
    """What the command line asks to run: a script or module, where, with which params and
    tags."""

    kind: str
    target: str
    args: list[str]
    cwd: str | None = None
    params: Mapping[str, object] = field(default_factory=dict)
    tags: Mapping[str, str] = field(default_factory=dict)


def _system_metrics_interval(ctx: click.Context, on: bool, interval: float) -> float | None:
    if on:
        return interval
    if ctx.get_parameter_source("system_metrics_interval") is not ParameterSource.DEFAULT:
        raise click.UsageError("--system-metrics-interval goes with --system-metrics", ctx)
    return None


def _script_target(
    ctx: click.Context, module: str | None, target_and_args: tuple[str, ...]
) -> _Target:
    if module is not None:
        return _Target("module", module, list(target_and_args))
    if not target_and_args:
        raise click.UsageError("name a script to run, -m MODULE, or -e ENTRY_POINT", ctx)
    target = target_and_args[0]
    if not os.path.exists(target):
        raise click.BadParameter(f"no such file: {target}", param_hint="SCRIPT")
    return _Target("script", target, list(target_and_args[1:]))


def _entry_point_target(ctx: click.Context, name: str, pairs: tuple[str, ...]) -> _Target:
    """The entry point ``name`` rendered with the ``-P`` values: run in its project's folder,
    its typed values the run's params. A wrong name, value or parameter is a usage error."""
    from autolog.projects.entry_points import find_entry_points

    entry_point = find_entry_points(Path.cwd()).get(name)
    if entry_point is None:
        raise click.BadParameter(_no_entry_point(name), param_hint="-e/--entry-point")
    try:
        run = entry_point.invocation(name_values(pairs, "-P/--param"))
    except InvalidInputError as exc:
        raise click.BadParameter(str(exc), param_hint="-P/--param") from None
    folder = entry_point.folder
    if run.kind == "script" and not (folder / run.target).exists():
        raise click.UsageError(
            f"entry point {name!r} ({entry_point.source}) runs {run.target}, which is not in "
            f"{folder}",
            ctx,
        )
    return _Target(run.kind, run.target, run.args, str(folder), run.params, run.tags)


def _no_entry_point(name: str) -> str:
    """Why ``name`` names no entry point here, and which names there are."""
    from autolog.projects.entry_points import find_entry_points, find_pyproject

    pyproject = find_pyproject(Path.cwd())
    if pyproject is None:
        return (
            f"no entry point {name!r}: no pyproject.toml here or above "
            f"(entry points are its [tool.autolog.entry-points.NAME] tables)"
        )
    points = find_entry_points(Path.cwd())
    if not points:
        return f"no entry point {name!r}: {pyproject} has no [tool.autolog.entry-points.NAME]"
    listed = "; ".join(
        f"{point.name} ({point.description})" if point.description else point.name
        for point in points.values()
    )
    return f"no entry point {name!r} in {pyproject}; there are: {listed}"


def record_command(
    kind: str,
    target: str,
    args: list[str],
    *,
    experiment: str | None,
    run_name: str | None,
    tags: dict[str, str],
    tracking_uri: str | None,
    params: Mapping[str, object] | None = None,
    python: str | None = None,
    cwd: str | None = None,
    env: Mapping[str, str] | None = None,
    system_metrics: float | None = None,
) -> tuple[int, str]:
    """Run ``python TARGET ARGS`` (``kind`` "script") or ``python -m TARGET ARGS`` (``kind``
    "module") recorded as one new run, as ``autolog run`` does; ``autolog rerun`` calls it.

    Args:
        python: the interpreter (default: this one); autolog must be importable in it.
        cwd: the child's working folder (default: this one); a script path is relative to it.
        env: the child's environment (default: ``os.environ``); the store's URI is added.
        params: logged to the run before the script starts.
        system_metrics: sample the child's process tree every so many seconds (None: never).

    Returns:
        The exit status the command should have (the script's, or 128 + N when signal N
        killed it) and the run's id ("" when the store failed and the script ran unrecorded).

    The signals ``autolog run`` forwards are blocked while the child runs: call this from
    the main thread, before starting threads of your own (they could take the signals).

    Raises:
        InvalidInputError: a bad kind, URI, experiment or run name, tag or param.
        MissingExtraError: ``system_metrics`` without psutil.
        OSError: ``python`` or ``cwd`` cannot be used (the run ends FAILED).
    """
    if kind not in ("script", "module"):
        raise InvalidInputError(f"kind must be 'script' or 'module', not {kind!r}")
    launch = _Launch(
        python=python or sys.executable,
        cwd=cwd,
        env=dict(os.environ if env is None else env),
        system_metrics=system_metrics,
    )
    returncode, run_id = _record(
        kind,
        target,
        args,
        experiment=experiment,
        run_name=run_name,
        tags=tags,
        tracking_uri=tracking_uri,
        params=params or {},
        launch=launch,
    )
    return (returncode if returncode >= 0 else 128 - returncode), run_id


@dataclass(frozen=True)
class _Launch:
    """How the child is started."""

    python: str
    cwd: str | None
    env: dict[str, str]
    system_metrics: float | None  # the sampling interval in seconds


def _record(
    kind: str,
    target: str,
    args: list[str],
    *,
    experiment: str | None,
    run_name: str | None,
    tags: dict[str, str],
    tracking_uri: str | None,
    params: Mapping[str, object],
    launch: _Launch,
) -> tuple[int, str]:
    """Run the target inside a new run; the child's return code (-N: killed by signal N) and
    the run id ("" when unrecorded)."""
    from autolog import context

    if launch.system_metrics is not None:
        # psutil missing or a bad interval is said before anything starts (made, not started)
        _sampler_class()(lambda metrics, step: None, interval=launch.system_metrics)
    checked = _checked_params(params)
    with _signals_held() as take_signal:
        # Context tags (source, git commit, branch and dirty flag) describe the script.
        if kind == "script":
            context.set_source("SCRIPT", str(Path(launch.cwd or ".", target).resolve()))
        else:
            context.set_source("MODULE", target)
        client, run_id, name = _start_run(tracking_uri, experiment, run_name, tags, checked)
        with tempfile.TemporaryDirectory(prefix="autolog-run-") as folder:
            log_path = Path(folder) / "output.txt"
            try:
                with log_path.open("wb") as log:
                    outcome = _supervise(
                        kind, target, args, client, run_id, log, take_signal, launch
                    )
            except BaseException as exc:  # the script could not be started: the run says so
                if client is not None:
                    killed = isinstance(exc, KeyboardInterrupt)
                    client.set_terminated(run_id, "KILLED" if killed else "FAILED")
                    client.flush(_STORE_WAIT_S)
                raise
            if client is not None:
                status = _finish(client, run_id, outcome, log_path)
                _say_where(client.tracking_uri, tracking_uri, run_id, name, status, outcome)
    return outcome.returncode, run_id


def _checked_params(params: Mapping[str, object]) -> dict[str, str]:
    """The params as the run will hold them; a bad key or value is an error before the run
    exists."""
    from autolog.validation import check_key, stringify

    return {key: stringify(check_key(key), value) for key, value in params.items()}


def _sampler_class() -> Any:
    """``SystemMetricsSampler``, imported when asked for (it needs the ``system`` extra)."""
    from autolog.system_metrics import SystemMetricsSampler

    return SystemMetricsSampler


def _say_where(
    uri: str, option: str | None, run_id: str, name: str, status: str, outcome: _Outcome
) -> None:
    """The last lines, on stderr after the script's own: which run it was, and where to see
    it (its page on the tracking server, or how to start the UI on a local store)."""
    click.echo(f"autolog: run {run_id} ({name}) {status} after {outcome.wall_time:.1f} s", err=True)
    if uri.lower().startswith(("http://", "https://")):
        click.echo(f"autolog: see it at {uri.rstrip('/')}/runs/{run_id}", err=True)
        return
    from autolog.stores.common import redact_uri

    ui = "autolog ui"
    if option is not None or os.environ.get("AUTOLOG_BACKEND_STORE_URI"):
        ui += f" --backend-store-uri {shlex.quote(redact_uri(uri))}"
    click.echo(
        f"autolog: see it in the web UI: start it with `{ui}`, open /runs/{run_id}", err=True
    )


def _start_run(
    tracking_uri: str | None,
    experiment: str | None,
    run_name: str | None,
    tags: dict[str, str],
    params: dict[str, str],
) -> tuple[Any, str, str]:
    """The client, the new run's id and name; (None, "", "") when the store fails: the script
    runs anyway, unrecorded, and one line says why. A bad URI or name is an error before it
    runs."""
    from autolog.client import Client
    from autolog.errors import StoreError, StoreUnavailableError

    try:
        client = Client(tracking_uri)
        # Opened here, before the script runs (a Client opens its store when first needed, on
        # its writer's thread): a store that cannot be opened is said in one line, and nothing
        # is queued for it.
        client.store  # noqa: B018
        run = client.create_run(experiment, run_name=run_name, tags=tags)
        if params:
            client.log_params(run.info.run_id, params)
        # the child reads the run (and its params) before it logs into it
        if not client.flush(_STORE_WAIT_S):
            raise StoreUnavailableError(
                f"the tracking store at {client.tracking_uri} did not take the run in "
                f"{_STORE_WAIT_S:.0f} s"
            )
    except StoreError as exc:
        click.echo(f"autolog: not recording this run: {exc}", err=True)
        return None, "", ""
    if sys.stderr.isatty():
        click.echo(f"autolog: recording run {run.info.run_id} ({client.tracking_uri})", err=True)
    return client, run.info.run_id, run.info.run_name


class _Outcome:
    __slots__ = ("cpu_time", "peak_memory_mb", "returncode", "wall_time")

    def __init__(
        self, returncode: int, wall_time: float, cpu_time: float | None, peak: float | None
    ) -> None:
        self.returncode = returncode
        self.wall_time = wall_time
        self.cpu_time = cpu_time
        self.peak_memory_mb = peak


def _supervise(
    kind: str,
    target: str,
    args: list[str],
    client: Any,
    run_id: str,
    log: Any,
    take_signal: Callable[[float], Any],
    launch: _Launch,
) -> _Outcome:
    """Start the child, copy its output, pass signals on, and wait for it. Without a client
    the child runs the target unrecorded."""
    from autolog.cli._launch import BOOTSTRAP
    from autolog.cli._tee import Tee

    tee = Tee(log)
    env = dict(launch.env)
    if client is not None:  # absolute: the same store from the child's working folder
        env["AUTOLOG_TRACKING_URI"] = client.tracking_uri
    started = time.monotonic()
    child = subprocess.Popen(
        [launch.python, "-c", BOOTSTRAP, run_id, kind, target, *args],
        stdout=tee.child_fds[0],
        stderr=tee.child_fds[1],
        cwd=launch.cwd,
        env=env,
        preexec_fn=_release_signals if _CAN_WAIT_FOR_SIGNALS else None,  # noqa: PLW1509
    )
    try:
        sampler = _start_sampler(client, run_id, child.pid, launch.system_metrics)
    except BaseException:  # the run fails: the script must not go on unwatched
        child.kill()
        child.wait()
        raise
    tee.start()
    try:
        status, usage = _wait(child, tee, take_signal)
    finally:
        if sampler is not None:
            sampler.stop()  # its last sample: the child has just ended
    wall = time.monotonic() - started
    tee.join(_OUTPUT_GRACE_S)
    returncode = os.waitstatus_to_exitcode(status) if usage is not None else status
    child.returncode = returncode  # reaped here: keep Popen's bookkeeping right
    cpu = peak = None
    if usage is not None:
        cpu = usage.ru_utime + usage.ru_stime
        # ru_maxrss: the largest of the child and the processes it waited for; KiB on Linux,
        # bytes on macOS
        peak = usage.ru_maxrss / (1024 * 1024 if sys.platform == "darwin" else 1024)
    return _Outcome(returncode, wall, cpu, peak)


def _start_sampler(client: Any, run_id: str, pid: int, interval: float | None) -> Any:
    """Sample the child's process tree into the run every ``interval`` seconds (a sampler
    with ``stop()``), or None when not asked for or not recorded."""
    if interval is None or client is None:
        return None

    def log(metrics: dict[str, float], step: int) -> None:
        client.log_metrics(run_id, metrics, step=step)

    sampler = _sampler_class()(log, pid=pid, interval=interval)
    sampler.start()
    return sampler


def _wait(
    child: subprocess.Popen[bytes], tee: Any, take_signal: Callable[[float], Any]
) -> tuple[int, Any]:
    """Wait for the child, forwarding signals; its wait status and resource usage."""
    if not hasattr(os, "wait4"):  # pragma: no cover - Windows
        return child.wait(), None
    while True:
        pid, status, usage = os.wait4(child.pid, os.WNOHANG)
        if pid:
            return status, usage
        info = take_signal(0.25)
        if info is None:
            continue
        signum = info.si_signo
        if signum == signal.SIGWINCH:
            tee.resize()
        elif signum != signal.SIGCHLD and not (
            signum in (signal.SIGINT, signal.SIGQUIT) and info.si_code == _SI_KERNEL
        ):
            with suppress(ProcessLookupError):
                os.kill(child.pid, signum)


_CAN_WAIT_FOR_SIGNALS = hasattr(signal, "sigtimedwait")
_original_mask: set[int] = set()


def _held_signals() -> set[signal.Signals]:
    names = (*_FORWARDED, "SIGCHLD", "SIGWINCH")
    return {getattr(signal, name) for name in names if hasattr(signal, name)}


def _release_signals() -> None:
    """In the child, before exec: the signal mask the command started with."""
    signal.pthread_sigmask(signal.SIG_SETMASK, _original_mask)


@contextmanager
def _signals_held() -> Iterator[Callable[[float], Any]]:
    """Hold the signals we forward while the child runs, and give a function that waits for
    the next one (None after ``timeout`` seconds).

    Where the system can tell who sent a signal (sigtimedwait), they are blocked in every
    thread (this runs before the store's threads start) and taken one at a time. Elsewhere
    Python handlers forward them, and SIGINT/SIGQUIT are left to the terminal.
    """
    global _original_mask
    if _CAN_WAIT_FOR_SIGNALS:
        held = _held_signals()
        _original_mask = signal.pthread_sigmask(signal.SIG_BLOCK, held)
        try:
            yield lambda timeout: signal.sigtimedwait(held, timeout)
        finally:
            # Signals that came after the child ended have nobody to go to: drop them rather
            # than let a late Ctrl-C raise here once they are unblocked.
            while signal.sigtimedwait(held, 0) is not None:
                pass
            signal.pthread_sigmask(signal.SIG_SETMASK, _original_mask)
        return
    # Fallback (no sigtimedwait): handlers queue signals for the wait loop.
    pending: list[Any] = []
    previous = {}

    class _Info:
        def __init__(self, signum: int) -> None:
            self.si_signo = signum
            self.si_code = 0

    def handler(signum: int, frame: Any) -> None:
        pending.append(_Info(signum))

    for name in ("SIGTERM", "SIGHUP", "SIGUSR1", "SIGUSR2", "SIGINT", "SIGQUIT"):
        signum = getattr(signal, name, None)
        if signum is not None:
            quiet = name in ("SIGINT", "SIGQUIT")
            previous[signum] = signal.signal(signum, (lambda s, f: None) if quiet else handler)

    def take(timeout: float) -> Any:
        if not pending:
            time.sleep(min(timeout, 0.05))
        return pending.pop(0) if pending else None

    try:
        yield take
    finally:
        for signum, old in previous.items():
            signal.signal(signum, old)


def _finish(client: Any, run_id: str, outcome: _Outcome, log_path: Path) -> str:
    """Record the output, how the script ended, and end the run; its final status. A store
    that fails now costs the record, never the command's exit status."""
    from autolog.errors import StoreError

    try:
        status = _record_end(client, run_id, outcome, log_path)
    except StoreError as exc:
        click.echo(f"autolog: the end of run {run_id} was not recorded: {exc}", err=True)
        return "UNRECORDED"
    if not client.flush(_STORE_WAIT_S):
        click.echo(
            f"autolog: run {run_id} is not fully written yet (the store is slow or down)",
            err=True,
        )
    return status


def _record_end(client: Any, run_id: str, outcome: _Outcome, log_path: Path) -> str:
    client.log_artifact(run_id, log_path, "logs")
    returncode = outcome.returncode
    tags = {TAG_EXIT_CODE: str(returncode)}
    if returncode < 0:
        status = "KILLED"
        try:
            tags[TAG_SIGNAL] = signal.Signals(-returncode).name
        except ValueError:
            tags[TAG_SIGNAL] = str(-returncode)
    else:
        status = "FINISHED" if returncode == 0 else "FAILED"
    client.set_tags(run_id, tags)
    metrics = {METRIC_WALL_TIME: outcome.wall_time}
    if outcome.cpu_time is not None:
        metrics[METRIC_CPU_TIME] = outcome.cpu_time
    if outcome.peak_memory_mb is not None:
        metrics[METRIC_PEAK_MEMORY] = outcome.peak_memory_mb
    client.log_metrics(run_id, metrics, step=0)
    client.set_terminated(run_id, status)
    return status


def _exit_like(returncode: int) -> int:
    """Our exit status: the script's, or death by the same signal (as shells expect)."""
    if returncode >= 0:
        return returncode
    signum = -returncode
    sys.stdout.flush()
    sys.stderr.flush()
    try:
        if signum not in (signal.SIGKILL, signal.SIGSTOP):  # those have no handler to reset
            signal.signal(signum, signal.SIG_DFL)
        signal.pthread_sigmask(signal.SIG_UNBLOCK, {signum})
        os.kill(os.getpid(), signum)
    except (OSError, ValueError):
        pass
    return 128 + signum  # a signal that does not kill (or a system without kill)
