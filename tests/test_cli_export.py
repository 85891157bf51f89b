"""``autolog export`` and ``search_runs(output_format="pandas")``: one row per run."""

from __future__ import annotations

import csv
import json
import math
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

import autolog
from autolog.cli._group import root


def invoke(*args: str) -> Result:
    return CliRunner().invoke(root, list(args), catch_exceptions=False)


@pytest.fixture
def runs() -> list[autolog.Run]:
    made = []
    with autolog.start_run(run_name="a", experiment="mnist", tags={"team": "x"}) as a:
        autolog.log_params({"lr": 0.1, "model": "mlp"})
        autolog.log_metrics({"acc": 0.8, "loss": float("nan")})
    made.append(a)
    with autolog.start_run(run_name="b", experiment="mnist") as b:
        autolog.log_params({"lr": 0.01, "depth": 3})
        autolog.log_metric("acc", 0.9)
        with autolog.start_run(run_name="child", nested=True) as child:
            autolog.log_metric("acc", 0.5)
    made.extend([b, child])
    with autolog.start_run(run_name="elsewhere", experiment="other"):
        pass
    return [autolog.get_run(r.info.run_id) for r in made]


ATTRIBUTES = [
    "run_id",
    "run_name",
    "experiment_id",
    "experiment_name",
    "status",
    "start_time",
    "end_time",
    "parent_run_id",
    "artifact_uri",
]


def test_csv_has_a_row_per_run_and_a_column_per_key(
    runs: list[autolog.Run], tmp_path: Path
) -> None:
    out = tmp_path / "runs.csv"
    done = invoke("export", "-e", "mnist", "-o", str(out))
    assert done.exit_code == 0, done.output
    assert "exported 3 runs" in done.stderr
    with out.open() as f:
        reader = csv.DictReader(f)
        header = reader.fieldnames
        rows = {r["run_name"]: r for r in reader}
    assert header is not None
    assert header[: len(ATTRIBUTES)] == ATTRIBUTES
    assert [h for h in header if not h.startswith("tags.")][len(ATTRIBUTES) :] == [
        "params.depth",
        "params.lr",
        "params.model",
        "metrics.acc",
        "metrics.loss",
    ]
    assert set(rows) == {"a", "b", "child"}
    assert rows["a"]["params.lr"] == "0.1"
    assert rows["a"]["params.depth"] == ""
    assert rows["a"]["metrics.loss"] == "nan"
    assert rows["a"]["tags.team"] == "x"
    assert rows["a"]["experiment_name"] == "mnist"
    assert rows["child"]["parent_run_id"] == runs[1].info.run_id
    assert rows["b"]["start_time"].endswith("Z")


def test_csv_on_stdout_by_default_and_filters_apply(runs: list[autolog.Run]) -> None:
    done = invoke("export", "--filter", "metrics.acc >= 0.8", "--order-by", "metrics.acc")
    rows = list(csv.DictReader(done.stdout.splitlines()))
    assert [r["run_name"] for r in rows] == ["a", "b"]
    assert done.stderr == ""


def test_jsonl(runs: list[autolog.Run], tmp_path: Path) -> None:
    out = tmp_path / "runs.jsonl"
    invoke("export", "-e", "mnist", "-o", str(out))
    records = {r["run_name"]: r for r in map(json.loads, out.read_text().splitlines())}
    assert records["a"]["metrics.acc"] == 0.8
    assert records["a"]["metrics.loss"] is None
    assert records["a"]["params.depth"] is None
    assert records["a"]["start_time"] == runs[0].info.start_time
    assert list(records["a"])[: len(ATTRIBUTES)] == ATTRIBUTES


def test_parquet_is_typed(runs: list[autolog.Run], tmp_path: Path) -> None:
    pq = pytest.importorskip("pyarrow.parquet")
    out = tmp_path / "runs.parquet"
    done = invoke("export", "-e", "mnist", "-o", str(out))
    assert done.exit_code == 0, done.output
    table = pq.read_table(out)
    assert table.num_rows == 3
    assert str(table.schema.field("metrics.acc").type) == "double"
    assert str(table.schema.field("start_time").type) == "timestamp[ms, tz=UTC]"
    assert str(table.schema.field("params.lr").type) == "string"
    rows = {r["run_name"]: r for r in table.to_pylist()}
    assert rows["b"]["params.lr"] == "0.01"
    assert math.isnan(rows["a"]["metrics.loss"])
    assert rows["a"]["params.depth"] is None


def test_export_usage_errors(runs: list[autolog.Run], tmp_path: Path) -> None:
    unknown = CliRunner().invoke(root, ["export", "-o", str(tmp_path / "runs.xlsx")])
    assert unknown.exit_code == 2
    assert "cannot tell the format" in unknown.stderr
    parquet = CliRunner().invoke(root, ["export", "--format", "parquet"])
    assert parquet.exit_code == 2
    bad = CliRunner().invoke(root, ["export", "--filter", "nope", "-o", str(tmp_path / "x.csv")])
    assert bad.exit_code == 1
    assert not (tmp_path / "x.csv").exists()
    assert list(tmp_path.glob(".x.csv*")) == []


def test_search_runs_as_a_dataframe_matches_the_export(runs: list[autolog.Run]) -> None:
    pd = pytest.importorskip("pandas")
    frame = autolog.search_runs("mnist", output_format="pandas")
    assert list(frame["run_name"]) == ["child", "b", "a"]
    exported = list(csv.DictReader(invoke("export", "-e", "mnist").stdout.splitlines()))
    assert list(frame.columns) == list(exported[0])
    assert frame["metrics.acc"].dtype == "float64"
    assert isinstance(frame["start_time"].dtype, pd.DatetimeTZDtype)
    assert str(frame["start_time"].dtype.tz) == "UTC"
    assert frame.loc[frame.run_name == "a", "params.lr"].item() == "0.1"
    assert pd.isna(frame.loc[frame.run_name == "a", "params.depth"].item())
    assert math.isnan(frame.loc[frame.run_name == "a", "metrics.loss"].item())
    assert frame.loc[frame.run_name == "a", "start_time"].item() == pd.Timestamp(
        runs[0].info.start_time, unit="ms", tz="UTC"
    )
    client_frame = autolog.Client().search_runs(
        filter_string="metrics.acc > 0.85", output_format="pandas"
    )
    assert list(client_frame["run_name"]) == ["b"]


def test_search_runs_output_format_is_checked() -> None:
    with pytest.raises(autolog.InvalidInputError, match="output_format"):
        autolog.search_runs(output_format="excel")  # type: ignore[call-overload]


def test_an_empty_search_is_an_empty_dataframe() -> None:
    pytest.importorskip("pandas")
    frame = autolog.search_runs(filter_string="metrics.x > 1", output_format="pandas")
    assert len(frame) == 0
    assert list(frame.columns)[:3] == ["run_id", "run_name", "experiment_id"]
