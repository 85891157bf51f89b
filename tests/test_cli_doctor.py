"""``autolog doctor``: versions, the store and server a run would use and whether they answer,
integrations and extras; exit status 1 when a check does not answer. Real stores, a real
server, and subprocesses where an extra must be missing (its import blocked in that process)."""

from __future__ import annotations

import json
import os
import platform
import socket
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

import autolog
from autolog.cli._group import root

WITHOUT = (
    "import os, sys\n"
    "for name in os.environ['BLOCKED'].split(','):\n"
    "    sys.modules[name] = None\n"
    "from autolog.cli import main\n"
    "main(sys.argv[1:])\n"
)


def _doctor(*args: str) -> Result:
    return CliRunner().invoke(root, ["doctor", *args])


def _sections(done: Result) -> dict[str, dict[str, str]]:
    """The tab-separated report as {section: {key: value}}."""
    header, *lines = done.stdout.splitlines()
    assert header == "section\tkey\tvalue"
    found: dict[str, dict[str, str]] = {}
    for line in lines:
        section, key, value = line.split("\t")
        found.setdefault(section, {})[key] = value
    return found


def test_a_working_local_store_is_reported_with_versions_and_exits_0(tmp_path: Path) -> None:
    uri = f"sqlite:///{tmp_path}/runs.db"
    client = autolog.Client(uri)
    run_id = client.create_run("exp").info.run_id
    client.flush()
    first = _sections(_doctor("--tracking-uri", uri))["tracking"]["artifacts"]
    assert first.endswith("(not made yet; its parent folder is writable)")
    (tmp_path / "notes.txt").write_text("n")
    client.log_artifact(run_id, tmp_path / "notes.txt")
    client.set_terminated(run_id)
    client.flush()
    done = _doctor("--tracking-uri", uri)
    assert done.exit_code == 0, done.output
    assert done.stderr == ""
    report = _sections(done)
    versions = report["versions"]
    assert versions["autolog"] == autolog.__version__
    assert versions["python"] == f"{platform.python_version()} ({sys.executable})"
    import sklearn

    assert versions["sklearn"] == f"scikit-learn {sklearn.__version__}"
    assert report["tracking"]["uri"] == f"{uri} (from --tracking-uri)"
    assert report["tracking"]["store"] == "answers (1 experiment)"
    assert report["tracking"]["artifacts"] == f"{(tmp_path / 'artifacts').as_uri()} (writable)"
    assert report["integrations"]["sklearn"] == f"active (scikit-learn {sklearn.__version__})"
    assert set(report["integrations"]) >= {"sklearn", "lightgbm", "xgboost", "torch", "optuna"}
    assert report["extras"]["cli"] == "yes"
    as_json = json.loads(_doctor("--tracking-uri", uri, "--format", "json").stdout)
    assert as_json["ok"] is True
    assert as_json["failures"] == []
    assert as_json["tracking"] == report["tracking"]


def test_a_store_not_made_yet_is_said_and_not_made(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    done = _doctor()  # the default: ./autolog-runs
    assert done.exit_code == 0, done.output
    tracking = _sections(done)["tracking"]
    store = tmp_path / "autolog-runs" / "autolog.db"
    assert tracking["uri"] == f"sqlite:///{store} (from default (./autolog-runs))"
    assert tracking["store"] == f"not created yet: the first run creates {store}"
    assert not (tmp_path / "autolog-runs").exists()
    monkeypatch.setenv("AUTOLOG_TRACKING_URI", (tmp_path / "files").as_uri())
    done = _doctor()
    assert done.exit_code == 0, done.output
    assert _sections(done)["tracking"]["uri"].endswith("(from $AUTOLOG_TRACKING_URI)")
    assert not (tmp_path / "files").exists()


def test_a_store_that_cannot_be_made_or_named_exits_1(tmp_path: Path) -> None:
    (tmp_path / "a-file").write_text("")
    for uri, said in [
        (f"sqlite:///{tmp_path}/a-file/runs.db", "is not a writable folder"),
        ("ftp://somewhere", "unsupported tracking URI scheme"),
    ]:
        done = _doctor("--tracking-uri", uri)
        assert done.exit_code == 1, (uri, done.output)
        assert said in _sections(done)["tracking"]["store"]
        assert done.stderr == "autolog doctor: no answer from: tracking store\n"
        assert json.loads(_doctor("--tracking-uri", uri, "--format", "json").stdout)["ok"] is False


def test_a_tracking_server_is_asked_for_its_health(rest_uri: str) -> None:
    done = _doctor("--tracking-uri", rest_uri)
    assert done.exit_code == 0, done.output
    tracking = _sections(done)["tracking"]
    assert tracking["server"] == f"answers (GET {rest_uri}/api/v1/health: 200)"
    assert tracking["access"].startswith(f"autolog {autolog.__version__}, no token needed")
    assert tracking["artifacts"].startswith("kept by the server (")


def test_a_server_that_does_not_answer_exits_1() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    uri = f"http://127.0.0.1:{port}"
    done = _doctor("--tracking-uri", uri)
    assert done.exit_code == 1
    tracking = _sections(done)["tracking"]
    assert tracking["server"].startswith(f"FAILS: GET {uri}/api/v1/health: ConnectError")
    assert done.stderr == "autolog doctor: no answer from: tracking server\n"


def _blocked(modules: str, *args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    env: dict[str, Any] = {k: v for k, v in os.environ.items() if not k.startswith("AUTOLOG_")}
    return subprocess.run(
        [sys.executable, "-c", WITHOUT, "doctor", *args],
        cwd=cwd,
        env={**env, "BLOCKED": modules},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_missing_extras_and_frameworks_are_named(tmp_path: Path) -> None:
    done = _blocked("httpx,sklearn", cwd=tmp_path)
    assert done.returncode == 0, done.stderr  # an extra not installed is no failure
    lines = set(done.stdout.splitlines())
    assert "extras\tclient\tno (httpx missing: pip install 'autolog[client]')" in lines
    assert "versions\tsklearn\tnot installed" in lines
    assert "integrations\tsklearn\tavailable (sklearn not installed)" in lines
    # ... unless the store it would use needs it
    served = _blocked("httpx", "--tracking-uri", "http://127.0.0.1:9", cwd=tmp_path)
    assert served.returncode == 1
    server = [line for line in served.stdout.splitlines() if line.startswith("tracking\tserver")]
    assert server == ["tracking\tserver\tFAILS: http(s):// tracking URIs need httpx: "
                      "pip install 'autolog[client]'"]  # fmt: skip


def test_doctor_usage_errors_exit_2() -> None:
    assert _doctor("--format", "xml").exit_code == 2
    assert _doctor("extra-argument").exit_code == 2
