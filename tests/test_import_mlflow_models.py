"""``autolog import-mlflow`` with models: MLflow's registry and the models MLflow logged (an
MLflow 3 logged model and a model folder in a run's artifacts), from a store MLflow itself
wrote (tests/data/mlflow/registry: an MLflow SQLite store and an mlruns folder of the same
content, made by ``make_stores.py registry``), imported into SQLite and file stores."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

import autolog
from autolog.cli._group import root
from autolog.cli._mlflow_models import parse_mlmodel
from autolog.errors import ModelIntegrityError

DATA = Path(__file__).parent / "data" / "mlflow" / "registry"
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
