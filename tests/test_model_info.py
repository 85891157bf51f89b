"""What a model takes and gives (issue 20, items 1-4): signatures and input examples for every
flavor, requirements, ``get_model_info`` without unpickling, ``load_predictor`` with input
checked against the signature, and models loaded from a local folder."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import autolog
from autolog import models
from autolog.errors import (
    AutologWarning,
    InvalidInputError,
    ModelDependencyError,
    ModelIntegrityError,
    NotFoundError,
)

pd = pytest.importorskip("pandas")
RNG = np.random.default_rng(0)


def _frame(rows: int = 60) -> Any:
    return pd.DataFrame(
        {
            "age": RNG.random(rows) * 80,
            "visits": RNG.integers(0, 9, rows),
            "score": RNG.random(rows).astype("float32"),
        }
    )


@pytest.fixture
def client(tmp_path: Path) -> Any:
    with autolog.Client(f"sqlite:///{tmp_path}/runs.db") as opened:
        yield opened


def _logged(client: Any, model: object, **kwargs: Any) -> str:
    run_id = client.create_run("models").info.run_id
    uri = client.log_model(run_id, model, "model", **kwargs)
    assert client.flush(30)
    return str(uri)


# -- signatures ------------------------------------------------------------------------------


def test_a_scikit_learn_fit_under_autolog_records_its_signature_example_and_requirements(
    tmp_path: Path,
) -> None:
    from sklearn.linear_model import LogisticRegression

    autolog.set_tracking_uri(f"sqlite:///{tmp_path}/runs.db")
    autolog.autolog()
    X = _frame()
    y = (X["age"] > 40).astype(int)
    with autolog.start_run() as run:
        model = LogisticRegression(max_iter=500).fit(X, y)
    autolog.flush()
    info = autolog.get_model_info(f"runs:/{run.info.run_id}/model")
    assert info.flavor == "pickle"
    assert info.model_class == "sklearn.linear_model._logistic.LogisticRegression"
    assert info.signature == {
        "inputs": {
            "type": "dataframe",
            "columns": [
                {"name": "age", "dtype": "float64"},
                {"name": "visits", "dtype": "int64"},
                {"name": "score", "dtype": "float32"},
            ],
        },
        "outputs": {"type": "tensor", "dtype": "int64", "shape": [-1]},
    }
    assert info.input_example is not None
    assert info.input_example["columns"] == ["age", "visits", "score"]
    assert len(info.input_example["data"]) == 5
    assert info.input_example["data"][0][1] == int(X["visits"].iloc[0])
    import sklearn

    assert f"scikit-learn=={sklearn.__version__}" in info.requirements
    assert f"numpy=={np.__version__}" in info.requirements
    assert any(r.startswith("scipy==") for r in info.requirements)  # what sklearn needs
    assert info.libraries["sklearn"] == sklearn.__version__
    assert info.run_id == run.info.run_id
    assert info.path == "model"
    assert info.registered == ()
    assert {"model.pkl", "autolog-model.json"} <= set(info.files)
    predictor = autolog.load_predictor(f"runs:/{run.info.run_id}/model")
    assert np.array_equal(predictor.predict(X), model.predict(X))


def test_boosting_estimators_record_their_signature(client: Any) -> None:
    lightgbm = pytest.importorskip("lightgbm")
    xgboost = pytest.importorskip("xgboost")
    X = RNG.random((80, 4))
    y = (X[:, 0] > 0.5).astype(int)
    for model in (
        lightgbm.LGBMClassifier(n_estimators=5, verbose=-1).fit(X, y),
        xgboost.XGBClassifier(n_estimators=5).fit(X, y),
    ):
        flavor = "lightgbm" if "lightgbm" in type(model).__module__ else "xgboost"
        uri = _logged(client, model, flavor=flavor, input_example=X)
        info = client.get_model_info(uri)
        assert info.signature["inputs"] == {"type": "tensor", "dtype": "float64", "shape": [-1, 4]}
        assert info.signature["outputs"]["shape"] == [-1]
        predictor = client.load_predictor(uri)
        assert np.array_equal(predictor.predict(X[:7]), model.predict(X[:7]))
        assert np.array_equal(predictor.predict(X[0].tolist()), model.predict(X[:1]))


def test_lightgbm_train_under_autolog_records_its_signature(tmp_path: Path) -> None:
    lightgbm = pytest.importorskip("lightgbm")
    autolog.set_tracking_uri(f"sqlite:///{tmp_path}/runs.db")
    autolog.autolog()
    X = _frame(80)
    data = lightgbm.Dataset(X, label=(X["age"] > 40).astype(int))  # lets go of X once built
    booster = lightgbm.train({"objective": "binary", "verbose": -1}, data, num_boost_round=3)
    assert data.data is None
    autolog.flush()
    (run,) = autolog.search_runs()
    uri = f"runs:/{run.info.run_id}/model"
    info = autolog.get_model_info(uri)
    assert [c["name"] for c in info.signature["inputs"]["columns"]] == ["age", "visits", "score"]
    assert info.signature["outputs"] == {"type": "tensor", "dtype": "float64", "shape": [-1]}
    assert len(info.input_example["data"]) == 5
    assert np.allclose(autolog.load_predictor(uri).predict(X[:4]), booster.predict(X[:4]))


def test_an_xgboost_booster_predicts_through_its_flavor(client: Any) -> None:
    xgboost = pytest.importorskip("xgboost")
    X = RNG.random((50, 3))
    booster = xgboost.train({}, xgboost.DMatrix(X, label=X[:, 0]), num_boost_round=3)
    uri = _logged(client, booster, flavor="xgboost", input_example=X)
    assert client.get_model_info(uri).signature["outputs"]["dtype"] == "float32"
    expected = booster.predict(xgboost.DMatrix(X[:4]))
    assert np.allclose(client.load_predictor(uri).predict(X[:4]), expected)


def test_a_torch_module_records_tensor_shapes_and_keeps_its_training_mode(client: Any) -> None:
    torch = pytest.importorskip("torch")
    net = torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.ReLU(), torch.nn.Linear(8, 2))
    net.train()
    x = torch.randn(32, 4)
    uri = _logged(client, net, flavor="torch", input_example=x)
    assert net.training  # the prediction that showed the output changed nothing
    info = client.get_model_info(uri)
    assert info.signature == {
        "inputs": {"type": "tensor", "dtype": "float32", "shape": [-1, 4]},
        "outputs": {"type": "tensor", "dtype": "float32", "shape": [-1, 2]},
    }
    assert any(r.startswith("torch==") for r in info.requirements)
    predictor = client.load_predictor(uri)
    with torch.no_grad():
        expected = net.eval()(x[:3]).numpy()
    assert np.allclose(predictor.predict(x[:3].numpy()), expected)
    assert np.allclose(predictor.predict(x[:3].numpy().astype("float64")), expected)
    with pytest.raises(InvalidInputError, match=r"shape \[3, 5\]"):
        predictor.predict(np.zeros((3, 5), dtype="float32"))


def test_a_model_that_cannot_predict_its_example_records_only_what_was_seen(client: Any) -> None:
    uri = _logged(client, {"not": "a model"}, input_example=np.ones((3, 2)))
    info = client.get_model_info(uri)
    assert info.signature == {"inputs": {"type": "tensor", "dtype": "float64", "shape": [-1, 2]}}
    assert info.input_example == {"data": [[1.0, 1.0], [1.0, 1.0], [1.0, 1.0]]}
    with pytest.raises(InvalidInputError, match="makes no predictions"):
        client.load_predictor(uri).predict(np.ones((1, 2)))


def test_an_example_too_large_to_keep_leaves_the_signature(client: Any) -> None:
    wide = np.ones((5, 10_000))
    uri = _logged(client, {"m": 1}, input_example=wide)
    info = client.get_model_info(uri)
    assert info.signature == {
        "inputs": {"type": "tensor", "dtype": "float64", "shape": [-1, 10_000]}
    }
    assert info.input_example is None


# -- predicting with the signature -------------------------------------------------------------


def test_a_predictor_takes_every_form_of_data_and_names_what_does_not_fit(client: Any) -> None:
    from sklearn.linear_model import LogisticRegression

    X = _frame()
    model = LogisticRegression(max_iter=500).fit(X, (X["visits"] > 4).astype(int))
    predictor = client.load_predictor(_logged(client, model, input_example=X))
    row = {"age": 30.0, "visits": 7, "score": 0.5}
    expected = model.predict(pd.DataFrame([row]).astype({"score": "float32"}))
    for data in (
        [row],  # records
        {k: [v] for k, v in row.items()},  # columns
        [[30.0, 7, 0.5]],  # rows in the signature's column order
        np.array([[30.0, 7.0, 0.5]]),
        pd.DataFrame([{"score": 0.5, "visits": 7, "age": 30.0}]),  # columns in any order
    ):
        assert np.array_equal(predictor.predict(data), expected), data
    with pytest.raises(InvalidInputError, match="'score'"):
        predictor.predict([{"age": 30.0, "visits": 7}])
    with pytest.raises(InvalidInputError, match="'age'"):
        predictor.predict([{"age": "thirty", "visits": 7, "score": 0.5}])
    with pytest.raises(InvalidInputError, match="'visits'"):
        predictor.predict([{"age": 30.0, "visits": 7.5, "score": 0.5}])
    with pytest.raises(InvalidInputError, match="3 columns"):
        predictor.predict([[1.0, 2.0]])
    # the model gets the signature's dtypes; the caller's frame is left as it was
    given = pd.DataFrame({"score": [0.5], "visits": [7.0], "age": [30], "extra": ["x"]})
    prepared = predictor.prepare(given)
    assert list(prepared.columns) == ["age", "visits", "score"]
    assert [str(t) for t in prepared.dtypes] == ["float64", "int64", "float32"]
    assert list(given.columns) == ["score", "visits", "age", "extra"]
    assert str(given["visits"].dtype) == "float64"


# -- what get_model_info reads ----------------------------------------------------------------


class _Unloadable:
    """Pickles, but refuses to be unpickled: proof that reading a model's info unpickles
    nothing."""

    def __init__(self) -> None:
        self.state = "kept"  # a state to set: pickle calls __setstate__ only then

    def predict(self, data: Any) -> Any:
        return np.zeros(len(data))

    def __setstate__(self, state: Any) -> None:
        raise RuntimeError("unpickled")


def test_model_info_unpickles_nothing_and_names_registered_versions(client: Any) -> None:
    uri = _logged(client, _Unloadable(), input_example=np.ones((2, 3)))
    version = client.register_model(uri, "unloadable")
    info = client.get_model_info(uri)
    assert info.registered == (f"unloadable/{version.version}",)
    assert info.signature["outputs"] == {"type": "tensor", "dtype": "float64", "shape": [-1]}
    assert client.get_model_info(f"models:/unloadable/{version.version}") == info._replace(
        uri=f"models:/unloadable/{version.version}"
    )
    with pytest.raises(RuntimeError, match="unpickled"):
        client.load_model(uri)


def test_model_info_of_a_missing_model_is_not_found(client: Any) -> None:
    run_id = client.create_run("models").info.run_id
    with pytest.raises(NotFoundError):
        client.get_model_info(f"runs:/{run_id}/model")


# -- a model in a local folder ------------------------------------------------------------------


def test_a_downloaded_model_folder_loads_and_is_verified(client: Any, tmp_path: Path) -> None:
    from sklearn.linear_model import LinearRegression

    X = RNG.random((30, 2))
    model = LinearRegression().fit(X, X @ [1.0, 2.0])
    uri = _logged(client, model, input_example=X)
    run_id = uri.split("/")[1]
    folder = Path(client.download_artifacts(run_id, "model", str(tmp_path / "download")))
    loaded = autolog.load_model(str(folder))
    assert np.allclose(loaded.predict(X), model.predict(X))  # type: ignore[attr-defined]
    assert np.allclose(autolog.load_predictor(folder.as_uri()).predict(X), model.predict(X))
    info = autolog.get_model_info(str(folder))
    assert (info.run_id, info.path, info.registered) == (None, None, ())
    assert info.signature == client.get_model_info(uri).signature

    tampered = tmp_path / "tampered"
    shutil.copytree(folder, tampered)
    (tampered / "model.pkl").write_bytes(b"planted")
    with pytest.raises(ModelIntegrityError, match=r"model\.pkl"):
        autolog.load_model(str(tampered))
    (tampered / "model.pkl").unlink()
    with pytest.raises(NotFoundError, match=r"model\.pkl"):  # missing, not tampered with
        autolog.load_model(str(tampered))


def _folder(tmp_path: Path, libraries: dict[str, str], **extra: Any) -> Path:
    """A model folder as an export writes it, for a model made with ``libraries``."""
    files, meta = models.prepare({"weights": [1, 2]}, "pickle", None)
    meta = {**meta, "libraries": libraries, **extra}
    hashes, meta_bytes = models.digest(files, meta)
    folder = tmp_path / "exported"
    folder.mkdir()
    for name, data in files.items():
        (folder / name).write_bytes(data)
    (folder / models.MODEL_META).write_bytes(meta_bytes)
    assert json.loads(meta_bytes)["files"]["model.pkl"] == hashes["model.pkl"]
    return folder


def test_a_model_whose_library_is_missing_names_the_pip_line(tmp_path: Path) -> None:
    folder = _folder(
        tmp_path,
        {"autolog_missing_lib": "1.4.2", "numpy": np.__version__},
        requirements=["autolog-missing-lib==1.4.2", f"numpy=={np.__version__}"],
        distributions={"autolog_missing_lib": "autolog-missing-lib"},
    )
    with pytest.raises(ModelDependencyError) as caught:
        autolog.load_model(str(folder))
    assert "autolog_missing_lib" in str(caught.value)
    assert "pip install 'autolog-missing-lib==1.4.2'" in str(caught.value)
    assert isinstance(caught.value, ImportError)


def test_another_minor_version_of_a_library_warns_once_naming_both(tmp_path: Path) -> None:
    folder = _folder(tmp_path, {"numpy": "1.0.0"})
    with pytest.warns(AutologWarning, match=rf"numpy 1\.0\.0 \(installed: {np.__version__}\)"):
        assert autolog.load_model(str(folder)) == {"weights": [1, 2]}


def test_a_torch_prediction_puts_back_every_submodules_mode(client: Any) -> None:
    torch = pytest.importorskip("torch")
    net = torch.nn.Sequential(torch.nn.BatchNorm1d(3), torch.nn.Linear(3, 2))
    net.train()
    net[0].eval()  # a frozen batch norm: net.train(True) afterwards would unfreeze it
    uri = _logged(client, net, flavor="torch", input_example=torch.randn(8, 3))
    assert client.get_model_info(uri).signature["outputs"]["shape"] == [-1, 2]
    assert net.training
    assert net[1].training
    assert not net[0].training


# -- where the autolog of an exported model's requirements comes from ------------------------


@pytest.mark.parametrize(
    ("origin", "line", "noted"),
    [
        (
            {
                "url": "https://example.org/autolog.git",
                "vcs_info": {"vcs": "git", "commit_id": "ab12"},
            },
            "autolog[server] @ git+https://example.org/autolog.git@ab12",
            False,
        ),
        (
            {"url": "https://example.org/autolog-0.1.0-py3-none-any.whl", "archive_info": {}},
            "autolog[server] @ https://example.org/autolog-0.1.0-py3-none-any.whl",
            False,
        ),
        (
            {"url": "file:///src/autolog", "dir_info": {}},
            "autolog[server] @ file:///src/autolog",
            True,
        ),
        (None, f"autolog[server]=={autolog.__version__}", True),
    ],
    ids=["vcs", "archive", "folder", "index"],
)
def test_an_export_names_where_autolog_is_installed_from_never_pypis_namesake(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, origin: Any, line: str, noted: bool
) -> None:
    from autolog.export import autolog_requirement

    # an installed autolog, first on the path, as pip records it (PEP 610's direct_url.json)
    info = tmp_path / f"autolog-{autolog.__version__}.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(
        f"Metadata-Version: 2.1\nName: autolog\nVersion: {autolog.__version__}\n"
    )
    (info / "INSTALLER").write_text("pip\n")
    if origin is not None:
        (info / "direct_url.json").write_text(json.dumps(origin))
    monkeypatch.syspath_prepend(str(tmp_path))
    found, note = autolog_requirement("server")
    assert found == line
    assert bool(note) is noted
    if noted:
        assert "PyPI's 'autolog' is another project" in " ".join(note)
