"""``autolog import-mlflow`` with models: MLflow's registry and the models MLflow logged (an
MLflow 3 logged model and a model folder in a run's artifacts), from a store MLflow itself
wrote (tests/data/mlflow/registry: an MLflow SQLite store and an mlruns folder of the same
content, made by ``make_stores.py registry``), imported into SQLite and file stores.

LightGBM, XGBoost and PyTorch models come from tests/data/mlflow/flavors (an mlruns folder,
made by ``make_stores.py flavors`` with MLflow 3.17.2, lightgbm 4.7.0, xgboost 3.2.0 and torch
2.13.0), with what MLflow's loaders predicted with each (``predictions.json``)."""

from __future__ import annotations

import json
import re
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


# ------------------------------------------------------------------ signatures and examples

SIGNATURES = Path(__file__).parent / "data" / "mlflow" / "signatures"
#: make_stores.py's signed_frame as MLflow's inferred signature types it (double, long,
#: float, boolean), in autolog's dtypes
SIGNED_COLUMNS = [
    {"name": "age", "dtype": "float64"},
    {"name": "visits", "dtype": "int64"},
    {"name": "score", "dtype": "float32"},
    {"name": "member", "dtype": "bool"},
]
#: the first 5 of the 8 rows of MLflow's input examples (signed_frame's)
SIGNED_ROWS = [
    [20.0, 0, 0.0, True],
    [23.0, 1, 0.5, False],
    [26.0, 2, 1.0, False],
    [29.0, 3, 1.5, True],
    [32.0, 4, 2.0, False],
]
#: the run of each model (make_stores.py's populate_signatures), its path, the dtype of its
#: output (an unnamed column in MLflow's signature)
SIGNED = {
    "sklearn": ("model", "int64"),
    "lightgbm": ("booster", "float64"),
    "xgboost": ("classifier", "int64"),
}


@pytest.fixture
def signed(tmp_path: Path) -> str:
    copy = tmp_path / "mlflow-store"
    shutil.copytree(SIGNATURES / "mlruns", copy / "mlruns")
    return str(copy / "mlruns")


def signed_uris(client: autolog.Client) -> dict[str, str]:
    """The model URI of each run of the signatures' store, by run name."""
    paths = {**{k: v[0] for k, v in SIGNED.items()}, "pytorch": "module", "unexpressed": "model"}
    runs = client.search_runs(lifecycle="all")
    return {r.info.run_name: f"runs:/{r.info.run_id}/{paths[r.info.run_name]}" for r in runs}


@pytest.mark.usefixtures("frameworks")
def test_each_flavor_keeps_mlflow_signature_and_example(signed: str, target: str) -> None:
    import pandas as pd

    line = invoke("import-mlflow", signed, "--tracking-uri", target)
    assert "imported 5 runs" in line
    assert "5 models, 0 model versions" in line
    client = autolog.Client(target)
    uris = signed_uris(client)
    rows = pd.DataFrame(SIGNED_ROWS, columns=[c["name"] for c in SIGNED_COLUMNS])
    for run_name, (_, output) in SIGNED.items():
        info = client.get_model_info(uris[run_name])
        assert info.signature == {
            "inputs": {"type": "dataframe", "columns": SIGNED_COLUMNS},
            "outputs": {"type": "tensor", "dtype": output, "shape": [-1]},
        }, run_name
        assert info.input_example == {"columns": list(rows.columns), "data": SIGNED_ROWS}
        assert "pandas" in info.libraries
        predictor = client.load_predictor(uris[run_name])
        records = rows.to_dict(orient="records")
        predicted = predictor.predict(records)  # JSON's rows, typed by the signature
        model: Any = client.load_model(uris[run_name])
        expected = model.predict(rows.astype({"visits": "int64", "score": "float32"}))
        assert list(predicted) == pytest.approx(list(expected)), run_name
        with pytest.raises(InvalidInputError, match="lacks the column 'visits'"):
            predictor.predict([{k: v for k, v in r.items() if k != "visits"} for r in records])
        with pytest.raises(InvalidInputError, match="column 'age' holds str values"):
            predictor.predict([{**r, "age": "old"} for r in records])


@pytest.mark.usefixtures("frameworks")
def test_a_torch_module_keeps_its_tensor_spec_and_example(signed: str, target: str) -> None:
    import numpy as np

    invoke("import-mlflow", signed, "--tracking-uri", target)
    client = autolog.Client(target)
    uri = signed_uris(client)["pytorch"]
    info = client.get_model_info(uri)
    assert info.signature == {
        "inputs": {"type": "tensor", "dtype": "float32", "shape": [-1, 2]},
        "outputs": {"type": "tensor", "dtype": "float32", "shape": [-1, 1]},
    }
    # make_stores.py's FLAVOR_X[:8], its first 5
    example = [[0.0, 0.0], [0.25, 1.5], [0.5, 0.5], [0.75, 2.0], [1.0, 1.0]]
    assert info.input_example == {"data": example}
    predicted = client.load_predictor(uri).predict(example)
    assert predicted.shape == (5, 1)
    assert predicted.dtype == np.float32
    with pytest.raises(InvalidInputError, match=r"shape \[1, 3\] does not fit .*\[-1, 2\]"):
        client.load_predictor(uri).predict([[1.0, 2.0, 3.0]])


def test_what_autolog_cannot_say_is_left_out_and_said(signed: str, target: str) -> None:
    """An optional column is kept as one; an Array column keeps its place, its type left
    out; the params schema and the example's params are left out; each is said."""
    import pandas as pd

    done: Result = CliRunner().invoke(
        root, ["import-mlflow", signed, "--tracking-uri", target], catch_exceptions=False
    )
    assert done.exit_code == 0, done.output
    line = done.stdout.splitlines()[-1]
    assert "left out" not in line  # imported: a note says what of it was not
    notes = [text for text in done.stderr.splitlines() if text.startswith("note: ")]
    line = "\n".join(notes)
    client = autolog.Client(target)
    uri = signed_uris(client)["unexpressed"]
    run_id = uri.split("/")[1]
    shown = CliRunner().invoke(root, ["models", "show", uri, "--tracking-uri", target])
    assert shown.exit_code == 0, shown.output
    assert re.search(r"visits\s+int64 \(optional\)", shown.stdout), shown.stdout
    assert "note: logged model m-6670f4a1c0ce40e2a89407248a2a3e29 'model' of run " in line
    assert (
        f"'model' of run {run_id}: imported without the MLflow type of column 'tags' (array "
        "of string), which autolog's dtypes cannot say (any value goes there); its MLflow "
        "signature's params (threshold): autolog's signatures have none; its input example's "
        "params (autolog's examples have none)"
    ) in line
    info = client.get_model_info(uri)
    assert info.signature == {
        "inputs": {
            "type": "dataframe",
            "columns": [
                {"name": "age", "dtype": "float64"},
                {"name": "visits", "dtype": "int64", "required": False},
                {"name": "tags", "dtype": "object"},
            ],
        },
        "outputs": {"type": "dataframe", "columns": [{"name": "label", "dtype": "int64"}]},
    }
    assert info.input_example is not None
    assert info.input_example["columns"] == ["age", "visits", "tags"]
    assert info.input_example["data"] == [[r[0], r[1], ["a", "b"]] for r in SIGNED_ROWS]
    predictor = client.load_predictor(uri)
    records = [
        dict(zip(["age", "visits", "tags"], r, strict=True)) for r in info.input_example["data"]
    ]
    model: Any = client.load_model(uri)
    frame = pd.DataFrame(records).astype({"visits": "int64"})
    assert list(predictor.predict(records)) == list(model.predict(frame))
    with pytest.raises(InvalidInputError, match="lacks the column 'age'"):
        predictor.predict([{k: v for k, v in r.items() if k != "age"} for r in records])
    optional = predictor.prepare([{k: v for k, v in r.items() if k != "visits"} for r in records])
    assert list(optional.columns) == ["age", "tags"]  # MLflow's optional column may be absent


def test_every_file_of_a_signed_model_is_hashed(signed: str, target: str, tmp_path: Path) -> None:
    invoke("import-mlflow", signed, "--tracking-uri", target)
    client = autolog.Client(target)
    run_id, path = signed_uris(client)["sklearn"][6:].split("/")
    recorded = client.store.get_model_files(run_id, path)
    assert recorded is not None
    (meta_file,) = (
        p
        for p in tmp_path.rglob(f"{run_id}/**/{path}/autolog-model.json")
        if "mlflow-store" not in p.parts
    )
    on_disk = {
        f"{path}/{p.relative_to(meta_file.parent).as_posix()}"
        for p in meta_file.parent.rglob("*")
        if p.is_file()
    }
    assert set(recorded) == on_disk
    assert f"{path}/input_example.json" in on_disk
    assert f"{path}/serving_input_example.json" in on_disk
    meta_file.chmod(0o644)  # the signature is in the metadata: changing it is refused
    meta_file.write_text(meta_file.read_text().replace('"visits"', '"visitz"'))
    with pytest.raises(ModelIntegrityError):
        client.load_predictor(f"runs:/{run_id}/{path}")


def test_a_long_signature_is_folded_back_into_one_line() -> None:
    text = (
        "signature:\n"
        '  inputs: \'[{"type": "tensor", "tensor-spec": {"dtype": "float32", "shape": [-1,\n'
        "    -1]}}]'\n"
        "  outputs: 'it''s\n"
        "    folded\n"
        "\n"
        "    twice'\n"
        "  params: null\n"
        "flavors:\n"
        "  note: plain text that\n"
        "    goes on\n"
        '  quoted: "a\\\n'
        '    b"\n'
    )
    parsed = parse_mlmodel(text)
    assert json.loads(parsed["signature"]["inputs"]) == [
        {"type": "tensor", "tensor-spec": {"dtype": "float32", "shape": [-1, -1]}}
    ]
    assert parsed["signature"]["outputs"] == "it's folded\ntwice"
    assert parsed["signature"]["params"] is None
    assert parsed["flavors"] == {"note": "plain text that goes on", "quoted": "ab"}


def signed_folder(
    folder: Path, signature: dict[str, str | None], example: Any = None, kind: str = "ndarray"
) -> Path:
    """An MLflow sklearn model folder with ``signature`` (JSON text of each part) and, where
    given, an input example of MLflow's ``kind``."""
    lines = ["flavors:", "  sklearn:", "    pickled_model: model.pkl", "signature:"]
    for part, text in signature.items():
        lines.append(
            f"  {part}: " + ("null" if text is None else "'" + text.replace("'", "''") + "'")
        )
    folder.mkdir()
    if example is not None:
        lines += [
            "saved_input_example_info:",
            "  artifact_path: input_example.json",
            f"  type: {kind}",
        ]
        (folder / "input_example.json").write_text(json.dumps(example))
    (folder / "MLmodel").write_text("\n".join(lines) + "\n")
    (folder / "model.pkl").write_bytes(b"never unpickled here")
    return folder


def spec(**fields: Any) -> str:
    return json.dumps([fields])


def test_signatures_autolog_cannot_say_are_left_out(tmp_path: Path) -> None:
    tensors = json.dumps(
        [
            {"type": "tensor", "name": n, "tensor-spec": {"dtype": "float64", "shape": [-1]}}
            for n in ("a", "b")
        ]
    )
    conversion, note = convert(signed_folder(tmp_path / "named", {"inputs": tensors}))
    assert conversion is not None
    assert "signature" not in conversion.meta
    assert note == (
        "imported without its MLflow signature's inputs (named tensors (a, b): autolog's "
        "signature has one tensor, unnamed)"
    )
    unnamed = json.dumps([{"type": "double"}, {"type": "double"}])
    text = spec(type="tensor", **{"tensor-spec": {"dtype": "str", "shape": [-1]}})
    signature = {"inputs": unnamed, "outputs": text}
    conversion, note = convert(signed_folder(tmp_path / "unnamed", signature))
    assert conversion is not None
    assert "signature" not in conversion.meta
    assert note == (
        "imported without its MLflow signature's inputs (2 columns without names (autolog's "
        "columns are named)); its MLflow signature's outputs (a tensor of dtype 'str', which "
        "autolog's tensors do not take)"
    )


def test_one_unnamed_column_is_a_tensor_of_one_value_a_row(tmp_path: Path) -> None:
    signature = {"inputs": spec(type="string", required=True), "outputs": spec(type="long")}
    folder = signed_folder(tmp_path / "text", signature, ["a", "b"] * 4)
    conversion, note = convert(folder)
    assert note is None
    assert conversion is not None
    assert conversion.meta["signature"] == {
        "inputs": {"type": "tensor", "dtype": "object", "shape": [-1]},
        "outputs": {"type": "tensor", "dtype": "int64", "shape": [-1]},
    }
    assert conversion.meta["input_example"] == {"data": ["a", "b", "a", "b", "a"]}


def test_examples_autolog_cannot_keep_are_left_out(tmp_path: Path) -> None:
    inputs = spec(type="binary", name="blob", required=True)
    example = {"columns": ["blob"], "data": [["AAE="]]}
    folder = signed_folder(tmp_path / "binary", {"inputs": inputs}, example, "dataframe")
    conversion, note = convert(folder)
    assert conversion is not None
    assert conversion.meta["signature"]["inputs"]["columns"] == [
        {"name": "blob", "dtype": "object"}
    ]
    assert "input_example" not in conversion.meta
    assert note == "imported without its input example (column blob holds base64 text, not bytes)"
    records = [{"text": "hi"}]
    folder = signed_folder(tmp_path / "json", {"inputs": None}, records, "json_object")
    conversion, note = convert(folder)
    assert conversion is not None
    assert "input_example" not in conversion.meta
    assert (
        note
        == "imported without its input example, of MLflow's type 'json_object' (autolog's are rows)"
    )


@pytest.mark.usefixtures("frameworks")
def test_a_model_imported_from_mlflow_exports(signed: str, target: str, tmp_path: Path) -> None:
    """An MLflow model carries its own requirements.txt (kept byte for byte, with its hash):
    the export writes autolog's beside it as autolog-requirements.txt, which the Dockerfile
    and README name."""
    import pandas as pd

    invoke("import-mlflow", signed, "--tracking-uri", target)
    uri = signed_uris(autolog.Client(target))["sklearn"]
    folder = tmp_path / "exported"
    done = CliRunner().invoke(
        root, ["models", "export", uri, str(folder), "--tracking-uri", target]
    )
    assert done.exit_code == 0, done.output
    mlflow_requirements = next((SIGNATURES / "mlruns").rglob("requirements.txt")).read_bytes()
    assert (folder / "requirements.txt").read_bytes().startswith(b"mlflow")
    assert b"mlflow" in mlflow_requirements
    ours = (folder / "autolog-requirements.txt").read_text()
    assert "pip install -r autolog-requirements.txt" in ours
    assert (
        "RUN pip install --no-cache-dir -r autolog-requirements.txt"
        in (folder / "Dockerfile").read_text()
    )
    assert "pip install -r autolog-requirements.txt" in (folder / "README.md").read_text()
    rows = pd.DataFrame(SIGNED_ROWS, columns=[c["name"] for c in SIGNED_COLUMNS])
    exported = autolog.load_predictor(str(folder)).predict(rows)
    original = autolog.Client(target).load_predictor(uri).predict(rows)
    assert (exported == original).all()


def earlier_import(source: str, target: str, monkeypatch: pytest.MonkeyPatch) -> str:
    """Import as autolog did before models were imported: no model planned, so the model
    folders of a run's artifacts are copied as plain files and MLflow 3's logged models are
    not copied at all."""
    import autolog.cli._mlflow_models as mlflow_models

    with monkeypatch.context() as patched:
        patched.setattr(mlflow_models, "run_models", lambda run, artifacts, logged: [])
        return invoke("import-mlflow", source, "--tracking-uri", target)


def test_models_of_runs_imported_before_are_named_with_the_way_to_bring_them(
    source: str, target: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """A run an earlier autolog imported has ended here, and an ended run takes no new model
    (its record is final): a later import leaves it as it is, names the models it lacks and
    how to bring them, and that way (the run deleted for good, then imported again) works."""
    from sklearn.linear_model import LogisticRegression

    first = earlier_import(source, target, monkeypatch)
    assert "1 runs into" in first
    assert "models," not in first
    client = autolog.Client(target)
    (run,) = client.search_runs(lifecycle="all")
    run_id = run.info.run_id
    before = client.store.get_artifact_hashes(run_id)
    assert "clf/model.pkl" in before
    again = invoke("import-mlflow", source, "--tracking-uri", target)
    assert again.startswith("imported 0 runs into 0 experiments")
    assert "1 runs were imported before" in again
    for path in ("clf", "model"):
        assert (
            f"model {path!r} of run {run_id}: the run was imported before autolog imported "
            f"models, and an ended run takes no new model (`autolog runs delete {run_id} && "
            "autolog gc`, then import again, brings it)"
        ) in again
    after = autolog.Client(target)
    assert after.store.get_model_files(run_id, "clf") is None
    assert after.store.get_artifact_hashes(run_id) == before
    (same,) = after.search_runs(lifecycle="all")
    assert same.data == run.data
    assert same.info == run.info
    # the way the summary gives
    for args in (("runs", "delete", run_id), ("gc",)):
        done = CliRunner().invoke(root, [*args, "--tracking-uri", target])
        assert done.exit_code == 0, done.output
    last = invoke("import-mlflow", source, "--tracking-uri", target)
    assert "imported 1 runs" in last
    assert f"of run {run_id}: the run was imported before" not in last
    expected = LogisticRegression().fit(TRAIN_X, TRAIN_Y)
    brought = autolog.Client(target)
    assert brought.store.get_model_files(run_id, "clf") is not None
    for uri in ("models:/iris-lr@champion", "models:/iris-lr/2"):
        model = brought.load_model(uri)
        assert list(model.predict(TRAIN_X)) == list(expected.predict(TRAIN_X))  # type: ignore[attr-defined]


def test_an_alias_autolog_refuses_is_left_out_and_named(tmp_path: Path, target: str) -> None:
    """MLflow allows aliases such as "a-b" that autolog refuses (``models:/NAME@ALIAS`` takes
    identifiers): the import goes on without that alias and the summary names it."""
    import sqlite3
    from contextlib import closing

    copy = tmp_path / "mlflow-store"
    shutil.copytree(DATA / "sqlite", copy)
    with closing(sqlite3.connect(copy / "mlflow.db")) as db, db:
        db.execute(
            "INSERT INTO registered_model_aliases (alias, version, name) VALUES (?, ?, ?)",
            ("a-b", 1, "iris-lr"),
        )
    line = invoke("import-mlflow", f"sqlite:///{copy / 'mlflow.db'}", "--tracking-uri", target)
    assert "2 aliases" in line
    assert "alias iris-lr@a-b: model aliases must be identifiers, not 'a-b'" in line
    model = autolog.Client(target).get_registered_model("iris-lr")
    assert dict(model.aliases) == {"champion": 2, "first": 1}
