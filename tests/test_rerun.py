"""``autolog rerun`` end to end: real git repositories, real virtual environments, real
subprocesses (issue 18's checks).

A small project virtual environment is made for the module with uv (numpy, scikit-learn,
LightGBM, PyTorch CPU, autolog editable from this checkout): its lock is small, so rebuilding
it is quick. Seeded scikit-learn, LightGBM and PyTorch scripts live in a temporary git
repository with uncommitted edits and an untracked helper module, read a data file outside
it, and are recorded by ``autolog run`` with that environment's interpreter; each is rerun
with ``--env current`` and ``--env recorded`` and must reproduce. The pip path (no uv) is
built from a smaller lock. Packages come from the indexes pip is configured with here
(``/opt/wheels``, the local simple indexes), as the rerun's own installs do.
"""

from __future__ import annotations

import json
import os
import platform
import re
import shutil
import subprocess
import sys
import textwrap
import time
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

import pytest
from click.testing import CliRunner

import autolog
from autolog.cli._group import root
from autolog.errors import RerunError
from autolog.projects import envs
from autolog.projects.compare import is_timing_metric

pytest.importorskip("sklearn")
pytest.importorskip("lightgbm")
pytest.importorskip("torch")

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(shutil.which("git") is None, reason="needs the git command"),
]

UV = envs.find_uv()
REPO = Path(__file__).resolve().parents[1]
# the project's packages: the versions installed here (wheels already on this machine)
PINNED = ("numpy", "scipy", "scikit-learn", "lightgbm", "joblib", "threadpoolctl")
TORCH = "torch==2.13.0+cpu"  # the CPU build, from find-links (/opt/wheels)
SCRIPTS = ("train_sklearn.py", "train_lightgbm.py", "train_torch.py")

HELPER = """
    import numpy as np
    import torch
    from torch import nn


    def load(path):
        data = np.loadtxt(path, delimiter=",")
        return data[:, :-1], data[:, -1].astype(int)


    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.layers = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 2))

        def forward(self, x):
            return self.layers(x)
"""
PYPROJECT = """
    [tool.autolog.entry-points.fit]
    command = "python train_sklearn.py --data {data} --n-estimators {trees}"
    data = {type = "path"}
    trees = {type = "int", default = 5}
"""
START = 'import time; print("START", time.time(), flush=True)\n'
ARGS = """
    import argparse
    import autolog
    from helper import load
    parser = argparse.ArgumentParser()
    parser.add_argument("--data")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--n-estimators", type=int, default=5)
    args = parser.parse_args()
    autolog.log_input(args.data, name="data")
    X, y = load(args.data)
"""
TRAIN = {
    "train_sklearn.py": """
        from sklearn.ensemble import RandomForestClassifier
        RandomForestClassifier(
            n_estimators=args.n_estimators, max_depth=3, random_state=args.seed
        ).fit(X, y)
    """,
    "train_lightgbm.py": """
        import lightgbm
        lightgbm.LGBMClassifier(
            n_estimators=args.n_estimators, num_leaves=7, learning_rate=0.1,
            random_state=args.seed, n_jobs=1, deterministic=True, force_row_wise=True,
            verbose=-1,
        ).fit(X, y, eval_set=[(X, y)])
    """,
    "train_torch.py": """
        import torch
        from torch import nn
        from helper import Net
        torch.manual_seed(args.seed)
        torch.set_num_threads(1)
        data = torch.utils.data.TensorDataset(
            torch.tensor(X, dtype=torch.float32), torch.tensor(y)
        )
        loader = torch.utils.data.DataLoader(
            data, batch_size=32, shuffle=True,
            generator=torch.Generator().manual_seed(args.seed),
        )
        model = Net()
        optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
        loss_fn = nn.CrossEntropyLoss()
        for epoch in range(args.n_estimators):
            for xb, yb in loader:
                optimizer.zero_grad()
                loss_fn(model(xb), yb).backward()
                optimizer.step()
    """,
}
# the uncommitted edit of each script (the rerun must run the edited code)
EDITS = {
    "train_sklearn.py": ("max_depth=3", "max_depth=4"),
    "train_lightgbm.py": ("learning_rate=0.1", "learning_rate=0.2"),
    "train_torch.py": ("lr=0.1", "lr=0.05"),
}


@dataclass
class Project:
    root: Path
    repo: Path
    data: Path
    python: str
    env: dict[str, str]
    runs: dict[str, str]  # script -> the id of its recorded run

    def autolog(self, *args: str, timeout: float = 240) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [self.python, "-m", "autolog", *args],
            cwd=self.repo,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )

    def state(self) -> list[str]:
        """What a rerun must never change in the user's repository."""
        return [
            _git(self.repo, "status", "--porcelain=v2", "--branch", "-uall"),
            _git(self.repo, "show-ref"),
            _git(self.repo, "stash", "list"),
            (self.repo / ".git" / "index").read_bytes().hex(),
        ]


def _git(folder: Path, *args: str) -> str:
    done = subprocess.run(
        ["git", "-C", str(folder), *args], capture_output=True, text=True, check=True
    )
    return done.stdout


def _run_id(done: subprocess.CompletedProcess[str]) -> str:
    found = re.search(r"^autolog: run ([0-9a-f]{32}) ", done.stderr, re.MULTILINE)
    assert found, done.stderr
    return found.group(1)


def _venv(folder: Path) -> str:
    """The project's environment: only what it needs, from the wheels on this machine."""
    assert UV is not None
    python = str(folder / "bin" / "python")
    subprocess.run([UV, "venv", "-q", "--python", sys.executable, str(folder)], check=True)
    pins = [f"{name}=={metadata.version(name)}" for name in PINNED]
    index = envs.index_options().arguments()
    install = [UV, "pip", "install", "-q", "--python", python, "--index-strategy"]
    install += ["unsafe-best-match", *index, *pins, TORCH, "-e", f"{REPO}[cli]"]
    subprocess.run(install, check=True, timeout=600)
    return python


def _repository(repo: Path) -> None:
    repo.mkdir()
    for name in SCRIPTS:
        code = textwrap.dedent(ARGS) + textwrap.dedent(TRAIN[name])
        (repo / name).write_text(START + code)
    (repo / ".gitignore").write_text("__pycache__/\n")
    (repo / "pyproject.toml").write_text(textwrap.dedent(PYPROJECT))
    _git(repo, "init", "-q", "-b", "main")
    _git(repo, "config", "user.email", "t@example.com")
    _git(repo, "config", "user.name", "t")
    _git(repo, "add", "-A")
    _git(repo, "commit", "-q", "-m", "scripts")
    for name, (old, new) in EDITS.items():
        text = (repo / name).read_text()
        assert old in text
        (repo / name).write_text(text.replace(old, new))
    (repo / "helper.py").write_text(textwrap.dedent(HELPER))  # untracked


def _data(path: Path) -> None:
    import numpy as np

    rng = np.random.default_rng(0)
    X = rng.normal(size=(300, 4))
    y = (X[:, 0] + X[:, 1] - 0.5 * X[:, 2] + rng.normal(scale=0.5, size=300) > 0).astype(int)
    path.parent.mkdir(parents=True)
    np.savetxt(path, np.c_[X, y], delimiter=",")


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Project:
    if UV is None:
        pytest.skip("the project environment is made with uv, which is not installed")
    root = tmp_path_factory.mktemp("rerun")
    python = _venv(root / "venv")
    repo = root / "repo"
    _repository(repo)
    data = root / "data" / "points.csv"
    _data(data)
    tools = root / "tools"  # uv on PATH (the rerun looks there), and nothing else of ours
    tools.mkdir()
    (tools / "uv").symlink_to(UV)
    env = {k: v for k, v in os.environ.items() if not k.startswith("AUTOLOG_")}
    env.update(
        AUTOLOG_TRACKING_URI=f"sqlite:///{root}/runs.db",
        AUTOLOG_CACHE_DIR=str(root / "cache"),
        AUTOLOG_STRICT="1",
        PATH=os.pathsep.join([str(tools), env.get("PATH", "")]),
    )
    found = Project(root, repo, data, python, env, {})
    for name in SCRIPTS:
        done = found.autolog("run", name, "--data", str(data), "--seed", "0")
        assert done.returncode == 0, done.stderr
        found.runs[name] = _run_id(done)
    return found


def _started_after(done: subprocess.CompletedProcess[str], began: float) -> float:
    """Seconds from ``began`` to the script's first line."""
    found = re.search(r"^START ([0-9.]+)$", done.stdout, re.MULTILINE)
    assert found, done.stdout
    return float(found.group(1)) - began


def _reproduced(project: Project, done: subprocess.CompletedProcess[str], script: str) -> str:
    """Check the rerun reproduced its run; the new run's id."""
    assert done.returncode == 0, f"{done.stdout}\n{done.stderr}"
    assert done.stdout.splitlines()[-1] == "reproduced", done.stdout
    assert "predictions not compared" not in done.stderr, done.stderr
    said = (
        r"compared \d+ params, \d+ metrics, "
        r"the model's predictions on its input example and 1 input$"
    )
    assert re.search(said, done.stderr, re.M), done.stderr
    assert re.search(r"^autolog rerun: input data: .* is as recorded$", done.stderr, re.M)
    new_id = _run_id(done)
    with autolog.Client(project.env["AUTOLOG_TRACKING_URI"]) as client:
        original = client.get_run(project.runs[script])
        rerun = client.get_run(new_id)
    assert rerun.data.tags["autolog.rerun_of"] == original.info.run_id
    assert rerun.info.experiment_id == original.info.experiment_id
    compared = {k: v for k, v in original.data.metrics.items() if not is_timing_metric(k)}
    assert compared
    assert compared == {k: rerun.data.metrics[k] for k in compared}
    assert rerun.data.params == original.data.params
    assert rerun.data.tags["autolog.git.dirty"] == "true"  # the edits and helper were there
    return new_id


@pytest.mark.parametrize("script", SCRIPTS)
def test_a_rerun_in_the_current_environment_reproduces(project: Project, script: str) -> None:
    before = project.state()
    done = project.autolog("rerun", project.runs[script], "--env", "current")
    _reproduced(project, done, script)
    assert f"environment: the current interpreter ({project.python})" in done.stderr
    assert project.state() == before


def test_a_rerun_in_the_recorded_environment_reproduces_and_the_second_starts_at_once(
    project: Project,
) -> None:
    began = time.time()
    first = project.autolog("rerun", project.runs["train_sklearn.py"])
    _reproduced(project, first, "train_sklearn.py")
    built = re.search(r"environment: built with uv in ([0-9.]+) s \((.+)\)", first.stderr)
    assert built, first.stderr
    env_path = Path(built.group(2))
    assert env_path.parent == project.root / "cache" / "envs"
    print(
        f"\nenvironment built in {built.group(1)} s; script started after "
        f"{_started_after(first, began):.1f} s"
    )
    lock = (env_path / "autolog-requirements.txt").read_text().splitlines()
    assert f"-e {REPO}" in lock
    assert len(lock) < 40  # the project's small lock, not this checkout's
    for script in ("train_lightgbm.py", "train_torch.py"):
        began = time.time()
        again = project.autolog("rerun", project.runs[script])
        started = _started_after(again, began)
        print(f"{script}: environment reused, script started after {started:.1f} s")
        _reproduced(project, again, script)
        assert f"environment: reused ({env_path}) in " in again.stderr
        assert started < 10


def test_a_changed_data_file_is_said_and_the_rerun_differs(project: Project) -> None:
    kept = project.data.read_bytes()
    try:
        lines = kept.decode().splitlines()
        project.data.write_text("\n".join(lines[:-40]) + "\n")  # 40 rows fewer
        done = project.autolog("rerun", project.runs["train_sklearn.py"], "--env", "current")
    finally:
        project.data.write_bytes(kept)
    assert done.returncode == 3, done.stderr
    assert f"input data: {project.data} differs from the recorded one" in done.stderr
    table = [line.split("\t") for line in done.stdout.splitlines() if "\t" in line]
    assert table[0] == ["what", "key", "original", "rerun", "note"]
    assert ["input", "data"] in [row[:2] for row in table]
    assert "reproduced" not in done.stdout


def test_set_overrides_an_option_and_the_table_shows_what_changed(project: Project) -> None:
    run_id = project.runs["train_sklearn.py"]
    done = project.autolog("rerun", run_id, "--env", "current", "--set", "n-estimators=3")
    assert done.returncode == 3, done.stderr
    table = [line.split("\t") for line in done.stdout.splitlines() if "\t" in line]
    rows = {(row[0], row[1]): row for row in table}
    assert rows["param", "n_estimators"][2:] == ["5", "3", "set by --set"]
    assert any(section == "metric" for section, _ in rows)
    with autolog.Client(project.env["AUTOLOG_TRACKING_URI"]) as client:
        rerun = client.get_run(_run_id(done))
    argv = json.loads(rerun.data.tags["autolog.code.argv"])
    data = str(project.data)
    assert argv == ["train_sklearn.py", "--data", data, "--seed", "0", "--n-estimators", "3"]


def test_an_entry_point_run_is_rendered_again_with_its_parameters_set(project: Project) -> None:
    done = project.autolog("run", "-e", "fit", "-P", f"data={project.data}")
    assert done.returncode == 0, done.stderr
    again = project.autolog("rerun", _run_id(done), "--env", "current", "--set", "trees=3")
    assert again.returncode == 3, again.stderr
    table = [line.split("\t") for line in again.stdout.splitlines() if "\t" in line]
    rows = {(row[0], row[1]): row[2:] for row in table}
    assert rows["param", "trees"] == ["5", "3", "set by --set"]
    assert rows["param", "n_estimators"] == ["5", "3", ""]  # what the script made of it
    with autolog.Client(project.env["AUTOLOG_TRACKING_URI"]) as client:
        rerun = client.get_run(_run_id(again))
    tags = rerun.data.tags
    assert tags["autolog.entry_point.name"] == "fit"
    assert json.loads(tags["autolog.entry_point.parameters"]) == {
        "data": str(project.data),
        "trees": "3",
    }
    assert rerun.data.params["trees"] == "3"


def test_a_run_that_recorded_no_code_is_a_clear_error(project: Project) -> None:
    with autolog.Client(project.env["AUTOLOG_TRACKING_URI"]) as client:
        run_id = client.create_run(run_name="plain").info.run_id
        client.set_terminated(run_id)
    done = project.autolog("rerun", run_id, timeout=60)
    assert done.returncode == 1
    assert done.stderr.strip().splitlines() == [
        f"Error: run {run_id} recorded no code, so it cannot be re-run (runs of "
        "`autolog run`, or with autolog(log_code=True), record it)"
    ]


def test_bad_input_is_a_usage_error_or_one_line(project: Project, tmp_path: Path) -> None:
    uri = project.env["AUTOLOG_TRACKING_URI"]
    run_id = project.runs["train_sklearn.py"]
    full = tmp_path / "full"
    full.mkdir()
    (full / "x").write_text("x")
    for args, code, said in [
        (["ffffffffffff"], 1, "run 'ffffffffffff' not found"),
        ([run_id, "--set", "n-estimators"], 2, "expected NAME=VALUE"),
        ([run_id, "--rtol", "-1"], 2, "not a tolerance"),
        ([run_id, "--rtol", "nan"], 2, "not a tolerance"),
        ([run_id, "--env", "conda"], 2, "'conda' is not one of"),
        ([run_id, "--workdir", str(full)], 2, "is not empty"),
    ]:
        done = CliRunner().invoke(root, ["rerun", *args, "--tracking-uri", uri])
        assert done.exit_code == code, (args, done.output)
        assert said in done.stderr, (args, done.stderr)
        assert "Traceback" not in done.output


def _small_lock(python: str, *lines: str) -> str:
    return "\n".join(
        [
            "# autolog environment lock",
            f"# python: {python}",
            "# implementation: CPython",
            "# platform: linux-x86_64",
            "# env: PYTHONHASHSEED=0",
            *lines,
            f"-e {REPO}  # autolog==0.1.0 (editable)",
            "",
        ]
    )


def test_without_uv_pip_builds_the_environment_and_a_killed_build_is_never_reused(
    tmp_path: Path,
) -> None:
    numpy = f"numpy=={metadata.version('numpy')}"
    lock = _small_lock("3.10.99", numpy)
    key = envs.env_key(
        envs.installable_lines([numpy, f"-e {REPO}"], lock), platform.python_version()
    )
    dead = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    abandoned = tmp_path / "envs" / f".build-{key}-{dead}-0000"
    (abandoned / "bin").mkdir(parents=True)  # a build killed midway: no marker, never used
    began = time.monotonic()
    env = envs.recorded_env(lock, cache=tmp_path, uv=None)
    print(f"\npip built the environment in {time.monotonic() - began:.1f} s")
    assert (env.built, env.installer, env.path) == (True, "pip", tmp_path / "envs" / key)
    assert not abandoned.exists()
    assert env.notes == (
        f"the run used Python 3.10.99; this environment uses Python {platform.python_version()}, "
        "the current interpreter (no other Python is fetched)",
    )
    assert env.child_environment()["PYTHONHASHSEED"] == "0"
    shown = subprocess.run(
        [env.python, "-c", "import numpy, autolog, sys; print(numpy.__version__, sys.prefix)"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    assert shown == [metadata.version("numpy"), str(env.path)]
    script = (env.path / "bin" / "autolog").read_text()  # pip's, written in the build folder
    assert f"{env.path}/bin/python" in script
    assert ".build-" not in script
    again = envs.recorded_env(lock, cache=tmp_path, uv=None)
    assert (again.built, again.path, again.installer) == (False, env.path, "pip")


@pytest.mark.parametrize("installer", ["uv", "pip"])
def test_a_locked_package_no_index_has_is_named(tmp_path: Path, installer: str) -> None:
    if installer == "uv" and UV is None:
        pytest.skip("uv is not installed")
    lock = _small_lock(platform.python_version(), "autolog-no-such-package==1.0.0")
    with pytest.raises(RerunError) as caught:
        envs.recorded_env(lock, cache=tmp_path, uv=UV if installer == "uv" else None)
    message = str(caught.value)
    assert re.match(
        r"the locked package autolog-no-such-package(==1\.0\.0)? cannot be found on the "
        r"configured package indexes \(",
        message,
    ), message
    assert not list((tmp_path / "envs").iterdir())  # nothing half-built is left
