"""Integrations hook into exit and fork through ``autolog.lifecycle``, like the core.

So their hooks run in the lifecycle's order (an integration's runs end before the writers
write what is queued; in a forked child, after the stores and writers are made anew) and on
every way out it knows: ``autolog.shutdown()``, SIGTERM and a multiprocessing child's exit, not
only the interpreter's atexit.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from support import REPO, run_script

import autolog
from autolog import RunStatus, lifecycle

# what would hook into the interpreter behind the lifecycle's back
_DIRECT_HOOKS = (
    "import atexit",
    "atexit.register",
    "register_at_fork",
    "signal.signal(",
    "register_after_fork",
)


def test_integrations_hook_into_the_interpreter_only_through_the_lifecycle() -> None:
    offenders = [
        f"{path.name}: {hook}"
        for path in sorted((REPO / "integrations").rglob("*.py"))
        for hook in _DIRECT_HOOKS
        if hook in path.read_text()
    ]
    assert not offenders


def test_autolog_shutdown_ends_a_partial_fit_run() -> None:
    from sklearn.linear_model import SGDClassifier  # here, so collecting costs no sklearn import

    autolog.autolog(integrations=["sklearn"])
    model = SGDClassifier(random_state=0)
    model.partial_fit([[0.0], [1.0]], [0, 1], classes=[0, 1])
    (run,) = autolog.search_runs()
    assert run.info.status is RunStatus.RUNNING
    lifecycle.shutdown()
    assert autolog.get_run(run.info.run_id).info.status is RunStatus.FINISHED


@pytest.mark.slow
def test_a_forked_child_records_its_own_partial_fit_run_and_leaves_the_parents(
    tmp_path: Path,
) -> None:
    done = run_script(
        """
        import multiprocessing as mp
        import autolog
        autolog.autolog()
        from sklearn.linear_model import SGDRegressor

        model = SGDRegressor()

        def more():
            model.partial_fit([[5.0], [6.0]], [5.0, 6.0])

        if __name__ == "__main__":
            model.partial_fit([[1.0], [2.0]], [1.0, 2.0])
            child = mp.get_context("fork").Process(target=more)
            child.start()
            child.join()
            assert child.exitcode == 0
            model.partial_fit([[3.0], [4.0]], [3.0, 4.0])
        """,
        tmp_path,
    )
    assert done.returncode == 0, done.stderr
    client = autolog.Client(f"sqlite:///{tmp_path}/autolog-runs/autolog.db")
    runs = client.search_runs()
    # the child's run ended with the child (multiprocessing's exit), the parent's at exit
    assert [r.info.status for r in runs] == [RunStatus.FINISHED, RunStatus.FINISHED]
    steps = sorted(
        [m.step for m in client.get_metric_history(r.info.run_id, "partial_fit_time")] for r in runs
    )
    assert steps == [[0], [0, 1]]
