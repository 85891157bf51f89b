"""What the LightGBM and XGBoost tests share: the data, the readers of a run, and the checks
that hold alike for both integrations (``integrations/_boosting.py`` gives them one shape).

Each test module describes its framework once as a ``Boosting`` case; its tests call the
``check_*`` functions here with it, so both frameworks are held to the very same assertions.
"""

from __future__ import annotations

import csv
import pickle
import threading
import warnings
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

import numpy as np
import pytest

import autolog
from autolog import RunStatus
from autolog.errors import AutologWarning, InvalidInputError

T = TypeVar("T")
ROUNDS = 12


# -- data and readers -----------------------------------------------------------------------


def regression(n: int = 300, features: int = 5, seed: int = 0) -> tuple[Any, Any]:
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, features))
    y = X @ rng.normal(size=features) + np.sin(2 * X[:, 0]) + rng.normal(scale=0.3, size=n)
    return X, y


X, Y = regression()
X_TRAIN, Y_TRAIN, X_VALID, Y_VALID = X[:240], Y[:240], X[240:], Y[240:]


def bare_then_logged(integration: str, train: Callable[[], T], **options: Any) -> tuple[T, T]:
    """``train()`` unpatched, then under autolog() with ``integration`` on: both results."""
    autolog.autolog(integrations=[integration], disable=True)
    bare = train()
    autolog.autolog(integrations=[integration], **options)
    logged = train()
    return bare, logged


def runs() -> list[autolog.Run]:
    autolog.flush()
    return autolog.search_runs()


def only_run() -> autolog.Run:
    found = runs()
    assert len(found) == 1, [r.info.run_name for r in found]
    return found[0]


def history(run: autolog.Run, key: str) -> list[tuple[int, float]]:
    return [(m.step, m.value) for m in autolog.get_metric_history(run.info.run_id, key)]


def artifact_paths(run: autolog.Run, path: str | None = None) -> list[str]:
    return [f.path for f in autolog.list_artifacts(run.info.run_id, path)]


def importance_rows(run: autolog.Run) -> list[dict[str, str]]:
    local = autolog.download_artifacts(run.info.run_id, "feature_importance.csv")
    with open(local, newline="", encoding="utf-8") as f:
        return list(csv.DictReader(f))


@pytest.fixture
def no_autolog_warning() -> Iterator[None]:
    """The bad cases: the framework's own warnings may come, none of ours."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        yield
    ours = [w for w in caught if issubclass(w.category, AutologWarning)]
    assert not ours, [str(w.message) for w in ours]


# -- one framework, as the shared checks see it ---------------------------------------------


@dataclass(frozen=True)
class Boosting:
    """A framework's ways to train, described once by its test module."""

    #: the integration's name (``autolog(integrations=[name])``) and the framework's module
    name: str
    module: Any
    #: ``train(rounds, callbacks, valid)``: ``module.train`` on fresh data, with the
    #: validation set (named as ``metric`` says) or none
    train: Callable[[int, Sequence[Any], bool], Any]
    #: a callback of the framework's that calls the function given after every iteration
    watch: Callable[[Callable[[], None]], Any]
    #: a scikit-learn API regressor with ``n_estimators``, single-threaded, quiet
    regressor: Callable[[int], Any]
    #: identical predictions and trees
    same_model: Callable[[Any, Any], None]
    #: the step metric of the validation set's default metric
    metric: str
    #: a small grid over one of the regressor's params, for a search
    grid: dict[str, list[Any]]

    def enable(self, **options: Any) -> None:
        autolog.autolog(integrations=[self.name], **options)


# -- training, failures and ownership -------------------------------------------------------


def check_keyboard_interrupt_kills_the_run(case: Boosting) -> None:
    case.enable()

    def interrupt() -> None:
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        case.train(ROUNDS, [case.watch(interrupt)], False)
    # an interrupt, not a failure: KILLED under every integration (issue 17)
    assert only_run().info.status is RunStatus.KILLED


def check_threads_get_one_run_each(case: Boosting) -> None:
    case.enable()
    errors: list[BaseException] = []

    def train() -> None:
        try:
            case.train(4, [], True)
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=train) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    found = runs()
    assert len(found) == 3
    for run in found:
        assert run.info.status is RunStatus.FINISHED
        assert len(history(run, case.metric)) == 4


def check_pipelines_and_searches_stay_one_record(case: Boosting) -> None:
    """The scikit-learn integration records them: one run each, no run per step or clone."""
    from sklearn.model_selection import GridSearchCV
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    autolog.autolog(sklearn={"max_tuning_runs": 0})
    pipeline = make_pipeline(StandardScaler(), case.regressor(5))
    pipeline.fit(X_TRAIN, Y_TRAIN)
    assert only_run().data.tags["autolog.estimator"] == "Pipeline"
    search = GridSearchCV(case.regressor(5), case.grid, cv=2)
    search.fit(X_TRAIN, Y_TRAIN)
    estimators = sorted(r.data.tags.get("autolog.estimator", "") for r in runs())
    assert estimators == ["GridSearchCV", "Pipeline"]


# -- patching and options -------------------------------------------------------------------


def check_patched_functions_and_methods_pickle_as_before(case: Boosting) -> None:
    case.enable()
    for function in (case.module.train, case.module.cv):
        assert pickle.loads(pickle.dumps(function)) is function
    model = case.regressor(3).fit(X_TRAIN, Y_TRAIN)
    fit = pickle.loads(pickle.dumps(model.fit))
    assert type(fit.__self__) is type(model)
    assert np.array_equal(pickle.loads(pickle.dumps(model)).predict(X), model.predict(X))


def check_options(case: Boosting) -> None:
    case.enable(log_models=False, **{case.name: {"log_feature_importance": False}})
    case.train(2, [], False)
    run = only_run()
    assert artifact_paths(run) == []
    assert run.data.params["num_boost_round"] == "2"
    unknown: dict[str, Any] = {case.name: {"no_such_option": True}}
    with pytest.raises(InvalidInputError, match=f"{case.name} options"):
        autolog.autolog(**unknown)
    not_a_bool: dict[str, Any] = {case.name: {"log_feature_importance": "yes"}}
    with pytest.raises(InvalidInputError, match="True or False"):
        autolog.autolog(**not_a_bool)


# -- cost: nothing per iteration reaches the store from the training thread -----------------


def check_iterations_do_no_store_io_on_the_training_thread(
    case: Boosting, monkeypatch: pytest.MonkeyPatch
) -> None:
    case.enable()
    with autolog.start_run():
        pass  # the store is open and its writer running
    store = autolog.Client().store
    main = threading.get_ident()
    calls_here: list[str] = []
    for name in ("log_batch", "get_run", "record_artifact_hashes", "get_artifact_hashes"):
        original = getattr(store, name)

        def spy(*args: Any, _name: str = name, _original: Any = original, **kwargs: Any) -> Any:
            if threading.get_ident() == main:
                calls_here.append(_name)
            return _original(*args, **kwargs)

        monkeypatch.setattr(store, name, spy)
    seen: list[int] = []
    case.train(40, [case.watch(lambda: seen.append(len(calls_here)))], True)
    assert len(set(seen)) == 1, seen  # no store call from one iteration to the next


def check_metrics_reach_the_queue_during_training(case: Boosting) -> None:
    case.enable()
    seen: list[int] = []

    def count() -> None:
        run = autolog.active_run()
        assert run is not None
        autolog.flush()
        seen.append(len(autolog.get_metric_history(run.info.run_id, case.metric)))

    case.train(4, [case.watch(count)], True)
    assert seen == [1, 2, 3, 4]  # each iteration's metrics were out before the next one


# -- our own failures: one warning, training untouched --------------------------------------


def check_a_failure_of_ours_is_one_warning(case: Boosting, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AUTOLOG_STRICT", "0")

    def broken(self: Any, *args: Any, **kwargs: Any) -> None:
        raise RuntimeError("store on fire")

    def train() -> Any:
        return case.train(ROUNDS, [], True)

    autolog.autolog(integrations=[case.name], disable=True)
    bare = train()
    case.enable()
    monkeypatch.setattr(autolog.Client, "log_metric", broken)
    with pytest.warns(AutologWarning, match="store on fire") as caught:
        booster = train()
    assert len(caught) == 1  # the firewall went quiet after the first iteration's failure
    case.same_model(bare, booster)
    assert only_run().info.status is RunStatus.FINISHED
