"""Shape of optuna-examples' ``lightgbm/lightgbm_integration.py``: an objective that suggests
LightGBM params, trains with ``lgb.train`` and a ``LightGBMPruningCallback(trial, "auc")`` on
a validation set, and returns the validation accuracy; ``optuna.create_study`` with a
``MedianPruner(n_warmup_steps=10)``, ``direction="maximize"``, then the best trial printed.
20 trials of 30 rounds instead of 100 trials; a seeded sampler. Where optuna-integration is not
installed, the callback is the few lines it holds (report the metric, prune when told).
"""

import lightgbm as lgb
import numpy as np
import optuna
import sklearn.datasets
import sklearn.metrics
from sklearn.model_selection import train_test_split

try:
    from optuna.integration import LightGBMPruningCallback
except ImportError:  # optuna-integration is not installed: its callback, in short

    class LightGBMPruningCallback:  # type: ignore[no-redef]
        def __init__(self, trial, metric, valid_name="valid_0"):
            self._trial = trial
            self._valid_name = valid_name
            self._metric = metric

        def __call__(self, env):
            for valid_name, metric, value, _ in env.evaluation_result_list:
                if valid_name == self._valid_name and metric == self._metric:
                    self._trial.report(value, step=env.iteration)
                    if self._trial.should_prune():
                        raise optuna.TrialPruned(f"Trial was pruned at iteration {env.iteration}.")


def objective(trial):
    data, target = sklearn.datasets.load_breast_cancer(return_X_y=True)
    train_x, valid_x, train_y, valid_y = train_test_split(
        data, target, test_size=0.25, random_state=0
    )
    dtrain = lgb.Dataset(train_x, label=train_y)
    dvalid = lgb.Dataset(valid_x, label=valid_y)

    param = {
        "objective": "binary",
        "metric": "auc",
        "verbosity": -1,
        "num_threads": 1,
        "boosting_type": "gbdt",
        "lambda_l1": trial.suggest_float("lambda_l1", 1e-8, 10.0, log=True),
        "lambda_l2": trial.suggest_float("lambda_l2", 1e-8, 10.0, log=True),
        "num_leaves": trial.suggest_int("num_leaves", 2, 256),
        "feature_fraction": trial.suggest_float("feature_fraction", 0.4, 1.0),
        "bagging_fraction": trial.suggest_float("bagging_fraction", 0.4, 1.0),
        "bagging_freq": trial.suggest_int("bagging_freq", 1, 7),
        "min_child_samples": trial.suggest_int("min_child_samples", 5, 100),
    }

    # Add a callback for pruning.
    pruning_callback = LightGBMPruningCallback(trial, "auc")
    gbm = lgb.train(param, dtrain, 30, valid_sets=[dvalid], callbacks=[pruning_callback])

    preds = gbm.predict(valid_x)
    pred_labels = np.rint(preds)
    return sklearn.metrics.accuracy_score(valid_y, pred_labels)


optuna.logging.set_verbosity(optuna.logging.WARNING)
study = optuna.create_study(
    pruner=optuna.pruners.MedianPruner(n_warmup_steps=10),
    direction="maximize",
    sampler=optuna.samplers.TPESampler(seed=0),
)
study.optimize(objective, n_trials=20)

print(f"Number of finished trials: {len(study.trials)}")
for t in study.trials:
    print(f"trial {t.number} {t.state.name} {t.value} {t.params['num_leaves']}")
print("Best trial:")
trial = study.best_trial
print(f"  Value: {trial.value}")
print("  Params: ")
for key, value in trial.params.items():
    print(f"    {key}: {value}")


def check(printed: str) -> None:
    import autolog

    runs = autolog.search_runs()
    (parent,) = [r for r in runs if r.data.tags.get("autolog.estimator") == "optuna.Study"]
    trials = {
        int(r.data.tags["optuna.trial_number"]): r
        for r in runs
        if r.info.parent_run_id == parent.info.run_id
    }
    assert len(runs) == 21, len(runs)  # the study, its 20 trials, and no run of their own
    lines = printed.splitlines()
    assert lines[0] == f"Number of finished trials: {len(trials)}"
    states = []
    for line in lines[1:21]:
        _, number, state, value, num_leaves = line.split()
        run = trials[int(number)]
        states.append(state)
        assert run.data.tags["optuna.trial_state"] == state
        # a pruned trial is no failure: FINISHED, and tagged PRUNED
        assert run.info.status is autolog.RunStatus.FINISHED
        assert run.data.metrics["value"] == float(value)
        # the params as suggested, and LightGBM's own, also in the pruned trials' runs
        assert run.data.params["num_leaves"] == num_leaves
        assert run.data.params["objective"] == "binary"
        assert run.data.params["num_boost_round"] == "30"
        history = autolog.get_metric_history(run.info.run_id, "intermediate_value")
        aucs = autolog.get_metric_history(run.info.run_id, "valid_0-auc")
        # Optuna's steps are LightGBM's 0-based iterations; autolog's are rounds done (1-based)
        assert [(m.step + 1, m.value) for m in history] == [(m.step, m.value) for m in aucs]
    assert states.count("PRUNED") >= 3, states  # the point of the example
    assert states.count("COMPLETE") >= 5, states
    best_value = float(lines[22].split(": ")[1])
    assert parent.data.metrics["best_value"] == best_value
    best = dict(line.strip().split(": ") for line in lines[24:])
    for key, value in best.items():
        assert parent.data.params[f"best_{key}"] == value
    best_run = parent.data.tags["optuna.best_trial_run_id"]
    assert autolog.get_run(best_run).data.metrics["value"] == best_value
    assert parent.data.metrics["trials_pruned"] == states.count("PRUNED")
