"""The Optuna integration: a study is a parent run, each trial a child run, with real (tiny)
studies and the trainings people run inside them (scikit-learn, LightGBM)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest

import autolog
from autolog import RunStatus

optuna = pytest.importorskip("optuna")

X = np.random.default_rng(0).normal(size=(200, 4))
Y = (X[:, 0] + X[:, 1] > 0).astype(int)


@pytest.fixture(autouse=True)
def _autolog() -> Iterator[None]:
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    autolog.autolog(integrations=["optuna", "sklearn", "lightgbm"])
    yield
    autolog.autolog(disable=True)


def runs() -> list[autolog.Run]:
    autolog.flush()
    return autolog.search_runs()


def study_and_trials() -> tuple[autolog.Run, dict[int, autolog.Run]]:
    found = runs()
    studies = [r for r in found if r.data.tags.get("autolog.estimator") == "optuna.Study"]
    assert len(studies) == 1, [r.info.run_name for r in found]
    study = studies[0]
    trials = {
        int(r.data.tags["optuna.trial_number"]): r
        for r in found
        if r.info.parent_run_id == study.info.run_id
    }
    return study, trials


def steps(run: autolog.Run, key: str) -> list[tuple[int, float]]:
    return [(m.step, m.value) for m in autolog.get_metric_history(run.info.run_id, key)]


def pruned_objective(trial: Any) -> float:
    x = trial.suggest_float("x", -10, 10)
    kind = trial.suggest_categorical("kind", ["a", "b"])
    for step in range(5):
        trial.report((x - 2) ** 2 + step, step)
        if trial.should_prune():
            raise optuna.TrialPruned()
    return (x - 2) ** 2 + (kind == "b")


def test_a_study_of_20_trials_with_pruning() -> None:
    study = optuna.create_study(
        sampler=optuna.samplers.RandomSampler(seed=0),
        pruner=optuna.pruners.MedianPruner(n_startup_trials=3, n_warmup_steps=0),
    )
    study.optimize(pruned_objective, n_trials=20)
    parent, trials = study_and_trials()
    assert parent.info.status is RunStatus.FINISHED
    assert parent.info.parent_run_id is None
    assert sorted(trials) == list(range(20))
    assert len(runs()) == 21  # no other run
    states = {t.number: t.state.name for t in study.trials}
    assert "PRUNED" in states.values()
    assert "COMPLETE" in states.values()
    for frozen in study.trials:
        run = trials[frozen.number]
        assert run.info.run_name == f"trial-{frozen.number}"
        assert run.data.tags["optuna.trial_state"] == frozen.state.name
        # a pruned trial is not a failure: its run says pruned
        assert run.info.status is RunStatus.FINISHED
        assert run.data.params == {"x": str(frozen.params["x"]), "kind": frozen.params["kind"]}
        assert run.data.metrics["value"] == pytest.approx(frozen.value)
        assert steps(run, "intermediate_value") == sorted(frozen.intermediate_values.items())
        assert run.data.tags["optuna.distribution.kind"] == repr(frozen.distributions["kind"])
    assert parent.data.metrics["best_value"] == pytest.approx(study.best_value)
    assert parent.data.params["best_x"] == str(study.best_params["x"])
    assert parent.data.params["best_kind"] == study.best_params["kind"]
    best_run = trials[study.best_trial.number].info.run_id
    assert parent.data.tags["optuna.best_trial_run_id"] == best_run
    counts = {s: list(states.values()).count(s) for s in ("COMPLETE", "PRUNED", "FAIL")}
    assert parent.data.metrics["trials_complete"] == counts["COMPLETE"]
    assert parent.data.metrics["trials_pruned"] == counts["PRUNED"]
    assert parent.data.metrics["trials_failed"] == 0
    assert parent.data.params["sampler"] == "RandomSampler"
    assert parent.data.params["pruner"] == "MedianPruner"
    assert parent.data.params["direction"] == "minimize"
    assert parent.data.params["n_trials"] == "20"
    assert autolog.active_run() is None


class _Pruning:
    """What optuna-integration's LightGBMPruningCallback does: report, and prune."""

    def __init__(self, trial: Any) -> None:
        self.trial = trial

    def __call__(self, env: Any) -> None:
        _, _, value, _ = env.evaluation_result_list[0]
        self.trial.report(value, env.iteration)
        if self.trial.should_prune():
            raise optuna.TrialPruned(f"pruned at {env.iteration}")


def test_lightgbm_in_trials_with_a_pruning_callback_keeps_its_params() -> None:
    lgb = pytest.importorskip("lightgbm")
    train, valid = (X[:150], Y[:150]), (X[150:], Y[150:])

    def objective(trial: Any) -> float:
        params = {
            "objective": "binary",
            "verbose": -1,
            "num_threads": 1,
            "num_leaves": trial.suggest_int("num_leaves", 2, 16),
            "learning_rate": trial.suggest_float("learning_rate", 0.01, 0.3, log=True),
        }
        train_set = lgb.Dataset(*train)
        valid_set = lgb.Dataset(*valid, reference=train_set)
        booster = lgb.train(
            params, train_set, 20, valid_sets=[valid_set], callbacks=[_Pruning(trial)]
        )
        return float(booster.best_score["valid_0"]["binary_logloss"] if booster.best_score else 0)

    study = optuna.create_study(
        sampler=optuna.samplers.RandomSampler(seed=1),
        pruner=optuna.pruners.MedianPruner(n_startup_trials=2, n_warmup_steps=2),
    )
    study.optimize(objective, n_trials=10)
    _, trials = study_and_trials()
    pruned = [t for t in study.trials if t.state.name == "PRUNED"]
    assert pruned, "the pruner never pruned: the test proves nothing"
    for frozen in study.trials:
        run = trials[frozen.number]
        assert run.info.status is RunStatus.FINISHED
        assert run.data.tags["optuna.trial_state"] == frozen.state.name
        # the training logged into the trial's run, with the params it was given
        assert run.data.params["num_leaves"] == str(frozen.params["num_leaves"])
        assert run.data.params["learning_rate"] == str(frozen.params["learning_rate"])
        assert run.data.params["objective"] == "binary"
        assert run.data.tags["autolog.estimator"] == "lightgbm.train"
        trained = len(steps(run, "valid_0-binary_logloss"))
        assert trained == (20 if frozen.state.name == "COMPLETE" else frozen.last_step + 1)
    assert len(runs()) == 11


def fit_objective(trial: Any) -> float:
    from sklearn.linear_model import LogisticRegression

    c = trial.suggest_float("C", 0.01, 10, log=True)
    model = LogisticRegression(C=c).fit(X, Y)
    return float(model.score(X, Y))


@pytest.mark.parametrize("n_jobs", [1, 2])
def test_fits_in_trials_record_into_the_trial_run_on_every_thread(n_jobs: int) -> None:
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0))
    study.optimize(fit_objective, n_trials=6, n_jobs=n_jobs)
    parent, trials = study_and_trials()
    assert len(trials) == 6
    assert len(runs()) == 7  # the fits made no runs of their own
    for frozen in study.trials:
        run = trials[frozen.number]
        assert run.data.params["C"] == str(frozen.params["C"])
        assert run.data.params["solver"] == "lbfgs"  # the fit's own params
        assert "training_accuracy" in run.data.metrics
        assert autolog.list_artifacts(run.info.run_id)[0].path == "model"
        # the objective's held-out score, into the trial's run while it runs
        assert run.data.metrics["score_X"] == frozen.value
    assert parent.data.params["n_jobs"] == str(n_jobs)


def test_a_study_inside_a_user_run_is_nested_under_it() -> None:
    with autolog.start_run() as user_run:
        study = optuna.create_study()
        study.optimize(fit_objective, n_trials=2)
        assert autolog.active_run() == user_run
    parent, trials = study_and_trials()
    assert parent.info.parent_run_id == user_run.info.run_id
    assert len(trials) == 2
    assert autolog.get_run(user_run.info.run_id).data.params == {}


def test_a_failing_trial_fails_its_run_and_the_error_reaches_the_caller() -> None:
    error = ValueError("objective broke")

    def objective(trial: Any) -> float:
        x = trial.suggest_float("x", 0, 1)
        if trial.number == 2:
            raise error
        return x

    study = optuna.create_study()
    with pytest.raises(ValueError, match="objective broke") as raised:
        study.optimize(objective, n_trials=5)
    assert raised.value is error
    parent, trials = study_and_trials()
    assert parent.info.status is RunStatus.FAILED
    assert sorted(trials) == [0, 1, 2]
    assert trials[2].info.status is RunStatus.FAILED
    assert trials[2].data.tags["optuna.trial_state"] == "FAIL"
    assert trials[2].data.params == {"x": str(study.trials[2].params["x"])}
    assert trials[1].info.status is RunStatus.FINISHED


def test_caught_failures_fail_the_trial_not_the_study() -> None:
    def objective(trial: Any) -> float:
        trial.suggest_int("n", 0, 3)
        if trial.number % 2:
            raise ValueError("odd")
        return 1.0

    study = optuna.create_study()
    study.optimize(objective, n_trials=4, catch=(ValueError,))
    parent, trials = study_and_trials()
    assert parent.info.status is RunStatus.FINISHED
    assert [trials[i].info.status for i in range(4)] == [
        RunStatus.FINISHED,
        RunStatus.FAILED,
        RunStatus.FINISHED,
        RunStatus.FAILED,
    ]
    assert parent.data.metrics["trials_failed"] == 2


def test_a_suggested_value_the_framework_saw_otherwise_moves_the_fit_to_a_child() -> None:
    from sklearn.linear_model import LogisticRegression

    def objective(trial: Any) -> float:
        c = trial.suggest_float("C", 0.5, 1.0)
        LogisticRegression(C=c * 2).fit(X, Y)
        return c

    study = optuna.create_study()
    study.optimize(objective, n_trials=1)
    _, trials = study_and_trials()
    trial = trials[0]
    assert trial.data.params == {"C": str(study.trials[0].params["C"])}  # as suggested
    children = [r for r in runs() if r.info.parent_run_id == trial.info.run_id]
    assert len(children) == 1
    assert float(children[0].data.params["C"]) == pytest.approx(2 * study.trials[0].params["C"])


def test_multi_objective_values_and_no_single_best() -> None:
    def objective(trial: Any) -> tuple[float, float]:
        x = trial.suggest_float("x", 0, 1)
        return x, 1 - x

    study = optuna.create_study(directions=["minimize", "maximize"])
    study.optimize(objective, n_trials=3)
    parent, trials = study_and_trials()
    for frozen in study.trials:
        metrics = trials[frozen.number].data.metrics
        assert metrics["value_0"] == pytest.approx(frozen.values[0])
        assert metrics["value_1"] == pytest.approx(frozen.values[1])
    assert "best_value" not in parent.data.metrics
    assert "no single best" in parent.data.tags["autolog.optuna.best"]
    assert parent.data.params["directions"] == "['minimize', 'maximize']"


def test_disable_restores_optimize() -> None:
    from optuna.study.study import Study

    original = Study.__dict__["optimize"]
    autolog.autolog(integrations=["optuna"], disable=True)
    assert Study.__dict__["optimize"] is getattr(original, "__wrapped__", original)
    optuna.create_study().optimize(lambda t: t.suggest_float("x", 0, 1), n_trials=2)
    assert runs() == []


def test_a_plain_pytorch_loop_in_a_trial_records_into_the_trial_run() -> None:
    torch = pytest.importorskip("torch")
    autolog.autolog(integrations=["optuna", "torch"])
    data = torch.utils.data.TensorDataset(
        torch.tensor(X, dtype=torch.float32), torch.tensor(Y, dtype=torch.float32)
    )

    def objective(trial: Any) -> float:
        lr = trial.suggest_float("lr", 0.01, 0.1, log=True)
        model = torch.nn.Linear(4, 1)
        optimizer = torch.optim.SGD(model.parameters(), lr=lr)
        for epoch in range(2):
            for xb, yb in torch.utils.data.DataLoader(data, batch_size=50):
                optimizer.zero_grad()
                loss = torch.nn.functional.binary_cross_entropy_with_logits(model(xb)[:, 0], yb)
                loss.backward()
                optimizer.step()
            trial.report(loss.item(), epoch)
        return float(loss.item())

    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0))
    study.optimize(objective, n_trials=2)
    _, trials = study_and_trials()
    assert len(runs()) == 3
    for frozen in study.trials:
        run = trials[frozen.number]
        assert run.info.status is RunStatus.FINISHED
        assert run.data.params["lr"] == str(frozen.params["lr"])
        assert len(steps(run, "training_loss")) == 2
        assert steps(run, "intermediate_value") == sorted(frozen.intermediate_values.items())
