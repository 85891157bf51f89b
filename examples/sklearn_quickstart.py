"""scikit-learn under autolog: one line, then train as usual.

Run with `make demo`. Fits a pipeline and a grid search, then prints what was recorded.
"""

from __future__ import annotations

import autolog

autolog.autolog()  # before or after importing scikit-learn: both work

from sklearn.datasets import load_breast_cancer  # noqa: E402
from sklearn.linear_model import LogisticRegression  # noqa: E402
from sklearn.model_selection import GridSearchCV, train_test_split  # noqa: E402
from sklearn.pipeline import make_pipeline  # noqa: E402
from sklearn.preprocessing import StandardScaler  # noqa: E402


def main() -> None:
    autolog.set_experiment("sklearn-quickstart")
    X, y = load_breast_cancer(return_X_y=True, as_frame=True)
    X_train, X_test, y_train, y_test = train_test_split(X, y, random_state=0)

    pipeline = make_pipeline(StandardScaler(), LogisticRegression(max_iter=500))
    pipeline.fit(X_train, y_train)
    run = autolog.last_active_run()
    assert run is not None
    print(f"pipeline run {run.info.run_name}: {run.info.status}")
    print(f"  {len(run.data.params)} params, e.g. C={run.data.params['logisticregression__C']}")
    shown = {k: round(v, 4) for k, v in sorted(run.data.metrics.items())}
    print(f"  metrics: {shown}")

    search = GridSearchCV(pipeline, {"logisticregression__C": [0.01, 0.1, 1.0, 10.0]}, cv=3)
    search.fit(X_train, y_train)
    parent = autolog.last_active_run()
    assert parent is not None
    children = autolog.search_runs(
        filter_string=f"attributes.parent_run_id = '{parent.info.run_id}'",
        order_by=["metrics.rank_test_score"],
    )
    print(f"grid search run {parent.info.run_name}: best_cv_score ", end="")
    print(f"{parent.data.metrics['best_cv_score']:.4f}, {len(children)} candidate runs:")
    for child in children:
        score = child.data.metrics["mean_test_score"]
        print(f"  C={child.data.params['logisticregression__C']}: mean_test_score {score:.4f}")
    print(f"  artifacts: {[f.path for f in autolog.list_artifacts(parent.info.run_id)]}")

    model = autolog.load_model(f"runs:/{parent.info.run_id}/model")
    accuracy = (model.predict(X_test) == y_test).mean()  # type: ignore[attr-defined]
    print(f"loaded model from the store: test accuracy {accuracy:.4f}")


if __name__ == "__main__":
    main()
