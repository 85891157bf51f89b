"""The SIGKILL campaign kept in the suite (issue 17): on every store that outlives a process
(files, SQLite, PostgreSQL, a tracking server), a child logging metrics and params at a
steady rate is killed at random moments, again and again. After each kill what is stored is
counted against what was logged: no value twice, no gap (a prefix of what was logged), nothing
that was not logged, and everything logged more than ~1.3 s before the kill is there (durable
within the flush interval of 1 s, plus a write's own time)."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import pytest

import autolog
from autolog.errors import NotFoundError

pytestmark = pytest.mark.slow

KILLS = 10  # per store, at least (the floor)
DURABLE_S = 1.3  # logged this long before the kill: stored
PARAM_EVERY = 10  # a param per this many metric values
PRINT_EVERY = 10  # the child says how far it got once per this many values

# Logs step i (value i) at ~500 values/s, a param p<i> every PARAM_EVERY steps, and prints
# "i time" after each PRINT_EVERY-th value: what was logged by when, read after the kill.
CHILD = f"""
import sys, time
import autolog
from autolog.errors import NotFoundError
autolog.set_tracking_uri(sys.argv[1])
run = autolog.start_run()
print(run.info.run_id, flush=True)
i = 0
while True:
    autolog.log_metric("i", i, step=i)
    if i % {PARAM_EVERY} == 0:
        autolog.log_param(f"p{{i}}", i)
    if i % {PRINT_EVERY} == 0:
        print(i, time.time(), flush=True)
    i += 1
    time.sleep(0.002)
"""


@pytest.fixture(
    params=[
        "file",
        "sqlite",
        pytest.param("postgresql", marks=pytest.mark.postgres),
        pytest.param("server", marks=pytest.mark.server),
    ]
)
def surviving_uri(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A tracking URI of each kind that keeps what was written when its writer dies."""
    if request.param == "file":
        return (tmp_path / "files").as_uri()
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path}/runs.db"
    uri: str = request.getfixturevalue(
        "postgres_uri" if request.param == "postgresql" else "rest_uri"
    )
    return uri


@dataclass
class Killed:
    """One child: its run, how far it said it got (index, time), and when it was killed."""

    run_id: str
    progress: list[tuple[int, float]]
    killed_at: float
    lived: float


def _kill_one(uri: str, cwd: Path, after: float) -> Killed:
    child = subprocess.Popen(
        [sys.executable, "child.py", uri],
        cwd=cwd,
        env={**os.environ, "AUTOLOG_FLUSH_INTERVAL": "1.0"},
        stdout=subprocess.PIPE,
        text=True,
    )
    assert child.stdout is not None
    with child.stdout:
        run_id = child.stdout.readline().strip()
        started = time.time()
        time.sleep(after)
        child.send_signal(signal.SIGKILL)
        killed_at = time.time()
        child.wait(30)
        progress = _progress(child.stdout)
    assert run_id, "the child did not start its run"
    return Killed(run_id, progress, killed_at, killed_at - started)


def _progress(lines: Iterable[str]) -> list[tuple[int, float]]:
    """The child's "i time" lines. A line cut short by the kill (or anything else the child
    printed) claims nothing, so it is left out: the checks only ever use what was said."""
    progress = []
    for line in lines:
        fields = line.split()
        try:
            progress.append((int(fields[0]), float(fields[1])))
        except (IndexError, ValueError):
            continue
    return progress


def _check(client: autolog.Client, killed: Killed, seed: int) -> tuple[int, int]:
    """Assert what is stored of one killed child; returns (values logged at least, stored)."""
    where = f"run {killed.run_id} killed after {killed.lived:.2f} s (seed {seed})"
    last = killed.progress[-1][0] if killed.progress else -1
    # The child logged at least up to ``last``, and at most PRINT_EVERY values beyond it.
    durable = max((i for i, t in killed.progress if t <= killed.killed_at - DURABLE_S), default=-1)
    try:
        history = client.get_metric_history(killed.run_id, "i")
    except NotFoundError:  # killed before its run's creation was written: nothing was
        assert durable < 0, f"{where}: the run was lost"
        return last + 1, 0
    steps = [m.step for m in history]
    assert len(set(steps)) == len(steps), f"{where}: values stored twice"
    assert steps == list(range(len(steps))), f"{where}: not a prefix of what was logged"
    assert all(m.value == m.step for m in history), f"{where}: a value that was not logged"
    assert len(steps) <= last + PRINT_EVERY + 1, f"{where}: more stored than logged"
    assert len(steps) > durable, f"{where}: logged {DURABLE_S} s before the kill, not stored"
    params = client.get_run(killed.run_id).data.params
    logged_params = {f"p{i}": str(i) for i in range(0, len(steps) + PRINT_EVERY, PARAM_EVERY)}
    assert set(params) <= set(logged_params), f"{where}: a param that was not logged"
    assert all(params[k] == logged_params[k] for k in params), f"{where}: a param changed"
    indexes = sorted(int(k[1:]) for k in params)
    assert indexes == list(range(0, len(indexes) * PARAM_EVERY, PARAM_EVERY)), (
        f"{where}: params not a prefix"
    )
    durable_params = {f"p{i}" for i in range(0, durable + 1, PARAM_EVERY)}
    assert durable_params <= set(params), f"{where}: params logged {DURABLE_S} s before lost"
    return last + 1, len(steps)


def test_sigkill_at_random_moments_never_duplicates_tears_or_loses_the_durable(
    surviving_uri: str, tmp_path: Path
) -> None:
    (tmp_path / "child.py").write_text(CHILD)
    seed = random.randrange(2**32)
    moments = random.Random(seed)
    # Two children at a time: ten kills in ~10 s of wall time per store on two cores. Most
    # live past the durability horizon; some are killed early, while starting to write.
    delays = [moments.uniform(0.3, 2.2) for _ in range(KILLS)]
    with ThreadPoolExecutor(2) as pool:
        killed = list(pool.map(lambda d: _kill_one(surviving_uri, tmp_path, d), delays))
    assert len({k.run_id for k in killed}) == KILLS
    logged = stored = 0
    with autolog.Client(surviving_uri) as client:
        for one in killed:
            at_least, kept = _check(client, one, seed)
            logged, stored = logged + at_least, stored + kept
    # across the kills, most of what was logged is stored (each loses at most its last second)
    assert stored >= logged - KILLS * 1.3 * 600, (logged, stored, seed)
