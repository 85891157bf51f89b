"""End to end through a tracking server: real scikit-learn, LightGBM and plain PyTorch
training under ``autolog()``, recorded over HTTP, and the models loaded back (every file
checked against its recorded SHA-256) predicting exactly as the trained ones."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

pytest.importorskip("fastapi", reason="the tracking server needs the server extra")

import autolog
from autolog import RunStatus

pytestmark = pytest.mark.server


@pytest.fixture
def autologged(rest_uri: str) -> Iterator[str]:
    autolog.set_tracking_uri(rest_uri)
    autolog.autolog()
    yield rest_uri
    autolog.autolog(disable=True)


def _only_run() -> autolog.Run:
    runs = autolog.search_runs()
    assert len(runs) == 1, [r.info.run_name for r in runs]
    return runs[0]


@pytest.mark.usefixtures("autologged")
def test_scikit_learn_over_http() -> None:
    np = pytest.importorskip("numpy")
    pytest.importorskip("sklearn")
    from sklearn.datasets import make_classification
    from sklearn.ensemble import RandomForestClassifier

    X, y = make_classification(n_samples=200, n_features=6, random_state=0)
    model = RandomForestClassifier(n_estimators=10, max_depth=3, random_state=0).fit(X, y)

    run = _only_run()
    assert run.info.status is RunStatus.FINISHED
    assert run.data.params["n_estimators"] == "10"
    assert "training_accuracy_score" in run.data.metrics or run.data.metrics
    loaded = autolog.load_model(f"runs:/{run.info.run_id}/model")
    assert np.array_equal(loaded.predict_proba(X), model.predict_proba(X))  # type: ignore[attr-defined]


@pytest.mark.usefixtures("autologged")
def test_lightgbm_over_http() -> None:
    np = pytest.importorskip("numpy")
    lightgbm = pytest.importorskip("lightgbm")

    rng = np.random.default_rng(0)
    X = rng.normal(size=(300, 5))
    y = X[:, 0] * 2 + X[:, 1] + rng.normal(scale=0.1, size=300)
    train = lightgbm.Dataset(X[:240], y[:240])
    valid = lightgbm.Dataset(X[240:], y[240:], reference=train)
    booster = lightgbm.train(
        {"objective": "regression", "learning_rate": 0.1, "verbose": -1, "num_leaves": 7},
        train,
        num_boost_round=20,
        valid_sets=[valid],
        valid_names=["valid"],
    )

    run = _only_run()
    assert run.info.status is RunStatus.FINISHED
    steps = autolog.get_metric_history(run.info.run_id, "valid-l2")
    assert len(steps) == 20
    loaded = autolog.load_model(f"runs:/{run.info.run_id}/model")
    assert np.array_equal(loaded.predict(X), booster.predict(X))  # type: ignore[attr-defined]


@pytest.mark.usefixtures("autologged")
def test_a_plain_pytorch_loop_over_http() -> None:
    torch = pytest.importorskip("torch")
    nn = torch.nn
    generator = torch.Generator().manual_seed(0)
    X = torch.randn(96, 4, generator=generator)
    y = X.sum(dim=1, keepdim=True)
    loader = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(X, y), batch_size=32)
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 1))
    optimizer = torch.optim.SGD(model.parameters(), lr=0.01)
    criterion = nn.MSELoss()
    for _ in range(3):
        for xb, yb in loader:
            optimizer.zero_grad()
            loss = criterion(model(xb), yb)
            loss.backward()
            optimizer.step()
    autolog.end_run()

    run = _only_run()
    assert run.info.status is RunStatus.FINISHED
    assert run.data.params["optimizer"] == "SGD"
    assert len(autolog.get_metric_history(run.info.run_id, "training_loss")) == 3
    loaded = autolog.load_model(f"runs:/{run.info.run_id}/model")
    with torch.no_grad():
        assert torch.equal(loaded(X), model(X))  # type: ignore[operator]
