"""The process's lifecycle in one place: exit, SIGTERM, fork, multiprocessing children.

autolog hooks into the interpreter here and nowhere else. The modules that hold state register
hooks with this module at their layer, and hooks run in the order of the layers, never in the
order the modules happened to be imported:

- **shutdown** (normal exit, SIGTERM, the exit of a multiprocessing child, ``shutdown()``)
  runs from the top layer down: the runs still open are ended (FINISHED, or KILLED on
  SIGTERM), then every writer writes what is queued, all within one deadline
  (``AUTOLOG_EXIT_TIMEOUT`` seconds, default 10), then the stores close. What could not be
  written is reported on stderr, with its counts.
- **fork**: before it, from the top down (a writer writes what the child must find stored); in
  the child, from the bottom up (stores get new locks, writers start empty, clients disown the
  parent's runs, the parent's open runs are forgotten).

Integrations also learn here when a run they keep open ends (``on_run_end``).

This module imports nothing of autolog's but its entities and errors, so every module may
import it.
"""

from __future__ import annotations

import atexit
import contextlib
import math
import os
import signal
import sys
import threading
import time
from collections.abc import Callable
from enum import IntEnum
from types import FrameType
from typing import Any, Literal, NamedTuple

from autolog.entities import RunStatus
from autolog.errors import background_thread

__all__ = [
    "Layer",
    "Shutdown",
    "exit_timeout",
    "install_signal_handler",
    "makes_way",
    "on_fork",
    "on_run_end",
    "on_shutdown",
    "report",
    "run_ending",
    "seconds_setting",
    "shutdown",
    "watch_multiprocessing_child",
]

#: default bound, in seconds, on the time exit and SIGTERM spend writing what is queued
DEFAULT_EXIT_TIMEOUT = 10.0


class Layer(IntEnum):
    """Where a hook's owner sits: shutdown runs hooks from the top down, a forked child from
    the bottom up."""

    STORE = 0
    WRITER = 1
    CLIENT = 2
    RUNS = 3
    INTEGRATION = 4


Reason = Literal["exit", "sigterm", "child", "shutdown"]


class Shutdown(NamedTuple):
    """What a shutdown hook is told: why the process (or autolog) stops, and by when."""

    reason: Reason
    #: ``time.monotonic()`` by which every hook should be done
    deadline: float

    @property
    def killed(self) -> bool:
        """Whether open runs end KILLED (SIGTERM) rather than FINISHED."""
        return self.reason == "sigterm"

    def remaining(self) -> float:
        """Seconds left until the deadline (never negative)."""
        return max(0.0, self.deadline - time.monotonic())


ShutdownHook = Callable[[Shutdown], None]
ForkHook = Callable[[], None]

_shutdown_hooks: list[tuple[Layer, ShutdownHook]] = []
_before_fork: list[tuple[Layer, ForkHook]] = []
_after_fork_in_child: list[tuple[Layer, ForkHook]] = []
# Reentrant: SIGTERM may arrive while the main thread is inside a shutdown.
_lock = threading.RLock()


def on_shutdown(layer: Layer, hook: ShutdownHook) -> None:
    """Call ``hook(shutdown)`` when autolog shuts down (exit, SIGTERM, ``shutdown()``)."""
    with _lock:
        if (layer, hook) not in _shutdown_hooks:
            _shutdown_hooks.append((layer, hook))


def on_fork(
    layer: Layer, *, before: ForkHook | None = None, after_in_child: ForkHook | None = None
) -> None:
    """Call ``before()`` in the parent just before a fork, ``after_in_child()`` in the child."""
    with _lock:
        if before is not None and (layer, before) not in _before_fork:
            _before_fork.append((layer, before))
        if after_in_child is not None and (layer, after_in_child) not in _after_fork_in_child:
            _after_fork_in_child.append((layer, after_in_child))


def _top_down(hooks: list[tuple[Layer, Any]]) -> list[Any]:
    # sorted() is stable: hooks of one layer run in the order they were registered
    return [hook for _, hook in sorted(hooks, key=lambda entry: -entry[0])]


def _bottom_up(hooks: list[tuple[Layer, Any]]) -> list[Any]:
    return [hook for _, hook in sorted(hooks, key=lambda entry: entry[0])]


def seconds_setting(name: str, default: float) -> float:
    """A duration from the environment variable ``name`` (seconds >= 0), else ``default``; a
    value that is not one is reported on stderr and ``default`` used."""
    raw = os.environ.get(name)
    if raw:
        try:
            value = float(raw)
        except ValueError:
            value = -1.0
        if value >= 0 and not math.isnan(value):
            return value
        report(f"{name}={raw!r} is not a number of seconds; using {default:g}")
    return default


def exit_timeout() -> float:
    """``$AUTOLOG_EXIT_TIMEOUT`` (seconds; default 10): how long exit and SIGTERM may spend
    writing what is still queued before they report what is left and go."""
    return seconds_setting("AUTOLOG_EXIT_TIMEOUT", DEFAULT_EXIT_TIMEOUT)


# A shutdown under way (on any thread), and a SIGTERM that arrived meanwhile: the process dies
# of it once that shutdown is done.
_shutting_down = 0
_terminate_after = False


def _run_shutdown(reason: Reason, timeout: float | None) -> None:
    global _shutting_down
    deadline = time.monotonic() + (exit_timeout() if timeout is None else timeout)
    event = Shutdown(reason, deadline)
    # No lock: SIGTERM may have interrupted the thread holding it (copying a list is atomic).
    hooks = _top_down(list(_shutdown_hooks))
    _shutting_down += 1
    try:
        for hook in hooks:
            try:
                hook(event)
            except Exception as exc:  # one failing layer must not keep the others from closing
                report(f"shutdown step {getattr(hook, '__qualname__', hook)} failed: {exc!r}")
    finally:
        _shutting_down -= 1
    if _terminate_after and reason != "sigterm":
        _die()


def shutdown(timeout: float | None = None) -> None:
    """End the runs still open (FINISHED), write what is queued, close every store.

    What exit does, on demand (a notebook, a test, a program that is done tracking). autolog
    may be used again afterwards: stores are opened anew when needed. ``timeout`` bounds the
    wait for the writers (default: ``AUTOLOG_EXIT_TIMEOUT``); what could not be written in
    that time is reported on stderr.
    """
    _run_shutdown("shutdown", timeout)


def report(message: str) -> None:
    """Say something on stderr at a time when warnings may no longer be seen (exit, SIGTERM)."""
    try:
        sys.stderr.write(f"autolog: {message}\n")
        sys.stderr.flush()
    except (OSError, ValueError, AttributeError):
        pass  # stderr closed or gone: nobody is left to tell


def _at_exit() -> None:
    _run_shutdown("exit", None)


atexit.register(_at_exit)


# -- fork and multiprocessing ---------------------------------------------------------------


class _ForkToken:
    """Keeps our registration with multiprocessing alive (it holds it by weak reference)."""


_fork_token = _ForkToken()
_multiprocessing_hooked = False
_child_hooked = False


def _run_before_fork() -> None:
    global _multiprocessing_hooked
    # multiprocessing's forked children leave through os._exit, never atexit, after running
    # the finalizers registered in them: have one registered there that shuts autolog down.
    if not _multiprocessing_hooked and "multiprocessing.util" in sys.modules:
        import multiprocessing.util

        multiprocessing.util.register_after_fork(_fork_token, _finalize_in_child)
        _multiprocessing_hooked = True
    for hook in _top_down(_before_fork):
        try:
            hook()
        except Exception as exc:  # the fork goes ahead whatever happens here
            report(f"before fork: {exc!r}")


def _run_after_fork_in_child() -> None:
    global _lock, _child_hooked, _sigwaiting, _signal_installed
    _lock = threading.RLock()  # the parent may have held it at the fork
    _child_hooked = False
    if _sigwaiting:
        # The thread that took SIGTERM stayed in the parent: the child installs its own when
        # it uses autolog, and until then dies of SIGTERM as any process does.
        _sigwaiting = False
        _signal_installed = False
        with contextlib.suppress(OSError, ValueError):
            signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGTERM})
    for hook in _bottom_up(_after_fork_in_child):
        try:
            hook()
        except Exception as exc:
            report(f"after fork: {exc!r}")


def _finalize_in_child(_: object) -> None:
    _register_child_finalizer()
    _sigwait_instead_of_an_inherited_handler()


def _sigwait_instead_of_an_inherited_handler() -> None:
    """A multiprocessing child forked from a process with our SIGTERM handler takes SIGTERM on
    a thread of its own instead, as a child that installs it does (see
    ``_wait_for_sigterm_on_a_thread``): the inherited Python handler could miss the signal of
    ``Pool.terminate``."""
    global _signal_installed
    if _sigwaiting or threading.current_thread() is not threading.main_thread():
        return
    try:
        if signal.getsignal(signal.SIGTERM) is not _on_sigterm:
            return
        signal.signal(signal.SIGTERM, _previous_handler or signal.SIG_DFL)
    except (ValueError, OSError):
        return
    _signal_installed = False
    install_signal_handler()


def _register_child_finalizer() -> None:
    global _child_hooked
    if _child_hooked:
        return
    import multiprocessing.util

    multiprocessing.util.Finalize(None, _child_exit, exitpriority=100)
    _child_hooked = True


def _child_exit() -> None:
    _run_shutdown("child", None)


def watch_multiprocessing_child() -> None:
    """In a multiprocessing child (spawned or forked), shut down from multiprocessing's own
    exit finalizers: such a child leaves through ``os._exit``, never through atexit."""
    process = sys.modules.get("multiprocessing.process")
    if process is not None and process.parent_process() is not None:
        _register_child_finalizer()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(before=_run_before_fork, after_in_child=_run_after_fork_in_child)


# -- SIGTERM ------------------------------------------------------------------------------------

_signal_installed = False
_previous_handler: Any = None


def _on_sigterm(signum: int, frame: FrameType | None) -> None:
    global _terminate_after
    if _shutting_down:
        # A shutdown (exit, a multiprocessing child's finalizers) is under way, perhaps in the
        # very frame this signal interrupted: let it finish, then die of SIGTERM.
        _terminate_after = True
        return
    # The work runs on a thread of its own: this handler may have interrupted autolog's code
    # while it held a lock the shutdown needs (an Event's, say). Waited for within the exit
    # bound, whatever happens.
    worker = threading.Thread(target=_sigterm_shutdown, name="autolog-sigterm", daemon=True)
    worker.start()
    worker.join(exit_timeout() + 2.0)
    if worker.is_alive():
        report("SIGTERM: writing what was queued did not finish in time; exiting without it")
    previous = _previous_handler
    if callable(previous):
        previous(signum, frame)
        return
    _die()


def _sigterm_shutdown() -> None:
    background_thread()
    _run_shutdown("sigterm", None)


def _die() -> None:
    """Die of SIGTERM as the process would have without us (exit status included)."""
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    os.kill(os.getpid(), signal.SIGTERM)


def install_signal_handler() -> None:
    """Shut down on SIGTERM, chaining any Python handler; once, and from the main thread only
    (elsewhere Python cannot install one: a later call from the main thread will)."""
    global _signal_installed, _previous_handler
    if _signal_installed or threading.current_thread() is not threading.main_thread():
        return
    _signal_installed = True
    try:
        current = signal.getsignal(signal.SIGTERM)
        if current is signal.SIG_IGN:
            return  # the program asked to ignore SIGTERM: respect that
        if current in (signal.SIG_DFL, None) and _in_multiprocessing_child():
            _wait_for_sigterm_on_a_thread()
            return
        _previous_handler = current if callable(current) else None
        signal.signal(signal.SIGTERM, _on_sigterm)
    except (ValueError, OSError):
        pass  # not supported here (embedded interpreters)


# A multiprocessing child (a Pool's worker) takes SIGTERM on a thread of its own: Pool.terminate
# signals a worker the moment it has handed back its last result, while it enters a blocking
# lock acquire, and CPython runs no Python handler for a signal that lands just before that
# wait (the worker would hang, and the pool with it). Blocked in every thread and taken with
# sigwait, the signal is never lost.
_sigwaiting = False


def _in_multiprocessing_child() -> bool:
    process = sys.modules.get("multiprocessing.process")
    return process is not None and process.parent_process() is not None


def _wait_for_sigterm_on_a_thread() -> None:
    global _sigwaiting
    if not hasattr(signal, "pthread_sigmask") or not hasattr(signal, "sigwait"):
        signal.signal(signal.SIGTERM, _on_sigterm)  # no such choice here (not POSIX)
        return
    signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGTERM})  # threads made later inherit it
    _sigwaiting = True
    threading.Thread(target=_take_sigterm, name="autolog-sigterm", daemon=True).start()


def _take_sigterm() -> None:
    background_thread()
    signal.sigwait({signal.SIGTERM})
    _run_shutdown("sigterm", None)
    # Die of it, as without us: this is the one thread that does not block it now, and its
    # disposition was never changed from the default.
    signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGTERM})
    os.kill(os.getpid(), signal.SIGTERM)


# -- the end of a run -----------------------------------------------------------------------------

# run_id -> (called with the final status just before the run ends, whether it makes way)
_end_hooks: dict[str, tuple[Callable[[RunStatus], None], bool]] = {}


def on_run_end(
    run_id: str, hook: Callable[[RunStatus], None] | None, *, makes_way: bool = False
) -> None:
    """Call ``hook(status)`` just before the run ``run_id`` (started with ``start_run``) ends,
    however it ends: ``end_run``, ``ActiveRun.end``, the end of a run it is nested in, exit or
    SIGTERM. ``None`` removes the hook.

    ``makes_way=True`` marks a run an integration opened on its own and keeps open across
    calls (a plain PyTorch loop's run): a ``start_run`` that would otherwise fail because this
    run is active ends it FINISHED and goes on. The run still ends if the hook raises.
    """
    with _lock:
        if hook is None:
            _end_hooks.pop(run_id, None)
        else:
            _end_hooks[run_id] = (hook, makes_way)


def makes_way(run_id: str) -> bool:
    """Whether ``run_id`` was registered with ``on_run_end(..., makes_way=True)``."""
    entry = _end_hooks.get(run_id)
    return entry is not None and entry[1]


def run_ending(run_id: str, status: RunStatus | str) -> None:
    """Called by ``autolog.runs`` as ``run_id`` ends: runs (and forgets) its hook."""
    with _lock:
        entry = _end_hooks.pop(run_id, None)
    if entry is not None:
        entry[0](RunStatus(str(status).upper()))
