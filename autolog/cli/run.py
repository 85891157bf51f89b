"""``autolog run``: run a Python script or module, recorded, with no change to its code.

The command creates one run and owns it; the script runs in a child interpreter exactly as
``python`` would run it (see ``_launch``), with ``autolog()`` on and the run attached, so its
first training call logs into the run and later ones become child runs. This process copies
the child's output live to the terminal and to ``logs/output.txt``, forwards the signals sent
to it, and at the end records the exit code, wall time, CPU time and peak memory and ends the
run FINISHED (exit 0), FAILED (an exception or another exit code) or KILLED (a signal). Its
last two lines (stderr) name the run and where to see it.
"""

from __future__ import annotations

import os
import shlex
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Any

import click

from autolog.cli._common import parse_tags, tracking_uri_option

__all__ = [
    "TAG_COMMAND",
    "TAG_ENTRY_POINT",
    "TAG_EXIT_CODE",
    "TAG_SIGNAL",
    "command",
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
  autolog runs show last""",
)
@click.option("--experiment", "-e", metavar="NAME", help="experiment of the run (default: Default)")
@click.option("--run-name", "-n", metavar="NAME", help="name of the run (default: generated)")
@click.option("--tag", "-t", "tags", multiple=True, metavar="KEY=VALUE", help="tag the run")
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
    module: str | None,
    tracking_uri: str | None,
    target_and_args: tuple[str, ...],
) -> None:
    """Run a Python script (or -m MODULE) recorded as one run, with no change to its code.

    The script sees exactly what `python SCRIPT ARGS` would give it (sys.argv, __main__,
    sys.path, stdin, signals) and autolog() is on: its training calls log into this run. Its
    output shows live and is kept as the artifact logs/output.txt. The run records the
    command line, git state, wall time, peak memory and exit code, and ends FINISHED (exit 0),
    FAILED (an exception or another exit code) or KILLED (a signal). The command exits as the
    script did, after two lines on stderr: the run's id, name and status, and its page on the
    tracking server (or the `autolog ui` command that shows a local store).
    """
    if module is not None:
        kind, target, args = "module", module, list(target_and_args)
    elif target_and_args:
        kind, target, args = "script", target_and_args[0], list(target_and_args[1:])
        if not os.path.exists(target):
            raise click.BadParameter(f"no such file: {target}", param_hint="SCRIPT")
    else:
        raise click.UsageError("name a script to run, or -m MODULE", ctx)
    user_tags = parse_tags(tags)
    argv = ctx.meta.get("autolog.run.argv", [])
    code = _record(
        kind,
        target,
        args,
        experiment=experiment,
        run_name=run_name,
        tags={
            TAG_COMMAND: shlex.join(["autolog", "run", *argv]),
            TAG_ENTRY_POINT: target if kind == "script" else f"-m {target}",
            **user_tags,
        },
        tracking_uri=tracking_uri,
    )
    ctx.exit(code)


def _record(
    kind: str,
    target: str,
    args: list[str],
    *,
    experiment: str | None,
    run_name: str | None,
    tags: dict[str, str],
    tracking_uri: str | None,
) -> int:
    """Run the target inside a new run; return the exit status this command should have."""
    from autolog import context

    with _signals_held() as take_signal:
        # Context tags (source, git commit, branch and dirty flag) describe the script.
        if kind == "script":
            context.set_source("SCRIPT", str(Path(target).resolve()))
        else:
            context.set_source("MODULE", target)
        client, run_id, name = _start_run(tracking_uri, experiment, run_name, tags)
        with tempfile.TemporaryDirectory(prefix="autolog-run-") as folder:
            log_path = Path(folder) / "output.txt"
            try:
                with log_path.open("wb") as log:
                    uri = client.tracking_uri if client is not None else None
                    outcome = _supervise(kind, target, args, uri, run_id, log, take_signal)
            except BaseException as exc:  # the script could not be started: the run says so
                if client is not None:
                    killed = isinstance(exc, KeyboardInterrupt)
                    client.set_terminated(run_id, "KILLED" if killed else "FAILED")
                    client.flush(_STORE_WAIT_S)
                raise
            if client is not None:
                status = _finish(client, run_id, outcome, log_path)
                _say_where(client.tracking_uri, tracking_uri, run_id, name, status, outcome)
    return _exit_like(outcome.returncode)


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
    tracking_uri: str | None, experiment: str | None, run_name: str | None, tags: dict[str, str]
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
        # the child reads the run before it logs into it
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
    tracking_uri: str | None,
    run_id: str,
    log: Any,
    take_signal: Callable[[float], Any],
) -> _Outcome:
    """Start the child, copy its output, pass signals on, and wait for it. Without a run id
    the child runs the target unrecorded."""
    from autolog.cli._launch import BOOTSTRAP
    from autolog.cli._tee import Tee

    tee = Tee(log)
    env = dict(os.environ)
    if tracking_uri is not None:
        env["AUTOLOG_TRACKING_URI"] = tracking_uri
    started = time.monotonic()
    child = subprocess.Popen(
        [sys.executable, "-c", BOOTSTRAP, run_id, kind, target, *args],
        stdout=tee.child_fds[0],
        stderr=tee.child_fds[1],
        env=env,
        preexec_fn=_release_signals if _CAN_WAIT_FOR_SIGNALS else None,  # noqa: PLW1509
    )
    tee.start()
    status, usage = _wait(child, tee, take_signal)
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
