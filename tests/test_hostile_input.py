"""Hostile input through every public function (issue 12): property-based, with hypothesis.

Whatever a caller passes, a public function either works or raises an ``AutologError``
(never a ``TypeError``, ``UnicodeEncodeError``, ``OverflowError`` from deep inside), and what
it accepts every store can hold: the writer never meets a record it must drop, so the suite's
``-W error`` turns any such warning into a failure.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import autolog
from autolog.errors import AutologError

SPECIAL_TEXT = [
    "",
    " ",
    ".",
    "..",
    "/",
    "a/../b",
    "/etc/passwd",
    "C:\\dir\\",
    "a\\'b",
    "'",
    "''",
    '"',
    "`",
    "%",
    "_",
    "\x00",
    "nul\x00in",
    "\ud800",
    "bad\udfff",
    "\x1b[31m",
    "é",
    "🙂",
    "x" * 300,
    "models:/x/1",
    "runs:/",
    "metrics.m > 1 and",
    "attributes.start_time > 1e19",
    "params.p = 'C:\\\\dir\\\\'",
    "99999999999999999999999",
]

# any code point, lone surrogates included (hypothesis leaves them out by default)
hostile_text = st.one_of(
    st.sampled_from(SPECIAL_TEXT),
    st.text(st.characters(exclude_categories=()), max_size=40),
)


class Unprintable:
    def __str__(self) -> str:
        raise RuntimeError("no text for you")

    def __float__(self) -> float:
        raise RuntimeError("no number either")


hostile_value = st.one_of(
    hostile_text,
    st.integers(min_value=-(10**30), max_value=10**30),
    st.sampled_from([10**400, -(10**400), True, None, b"bytes", [1, 2], {"a": 1}, Unprintable()]),
    st.floats(allow_nan=True, allow_infinity=True),
)
hostile_number = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True),
    st.integers(min_value=-(10**30), max_value=10**30),
    st.sampled_from([10**400, None, "1.5", b"1", Unprintable(), True]),
)


@pytest.fixture
def run_and_file(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    """An active run of the default store, and a file to log."""
    artifact = tmp_path / "artifact.txt"
    artifact.write_text("content")
    with autolog.start_run() as run:
        yield run.info.run_id, artifact
    autolog.flush(timeout=30)


def _mapping(key: Any, value: Any) -> Any:
    """``{key: value}`` where the key can be one, else the key itself (not a mapping at all)."""
    try:
        return {key: value}
    except TypeError:
        return key


def _calls(run_id: str, artifact: Path, tmp_path: Path) -> dict[str, Callable[..., Any]]:
    """Each public function, as a call of hostile arguments (a, b, c)."""
    client = autolog.Client(autolog.get_tracking_uri())

    def nested_run(a: Any, b: Any, c: Any) -> None:
        run = autolog.start_run(run_name=a, experiment=b, tags=_mapping(c, c), nested=True)
        run.end()

    def experiment(a: Any, b: Any, c: Any) -> None:
        try:
            autolog.set_experiment(a)
        finally:
            autolog.set_experiment(None)

    def end_nested(a: Any, b: Any, c: Any) -> None:
        run = autolog.start_run(nested=True)
        try:
            autolog.end_run(a)
        finally:
            active = autolog.active_run()
            if active is not None and active.info.run_id == run.info.run_id:
                run.end()

    def tracking_uri(a: Any, b: Any, c: Any) -> None:
        try:
            autolog.set_tracking_uri(a)  # checked, not opened: nothing is written anywhere
        finally:
            autolog.set_tracking_uri(None)

    return {
        "log_param": lambda a, b, c: autolog.log_param(a, b),
        "log_params": lambda a, b, c: autolog.log_params(_mapping(a, b)),
        "set_tag": lambda a, b, c: autolog.set_tag(a, b),
        "set_tags": lambda a, b, c: autolog.set_tags(_mapping(a, b)),
        "log_metric": lambda a, b, c: autolog.log_metric(a, b, step=c),
        "log_metrics": lambda a, b, c: autolog.log_metrics(_mapping(a, b)),
        "client.log_metric": lambda a, b, c: client.log_metric(run_id, a, b, timestamp=c),
        "start_run": nested_run,
        "set_experiment": experiment,
        "set_tracking_uri": tracking_uri,
        "get_run": lambda a, b, c: autolog.get_run(a),
        "search_runs": autolog.search_runs,
        "search_runs(max_results)": lambda a, b, c: autolog.search_runs(max_results=a),
        "get_metric_history": lambda a, b, c: autolog.get_metric_history(run_id, a),
        "list_artifacts": lambda a, b, c: autolog.list_artifacts(run_id, a),
        "download_artifacts": lambda a, b, c: autolog.download_artifacts(
            run_id, a, tmp_path / "downloads"
        ),
        "load_model": lambda a, b, c: autolog.load_model(a),
        "register_model": lambda a, b, c: autolog.register_model(a, b),
        "set_model_alias": autolog.set_model_alias,
        "log_artifact": lambda a, b, c: autolog.log_artifact(artifact, a),
        "log_artifact(path)": lambda a, b, c: autolog.log_artifact(a),
        "log_model": lambda a, b, c: autolog.log_model({"m": 1}, a),
        "end_run(status)": end_nested,
        "client.create_run": lambda a, b, c: client.create_run(a, run_name=b, tags={"t": c}),
    }


@settings(
    max_examples=150,
    deadline=None,
    database=None,  # nothing written in the checkout; a failure prints its example
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    name=st.sampled_from(
        [
            "log_param",
            "log_params",
            "set_tag",
            "set_tags",
            "log_metric",
            "log_metrics",
            "client.log_metric",
            "start_run",
            "set_experiment",
            "set_tracking_uri",
            "get_run",
            "search_runs",
            "search_runs(max_results)",
            "get_metric_history",
            "list_artifacts",
            "download_artifacts",
            "load_model",
            "register_model",
            "set_model_alias",
            "log_artifact",
            "log_artifact(path)",
            "log_model",
            "end_run(status)",
            "client.create_run",
        ]
    ),
    a=st.one_of(hostile_text, hostile_value),
    b=st.one_of(hostile_value, hostile_number),
    c=st.one_of(hostile_text, hostile_number),
)
def test_a_public_function_works_or_raises_an_autolog_error(
    run_and_file: tuple[str, Path], tmp_path: Path, name: str, a: Any, b: Any, c: Any
) -> None:
    run_id, artifact = run_and_file
    call = _calls(run_id, artifact, tmp_path)[name]
    try:
        call(a, b, c)
    except AutologError:
        pass
    except KeyboardInterrupt:  # pragma: no cover
        raise
    except Exception as exc:  # anything else is a bug of ours, named by what broke it
        pytest.fail(f"{name}({a!r}, {b!r}, {c!r}) raised {type(exc).__name__}: {exc}")
    # and whatever was accepted, the store takes: the writer is not held up
    autolog.log_metric("still", 1.0)
    assert autolog.Client(autolog.get_tracking_uri()).flush(timeout=30)


@pytest.mark.parametrize("kind", ["file", "memory"])
@settings(
    max_examples=30,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(key=hostile_text, value=hostile_value, number=hostile_number)
def test_what_logging_accepts_every_store_holds(
    tmp_path: Path, kind: str, key: Any, value: Any, number: Any
) -> None:
    uri = (tmp_path / "files").as_uri() if kind == "file" else "memory:"
    with autolog.Client(uri) as client:
        run_id = client.create_run("e").info.run_id
        for log in (
            lambda: client.log_param(run_id, key, value),
            lambda: client.set_tag(run_id, key, value),
            lambda: client.log_metric(run_id, key, number),
        ):
            try:
                log()
            except AutologError:
                continue
        assert client.flush(timeout=30)
        stored = client.get_run(run_id)
        if isinstance(number, float) and math.isnan(number) and key in stored.data.metrics:
            assert math.isnan(stored.data.metrics[key])
