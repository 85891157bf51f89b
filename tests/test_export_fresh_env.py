"""``autolog models export`` taken elsewhere (issue 20, item 7): the folder's
``requirements.txt``, installed into a new virtual environment with nothing else, is enough
for ``load_model(DIR)`` and ``autolog models serve DIR`` there.

The environment is built with uv (``uv venv``, ``uv pip install -r requirements.txt``) from
the same package indexes pip uses here (``$PIP_FIND_LINKS``, ``$PIP_EXTRA_INDEX_URL`` and
pip's configuration files), so that it works without reaching PyPI where they hold the
wheels. Skipped only where uv is not installed.
"""

from __future__ import annotations

import configparser
import json
import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from support import REPO

import autolog

pd = pytest.importorskip("pandas")
pytest.importorskip("sklearn")

pytestmark = pytest.mark.slow

_BIN = Path(sys.executable).parent
UV = shutil.which("uv") or (str(_BIN / "uv") if (_BIN / "uv").exists() else None)


def _pip_indexes() -> dict[str, str]:
    """pip's find-links and extra index URLs here (environment, then its config files), as
    uv's environment variables."""
    found: dict[str, list[str]] = {"find-links": [], "extra-index-url": []}
    for key in found:
        found[key] += os.environ.get(f"PIP_{key.upper().replace('-', '_')}", "").split()
    home = Path.home()
    for path in ("/etc/pip.conf", home / ".config/pip/pip.conf", home / ".pip/pip.conf"):
        config = configparser.ConfigParser()
        config.read(path)
        for key in found:
            found[key] += config.get("global", key, fallback="").split()
    env = {"UV_INDEX_STRATEGY": "unsafe-best-match"}  # a pin may be on any of the indexes
    if found["find-links"]:
        env["UV_FIND_LINKS"] = ",".join(dict.fromkeys(found["find-links"]))
    if found["extra-index-url"]:
        env["UV_EXTRA_INDEX_URL"] = " ".join(dict.fromkeys(found["extra-index-url"]))
    return env


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _run(args: list[str], env: dict[str, str], cwd: Path, timeout: float) -> str:
    done = subprocess.run(
        args, env=env, cwd=cwd, capture_output=True, text=True, timeout=timeout, check=False
    )
    assert done.returncode == 0, f"{args[:3]}: {done.stdout}\n{done.stderr}"
    return done.stdout


def _exported(tmp_path: Path) -> tuple[Path, Any, Any]:
    """A scikit-learn model trained under autolog, exported with the command line."""
    from sklearn.linear_model import LogisticRegression

    uri = f"sqlite:///{tmp_path}/runs.db"
    autolog.set_tracking_uri(uri)
    autolog.autolog()
    rng = np.random.default_rng(0)
    X = pd.DataFrame({"age": rng.random(80) * 80, "visits": rng.integers(0, 9, 80)})
    with autolog.start_run() as run:
        model = LogisticRegression(max_iter=500).fit(X, (X["age"] > 40).astype(int))
    autolog.autolog(disable=True)
    autolog.flush()
    folder = tmp_path / "exported"
    env = {k: v for k, v in os.environ.items() if not k.startswith("AUTOLOG_")}
    _run(
        [str(_BIN / "autolog"), "models", "export", f"runs:/{run.info.run_id}/model",
         str(folder), "--tracking-uri", uri],
        env, tmp_path, 120,
    )  # fmt: skip
    return folder, model, X


@pytest.mark.skipif(UV is None, reason="uv is not installed: the new environment is built with it")
def test_an_export_loads_and_serves_in_a_new_environment_built_from_its_requirements(
    tmp_path: Path,
) -> None:
    assert UV is not None
    folder, model, X = _exported(tmp_path)
    text = (folder / "requirements.txt").read_text()
    (line,) = [r for r in text.splitlines() if r.startswith("autolog")]
    installed = folder / "requirements.txt"
    if " @ " not in line:
        # a pin of PyPI's "autolog" would install another project: the file says to install
        # this one from the index it came from, as a user does here, from its source
        assert "PyPI's 'autolog' is another project" in text, text
        installed = tmp_path / "requirements.txt"
        installed.write_text(text.replace(line, f"autolog[server] @ {REPO.as_uri()}"))

    venv = tmp_path / "fresh"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AUTOLOG_", "VIRTUAL_ENV"))}
    env.update(_pip_indexes())
    env.pop("PYTHONPATH", None)
    _run([UV, "venv", "--python", sys.executable, str(venv)], env, tmp_path, 120)
    python = venv / "bin" / "python"
    _run(
        [UV, "pip", "install", "--python", str(python), "-r", str(installed)],
        env, tmp_path, 600,
    )  # fmt: skip

    rows = X.head(7)
    script = (
        "import json, sys, autolog\n"
        "import pandas as pd\n"
        "model = autolog.load_model(sys.argv[1])\n"
        "rows = pd.DataFrame(json.loads(sys.argv[2]))\n"
        "print(json.dumps({'file': autolog.__file__,"
        " 'predictions': model.predict(rows).tolist()}))\n"
    )
    given = [str(python), "-c", script, str(folder), rows.to_json(orient="columns")]
    out = json.loads(_run(given, env, tmp_path, 120))
    assert Path(out["file"]).is_relative_to(venv)  # this autolog, not the one under test
    assert out["predictions"] == model.predict(rows).tolist()

    port = _free_port()
    server = subprocess.Popen(
        [str(venv / "bin" / "autolog"), "models", "serve", str(folder), "--port", str(port)],
        env=env, cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        body = {"dataframe_split": json.loads(rows.to_json(orient="split", index=False))}
        answer = _invoke(server, port, body)
    finally:
        server.terminate()
        server.communicate(timeout=30)
    assert answer == {"predictions": model.predict(rows).tolist()}


def _invoke(server: subprocess.Popen[str], port: int, body: object) -> Any:
    """POST ``body`` to /invocations once the server answers /ping (urllib: the request
    comes from outside the new environment, as a client's would)."""
    import urllib.error
    import urllib.request

    deadline = time.monotonic() + 90
    while True:
        if server.poll() is not None:
            raise AssertionError(f"the server stopped: {server.communicate()}")
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/ping", timeout=5):
                break
        except (urllib.error.URLError, ConnectionError):
            if time.monotonic() > deadline:
                raise AssertionError("the server did not answer /ping within 90 s") from None
            time.sleep(0.2)
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}/invocations",
        data=json.dumps(body).encode(),
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=30) as response:
        return json.loads(response.read())
