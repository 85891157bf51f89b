"""Helpers of the tracking tests: the rules suite (test_tracking_rules.py, ``Tracking`` over the
memory engine) and the engine suite (test_engine_contract.py, every engine and the REST round
trip).

``EVERY_ENGINE`` parametrises conftest's ``store_uri`` (and so ``store``) over the stores that
are a ``Tracking`` over an engine of their own, for tests that reach ``store.engine``.
"""

from __future__ import annotations

import math
import subprocess
import sys
import threading
import uuid
from collections.abc import Callable, Mapping
from typing import TypeVar

import pytest

from autolog.entities import ModelVersion
from autolog.stores import Store

__all__ = [
    "DURABLE_ENGINES",
    "EVERY_ENGINE",
    "HASH_A",
    "HASH_B",
    "HASH_C",
    "HASH_D",
    "T0",
    "dead_runner",
    "logged_model",
    "new_run",
    "register",
    "run_in_threads",
    "same_float",
]

T = TypeVar("T")

T0 = 1_700_000_000_000  # ms since the epoch: past 2**31, so 32-bit columns would not do
HASH_A = "a" * 64
HASH_B = "b" * 64
HASH_C = "c" * 64
HASH_D = "d" * 64

#: conftest's ``store_uri`` over the kinds that keep runs in an engine (not the REST store)
EVERY_ENGINE = pytest.mark.parametrize(
    "store_uri",
    [
        pytest.param("memory", id="memory"),
        pytest.param("file", id="file"),
        pytest.param("sqlite", id="sqlite"),
        pytest.param("postgresql", id="postgresql", marks=pytest.mark.postgres),
    ],
    indirect=True,
)

#: the same over the engines that keep runs across processes (not the memory engine)
DURABLE_ENGINES = pytest.mark.parametrize(
    "store_uri",
    [
        pytest.param("file", id="file"),
        pytest.param("sqlite", id="sqlite"),
        pytest.param("postgresql", id="postgresql", marks=pytest.mark.postgres),
    ],
    indirect=True,
)


def new_run(
    store: Store,
    experiment: str = "exp",
    *,
    run_id: str | None = None,
    run_name: str = "run",
    start_time: int = T0,
    parent_run_id: str | None = None,
    tags: Mapping[str, str] | None = None,
) -> str:
    """Create a run in the experiment named ``experiment`` and return its id."""
    run_id = run_id or uuid.uuid4().hex
    experiment_id = store.get_or_create_experiment(experiment).experiment_id
    store.create_run(
        run_id,
        experiment_id,
        run_name,
        start_time,
        f"file:///artifacts/{run_id}",
        parent_run_id,
        tags or {},
    )
    return run_id


def logged_model(store: Store, run_id: str | None = None, path: str = "model") -> str:
    """Record a model (as log_model does) in ``run_id`` (a new run by default); its source."""
    run_id = run_id or new_run(store)
    store.record_model(run_id, path, {f"{path}/model.pkl": HASH_A, f"{path}/meta.json": HASH_B})
    return f"runs:/{run_id}/{path}"


def register(store: Store, name: str, source: str) -> ModelVersion:
    """Register the model at ``source`` (``runs:/<run_id>/<path>``) as a version of ``name``."""
    return store.create_model_version(name, source, source.split("/")[1])


def same_float(actual: float, expected: float) -> bool:
    """Exact equality that tells NaN from NaN-less values and -0.0 from 0.0."""
    if not isinstance(actual, float):
        return False
    if math.isnan(expected):
        return math.isnan(actual)
    return actual == expected and math.copysign(1.0, actual) == math.copysign(1.0, expected)


def run_in_threads(count: int, target: Callable[[int], T]) -> list[T]:
    """Run ``target(i)`` in ``count`` threads started together; re-raise the first error."""
    barrier = threading.Barrier(count)
    results: dict[int, T] = {}
    errors: list[BaseException] = []

    def work(i: int) -> None:
        try:
            barrier.wait()
            results[i] = target(i)
        except BaseException as exc:  # collected and re-raised on the main thread
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not any(thread.is_alive() for thread in threads), "a thread hung"
    if errors:
        raise errors[0]
    return [results[i] for i in range(count)]


def dead_runner() -> str:
    """The ``autolog.runner`` identity of a process that has exited: a real one, printed by a
    short-lived child (its pid and start ticks, so a reused pid is not taken for it)."""
    done = subprocess.run(
        [sys.executable, "-c", "from autolog import context; print(context.process_identity())"],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    return done.stdout.strip()
