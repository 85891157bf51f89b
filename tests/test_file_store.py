"""What only the file store promises: readable files, crash-safe histories, many processes.

The behaviour every store shares is in ``test_engine_contract.py`` and ``test_tracking_rules.py``.
"""

from __future__ import annotations

import errno
import json
import math
import multiprocessing
import os
import signal
import struct
import subprocess
import sys
import textwrap
import uuid
import zlib
from pathlib import Path
from typing import Any

import pytest

import autolog.stores.file as file_module
from autolog.entities import Metric, Param, RunStatus, RunTag
from autolog.errors import (
    InvalidInputError,
    NotFoundError,
    ParamCollisionError,
    RunStateError,
    StoreError,
    StoreUnavailableError,
)
from autolog.search import parse_filter
from autolog.stores import Store, file_io, file_journal, file_metrics, file_run, open_store
from autolog.stores.base import RunCreation, RunWrites
from autolog.stores.file import FileStore
from autolog.tracking import PRESUMED_KILLED_TAG

T0 = 1_700_000_000_000


@pytest.fixture
def root(tmp_path: Path) -> Path:
    return tmp_path / "runs"


@pytest.fixture
def store(root: Path) -> FileStore:
    return FileStore(root.as_uri())


def new_run(store: FileStore, experiment: str = "exp", tags: dict[str, str] | None = None) -> str:
    run_id = uuid.uuid4().hex
    experiment_id = store.get_or_create_experiment(experiment).experiment_id
    store.create_run(run_id, experiment_id, "run", T0, "file:///a", None, tags or {})
    return run_id


def run_folder(root: Path, run_id: str) -> Path:
    # run folders sit in experiment folders (.integrity/<run_id> is not one)
    (folder,) = [f for f in root.glob(f"*/{run_id}") if not f.parent.name.startswith(".")]
    return folder


def line(timestamp: int, step: int, value: float) -> bytes:
    body = f"{timestamp} {step} {value!r}".encode()
    return b"%s %08x\n" % (body, zlib.crc32(body))


def all_files(root: Path) -> list[Path]:
    return [Path(folder, name) for folder, _, names in os.walk(root) for name in names]


def same_bits(actual: float, expected: float) -> bool:
    if math.isnan(expected):
        return math.isnan(actual)
    return struct.pack("<d", actual) == struct.pack("<d", expected)


# --------------------------------------------------------------------------------------------
# layout
# --------------------------------------------------------------------------------------------


def test_open_store_takes_file_uris_and_plain_paths(root: Path) -> None:
    by_uri = open_store(root.as_uri())
    by_path = open_store(str(root))

    assert isinstance(by_uri, FileStore)
    assert isinstance(by_uri, Store)
    assert by_uri.artifact_root == by_path.artifact_root == root.resolve().as_uri()
    assert root.is_dir()


def test_the_layout_is_plain_files_a_person_can_read(store: FileStore, root: Path) -> None:
    experiment = store.get_or_create_experiment("Default")
    run_id = new_run(store, "Default", tags={"source": "train.py"})
    store.log_batch(
        run_id,
        metrics=[Metric("train/loss", 0.5, 1, T0), Metric("train/loss", 0.25, 2, T0 + 7)],
        params=[Param("lr", "0.01"), Param("optimizer/name", "adam"), Param("C", "1.0")],
        tags=[RunTag("team", "vision")],
    )
    store.record_artifact_hashes(run_id, {"model/model.pkl": "ab" * 32})
    store.update_run(run_id, RunStatus.FINISHED, T0 + 10)
    folder = root / "0" / run_id

    assert experiment.experiment_id == "0"
    assert experiment.artifact_location == f"{root.resolve().as_uri()}/0"
    assert json.loads((root / "0" / "experiment.json").read_text())["name"] == "Default"
    assert (root / ".names" / "^default").read_text() == "0"
    info = json.loads((folder / "run.json").read_text())
    assert (info["run_id"], info["status"], info["end_time"]) == (run_id, "FINISHED", T0 + 10)
    assert (folder / "params" / "lr").read_text() == "0.01"
    assert (folder / "params" / "optimizer.d" / "name").read_text() == "adam"
    assert (folder / "params" / "^c").read_text() == "1.0"  # upper case stays apart from "c"
    assert (folder / "tags" / "source").read_text() == "train.py"
    assert (folder / "tags" / "team").read_text() == "vision"
    # the journal the files show, one value a line: grep finds a value there too (a batch's
    # params in the order the tracking service hands them over: by key)
    journal = (folder / "journal").read_text().splitlines()
    assert [entry.rsplit(" ", 1)[0] for entry in journal] == [
        '["journal", 1]',
        '["tag", "source", "train.py"]',
        '["param", "C", "1.0"]',
        '["param", "lr", "0.01"]',
        '["param", "optimizer/name", "adam"]',
        '["tag", "team", "vision"]',
    ]
    history = (folder / "metrics" / "train.d" / "loss").read_bytes()
    assert history == line(T0, 1, 0.5) + line(T0 + 7, 2, 0.25)
    assert history.startswith(b"1700000000000 1 0.5 ")
    latest = json.loads((folder / "latest.json").read_text())
    assert latest["train/loss"]["value"] == "0.25"
    # hashes live out of reach of every artifact folder
    hashes = json.loads((root / ".integrity" / run_id / "hashes.json").read_text())
    assert hashes == {"model/model.pkl": "ab" * 32}
    assert not (folder / "artifact_hashes.json").exists()
    assert not (folder / "artifacts").exists()  # the client's artifact repository makes that


def test_the_registry_is_plain_files(store: FileStore, root: Path) -> None:
    run_id = new_run(store)
    store.record_model(run_id, "model", {"model/model.pkl": "ab" * 32})
    store.create_model_version("My Model", f"runs:/{run_id}/model", run_id)
    store.set_model_alias("My Model", "champion", 1)

    model = root / ".registry" / "^my%20^model"
    source = json.loads((model / "versions" / "1.json").read_text())["source"]
    assert source == f"runs:/{run_id}/model"
    models = json.loads((root / ".integrity" / run_id / "models.json").read_text())
    assert models == {"model": {"model/model.pkl": "ab" * 32}}
    assert (root / ".integrity" / run_id / "registered" / "model").exists()
    alias = json.loads((model / "aliases" / "champion.json").read_text())
    assert alias == {"alias": "champion", "version": 1}


ODD_KEYS = [
    "a",
    "a/b",  # "a" is a value and a folder of values at once
    "x.d",
    "x.d/y",
    ".hidden",
    "...",
    "trailing.",
    "con",
    "Upper/Case",
    "upper/case",
    "100%/~tilde^caret",
    'q?*:<>|"',
    "sp ace/日本語 キー",
    "k" * 250,
    "É" * 120,  # too long for a file name once encoded: stored under a hash
    "Ж" * 60 + "/" + "ω" * 60 + "/leaf",
]


def test_odd_keys_round_trip_and_stay_inside_the_run(store: FileStore, root: Path) -> None:
    run_id = new_run(store)
    store.log_batch(
        run_id,
        metrics=[Metric(key, float(i), i, T0) for i, key in enumerate(ODD_KEYS)],
        params=[Param(key, f"p{i}") for i, key in enumerate(ODD_KEYS)],
        tags=[RunTag(key, f"t{i}") for i, key in enumerate(ODD_KEYS)],
    )

    for reader in (store, FileStore(root.as_uri())):
        data = reader.get_run(run_id).data
        assert dict(data.params) == {key: f"p{i}" for i, key in enumerate(ODD_KEYS)}
        assert dict(data.tags) == {key: f"t{i}" for i, key in enumerate(ODD_KEYS)}
        assert dict(data.metrics) == {key: float(i) for i, key in enumerate(ODD_KEYS)}
        for i, key in enumerate(ODD_KEYS):
            assert reader.get_metric_history(run_id, key) == [Metric(key, float(i), i, T0)]
    folder = run_folder(root, run_id)
    for kind in ("params", "tags", "metrics"):
        names = [p.relative_to(folder / kind).as_posix() for p in all_files(folder / kind)]
        # every file name is short, and unique even where the file system ignores case
        assert all(len(part.encode()) <= 255 for name in names for part in name.split("/"))
        assert len({name.lower() for name in names}) == len(names)


def test_keys_are_never_paths_out_of_the_run(store: FileStore, root: Path) -> None:
    run_id = new_run(store)
    before = set(all_files(root))

    for key in ("..", "../..", "../../escape", "/abs", ""):
        assert store.get_metric_history(run_id, key) == []
    # The tracking service refuses such keys; the engine keeps them inside the run anyway.
    with store.engine.run_unit(run_id) as unit:
        unit.add([], [], [RunTag("../../escape", "x")])

    created = set(all_files(root)) - before
    assert created
    assert all(path.is_relative_to(run_folder(root, run_id)) for path in created)
    assert store.get_run(run_id).data.tags == {"../../escape": "x"}


def test_unusable_run_ids_are_refused_or_not_found(store: FileStore, root: Path) -> None:
    experiment_id = store.get_or_create_experiment("exp").experiment_id

    for bad in ("../evil", "a/b", ".hidden", "", "x" * 200):
        with pytest.raises(InvalidInputError):
            store.create_run(bad, experiment_id, "r", T0, "file:///a", None, {})
        with pytest.raises(NotFoundError):
            store.get_run(bad)
    assert not (root.parent / "evil").exists()
    for bad_experiment in ("../..", "01", "-1", "1e3"):
        with pytest.raises(NotFoundError):
            store.get_experiment(bad_experiment)


# --------------------------------------------------------------------------------------------
# metric histories
# --------------------------------------------------------------------------------------------


SPECIAL_FLOATS = [
    math.nan,
    math.inf,
    -math.inf,
    1e308,
    -1.7976931348623157e308,
    -0.0,
    0.0,
    5e-324,
    2.2250738585072014e-308,
    0.1,
    1 / 3,
    float(2**53 + 2),
    -123456.789e-10,
]


def test_floats_and_extreme_steps_round_trip_exactly(store: FileStore, root: Path) -> None:
    run_id = new_run(store)
    steps = [-(2**63), 2**63 - 1, 0]
    metrics = [Metric("series", v, i, T0 + i) for i, v in enumerate(SPECIAL_FLOATS)]
    metrics += [Metric(f"single{i}", v, 0, T0) for i, v in enumerate(SPECIAL_FLOATS)]
    metrics += [Metric("steps", float(s), s, T0) for s in steps]
    store.log_batch(run_id, metrics=metrics)

    reopened = FileStore(root.as_uri())
    history = reopened.get_metric_history(run_id, "series")
    assert len(history) == len(SPECIAL_FLOATS)
    for metric, expected in zip(history, SPECIAL_FLOATS, strict=True):
        assert same_bits(metric.value, expected), (metric, expected)
    latest = reopened.get_run(run_id).data.metrics
    for i, expected in enumerate(SPECIAL_FLOATS):
        assert same_bits(latest[f"single{i}"], expected), (i, latest[f"single{i}"])
    assert same_bits(latest["series"], SPECIAL_FLOATS[-1])
    assert [m.step for m in reopened.get_metric_history(run_id, "steps")] == sorted(steps)
    assert latest["steps"] == float(2**63 - 1)


def test_numpy_like_values_are_written_as_plain_floats(store: FileStore, root: Path) -> None:
    class Scalar(float):
        def __repr__(self) -> str:
            return f"Scalar({float(self)})"

    run_id = new_run(store)
    store.log_batch(run_id, metrics=[Metric("m", Scalar(0.5), 0, T0)])

    assert store.get_metric_history(run_id, "m") == [Metric("m", 0.5, 0, T0)]
    assert b"Scalar" not in (run_folder(root, run_id) / "metrics" / "m").read_bytes()


def test_bad_metric_values_are_refused_before_anything_is_written(store: FileStore) -> None:
    run_id = new_run(store)
    bad: Any = "not a number"

    with pytest.raises(InvalidInputError):
        store.log_batch(run_id, metrics=[Metric("ok", 1.0, 0, T0), Metric("m", bad, 0, T0)])

    assert store.get_metric_history(run_id, "ok") == []


@pytest.mark.parametrize(
    "damage",
    [
        pytest.param(b"1700000000009 9 0.12", id="torn-last-line"),
        pytest.param(b"1700000000009 9 9.0 00000000\n", id="wrong-checksum"),
        pytest.param(b"garbage\n", id="garbage-line"),
        pytest.param(line(T0 + 9, 9, 9.0)[:-3] + b"\n", id="cut-checksum"),
    ],
)
def test_a_damaged_metric_line_is_dropped_and_appends_go_on(
    store: FileStore, root: Path, damage: bytes
) -> None:
    run_id = new_run(store)
    store.log_batch(run_id, metrics=[Metric("loss", float(s), s, T0 + s) for s in range(3)])
    path = run_folder(root, run_id) / "metrics" / "loss"
    with path.open("ab") as stream:
        stream.write(damage)  # as a crash, or a disk, would leave it

    expected = [Metric("loss", float(s), s, T0 + s) for s in range(3)]
    assert store.get_metric_history(run_id, "loss") == expected
    assert store.get_run(run_id).data.metrics == {"loss": 2.0}

    store.log_batch(run_id, metrics=[Metric("loss", 3.0, 3, T0 + 3), Metric("loss", 4.0, 4, T0)])

    expected += [Metric("loss", 3.0, 3, T0 + 3), Metric("loss", 4.0, 4, T0)]
    for reader in (store, FileStore(root.as_uri())):
        assert reader.get_metric_history(run_id, "loss") == expected
        assert reader.get_run(run_id).data.metrics == {"loss": 4.0}
    lines = path.read_bytes().split(b"\n")
    assert damage.rstrip(b"\n") in lines  # the damage stays on a line of its own


def test_latest_values_survive_a_stale_or_broken_cache(store: FileStore, root: Path) -> None:
    run_id = new_run(store)
    store.log_batch(run_id, metrics=[Metric("loss", 1.0, 1, T0), Metric("acc", 0.5, 1, T0)])
    folder = run_folder(root, run_id)

    # A writer that died after appending, before rewriting latest.json:
    with (folder / "metrics" / "loss").open("ab") as stream:
        stream.write(line(T0, 5, 0.125) + line(T0, 2, 7.0))
    assert store.get_run(run_id).data.metrics == {"loss": 0.125, "acc": 0.5}
    store.log_batch(run_id, metrics=[Metric("loss", 9.0, 3, T0)])  # step 5 still wins
    assert store.get_run(run_id).data.metrics == {"loss": 0.125, "acc": 0.5}

    (folder / "latest.json").write_text("{not json")
    assert store.get_run(run_id).data.metrics == {"loss": 0.125, "acc": 0.5}
    (folder / "latest.json").unlink()
    assert store.get_run(run_id).data.metrics == {"loss": 0.125, "acc": 0.5}
    store.log_batch(run_id, metrics=[Metric("acc", 0.75, 2, T0)])
    assert store.get_run(run_id).data.metrics == {"loss": 0.125, "acc": 0.75}


def test_get_run_reads_only_what_the_cache_does_not_cover(
    store: FileStore, root: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    run_id = new_run(store)
    for batch in range(10):
        store.log_batch(
            run_id,
            metrics=[
                Metric("loss", float(s), s, T0) for s in range(batch * 10_000, (batch + 1) * 10_000)
            ],
        )
    folded: list[int] = []
    real_fold = file_metrics._fold

    def counting_fold(data: bytes, key: str, current: Metric | None) -> Metric | None:
        folded.append(len(data))
        return real_fold(data, key, current)

    monkeypatch.setattr(file_metrics, "_fold", counting_fold)

    assert store.get_run(run_id).data.metrics == {"loss": 99_999.0}
    assert sum(folded) == 0
    extra = line(T0, 100_000, -1.0)
    with (run_folder(root, run_id) / "metrics" / "loss").open("ab") as stream:
        stream.write(extra)
    assert store.get_run(run_id).data.metrics == {"loss": -1.0}
    assert sum(folded) == len(extra)
    assert len(store.get_metric_history(run_id, "loss")) == 100_001


def test_a_failed_append_is_rolled_back_and_a_retry_stores_each_point_once(
    store: FileStore, root: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    run_id = new_run(store)
    store.log_batch(run_id, metrics=[Metric("a", 1.0, 0, T0), Metric("b", 1.0, 0, T0)])
    metrics_folder = run_folder(root, run_id) / "metrics"
    sizes = {p.name: p.stat().st_size for p in metrics_folder.iterdir()}
    calls = 0

    def full_disk(fd: int) -> None:
        nonlocal calls
        calls += 1
        if calls == 2:  # the first key is written, the second finds the disk full
            raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(file_metrics, "fdatasync", full_disk)
    batch = [Metric("a", 2.0, 1, T0), Metric("b", 2.0, 1, T0)]
    with pytest.raises(StoreUnavailableError) as excinfo:
        store.log_batch(run_id, metrics=batch)

    assert "No space left on device" in str(excinfo.value)
    assert str(metrics_folder) in str(excinfo.value)
    assert {p.name: p.stat().st_size for p in metrics_folder.iterdir()} == sizes
    monkeypatch.undo()
    store.log_batch(run_id, metrics=batch)
    for key in ("a", "b"):
        assert [m.value for m in store.get_metric_history(run_id, key)] == [1.0, 2.0]


# --------------------------------------------------------------------------------------------
# params and tags: one journal per run, shown as files
# --------------------------------------------------------------------------------------------


def count_syncs(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Record every fsync and fdatasync the store makes from now on."""
    calls: list[str] = []
    real_fsync, real_fdatasync = os.fsync, file_io.fdatasync

    def fsync(fd: int) -> None:
        calls.append("fsync")
        real_fsync(fd)

    def fdatasync(fd: int) -> None:
        calls.append("fdatasync")
        real_fdatasync(fd)

    monkeypatch.setattr(os, "fsync", fsync)
    for module in (file_io, file_journal, file_metrics, file_run):
        monkeypatch.setattr(module, "fdatasync", fdatasync)
    return calls


def journal_lines(folder: Path) -> list[str]:
    return [entry.rsplit(" ", 1)[0] for entry in (folder / "journal").read_text().splitlines()]


def test_a_batch_of_params_and_tags_is_one_durable_write(
    store: FileStore, root: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Each param and tag was a file of its own, synced (~5 ms each here): at 1,000 params a
    # second the writer fell seconds behind its one-second promise.
    run_id = new_run(store, tags={"t": "0"})
    store.log_batch(run_id, params=[Param("first", "1")])  # makes the params folder
    calls = count_syncs(monkeypatch)

    params = [Param(f"p{i}", str(i)) for i in range(100)]
    store.log_batch(run_id, params=params, tags=[RunTag(f"t{i}", "x") for i in range(10)])
    assert calls == ["fdatasync"]
    calls.clear()
    store.log_batch(run_id, params=params[:5], tags=[RunTag("t1", "x")])  # nothing new
    assert calls == []

    monkeypatch.undo()
    folder = run_folder(root, run_id)
    assert (folder / "params" / "p99").read_text() == "99"
    assert (folder / "tags" / "t9").read_text() == "x"
    run = store.get_run(run_id)
    assert run.data.params == {"first": "1", **{f"p{i}": str(i) for i in range(100)}}
    assert run.data.tags == {"t": "0", **{f"t{i}": "x" for i in range(10)}}
    assert len(journal_lines(folder)) == 1 + 1 + 1 + 100 + 10  # header, t, first, params, tags


def test_a_short_run_written_whole_is_one_durable_journal_write(
    store: FileStore, root: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A run whose creation, params, tags and end are queued together is one unit of work: its
    # params and tags reach the disk with one fdatasync, and its end shows all of them as files.
    experiment_id = store.get_or_create_experiment("exp").experiment_id
    run_id = uuid.uuid4().hex
    params = [Param(f"p{i:02d}", str(i)) for i in range(50)]
    calls = count_syncs(monkeypatch)

    store.write_run(
        run_id,
        RunWrites(
            create=RunCreation(experiment_id, "r", T0, "file:///a", None, {"source": "x"}),
            params=params,
            tags=[RunTag("team", "vision")],
            end=(RunStatus.FINISHED, T0 + 1),
        ),
    )
    assert calls.count("fdatasync") == 1
    monkeypatch.undo()

    folder = run_folder(root, run_id)
    assert journal_lines(folder) == [
        '["journal", 1]',
        '["tag", "source", "x"]',
        *(f'["param", "{key}", "{value}"]' for key, value in params),
        '["tag", "team", "vision"]',
    ]
    run = FileStore(root.as_uri()).get_run(run_id)
    assert run.info.status is RunStatus.FINISHED
    assert run.data.params == dict(params)
    assert run.data.tags == {"source": "x", "team": "vision"}
    assert {p.name: p.read_text() for p in (folder / "params").iterdir()} == dict(params)


def test_values_in_the_journal_count_before_their_files_are_written(
    store: FileStore, root: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    # As a writer killed after its durable write, before the files that show it; or files that
    # fail where the journal did not: the batch is stored, and its sender is not told otherwise
    # (it would send it again).
    run_id = new_run(store, tags={"stage": "created"})
    folder = run_folder(root, run_id)

    def killed(*args: Any, **kwargs: Any) -> None:
        raise OSError(errno.EIO, "Input/output error")

    monkeypatch.setattr(file_journal, "write_files", killed)
    store.log_batch(run_id, params=[Param("lr", "0.1")], tags=[RunTag("stage", "training")])
    monkeypatch.undo()
    assert "not shown yet" in caplog.text

    assert not (folder / "params" / "lr").exists()
    assert (folder / "tags" / "stage").read_text() == "created"
    for reader in (store, FileStore(root.as_uri())):
        run = reader.get_run(run_id)
        assert run.data.params == {"lr": "0.1"}
        assert run.data.tags == {"stage": "training"}
        found = reader.search_runs(None, parse_filter("params.lr = '0.1'"), [], 10)
        assert [r.info.run_id for r in found] == [run_id]
        with pytest.raises(ParamCollisionError):
            reader.log_batch(run_id, params=[Param("lr", "0.2")])
    # the run's next write shows what was left out
    store.log_batch(run_id, params=[Param("epochs", "3")])
    assert (folder / "params" / "lr").read_text() == "0.1"
    assert (folder / "params" / "epochs").read_text() == "3"
    assert (folder / "tags" / "stage").read_text() == "training"

    monkeypatch.setattr(file_journal, "write_files", killed)
    store.log_batch(run_id, tags=[RunTag("stage", "done")])
    monkeypatch.undo()
    assert (folder / "tags" / "stage").read_text() == "training"
    # and so does its end
    store.update_run(run_id, RunStatus.FINISHED, T0 + 1)
    assert (folder / "tags" / "stage").read_text() == "done"
    assert FileStore(root.as_uri()).get_run(run_id).data.tags == {"stage": "done"}


@pytest.mark.parametrize(
    "damage",
    [
        pytest.param(b'["param", "c", "3"] 5a1e', id="torn-line"),
        pytest.param(b'["param", "c"', id="torn-json"),
        pytest.param(b'["param", "c", "3"] 00000000\n', id="wrong-checksum"),
        pytest.param(b"garbage\n", id="garbage-line"),
    ],
)
def test_a_damaged_journal_line_is_dropped_and_appends_go_on(
    store: FileStore, root: Path, damage: bytes
) -> None:
    run_id = new_run(store, tags={"t": "0"})
    store.log_batch(run_id, params=[Param("a", "1")])
    path = run_folder(root, run_id) / "journal"
    with path.open("ab") as stream:
        stream.write(damage)  # as a crash, or a disk, would leave it

    assert store.get_run(run_id).data.params == {"a": "1"}
    store.log_batch(run_id, params=[Param("b", "2"), Param("c", "4")], tags=[RunTag("t", "1")])

    for reader in (store, FileStore(root.as_uri())):
        run = reader.get_run(run_id)
        assert run.data.params == {"a": "1", "b": "2", "c": "4"}
        assert run.data.tags == {"t": "1"}
    assert damage.rstrip(b"\n") in path.read_bytes().split(b"\n")  # on a line of its own
    assert (run_folder(root, run_id) / "params" / "c").read_text() == "4"


def test_runs_stored_before_the_journal_read_and_take_writes_as_before(
    store: FileStore, root: Path
) -> None:
    # What earlier versions wrote: one synced file per param and tag, and no journal.
    run_id = new_run(store, tags={"source": "train.py"})
    folder = run_folder(root, run_id)
    (folder / "journal").unlink()
    (folder / ".view").unlink()
    (folder / "params" / "optimizer.d").mkdir(parents=True)
    (folder / "params" / "lr").write_text("0.1")
    (folder / "params" / "optimizer.d" / "name").write_text("adam")
    (folder / "tags" / "team").write_text("vision")
    (folder / "tags" / "autolog.presumed_killed").write_text(str(T0))  # a reader's verdict
    store.update_run(run_id, RunStatus.KILLED, T0 + 1)
    reader = FileStore(root.as_uri())

    run = reader.get_run(run_id)
    assert run.data.params == {"lr": "0.1", "optimizer/name": "adam"}
    assert run.data.tags == {
        "source": "train.py",
        "team": "vision",
        PRESUMED_KILLED_TAG: str(T0),
    }
    with pytest.raises(ParamCollisionError):
        store.log_batch(run_id, params=[Param("lr", "0.2")])
    # the owner was only away: its writes are taken, then its own end
    store.log_batch(
        run_id,
        params=[Param("lr", "0.1"), Param("epochs", "3")],
        tags=[RunTag("team", "nlp")],
    )
    store.update_run(run_id, RunStatus.FINISHED, T0 + 2)

    for reader in (store, FileStore(root.as_uri())):
        run = reader.get_run(run_id)
        assert run.info.status is RunStatus.FINISHED
        assert run.data.params == {"lr": "0.1", "optimizer/name": "adam", "epochs": "3"}
        assert run.data.tags == {"source": "train.py", "team": "nlp"}
        found = reader.search_runs(None, parse_filter("tags.team = 'nlp'"), [], 10)
        assert [r.info.run_id for r in found] == [run_id]
    assert (folder / "tags" / "team").read_text() == "nlp"
    assert not (folder / "tags" / "autolog.presumed_killed").exists()
    assert journal_lines(folder) == [
        '["param", "epochs", "3"]',
        '["tag", "team", "nlp"]',
        f'["untag", "{PRESUMED_KILLED_TAG}"]',
    ]


def test_thousands_of_params_in_one_batch_are_stored_at_once_and_shown_by_the_runs_end(
    store: FileStore, root: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A write spends a bounded time on the files that show the journal, so that the next
    # batch's durable write is not held up by thousands of them; here none: one piece a write.
    monkeypatch.setattr(file_run, "_VIEW_SECONDS", 0.0)
    run_id = new_run(store)
    folder = run_folder(root, run_id)
    piece = file_journal._VIEW_PIECE
    params = [Param(f"p{i}", str(i)) for i in range(10 * piece)]

    store.log_batch(run_id, params=params)
    assert store.get_run(run_id).data.params == dict(params)
    assert len(list((folder / "params").iterdir())) == piece
    store.log_batch(run_id, tags=[RunTag("t", "1")])
    assert len(list((folder / "params").iterdir())) == 2 * piece
    store.update_run(run_id, RunStatus.FINISHED, T0 + 1)
    files = {p.name: p.read_text() for p in (folder / "params").iterdir()}
    assert files == dict(params)
    assert (folder / "tags" / "t").read_text() == "1"


def test_another_store_on_the_folder_sees_params_and_tags_written_since(
    store: FileStore, root: Path
) -> None:
    # Each store keeps the journals it writes, and reads what others appended since.
    other = FileStore(root.as_uri())
    run_id = new_run(store)
    store.log_batch(run_id, params=[Param("a", "1")], tags=[RunTag("t", "mine")])
    other.log_batch(run_id, params=[Param("b", "2")], tags=[RunTag("t", "other")])
    with pytest.raises(ParamCollisionError):
        store.log_batch(run_id, params=[Param("b", "3")])
    store.log_batch(run_id, tags=[RunTag("t", "mine")])  # the last write wins
    with pytest.raises(ParamCollisionError):
        other.log_batch(run_id, params=[Param("a", "0")])

    for reader in (store, other):
        run = reader.get_run(run_id)
        assert run.data.params == {"a": "1", "b": "2"}
        assert run.data.tags == {"t": "mine"}
    assert (run_folder(root, run_id) / "tags" / "t").read_text() == "mine"


# --------------------------------------------------------------------------------------------
# atomic files and errors
# --------------------------------------------------------------------------------------------


def test_rewrites_leave_no_temporary_files(store: FileStore, root: Path) -> None:
    run_id = new_run(store, tags={"t": "0"})
    for i in range(5):
        store.log_batch(
            run_id,
            metrics=[Metric("m", float(i), i, T0)],
            params=[Param(f"p{i}", "v")],
            tags=[RunTag("t", str(i))],
        )
    with pytest.raises(ParamCollisionError):
        store.log_batch(run_id, params=[Param("fresh", "x"), Param("p0", "changed")])
    store.record_artifact_hashes(run_id, {"a": "0" * 64})
    store.record_model(run_id, "model", {"model/model.pkl": "0" * 64})
    store.update_run(run_id, RunStatus.FINISHED, T0 + 1)
    store.create_model_version("m", f"runs:/{run_id}/model", run_id)
    store.set_model_alias("m", "prod", 1)
    store.set_model_alias("m", "prod", 1)

    leftovers = [p for p in all_files(root) if p.name.startswith(".tmp")]
    assert leftovers == []
    assert not (run_folder(root, run_id) / "params" / "fresh").exists()
    assert [p.name for p in root.iterdir() if p.name.startswith(".tmp")] == []


def test_a_failed_rewrite_keeps_the_old_file_whole(
    store: FileStore, root: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    run_id = new_run(store, tags={"stage": "created"})
    store.record_artifact_hashes(run_id, {"a.txt": "0" * 64})
    records = [run_folder(root, run_id) / "run.json", root / ".integrity" / run_id / "hashes.json"]
    before = [path.read_bytes() for path in records]

    def failing_replace(src: Any, dst: Any) -> None:
        raise OSError(errno.EIO, "Input/output error", str(src))

    monkeypatch.setattr(file_module.os, "replace", failing_replace)
    with pytest.raises(StoreUnavailableError, match="Input/output error"):
        store.update_run(run_id, RunStatus.FINISHED, T0 + 1)
    with pytest.raises(StoreUnavailableError, match="Input/output error"):
        store.record_artifact_hashes(run_id, {"b.txt": "1" * 64})
    monkeypatch.undo()
    real_replace = os.replace

    def failing_run_json(src: Any, dst: Any) -> None:
        if str(dst).endswith("run.json"):
            raise OSError(errno.EIO, "Input/output error", str(src))
        real_replace(src, dst)

    # one unit: the tag and the metric, stored first, are taken back with the end that failed
    monkeypatch.setattr(file_module.os, "replace", failing_run_json)
    with pytest.raises(StoreUnavailableError, match="Input/output error"):
        store.write_run(
            run_id,
            RunWrites(
                metrics=[Metric("m", 1.0, 0, T0)],
                tags=[RunTag("stage", "done")],
                end=(RunStatus.FINISHED, T0 + 1),
            ),
        )
    monkeypatch.undo()
    assert store.get_metric_history(run_id, "m") == []

    assert [path.read_bytes() for path in records] == before
    for reader in (store, FileStore(root.as_uri())):
        run = reader.get_run(run_id)
        assert run.info.status is RunStatus.RUNNING
        assert run.data.tags == {"stage": "created"}
        assert run.data.metrics == {}
    assert [p for p in all_files(root) if p.name.startswith(".tmp")] == []


def test_a_unit_that_raises_writes_nothing(store: FileStore, root: Path) -> None:
    run_id = new_run(store, tags={"t": "0"})
    store.log_batch(run_id, metrics=[Metric("m", 0.0, 0, T0)], params=[Param("lr", "0.1")])
    store.record_model(run_id, "model", {"model/model.pkl": "0" * 64})
    store.create_model_version("clf", f"runs:/{run_id}/model", run_id)
    before = {path: path.read_bytes() for path in all_files(root)}
    writes = RunWrites(
        metrics=[Metric("m", 1.0, 1, T0)],
        params=[Param("epochs", "3")],
        tags=[RunTag("t", "1")],
        batch_id="batch-1",
        hashes={"notes.txt": "1" * 64},
        models={"model": {"model/model.pkl": "2" * 64}},  # registered: refused, after the rest
        end=(RunStatus.FINISHED, T0 + 1),
    )

    with pytest.raises(RunStateError):
        store.write_run(run_id, writes)
    with pytest.raises(RuntimeError), store.engine.run_unit(run_id) as unit:
        unit.register("other", f"runs:/{run_id}/model", T0)
        raise RuntimeError("the service found something wrong after registering")

    assert {path: path.read_bytes() for path in all_files(root)} == before
    assert store.list_model_versions("other") == []
    store.write_run(run_id, writes._replace(models=None))  # its batch id was not taken
    run = store.get_run(run_id)
    assert run.info.status is RunStatus.FINISHED
    assert run.data.params == {"lr": "0.1", "epochs": "3"}
    assert run.data.tags == {"t": "1"}
    assert [m.value for m in store.get_metric_history(run_id, "m")] == [0.0, 1.0]
    assert store.get_artifact_hashes(run_id, "notes.txt") == {"notes.txt": "1" * 64}


def test_a_failed_create_run_is_invisible_and_can_be_retried(
    store: FileStore, root: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    experiment_id = store.get_or_create_experiment("exp").experiment_id
    run_id = uuid.uuid4().hex

    def failing_link(src: Any, dst: Any) -> None:
        raise OSError(errno.ENOSPC, "No space left on device", str(src))

    monkeypatch.setattr(file_module.os, "link", failing_link)
    with pytest.raises(StoreUnavailableError):
        store.create_run(run_id, experiment_id, "r", T0, "file:///a", None, {"t": "1"})
    monkeypatch.undo()

    with pytest.raises(NotFoundError):
        store.get_run(run_id)
    assert store.search_runs(None, [], [], 10) == []
    assert [p for p in all_files(root) if p.name.startswith(".tmp")] == []
    store.create_run(run_id, experiment_id, "r", T0, "file:///a", None, {"t": "1"})  # a retry
    assert store.get_run(run_id).data.tags == {"t": "1"}


def test_artifacts_written_before_the_run_is_stored_do_not_block_it(
    store: FileStore, root: Path
) -> None:
    experiment = store.get_or_create_experiment("exp")
    run_id = uuid.uuid4().hex
    # The client copies artifacts synchronously while create_run waits in the writer's queue.
    artifacts = root / experiment.experiment_id / run_id / "artifacts"
    artifacts.mkdir(parents=True)
    (artifacts / "model.pkl").write_bytes(b"model")

    with pytest.raises(NotFoundError):
        store.get_run(run_id)
    store.create_run(
        run_id, experiment.experiment_id, "r", T0, f"{artifacts.as_uri()}", None, {"t": "1"}
    )

    assert store.get_run(run_id).info.artifact_uri == artifacts.as_uri()
    assert (artifacts / "model.pkl").read_bytes() == b"model"
    with pytest.raises(InvalidInputError):
        store.create_run(run_id, experiment.experiment_id, "again", T0, "x", None, {})


def test_os_errors_become_store_errors_naming_the_path(
    store: FileStore, root: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    run_id = new_run(store)
    real_open = os.open

    def refusing_open(path: Any, flags: int, mode: int = 0o777) -> int:
        if "journal" in str(path):
            raise OSError(errno.EACCES, "Permission denied", str(path))
        return real_open(path, flags, mode)

    monkeypatch.setattr(file_module.os, "open", refusing_open)
    with pytest.raises(StoreUnavailableError, match=r"Permission denied.*journal"):
        store.log_batch(run_id, params=[Param("lr", "1")])
    monkeypatch.undo()

    (run_folder(root, run_id) / "run.json").write_text("{ torn")
    with pytest.raises(StoreError, match=r"run\.json"):
        store.get_run(run_id)
    (run_folder(root, run_id) / "run.json").write_text('{"run_id": 3}')
    with pytest.raises(StoreError, match=r"run\.json"):
        store.get_run(run_id)

    blocked = root / "blocked"
    blocked.write_text("a file where the store wants a folder")
    with pytest.raises(StoreError) as excinfo:
        FileStore(str(blocked))
    assert not isinstance(excinfo.value, StoreUnavailableError)
    assert str(blocked) in str(excinfo.value)


# --------------------------------------------------------------------------------------------
# experiments: ids, names, recovery
# --------------------------------------------------------------------------------------------


def test_experiment_ids_are_sequential_and_names_keep_their_case(
    store: FileStore, root: Path
) -> None:
    names = ["Default", "default", "DEFAULT", "exp/with/slashes", "É" * 200]
    created = [store.get_or_create_experiment(name) for name in names]

    assert [e.experiment_id for e in created] == [str(i) for i in range(len(names))]
    reopened = FileStore(root.as_uri())
    assert [reopened.get_experiment_by_name(name) for name in names] == created
    assert reopened.list_experiments() == created
    claims = [p.name for p in (root / ".names").iterdir()]
    assert len({claim.lower() for claim in claims}) == len(names)


def test_an_experiment_whose_creator_died_after_claiming_its_name_is_finished(
    store: FileStore, root: Path
) -> None:
    experiment = store.get_or_create_experiment("exp")
    folder = root / experiment.experiment_id
    (folder / "experiment.json").rename(folder / ".experiment.json.pending")

    reopened = FileStore(root.as_uri())
    assert reopened.list_experiments() == [experiment]
    assert reopened.get_or_create_experiment("exp") == experiment
    assert (folder / "experiment.json").exists()


def test_an_experiment_that_lost_its_name_race_is_never_listed(
    store: FileStore, root: Path
) -> None:
    winner = store.get_or_create_experiment("exp")
    # What a process that lost the race for "exp" and then died leaves behind:
    orphan = root / "7"
    orphan.mkdir()
    (orphan / ".experiment.json.pending").write_text(
        json.dumps(
            {"experiment_id": "7", "name": "exp", "artifact_location": "x", "creation_time": 1}
        )
    )

    assert store.list_experiments() == [winner]
    with pytest.raises(NotFoundError):
        store.get_experiment("7")
    assert store.get_or_create_experiment("other").experiment_id == "8"


def test_without_hard_links_names_and_versions_are_still_claimed_once(
    store: FileStore, root: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def no_links(src: Any, dst: Any) -> None:
        raise OSError(errno.EPERM, "Operation not permitted", str(src))

    monkeypatch.setattr(file_module.os, "link", no_links)

    first = store.get_or_create_experiment("exp")
    assert store.get_or_create_experiment("exp") == first
    run_id = new_run(store)
    sources = []
    for i in range(3):
        store.record_model(run_id, f"s{i}", {f"s{i}/model.pkl": "0" * 64})
        sources.append(f"runs:/{run_id}/s{i}")
    assert [store.create_model_version("m", s, run_id).version for s in sources] == [1, 2, 3]
    assert store.get_model_version("m", 2).source == sources[1]
    assert (root / ".names" / "exp").read_text() == first.experiment_id


def test_a_second_store_on_the_same_folder_sees_everything(store: FileStore, root: Path) -> None:
    other = FileStore(str(root))
    run_id = new_run(store)

    store.log_batch(run_id, metrics=[Metric("m", 1.0, 0, T0)], params=[Param("p", "1")])
    assert other.get_run(run_id).data.params == {"p": "1"}
    other.log_batch(run_id, metrics=[Metric("m", 2.0, 1, T0)])
    assert store.get_run(run_id).data.metrics == {"m": 2.0}
    assert [r.info.run_id for r in other.search_runs(None, [], [], 10)] == [run_id]
    with pytest.raises(InvalidInputError):
        other.create_run(run_id, "0", "again", T0, "file:///a", None, {})


# --------------------------------------------------------------------------------------------
# several processes
# --------------------------------------------------------------------------------------------

WORKERS = 6
VERSIONS_PER_WORKER = 3


def _race(root: str, worker: int, barrier: Any, results: Any) -> None:
    """One process of the race: the same experiment name and model as every other process."""
    store = FileStore(root)
    barrier.wait(timeout=60)
    shared = store.get_or_create_experiment("shared").experiment_id
    own = store.get_or_create_experiment(f"own-{worker}").experiment_id
    run_id = f"run{worker}"
    store.create_run(run_id, own, "r", 1, "file:///a", None, {})
    for i in range(VERSIONS_PER_WORKER):
        store.record_model(run_id, f"m{i}", {f"m{i}/model.pkl": "0" * 64})
    versions = [
        store.create_model_version("clf", f"runs:/{run_id}/m{i}", run_id).version
        for i in range(VERSIONS_PER_WORKER)
    ]
    results.put((worker, shared, own, versions))


@pytest.mark.slow
def test_processes_creating_the_same_experiment_get_the_same_id(root: Path) -> None:
    context = multiprocessing.get_context("spawn")  # fork from a threaded pytest is unsafe
    barrier = context.Barrier(WORKERS)
    results = context.Queue()
    processes = [
        context.Process(target=_race, args=(str(root), i, barrier, results)) for i in range(WORKERS)
    ]
    for process in processes:
        process.start()
    outcomes = [results.get(timeout=120) for _ in processes]
    for process in processes:
        process.join(timeout=60)
        assert process.exitcode == 0

    assert len({shared for _, shared, _, _ in outcomes}) == 1
    store = FileStore(str(root))
    listed = store.list_experiments()
    assert sorted(e.name for e in listed) == sorted(
        ["shared"] + [f"own-{i}" for i in range(WORKERS)]
    )
    assert len({e.experiment_id for e in listed}) == len(listed)
    found = store.get_experiment_by_name("shared")
    assert found is not None
    for worker, shared, own, _ in outcomes:
        assert found.experiment_id == shared
        assert store.get_experiment(own).name == f"own-{worker}"
    numbers = sorted(v for _, _, _, versions in outcomes for v in versions)
    assert numbers == list(range(1, WORKERS * VERSIONS_PER_WORKER + 1))
    sources = {store.get_model_version("clf", n).source for n in numbers}
    assert len(sources) == len(numbers)


def _models_into_one_run(root: str, who: str, barrier: Any) -> None:
    store = FileStore(root)
    barrier.wait(timeout=60)
    for i in range(60):
        store.record_model("ab" * 16, f"{who}{i}", {f"{who}{i}/model.pkl": "0" * 64})


@pytest.mark.slow
def test_processes_recording_models_into_one_run_lose_none(root: Path) -> None:
    # hashes.json and models.json are read, changed and rewritten: without a lock shared with
    # other processes, one process's records overwrote the other's (135 of 200 kept)
    store = FileStore(str(root))
    experiment = store.get_or_create_experiment("e").experiment_id
    run_id = "ab" * 16
    store.create_run(run_id, experiment, "r", 1, "file:///a", None, {})
    context = multiprocessing.get_context("spawn")
    barrier = context.Barrier(2)
    processes = [
        context.Process(target=_models_into_one_run, args=(str(root), who, barrier)) for who in "xy"
    ]
    for process in processes:
        process.start()
    for process in processes:
        process.join(timeout=120)
        assert process.exitcode == 0
    names = [f"{who}{i}" for who in "xy" for i in range(60)]
    assert [n for n in names if store.get_model_files(run_id, n) is None] == []
    assert len(store.get_artifact_hashes(run_id)) == len(names)


def _params_into_one_run(root: str, who: str, barrier: Any) -> None:
    store = FileStore(root)
    barrier.wait(timeout=60)
    for i in range(40):
        store.log_batch(
            "cd" * 16,
            params=[Param("seed", "0"), *(Param(f"{who}{i}.{j}", str(j)) for j in range(5))],
            tags=[RunTag("last", f"{who}{i}")],
        )


def test_processes_logging_params_into_one_run_store_each_once(root: Path) -> None:
    # The run's lock orders their appends; each reads what the other appended before its own.
    store = FileStore(str(root))
    experiment = store.get_or_create_experiment("e").experiment_id
    run_id = "cd" * 16
    store.create_run(run_id, experiment, "r", 1, "file:///a", None, {})
    context = multiprocessing.get_context("spawn")
    barrier = context.Barrier(2)
    processes = [
        context.Process(target=_params_into_one_run, args=(str(root), who, barrier)) for who in "xy"
    ]
    for process in processes:
        process.start()
    for process in processes:
        process.join(timeout=120)
        assert process.exitcode == 0

    expected = {f"{who}{i}.{j}": str(j) for who in "xy" for i in range(40) for j in range(5)}
    run = FileStore(str(root)).get_run(run_id)
    assert run.data.params == {"seed": "0", **expected}
    assert run.data.tags["last"] in ("x39", "y39")
    lines = journal_lines(run_folder(root, run_id))
    assert lines.count('["param", "seed", "0"]') == 1
    assert len(lines) == 1 + 1 + len(expected) + 80  # header, seed, params, a tag per batch
    assert lines[-1] == f'["tag", "last", "{run.data.tags["last"]}"]'


_KILLED_WRITER = textwrap.dedent(
    """
    import sys
    from autolog.entities import Metric
    from autolog.stores.file import FileStore

    store = FileStore(sys.argv[1])
    run_id = sys.argv[2]
    step = 0
    while True:
        store.log_batch(
            run_id,
            metrics=[Metric("loss", step / 4, step, step), Metric("acc", -step / 8, step, step)],
        )
        if step == 50:
            print("ready", flush=True)
        step += 1
    """
)


@pytest.mark.skipif(not hasattr(signal, "SIGKILL"), reason="needs SIGKILL")
def test_a_writer_killed_mid_run_leaves_a_readable_history(store: FileStore, root: Path) -> None:
    run_id = new_run(store)
    writer = subprocess.Popen(
        [sys.executable, "-c", _KILLED_WRITER, str(root), run_id],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert writer.stdout is not None
        assert writer.stdout.readline().strip() == "ready"
        # Read while it writes: every read sees whole lines only.
        for _ in range(20):
            seen = store.get_metric_history(run_id, "loss")
            assert [m.step for m in seen] == list(range(len(seen)))
        writer.send_signal(signal.SIGKILL)
    finally:
        writer.kill()
        writer.wait(timeout=30)
        if writer.stdout is not None:
            writer.stdout.close()

    reopened = FileStore(root.as_uri())
    loss = reopened.get_metric_history(run_id, "loss")
    acc = reopened.get_metric_history(run_id, "acc")
    steps = len(loss)
    assert steps > 50
    assert loss == [Metric("loss", s / 4, s, s) for s in range(steps)]
    assert len(acc) in (steps - 1, steps)  # it may have died between the two keys
    assert acc == [Metric("acc", -s / 8, s, s) for s in range(len(acc))]
    run = reopened.get_run(run_id)
    assert run.data.metrics == {"loss": loss[-1].value, "acc": acc[-1].value}
    assert run.info.status is RunStatus.RUNNING  # reporting it KILLED is the client's job

    reopened.log_batch(run_id, metrics=[Metric("loss", -1.0, steps, steps)])
    assert reopened.get_metric_history(run_id, "loss")[-1] == Metric("loss", -1.0, steps, steps)
    assert reopened.get_run(run_id).data.metrics["loss"] == -1.0
