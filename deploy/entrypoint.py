"""Start a team's tracking server from environment variables: what deploy/Dockerfile runs.

The same script runs in the image and as a plain process (tests/test_deploy.py runs it against
a real PostgreSQL and an S3 server), so what the container does is tested where no container
engine exists. It does what a first start needs, then becomes ``autolog server`` (exec: the
server is the process that gets SIGTERM, and stops gracefully):

1. waits for the store (PostgreSQL starting beside it) up to ``AUTOLOG_STORE_WAIT`` seconds;
2. with ``AUTOLOG_CREATE_BUCKET=1``, creates the bucket of an ``s3://`` destination if it does
   not exist (MinIO starts empty), waiting for S3 the same way;
3. when the store has no access token yet, creates an admin token called ``admin`` and writes
   it to ``AUTOLOG_ADMIN_TOKEN_FILE`` (mode 600; default ``./admin-token``), never to the log;
4. serves with tokens required, on loopback too.

Environment (the server's options; only the store is required):

=============================== ===================================================
AUTOLOG_BACKEND_STORE_URI       ``postgresql://user:password@host:5432/db`` (or any store)
AUTOLOG_ARTIFACTS_DESTINATION   ``s3://bucket/prefix`` or a folder (default: beside the store)
AUTOLOG_HOST, AUTOLOG_PORT      default ``0.0.0.0`` and ``5000``
AUTOLOG_WORKERS                 server processes (default 2)
AUTOLOG_ALLOWED_HOSTS           Host names clients use, comma-separated (loopback always)
AUTOLOG_LOG_LEVEL               default ``warning``
AUTOLOG_CREATE_BUCKET           ``1`` to create a missing bucket
AUTOLOG_ADMIN_TOKEN_FILE        where the first admin token is written
AUTOLOG_STORE_WAIT              seconds to wait for the store and S3 (default 60)
AWS_*                           boto3's usual settings (``AWS_ENDPOINT_URL`` for MinIO)
=============================== ===================================================

``entrypoint.py health`` exits 0 when the server on ``AUTOLOG_PORT`` answers its health check
(the image's HEALTHCHECK), else 1.
"""

from __future__ import annotations

import os
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn, TypeVar
from urllib.parse import urlsplit

if TYPE_CHECKING:
    from autolog.stores import Store

# autolog and boto3 are imported where they are used: the image's HEALTHCHECK runs
# `entrypoint.py health` every few seconds, and that needs neither.

T = TypeVar("T")
_NAME = "autolog-entrypoint"
_RETRY_S = 1.0


def _fail(message: str) -> NoReturn:
    print(f"{_NAME}: {message}", file=sys.stderr, flush=True)
    sys.exit(1)


def _say(message: str) -> None:
    print(f"{_NAME}: {message}", flush=True)


def _env(name: str, default: str = "") -> str:
    return os.environ.get(name, default).strip()


def _number(name: str, default: int) -> int:
    value = _env(name, str(default))
    if not value.isdigit():
        _fail(f"{name} must be a whole number, not {value!r}")
    return int(value)


def _until_ready(what: str, attempt: Callable[[], T], transient: Callable[[Exception], bool]) -> T:
    """``attempt()`` again every second while it fails in a way that passes (a database or
    S3 still starting), up to AUTOLOG_STORE_WAIT seconds; any other failure ends at once."""
    deadline = time.monotonic() + _number("AUTOLOG_STORE_WAIT", 60)
    told = False
    while True:
        try:
            return attempt()
        except Exception as exc:
            if not transient(exc) or time.monotonic() > deadline:
                _fail(f"{what}: {' '.join(str(exc).split())}")
            if not told:
                _say(f"waiting for {what} ({' '.join(str(exc).split())[:200]})")
                told = True
            time.sleep(_RETRY_S)


def _open(uri: str) -> Store:
    from autolog.errors import StoreUnavailableError
    from autolog.stores import open_store

    def attempt() -> Store:
        store = open_store(uri)
        try:
            store.list_tokens()  # the tables exist and the database answers
        except BaseException:
            store.close()
            raise
        return store

    return _until_ready(
        "the backend store", attempt, lambda exc: isinstance(exc, StoreUnavailableError)
    )


def _first_admin_token(store: Store, token_file: Path) -> None:
    """An admin token for a store that has none, written to ``token_file`` only."""
    from autolog.errors import AutologError
    from autolog.server.tokens import create_token

    if store.list_tokens():
        return
    # the file first: a token made where it cannot be written would be one nobody has
    token_file.parent.mkdir(parents=True, exist_ok=True)
    descriptor = os.open(token_file, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w") as out:
        try:
            secret, _ = create_token(store, "admin", "admin")
        except AutologError:
            token_file.unlink()
            if store.list_tokens():  # another replica starting at the same moment made it
                return
            raise
        out.write(secret + "\n")
    _say(
        f"no access token existed: created the admin token 'admin', written to {token_file} "
        "(read it once, keep it, delete the file)"
    )


def _ensure_bucket(destination: str) -> None:
    """Create the bucket of an ``s3://`` destination where it does not exist yet."""
    import boto3
    from botocore.exceptions import ClientError
    from botocore.exceptions import ConnectionError as S3Unreachable

    bucket = urlsplit(destination).netloc
    client = boto3.client("s3")
    region = client.meta.region_name
    # outside us-east-1, S3 wants the region named again (MinIO takes either)
    where = {} if region in (None, "us-east-1") else {"LocationConstraint": region}

    def attempt() -> bool:
        try:
            client.head_bucket(Bucket=bucket)
            return False
        except ClientError as exc:
            if _code(exc) not in ("404", "NoSuchBucket"):
                raise
        if where:
            client.create_bucket(Bucket=bucket, CreateBucketConfiguration=where)
        else:
            client.create_bucket(Bucket=bucket)
        return True

    def starting(exc: Exception) -> bool:
        return isinstance(exc, S3Unreachable) or (
            isinstance(exc, ClientError)
            and _code(exc) in ("503", "ServiceUnavailable", "XMinioServerNotInitialized")
        )

    if _until_ready(f"the S3 bucket {bucket!r}", attempt, starting):
        _say(f"created the bucket {bucket!r}")


def _code(exc: Any) -> str:
    """The error code of a botocore ClientError."""
    return str(exc.response.get("Error", {}).get("Code", ""))


def server_command() -> list[str]:
    """The ``autolog server`` command line the environment asks for."""
    command = [sys.executable, "-m", "autolog", "server", "--require-token"]
    command += ["--backend-store-uri", _env("AUTOLOG_BACKEND_STORE_URI")]
    if destination := _env("AUTOLOG_ARTIFACTS_DESTINATION"):
        command += ["--artifacts-destination", destination]
    command += ["--host", _env("AUTOLOG_HOST", "0.0.0.0")]
    command += ["--port", str(_number("AUTOLOG_PORT", 5000))]
    command += ["--workers", str(_number("AUTOLOG_WORKERS", 2))]
    if allowed := _env("AUTOLOG_ALLOWED_HOSTS"):
        command += ["--allowed-hosts", allowed]
    command += ["--log-level", _env("AUTOLOG_LOG_LEVEL", "warning")]
    return command


def health() -> int:
    """0 when the server on AUTOLOG_PORT answers its health check, else 1."""
    url = f"http://127.0.0.1:{_number('AUTOLOG_PORT', 5000)}/api/v1/health"
    try:
        with urllib.request.urlopen(url, timeout=5) as answer:
            return 0 if answer.status == 200 else 1
    except (urllib.error.URLError, OSError):
        return 1


def main(argv: list[str]) -> int:
    if argv[1:] == ["health"]:
        return health()
    if argv[1:]:
        _fail(f"usage: {Path(argv[0]).name} [health] (settings come from the environment)")
    uri = _env("AUTOLOG_BACKEND_STORE_URI")
    if not uri:
        _fail("set AUTOLOG_BACKEND_STORE_URI, e.g. postgresql://autolog:PASSWORD@db:5432/autolog")
    destination = _env("AUTOLOG_ARTIFACTS_DESTINATION")
    if destination.lower().startswith("s3://") and _env("AUTOLOG_CREATE_BUCKET") == "1":
        _ensure_bucket(destination)
    from autolog.errors import AutologError

    store = _open(uri)
    try:
        _first_admin_token(store, Path(_env("AUTOLOG_ADMIN_TOKEN_FILE", "admin-token")))
    except (AutologError, OSError) as exc:
        _fail(f"cannot create the first access token: {exc}")
    finally:
        store.close()
    command = server_command()
    sys.stdout.flush()
    os.execv(command[0], command)  # the server replaces this process (signals go to it)
    return 1  # not reached


if __name__ == "__main__":
    sys.exit(main(sys.argv))
