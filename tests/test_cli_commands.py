"""The ``autolog`` subcommands that read and manage runs, through click's runner."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator
from pathlib import Path

import click
import pytest
from click.testing import CliRunner, Result

import autolog
from autolog.cli import COMMANDS
from autolog.cli._group import root


def invoke(*args: str, input: str | None = None) -> Result:
    return CliRunner().invoke(root, list(args), input=input, catch_exceptions=False)


@pytest.fixture
def runs() -> list[autolog.Run]:
    """Three finished runs in experiment 'mnist' and one in 'Default', oldest first."""
    made = []
    for i, (lr, acc) in enumerate([(0.1, 0.8), (0.01, 0.93), (0.001, 0.7)]):
        with autolog.start_run(run_name=f"r{i}", experiment="mnist", tags={"team": "vision"}):
            autolog.log_params({"lr": lr, "model": "mlp", "layers": 4 if i == 0 else 3})
            for step in range(5):
                autolog.log_metric("acc", acc - 0.1 * (4 - step) / 4, step=step)
            autolog.log_metric("loss", round(1 - acc, 3))
        made.append(autolog.last_active_run())
    with autolog.start_run(run_name="other") as other:
        autolog.log_metric("acc", 0.5)
    made.append(autolog.get_run(other.info.run_id))
    return [run for run in made if run is not None]


def _tsv(text: str) -> list[dict[str, str]]:
    lines = text.splitlines()
    header = lines[0].split("\t")
    return [dict(zip(header, line.split("\t"), strict=True)) for line in lines[1:]]


# -------------------------------------------------------------------------------------------
# the group: help, examples, --tracking-uri everywhere, errors
# -------------------------------------------------------------------------------------------


def _commands() -> Iterator[tuple[str, click.Command]]:
    ctx = click.Context(root)
    for name in COMMANDS:
        command = root.get_command(ctx, name)
        assert command is not None
        yield from _with_subcommands(name, command)


def _with_subcommands(name: str, command: click.Command) -> Iterator[tuple[str, click.Command]]:
    yield name, command
    if isinstance(command, click.Group):
        for sub, subcommand in command.commands.items():
            yield from _with_subcommands(f"{name} {sub}", subcommand)


def test_every_command_shows_an_example_and_takes_tracking_uri() -> None:
    seen = set()
    for name, command in _commands():
        seen.add(name)
        done = invoke(*name.split(), "--help")
        assert done.exit_code == 0, name
        assert "Example" in done.output, name
        if not isinstance(command, click.Group) or name == "server":
            options = {opt for param in command.params for opt in getattr(param, "opts", ())}
            assert "--tracking-uri" in options, name
    assert {
        "runs ls",
        "runs show",
        "runs compare",
        "experiments ls",
        "artifacts get",
        "artifacts log",
        "server token create",
        "server token ls",
        "server token revoke",
        "doctor",
    } <= seen


def test_root_help_lists_every_command_with_an_example() -> None:
    done = invoke("--help")
    assert done.exit_code == 0
    for name in COMMANDS:
        assert f"  {name} " in done.output
    assert "Examples:" in done.output


def test_reading_a_store_that_does_not_exist_is_one_line_not_an_empty_store(
    tmp_path: Path,
) -> None:
    done = CliRunner().invoke(root, ["runs", "ls"])
    assert done.exit_code == 1
    assert "nothing has been recorded there" in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1
    assert "Traceback" not in done.output
    assert not (tmp_path / "autolog-runs").exists()


def test_usage_errors_exit_2(runs: list[autolog.Run]) -> None:
    done = CliRunner().invoke(root, ["runs", "ls", "--limit", "0"])
    assert done.exit_code == 2
    done = CliRunner().invoke(root, ["runs", "ls", "--columns", "bogus.x"])
    assert done.exit_code == 2
    assert "is not params.<key>" in done.stderr
    done = CliRunner().invoke(root, ["runs", "ls", "--format", "xml"])
    assert done.exit_code == 2


def test_a_bad_filter_names_the_position_of_the_error(runs: list[autolog.Run]) -> None:
    done = CliRunner().invoke(root, ["runs", "ls", "--filter", "metrics.acc >> 0.9"])
    assert done.exit_code == 1
    assert done.stderr.strip() == (
        "Error: invalid filter 'metrics.acc >> 0.9' at position 14: "
        "metric 'acc' compares to a number, not '>'"
    )


def test_an_unknown_run_and_experiment_are_one_line_errors(runs: list[autolog.Run]) -> None:
    for args, message in [
        (["runs", "show", "0123456789abcdef0123456789abcdef"], "run '0123456789abcdef"),
        (["runs", "show", "zzzz"], "run 'zzzz' not found"),
        (["runs", "ls", "-e", "nope"], "experiment 'nope' not found"),
        (["artifacts", "ls", "nope"], "run 'nope' not found"),
    ]:
        done = CliRunner().invoke(root, args)
        assert done.exit_code == 1, args
        assert message in done.stderr, (args, done.stderr)
        assert len(done.stderr.strip().splitlines()) == 1
        assert "Traceback" not in done.output


def test_an_id_prefix_too_short_to_name_a_run_says_how_long_it_must_be(
    runs: list[autolog.Run],
) -> None:
    for reference in ("17", "a", "abc"):
        done = CliRunner().invoke(root, ["runs", "show", reference])
        assert done.exit_code == 1, reference
        assert done.stderr.strip() == (
            f"Error: no run is named '{reference}', and a run id prefix needs 4 characters at "
            "least (see `autolog runs ls` for the ids)"
        )
    run_id = runs[0].info.run_id
    assert f"run\trun id\t{run_id}" in invoke("runs", "show", run_id[:4]).stdout  # 4 will do
    with autolog.start_run(run_name="17"):
        pass
    assert invoke("runs", "show", "17").exit_code == 0  # a run's name is still a name
    assert "zz" in CliRunner().invoke(root, ["runs", "show", "zz"]).stderr  # not hex: not found


def test_an_unsupported_tracking_uri_is_a_one_line_error() -> None:
    done = CliRunner().invoke(root, ["runs", "ls", "--tracking-uri", "ftp://somewhere"])
    assert done.exit_code == 1
    assert "ftp://somewhere" in done.stderr
    assert "Traceback" not in done.output


# -------------------------------------------------------------------------------------------
# runs ls
# -------------------------------------------------------------------------------------------


def test_runs_ls_piped_is_tab_separated_newest_first(runs: list[autolog.Run]) -> None:
    done = invoke("runs", "ls")
    assert done.exit_code == 0
    rows = _tsv(done.stdout)
    assert [r["name"] for r in rows] == ["other", "r2", "r1", "r0"]
    assert rows[0]["run id"] == runs[3].info.run_id  # full ids when piped
    assert rows[1]["experiment"] == "mnist"
    assert rows[1]["status"] == "FINISHED"
    assert rows[1]["started"].endswith("Z")


def test_runs_ls_filter_order_columns_limit(runs: list[autolog.Run]) -> None:
    done = invoke(
        "runs",
        "ls",
        "-e",
        "mnist",
        "--filter",
        "metrics.acc > 0.75",
        "--order-by",
        "metrics.acc DESC",
        "--columns",
        "params.lr,metrics.acc",
        "-c",
        "tags.team",
    )
    assert done.exit_code == 0, done.output
    rows = _tsv(done.stdout)
    assert [(r["name"], r["params.lr"], r["metrics.acc"], r["tags.team"]) for r in rows] == [
        ("r1", "0.01", "0.93", "vision"),
        ("r0", "0.1", "0.8", "vision"),
    ]
    limited = _tsv(invoke("runs", "ls", "--limit", "1").stdout)
    assert [r["name"] for r in limited] == ["other"]


def test_runs_ls_json_is_stable_full_records(runs: list[autolog.Run]) -> None:
    done = invoke("runs", "ls", "-e", "mnist", "--format", "json")
    records = json.loads(done.stdout)
    assert [r["run_name"] for r in records] == ["r2", "r1", "r0"]
    first = records[2]
    assert set(first) == {
        "run_id",
        "run_name",
        "experiment_id",
        "experiment_name",
        "status",
        "start_time",
        "end_time",
        "parent_run_id",
        "artifact_uri",
        "deleted_time",
        "params",
        "metrics",
        "tags",
    }
    assert first["params"] == {"layers": "4", "lr": "0.1", "model": "mlp"}
    assert first["metrics"] == {"acc": 0.8, "loss": 0.2}
    assert first["experiment_name"] == "mnist"
    assert first["start_time"] == runs[0].info.start_time


def test_runs_ls_csv(runs: list[autolog.Run]) -> None:
    done = invoke("runs", "ls", "--format", "csv", "-c", "params.lr")
    rows = list(csv.DictReader(io.StringIO(done.stdout)))
    assert [r["params.lr"] for r in rows] == ["", "0.001", "0.01", "0.1"]


def test_runs_ls_table_is_drawn_with_rich(runs: list[autolog.Run]) -> None:
    done = invoke("runs", "ls", "--format", "table", "-c", "metrics.acc")
    assert "┃" in done.stdout
    assert runs[0].info.run_id[:12] in done.stdout
    assert runs[0].info.run_id not in done.stdout  # tables show a unique start of the id
    assert "0.93" in done.stdout


def test_tab_separated_values_escape_tabs_and_newlines() -> None:
    with autolog.start_run(run_name="odd\tname\nhere"):
        pass
    rows = _tsv(invoke("runs", "ls").stdout)
    assert rows[0]["name"] == "odd\\tname\\nhere"


def test_nan_is_null_in_json() -> None:
    with autolog.start_run():
        autolog.log_metric("m", float("nan"))
    records = json.loads(invoke("runs", "ls", "--format", "json").stdout)
    assert records[0]["metrics"] == {"m": None}


# -------------------------------------------------------------------------------------------
# runs show / compare
# -------------------------------------------------------------------------------------------


def test_runs_show_by_id_prefix_name_and_last(runs: list[autolog.Run]) -> None:
    run_id = runs[1].info.run_id
    for reference in (run_id, run_id[:6], "r1"):
        done = invoke("runs", "show", reference)
        assert done.exit_code == 0, done.output
        lines = set(done.stdout.splitlines())
        assert f"run\trun id\t{run_id}" in lines
        assert "params\tlr\t0.01" in lines
        assert "metrics\tacc\t0.93" in lines
        assert "tags\tteam\tvision" in lines
        assert not any(line.startswith("tags\tautolog.") for line in lines)
    last = invoke("runs", "show", "last", "--format", "json")
    assert json.loads(last.stdout)["run_name"] == "other"
    system = invoke("runs", "show", "r1", "--system-tags").stdout
    assert "tags\tautolog.user\t" in system


def test_an_ambiguous_reference_says_so(runs: list[autolog.Run]) -> None:
    with autolog.start_run(run_name="r1"):
        pass
    done = CliRunner().invoke(root, ["runs", "show", "r1"])
    assert done.exit_code == 1
    assert "names more than one run" in done.stderr


def test_runs_compare_marks_the_params_that_differ(runs: list[autolog.Run]) -> None:
    done = invoke("runs", "compare", "r0", "r1")
    assert done.exit_code == 0, done.output
    rows = _tsv(done.stdout)
    by_key = {(r["section"], r["key"]): r for r in rows}
    assert by_key["params", "lr"]["changed"] == "*"
    assert (by_key["params", "lr"]["r0"], by_key["params", "lr"]["r1"]) == ("0.1", "0.01")
    assert ("params", "model") not in by_key  # equal everywhere: only with --all
    assert by_key["metrics", "acc (min)"]["r0"] == "0.7000000000000001"
    assert by_key["metrics", "acc (max)"]["r1"] == "0.93"
    assert by_key["metrics", "loss (latest)"]["r0"] == "0.2"
    everything = _tsv(invoke("runs", "compare", "r0", "r1", "--all").stdout)
    assert any(r["key"] == "model" and r["changed"] == "" for r in everything)


def test_runs_compare_json(runs: list[autolog.Run]) -> None:
    a, b = runs[0].info.run_id, runs[1].info.run_id
    result = json.loads(invoke("runs", "compare", a, b, "--format", "json").stdout)
    assert [r["run_id"] for r in result["runs"]] == [a, b]
    assert result["differing_params"] == ["layers", "lr"]
    assert result["params"]["model"] == {a: "mlp", b: "mlp"}
    assert result["metrics"]["acc"][b] == {
        "latest": 0.93,
        "min": pytest.approx(0.83),
        "max": 0.93,
        "steps": 5,
    }
    assert result["metrics"]["acc"][a]["min"] == pytest.approx(0.7)


def test_runs_compare_needs_two_runs(runs: list[autolog.Run]) -> None:
    done = CliRunner().invoke(root, ["runs", "compare", "r0"])
    assert done.exit_code == 2


# -------------------------------------------------------------------------------------------
# experiments
# -------------------------------------------------------------------------------------------


def test_experiments_ls_and_create(runs: list[autolog.Run]) -> None:
    created = invoke("experiments", "create", "vision")
    assert created.exit_code == 0
    new_id = created.stdout.strip()
    rows = _tsv(invoke("experiments", "ls").stdout)
    assert [r["name"] for r in rows] == ["mnist", "Default", "vision"]
    assert rows[2]["id"] == new_id
    again = CliRunner().invoke(root, ["experiments", "create", "vision"])
    assert again.exit_code == 1
    assert f"experiment 'vision' already exists (id {new_id})" in again.stderr
    records = json.loads(invoke("experiments", "ls", "--format", "json").stdout)
    assert records[2]["name"] == "vision"
    assert isinstance(records[2]["creation_time"], int)


def test_experiments_create_makes_the_store(tmp_path: Path) -> None:
    uri = f"sqlite:///{tmp_path}/new/x.db"
    done = invoke("experiments", "create", "first", "--tracking-uri", uri)
    assert done.exit_code == 0
    assert autolog.Client(uri).get_experiment_by_name("first") is not None


# -------------------------------------------------------------------------------------------
# artifacts
# -------------------------------------------------------------------------------------------


@pytest.fixture
def run_with_files(tmp_path: Path) -> str:
    source = tmp_path / "src"
    (source / "model").mkdir(parents=True)
    (source / "model" / "weights.bin").write_bytes(b"\0" * 1000)
    (source / "model" / "meta.json").write_text("{}")
    (source / "notes.txt").write_text("hello")
    with autolog.start_run(run_name="files") as run:
        autolog.log_artifacts(source)
    return run.info.run_id


def test_artifacts_ls(run_with_files: str) -> None:
    rows = _tsv(invoke("artifacts", "ls", run_with_files).stdout)
    assert [(r["path"], r["type"], r["size"]) for r in rows] == [
        ("model", "dir", ""),
        ("notes.txt", "file", "5"),
    ]
    recursive = _tsv(invoke("artifacts", "ls", "files", "-r").stdout)
    assert [r["path"] for r in recursive] == ["model/meta.json", "model/weights.bin", "notes.txt"]
    inside = _tsv(invoke("artifacts", "ls", "files", "model").stdout)
    assert [r["path"] for r in inside] == ["model/meta.json", "model/weights.bin"]
    one = _tsv(invoke("artifacts", "ls", "files", "notes.txt").stdout)
    assert [r["path"] for r in one] == ["notes.txt"]
    missing = CliRunner().invoke(root, ["artifacts", "ls", "files", "nope"])
    assert missing.exit_code == 1
    assert "artifact 'nope" in missing.stderr
    unsafe = CliRunner().invoke(root, ["artifacts", "ls", "files", "../x"])
    assert unsafe.exit_code == 1
    assert "unsafe artifact path" in unsafe.stderr


def test_artifacts_get(run_with_files: str, tmp_path: Path) -> None:
    out = tmp_path / "out"
    done = invoke("artifacts", "get", run_with_files, "-o", str(out))
    assert done.exit_code == 0, done.output
    assert done.stdout.strip() == str(out / "artifacts")
    assert (out / "artifacts" / "model" / "weights.bin").read_bytes() == b"\0" * 1000
    assert (out / "artifacts" / "notes.txt").read_text() == "hello"
    folder = invoke("artifacts", "get", "files", "model", "-o", str(tmp_path / "m"))
    assert folder.stdout.strip() == str(tmp_path / "m" / "model")
    assert sorted(p.name for p in (tmp_path / "m" / "model").iterdir()) == [
        "meta.json",
        "weights.bin",
    ]
    single = invoke("artifacts", "get", "files", "notes.txt", "-o", str(tmp_path / "n"))
    assert (tmp_path / "n" / "notes.txt").read_text() == "hello"
    assert single.stdout.strip() == str(tmp_path / "n" / "notes.txt")
    missing = CliRunner().invoke(root, ["artifacts", "get", "files", "nope"])
    assert missing.exit_code == 1
    # named as asked, or as the file where it was expected (a local store says where)
    assert "nope' not found" in missing.stderr
    assert len(missing.stderr.splitlines()) == 1


def test_commands_work_on_any_store(store_uri: str, artifact_root: Path) -> None:
    if store_uri == "memory:":
        pytest.skip("an in-process store holds nothing for another command to read")
    client = autolog.Client(store_uri)
    run = client.create_run("exp", run_name="remote")
    client.log_param(run.info.run_id, "p", 1)
    client.log_metric(run.info.run_id, "m", 2.0)
    client.set_terminated(run.info.run_id)
    client.flush()
    rows = _tsv(invoke("runs", "ls", "--tracking-uri", store_uri, "-c", "params.p").stdout)
    assert [(r["name"], r["params.p"]) for r in rows] == [("remote", "1")]
    shown = invoke("runs", "show", run.info.run_id[:8], "--tracking-uri", store_uri).stdout
    assert "metrics\tm\t2.0" in shown.splitlines()
    experiments = _tsv(invoke("experiments", "ls", "--tracking-uri", store_uri).stdout)
    assert [e["name"] for e in experiments] == ["exp"]


# -------------------------------------------------------------------------------------------
# soft delete, restore, gc, experiments rename/delete
# -------------------------------------------------------------------------------------------


def test_delete_run_and_restore_run_in_the_api(runs: list[autolog.Run]) -> None:
    run_id = runs[0].info.run_id
    autolog.delete_run(run_id)
    assert run_id not in {r.info.run_id for r in autolog.search_runs()}
    assert autolog.get_run(run_id).info.deleted_time is not None
    client = autolog.Client()
    assert [r.info.run_id for r in client.search_runs(lifecycle="deleted")] == [run_id]
    autolog.restore_run(run_id)
    assert run_id in {r.info.run_id for r in autolog.search_runs()}
    with pytest.raises(autolog.NotFoundError):
        autolog.delete_run("0" * 32)
    with pytest.raises(autolog.InvalidInputError):
        autolog.delete_run(None)  # type: ignore[arg-type]


def test_runs_delete_ls_deleted_and_restore(runs: list[autolog.Run]) -> None:
    done = invoke("runs", "delete", "r0", runs[1].info.run_id[:8])
    assert done.exit_code == 0, done.output
    assert f"deleted run {runs[0].info.run_id} (r0)" in done.stderr
    assert [r["name"] for r in _tsv(invoke("runs", "ls").stdout)] == ["other", "r2"]
    deleted = _tsv(invoke("runs", "ls", "--deleted").stdout)
    assert [r["name"] for r in deleted] == ["r1", "r0"]
    assert all(r["deleted"].endswith("Z") for r in deleted)
    shown = invoke("runs", "show", "r0").stdout.splitlines()
    assert any(line.startswith("run\tdeleted\t") for line in shown)
    assert invoke("runs", "restore", "r0").exit_code == 0
    assert [r["name"] for r in _tsv(invoke("runs", "ls").stdout)] == ["other", "r2", "r0"]
    missing = CliRunner().invoke(root, ["runs", "delete", "r2", "nope"])
    assert missing.exit_code == 1
    assert "r2" in [r["name"] for r in _tsv(invoke("runs", "ls").stdout)]  # nothing deleted


def test_gc_removes_deleted_runs_and_their_artifacts_and_says_how_much(
    runs: list[autolog.Run], tmp_path: Path
) -> None:
    payload = tmp_path / "blob.bin"
    payload.write_bytes(b"x" * 5000)
    with autolog.start_run(run_name="big") as big:
        autolog.log_artifact(payload, "data")
    folder = Path(autolog.get_run(big.info.run_id).info.artifact_uri.removeprefix("file://"))
    assert (folder / "data" / "blob.bin").exists()
    invoke("runs", "delete", "big", "r0")
    dry = invoke("gc", "--dry-run")
    assert (
        dry.stdout.strip()
        == "would remove 2 runs and 0 experiments, 4.9 KB (5000 bytes) of artifacts"
    )
    assert folder.exists()
    recent = invoke("gc", "--older-than", "30d")
    assert recent.stdout.startswith("removed 0 runs")
    done = invoke("gc")
    assert done.exit_code == 0, done.output
    assert (
        done.stdout.strip()
        == "removed 2 runs and 0 experiments, 4.9 KB (5000 bytes) of artifacts freed"
    )
    assert not folder.exists()
    assert not folder.parent.exists()
    for run_id in (big.info.run_id, runs[0].info.run_id):
        with pytest.raises(autolog.NotFoundError):
            autolog.get_run(run_id)
    assert invoke("runs", "ls", "--deleted").stdout.count("\n") == 1  # the header only
    bad = CliRunner().invoke(root, ["gc", "--older-than", "soon"])
    assert bad.exit_code == 2


def test_gc_keeps_a_run_with_a_registered_model() -> None:
    with autolog.start_run(run_name="model-run") as run:
        autolog.log_model({"weights": [1, 2]})
    autolog.register_model(f"runs:/{run.info.run_id}/model", "clf")
    autolog.delete_run(run.info.run_id)
    done = CliRunner().invoke(root, ["gc"])
    assert done.exit_code == 0
    assert "kept: run" in done.stderr
    assert "registered model versions (clf/1)" in done.stderr
    assert done.stdout.startswith("removed 0 runs")
    assert autolog.load_model("models:/clf/1") == {"weights": [1, 2]}


def test_experiments_rename_delete_restore_and_gc(runs: list[autolog.Run]) -> None:
    assert invoke("experiments", "rename", "mnist", "digits").exit_code == 0
    assert [e["name"] for e in _tsv(invoke("experiments", "ls").stdout)] == ["digits", "Default"]
    records = json.loads(invoke("runs", "ls", "-e", "digits", "--format", "json").stdout)
    assert {r["experiment_name"] for r in records} == {"digits"}
    taken = CliRunner().invoke(root, ["experiments", "rename", "digits", "Default"])
    assert taken.exit_code == 1
    assert "taken" in taken.stderr
    assert invoke("experiments", "delete", "digits").exit_code == 0
    assert [e["name"] for e in _tsv(invoke("experiments", "ls").stdout)] == ["Default"]
    assert [e["name"] for e in _tsv(invoke("experiments", "ls", "--deleted").stdout)] == ["digits"]
    assert [r["name"] for r in _tsv(invoke("runs", "ls").stdout)] == ["other"]
    with (
        pytest.raises(autolog.InvalidInputError, match="is deleted"),
        autolog.start_run(experiment="digits"),
    ):
        pass
    digits_id = _tsv(invoke("experiments", "ls", "--deleted").stdout)[0]["id"]
    assert invoke("experiments", "restore", digits_id).exit_code == 0  # by id works too
    assert len(_tsv(invoke("runs", "ls").stdout)) == 4
    invoke("experiments", "delete", "digits")
    done = invoke("gc")
    assert done.stdout.startswith("removed 3 runs and 1 experiments")
    assert invoke("experiments", "ls", "--deleted").stdout.count("\n") == 1
    assert invoke("experiments", "create", "digits").exit_code == 0  # the name is free again
    unknown = CliRunner().invoke(root, ["experiments", "delete", "nope"])
    assert unknown.exit_code == 1
    assert "experiment 'nope' not found" in unknown.stderr


def _free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_a_server_that_does_not_answer_is_one_line() -> None:
    pytest.importorskip("httpx", reason="the REST store needs httpx")
    uri = f"http://127.0.0.1:{_free_port()}"
    for args in (["runs", "ls"], ["experiments", "create", "x"], ["runs", "show", "last"]):
        done = CliRunner().invoke(root, [*args, "--tracking-uri", uri])
        assert done.exit_code == 1, (args, done.output)
        assert done.stderr.strip().splitlines() == [
            f"Error: the tracking server at {uri} does not answer "
            "(ConnectError: [Errno 111] Connection refused)"
        ]


def test_delete_restore_and_gc_through_a_tracking_server(rest_uri: str, tmp_path: Path) -> None:
    payload = tmp_path / "blob.bin"
    payload.write_bytes(b"y" * 3000)
    client = autolog.Client(rest_uri)
    run = client.create_run("served", run_name="remote")
    client.log_artifact(run.info.run_id, payload)
    client.set_terminated(run.info.run_id)
    client.flush()
    assert invoke("runs", "delete", "remote", "--tracking-uri", rest_uri).exit_code == 0
    assert _tsv(invoke("runs", "ls", "--tracking-uri", rest_uri).stdout) == []
    deleted = _tsv(invoke("runs", "ls", "--deleted", "--tracking-uri", rest_uri).stdout)
    assert [r["name"] for r in deleted] == ["remote"]
    done = invoke("gc", "--tracking-uri", rest_uri)
    assert (
        done.stdout.strip()
        == "removed 1 runs and 0 experiments, 2.9 KB (3000 bytes) of artifacts freed"
    )
    with pytest.raises(autolog.NotFoundError):
        client.get_run(run.info.run_id)


# -------------------------------------------------------------------------------------------
# artifacts log
# -------------------------------------------------------------------------------------------


def _upload_source(tmp_path: Path) -> Path:
    source = tmp_path / "upload" / "plots"
    (source / "sub").mkdir(parents=True)
    (source / "a.txt").write_text("alpha")
    (source / "sub" / "b.bin").write_bytes(b"\1" * 300)
    (tmp_path / "upload" / "report.html").write_text("<p>ok</p>")
    return source


def test_artifacts_log_uploads_a_file_or_a_folder_through_any_store(
    store_uri: str, artifact_root: Path, tmp_path: Path
) -> None:
    if store_uri == "memory:":
        pytest.skip("an in-process store holds nothing for another command to read")
    source = _upload_source(tmp_path)
    client = autolog.Client(store_uri)
    run_id = client.create_run("exp", run_name="live").info.run_id
    client.flush()
    where = ("--tracking-uri", store_uri)
    done = invoke("artifacts", "log", "live", str(source.parent / "report.html"), *where)
    assert done.stdout == f"logged 1 file (9 bytes) to run {run_id} at its root\n"
    done = invoke("artifacts", "log", run_id[:8], str(source), "--artifact-path", "figs", *where)
    assert done.stdout == f"logged 2 files (305 bytes) to run {run_id} at figs/plots/\n"
    done = invoke("artifacts", "log", "live", str(source), "--artifact-path", ".", *where)
    assert done.stdout == f"logged 2 files (305 bytes) to run {run_id} at its root\n"
    listed = _tsv(invoke("artifacts", "ls", "live", "-r", *where).stdout)
    assert [r["path"] for r in listed] == [
        "a.txt",
        "figs/plots/a.txt",
        "figs/plots/sub/b.bin",
        "report.html",
        "sub/b.bin",
    ]
    out = tmp_path / "back"
    invoke("artifacts", "get", "live", "figs/plots/sub/b.bin", "-o", str(out), *where)
    assert (out / "b.bin").read_bytes() == b"\1" * 300


def test_artifacts_log_refuses_bad_input_in_one_line(tmp_path: Path) -> None:
    source = _upload_source(tmp_path)
    with autolog.start_run(run_name="ended") as run:
        pass
    live = autolog.Client().create_run(None, run_name="live")
    autolog.flush()
    for args, code, message in [
        (["ended", str(source)], 1, f"run {run.info.run_id} is FINISHED"),
        (["live", str(tmp_path / "nope")], 2, "does not exist"),
        (["live", str(source), "--artifact-path", "../x"], 1, "unsafe artifact path"),
        (["nobody", str(source)], 1, "run 'nobody' not found"),
        (["live"], 2, "Missing argument 'PATH'"),
    ]:
        done = CliRunner().invoke(root, ["artifacts", "log", *args])
        assert done.exit_code == code, (args, done.output)
        assert message in done.stderr, (args, done.stderr)
        assert "Traceback" not in done.output
    assert autolog.list_artifacts(live.info.run_id) == []
    assert autolog.list_artifacts(run.info.run_id) == []
