"""Did a rerun reproduce its run? Params, final metrics, the model's predictions, inputs.

Every metric's latest value is compared within a relative tolerance (NaN equals NaN), except
the metrics that measure time or resources (``is_timing_metric``): those differ from one run to
the next by nature, and are listed as not compared. Params set by ``--set`` are expected to
differ and are shown as such. The model logged as ``model`` is loaded from both runs (verified
against the store's hashes) and run on the original's input example. Recorded inputs
(``autolog.input.<NAME>``) must have the same SHA-256.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from autolog.errors import AutologError
from autolog.projects.inputs import TAG_INPUT_PREFIX

if TYPE_CHECKING:
    from autolog.client import Client
    from autolog.entities import Run

__all__ = [
    "Comparison",
    "Difference",
    "InputCheck",
    "check_inputs",
    "compare_inputs",
    "compare_metrics",
    "compare_params",
    "compare_predictions",
    "compare_runs",
    "is_timing_metric",
    "predictions_differ",
    "recorded_inputs",
    "same_number",
]

MODEL_NAME = "model"  # where every integration logs its trained model

#: metrics ``autolog run`` records of the process: time and resources, never compared
_TIMING_NAMES = frozenset({"autolog.wall_time_s", "autolog.cpu_time_s", "autolog.peak_memory_mb"})
#: ends of the integrations' timing metric names (alone, or after ``<prefix>_``):
#: fit_time, partial_fit_time (scikit-learn, boosting's scikit-learn API), mean_/std_fit_time
#: and mean_/std_score_time (search candidates), epoch_time, data_time, compute_time,
#: samples_per_second (PyTorch loops), train_/eval_/test_runtime and *_samples_per_second,
#: *_steps_per_second (transformers' Trainer)
_TIMING_ENDINGS = (
    "fit_time",
    "score_time",
    "epoch_time",
    "data_time",
    "compute_time",
    "runtime",
    "samples_per_second",
    "steps_per_second",
)
_WORKER_SUFFIX = re.compile(r"/worker_\d+$")  # a data-loader worker's copy of a metric


@dataclass(frozen=True)
class Difference:
    """One thing that differs: ``section`` is run, param, metric, prediction or input;
    ``expected`` marks a param that ``--set`` changed."""

    section: str
    key: str
    original: str
    rerun: str
    expected: bool = False
    note: str = ""


@dataclass(frozen=True)
class Comparison:
    """What differs between a run and its rerun, and what was left out and why."""

    differences: tuple[Difference, ...]
    not_compared: tuple[tuple[str, str], ...]  # (what, why)
    metrics_compared: int
    params_compared: int = 0
    inputs_compared: int = 0

    def summary(self) -> str:
        """What was compared, in words: "12 params, 7 metrics, the model's predictions on its
        input example and 1 input"."""
        parts = [
            _counted(self.params_compared, "param"),
            _counted(self.metrics_compared, "metric"),
        ]
        if not any(what == "predictions" for what, _ in self.not_compared):
            parts.append("the model's predictions on its input example")
        if self.inputs_compared:
            parts.append(_counted(self.inputs_compared, "input"))
        return ", ".join(parts[:-1]) + " and " + parts[-1]

    @property
    def reproduced(self) -> bool:
        """Nothing differs but what ``--set`` changed."""
        return all(d.expected for d in self.differences)


@dataclass(frozen=True)
class InputCheck:
    """A recorded input as it is now: ``state`` is same, differs or missing."""

    name: str
    path: str
    state: str
    recorded_sha256: str
    current_sha256: str | None


def is_timing_metric(key: str) -> bool:
    """Whether ``key`` measures time or resources (never compared between runs)."""
    if key.startswith("system/"):
        return True
    base = _WORKER_SUFFIX.sub("", key)
    if base in _TIMING_NAMES:
        return True
    return any(base == end or base.endswith("_" + end) for end in _TIMING_ENDINGS)


def same_number(a: float, b: float, rtol: float) -> bool:
    """``a`` and ``b`` agree within the relative tolerance ``rtol``; NaN equals NaN."""
    if math.isnan(a) or math.isnan(b):
        return math.isnan(a) and math.isnan(b)
    if a == b:
        return True  # infinities of the same sign included
    if math.isinf(a) or math.isinf(b):
        return False  # no tolerance brings a number to an infinity
    return abs(a - b) <= rtol * max(abs(a), abs(b))


def compare_runs(
    client: Client, original: Run, rerun: Run, *, rtol: float, overridden: Collection[str] = ()
) -> Comparison:
    """Compare ``rerun`` with ``original``: status, params, metrics, predictions, inputs."""
    differences: list[Difference] = []
    if str(rerun.info.status) != str(original.info.status):
        differences.append(
            Difference("run", "status", str(original.info.status), str(rerun.info.status))
        )
    differences += compare_params(original.data.params, rerun.data.params, overridden)
    metric_differences, timing = compare_metrics(original.data.metrics, rerun.data.metrics, rtol)
    differences += metric_differences
    not_compared = [(f"metric {key}", "time or resources") for key in timing]
    predicted, why = compare_predictions(client, original.info.run_id, rerun.info.run_id, rtol)
    differences += predicted
    if why:
        not_compared.append(("predictions", why))
    differences += compare_inputs(original.data.tags, rerun.data.tags)
    compared = len(set(original.data.metrics) | set(rerun.data.metrics)) - len(timing)
    inputs = {
        key for key in (*original.data.tags, *rerun.data.tags) if key.startswith(TAG_INPUT_PREFIX)
    }
    return Comparison(
        tuple(differences),
        tuple(not_compared),
        compared,
        params_compared=len(set(original.data.params) | set(rerun.data.params)),
        inputs_compared=len(inputs),
    )


def _counted(n: int, what: str) -> str:
    return f"{n} {what}" + ("" if n == 1 else "s")


def compare_params(
    original: Mapping[str, str], rerun: Mapping[str, str], overridden: Collection[str] = ()
) -> list[Difference]:
    """Params that differ or are in one run only; those named in ``overridden`` (``--set``
    names: dashes and underscores alike) are marked expected."""
    expected = {_option_name(name) for name in overridden}
    found = []
    for key in sorted(set(original) | set(rerun)):
        before, after = original.get(key), rerun.get(key)
        if before != after:
            found.append(
                Difference(
                    "param",
                    key,
                    _shown(before),
                    _shown(after),
                    expected=_option_name(key) in expected,
                    note="set by --set" if _option_name(key) in expected else "",
                )
            )
    return found


def compare_metrics(
    original: Mapping[str, float], rerun: Mapping[str, float], rtol: float
) -> tuple[list[Difference], list[str]]:
    """Latest values that differ beyond ``rtol`` or are in one run only; and the timing and
    resource metrics left out."""
    found, timing = [], []
    for key in sorted(set(original) | set(rerun)):
        if is_timing_metric(key):
            timing.append(key)
            continue
        before, after = original.get(key), rerun.get(key)
        if before is None or after is None:
            found.append(Difference("metric", key, _shown(before), _shown(after)))
        elif not same_number(before, after, rtol):
            note = ""
            if math.isfinite(before) and math.isfinite(after):
                note = f"relative difference {_relative(before, after):.3g}"
            found.append(Difference("metric", key, repr(before), repr(after), note=note))
    return found, timing


def compare_predictions(
    client: Client, original_id: str, rerun_id: str, rtol: float, name: str = MODEL_NAME
) -> tuple[list[Difference], str]:
    """The two runs' models ``name`` on the original's input example: what differs, and why
    nothing was compared ("" when it was)."""
    from autolog.errors import NotFoundError

    uri = f"runs:/{original_id}/{name}"
    try:
        info = client.get_model_info(uri)
    except NotFoundError:
        return [], "the run logged no model"
    if info.input_example is None:
        return [], "the model has no input example"
    data = _example_data(info.input_example)
    try:
        before = client.load_predictor(uri).predict(data)
    except (AutologError, ImportError) as exc:
        return [], f"the original model cannot be loaded or run here: {exc}"
    try:
        after = client.load_predictor(f"runs:/{rerun_id}/{name}").predict(data)
    except NotFoundError:
        return [Difference("prediction", name, "a model", "no model")], ""
    except (AutologError, ImportError) as exc:
        return [Difference("prediction", name, "predicts", f"fails: {exc}")], ""
    difference = predictions_differ(before, after, rtol)
    if difference is None:
        return [], ""
    return [Difference("prediction", name, "as recorded", "differs", note=difference)], ""


def predictions_differ(before: Any, after: Any, rtol: float) -> str | None:
    """How two predictions differ (None when they agree within ``rtol``)."""
    import numpy as np

    a, b = _array(before), _array(after)
    if a.shape != b.shape:
        return f"shape {list(a.shape)} -> {list(b.shape)}"
    if a.dtype.kind in "fciub" and b.dtype.kind in "fciub":
        x, y = a.astype(np.float64).ravel(), b.astype(np.float64).ravel()
        bad = [i for i in range(x.size) if not same_number(float(x[i]), float(y[i]), rtol)]
        if not bad:
            return None
        worst = max(_relative(float(x[i]), float(y[i])) for i in bad)
        return f"{len(bad)} of {x.size} values differ (largest relative difference {worst:.3g})"
    unequal = int(np.sum(a.ravel() != b.ravel()))
    return None if unequal == 0 else f"{unequal} of {a.size} values differ"


def compare_inputs(original: Mapping[str, str], rerun: Mapping[str, str]) -> list[Difference]:
    """Recorded inputs (``autolog.input.<NAME>`` tags) whose SHA-256 differs or that one run
    lacks."""
    before, after = recorded_inputs(original), recorded_inputs(rerun)
    found = []
    for name in sorted(set(before) | set(after)):
        a, b = before.get(name), after.get(name)
        sha_a = str(a.get("sha256", "")) if a else None
        sha_b = str(b.get("sha256", "")) if b else None
        if sha_a != sha_b:
            path = str((a or b or {}).get("path", ""))
            found.append(
                Difference("input", name, _short_hash(sha_a), _short_hash(sha_b), note=path)
            )
    return found


def recorded_inputs(tags: Mapping[str, str]) -> dict[str, dict[str, Any]]:
    """The inputs a run recorded: name -> the tag's JSON object (malformed ones left out)."""
    found = {}
    for key, value in tags.items():
        if not key.startswith(TAG_INPUT_PREFIX):
            continue
        try:
            record = json.loads(value)
        except ValueError:
            continue
        if isinstance(record, dict):
            found[key[len(TAG_INPUT_PREFIX) :]] = record
    return found


def check_inputs(tags: Mapping[str, str]) -> list[InputCheck]:
    """Each recorded input as it is now at its recorded path: the same, different, or
    missing (hashed again here, as ``log_input`` hashed it)."""
    from autolog.projects.inputs import input_record

    checks = []
    for name, record in sorted(recorded_inputs(tags).items()):
        path, recorded = str(record.get("path", "")), str(record.get("sha256", ""))
        if not path or not Path(path).exists():
            checks.append(InputCheck(name, path, "missing", recorded, None))
            continue
        current = str(input_record(path).get("sha256", ""))
        state = "same" if current == recorded else "differs"
        checks.append(InputCheck(name, path, state, recorded, current))
    return checks


def _example_data(example: Mapping[str, Any]) -> Any:
    """An input example (``{"columns": [...], "data": [...]}`` or ``{"data": [...]}``) as data
    a predictor takes."""
    columns = example.get("columns")
    data = example.get("data", [])
    if columns:
        return [dict(zip(columns, row, strict=False)) for row in data]
    return data


def _array(value: Any) -> Any:
    import numpy as np

    if hasattr(value, "detach"):  # a tensor
        value = value.detach().cpu().numpy()
    elif hasattr(value, "to_numpy"):  # a DataFrame or Series
        value = value.to_numpy()
    return np.asarray(value)


def _relative(a: float, b: float) -> float:
    scale = max(abs(a), abs(b))
    return abs(a - b) / scale if scale else 0.0


def _option_name(name: str) -> str:
    return name.strip().lstrip("-").replace("-", "_")


def _shown(value: object) -> str:
    return "(absent)" if value is None else str(value)


def _short_hash(sha: str | None) -> str:
    if sha is None:
        return "(absent)"
    return f"sha256 {sha[:12]}" if sha else "(no hash)"
