"""The run context: source, git commit and dirty flag, user, host, versions."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
from support import run_script

import autolog

SCRIPT = """
import autolog
with autolog.start_run() as run:
    pass
print(run.info.run_id)
"""


def _git(cwd: Path, *args: str) -> str:
    done = subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True, check=True)
    return done.stdout.strip()


@pytest.mark.skipif(shutil.which("git") is None, reason="needs the git command")
def test_git_commit_branch_and_dirty_flag(tmp_path: Path) -> None:
    _git(tmp_path, "init", "-q", "-b", "trunk")
    _git(tmp_path, "config", "user.email", "t@example.com")
    _git(tmp_path, "config", "user.name", "t")
    (tmp_path / "tracked.txt").write_text("v1")
    (tmp_path / "script.py").write_text(SCRIPT)
    _git(tmp_path, "add", ".")
    _git(tmp_path, "commit", "-q", "-m", "one")
    head = _git(tmp_path, "rev-parse", "HEAD")
    _git(tmp_path, "pack-refs", "--all")  # the commit must be found in packed-refs too

    def tags_of_a_run() -> dict[str, str]:
        done = run_script(SCRIPT, tmp_path)
        assert done.returncode == 0, done.stderr
        client = autolog.Client(f"sqlite:///{tmp_path}/autolog-runs/autolog.db")
        return dict(client.get_run(done.stdout.strip()).data.tags)

    _git(tmp_path, "update-index", "--assume-unchanged", "script.py")  # run_script rewrites it
    tags = tags_of_a_run()
    assert tags["autolog.git.commit"] == head
    assert tags["autolog.git.branch"] == "trunk"
    assert tags["autolog.git.dirty"] == "false"
    assert tags["autolog.source.type"] == "SCRIPT"
    assert tags["autolog.source.name"] == str(tmp_path / "script.py")
    (tmp_path / "tracked.txt").write_text("v2")
    assert tags_of_a_run()["autolog.git.dirty"] == "true"


def test_process_context_without_git(tmp_path: Path) -> None:
    with autolog.start_run() as run:
        pass
    tags = autolog.get_run(run.info.run_id).data.tags
    for key in ("autolog.user", "autolog.host", "autolog.python", "autolog.platform"):
        assert tags[key]
    assert tags["autolog.versions.cloudpickle"]
    assert tags["autolog.runner"].count(":") == 3


def test_notebooks_are_named(tmp_path: Path) -> None:
    done = run_script(
        """
        from autolog import context
        print(context.source())
        """,
        tmp_path,
        env={"JPY_SESSION_NAME": "/home/me/analysis.ipynb"},
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "('NOTEBOOK', '/home/me/analysis.ipynb')"
