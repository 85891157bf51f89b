"""deploy/: what the team image runs, run here as a plain process.

No container engine is needed: the image's entrypoint (deploy/entrypoint.py) is started with the
environment deploy/compose.yaml gives it, against the real PostgreSQL of the test suite and
moto's S3 server on loopback in place of MinIO. Only what names the compose network (the hosts
``db`` and ``minio``, the address to bind, the token file's folder in the volume) is replaced.
"""

from __future__ import annotations

import os
import re
import signal
import stat
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from servers import free_port
from support import REPO

yaml = pytest.importorskip("yaml", reason="the deploy tests read compose.yaml (the dev group)")

DEPLOY = REPO / "deploy"
ENTRYPOINT = DEPLOY / "entrypoint.py"
AUTOLOG = str(Path(sys.executable).with_name("autolog"))
# what deploy/.env holds on a team's machine
SECRETS = {"POSTGRES_PASSWORD": "pg-secret", "MINIO_ROOT_PASSWORD": "minio-secret"}
_VARIABLE = re.compile(r"\$\{(\w+)(?::([-?])([^}]*))?\}")
_START_S = 90.0


def _interpolate(value: str, variables: dict[str, str]) -> str:
    """Compose's ``${NAME}``, ``${NAME:-default}`` and ``${NAME:?message}``."""

    def one(match: re.Match[str]) -> str:
        name, kind, rest = match.groups()
        if variables.get(name):
            return variables[name]
        if kind == "?":
            raise KeyError(f"{name}: {rest}")
        return rest if kind == "-" else ""

    return _VARIABLE.sub(one, value)


def _compose() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load((DEPLOY / "compose.yaml").read_text())
    return loaded


def compose_environment(variables: dict[str, str]) -> dict[str, str]:
    """The autolog service's environment, as compose would pass it."""
    declared = _compose()["services"]["autolog"]["environment"]
    return {name: _interpolate(str(value), variables) for name, value in declared.items()}


# -------------------------------------------------------------------------- the files alone


def test_compose_serves_postgres_and_minio_with_tokens_through_the_entrypoint() -> None:
    compose = _compose()
    service = compose["services"]["autolog"]
    assert service["build"] == {"context": "..", "dockerfile": "deploy/Dockerfile"}
    assert service["depends_on"] == {
        "db": {"condition": "service_healthy"},
        "minio": {"condition": "service_healthy"},
    }
    # only the tracking server is reachable from outside
    assert [name for name, s in compose["services"].items() if "ports" in s] == ["autolog"]
    env = compose_environment(SECRETS)
    store = urlsplit(env["AUTOLOG_BACKEND_STORE_URI"])
    assert (store.scheme, store.hostname, store.password) == ("postgresql", "db", "pg-secret")
    assert env["AUTOLOG_ARTIFACTS_DESTINATION"].startswith("s3://")
    assert env["AWS_ENDPOINT_URL"] == "http://minio:9000"
    db = compose["services"]["db"]["environment"]
    assert (store.username, store.path) == (db["POSTGRES_USER"], "/" + db["POSTGRES_DB"])
    minio = compose["services"]["minio"]["environment"]
    assert env["AWS_ACCESS_KEY_ID"] == minio["MINIO_ROOT_USER"]
    dockerfile = (DEPLOY / "Dockerfile").read_text()
    assert "COPY deploy/entrypoint.py /usr/local/lib/autolog/entrypoint.py" in dockerfile
    assert 'ENTRYPOINT ["python", "/usr/local/lib/autolog/entrypoint.py"]' in dockerfile


def test_compose_will_not_start_without_the_passwords() -> None:
    with pytest.raises(KeyError, match="POSTGRES_PASSWORD"):
        compose_environment({"MINIO_ROOT_PASSWORD": "x"})
    with pytest.raises(KeyError, match="MINIO_ROOT_PASSWORD"):
        compose_environment({"POSTGRES_PASSWORD": "x"})


def _entrypoint(folder: Path, variables: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """The container's entrypoint run to its end in ``folder``, with ``variables`` and none of
    this environment's own ``AUTOLOG_`` settings."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("AUTOLOG_")} | variables
    return subprocess.run(
        [sys.executable, str(ENTRYPOINT)],
        cwd=folder,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_the_entrypoint_without_a_store_says_what_to_set(tmp_path: Path) -> None:
    done = _entrypoint(tmp_path, {})
    assert done.returncode == 1
    assert "AUTOLOG_BACKEND_STORE_URI" in done.stderr
    assert "Traceback" not in done.stderr


def test_a_first_token_that_cannot_be_written_is_never_made(tmp_path: Path) -> None:
    """A token nobody received would lock the team out: the file is opened before it is made."""
    from autolog.stores import open_store

    store_uri = f"sqlite:///{tmp_path}/runs.db"  # an absolute path: four slashes in all
    (tmp_path / "taken").write_text("a file where the token's folder should be")
    done = _entrypoint(
        tmp_path,
        {
            "AUTOLOG_BACKEND_STORE_URI": store_uri,
            "AUTOLOG_ADMIN_TOKEN_FILE": str(tmp_path / "taken" / "admin-token"),
        },
    )
    assert done.returncode == 1
    assert done.stderr.startswith("autolog-entrypoint: cannot create the first access token")
    assert len(done.stderr.strip().splitlines()) == 1, done.stderr
    store = open_store(store_uri)
    try:
        assert store.list_tokens() == []
    finally:
        store.close()


# ------------------------------------------------- the entrypoint against PostgreSQL and S3


@pytest.fixture(scope="module")
def s3(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """moto's S3 server on a loopback port, with no bucket: the endpoint URL."""
    pytest.importorskip("boto3")
    pytest.importorskip("moto")
    from servers import moto_s3

    with moto_s3(tmp_path_factory.mktemp("moto") / "moto.log") as endpoint:
        yield endpoint


class Entrypoint:
    """``python deploy/entrypoint.py`` with ``env``; its output goes to files in ``folder``."""

    def __init__(self, env: dict[str, str], folder: Path) -> None:
        self.env = env
        self.url = f"http://127.0.0.1:{env['AUTOLOG_PORT']}"
        self._out = folder / "entrypoint.out"
        self._err = folder / "entrypoint.err"
        with self._out.open("w") as out, self._err.open("w") as err:
            self.process = subprocess.Popen(
                [sys.executable, str(ENTRYPOINT)], cwd=folder, env=env, stdout=out, stderr=err
            )

    @property
    def output(self) -> str:
        return self._out.read_text() + self._err.read_text()

    def healthy(self) -> bool:
        """What the image's HEALTHCHECK runs."""
        done = subprocess.run(
            [sys.executable, str(ENTRYPOINT), "health"], env=self.env, timeout=30, check=False
        )
        return done.returncode == 0

    def wait_healthy(self) -> None:
        deadline = time.monotonic() + _START_S
        while not self.healthy():
            if self.process.poll() is not None or time.monotonic() > deadline:
                raise AssertionError(f"the entrypoint did not serve:\n{self.output}")
            time.sleep(0.2)

    def stop(self) -> int:
        """SIGTERM, as `docker stop` sends it: the server finishes and exits."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        try:
            return self.process.wait(30)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(10)
            raise


@pytest.fixture
def team_env(postgres_uri: str, s3: str, tmp_path: Path) -> dict[str, str]:
    """compose.yaml's environment, with the compose network's names replaced by loopback."""
    env = compose_environment(SECRETS)
    assert urlsplit(env["AUTOLOG_BACKEND_STORE_URI"]).hostname == "db"
    env["AUTOLOG_BACKEND_STORE_URI"] = postgres_uri
    assert env.pop("AWS_ENDPOINT_URL") == "http://minio:9000"
    env["AWS_ENDPOINT_URL"] = s3
    assert env.pop("AUTOLOG_HOST") == "0.0.0.0"  # the container's; tests bind loopback only
    env["AUTOLOG_HOST"] = "127.0.0.1"
    env["AUTOLOG_PORT"] = str(free_port())
    assert Path(env["AUTOLOG_ADMIN_TOKEN_FILE"]).parent == Path("/var/lib/autolog")  # the volume
    env["AUTOLOG_ADMIN_TOKEN_FILE"] = str(tmp_path / "home" / "admin-token")
    base = {k: v for k, v in os.environ.items() if not k.startswith(("AUTOLOG_", "AWS_"))}
    return {**base, **env}


def _bucket_keys(env: dict[str, str]) -> list[str]:
    import boto3

    destination = urlsplit(env["AUTOLOG_ARTIFACTS_DESTINATION"])
    client = boto3.client(
        "s3",
        endpoint_url=env["AWS_ENDPOINT_URL"],
        aws_access_key_id=env["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=env["AWS_SECRET_ACCESS_KEY"],
        region_name=env["AWS_DEFAULT_REGION"],
    )
    prefix = destination.path.strip("/") + "/"
    pages = client.get_paginator("list_objects_v2").paginate(
        Bucket=destination.netloc, Prefix=prefix
    )
    return [item["Key"] for page in pages for item in page.get("Contents", [])]


def _write_token(env: dict[str, str]) -> str:
    """A write token made the way the README says: ``autolog server token create``."""
    done = subprocess.run(
        [AUTOLOG, "server", "token", "create", "ci", "--scope", "write"],
        env=env,  # AUTOLOG_BACKEND_STORE_URI names the store, as in the container
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


def _only_with_a_token(url: str, admin: str) -> None:
    """No token, no access (loopback included); the admin token reads."""
    import httpx

    refused = httpx.post(f"{url}/api/v1/experiments", json={"name": "x"}, timeout=30)
    assert refused.status_code == 401
    assert httpx.get(f"{url}/api/v1/experiments", timeout=30).status_code == 401
    headers = {"Authorization": f"Bearer {admin}"}
    assert httpx.get(f"{url}/api/v1/experiments", headers=headers, timeout=30).status_code == 200


@pytest.mark.slow
@pytest.mark.server
def test_the_image_entrypoint_serves_a_team(
    team_env: dict[str, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import httpx

    import autolog
    from autolog.stores import open_store

    server = Entrypoint(team_env, tmp_path)
    try:
        server.wait_healthy()
        token_file = Path(team_env["AUTOLOG_ADMIN_TOKEN_FILE"])
        assert stat.S_IMODE(token_file.stat().st_mode) == 0o600
        admin = token_file.read_text().strip()
        assert admin.startswith("autolog_")
        assert admin not in server.output  # the token is in the file only, never in the log
        _only_with_a_token(server.url, admin)

        # a client with a write token logs a run; its artifact lands in the bucket
        monkeypatch.setenv("AUTOLOG_TRACKING_TOKEN", _write_token(team_env))
        autolog.set_tracking_uri(server.url)
        notes = tmp_path / "notes.txt"
        notes.write_text("deployed")
        with autolog.start_run() as run:
            autolog.log_param("where", "compose")
            autolog.log_metric("loss", 0.5)
            autolog.log_artifact(notes)
        autolog.flush()
        run_id = run.info.run_id
        keys = _bucket_keys(team_env)
        assert [k for k in keys if k.endswith(f"/{run_id}/artifacts/notes.txt")], keys
        store = open_store(team_env["AUTOLOG_BACKEND_STORE_URI"])  # the run is in PostgreSQL
        try:
            stored = store.get_run(run_id)
        finally:
            store.close()
        assert stored.data.params == {"where": "compose"}
        assert stored.info.status == "FINISHED"
    finally:
        code = server.stop()
    assert code == 0, server.output

    # a restart (a new container on the same volumes) makes no second admin token
    token_file.unlink()
    again = Entrypoint(team_env, tmp_path)
    try:
        again.wait_healthy()
        assert not token_file.exists()
        headers = {"Authorization": f"Bearer {admin}"}
        answer = httpx.get(f"{again.url}/api/v1/runs/{run_id}", headers=headers, timeout=30)
        assert answer.status_code == 200
    finally:
        assert again.stop() == 0, again.output
