"""The gallery of upstream-shaped scripts in ``tests/upstream/``: each one recorded right.

Every ``tests/upstream/<framework>_<name>.py`` is a small training script written in the shape
of one of the framework's own examples (its docstring says which): the same calls in the same
order, on small synthetic or bundled data so that it runs in seconds. The script itself knows
nothing of autolog. Here each one runs as ``__main__``, in a fresh folder, under
``autolog.autolog()``, with its printed output captured; then a run still open (a plain PyTorch
loop's) ends, as it would at exit, and the script's own ``check(printed)`` reads back through
the public API what autolog recorded and compares it with what the script printed.

A script declares the ``AutologWarning``s it must raise in ``EXPECTED_WARNINGS`` (regular
expressions): each must match one, and any other ``AutologWarning`` fails the test. A new
pattern found in an upstream example is one more file.
"""

from __future__ import annotations

import contextlib
import io
import re
import runpy
import sys
import warnings
from pathlib import Path

import pytest

import autolog

GALLERY = Path(__file__).resolve().parent / "upstream"
SCRIPTS = sorted(GALLERY.glob("*.py"))
FRAMEWORKS = {
    "torch": "torch",
    "lightning": "lightning",
    "sklearn": "sklearn",
    "lightgbm": "lightgbm",
    "xgboost": "xgboost",
    "accelerate": "accelerate",
    "transformers": "transformers",
    "optuna": "optuna",
}


# Scripts that start worker processes: seconds each, so `make test-fast` leaves them out.
SPAWNING = {"torch_hogwild_spawn"}


@pytest.mark.parametrize(
    "script",
    [
        pytest.param(s, id=s.stem, marks=pytest.mark.slow if s.stem in SPAWNING else ())
        for s in SCRIPTS
    ],
)
def test_upstream_example_is_recorded_right(script: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    framework = script.stem.partition("_")[0]
    pytest.importorskip(FRAMEWORKS[framework], reason=f"{script.name} needs {framework}")
    monkeypatch.setattr(sys, "argv", [str(script)])
    printed = io.StringIO()
    autolog.autolog()
    try:
        with warnings.catch_warnings(record=True) as caught, contextlib.redirect_stdout(printed):
            warnings.simplefilter("always")
            namespace = runpy.run_path(str(script), run_name="__main__")
            if autolog.active_run() is not None:
                autolog.end_run()  # a plain loop's run ends at exit: here, now
    finally:
        autolog.autolog(disable=True)
    warned = [str(w.message) for w in caught if issubclass(w.category, autolog.AutologWarning)]
    expected = namespace.get("EXPECTED_WARNINGS", [])
    for pattern in expected:
        assert any(re.search(pattern, message) for message in warned), (pattern, warned)
    unexpected = [m for m in warned if not any(re.search(p, m) for p in expected)]
    assert not unexpected, unexpected
    namespace["check"](printed.getvalue())


def test_every_script_has_a_check_and_names_its_shape() -> None:
    for script in SCRIPTS:
        text = script.read_text()
        assert script.stem.partition("_")[0] in FRAMEWORKS, script.name
        assert "\ndef check(printed: str) -> None:" in text, script.name
        assert "Shape of " in text.split('"""')[1], f"{script.name}: which upstream example?"
        assert "autolog" not in text.split("def check(")[0].split('"""', 2)[2], script.name
