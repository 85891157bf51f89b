"""Every run knows its data, when told: ``autolog.log_input`` and ``Client.log_input``."""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import pytest

import autolog
from autolog import InvalidInputError, InvalidKeyError
from autolog.projects.inputs import input_record


def _input_tag(run_id: str, name: str) -> dict[str, object]:
    autolog.flush()
    return json.loads(autolog.get_run(run_id).data.tags[f"autolog.input.{name}"])  # type: ignore[no-any-return]


def test_a_file(tmp_path: Path) -> None:
    data = tmp_path / "train.csv"
    data.write_bytes(b"a,b\n1,2\n" * 1000)
    with autolog.start_run() as run:
        assert autolog.log_input(data) == "train.csv"
    assert _input_tag(run.info.run_id, "train.csv") == {
        "path": str(data),
        "kind": "file",
        "size": 8000,
        "files": 1,
        "sha256": hashlib.sha256(data.read_bytes()).hexdigest(),
    }


def test_a_folder(tmp_path: Path) -> None:
    folder = tmp_path / "images"
    (folder / "b" / "deeper").mkdir(parents=True)
    (folder / "a.txt").write_text("alpha")
    (folder / "b" / "deeper" / "c.bin").write_bytes(b"\0" * 300)
    (folder / "b" / "z.txt").write_text("zed")
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "o.txt").write_text("not in the folder")
    os.symlink(outside / "o.txt", folder / "link.txt")  # links are skipped
    os.symlink(outside, folder / "linked_folder")
    with autolog.start_run() as run:
        name = autolog.log_input(str(folder), name="pictures")
    assert name == "pictures"
    expected = hashlib.sha256()
    for relative in ("a.txt", "b/deeper/c.bin", "b/z.txt"):
        file_hash = hashlib.sha256((folder / relative).read_bytes()).hexdigest()
        expected.update(f"{relative}\0{file_hash}\n".encode())
    assert _input_tag(run.info.run_id, "pictures") == {
        "path": str(folder),
        "kind": "folder",
        "size": 5 + 300 + 3,
        "files": 3,
        "sha256": expected.hexdigest(),
    }
    assert input_record(folder) == _input_tag(run.info.run_id, "pictures")


def test_a_missing_path_is_named_and_starts_no_run(tmp_path: Path) -> None:
    missing = tmp_path / "nowhere.csv"
    with pytest.raises(InvalidInputError, match=r"nowhere\.csv"):
        autolog.log_input(missing)
    assert autolog.active_run() is None
    with autolog.start_run() as run, pytest.raises(InvalidInputError, match=r"nowhere\.csv"):
        autolog.Client().log_input(run.info.run_id, missing)


@pytest.mark.parametrize("bad", ["", "a/../b", "x" * 300, "a\\b"])
def test_a_bad_name_is_named(tmp_path: Path, bad: str) -> None:
    data = tmp_path / "d.csv"
    data.write_text("x")
    with pytest.raises(InvalidKeyError) as raised:
        autolog.log_input(data, name=bad)
    assert raised.value.key == f"autolog.input.{bad}"
    assert autolog.active_run() is None


def test_the_same_name_again_replaces_it(tmp_path: Path) -> None:
    first, second = tmp_path / "v1.csv", tmp_path / "v2.csv"
    first.write_text("one")
    second.write_text("two, longer")
    with autolog.start_run() as run:
        autolog.log_input(first, name="data")
        autolog.log_input(second, name="data")
    record = _input_tag(run.info.run_id, "data")
    assert record["path"] == str(second)
    assert record["size"] == len("two, longer")
    inputs = [
        k for k in autolog.get_run(run.info.run_id).data.tags if k.startswith("autolog.input.")
    ]
    assert inputs == ["autolog.input.data"]


def test_the_file_is_hashed_as_it_is_when_the_writer_gets_to_it(tmp_path: Path) -> None:
    """Hashing happens on the writer's file thread (the caller does not read the data); a
    path gone by then is dropped with one warning, and the run goes on."""
    import threading

    data = tmp_path / "d.csv"
    data.write_text("x")
    client = autolog.Client()
    run = client.create_run()
    # the file thread takes its jobs in order: it hashes once the job before is done
    go_on = threading.Event()
    client.record_later(run.info.run_id, lambda: (go_on.wait(30), ({}, {}))[1], what="wait")
    client.log_input(run.info.run_id, data, name="d")
    data.unlink()
    go_on.set()
    with pytest.warns(autolog.AutologWarning, match="input 'd'"):
        client.flush()
    client.set_terminated(run.info.run_id)
    assert "autolog.input.d" not in client.get_run(run.info.run_id).data.tags
    client.close()
