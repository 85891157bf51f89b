"""Models taken elsewhere (issue 20, items 1, 4, 6, 7): ``models:/NAME/latest``, ``autolog
models show URI``, ``autolog models predict`` on CSV, Parquet and JSON lines in chunks, and
``autolog models export`` to a folder that ``load_model`` and ``load_predictor`` take."""

from __future__ import annotations

import hashlib
import json
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from click.testing import CliRunner, Result
from engines import logged_model, register

import autolog
from autolog import batch, registry
from autolog.cli._group import root
from autolog.errors import InvalidInputError, ModelIntegrityError, NotFoundError
from autolog.export import export_model
from autolog.stores import Store

pd = pytest.importorskip("pandas")
pytest.importorskip("sklearn")


def invoke(*args: str) -> Result:
    return CliRunner().invoke(root, list(args))


def frame(rows: int, seed: int = 0) -> Any:
    rng = np.random.default_rng(seed)
    return pd.DataFrame(
        {
            "age": rng.random(rows) * 80,
            "visits": rng.integers(0, 9, rows),
            "score": rng.random(rows),
        }
    )


class Recording:
    """A real model (pickle flavor) that says how many rows each predict call got: two
    outputs per row, the sum of the row and its age doubled."""

    def __init__(self) -> None:
        self.sizes: list[int] = []

    def predict(self, data: Any) -> Any:
        self.sizes.append(len(data))
        return np.column_stack([data.sum(axis=1).to_numpy(), data["age"].to_numpy() * 2])


@pytest.fixture
def model() -> Any:
    """A LogisticRegression with its signature, logged to the default store and registered
    as clf (versions 1 and 2: the same model twice)."""
    from sklearn.linear_model import LogisticRegression

    data = frame(200)
    fitted = LogisticRegression(max_iter=500).fit(data, (data["age"] > 40).astype(int))
    with autolog.Client() as client:
        for _ in range(2):
            run_id = client.create_run("models").info.run_id
            uri = client.log_model(run_id, fitted, input_example=data)
            client.set_terminated(run_id)
            assert client.flush(30)
            client.register_model(uri, "clf")
    return fitted


def write(data: Any, path: Path) -> Path:
    if path.suffix == ".csv":
        data.to_csv(path, index=False)
    elif path.suffix == ".parquet":
        data.to_parquet(path, index=False)
    else:
        data.to_json(path, orient="records", lines=True)
    return path


def read(path: Path) -> Any:
    if path.suffix == ".csv":
        return pd.read_csv(path)
    if path.suffix == ".parquet":
        return pd.read_parquet(path)
    return pd.read_json(path, lines=True, dtype=False)


# -- models:/NAME/latest --------------------------------------------------------------------


def test_latest_is_the_highest_version_that_exists(store: Store) -> None:
    sources = [logged_model(store) for _ in range(3)]
    for source in sources:
        register(store, "clf", source)
    assert registry.model_version(store, "models:/clf/latest").version == 3
    assert registry.model_location(store, "models:/clf/latest")[0] == sources[2].split("/")[1]
    store.delete_model_version("clf", 3)
    assert registry.model_version(store, "models:/clf/latest").version == 2
    store.delete_model_version("clf", 1)
    store.delete_model_version("clf", 2)
    with pytest.raises(NotFoundError, match="clf/latest") as found:
        registry.model_version(store, "models:/clf/latest")
    assert "has no versions" in str(found.value)
    with pytest.raises(NotFoundError, match="registered model 'nope'"):
        registry.model_version(store, "models:/nope/latest")


def test_latest_loads_and_describes_the_newest_version(model: Any) -> None:
    latest = autolog.get_model_info("models:/clf/latest")
    assert latest.registered == ("clf/2",)
    assert latest.run_id == autolog.get_model_info("models:/clf/2").run_id
    data = frame(20, seed=3)
    assert (autolog.load_predictor("models:/clf/latest").predict(data) == model.predict(data)).all()


# -- autolog models show URI -------------------------------------------------------------------


def test_show_a_model_uri_prints_its_signature_requirements_and_versions(model: Any) -> None:
    import sklearn

    done = invoke("models", "show", "models:/clf/latest")
    assert done.exit_code == 0, done.output
    lines = [line.split("\t") for line in done.stdout.splitlines()]
    assert lines[0] == ["section", "key", "value"]
    rows = {(section, key): value for section, key, value in lines[1:]}
    assert rows["model", "flavor"] == "pickle"
    assert rows["model", "class"].endswith("LogisticRegression")
    assert rows["model", "registered"] == "clf/2"
    assert rows["model", "input example"] == "5 rows"
    inputs = [(k, v) for (section, k), v in rows.items() if section == "input columns"]
    assert inputs == [("age", "float64"), ("visits", "int64"), ("score", "float64")]
    assert rows["output tensor", "shape"] == "[-1]"
    assert rows["requirements", "scikit-learn"] == sklearn.__version__

    as_json = json.loads(invoke("models", "show", "models:/clf/1", "--format", "json").stdout)
    assert as_json["signature"]["inputs"]["columns"][1] == {"name": "visits", "dtype": "int64"}
    assert as_json["registered"] == ["clf/1"]
    assert as_json["input_example"]["columns"] == ["age", "visits", "score"]
    assert f"scikit-learn=={sklearn.__version__}" in as_json["requirements"]


def test_show_keeps_registered_names_apart_from_uris_and_folders(model: Any) -> None:
    versions = invoke("models", "show", "clf").stdout.splitlines()
    assert versions[0].split("\t")[:2] == ["version", "aliases"]  # the registered model
    export = invoke("models", "export", "models:/clf/1", "exported")
    assert export.exit_code == 0, export.output
    shown = invoke("models", "show", "./exported").stdout
    assert "model\tflavor\tpickle" in shown
    assert "model\trun id" not in shown  # a folder has no run
    for args, message in [
        (["models", "show", "models:/clf/9"], "model version 'clf/9' not found"),
        (["models", "show", "./nowhere"], "not found"),
        (["models", "show", "runs:/0123456789abcdef0123456789abcdef/model"], "not found"),
    ]:
        done = invoke(*args)
        assert done.exit_code == 1, (args, done.output)
        assert message in done.stderr, (args, done.stderr)
        assert "Traceback" not in done.output


# -- autolog models predict ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("read_as", "write_as"), [("csv", "csv"), ("parquet", "jsonl"), ("jsonl", "parquet")]
)
def test_predict_a_file_in_chunks_in_every_format(
    model: Any, tmp_path: Path, read_as: str, write_as: str
) -> None:
    if "parquet" in (read_as, write_as):
        pytest.importorskip("pyarrow")
    data = frame(1000, seed=1)
    source = write(data, tmp_path / f"rows.{read_as}")
    target = tmp_path / f"out.{write_as}"
    done = invoke(
        "models", "predict", "models:/clf/latest", "-i", str(source), "-o", str(target),
        "--chunk-rows", "128", "--keep-columns",
    )  # fmt: skip
    assert done.exit_code == 0, done.output
    assert "predicted 1000 rows in 8 chunks" in done.stderr
    written = read(target)
    assert list(written.columns) == ["age", "visits", "score", "prediction"]
    assert (written["prediction"].to_numpy() == model.predict(data)).all()
    assert np.allclose(written["age"].to_numpy(), data["age"].to_numpy(), rtol=1e-14)
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []  # no temp left


def test_predict_writes_one_column_per_output_and_streams(tmp_path: Path) -> None:
    data = frame(50)
    with autolog.Client() as client:
        run_id = client.create_run("recording").info.run_id
        client.log_model(run_id, Recording(), input_example=data)
        assert client.flush(30)
    uri = f"runs:/{run_id}/model"
    done = invoke("models", "predict", uri, "-i", str(write(data, tmp_path / "in.csv")), "-o", "-")
    assert done.exit_code == 0, done.output
    lines = done.stdout.splitlines()
    assert lines[0] == "prediction_0,prediction_1"
    assert len(lines) == 51
    assert float(lines[1].split(",")[1]) == pytest.approx(data["age"][0] * 2)
    piped = CliRunner().invoke(
        root, ["models", "predict", uri, "-i", "-", "-o", "-"], input=data.to_csv(index=False)
    )
    assert piped.exit_code == 0, piped.output
    assert piped.stdout == done.stdout

    predictor = autolog.load_predictor(uri)
    report = batch.predict_file(
        predictor, str(tmp_path / "in.csv"), str(tmp_path / "out.jsonl"), chunk_rows=7
    )
    assert (report.rows, report.chunks) == (50, 8)
    assert predictor.model.sizes == [7] * 7 + [1]  # never more than a chunk at once
    assert report.columns == ("prediction_0", "prediction_1")


def test_predict_reports_progress_up_to_the_whole_file(model: Any, tmp_path: Path) -> None:
    source = write(frame(3000), tmp_path / "in.csv")
    seen: list[tuple[int, int]] = []
    predictor = autolog.load_predictor("models:/clf/1")
    batch.predict_file(
        predictor,
        str(source),
        str(tmp_path / "out.csv"),
        chunk_rows=500,
        progress=lambda done, total: seen.append((done, total)),
    )
    assert len(seen) == 6
    assert {total for _, total in seen} == {source.stat().st_size}
    done = [d for d, _ in seen]
    assert done == sorted(done)
    assert done[-1] == source.stat().st_size


def test_bad_input_names_the_rows_and_the_column_and_writes_nothing(
    model: Any, tmp_path: Path
) -> None:
    data = frame(300)
    text = data.astype({"visits": object})
    text.loc[250, "visits"] = "many"
    ragged = write(data, tmp_path / "ragged.csv")
    lines = ragged.read_text().splitlines()
    ragged.write_text("\n".join([*lines[:120], "1,2,3,4", *lines[120:]]) + "\n")
    cases = [
        (write(text, tmp_path / "text.csv"), [], "rows 201-300 of", "column 'visits' holds"),
        (write(data[["age", "score"]], tmp_path / "two.csv"), [], "rows 1-100 of", "'visits'"),
        (ragged, [], "cannot read the rows after row 100", "line 121"),
        (write(data.head(0), tmp_path / "empty.csv"), [], "holds no rows", "empty.csv"),
        (tmp_path / "absent.csv", [], "no input file", "absent.csv"),
        (write(data, tmp_path / "rows.txt"), [], "cannot tell the format", "rows.txt"),
        (write(data, tmp_path / "in.csv"), ["--format", "parquet"], "not streams", "Parquet"),
    ]
    for source, extra, where, what in cases:
        target = "-" if extra else str(tmp_path / "out.csv")
        done = invoke(
            "models", "predict", "models:/clf/1", "-i", str(source), "-o", target,
            "--chunk-rows", "100", *extra,
        )  # fmt: skip
        assert done.exit_code == 1, (source, done.output)
        assert where in done.stderr, (source, done.stderr)
        assert what in done.stderr, (source, done.stderr)
        assert "Traceback" not in done.output
        assert not (tmp_path / "out.csv").exists()
    data["prediction"] = 0
    clash = write(data, tmp_path / "clash.csv")
    done = invoke(
        "models", "predict", "models:/clf/1", "-i", str(clash), "-o", "x.csv", "--keep-columns"
    )
    assert done.exit_code == 1
    assert "has a column 'prediction' already" in done.stderr


def test_a_model_that_refuses_rows_is_named_with_them(model: Any, tmp_path: Path) -> None:
    data = frame(20)
    data.loc[13, "score"] = np.nan  # LogisticRegression refuses NaN
    source = write(data, tmp_path / "nan.csv")
    done = invoke(
        "models",
        "predict",
        "models:/clf/1",
        "-i",
        str(source),
        "-o",
        "out.csv",
        "--chunk-rows",
        "10",
    )
    assert done.exit_code == 1
    assert "rows 11-20 of" in done.stderr
    assert "the model refused them (ValueError" in done.stderr


def test_parquet_without_pyarrow_names_what_to_install(
    model: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    source = write(frame(10), tmp_path / "in.csv")
    monkeypatch.setitem(sys.modules, "pyarrow", None)  # an environment without it
    monkeypatch.setitem(sys.modules, "pyarrow.parquet", None)
    done = invoke("models", "predict", "models:/clf/1", "-i", str(source), "-o", "out.parquet")
    assert done.exit_code == 1
    assert "needs pyarrow, which is not installed: pip install 'autolog[models]'" in done.stderr
    predictor = autolog.load_predictor("models:/clf/1")
    with pytest.raises(InvalidInputError, match="pip install pyarrow"):
        batch.predict_file(predictor, str(source), str(tmp_path / "out.parquet"))


# -- autolog models export ---------------------------------------------------------------------


def test_export_writes_a_folder_that_loads_and_predicts(model: Any, tmp_path: Path) -> None:
    import sklearn

    done = invoke("models", "export", "models:/clf/latest", str(tmp_path / "out"))
    assert done.exit_code == 0, done.output
    folder = Path(done.stdout.strip())
    assert sorted(p.name for p in folder.iterdir()) == [
        "Dockerfile", "README.md", "autolog-model.json", "model.pkl", "requirements.txt",
    ]  # fmt: skip
    info = autolog.get_model_info("models:/clf/latest")
    recorded = autolog.Client().store.get_model_files(info.run_id or "", "model") or {}
    for name in ("model.pkl", "autolog-model.json"):  # byte for byte as logged
        digest = hashlib.sha256((folder / name).read_bytes()).hexdigest()
        assert digest == recorded[f"model/{name}"]
    data = frame(30, seed=5)
    assert (autolog.load_model(str(folder)).predict(data) == model.predict(data)).all()
    assert (autolog.load_predictor(folder.as_uri()).predict(data) == model.predict(data)).all()
    with pytest.raises(InvalidInputError, match="lacks the column 'visits'"):
        autolog.load_predictor(str(folder)).predict(data[["age", "score"]])

    requirements = (folder / "requirements.txt").read_text().splitlines()
    from autolog.export import autolog_requirement

    assert autolog_requirement("server")[0] in requirements
    assert f"scikit-learn=={sklearn.__version__}" in requirements
    assert not any(line.startswith("autolog==") for line in requirements)
    dockerfile = (folder / "Dockerfile").read_text()
    python = ".".join(info.python_version.split(".")[:2])
    assert f"FROM python:{python}-slim" in dockerfile
    assert 'ENTRYPOINT ["autolog", "models", "serve", "/model"]' in dockerfile
    readme = (folder / "README.md").read_text()
    for expected in ("| visits | int64 |", "clf/2", info.run_id or "?"):
        assert expected in readme


def test_export_refuses_a_folder_that_is_not_empty_unless_forced(
    model: Any, tmp_path: Path
) -> None:
    target = tmp_path / "out"
    target.mkdir()
    (target / "notes.txt").write_text("mine")
    done = invoke("models", "export", "models:/clf/1", str(target))
    assert done.exit_code == 1
    assert "is not empty" in done.stderr
    assert "--force" in done.stderr
    assert [p.name for p in target.iterdir()] == ["notes.txt"]
    forced = invoke("models", "export", "models:/clf/1", str(target), "--force")
    assert forced.exit_code == 0, forced.output
    assert not (target / "notes.txt").exists()
    assert (target / "model.pkl").exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["autolog-runs", "out"]  # nothing staged
    (tmp_path / "file").write_text("x")
    for args, message, code in [
        ([str(tmp_path / "file")], "is a file", 2),  # click's own check of DIR
        ([".", "--force"], "holds the folder this command runs in", 1),
    ]:
        done = invoke("models", "export", "models:/clf/1", *args)
        assert done.exit_code == code, (args, done.output)
        assert message in done.stderr, (args, done.output)
    with autolog.Client() as client, pytest.raises(InvalidInputError, match="is a file"):
        export_model(client, "models:/clf/1", tmp_path / "file")


def test_an_export_of_a_tampered_folder_is_refused_and_leaves_nothing(
    model: Any, tmp_path: Path
) -> None:
    with autolog.Client() as client:
        client.set_model_alias("clf", "prod", 1)
        first = export_model(client, "models:/clf@prod", tmp_path / "a")
        again = export_model(client, str(first), tmp_path / "b")  # an export of an export
        assert (again / "model.pkl").read_bytes() == (first / "model.pkl").read_bytes()
        (first / "model.pkl").write_bytes(b"not the model")
        with pytest.raises(ModelIntegrityError):
            export_model(client, str(first), tmp_path / "c")
    assert not (tmp_path / "c").exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a", "autolog-runs", "b"]
