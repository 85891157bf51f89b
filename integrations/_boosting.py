"""What the LightGBM and XGBoost integrations share: a native ``train()`` that an sklearn-style
``fit`` calls.

Both frameworks offer ``train`` and ``cv`` functions, and estimators whose ``fit`` calls that
``train``. Whichever the user calls, one outermost call makes one run:

- ``train`` or ``cv`` called by the user: ``booster_hook`` opens a session tagged
  ``<framework>.train`` (or ``.cv``) and hands the call to the integration's recorder;
- ``fit`` called by the user: ``record_fit`` opens the session, logs the estimator's params,
  leaves a ``FitState`` note in it and logs ``fit_time``, the training scores and the estimator
  as the model afterwards; the ``train`` inside finds the note (``booster_hook``) and its
  recorder adds the iterations to the same run, under the estimator's params;
- anything else: calls the framework or scikit-learn makes itself with no session open (a
  search's clones, ``train`` from a ``fit`` we do not record), and ``train`` or ``cv`` inside a
  session without the note (a Pipeline recorded by the scikit-learn integration), are left
  alone: the outer record, if any, stands for the whole call.

Also the small pieces both write alike: metric keys made of names the user chose
(``metric_key``), params logged once in the order that gives the right value precedence
(``log_new_params``), a CSV table as an artifact (``log_table``) and the scikit-learn
integration's training scores (``sklearn_scores``).

Nothing here imports a framework: the integrations hand in what they found.
"""

from __future__ import annotations

import csv
import functools
import inspect
import re
import sys
import tempfile
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

import autolog
from autolog.integrations import (
    Call,
    HookGenerator,
    Patcher,
    Session,
    current,
    current_settings,
    made_by,
    training_scores,
    training_session,
)

__all__ = [
    "MAX_KEY",
    "FitState",
    "Framework",
    "RecordTraining",
    "Training",
    "booster_hook",
    "log_new_params",
    "log_table",
    "metric_key",
    "record_fit",
    "sklearn_scores",
    "wrap_train_and_cv",
]

#: the longest metric key written (the store's limit)
MAX_KEY = 250
_BAD_KEY_CHARS = re.compile(r"[\x00-\x1f\x7f\\]")


@dataclass(frozen=True)
class Framework:
    """A boosting framework as the shared hooks name it."""

    #: the package and integration name: tags ``<name>.train``, flavor ``<name>``
    name: str
    #: packages whose own calls are not outermost: scikit-learn's (a search's clones, the folds
    #: of ``cross_val_score``) and the framework's (``train`` from ``fit``, a subclass's
    #: ``fit`` calling its base's) belong to the outer call, recorded or not
    internal: tuple[str, ...]

    @property
    def fit_note(self) -> str:
        """The key of the ``FitState`` note in a ``fit`` session."""
        return f"{self.name}.fit"


class FitState:
    """What the session of an sklearn-style ``fit`` shares with the ``train`` inside it."""

    __slots__ = ("logged", "trained")

    def __init__(self) -> None:
        #: the inner train() was recorded: a second one (a refit) adds nothing
        self.trained = False
        #: the params logged so far (the estimator's own first: they win over train()'s)
        self.logged: set[str] = set()


@dataclass(frozen=True)
class Training:
    """One ``train`` or ``cv`` call being recorded, as the integration's recorder gets it."""

    kind: str  # "train" or "cv"
    call: Call
    session: Session
    #: the call's arguments as given; the recorder may replace some (its callback added)
    bound: inspect.BoundArguments
    #: every parameter by name, the defaults of those not given included
    arguments: Mapping[str, Any]
    #: the state of the sklearn-style ``fit`` this call runs inside, or None for the user's own
    fit: FitState | None


#: An integration's recorder of one ``train`` or ``cv`` call: a hook generator that yields
#: the ``(args, kwargs)`` to train with once, and records what training returned.
RecordTraining = Callable[[Training], HookGenerator]


def wrap_train_and_cv(
    patcher: Patcher,
    framework: Framework,
    package: ModuleType,
    engine: ModuleType,
    signature: Callable[[Callable[..., Any]], inspect.Signature],
    record: RecordTraining,
) -> None:
    """Route ``engine.train`` and ``engine.cv`` through ``booster_hook`` on every route to
    them: ``package`` re-exports both, and its scikit-learn API calls the ``train`` it
    imported. ``signature(function)`` gives the signature calls of ``function`` are bound with.
    """
    sklearn_api = sys.modules.get(f"{package.__name__}.sklearn")
    train_routes = [(package, "train")]
    if sklearn_api is not None:
        train_routes.append((sklearn_api, "train"))
    for kind, routes in (("train", train_routes), ("cv", [(package, "cv")])):
        hook = functools.partial(
            booster_hook, framework, kind, signature(getattr(engine, kind)), record
        )
        patcher.wrap(engine, kind, hook, aliases=routes)


def booster_hook(
    framework: Framework,
    kind: str,
    signature: inspect.Signature,
    record: RecordTraining,
    call: Call,
) -> HookGenerator:
    """The hook of ``train`` and ``cv``: decides whether the call is recorded, and into which
    session (see the module docstring), then lets ``record`` record it."""
    session = current()
    state = None
    if session is None and made_by(call, *framework.internal):
        return  # train() of a fit we do not record
    if session is not None:
        # Only the inner train() of a fit we record adds to an open session.
        state = session.notes.get(framework.fit_note)
        if kind != "train" or not isinstance(state, FitState) or state.trained:
            return
    try:
        bound = signature.bind(*call.args, **call.kwargs)
    except TypeError:
        return  # a call the framework itself will refuse: let it, untouched
    callbacks = bound.arguments.get("callbacks")
    if callbacks is not None and not isinstance(callbacks, (list, tuple)):
        return  # an iterable we could only read by consuming it
    arguments = {
        name: parameter.default for name, parameter in signature.parameters.items()
    } | dict(bound.arguments)
    if session is not None and state is not None:
        state.trained = True
        yield from record(Training(kind, call, session, bound, arguments, state))
        return
    tags = {"autolog.estimator": f"{framework.name}.{kind}"}
    with training_session(call, tags=tags) as session:
        yield from record(Training(kind, call, session, bound, arguments, None))


def record_fit(
    framework: Framework,
    call: Call,
    params: Callable[[], Mapping[str, Any]],
    data: tuple[Any, Any, Any],
) -> HookGenerator:
    """The session of an outermost sklearn-style ``fit``: the estimator's ``params()`` before
    training (a fit that raises keeps them; the inner ``train`` logs only what they lack),
    then ``fit_time``, the training scores on ``data`` (X, y, sample_weight) when the
    scikit-learn integration is on, and the estimator as the model."""
    estimator = call.instance
    with training_session(call, tags={"autolog.estimator": type(estimator).__name__}) as session:
        state = session.notes[framework.fit_note] = FitState()
        log_new_params(session, params(), state.logged)
        started = time.perf_counter()
        yield call.args, call.kwargs
        seconds = time.perf_counter() - started
        client, run_id = session.client, session.run_id
        client.log_metrics(run_id, {"fit_time": seconds, **sklearn_scores(estimator, *data)})
        if call.settings.log_models:
            client.log_model(
                run_id, estimator, "model", flavor=framework.name, input_example=data[0]
            )


def log_new_params(session: Session, params: Mapping[str, Any], logged: set[str]) -> None:
    """Log the params not logged yet (those logged first win: the values as given), and
    remember them."""
    new = {key: value for key, value in params.items() if key not in logged}
    if new:
        session.log_params(new)
        logged.update(new)


def metric_key(text: str) -> str:
    """``text`` as a valid metric key: the names of eval sets and custom metrics are the
    user's, and may hold control characters, backslashes or ``..`` path parts."""
    text = _BAD_KEY_CHARS.sub("_", text)
    parts = ["_" if part in ("", ".", "..") else part for part in text.split("/")]
    return "/".join(parts)[:MAX_KEY]


def log_table(
    client: autolog.Client,
    run_id: str,
    name: str,
    header: Sequence[str],
    rows: Iterable[Sequence[Any]],
) -> None:
    """Log ``rows`` under ``header`` as the CSV artifact ``name`` (feature importance)."""
    with tempfile.TemporaryDirectory(prefix="autolog-") as folder:
        table = Path(folder) / name
        with table.open("w", newline="", encoding="utf-8") as f:
            writer = csv.writer(f)
            writer.writerow(header)
            writer.writerows(rows)
        client.log_artifact(run_id, table)


def sklearn_scores(estimator: Any, X: Any, y: Any, sample_weight: Any) -> dict[str, float]:
    """The scikit-learn integration's training scores, when that integration is on too."""
    settings = current_settings("sklearn")
    if settings is None or settings.disable:
        return {}
    if not getattr(settings.options, "log_training_metrics", False):
        return {}
    if X is None or y is None:
        return {}
    return training_scores(estimator, X, y, sample_weight)
