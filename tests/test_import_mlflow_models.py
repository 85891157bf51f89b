"""``autolog import-mlflow`` with models: MLflow's registry and the models MLflow logged (an
MLflow 3 logged model and a model folder in a run's artifacts), from a store MLflow itself
wrote (tests/data/mlflow/registry: an MLflow SQLite store and an mlruns folder of the same
content, made by ``make_stores.py registry``), imported into SQLite and file stores.

LightGBM, XGBoost and PyTorch models come from tests/data/mlflow/flavors (an mlruns folder,
made by ``make_stores.py flavors`` with MLflow 3.17.2, lightgbm 4.7.0, xgboost 3.2.0 and torch
2.13.0), with what MLflow's loaders predicted with each (``predictions.json``)."""

from __future__ import annotations

import json
import shutil
import warnings
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

import autolog
from autolog.cli._group import root
from autolog.cli._mlflow_models import convert, parse_mlmodel
from autolog.errors import InvalidInputError, ModelIntegrityError

DATA = Path(__file__).parent / "data" / "mlflow" / "registry"
FLAVORS = Path(__file__).parent / "data" / "mlflow" / "flavors"
# make_stores.py's TRAIN_X and TRAIN_Y (it imports mlflow: not importable here)
TRAIN_X = [[0.0, 0.0], [0.0, 1.0], [1.0, 0.0], [1.0, 1.0], [2.0, 2.0], [3.0, 3.0]]
TRAIN_Y = [0, 0, 0, 1, 1, 1]
VERSION_3 = "model version iris-lr/3: its source 's3://elsewhere/model' is not a model of an"
PYFUNC = "MLflow flavor python_function (mlflow.pyfunc.model) has no autolog one"


@pytest.fixture(params=["sqlite", "mlruns"])
def source(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A copy of one of the stores (imports only read it, but a copy keeps that honest)."""
    copy = tmp_path / "mlflow-store"
    if request.param == "mlruns":
        shutil.copytree(DATA / "file", copy)
        return str(copy / "mlruns")
    shutil.copytree(DATA / "sqlite", copy)
    return f"sqlite:///{copy / 'mlflow.db'}"


@pytest.fixture(params=["sqlite", "file"])
def target(request: pytest.FixtureRequest, tmp_path: Path, artifact_root: Path) -> str:
    if request.param == "file":
        return (tmp_path / "files").as_uri()
    return f"sqlite:///{tmp_path}/t.db"


def invoke(*args: str) -> str:
    done: Result = CliRunner().invoke(root, list(args), catch_exceptions=False)
    assert done.exit_code == 0, done.output
    return done.stdout.splitlines()[-1]


def test_the_registry_arrives_as_mlflow_has_it(source: str, target: str) -> None:
    line = invoke("import-mlflow", source, "--tracking-uri", target)
    assert "2 models, 2 model versions of 1 new registered models, 2 aliases" in line
    assert "2 model tags, 2 model descriptions" in line
    assert VERSION_3 in line
    assert PYFUNC in line
    client = autolog.Client(target)
    model = client.get_registered_model("iris-lr")
    assert model.description == "a tiny model"
    assert dict(model.tags) == {"team": "ml"}
    assert dict(model.aliases) == {"champion": 2, "first": 1}
    first, second = client.list_model_versions("iris-lr")
    assert (first.version, first.description, dict(first.tags)) == (1, "the first", {})
    assert (second.version, second.description, dict(second.tags)) == (
        2,
        None,
        {"validated": "yes"},
    )
    (run,) = client.search_runs(lifecycle="all")
    assert first.source == f"runs:/{run.info.run_id}/model"  # MLflow 3's logged model
    assert second.source == f"runs:/{run.info.run_id}/clf"  # a folder in the run's artifacts


def test_imported_models_predict_as_the_originals(source: str, target: str) -> None:
    from sklearn.linear_model import LogisticRegression

    invoke("import-mlflow", source, "--tracking-uri", target)
    expected = LogisticRegression().fit(TRAIN_X, TRAIN_Y)
    client = autolog.Client(target)
    for uri in ("models:/iris-lr@champion", "models:/iris-lr@first", "models:/iris-lr/2"):
        model = client.load_model(uri)
        assert list(model.predict(TRAIN_X)) == list(expected.predict(TRAIN_X))  # type: ignore[attr-defined]
        assert model.predict_proba(TRAIN_X) == pytest.approx(  # type: ignore[attr-defined]
            expected.predict_proba(TRAIN_X)
        )
    info = client.get_model_info("models:/iris-lr@champion")
    assert info.flavor == "pickle"


def test_a_tampered_model_file_is_refused_at_load(source: str, target: str, tmp_path: Path) -> None:
    invoke("import-mlflow", source, "--tracking-uri", target)
    copies = sorted(tmp_path.rglob("clf/model.pkl"))
    imported = [p for p in copies if "mlflow-store" not in p.parts]
    assert len(imported) == 1
    data = bytearray(imported[0].read_bytes())
    data[-2] ^= 1
    imported[0].chmod(0o644)
    imported[0].write_bytes(bytes(data))
    with pytest.raises(ModelIntegrityError):
        autolog.Client(target).load_model("models:/iris-lr@champion")
    autolog.Client(target).load_model("models:/iris-lr@first")  # untouched


def test_importing_again_imports_nothing_twice(source: str, target: str) -> None:
    invoke("import-mlflow", source, "--tracking-uri", target)
    again = invoke("import-mlflow", source, "--tracking-uri", target)
    assert again.startswith("imported 0 runs into 0 experiments")
    assert "0 models, 0 model versions of 0 new registered models, 0 aliases, 0 model tags" in again
    assert "2 model versions were imported before" in again
    client = autolog.Client(target)
    assert [v.version for v in client.list_model_versions("iris-lr")] == [1, 2]


def test_mlmodel_is_read_without_pyyaml() -> None:
    text = (DATA / "sqlite" / "mlruns").rglob("clf/MLmodel").__next__().read_text()
    parsed = parse_mlmodel(text)
    assert parsed["flavors"]["sklearn"]["serialization_format"] == "cloudpickle"
    assert parsed["flavors"]["python_function"]["loader_module"] == "mlflow.sklearn"
    assert parsed["flavors"]["python_function"]["env"] == {
        "conda": "conda.yaml",
        "virtualenv": "python_env.yaml",
    }


class _Opens:
    """Unpickled, it opens (creates) a file: a stand-in for a pickle that runs code."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def __reduce__(self) -> tuple[object, tuple[str, str]]:
        return open, (str(self.path), "w")


def test_nothing_is_unpickled_at_import(source: str, target: str, tmp_path: Path) -> None:
    import pickle

    marker = tmp_path / "unpickled"
    (pickled,) = (p for p in (tmp_path / "mlflow-store").rglob("clf/model.pkl"))
    pickled.write_bytes(pickle.dumps(_Opens(marker)))
    line = invoke("import-mlflow", source, "--tracking-uri", target)
    assert "2 models, 2 model versions" in line
    assert not marker.exists()


# ------------------------------------------------------------------ LightGBM, XGBoost, PyTorch

#: autolog's flavor of each of MLflow's, and the class ``load_model`` gives back
AUTOLOG_FLAVORS = {
    "lightgbm/booster": ("lightgbm", "Booster"),
    "lightgbm/classifier": ("lightgbm", "LGBMClassifier"),
    "xgboost/booster": ("xgboost", "Booster"),
    "xgboost/classifier": ("xgboost", "XGBClassifier"),
    "pytorch/module": ("torch", "Net"),
}


@pytest.fixture
def frameworks() -> None:
    for name in ("lightgbm", "xgboost", "torch"):
        pytest.importorskip(name)


@pytest.fixture
def flavors(tmp_path: Path) -> str:
    copy = tmp_path / "mlflow-store"
    shutil.copytree(FLAVORS / "mlruns", copy / "mlruns")
    return str(copy / "mlruns")


def predictions() -> dict[str, Any]:
    found: dict[str, Any] = json.loads((FLAVORS / "predictions.json").read_text())
    return found


def uri_of(key: str) -> str:
    return f"runs:/{predictions()['models'][key]['run_id']}/{key.partition('/')[2]}"


def native_prediction(key: str, model: Any, rows: list[list[float]]) -> Any:
    """What MLflow's own loader's model was asked for at generation (make_stores.py)."""
    import numpy as np

    if key.startswith("pytorch/"):
        import torch

        with torch.no_grad():
            return model(torch.tensor(rows, dtype=torch.float32)).numpy()
    if key == "xgboost/booster":
        import xgboost

        return model.predict(xgboost.DMatrix(np.array(rows)))
    return model.predict(np.array(rows))


@pytest.mark.usefixtures("frameworks")
def test_each_flavor_predicts_as_mlflow_did(flavors: str, target: str) -> None:
    import numpy as np

    line = invoke("import-mlflow", flavors, "--tracking-uri", target)
    assert "imported 3 runs" in line
    assert "5 models, 0 model versions" in line
    expected = predictions()
    client = autolog.Client(target)
    assert sorted(expected["models"]) == sorted(AUTOLOG_FLAVORS)
    for key, found in expected["models"].items():
        flavor, cls = AUTOLOG_FLAVORS[key]
        model = client.load_model(uri_of(key))
        assert type(model).__name__ == cls, key
        assert client.get_model_info(uri_of(key)).flavor == flavor
        native = native_prediction(key, model, expected["input"])
        assert np.ravel(native).tolist() == pytest.approx(np.ravel(found["native"]), rel=1e-6)
        predicted = client.load_predictor(uri_of(key)).predict(np.array(expected["input"]))
        assert np.ravel(predicted).tolist() == pytest.approx(np.ravel(found["pyfunc"]), rel=1e-6)


@pytest.mark.usefixtures("frameworks")
def test_the_public_api_loads_an_imported_model(flavors: str, target: str) -> None:
    import numpy as np

    invoke("import-mlflow", flavors, "--tracking-uri", target)
    autolog.set_tracking_uri(target)
    found = predictions()["models"]["xgboost/classifier"]
    model = autolog.load_model(uri_of("xgboost/classifier"))
    assert model.predict(np.array(predictions()["input"])).tolist() == found["native"]  # type: ignore[attr-defined]
    predictor = autolog.load_predictor(uri_of("xgboost/classifier"))
    assert predictor.predict(predictions()["input"]).tolist() == found["pyfunc"]


def test_the_summary_says_what_was_left_out_and_why(flavors: str, target: str) -> None:
    line = invoke("import-mlflow", flavors, "--tracking-uri", target)
    assert "left out 2: " in line
    assert "'skops' of run " in line
    assert "LightGBM model saved with skops, which autolog's flavors do not load" in line
    assert "'exported' of run " in line
    assert "PyTorch model saved as pt2 (torch.export), a format autolog's torch flavor" in line


@pytest.mark.usefixtures("frameworks")  # a missing library is said before any hash is checked
@pytest.mark.parametrize(
    ("key", "name"),
    [
        ("lightgbm/booster", "model.txt"),
        ("lightgbm/classifier", "model.pkl"),
        ("xgboost/classifier", "model.json"),
        ("xgboost/booster", "xgboost.json"),
        ("pytorch/module", "model.pth"),
    ],
)
def test_a_tampered_file_of_each_flavor_is_refused(
    flavors: str, target: str, tmp_path: Path, key: str, name: str
) -> None:
    invoke("import-mlflow", flavors, "--tracking-uri", target)
    run_id, path = uri_of(key)[6:].split("/")
    (imported,) = (
        p for p in tmp_path.rglob(f"{run_id}/**/{path}/{name}") if "mlflow-store" not in p.parts
    )
    data = bytearray(imported.read_bytes())
    data[len(data) // 2] ^= 1
    imported.chmod(0o644)
    imported.write_bytes(bytes(data))
    with pytest.raises(ModelIntegrityError):
        autolog.Client(target).load_model(uri_of(key))


def test_importing_the_flavors_again_adds_nothing(flavors: str, target: str) -> None:
    invoke("import-mlflow", flavors, "--tracking-uri", target)
    client = autolog.Client(target)
    keys = sorted(predictions()["models"])

    def model_files() -> list[object]:
        return [client.store.get_model_files(*uri_of(k)[6:].split("/")) for k in keys]

    before = model_files()
    again = invoke("import-mlflow", flavors, "--tracking-uri", target)
    assert again.startswith("imported 0 runs into 0 experiments")
    assert "3 runs were imported before" in again
    assert "models" not in again
    assert len(client.search_runs(lifecycle="all")) == 3
    assert model_files() == before
    assert all(before)


@pytest.mark.usefixtures("frameworks")
def test_no_model_pickle_is_opened_at_import(flavors: str, target: str, tmp_path: Path) -> None:
    """The pickles (a LightGBM scikit-learn API model, a whole torch module) are replaced by
    ones that open a file when unpickled: the import takes them in, unopened."""
    import pickle

    import torch

    marker = tmp_path / "unpickled"
    store = tmp_path / "mlflow-store"
    (lgbm,) = (
        p for p in store.rglob("model.pkl") if "lightgbm" in (p.parent / "MLmodel").read_text()
    )
    lgbm.write_bytes(pickle.dumps(_Opens(marker)))
    (module,) = store.rglob("data/model.pth")
    torch.save(_Opens(marker), module)
    line = invoke("import-mlflow", flavors, "--tracking-uri", target)
    assert "5 models" in line
    assert not marker.exists()


def mlflow_folder(folder: Path, flavor: str, conf: str, files: dict[str, bytes]) -> Path:
    """A model folder as MLflow writes it: an MLmodel naming ``flavor`` (``conf``: its
    settings, indented as MLflow's YAML has them), and ``files``."""
    folder.mkdir()
    (folder / "MLmodel").write_text(f"flavors:\n  {flavor}:\n{conf}mlflow_version: 3.17.2\n")
    for name, data in files.items():
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        (folder / name).write_bytes(data)
    return folder


def test_formats_autolog_does_not_load_are_left_out_with_why(tmp_path: Path) -> None:
    xgb = "    data: model.xgb\n    model_format: xgb\n    model_class: xgboost.core.Booster\n"
    legacy = mlflow_folder(tmp_path / "xgb", "xgboost", xgb, {"model.xgb": b"binf"})
    assert convert(legacy) == (
        None,
        "XGBoost model saved as 'xgb' (autolog reads XGBoost's UBJSON and JSON model formats)",
    )
    other = "    data: model.json\n    model_format: json\n    model_class: os.system\n"
    alien = mlflow_folder(tmp_path / "alien", "xgboost", other, {"model.json": b"{}"})
    assert convert(alien) == (None, "its model class 'os.system' is not one of XGBoost's")
    lgb = "    data: model.lgb\n    model_class: lightgbm.basic.Booster\n"
    text = mlflow_folder(tmp_path / "lgb", "lightgbm", lgb, {"model.lgb": b"\x80\x04pickle"})
    assert convert(text) == (None, "its model file 'model.lgb' is not LightGBM's model text")
    gone = mlflow_folder(tmp_path / "gone", "pytorch", "    model_data: data\n", {})
    assert convert(gone) == (None, "its model file 'data/model.pth' is missing")
    pth = {"data/model.pth": b"", "data/pickle_module_info.txt": b"dill"}
    dill = mlflow_folder(tmp_path / "dill", "pytorch", "    model_data: data\n", pth)
    assert convert(dill) == (
        None,
        "PyTorch model pickled with 'dill', which autolog does not import",
    )


def test_a_torchscript_module_is_left_out(tmp_path: Path) -> None:
    torch = pytest.importorskip("torch")
    folder = mlflow_folder(tmp_path / "scripted", "pytorch", "    model_data: data\n", {})
    (folder / "data").mkdir()
    with warnings.catch_warnings():  # TorchScript is deprecated: MLflow still saves it
        warnings.simplefilter("ignore", DeprecationWarning)
        scripted = torch.jit.script(torch.nn.Linear(2, 1))
        torch.jit.save(scripted, str(folder / "data" / "model.pth"))
    (folder / "data" / "pickle_module_info.txt").write_text("mlflow.pytorch.pickle_module")
    assert convert(folder) == (
        None,
        "a TorchScript module (torch.jit): autolog's torch flavor does not load it",
    )


def test_a_pyfunc_model_is_left_out_as_its_own_code(tmp_path: Path) -> None:
    conf = "    loader_module: mlflow.pyfunc.model\n    python_model: python_model.pkl\n"
    folder = mlflow_folder(tmp_path / "pyfunc", "python_function", conf, {"python_model.pkl": b""})
    meta, reason = convert(folder)
    assert meta is None
    assert reason == (
        "MLflow flavor python_function (mlflow.pyfunc.model) has no autolog one: a pyfunc "
        "model is its own Python code, which autolog never runs"
    )


def test_the_xgboost_flavor_loads_only_xgboost_classes() -> None:
    pytest.importorskip("xgboost")
    from autolog.integrations.xgboost import FLAVOR

    info = {"model": "estimator", "format": "json", "model_class": "subprocess.Popen"}
    files = {"xgboost.json": json.dumps(info).encode(), "model.json": b"{}"}
    with pytest.raises(InvalidInputError, match=r"'subprocess\.Popen' is not a scikit-learn API"):
        FLAVOR.load(files, {})
