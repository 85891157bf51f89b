"""Every run knows its code: real git in temporary repositories, real runs, real
``autolog run`` subprocesses."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

import autolog
from autolog import InvalidInputError
from autolog.projects.capture import record_run_context
from autolog.projects.code import capture_code, code_files, record_code, strip_credentials

pytestmark = pytest.mark.skipif(shutil.which("git") is None, reason="needs the git command")

AUTOLOG = str(Path(sys.executable).with_name("autolog"))
BINARY_V1 = bytes(range(256)) * 4
BINARY_V2 = b"\0\1\2" + bytes(range(255, -1, -1)) * 3


def _git(cwd: Path, *args: str) -> str:
    done = subprocess.run(["git", *args], cwd=cwd, capture_output=True, check=False)
    assert done.returncode == 0, done.stderr.decode()
    return done.stdout.decode().strip()


def _repo(folder: Path) -> Path:
    folder.mkdir(parents=True)
    _git(folder, "init", "-q", "-b", "main")
    _git(folder, "config", "user.email", "t@example.com")
    _git(folder, "config", "user.name", "t")
    (folder / "train.py").write_text("print('train')\n")
    (folder / "keep.txt").write_text("one\ntwo\nthree\n")
    (folder / "gone.txt").write_text("to be deleted\n")
    (folder / "old_name.txt").write_text("renamed later\n" * 20)
    (folder / "blob.bin").write_bytes(BINARY_V1)
    (folder / "tool.sh").write_text("echo hi\n")
    (folder / ".gitignore").write_text("*.log\nignored/\n")
    _git(folder, "add", ".")
    _git(folder, "commit", "-q", "-m", "one")
    return folder


def _edit(repo: Path) -> None:
    """Staged, unstaged, both, binary, deleted, renamed, mode changes, untracked, ignored."""
    (repo / "keep.txt").write_text("one\nTWO staged\nthree\n")
    _git(repo, "add", "keep.txt")
    (repo / "keep.txt").write_text("one\nTWO staged\nthree\nfour unstaged\n")
    (repo / "train.py").write_text("print('train, edited')\n")
    (repo / "blob.bin").write_bytes(BINARY_V2)
    (repo / "new.bin").write_bytes(b"\0new binary\xff" * 50)
    _git(repo, "add", "new.bin")
    _git(repo, "rm", "-q", "gone.txt")
    _git(repo, "mv", "old_name.txt", "new_name.txt")
    os.chmod(repo / "tool.sh", 0o755)
    (repo / "helper.py").write_text("HELP = 1\n")
    (repo / "sub").mkdir()
    (repo / "sub" / "data.csv").write_text("a,b\n1,2\n")
    (repo / "run.log").write_text("ignored\n")
    (repo / "ignored").mkdir()
    (repo / "ignored" / "big.txt").write_text("x" * 1000)


def _tree(folder: Path) -> dict[str, tuple[bytes, bool]]:
    """Every file under ``folder`` but git's own: its bytes and whether it is executable."""
    files = {}
    for path in sorted(folder.rglob("*")):
        if ".git" in path.relative_to(folder).parts or not path.is_file():
            continue
        files[path.relative_to(folder).as_posix()] = (
            path.read_bytes(),
            os.access(path, os.X_OK),
        )
    return files


def _rebuild(snapshot_files: dict[str, bytes], source: Path, commit: str, into: Path) -> None:
    """What ``autolog rerun`` does: a clean checkout of the commit, the patch, the files."""
    _git(into.parent, "clone", "-q", "--no-checkout", str(source), into.name)
    _git(into, "checkout", "-q", commit)
    patch = snapshot_files.get("code/diff.patch")
    if patch is not None:
        (into.parent / "code.patch").write_bytes(patch)
        _git(into, "apply", "--binary", str(into.parent / "code.patch"))
    for path, data in snapshot_files.items():
        if path.startswith("code/untracked/"):
            target = into / path.removeprefix("code/untracked/")
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(data)


def test_the_diff_and_untracked_files_rebuild_the_tree(tmp_path: Path) -> None:
    repo = _repo(tmp_path / "repo")
    _edit(repo)
    commit = _git(repo, "rev-parse", "HEAD")
    snapshot = capture_code(repo, ["train.py", "--lr", "0.1"])
    assert snapshot is not None
    assert snapshot.commit == commit
    assert snapshot.branch == "main"
    assert snapshot.dirty
    assert sorted(snapshot.untracked) == ["helper.py", "sub/data.csv"]  # not the ignored ones
    assert snapshot.skipped == ()
    rebuilt = tmp_path / "rebuilt"
    _rebuild(code_files(snapshot), repo, commit, rebuilt)
    expected = {k: v for k, v in _tree(repo).items() if k != "run.log" and "ignored/" not in k}
    assert _tree(rebuilt) == expected


def test_the_manifest_says_everything(tmp_path: Path) -> None:
    repo = _repo(tmp_path / "repo")
    _edit(repo)
    (repo / "sub" / "deeper").mkdir()
    snapshot = capture_code(repo / "sub" / "deeper", ["../../train.py"])
    assert snapshot is not None
    manifest = json.loads(code_files(snapshot)["code/manifest.json"])
    assert manifest == {
        "commit": _git(repo, "rev-parse", "HEAD"),
        "branch": "main",
        "remote": None,
        "root": str(repo.resolve()),
        "workdir": "sub/deeper",
        "argv": ["../../train.py"],
        "dirty": True,
        "diff_bytes": len(snapshot.diff),
        "untracked": [{"path": "helper.py", "size": 9}, {"path": "sub/data.csv", "size": 8}],
        "skipped": [],
        "max_untracked_bytes": 10_000_000,
    }
    assert capture_code(repo, []).workdir == "."  # type: ignore[union-attr]


def test_a_clean_tree_has_no_patch_and_is_not_dirty(tmp_path: Path) -> None:
    repo = _repo(tmp_path / "repo")
    snapshot = capture_code(repo, ["train.py"])
    assert snapshot is not None
    assert not snapshot.dirty
    assert snapshot.diff == b""
    assert sorted(code_files(snapshot)) == ["code/manifest.json"]


def test_untracked_files_within_and_over_the_bound(tmp_path: Path) -> None:
    repo = _repo(tmp_path / "repo")
    (repo / "a_small.py").write_text("a" * 300)
    (repo / "b_big.bin").write_bytes(b"b" * 900)
    (repo / "c_small.py").write_text("c" * 300)
    snapshot = capture_code(repo, [], max_untracked_bytes=1000)
    assert snapshot is not None
    assert sorted(snapshot.untracked) == ["a_small.py", "c_small.py"]
    [skipped] = snapshot.skipped
    assert (skipped.path, skipped.size) == ("b_big.bin", 900)
    assert "bound" in skipped.reason
    assert snapshot.dirty
    manifest = json.loads(code_files(snapshot)["code/manifest.json"])
    assert manifest["skipped"] == [{"path": "b_big.bin", "size": 900, "reason": skipped.reason}]
    assert manifest["max_untracked_bytes"] == 1000


def test_the_bound_comes_from_the_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    repo = _repo(tmp_path / "repo")
    (repo / "small.py").write_text("s" * 500)
    (repo / "big.py").write_text("b" * 1500)
    monkeypatch.setenv("AUTOLOG_MAX_UNTRACKED_MB", "0.001")
    snapshot = capture_code(repo, [])
    assert snapshot is not None
    assert list(snapshot.untracked) == ["small.py"]
    assert [s.path for s in snapshot.skipped] == ["big.py"]
    monkeypatch.setenv("AUTOLOG_MAX_UNTRACKED_MB", "lots")
    with pytest.raises(InvalidInputError, match="AUTOLOG_MAX_UNTRACKED_MB"):
        capture_code(repo, [])


def test_the_bytes_recorded_are_those_at_capture(tmp_path: Path) -> None:
    repo = _repo(tmp_path / "repo")
    (repo / "helper.py").write_text("BEFORE = 1\n")
    (repo / "train.py").write_text("print('before')\n")
    snapshot = capture_code(repo, ["train.py"])
    assert snapshot is not None
    (repo / "helper.py").write_text("AFTER = 2\n")
    (repo / "train.py").write_text("print('after')\n")
    with autolog.start_run() as run:
        record_code(autolog.Client(), run.info.run_id, snapshot)
    run_id = run.info.run_id
    helper = autolog.download_artifacts(run_id, "code/untracked/helper.py")
    assert Path(helper).read_text() == "BEFORE = 1\n"
    patch = Path(autolog.download_artifacts(run_id, "code/diff.patch")).read_text()
    assert "+print('before')" in patch
    assert "after" not in patch


def test_remotes_are_chosen_and_their_credentials_stripped(tmp_path: Path) -> None:
    repo = _repo(tmp_path / "repo")
    _git(repo, "remote", "add", "mirror", "https://bob:s3cret@mirror.example.com/x.git")
    snapshot = capture_code(repo, [])
    assert snapshot is not None
    assert snapshot.remote == "https://mirror.example.com/x.git"
    _git(repo, "remote", "add", "origin", "git:hunter2@github.com:team/x.git")
    assert capture_code(repo, []).remote == "git@github.com:team/x.git"  # type: ignore[union-attr]
    _git(repo, "remote", "add", "upstream", "ssh://git:pw@host.example.com:2222/x.git")
    _git(repo, "config", "branch.main.remote", "upstream")
    remote = capture_code(repo, []).remote  # type: ignore[union-attr]
    assert remote == "ssh://git@host.example.com:2222/x.git"


@pytest.mark.parametrize(
    ("url", "stripped"),
    [
        ("https://user:token@host/x", "https://host/x"),
        ("https://ghp_token@github.com/o/r.git", "https://github.com/o/r.git"),
        ("http://u:p@host:8080/x?y=1", "http://host:8080/x?y=1"),
        ("ssh://git@host/x.git", "ssh://git@host/x.git"),
        ("ssh://git:pw@host/x.git", "ssh://git@host/x.git"),
        ("git+ssh://me:pw@host/x", "git+ssh://me@host/x"),
        ("git@github.com:o/r.git", "git@github.com:o/r.git"),
        ("me:pw@github.com:o/r.git", "me@github.com:o/r.git"),
        ("https://github.com/o/r.git", "https://github.com/o/r.git"),
        ("/srv/git/x.git", "/srv/git/x.git"),
        ("file:///srv/git/x.git", "file:///srv/git/x.git"),
        ("../sibling", "../sibling"),
    ],
)
def test_strip_credentials(url: str, stripped: str) -> None:
    assert strip_credentials(url) == stripped


def test_outside_a_git_tree_there_is_no_code_and_no_error(tmp_path: Path) -> None:
    folder = tmp_path / "plain"
    folder.mkdir()
    (folder / "train.py").write_text("print(1)\n")
    assert capture_code(folder, ["train.py"]) is None
    os.chdir(folder)
    with autolog.start_run() as run:
        record_run_context(autolog.Client(), run.info.run_id, ["train.py"])
    autolog.flush()
    names = [f.path for f in autolog.list_artifacts(run.info.run_id)]
    assert names == ["environment"]
    tags = autolog.get_run(run.info.run_id).data.tags
    assert "autolog.code.argv" not in tags
    assert "autolog.environment.sha256" in tags


def test_a_repository_without_a_commit(tmp_path: Path) -> None:
    repo = tmp_path / "fresh"
    repo.mkdir()
    _git(repo, "init", "-q", "-b", "main")
    (repo / "staged.py").write_text("print('staged')\n")
    _git(repo, "add", "staged.py")
    (repo / "loose.py").write_text("print('loose')\n")
    snapshot = capture_code(repo, ["staged.py"])
    assert snapshot is not None
    assert snapshot.commit is None
    assert snapshot.branch == "main"
    assert snapshot.dirty
    assert b"+print('staged')" in snapshot.diff
    assert list(snapshot.untracked) == ["loose.py"]
    with autolog.start_run() as run:
        record_code(autolog.Client(), run.info.run_id, snapshot)
    tags = autolog.get_run(run.info.run_id).data.tags
    assert "autolog.git.commit" not in tags
    assert tags["autolog.git.dirty"] == "true"
    manifest = json.loads(
        Path(autolog.download_artifacts(run.info.run_id, "code/manifest.json")).read_text()
    )
    assert manifest["commit"] is None


def test_the_users_index_stash_and_branches_are_untouched(tmp_path: Path) -> None:
    repo = _repo(tmp_path / "repo")
    _edit(repo)
    (repo / "stashed.txt").write_text("x")
    _git(repo, "add", "stashed.txt")
    _git(repo, "stash", "push", "-q", "--", "stashed.txt")
    _git(repo, "branch", "side")
    # A file rewritten with the same bytes: its stat changed, so `git status` would refresh
    # the index and write it back if it could take the optional lock.
    (repo / "tool.sh").write_text((repo / "tool.sh").read_text())
    index = repo / ".git" / "index"
    before = (index.read_bytes(), index.stat().st_mtime_ns)
    refs = _git(repo, "for-each-ref")
    stash = _git(repo, "stash", "list")
    head = (repo / ".git" / "HEAD").read_text()
    for _ in range(3):
        assert capture_code(repo, []) is not None
    with autolog.start_run():  # the context's dirty flag runs `git status` too
        pass
    assert (index.read_bytes(), index.stat().st_mtime_ns) == before
    assert not (repo / ".git" / "index.lock").exists()
    assert _git(repo, "for-each-ref") == refs
    assert _git(repo, "stash", "list") == stash
    assert (repo / ".git" / "HEAD").read_text() == head


RUN_ONE = """
import autolog
with autolog.start_run() as run:
    pass
print(run.info.run_id)
"""


def _run_python(
    repo: Path, *args: str, cwd: Path | None = None
) -> subprocess.CompletedProcess[str]:
    """``python ARGS`` in ``repo`` (or ``cwd``), its runs stored beside the repository."""
    env = {**os.environ, "AUTOLOG_TRACKING_URI": f"sqlite:///{repo.parent}/runs.db"}
    return subprocess.run(
        [sys.executable, *args],
        cwd=cwd or repo,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


@pytest.mark.slow  # starts an interpreter
def test_an_untracked_script_alone_makes_a_run_dirty(tmp_path: Path) -> None:
    repo = _repo(tmp_path / "repo")
    (repo / "script.py").write_text(RUN_ONE)  # untracked: the only change
    done = _run_python(repo, "script.py")
    assert done.returncode == 0, done.stderr
    with autolog.Client(f"sqlite:///{tmp_path}/runs.db") as client:
        tags = client.get_run(done.stdout.strip()).data.tags
    assert tags["autolog.git.dirty"] == "true"
    assert "autolog.code.argv" not in tags  # code is recorded only when asked
    snapshot = capture_code(repo, [])
    assert snapshot is not None
    assert snapshot.dirty
    assert list(snapshot.untracked) == ["script.py"]


@pytest.mark.slow  # starts an interpreter
def test_log_code_records_a_plain_python_run(tmp_path: Path) -> None:
    repo = _repo(tmp_path / "repo")
    _edit(repo)
    (repo / "sub" / "train_it.py").write_text(
        textwrap.dedent(
            """
            import autolog
            autolog.autolog(log_code=True)
            with autolog.start_run() as run:
                with autolog.start_run(nested=True) as child:
                    pass
            print(run.info.run_id, child.info.run_id)
            """
        )
    )
    done = _run_python(repo, "train_it.py", "--lr", "0.1", cwd=repo / "sub")
    assert done.returncode == 0, done.stderr
    run_id, child_id = done.stdout.split()
    with autolog.Client(f"sqlite:///{tmp_path}/runs.db") as client:
        run = client.get_run(run_id)
        tags = run.data.tags
        assert json.loads(tags["autolog.code.argv"]) == ["train_it.py", "--lr", "0.1"]
        assert tags["autolog.code.workdir"] == "sub"
        assert tags["autolog.command"] == "python train_it.py --lr 0.1"
        assert tags["autolog.git.dirty"] == "true"
        assert len(tags["autolog.environment.sha256"]) == 64
        code = {f.path for f in client.list_artifacts(run_id, "code")}
        assert code == {"code/manifest.json", "code/diff.patch", "code/untracked"}
        untracked = {f.path for f in client.list_artifacts(run_id, "code/untracked")}
        assert untracked == {"code/untracked/helper.py", "code/untracked/sub"}
        assert not client.list_artifacts(child_id)  # a nested run records no code
        assert "autolog.code.argv" not in client.get_run(child_id).data.tags


@pytest.mark.parametrize("bad", ["yes", 1, None])
def test_log_code_takes_a_bool(bad: object) -> None:
    with pytest.raises(InvalidInputError, match="log_code"):
        autolog.autolog(log_code=bad)  # type: ignore[arg-type]


@pytest.mark.slow  # starts an interpreter
def test_autolog_run_records_the_code_before_the_script_runs(tmp_path: Path) -> None:
    repo = _repo(tmp_path / "repo")
    (repo / "pkg").mkdir()
    (repo / "pkg" / "__init__.py").write_text("")
    (repo / "pkg" / "train.py").write_text("open('made_by_the_script.txt', 'w').write('x')\n")
    env = {**os.environ, "AUTOLOG_TRACKING_URI": f"sqlite:///{tmp_path}/runs.db"}
    done = subprocess.run(
        [AUTOLOG, "run", "-m", "pkg.train", "--epochs", "2"],
        cwd=repo,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    with autolog.Client(f"sqlite:///{tmp_path}/runs.db") as client:
        [run] = client.search_runs()
        tags = run.data.tags
        assert json.loads(tags["autolog.code.argv"]) == ["-m", "pkg.train", "--epochs", "2"]
        assert tags["autolog.code.workdir"] == "."
        manifest_path = client.download_artifacts(run.info.run_id, "code/manifest.json")
        manifest = json.loads(Path(manifest_path).read_text())
    # the package is untracked; what the script wrote after it started is not
    assert [u["path"] for u in manifest["untracked"]] == ["pkg/__init__.py", "pkg/train.py"]
    assert (repo / "made_by_the_script.txt").exists()


def test_our_failure_is_one_warning_and_the_rest_is_recorded(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    repo = _repo(tmp_path / "repo")
    monkeypatch.chdir(repo)
    monkeypatch.delenv("AUTOLOG_STRICT")
    monkeypatch.setenv("AUTOLOG_MAX_UNTRACKED_MB", "-1")
    client = autolog.Client(f"sqlite:///{tmp_path}/runs.db")
    run_id = client.create_run().info.run_id
    with pytest.warns(autolog.AutologWarning, match="AUTOLOG_MAX_UNTRACKED_MB") as caught:
        record_run_context(client, run_id, ["train.py"])
    assert len(caught) == 1
    client.set_terminated(run_id)
    tags = client.get_run(run_id).data.tags
    assert "autolog.code.argv" not in tags
    assert "autolog.environment.sha256" in tags
    client.close()
    monkeypatch.setenv("AUTOLOG_STRICT", "1")
    with autolog.Client(f"sqlite:///{tmp_path}/runs.db") as strict:
        other = strict.create_run().info.run_id
        with pytest.raises(InvalidInputError, match="AUTOLOG_MAX_UNTRACKED_MB"):
            record_run_context(strict, other, ["train.py"])
        strict.set_terminated(other)


@pytest.mark.slow  # starts an interpreter
def test_log_code_in_an_interactive_session_records_code_but_no_command(tmp_path: Path) -> None:
    repo = _repo(tmp_path / "repo")
    code = (
        "import autolog\n"
        "autolog.autolog(log_code=True)\n"
        "with autolog.start_run() as run:\n"
        "    pass\n"
        "print(run.info.run_id)\n"
    )
    done = _run_python(repo, "-c", code)
    assert done.returncode == 0, done.stderr
    with autolog.Client(f"sqlite:///{tmp_path}/runs.db") as client:
        tags = client.get_run(done.stdout.strip()).data.tags
    assert "autolog.command" not in tags
    assert tags["autolog.code.argv"] == "[]"
    assert tags["autolog.git.dirty"] == "false"


@pytest.mark.parametrize("store", ["sqlite:///runs.db", "file:store"])
def test_a_store_kept_in_the_work_tree_is_not_code(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, store: str
) -> None:
    """A project that keeps its runs beside its code (``sqlite:///runs.db``, a file store, an
    artifact folder) has them left out of the untracked files: they are not code, and would
    be copied into every run."""
    repo = _repo(tmp_path / "repo")
    (repo / "helper.py").write_text("X = 1\n")
    monkeypatch.chdir(repo)
    monkeypatch.setenv("AUTOLOG_ARTIFACT_ROOT", str(repo / "artifacts"))
    with autolog.Client(store) as client:
        run_id = client.create_run("e").info.run_id
        client.log_artifact(run_id, str(repo / "helper.py"))
        client.flush()
        record_run_context(client, run_id, ["train.py"])
        client.set_terminated(run_id)
        client.flush()
        manifest = json.loads(
            Path(client.download_artifacts(run_id, "code/manifest.json", str(tmp_path))).read_text()
        )
    assert [entry["path"] for entry in manifest["untracked"]] == ["helper.py"]
    assert manifest["skipped"] == []
