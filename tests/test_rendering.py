"""One rule turns every param and tag value into the string that is stored."""

from __future__ import annotations

import enum
import functools
import subprocess
import sys
from collections import namedtuple
from pathlib import Path
from typing import Any

import pytest

import autolog
from autolog.rendering import render


def refit_strategy(results: Any) -> int:
    return 0


class Plain:
    pass


class Shown:
    def __repr__(self) -> str:
        return "Shown()"


class Broken:
    def __str__(self) -> str:
        raise RuntimeError("no")


class Color(enum.Enum):
    RED = 1


Point = namedtuple("Point", "x y")
HERE = __name__


@pytest.mark.parametrize(
    ("value", "text"),
    [
        ("rbf", "rbf"),
        ("", ""),
        (0.1, "0.1"),
        (1e-05, "1e-05"),
        (1.0, "1.0"),
        (float("nan"), "nan"),
        (3, "3"),
        (True, "True"),
        (None, "None"),
        (2 + 1j, "(2+1j)"),
        (b"x", "b'x'"),
        (Color.RED, "Color.RED"),
        (refit_strategy, f"{HERE}.refit_strategy"),
        (len, "len"),
        (Plain, f"{HERE}.Plain"),
        (Plain(), f"{HERE}.Plain"),
        (Shown(), "Shown()"),
        (Broken(), f"{HERE}.Broken"),
        (Path("a/b"), "a/b"),
        ([1, "a", None], "[1, 'a', None]"),
        ((0.5,), "(0.5,)"),
        ((), "()"),
        (Point(1, "y"), "Point(x=1, y='y')"),
        ({"l2", "l1"}, "{'l1', 'l2'}"),
        (set(), "set()"),
        (frozenset({2, 1}), "frozenset({1, 2})"),
        (
            {"b": 1, "a": [Plain(), refit_strategy]},
            f"{{'a': [{HERE}.Plain, {HERE}.refit_strategy], 'b': 1}}",
        ),
        (
            functools.partial(refit_strategy, 1, k=2),
            f"functools.partial({HERE}.refit_strategy, 1, k=2)",
        ),
        ([Shown(), Path("p")], "[Shown(), 'p']"),
    ],
)
def test_the_rule(value: object, text: str) -> None:
    assert render(value) == text


def test_numpy_and_torch_values_as_python_prints_them() -> None:
    np = pytest.importorskip("numpy")
    assert render(np.float32(0.1)) == "0.1"
    assert render(np.float64(0.1)) == "0.1"
    assert render(np.int64(5)) == "5"
    assert render(np.bool_(True)) == "True"
    assert render(np.array(0.25)) == "0.25"
    assert render(np.array([0.1, 0.2], dtype=np.float32)) == "[0.1, 0.2]"
    assert render(np.array([[1, 2], [3, 4]])) == "[[1, 2], [3, 4]]"
    assert render(np.mean) == "numpy.mean"
    torch = pytest.importorskip("torch")
    assert render(torch.tensor(0.5)) == "0.5"
    assert render(torch.tensor([1, 2])) == "[1, 2]"


def test_addresses_inside_other_representations_are_removed() -> None:
    class Holder:
        def __repr__(self) -> str:
            return f"Holder(f={refit_strategy!r}, o={object()!r})"

    assert render(Holder()) == "Holder(f=refit_strategy, o=object)"
    assert render([Holder()]) == "[Holder(f=refit_strategy, o=object)]"


def test_cycles_and_deep_nesting_end() -> None:
    loop: list[Any] = [1]
    loop.append(loop)
    assert render(loop) == "[1, ...]"
    deep: list[Any] = []
    for _ in range(40):
        deep = [deep]
    assert "..." in render(deep)


def test_the_same_value_is_the_same_string_in_every_process(tmp_path: Path) -> None:
    code = "from autolog.rendering import render; print(render({'metric': {'l2', 'l1', 'auc'}}))"
    outputs = {
        subprocess.run(
            [sys.executable, "-c", code],
            env={"PYTHONHASHSEED": seed, "PATH": ""},
            capture_output=True,
            text=True,
            check=True,
            cwd=tmp_path,
        ).stdout
        for seed in ("1", "2", "3")
    }
    assert outputs == {"{'metric': {'auc', 'l1', 'l2'}}\n"}


def test_log_param_and_tags_use_the_rule_and_filters_find_the_values() -> None:
    with autolog.start_run() as run:
        autolog.log_params({"refit": refit_strategy, "kernel": "rbf", "metric": {"l2", "l1"}})
        autolog.set_tag("made_by", refit_strategy)
        autolog.log_param("refit", refit_strategy)  # the same value again: no collision
    stored = autolog.get_run(run.info.run_id)
    assert stored.data.params["refit"] == f"{HERE}.refit_strategy"
    assert stored.data.params["metric"] == "{'l1', 'l2'}"
    assert stored.data.tags["made_by"] == f"{HERE}.refit_strategy"
    found = autolog.search_runs(filter_string="params.kernel = 'rbf'")
    assert [r.info.run_id for r in found] == [run.info.run_id]
