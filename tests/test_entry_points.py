"""Named entry points: ``[tool.autolog.entry-points.NAME]`` in pyproject.toml, read, checked,
rendered, and run by ``autolog run -e NAME -P NAME=VALUE`` (real subprocesses)."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

import autolog
from autolog import InvalidInputError, RunStatus
from autolog.projects.entry_points import EntryPoint, find_entry_points, find_pyproject

AUTOLOG = str(Path(sys.executable).with_name("autolog"))

PROJECT = """
[project]
name = "demo"

[tool.autolog.entry-points.train]
description = "fit the model"
command = "python train.py --lr {lr} --epochs {epochs} --name {name} --data={data} --fast {fast}"
lr = {type = "float", default = 0.01}
epochs = {type = "int", default = 3}
name = {type = "str", default = "base line"}
data = {type = "path"}
fast = {type = "bool", default = false}

[tool.autolog.entry-points.evaluate]
command = "python3.11 -m pkg.evaluate {{literal}} {split}"
split = {default = "test"}
"""


def _project(folder: Path, text: str = PROJECT) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "pyproject.toml"
    path.write_text(textwrap.dedent(text))
    return path


def _train(folder: Path) -> EntryPoint:
    _project(folder)
    return find_entry_points(folder)["train"]


def test_the_nearest_pyproject_upward_is_read(tmp_path: Path) -> None:
    _project(tmp_path, '[tool.autolog.entry-points.outer]\ncommand = "python outer.py"\n')
    inner = _project(tmp_path / "proj")
    deeper = tmp_path / "proj" / "src" / "deeper"
    deeper.mkdir(parents=True)
    assert find_pyproject(deeper) == inner
    points = find_entry_points(deeper)
    assert list(points) == ["train", "evaluate"]
    train = points["train"]
    assert train.folder == inner.parent
    assert train.description == "fit the model"
    assert {name: (p.type, p.default, p.required) for name, p in train.parameters.items()} == {
        "lr": ("float", 0.01, False),
        "epochs": ("int", 3, False),
        "name": ("str", "base line", False),
        "data": ("path", None, True),
        "fast": ("bool", False, False),
    }
    assert points["evaluate"].parameters["split"].type == "str"  # the type defaults to str
    # a nearer pyproject.toml without the table hides the outer one: {} (not the outer's)
    _project(tmp_path / "proj" / "src", "[project]\nname = 'sub'\n")
    assert find_entry_points(deeper) == {}
    assert list(find_entry_points(tmp_path)) == ["outer"]


def test_no_pyproject_means_no_entry_points(tmp_path: Path) -> None:
    # tmp_path is under /tmp: no pyproject.toml above it either
    assert find_pyproject(tmp_path) is None
    assert find_entry_points(tmp_path) == {}


def test_values_are_typed_and_defaults_fill_the_rest(tmp_path: Path) -> None:
    train = _train(tmp_path)
    argv, typed = train.render({"lr": "1e-3", "epochs": "7", "data": "../d.csv", "fast": "YES"})
    assert typed == {
        "lr": 0.001,
        "epochs": 7,
        "name": "base line",
        "data": "../d.csv",
        "fast": True,
    }
    assert argv == [
        "train.py",
        "--lr",
        "0.001",
        "--epochs",
        "7",
        "--name",
        "base line",
        "--data=../d.csv",  # a path is kept as given
        "--fast",
        "True",
    ]
    for word, value in [("true", True), ("0", False), ("off", False), ("On", True)]:
        assert train.render({"data": "x", "fast": word})[1]["fast"] is value


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"data": "x", "lr": "fast"}, "parameter 'lr' is a float: 'fast' is not one"),
        ({"data": "x", "epochs": "1.5"}, "parameter 'epochs' is a int: '1.5' is not one"),
        ({"data": "x", "fast": "maybe"}, "parameter 'fast' is a bool: 'maybe' is not one"),
        ({"data": "x", "momentum": "0.9"}, "entry point 'train' has no parameter 'momentum'"),
        ({}, "entry point 'train' needs a value for 'data' (-P data=VALUE)"),
    ],
)
def test_a_bad_value_names_the_parameter(
    tmp_path: Path, values: dict[str, str], message: str
) -> None:
    with pytest.raises(InvalidInputError) as caught:
        _train(tmp_path).render(values)
    assert message in str(caught.value)


def test_values_are_quoted_so_each_stays_one_argument(tmp_path: Path) -> None:
    train = _train(tmp_path)
    awkward = ["a b", 'it\'s "quoted"', "$HOME; rm -rf /", "", "{lr}", "tab\tand\nnewline"]
    for text in awkward:
        argv, _ = train.render({"data": "d", "name": text})
        assert argv[argv.index("--name") + 1] == text
    argv, _ = train.render({"data": "with space/it's.csv", "name": "x"})
    assert "--data=with space/it's.csv" in argv


def test_a_module_command_and_literal_braces(tmp_path: Path) -> None:
    _project(tmp_path)
    evaluate = find_entry_points(tmp_path)["evaluate"]
    assert evaluate.render({}) == (["-m", "pkg.evaluate", "{literal}", "test"], {"split": "test"})
    assert evaluate.render({"split": "a b"})[0][-1] == "a b"


def test_a_value_that_renders_no_script_is_refused(tmp_path: Path) -> None:
    _project(
        tmp_path,
        """
        [tool.autolog.entry-points.any]
        command = "python {script} --x 1"
        script = {default = "run.py"}
        """,
    )
    any_script = find_entry_points(tmp_path)["any"]
    assert any_script.render({})[0] == ["run.py", "--x", "1"]
    with pytest.raises(InvalidInputError, match="gives python the option '-c'"):
        any_script.render({"script": "-c"})
    with pytest.raises(InvalidInputError, match="option '-m pkg'"):  # one argument, quoted
        any_script.render({"script": "-m pkg"})


@pytest.mark.parametrize(
    ("table", "problem"),
    [
        ('command = "python t.py {lr}"', "the command names {lr}, which is no parameter"),
        ('command = "bash run.sh"', "the command must start with python"),
        ('command = "pythonx t.py"', "the command must start with python"),
        ('command = "python -u t.py"', "gives python the option '-u'"),
        ('command = "python"', "names no script or -m MODULE after python"),
        ('command = "python -m"', "names no module after -m"),
        ('command = "python t.py {lr:.2f}"\nlr = {type = "float"}', "{lr:.2f} is not a"),
        ('command = "python t.py {lr"\nlr = {type = "float"}', "command 'python t.py {lr'"),
        ('command = "python t.py \'{lr}"\nlr = {}', "No closing quotation"),
        ('description = "no command"', "needs a command ="),
        ('command = "python t.py"\nlr = 0.1', "parameter 'lr' must be a table"),
        ('command = "python t.py"\nlr = {type = "decimal"}', "type 'decimal'; types are"),
        ('command = "python t.py"\nlr = {type = "float", default = "x"}', "'x', is not a float"),
        ('command = "python t.py"\nn = {type = "int", default = 1.5}', "1.5, is not a int"),
        ('command = "python t.py"\nn = {type = "int", default = true}', "True, is not a int"),
        ('command = "python t.py"\nf = {type = "bool", default = 1}', "1, is not a bool"),
        ('command = "python t.py"\nlr = {type = "float", min = 0}', "unknown key 'min'"),
        ('command = "python t.py"\n"a b" = {}', "parameter 'a b': a name is"),
        ("command = 3", "needs a command ="),
    ],
)
def test_a_malformed_table_names_the_file_and_the_problem(
    tmp_path: Path, table: str, problem: str
) -> None:
    path = _project(tmp_path, f"[tool.autolog.entry-points.train]\n{table}\n")
    with pytest.raises(InvalidInputError) as caught:
        find_entry_points(tmp_path)
    message = str(caught.value)
    assert message.startswith(f"{path}: [tool.autolog.entry-points.train]"), message
    assert problem in message


def test_a_file_that_does_not_parse_is_named(tmp_path: Path) -> None:
    path = _project(tmp_path, "[tool.autolog.entry-points.train\n")
    with pytest.raises(InvalidInputError, match=f"^{path} is not valid TOML: "):
        find_entry_points(tmp_path)
    path.write_text('[tool.autolog]\nentry-points = "train"\n')
    with pytest.raises(InvalidInputError, match="entry-points] must be a table of tables"):
        find_entry_points(tmp_path)


# --- autolog run -e NAME, end to end ----------------------------------------------------------

TRAIN = """
import json, os, sys
import autolog
print(json.dumps({"argv": sys.argv, "cwd": os.getcwd()}))
autolog.log_metric("seen", 1.0)
sys.exit(int(sys.argv[sys.argv.index("--epochs") + 1]) - 3)
"""


def _run(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [AUTOLOG, "run", *args], cwd=cwd, capture_output=True, text=True, timeout=60, check=False
    )


@pytest.fixture
def project(tmp_path: Path) -> Path:
    folder = tmp_path / "proj"
    _project(folder)
    (folder / "train.py").write_text(TRAIN)
    (folder / "pkg").mkdir()
    (folder / "pkg" / "__init__.py").write_text("")
    (folder / "pkg" / "evaluate.py").write_text(
        "import sys\nprint(sys.argv[1:])\nimport autolog\nautolog.log_metric('acc', 0.5)\n"
    )
    (folder / "sub").mkdir()
    return folder


def test_run_an_entry_point_records_its_parameters(tmp_path: Path, project: Path) -> None:
    uri = f"sqlite:///{tmp_path / 'runs.db'}"
    done = _run(
        "--tracking-uri", uri, "-x", "demo", "-e", "train",
        "-P", "data=in put.csv", "-P", "name=it's", "-P", "epochs=5", cwd=project / "sub",
    )  # fmt: skip
    assert done.returncode == 2, done.stderr  # the script's own status: 5 - 3
    said = json.loads(done.stdout)
    assert said["cwd"] == str(project)  # it runs in the folder of its pyproject.toml
    assert said["argv"] == [
        "train.py",
        *("--lr", "0.01", "--epochs", "5", "--name", "it's"),
        *("--data=in put.csv", "--fast", "False"),
    ]
    [run] = autolog.Client(uri).search_runs("demo")
    assert run.info.status is RunStatus.FAILED
    assert run.data.metrics["seen"] == 1.0
    assert run.data.params == {
        "lr": "0.01",
        "epochs": "5",
        "name": "it's",
        "data": "in put.csv",
        "fast": "False",
    }
    tags = run.data.tags
    assert tags["autolog.entry_point.name"] == "train"
    assert json.loads(tags["autolog.entry_point.parameters"]) == {
        "lr": "0.01",
        "epochs": "5",
        "name": "it's",
        "data": "in put.csv",
        "fast": "False",
    }
    assert tags["autolog.entry_point"] == "train.py"
    assert tags["autolog.command"] == (
        f"autolog run --tracking-uri {uri} -x demo -e train -P 'data=in put.csv' "
        """-P 'name=it'"'"'s' -P epochs=5"""
    )
    assert tags["autolog.source.name"] == str(project / "train.py")
    assert tags["autolog.exit_code"] == "2"


@pytest.mark.slow
def test_run_a_module_entry_point(tmp_path: Path, project: Path) -> None:
    done = _run("-e", "evaluate", "-P", "split=dev set", cwd=project)
    assert done.returncode == 0, done.stderr
    assert done.stdout == "['{literal}', 'dev set']\n"
    [run] = autolog.Client(f"sqlite:///{project / 'autolog-runs' / 'autolog.db'}").search_runs()
    assert run.data.params == {"split": "dev set"}
    assert run.data.tags["autolog.entry_point"] == "-m pkg.evaluate"
    assert run.data.tags["autolog.source.type"] == "MODULE"
    assert run.data.metrics["acc"] == 0.5


@pytest.mark.parametrize(
    ("args", "said"),
    [
        (["-e", "train", "-P", "data=x", "-P", "lr=fast"], "parameter 'lr' is a float: 'fast'"),
        (["-e", "train", "-P", "data=x", "-P", "momentum=0.9"], "no parameter 'momentum'"),
        (["-e", "train"], "needs a value for 'data' (-P data=VALUE)"),
        (["-e", "train", "-P", "data"], "expected NAME=VALUE, got 'data'"),
        (["-e", "train", "-P", "data=a", "-P", "data=b"], "'data' is given twice"),
        (["-e", "NOPE"], "there are: train (fit the model); evaluate"),
        (["-e", "train", "-P", "data=x", "train.py"], "name no script or -m MODULE with it"),
        (["-e", "train", "-P", "data=x", "-m", "pkg.evaluate"], "name no script or -m MODULE"),
        (["-P", "data=x", "train.py"], "-P/--param sets a parameter of an entry point"),
    ],
)
def test_usage_errors_name_what_is_wrong_and_run_nothing(
    project: Path, args: list[str], said: str
) -> None:
    done = _run(*args, cwd=project)
    assert done.returncode == 2, done.stderr
    assert said in " ".join(done.stderr.split()), done.stderr
    assert done.stdout == ""
    assert not (project / "autolog-runs").exists()


def test_without_entry_points_the_error_says_where_they_go(tmp_path: Path, project: Path) -> None:
    bare = tmp_path / "bare"
    bare.mkdir()
    done = _run("-e", "train", cwd=bare)
    assert done.returncode == 2
    assert "no pyproject.toml here or above" in done.stderr
    (project / "train.py").unlink()
    missing = _run("-e", "train", "-P", "data=x", cwd=project)
    assert missing.returncode == 2
    assert "runs train.py, which is not in" in " ".join(missing.stderr.split())
    (project / "pyproject.toml").write_text("[tool.autolog.entry-points.train]\ncommand = 1\n")
    broken = _run("-e", "train", cwd=project)
    assert broken.returncode == 1
    assert broken.stderr.startswith(f"Error: {project / 'pyproject.toml'}: "), broken.stderr
    assert "Traceback" not in broken.stderr
