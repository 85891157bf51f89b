"""``autolog run``: real subprocesses of the console script, compared with plain ``python``."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from itertools import pairwise
from pathlib import Path

import httpx
import pytest

import autolog
from autolog import RunStatus

AUTOLOG = str(Path(sys.executable).with_name("autolog"))
PROBE = """
    import json, os, sys
    print(json.dumps({
        "argv": sys.argv, "path0": sys.path[0], "name": __name__,
        "file": globals().get("__file__"),
        "spec": __spec__ and (__spec__.name, __spec__.origin), "package": __package__,
        "stdin": sys.stdin.read(), "cwd": os.getcwd(),
    }))
    print("to stderr", file=sys.stderr)
"""


def _script(folder: Path, code: str, name: str = "script.py") -> Path:
    path = folder / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(code))
    return path


def _run(
    *args: str, cwd: Path, stdin: str = "", timeout: float = 60
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        args, cwd=cwd, input=stdin, capture_output=True, text=True, timeout=timeout, check=False
    )


def _script_stderr(done: subprocess.CompletedProcess[str]) -> str:
    """The command's stderr less the two lines it ends with (which run, where to see it)."""
    lines = done.stderr.splitlines(keepends=True)
    assert len(lines) >= 2, done.stderr
    assert lines[-2].startswith("autolog: run "), done.stderr
    assert lines[-1].startswith("autolog: see it "), done.stderr
    return "".join(lines[:-2])


def _only_run() -> autolog.Run:
    runs = autolog.search_runs()
    assert len(runs) == 1, [r.info for r in runs]
    return runs[0]


def _output_artifact(run: autolog.Run, tmp_path: Path) -> str:
    path = autolog.download_artifacts(run.info.run_id, "logs/output.txt", tmp_path / "dl")
    return Path(path).read_text()


def test_a_script_sees_what_python_would_give_it(tmp_path: Path) -> None:
    script = _script(tmp_path / "src", PROBE)
    bare = _run(sys.executable, "src/script.py", "a", "--lr", "0.1", cwd=tmp_path, stdin="in\n")
    ours = _run(AUTOLOG, "run", "src/script.py", "a", "--lr", "0.1", cwd=tmp_path, stdin="in\n")
    assert ours.returncode == bare.returncode == 0, ours.stderr
    assert ours.stdout == bare.stdout  # argv, sys.path[0], __main__, __file__, stdin
    assert _script_stderr(ours) == bare.stderr == "to stderr\n"
    run = _only_run()
    assert run.info.status is RunStatus.FINISHED
    tags = run.data.tags
    assert tags["autolog.command"] == "autolog run src/script.py a --lr 0.1"
    assert tags["autolog.entry_point"] == "src/script.py"
    assert tags["autolog.exit_code"] == "0"
    assert tags["autolog.source.type"] == "SCRIPT"
    assert tags["autolog.source.name"] == str(script.resolve())
    assert run.data.metrics["autolog.wall_time_s"] > 0
    assert run.data.metrics["autolog.cpu_time_s"] > 0
    assert run.data.metrics["autolog.peak_memory_mb"] > 5
    # Both streams, in the order their writes arrived (a line written in two writes may have
    # the other stream's output between its parts, as on a terminal).
    log = _output_artifact(run, tmp_path)
    assert sorted(log) == sorted(bare.stdout + "to stderr\n")
    assert bare.stdout.strip() in log.replace("to stderr", "")


@pytest.mark.slow
def test_a_module_runs_as_python_dash_m_runs_it(tmp_path: Path) -> None:
    _script(tmp_path, "", "pkg/__init__.py")
    _script(tmp_path, PROBE, "pkg/main.py")
    bare = _run(sys.executable, "-m", "pkg.main", "x", "-m", "y", cwd=tmp_path)
    ours = _run(AUTOLOG, "run", "-m", "pkg.main", "x", "-m", "y", cwd=tmp_path)
    assert ours.returncode == bare.returncode == 0, ours.stderr
    assert ours.stdout == bare.stdout
    run = _only_run()
    assert run.data.tags["autolog.entry_point"] == "-m pkg.main"
    assert run.data.tags["autolog.source.type"] == "MODULE"
    assert run.data.tags["autolog.source.name"] == "pkg.main"
    missing = _run(AUTOLOG, "run", "-m", "no_such_module", cwd=tmp_path)
    assert missing.returncode == 1
    assert "No module named no_such_module" in missing.stderr


@pytest.mark.slow
def test_options_after_the_script_belong_to_the_script(tmp_path: Path) -> None:
    _script(tmp_path, "import sys; print(sys.argv[1:])")
    done = _run(
        AUTOLOG, "run", "-x", "exp", "script.py", "--experiment", "x", "--help", cwd=tmp_path
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "['--experiment', 'x', '--help']"
    run = _only_run()
    experiment = autolog.Client().get_experiment_by_name("exp")
    assert experiment is not None
    assert run.info.experiment_id == experiment.experiment_id


def test_experiment_name_and_tags(tmp_path: Path) -> None:
    _script(tmp_path, "pass")
    done = _run(
        AUTOLOG,
        "run",
        "--experiment",
        "mnist",
        "--run-name",
        "baseline",
        "--tag",
        "team=vision",
        "-t",
        "note=a=b",
        "script.py",
        cwd=tmp_path,
    )
    assert done.returncode == 0, done.stderr
    run = autolog.search_runs("mnist")[0]
    assert run.info.run_name == "baseline"
    assert run.data.tags["team"] == "vision"
    assert run.data.tags["note"] == "a=b"


def test_usage_errors_exit_2_and_record_nothing(tmp_path: Path) -> None:
    missing = _run(AUTOLOG, "run", "nope.py", cwd=tmp_path)
    assert missing.returncode == 2
    assert "no such file: nope.py" in missing.stderr
    assert "Traceback" not in missing.stderr
    _script(tmp_path, "pass")
    bad_tag = _run(AUTOLOG, "run", "--tag", "novalue", "script.py", cwd=tmp_path)
    assert bad_tag.returncode == 2
    assert "expected KEY=VALUE" in bad_tag.stderr
    nothing = _run(AUTOLOG, "run", cwd=tmp_path)
    assert nothing.returncode == 2
    assert not (tmp_path / "autolog-runs").exists()


def test_sys_exit_3_fails_the_run_and_exits_3(tmp_path: Path) -> None:
    _script(tmp_path, "import sys\nprint('bye')\nsys.exit(3)\n")
    done = _run(AUTOLOG, "run", "script.py", cwd=tmp_path)
    assert done.returncode == 3
    assert done.stdout == "bye\n"
    run = _only_run()
    assert run.info.status is RunStatus.FAILED
    assert run.data.tags["autolog.exit_code"] == "3"
    assert "autolog.exception" not in run.data.tags


def test_an_exception_fails_the_run_with_python_s_own_traceback(tmp_path: Path) -> None:
    _script(
        tmp_path,
        """
        def train():
            raise ValueError("diverged")
        train()
        """,
    )
    bare = _run(sys.executable, "script.py", cwd=tmp_path)
    ours = _run(AUTOLOG, "run", "script.py", cwd=tmp_path)
    assert ours.returncode == bare.returncode == 1
    assert _script_stderr(ours) == bare.stderr
    assert ours.stderr.startswith("Traceback (most recent call last):")
    run = _only_run()
    assert run.info.status is RunStatus.FAILED
    assert run.data.tags["autolog.exception"] == "ValueError: diverged"
    assert "ValueError: diverged" in _output_artifact(run, tmp_path)


@pytest.mark.slow
def test_a_syntax_error_is_reported_as_python_reports_it(tmp_path: Path) -> None:
    _script(tmp_path, "def broken(:\n")
    bare = _run(sys.executable, "script.py", cwd=tmp_path)
    ours = _run(AUTOLOG, "run", "script.py", cwd=tmp_path)
    assert ours.returncode == bare.returncode == 1
    assert _script_stderr(ours) == bare.stderr
    assert _only_run().info.status is RunStatus.FAILED


def _start(tmp_path: Path, code: str) -> subprocess.Popen[str]:
    """Start ``autolog run`` on ``code`` and wait until it prints 'ready'."""
    _script(tmp_path, code)
    process = subprocess.Popen(
        [AUTOLOG, "run", "script.py"],
        cwd=tmp_path,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert process.stdout is not None
    assert process.stdout.readline() == "ready\n"
    return process


WAITER = """
    import time
    print("ready", flush=True)
    time.sleep(60)
"""


@pytest.mark.slow
@pytest.mark.parametrize(
    ("signum", "shown"),
    [(signal.SIGTERM, ""), (signal.SIGINT, "KeyboardInterrupt"), (signal.SIGHUP, "")],
    ids=["SIGTERM", "SIGINT", "SIGHUP"],
)
def test_a_signal_sent_to_the_command_reaches_the_script_and_kills_the_run(
    tmp_path: Path, signum: signal.Signals, shown: str
) -> None:
    process = _start(tmp_path, WAITER)
    process.send_signal(signum)
    _, stderr = process.communicate(timeout=30)
    assert process.returncode == -signum  # we die of the signal the script died of
    assert shown in stderr
    run = _only_run()
    assert run.info.status is RunStatus.KILLED
    assert run.data.tags["autolog.signal"] == signum.name
    assert run.data.tags["autolog.exit_code"] == str(-signum)
    assert _output_artifact(run, tmp_path).startswith("ready\n")


@pytest.mark.slow
def test_a_script_killed_by_sigkill_is_killed(tmp_path: Path) -> None:
    _script(tmp_path, "import os, signal\nos.kill(os.getpid(), signal.SIGKILL)\n")
    done = _run(AUTOLOG, "run", "script.py", cwd=tmp_path)
    assert done.returncode == -signal.SIGKILL
    run = _only_run()
    assert run.info.status is RunStatus.KILLED
    assert run.data.tags["autolog.signal"] == "SIGKILL"


@pytest.mark.slow
def test_a_script_that_handles_sigterm_ends_as_it_chooses(tmp_path: Path) -> None:
    process = _start(
        tmp_path,
        """
        import signal, sys, time
        def stop(signum, frame):
            print("saving checkpoint", flush=True)
            sys.exit(0)
        signal.signal(signal.SIGTERM, stop)
        print("ready", flush=True)
        time.sleep(60)
        """,
    )
    process.send_signal(signal.SIGTERM)
    stdout, _ = process.communicate(timeout=30)
    assert process.returncode == 0
    assert stdout == "saving checkpoint\n"
    assert _only_run().info.status is RunStatus.FINISHED


@pytest.mark.slow
def test_a_script_that_forks_is_one_run_with_all_its_output(tmp_path: Path) -> None:
    _script(
        tmp_path,
        """
        import os, sys
        import autolog
        autolog.log_metric("before_fork", 1.0)
        pid = os.fork()
        if pid == 0:
            print("from the child", flush=True)
            autolog.log_metric("in_child", 2.0)
            autolog.flush()
            os._exit(0)
        os.waitpid(pid, 0)
        print("from the parent")
        """,
    )
    done = _run(AUTOLOG, "run", "script.py", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert done.stdout == "from the child\nfrom the parent\n"
    run = _only_run()
    assert run.info.status is RunStatus.FINISHED
    assert run.data.metrics["before_fork"] == 1.0
    assert run.data.metrics["in_child"] == 2.0
    assert _output_artifact(run, tmp_path) == "from the child\nfrom the parent\n"


def test_logging_and_runs_inside_the_script_belong_to_the_command_run(tmp_path: Path) -> None:
    _script(
        tmp_path,
        """
        import autolog
        autolog.log_param("lr", 0.1)
        autolog.log_metric("loss", 0.5)
        assert autolog.active_run() is not None
        with autolog.start_run(run_name="inner") as inner:   # not nested=True: still fine
            autolog.log_metric("inner_metric", 1.0)
        autolog.end_run()   # the command's run is not the script's to end
        autolog.log_metric("loss", 0.25)
        """,
    )
    done = _run(AUTOLOG, "run", "--run-name", "outer", "script.py", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    runs = {r.info.run_name: r for r in autolog.search_runs()}
    assert set(runs) == {"outer", "inner"}
    outer, inner = runs["outer"], runs["inner"]
    assert outer.info.status is RunStatus.FINISHED
    assert outer.data.params == {"lr": "0.1"}
    assert outer.data.metrics["loss"] == 0.25
    assert inner.info.parent_run_id == outer.info.run_id
    assert inner.data.metrics == {"inner_metric": 1.0}


@pytest.mark.slow
def test_training_calls_log_into_the_run_then_into_child_runs(tmp_path: Path) -> None:
    pytest.importorskip("sklearn")
    _script(
        tmp_path,
        """
        from sklearn.datasets import make_classification
        from sklearn.linear_model import LogisticRegression
        X, y = make_classification(n_samples=60, n_features=4, random_state=0)
        LogisticRegression(C=0.5).fit(X, y)
        LogisticRegression(C=2.0).fit(X, y)
        print("trained")
        """,
    )
    done = _run(AUTOLOG, "run", "--run-name", "cmd", "script.py", cwd=tmp_path, timeout=120)
    assert done.returncode == 0, done.stderr
    runs = autolog.search_runs()
    command_run = next(r for r in runs if r.info.run_name == "cmd")
    assert command_run.data.params["C"] == "0.5"
    children = [r for r in runs if r.info.parent_run_id == command_run.info.run_id]
    assert [c.data.params["C"] for c in children] == ["2.0"]
    assert len(runs) == 2
    assert autolog.load_model(f"runs:/{command_run.info.run_id}/model") is not None


TORCH_LOOP = """
    import sys
    import torch
    from torch import nn
    torch.manual_seed(0)
    X, y = torch.randn(64, 3), torch.randint(0, 2, (64,))
    model = nn.Linear(3, 2)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    for epoch in range(2):
        for i in range(0, 64, 16):
            optimizer.zero_grad()
            nn.functional.cross_entropy(model(X[i : i + 16]), y[i : i + 16]).backward()
            optimizer.step()
    if len(sys.argv) > 1:
        raise RuntimeError("after training")
"""


@pytest.mark.slow  # starts torch in a child interpreter
def test_a_plain_torch_loop_logs_its_final_model_into_the_command_run(tmp_path: Path) -> None:
    """The loop's run is the command's, which the script never ends: its end (the last
    epoch, the final model) is recorded as the script ends, with the script's outcome."""
    pytest.importorskip("torch")
    _script(tmp_path, TORCH_LOOP)
    done = _run(AUTOLOG, "run", "--run-name", "loop", "script.py", cwd=tmp_path, timeout=180)
    assert done.returncode == 0, done.stderr
    run = _only_run()
    assert run.info.status is RunStatus.FINISHED
    assert [m.step for m in autolog.get_metric_history(run.info.run_id, "training_loss")] == [0, 1]
    uri = f"runs:/{run.info.run_id}/model"
    assert autolog.get_model_info(uri).signature["inputs"]["shape"] == [-1, 3]
    assert autolog.load_predictor(uri).predict([[0.0, 1.0, 2.0]]).shape == (1, 2)
    failed = _run(AUTOLOG, "run", "script.py", "fail", cwd=tmp_path, timeout=180)
    assert failed.returncode == 1, failed.stderr
    assert "RuntimeError: after training" in failed.stderr
    broken = next(r for r in autolog.search_runs() if r.info.run_id != run.info.run_id)
    assert broken.info.status is RunStatus.FAILED
    assert broken.data.params["optimizer"] == "SGD"  # kept whatever the ending
    assert "model" not in {f.path for f in autolog.list_artifacts(broken.info.run_id)}


@pytest.mark.slow
def test_git_state_is_that_of_the_script_s_checkout(tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    _script(repo, "print('hi')")
    git = ["git", "-C", str(repo), "-c", "user.email=a@b", "-c", "user.name=a"]
    subprocess.run([*git, "init", "-q", "-b", "main"], check=True)
    subprocess.run([*git, "add", "script.py"], check=True)
    subprocess.run([*git, "commit", "-q", "-m", "one"], check=True)
    head = subprocess.run(
        [*git, "rev-parse", "HEAD"], capture_output=True, text=True, check=True
    ).stdout.strip()
    (repo / "script.py").write_text("print('changed')\n")
    done = _run(AUTOLOG, "run", "repo/script.py", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    tags = _only_run().data.tags
    assert tags["autolog.git.commit"] == head
    assert tags["autolog.git.branch"] == "main"
    assert tags["autolog.git.dirty"] == "true"


@pytest.mark.slow
def test_peak_memory_is_measured(tmp_path: Path) -> None:
    _script(
        tmp_path,
        "block = bytearray(200 * 1024 * 1024)\nblock[::4096] = b'x' * len(block[::4096])\n",
    )
    done = _run(AUTOLOG, "run", "script.py", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert _only_run().data.metrics["autolog.peak_memory_mb"] >= 200


@pytest.mark.slow
def test_on_a_terminal_the_script_sees_a_terminal(tmp_path: Path) -> None:
    import pty

    _script(
        tmp_path,
        """
        import shutil, sys
        print("tty", sys.stdout.isatty(), sys.stderr.isatty(), shutil.get_terminal_size().columns)
        """,
    )
    pid, fd = pty.fork()
    if pid == 0:  # pragma: no cover - the child becomes the command
        os.chdir(tmp_path)
        os.execv(AUTOLOG, [AUTOLOG, "run", "script.py"])
    output = b""
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            block = os.read(fd, 4096)
        except OSError:
            break
        if not block:
            break
        output += block
    os.close(fd)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0, output
    assert b"tty True True" in output
    assert b"autolog: recording run" in output  # on a terminal, a line says where it went
    run = _only_run()
    assert "tty True True" in _output_artifact(run, tmp_path)


@pytest.mark.slow
def test_output_shows_live(tmp_path: Path) -> None:
    process = _start(
        tmp_path,
        """
        import sys, time
        print("ready", flush=True)
        line = sys.stdin.readline()
        print("got", line.strip(), flush=True)
        """,
    )
    # The first line came before the script finished (it waits for input): output is live.
    assert process.poll() is None
    stdout, _ = process.communicate("go\n", timeout=30)
    assert stdout == "got go\n"
    assert process.returncode == 0


def test_attach_run_makes_an_existing_run_the_default_one() -> None:
    from autolog.runs import attach_run

    client = autolog.Client()
    owner = client.create_run("attached", run_name="owner")
    run_id = owner.info.run_id
    attached = attach_run(run_id)
    assert attached.info.run_id == run_id
    assert autolog.active_run() is not None
    autolog.log_metric("m", 1.0)
    with autolog.start_run() as child:
        pass
    autolog.end_run()
    assert autolog.get_run(run_id).info.status is RunStatus.RUNNING
    assert autolog.get_run(child.info.run_id).info.parent_run_id == run_id
    assert autolog.get_run(child.info.run_id).info.experiment_id == owner.info.experiment_id
    assert autolog.get_run(run_id).data.metrics == {"m": 1.0}
    client.set_terminated(run_id)
    with pytest.raises(autolog.InvalidInputError, match="only a RUNNING run attaches"):
        attach_run(run_id)
    with pytest.raises(autolog.NotFoundError):
        attach_run("0" * 32)


def test_a_store_that_fails_costs_the_record_not_the_script(tmp_path: Path) -> None:
    _script(tmp_path, "import sys\nprint('trained')\nsys.exit(4)\n")
    (tmp_path / "not-a-folder").write_text("")
    uri = f"sqlite:///{tmp_path / 'not-a-folder' / 'runs.db'}"
    done = _run(AUTOLOG, "run", "--tracking-uri", uri, "script.py", cwd=tmp_path)
    assert done.returncode == 4
    assert done.stdout == "trained\n"
    assert done.stderr.startswith("autolog: not recording this run: ")
    assert len(done.stderr.splitlines()) == 1
    bad_uri = _run(AUTOLOG, "run", "--tracking-uri", "ftp://x", "script.py", cwd=tmp_path)
    assert bad_uri.returncode == 1  # a mistake in the command stops it before the script runs
    assert "ftp://x" in bad_uri.stderr
    assert bad_uri.stdout == ""


def test_a_script_recorded_through_a_tracking_server(rest_uri: str, tmp_path: Path) -> None:
    _script(
        tmp_path,
        """
        import autolog
        autolog.log_param("lr", 0.1)
        for step in range(3):
            autolog.log_metric("loss", 1.0 / (step + 1), step=step)
        print("done")
        """,
    )
    done = _run(AUTOLOG, "run", "--tracking-uri", rest_uri, "script.py", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    client = autolog.Client(rest_uri)
    [run] = client.search_runs()
    assert run.info.status is RunStatus.FINISHED
    assert run.data.params == {"lr": "0.1"}
    assert [m.value for m in client.get_metric_history(run.info.run_id, "loss")] == [
        1.0,
        0.5,
        1 / 3,
    ]
    output = client.download_artifacts(run.info.run_id, "logs/output.txt", tmp_path / "dl")
    assert Path(output).read_text() == "done\n"
    assert not (tmp_path / "autolog-runs").exists()  # nothing went to a local store
    # it ends by naming the run and its page on the server
    *_, said, link = done.stderr.splitlines()
    assert said == (
        f"autolog: run {run.info.run_id} ({run.info.run_name}) FINISHED after "
        f"{said.rsplit(' after ', 1)[1]}"
    )
    assert link == f"autolog: see it at {rest_uri.rstrip('/')}/runs/{run.info.run_id}"
    page = httpx.get(link.rsplit(" ", 1)[1], timeout=30)
    assert page.status_code == 200
    assert "text/html" in page.headers["content-type"]


def test_it_ends_by_naming_the_run_and_how_to_see_it(tmp_path: Path) -> None:
    _script(tmp_path, "import sys\nsys.exit(3)\n")
    done = _run(AUTOLOG, "run", "-n", "baseline", "script.py", cwd=tmp_path)
    assert done.returncode == 3
    run = _only_run()
    said, how = done.stderr.splitlines()
    assert said.startswith(f"autolog: run {run.info.run_id} (baseline) FAILED after ")
    assert how == (
        f"autolog: see it in the web UI: start it with `autolog ui`, open /runs/{run.info.run_id}"
    )
    elsewhere = f"sqlite:///{tmp_path}/other dir/runs.db"
    (tmp_path / "other dir").mkdir()
    done = _run(AUTOLOG, "run", "--tracking-uri", elsewhere, "script.py", cwd=tmp_path)
    [run] = autolog.Client(elsewhere).search_runs()
    assert done.stderr.splitlines()[-1] == (
        "autolog: see it in the web UI: start it with "
        f"`autolog ui --backend-store-uri '{elsewhere}'`, open /runs/{run.info.run_id}"
    )


RECORD = """
import json, sys
from autolog.cli.run import record_command
status, run_id = record_command(
    "script", "script.py", ["--lr", "0.1"], experiment="again", run_name="r", tags={"k": "v"},
    tracking_uri=None, params={"lr": 0.1, "layers": 3}, python=sys.argv[1], cwd=sys.argv[2],
    env={"MARK": "here", "PATH": "/usr/bin:/bin"},
)
print(json.dumps([status, run_id]))
"""


def test_record_command_runs_a_given_python_in_a_folder_with_an_environment(
    tmp_path: Path,
) -> None:
    work = tmp_path / "elsewhere"
    _script(
        work,
        """
        import os, sys
        import autolog
        print(os.getcwd(), os.environ["MARK"], sys.argv[1:], flush=True)
        assert autolog.active_run().data.params == {"lr": "0.1", "layers": "3"}
        sys.exit(5)
        """,
    )
    # another interpreter: a wrapper that says it was used
    python = tmp_path / "bin" / "python"
    python.parent.mkdir()
    python.write_text(f'#!/bin/sh\nMARK="$MARK via wrapper" exec {sys.executable} "$@"\n')
    python.chmod(0o755)
    done = _run(sys.executable, "-c", RECORD, str(python), str(work), cwd=tmp_path)
    *said, result = done.stdout.splitlines()
    assert said == [f"{work} here via wrapper ['--lr', '0.1']"], done.stderr
    status, run_id = json.loads(result)
    assert status == 5
    run = _only_run()
    assert run.info.run_id == run_id
    assert run.info.status is RunStatus.FAILED
    assert run.data.params == {"lr": "0.1", "layers": "3"}
    assert run.data.tags["k"] == "v"
    assert run.data.tags["autolog.source.name"] == str(work / "script.py")
    assert autolog.Client().get_experiment_by_name("again") is not None


def test_record_command_gives_a_signal_death_as_128_plus_the_signal(tmp_path: Path) -> None:
    _script(tmp_path, "import os, signal\nos.kill(os.getpid(), signal.SIGTERM)\n")
    code = RECORD.replace('["--lr", "0.1"]', "[]").replace('params={"lr": 0.1, "layers": 3}, ', "")
    done = _run(sys.executable, "-c", code, sys.executable, str(tmp_path), cwd=tmp_path)
    status, run_id = json.loads(done.stdout.splitlines()[-1])
    assert status == 128 + signal.SIGTERM
    assert _only_run().info.status is RunStatus.KILLED
    assert _only_run().info.run_id == run_id


def test_system_metrics_sample_the_script_s_process_tree(tmp_path: Path) -> None:
    pytest.importorskip("psutil")
    _script(
        tmp_path,
        """
        import json, resource, subprocess, sys, time
        busy = "import time\\nwhile time.process_time() < 1.5: pass"
        start = time.time()
        subprocess.run([sys.executable, "-c", busy], check=True)   # a child of the script
        end = time.time()
        cpu = resource.getrusage(resource.RUSAGE_CHILDREN)
        print(json.dumps([start, end, cpu.ru_utime + cpu.ru_stime]))
        block = bytearray(100 * 1024 * 1024)
        block[::4096] = b"x" * len(block[::4096])
        time.sleep(0.5)
        """,
    )
    done = _run(
        AUTOLOG, "run", "--system-metrics", "--system-metrics-interval", "0.25", "script.py",
        cwd=tmp_path,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    start, end, busy_cpu = json.loads(done.stdout)
    run = _only_run()
    client = autolog.Client()
    cpu = client.get_metric_history(run.info.run_id, "system/cpu_percent")
    steps = [m.step for m in cpu]
    assert len(steps) >= 4, steps
    assert steps == list(range(len(steps)))
    # While the script waits for its child, the CPU time the samples count is the child's
    # (a share of a core depends on how busy the machine is; the time used does not).
    counted = [
        (now.timestamp - before.timestamp) / 1000 * now.value / 100
        for before, now in pairwise(cpu)
        if before.timestamp >= start * 1000 and now.timestamp <= end * 1000
    ]
    assert len(counted) >= 2, (start, end, [m.timestamp for m in cpu])
    assert sum(counted) > 0.3 * busy_cpu, (counted, busy_cpu)
    rss = client.get_metric_history(run.info.run_id, "system/memory_rss_mb")
    assert max(m.value for m in rss) > 100
    assert "system/memory_available_mb" in run.data.metrics
    # without the flag: none
    assert _run(AUTOLOG, "run", "script.py", cwd=tmp_path).returncode == 0
    [plain] = [r for r in autolog.search_runs() if r.info.run_id != run.info.run_id]
    assert [key for key in plain.data.metrics if key.startswith("system/")] == []


@pytest.mark.parametrize(
    ("args", "said"),
    [
        (
            ["--system-metrics-interval", "1"],
            "--system-metrics-interval goes with --system-metrics",
        ),
        (["--system-metrics", "--system-metrics-interval", "0"], "0.0 is not in the range x>0"),
    ],
)
def test_a_bad_system_metrics_option_is_a_usage_error(
    tmp_path: Path, args: list[str], said: str
) -> None:
    _script(tmp_path, "print('ran')")
    done = _run(AUTOLOG, "run", *args, "script.py", cwd=tmp_path)
    assert done.returncode == 2
    assert said in done.stderr
    assert not (tmp_path / "autolog-runs").exists()
