"""The child side of ``autolog run``: run a script or module exactly as ``python`` would,
inside the run that the ``autolog run`` process created and owns.

The parent starts ``python -c BOOTSTRAP RUN_ID script|module TARGET ARGS...``; this module
attaches the run, turns ``autolog()`` on, and hands the interpreter to the target with the
``sys.argv``, ``sys.path[0]`` and ``__main__`` that ``python TARGET ARGS...`` (or
``python -m TARGET ARGS...``) would give it. Exit codes, uncaught exceptions (their traceback
and exit status 1) and ``KeyboardInterrupt`` (death by SIGINT) are left to the interpreter, so
they are exactly Python's. This module imports no click: it runs inside the user's program.
"""

from __future__ import annotations

import builtins
import os
import sys
import zipfile
from types import TracebackType

from autolog.errors import strict

__all__ = ["BOOTSTRAP", "TAG_EXCEPTION", "main"]

#: what ``python -c`` runs: drop the '' that -c puts first on sys.path (the working folder),
#: so autolog is the installed one whatever the folder holds; the target's own folder is
#: put there later, as python would.
BOOTSTRAP = (
    "import sys\n"
    "if sys.path and sys.path[0] == '': del sys.path[0]\n"
    "from autolog.cli._launch import main\n"
    "main()\n"
)
#: tag set on the run when the script ends by an uncaught exception: "Type: message"
TAG_EXCEPTION = "autolog.exception"
_MAX_EXCEPTION_TEXT = 1000


def main() -> None:
    run_id, kind, target, *args = sys.argv[1:]
    # no run id: the store failed in the parent, the target runs unrecorded
    argv = ["-m", target, *args] if kind == "module" else [target, *args]
    recording = bool(run_id) and _start_recording(run_id, argv)
    _hide_our_frames(run_id if recording else None)
    outcome = "FAILED"
    try:
        if kind == "module":
            _run_module(target, args)
        else:
            _run_path(target, args)
        outcome = "FINISHED"
    except SystemExit as exc:
        outcome = "FINISHED" if exc.code in (None, 0) else "FAILED"
        raise
    except KeyboardInterrupt:
        outcome = "KILLED"
        raise
    finally:
        if recording:
            _script_ended(run_id, outcome)


def _script_ended(run_id: str, outcome: str) -> None:
    """What an integration does as its run ends (a plain PyTorch loop logs its last epoch
    and final model), done for the command's run as the script ends: the run is not ended
    here (the ``autolog run`` process ends it, with the exit status), so it would never be
    told otherwise. Our failure never changes how the script ends."""
    try:
        from autolog.lifecycle import run_ending

        run_ending(run_id, outcome)
    except Exception as exc:
        if strict():
            raise
        sys.stderr.write(f"autolog: the end of run {run_id} was not recorded in full: {exc}\n")


def _start_recording(run_id: str, argv: list[str]) -> bool:
    """Attach the command's run, record its code and environment (before the script starts:
    the code recorded is the code that runs; ``argv`` is what follows ``python``) and enable
    autologging. Our failure never stops the script: it runs unrecorded, with one line on
    stderr."""
    try:
        import autolog
        from autolog.projects.capture import record_run_context
        from autolog.runs import attach_run, get_client

        attach_run(run_id)
        record_run_context(get_client(), run_id, argv)
        autolog.autolog()
    except Exception as exc:
        if strict():
            raise
        sys.stderr.write(f"autolog: not recording into run {run_id}: {exc}\n")
        return False
    return True


def _hide_our_frames(run_id: str | None) -> None:
    """Show an uncaught exception's traceback as python would, without this module's frames,
    and note the exception on the run."""
    previous = sys.excepthook
    ours = {__file__, "<string>"}

    def excepthook(
        kind: type[BaseException], value: BaseException, tb: TracebackType | None
    ) -> None:
        while tb is not None and tb.tb_frame.f_code.co_filename in ours:
            tb = tb.tb_next
        value.__traceback__ = tb  # what the default hook prints, whatever it is passed
        if run_id is not None and not isinstance(value, KeyboardInterrupt):
            _note_exception(run_id, value)
        previous(kind, value, tb)

    sys.excepthook = excepthook


def _note_exception(run_id: str, value: BaseException) -> None:
    try:
        text = f"{type(value).__qualname__}: {value}"
        if len(text) > _MAX_EXCEPTION_TEXT:
            text = text[: _MAX_EXCEPTION_TEXT - 3] + "..."
        from autolog.runs import get_client

        get_client().set_tag(run_id, TAG_EXCEPTION, text)
    except Exception:
        if strict():
            raise


def _run_module(module: str, args: list[str]) -> None:
    """``python -m module args``: the working folder first on sys.path, argv[0] the file."""
    import runpy

    sys.argv = [module, *args]  # runpy replaces argv[0] with the module's file once found
    sys.path.insert(0, os.getcwd())
    # What `python -m` itself calls (CPython's C entry point names it): the module runs in the
    # real __main__, and a missing module gives python's own one-line message and status 1.
    runpy._run_module_as_main(module, alter_argv=True)  # type: ignore[attr-defined]


def _run_path(path: str, args: list[str]) -> None:
    """``python path args``: a file, or a folder or zip file holding ``__main__.py``."""
    sys.argv = [path, *args]
    if os.path.isdir(path) or zipfile.is_zipfile(path):
        import runpy

        sys.path.insert(0, os.path.abspath(path))
        runpy._run_module_as_main("__main__", alter_argv=False)  # type: ignore[attr-defined]
        return
    sys.path.insert(0, os.path.dirname(os.path.realpath(path)))
    filename = os.path.abspath(path)
    with open(path, "rb") as f:
        source = f.read()
    code = compile(source, filename, "exec", dont_inherit=True)
    from importlib.machinery import SourceFileLoader

    namespace = sys.modules["__main__"].__dict__
    namespace.clear()
    namespace.update(
        __name__="__main__",
        __doc__=None,
        __package__=None,
        __spec__=None,
        __loader__=SourceFileLoader("__main__", filename),
        __file__=filename,
        __cached__=None,
        __builtins__=builtins,
        __annotations__={},
    )
    exec(code, namespace)
