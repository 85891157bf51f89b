"""``autolog server token``, ``autolog ui`` and a missing extra, as a user meets them: real
subprocesses of the console script (an extra is made missing by blocking its import in that
process only, never by uninstalling it), real stores and servers."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from autolog.cli._group import root

AUTOLOG = str(Path(sys.executable).with_name("autolog"))
# `autolog ARGS` in a Python that cannot import the modules named in $BLOCKED (comma-separated)
WITHOUT = (
    "import os, sys\n"
    "for name in filter(None, os.environ['BLOCKED'].split(',')):\n"
    "    sys.modules[name] = None\n"
    "from autolog.cli import main\n"
    "main(sys.argv[1:])\n"
)


def _autolog(
    *args: str, cwd: Path, blocked: str = "", timeout: float = 60
) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("AUTOLOG_")}
    command = [sys.executable, "-c", WITHOUT, *args] if blocked else [AUTOLOG, *args]
    return subprocess.run(
        command,
        cwd=cwd,
        env={**env, "BLOCKED": blocked},
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def _tsv(text: str) -> list[dict[str, str]]:
    header, *lines = text.splitlines()
    return [dict(zip(header.split("\t"), line.split("\t"), strict=True)) for line in lines]


# ------------------------------------------------------------------------------------ tokens


def test_token_commands_take_tracking_uri_and_list_with_a_header(tmp_path: Path) -> None:
    store = f"sqlite:///{tmp_path}/tokens.db"
    for name, scope in (("ci", "write"), ("viewer", "read")):
        made = _autolog(
            "server", "token", "create", name, "--scope", scope, "--tracking-uri", store,
            cwd=tmp_path,
        )  # fmt: skip
        assert made.returncode == 0, made.stderr
        assert made.stdout.startswith("autolog_")
    listed = _autolog("server", "token", "ls", "--tracking-uri", store, cwd=tmp_path)
    assert listed.returncode == 0, listed.stderr
    rows = _tsv(listed.stdout)
    assert [(r["name"], r["scope"]) for r in rows] == [("ci", "write"), ("viewer", "read")]
    assert list(rows[0]) == ["name", "scope", "id", "created"]
    assert all(len(r["id"]) == 16 and r["created"].endswith("Z") for r in rows)
    as_json = _autolog(
        "server", "token", "ls", "--format", "json", "--backend-store-uri", store, cwd=tmp_path
    )
    records = json.loads(as_json.stdout)
    assert [(r["name"], r["token_id"]) for r in records] == [(r["name"], r["id"]) for r in rows]
    assert all("secret_hash" not in r and isinstance(r["creation_time"], int) for r in records)
    as_csv = _autolog(
        "server", "token", "ls", "--format", "csv", "--tracking-uri", store, cwd=tmp_path
    )
    assert as_csv.stdout.splitlines()[0] == "name,scope,id,created"
    revoked = _autolog("server", "token", "revoke", "ci", "--tracking-uri", store, cwd=tmp_path)
    assert revoked.returncode == 0, revoked.stderr
    left = _tsv(_autolog("server", "token", "ls", "--tracking-uri", store, cwd=tmp_path).stdout)
    assert [r["name"] for r in left] == ["viewer"]


def test_a_duplicate_token_name_names_the_token_that_has_it(tmp_path: Path) -> None:
    store = f"sqlite:///{tmp_path}/tokens.db"
    first = _autolog("server", "token", "create", "ci", "--tracking-uri", store, cwd=tmp_path)
    assert first.returncode == 0, first.stderr
    [existing] = _tsv(
        _autolog("server", "token", "ls", "--tracking-uri", store, cwd=tmp_path).stdout
    )
    again = _autolog(
        "server", "token", "create", "ci", "--scope", "admin", "--tracking-uri", store,
        cwd=tmp_path,
    )  # fmt: skip
    assert again.returncode == 1
    assert again.stdout == ""
    [line] = again.stderr.splitlines()
    assert line.startswith(
        f"autolog server: a token named 'ci' exists already (id {existing['id']}, write scope, "
        "created "
    )
    assert "revoke it first" in line
    listed = _tsv(_autolog("server", "token", "ls", "--tracking-uri", store, cwd=tmp_path).stdout)
    assert listed == [existing]  # nothing was added


def test_tokens_are_managed_through_a_tracking_server(rest_uri: str, tmp_path: Path) -> None:
    made = _autolog("server", "token", "create", "bot", "--tracking-uri", rest_uri, cwd=tmp_path)
    assert made.returncode == 0, made.stderr
    listed = _tsv(
        _autolog("server", "token", "ls", "--tracking-uri", rest_uri, cwd=tmp_path).stdout
    )
    assert [(r["name"], r["scope"]) for r in listed] == [("bot", "write")]
    again = _autolog("server", "token", "create", "bot", "--tracking-uri", rest_uri, cwd=tmp_path)
    assert again.returncode == 1
    assert f"(id {listed[0]['id']}, write scope" in again.stderr
    assert not (tmp_path / "autolog-runs").exists()  # nothing went to a local store


def test_token_usage_errors_exit_2(tmp_path: Path) -> None:
    for args in (
        ["server", "token", "ls", "--format", "xml"],
        ["server", "token", "create"],
        ["server", "token", "create", "x", "--scope", "root"],
    ):
        done = CliRunner().invoke(root, args)
        assert done.exit_code == 2, (args, done.output)


# ------------------------------------------------------------------------ autolog ui, extras


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def test_autolog_ui_prints_its_url_only_once_it_listens(tmp_path: Path) -> None:
    process = subprocess.Popen(
        [
            AUTOLOG,
            "ui",
            "--no-browser",
            "--port",
            "0",
            "--tracking-uri",
            f"sqlite:///{tmp_path}/u.db",
        ],
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        first = process.stdout.readline()
        assert first.startswith("autolog UI at http://127.0.0.1:"), first
        port = int(first.rsplit(":", 1)[1].strip().rstrip("/"))
        # listening already: the first try connects, with no wait, and is answered
        with socket.create_connection(("127.0.0.1", port), timeout=30) as connection:
            connection.sendall(b"GET /api/v1/health HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
            assert connection.recv(64).startswith(b"HTTP/1.1 200 ")
    finally:
        process.send_signal(signal.SIGTERM)
        process.communicate(timeout=30)
    assert process.returncode == 0


def test_autolog_ui_on_a_taken_port_says_so_and_prints_no_url(tmp_path: Path) -> None:
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        port = holder.getsockname()[1]
        done = _autolog("ui", "--no-browser", "--port", str(port), cwd=tmp_path)
    assert done.returncode == 1
    assert done.stdout == ""
    assert done.stderr.splitlines() == [
        f"autolog server: port {port} on 127.0.0.1 is in use (another server?); choose one with "
        "--port"
    ]


@pytest.mark.parametrize("module", ["uvicorn", "fastapi"])
def test_a_missing_server_extra_exits_1_with_the_install_line(tmp_path: Path, module: str) -> None:
    for args in (["ui", "--no-browser", "--port", str(_free_port())], ["server", "--port", "0"]):
        done = _autolog(*args, cwd=tmp_path, blocked=module)
        assert done.returncode == 1, (args, done.stderr)
        assert done.stdout == ""  # no URL of a server that never listened
        [line] = done.stderr.splitlines()
        assert f"needs {module}" in line
        assert line.endswith("pip install 'autolog[server]'")


def test_a_missing_cli_or_client_extra_exits_1_with_the_install_line(tmp_path: Path) -> None:
    store = f"sqlite:///{tmp_path}/x.db"
    assert (
        _autolog("experiments", "create", "e", "--tracking-uri", store, cwd=tmp_path).returncode
        == 0
    )
    cases = [
        ("click", ["--help"], "pip install 'autolog[cli]'"),
        ("rich", ["runs", "ls", "--format", "table", "--tracking-uri", store], "autolog[cli]"),
        ("httpx", ["runs", "ls", "--tracking-uri", "http://127.0.0.1:9"], "autolog[client]"),
    ]
    for blocked, args, install in cases:
        done = _autolog(*args, cwd=tmp_path, blocked=blocked)
        assert done.returncode == 1, (blocked, done.stderr)
        [line] = done.stderr.splitlines()
        assert blocked in line, line
        assert install in line, line
        assert "Traceback" not in done.stderr
    usage = _autolog("runs", "ls", "--format", "xml", cwd=tmp_path, blocked="rich")
    assert usage.returncode == 2  # a usage error is still one
    ours = _autolog("runs", "ls", "--tracking-uri", store, cwd=tmp_path, blocked="rich")
    assert ours.returncode == 0, ours.stderr  # piped: tab-separated, no rich needed
