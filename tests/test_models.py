"""log_model / load_model: model folders, recorded hashes, integrity checks, the registry."""

from __future__ import annotations

import hashlib
import json
import pickle
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest

import autolog
from autolog.models import MODEL_META, register_flavor


class Predictor:
    def __init__(self, weight: float) -> None:
        self.weight = weight

    def predict(self, x: float) -> float:
        return self.weight * x


def _model_dir(run_id: str, name: str = "model") -> Path:
    uri = autolog.get_run(run_id).info.artifact_uri
    return Path(uri.removeprefix("file://")) / name


def test_log_and_load_a_model() -> None:
    with autolog.start_run() as run:
        uri = autolog.log_model(Predictor(3.0), metadata={"input_schema": {"shape": [None, 4]}})
    assert uri == f"runs:/{run.info.run_id}/model"
    loaded = autolog.load_model(uri)
    assert isinstance(loaded, Predictor)
    assert loaded.predict(2.0) == 6.0


def test_model_folder_metadata_and_recorded_hashes() -> None:
    with autolog.start_run() as run:
        autolog.log_model(Predictor(1.5), name="nested/clf")
    folder = _model_dir(run.info.run_id, "nested/clf")
    meta = json.loads((folder / MODEL_META).read_text())
    pickled = (folder / "model.pkl").read_bytes()
    assert meta["flavor"] == "pickle"
    assert meta["model_class"].endswith("Predictor")
    assert meta["python_version"].count(".") == 2
    assert "cloudpickle" in meta["libraries"]
    assert isinstance(meta["created_time"], int)
    assert meta["files"] == {"model.pkl": hashlib.sha256(pickled).hexdigest()}
    recorded = autolog.Client().store.get_artifact_hashes(run.info.run_id, "nested/clf")
    assert recorded == {
        "nested/clf/model.pkl": hashlib.sha256(pickled).hexdigest(),
        "nested/clf/autolog-model.json": hashlib.sha256(
            (folder / MODEL_META).read_bytes()
        ).hexdigest(),
    }


class _Trap:
    """Unpickling this writes a file: proof that something was unpickled."""

    def __init__(self, path: str) -> None:
        self.path = path

    def __reduce__(self) -> tuple[Any, ...]:
        return (Path(self.path).write_text, ("unpickled",))


def test_tampered_pickle_is_refused_before_unpickling(tmp_path: Path) -> None:
    with autolog.start_run() as run:
        autolog.log_model(Predictor(1.0))
    folder = _model_dir(run.info.run_id)
    marker = tmp_path / "marker"
    (folder / "model.pkl").write_bytes(pickle.dumps(_Trap(str(marker))))
    with pytest.raises(autolog.ModelIntegrityError) as caught:
        autolog.load_model(f"runs:/{run.info.run_id}/model")
    assert caught.value.path == "model/model.pkl"
    assert caught.value.expected != caught.value.actual
    assert not marker.exists()


def test_tampered_metadata_and_missing_files_are_refused() -> None:
    with autolog.start_run() as run:
        autolog.log_model(Predictor(1.0))
    folder = _model_dir(run.info.run_id)
    meta = folder / MODEL_META
    original = meta.read_bytes()
    meta.write_bytes(original.replace(b'"pickle"', b'"evil"'))
    with pytest.raises(autolog.ModelIntegrityError, match=MODEL_META):
        autolog.load_model(f"runs:/{run.info.run_id}/model")
    meta.write_bytes(original)
    (folder / "model.pkl").unlink()
    with pytest.raises(autolog.NotFoundError, match=r"model\.pkl' not found") as missing:
        autolog.load_model(f"runs:/{run.info.run_id}/model")
    assert str(folder.resolve() / "model.pkl") in str(missing.value)  # where it was expected


def test_a_file_without_recorded_hash_is_refused(tmp_path: Path) -> None:
    # An attacker who can write artifacts but not the tracking store cannot plant a model.
    with autolog.start_run() as run:
        autolog.log_artifact(_write(tmp_path / "x.txt", "x"))
    root = Path(autolog.get_run(run.info.run_id).info.artifact_uri.removeprefix("file://"))
    planted = root / "planted"
    planted.mkdir()
    (planted / "model.pkl").write_bytes(pickle.dumps(Predictor(9.0)))
    (planted / MODEL_META).write_text(json.dumps({"flavor": "pickle", "files": {}}))
    with pytest.raises(autolog.NotFoundError):
        autolog.load_model(f"runs:/{run.info.run_id}/planted")


def _write(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


def test_registry_versions_and_aliases() -> None:
    uris = []
    for weight in (1.0, 2.0):
        with autolog.start_run():
            uris.append(autolog.log_model(Predictor(weight)))
    first = autolog.register_model(uris[0], "scorer")
    second = autolog.register_model(uris[1], "scorer")
    assert (first.version, second.version) == (1, 2)
    assert second.source == uris[1]
    autolog.set_model_alias("scorer", "champion", 1)
    assert autolog.load_model("models:/scorer@champion").weight == 1.0  # type: ignore[attr-defined]
    autolog.set_model_alias("scorer", "champion", 2)
    assert autolog.load_model("models:/scorer@champion").weight == 2.0  # type: ignore[attr-defined]
    assert autolog.load_model("models:/scorer/1").weight == 1.0  # type: ignore[attr-defined]
    assert autolog.Client().get_model_version("scorer", 2).aliases == ("champion",)
    with pytest.raises(autolog.NotFoundError):
        autolog.load_model("models:/scorer/3")
    with pytest.raises(autolog.NotFoundError):
        autolog.load_model("models:/scorer@nobody")


@pytest.mark.parametrize(
    "uri",
    [
        "runs:/",
        "runs:/abc",
        "models:/",
        "models:/x/notanumber",
        "s3://b/k",
        "runs:/r/../x",
    ],
)
def test_bad_model_uris(uri: str) -> None:
    with pytest.raises(autolog.InvalidInputError):
        autolog.load_model(uri)


def test_a_local_folder_that_holds_no_model_is_not_found(tmp_path: Path) -> None:
    # anything but runs:/ and models:/ is a folder on this machine (an exported model)
    with pytest.raises(autolog.NotFoundError, match="model"):
        autolog.load_model(str(tmp_path / "model"))
    with pytest.raises(autolog.NotFoundError, match="model"):
        autolog.load_model("model")


def test_registering_something_that_is_not_a_model() -> None:
    with autolog.start_run() as run:
        autolog.log_metric("m", 1.0)
    with pytest.raises(autolog.NotFoundError):
        autolog.register_model(f"runs:/{run.info.run_id}/model", "nothing")
    with pytest.raises(autolog.InvalidInputError):
        autolog.register_model(f"runs:/{run.info.run_id}/model", "bad/name")


class _TextFlavor:
    name = "text_test"

    def save(self, model: object) -> dict[str, bytes]:
        return {"model.txt": str(model).encode()}

    def load(self, files: Mapping[str, bytes], meta: Mapping[str, Any]) -> object:
        return files["model.txt"].decode()


def test_custom_flavors_register_once() -> None:
    flavor = _TextFlavor()
    register_flavor(flavor, replace=True)
    with autolog.start_run() as run:
        autolog.log_model(12345, flavor="text_test")
    assert autolog.load_model(f"runs:/{run.info.run_id}/model") == "12345"
    with pytest.raises(autolog.IntegrationError, match="already registered"):
        register_flavor(_TextFlavor())
    with pytest.raises(autolog.IntegrationError, match="identifier"):
        register_flavor(type("Bad", (), {"name": "no spaces allowed", "save": 1, "load": 1})())
    with autolog.start_run(), pytest.raises(autolog.NotFoundError, match="flavor"):
        autolog.log_model(1, flavor="unknown_flavor")


def test_unpicklable_model_raises_in_the_caller() -> None:
    import threading

    with autolog.start_run(), pytest.raises(autolog.InvalidValueError) as caught:
        autolog.log_model(threading.Lock())
    assert isinstance(caught.value.__cause__, TypeError)


@pytest.mark.slow
def test_builtin_flavors_load_on_first_use(tmp_path: Path) -> None:
    from support import run_script

    done = run_script(
        """
        import autolog, lightgbm, numpy as np
        X = np.arange(40, dtype=float).reshape(20, 2)
        booster = lightgbm.train({"verbose": -1, "num_threads": 1}, lightgbm.Dataset(X, X[:, 0]), 3)
        with autolog.start_run() as run:
            autolog.log_model(booster, flavor="lightgbm")  # autolog() was never called
        loaded = autolog.load_model(f"runs:/{run.info.run_id}/model")
        print(type(loaded).__name__, bool((loaded.predict(X) == booster.predict(X)).all()))
        """,
        tmp_path,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["Booster", "True"]


def test_flavors_of_other_packages_load_through_their_entry_points(tmp_path: Path) -> None:
    from support import run_script

    site = tmp_path / "site"
    (site / "textflavor").mkdir(parents=True)
    (site / "textflavor" / "__init__.py").write_text(
        "class TextFlavor:\n"
        "    name = 'shouty'\n"
        "    def save(self, model):\n"
        "        return {'model.txt': str(model).upper().encode()}\n"
        "    def load(self, files, meta):\n"
        "        return files['model.txt'].decode()\n"
        "FLAVOR = TextFlavor()\n"
        "class Misnamed(TextFlavor):\n"
        "    name = 'other'\n"
        "MISNAMED = Misnamed()\n"
    )
    info = site / "textflavor-1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: textflavor\nVersion: 1.0\n")
    (info / "entry_points.txt").write_text(
        "[autolog.flavors]\nshouty = textflavor:FLAVOR\nmisnamed = textflavor:MISNAMED\n"
        "broken = textflavor:NOT_THERE\n"
    )
    done = run_script(
        f"""
        import sys
        sys.path.insert(0, {str(site)!r})
        import autolog
        with autolog.start_run() as run:
            autolog.log_model("quiet words", flavor="shouty")
        print(autolog.load_model(f"runs:/{{run.info.run_id}}/model"))
        for name in ("misnamed", "broken"):
            try:
                with autolog.start_run():
                    autolog.log_model("x", flavor=name)
            except autolog.IntegrationError as error:
                print(type(error).__name__, name in str(error))
        """,
        tmp_path,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == [
        "QUIET WORDS",
        "IntegrationError True",
        "IntegrationError True",
    ]
