"""Helpers shared by the tests of the public API (imported by test modules and conftest)."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import autolog
from autolog import lifecycle
from autolog.stores import Store
from autolog.writer import Writer

REPO = Path(__file__).resolve().parent.parent


def reset_autolog() -> None:
    """End and forget every run, close every store: the next test starts from nothing."""
    if "autolog.integrations.patching" in sys.modules:
        from autolog.integrations import patching

        for name in list(patching.registered()):
            patching.configure(name, patching.Settings(disable=True))
    if "autolog.system_metrics" in sys.modules:
        from autolog.system_metrics import follow_runs

        follow_runs(None)
    if "autolog.projects.capture" in sys.modules:
        from autolog.projects.capture import set_logging_code

        set_logging_code(False)
    lifecycle.shutdown(timeout=5.0)
    autolog.set_tracking_uri(None)
    autolog.set_experiment(None)


def run_script(
    code: str,
    cwd: Path,
    *,
    env: dict[str, str] | None = None,
    timeout: float = 120,
    args: list[str] | None = None,
) -> subprocess.CompletedProcess[str]:
    """Run ``code`` in a fresh interpreter (autolog importable), in ``cwd``."""
    script = cwd / "script.py"
    script.write_text(textwrap.dedent(code))
    full_env = {**os.environ}
    full_env.pop("AUTOLOG_TRACKING_URI", None)
    full_env.update(env or {})
    return subprocess.run(
        [sys.executable, str(script), *(args or [])],
        cwd=cwd,
        env=full_env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def queue_run(writer: Writer, store: Store, run_id: str, start_time: int = 1) -> None:
    """Queue the creation of run ``run_id`` (experiment "e") on ``writer``, as a client does
    (started in 1970 unless ``start_time`` says otherwise: the writer holds back a run that
    started moments ago, see ``writer._YOUNG_MS``)."""
    experiment = store.get_or_create_experiment("e")
    writer.create_run(
        run_id,
        experiment_id=experiment.experiment_id,
        run_name=run_id,
        start_time=start_time,
        artifact_uri="file:///tmp/x",
        parent_run_id=None,
        tags={},
    )
