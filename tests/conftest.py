"""Shared fixtures for the test suite.

Sections, in order:

* PostgreSQL: one server for the whole session (the local cluster, started here where it can
  be, or ``$AUTOLOG_TEST_POSTGRES_URI``) and ``postgres_uri``, a clean database per test.
* Stores: ``store_uri`` is parametrised over every tracking backend; ``store`` is the store
  opened on it, with artifacts under the test's ``tmp_path``.
* Tracking server: one real server process for the session (``server_harness``) and
  ``rest_uri``, an empty store on it per test.
* Web UI: ``chromium``, one headless browser for the session, and ``ui_server``, a server
  process on the runs of ``ui_seed.py``.
* Tiers: a test that reaches PostgreSQL, a server process or the browser through those
  fixtures is marked ``postgres``, ``server`` or ``browser`` here, so ``make test-fast``
  deselects it by marker without each test saying so. Tests that start interpreters or worker
  processes, or run for seconds, are marked ``slow`` in their own modules (deselected too).
"""

from __future__ import annotations

import functools
import inspect
import os
import re
import shutil
import subprocess
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from types import CodeType
from typing import Any

import pytest

from autolog.stores import Store, open_store

# --------------------------------------------------------------------------------------------
# PostgreSQL
# --------------------------------------------------------------------------------------------

POSTGRES_URI_ENV = "AUTOLOG_TEST_POSTGRES_URI"
_PG_VERSION = "15"
_PG_CLUSTER = "main"
_PG_ROLE = "autolog"
_PG_DATABASE = "autolog_test"
_PG_LOCAL_URI = f"postgresql://{_PG_ROLE}:autolog@localhost:5432/{_PG_DATABASE}"
_PG_SESSION_LOCK = 0x6175746F6C5445  # advisory lock key held by the test session using the DB
_PG_SESSION_WAIT_S = 240  # under pytest-timeout's 300 s, so the reason is ours, not a timeout


def _run(*command: str) -> str:
    done = subprocess.run(command, capture_output=True, text=True, timeout=120, check=False)
    if done.returncode != 0:
        raise RuntimeError(
            f"{' '.join(command)!r} failed ({done.returncode}): {done.stderr.strip()}"
        )
    return done.stdout.strip()


def _psql_as_postgres(sql: str) -> str:
    return _run("runuser", "-u", "postgres", "--", "psql", "-v", "ON_ERROR_STOP=1", "-tAc", sql)


def _start_local_postgres() -> str:
    """Start the local cluster if it is down, and create our role and database if missing."""
    if shutil.which("pg_ctlcluster") is None:
        pytest.skip(
            "PostgreSQL tests need a server: pg_ctlcluster is not installed and "
            f"{POSTGRES_URI_ENV} is not set"
        )
    clusters = _run("pg_lsclusters", "--no-header").splitlines()
    # columns: version, cluster, port, status, owner, data directory, log file
    ours = [line.split() for line in clusters if line.split()[:2] == [_PG_VERSION, _PG_CLUSTER]]
    if not ours:
        raise RuntimeError(f"no PostgreSQL cluster {_PG_VERSION}/{_PG_CLUSTER}: {clusters}")
    if not ours[0][3].startswith("online"):
        _run("pg_ctlcluster", _PG_VERSION, _PG_CLUSTER, "start")  # waits until it accepts
    if not _psql_as_postgres(f"SELECT 1 FROM pg_roles WHERE rolname = '{_PG_ROLE}'"):
        _psql_as_postgres(f"CREATE ROLE {_PG_ROLE} LOGIN SUPERUSER PASSWORD 'autolog'")
    if not _psql_as_postgres(f"SELECT 1 FROM pg_database WHERE datname = '{_PG_DATABASE}'"):
        _psql_as_postgres(
            f"CREATE DATABASE {_PG_DATABASE} OWNER {_PG_ROLE} ENCODING 'UTF8' TEMPLATE template0"
        )
    # A throwaway database need not wait for the disk at each commit: per-test cleanup and
    # schema creation get several times faster, and clients see no difference.
    _psql_as_postgres(f"ALTER DATABASE {_PG_DATABASE} SET synchronous_commit = off")
    return _PG_LOCAL_URI


@pytest.fixture(scope="session")
def postgres_server_uri() -> str:
    """URI of a PostgreSQL database the tests may wipe at will."""
    return os.environ.get(POSTGRES_URI_ENV) or _start_local_postgres()


@pytest.fixture(scope="session")
def _postgres_admin(postgres_server_uri: str) -> Iterator[Any]:
    """One autocommit connection kept for the session, so per-test cleanup costs no connect."""
    psycopg = pytest.importorskip("psycopg", reason="PostgreSQL tests need psycopg")
    with psycopg.connect(postgres_server_uri, autocommit=True) as connection:
        # Test sessions on one machine share the database: each holds it until it ends, so one
        # session's cleanup never drops the tables another is using. Later sessions queue.
        connection.execute(f"SET lock_timeout = '{_PG_SESSION_WAIT_S}s'")
        try:
            connection.execute("SELECT pg_advisory_lock(%s)", (_PG_SESSION_LOCK,))
        except psycopg.errors.LockNotAvailable:
            raise RuntimeError(
                f"another test session has held {postgres_server_uri} for over "
                f"{_PG_SESSION_WAIT_S} s; set {POSTGRES_URI_ENV} to use another database"
            ) from None
        # A store that leaked a connection holding locks fails the next test instead of hanging.
        connection.execute("SET lock_timeout = '10s'")
        yield connection


@pytest.fixture
def postgres_uri(postgres_server_uri: str, _postgres_admin: Any) -> str:
    """The PostgreSQL URI with an empty ``public`` schema: no tables left by earlier tests."""
    _postgres_admin.execute("DROP SCHEMA IF EXISTS public CASCADE")
    _postgres_admin.execute("CREATE SCHEMA public")
    return postgres_server_uri


# --------------------------------------------------------------------------------------------
# Stores
# --------------------------------------------------------------------------------------------

STORE_KINDS = ("memory", "file", "sqlite", "postgresql", "rest")
_KIND_MARKS = {"postgresql": pytest.mark.postgres, "rest": pytest.mark.server}


@pytest.fixture(
    params=[pytest.param(kind, id=kind, marks=_KIND_MARKS.get(kind, ())) for kind in STORE_KINDS]
)
def store_uri(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A tracking URI naming a new, empty store of each kind."""
    kind: str = request.param
    if kind == "memory":
        return "memory:"
    if kind == "file":
        return (tmp_path / "files").as_uri()
    if kind == "sqlite":
        return f"sqlite:///{tmp_path}/t.db"
    if kind == "rest":
        uri: str = request.getfixturevalue("rest_uri")
        return uri
    uri = request.getfixturevalue("postgres_uri")
    return uri  # noqa: RET504 - typed once above


@pytest.fixture
def artifact_root(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """``$AUTOLOG_ARTIFACT_ROOT`` for this test: a folder under its ``tmp_path``."""
    root = tmp_path / "artifacts"
    monkeypatch.setenv("AUTOLOG_ARTIFACT_ROOT", str(root))
    return root


@pytest.fixture
def store(store_uri: str, artifact_root: Path) -> Iterator[Store]:
    """The store for ``store_uri``, closed after the test."""
    opened = open_store(store_uri)
    try:
        yield opened
    finally:
        opened.close()


# --------------------------------------------------------------------------------------------
# Tracking server: one harness process for the session, a fresh store on it per test
# --------------------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def server_harness(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """A real server process (see server_harness.py) that serves a new store per test."""
    pytest.importorskip("fastapi", reason="the tracking server needs the server extra")
    pytest.importorskip("httpx", reason="the REST store needs httpx")
    from servers import HarnessProcess

    harness = HarnessProcess(tmp_path_factory.mktemp("server-harness"))
    try:
        yield harness
    finally:
        harness.stop()


@pytest.fixture
def rest_uri(server_harness: Any) -> Iterator[str]:
    """The http:// tracking URI of an empty store on the session's server."""
    uri: str = server_harness.new_store()
    try:
        yield uri
    finally:
        server_harness.drop_store(uri)


# --------------------------------------------------------------------------------------------
# The public API: every test starts with no active run, no open store, in its own folder
# --------------------------------------------------------------------------------------------


@pytest.fixture(autouse=True)
def _isolated_autolog(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Run each test in its own working directory, so the default store is its own."""
    from support import reset_autolog

    monkeypatch.chdir(tmp_path)
    # Strict mode: an exception in autolog's own hooks fails the test instead of a warning.
    monkeypatch.setenv("AUTOLOG_STRICT", "1")
    monkeypatch.delenv("AUTOLOG_TRACKING_URI", raising=False)
    monkeypatch.delenv("AUTOLOG_EXPERIMENT_NAME", raising=False)
    reset_autolog()
    yield
    reset_autolog()


# --------------------------------------------------------------------------------------------
# Web UI: one Chromium for the session, one server on the runs of ui_seed.py
# --------------------------------------------------------------------------------------------

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking"]


@pytest.fixture(scope="session")
def chromium() -> Iterator[Any]:
    """Debian's headless Chromium driven by Playwright (``make browser`` installs it)."""
    if not Path(CHROMIUM).exists():
        if shutil.which("apt-get") is None:
            pytest.skip("the browser tests need Debian's chromium, and apt-get is absent")
        pytest.fail(f"{CHROMIUM} is missing: `make browser` installs it (apt-get install chromium)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()


@dataclass
class UiServer:
    url: str
    store_uri: str
    seeded: Any  # ui_seed.Seeded


@pytest.fixture(scope="session")
def ui_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[UiServer]:
    """``autolog server`` (a real process on a free loopback port) on the runs of ui_seed.py."""
    pytest.importorskip("fastapi", reason="the web UI is served by the server extra")
    from servers import ServerProcess
    from ui_seed import seed

    root = tmp_path_factory.mktemp("ui")
    store_uri = f"sqlite:///{root}/ui.db"
    seeded = seed(store_uri, root / "scratch")
    server = ServerProcess(["--backend-store-uri", store_uri, "--port", "0"], cwd=root)
    try:
        yield UiServer(server.url, store_uri, seeded)
    finally:
        server.stop()


# --------------------------------------------------------------------------------------------
# Tiers: markers from the fixtures a test uses (`make test-fast` runs what carries none)
# --------------------------------------------------------------------------------------------

# Each fixture that starts or reaches a slow outside process, with the marker of its tier. The
# fixtures built on one are listed too, for tests that request them by name at run time.
FIXTURE_MARKS = {
    "postgres_server_uri": "postgres",
    "postgres_uri": "postgres",
    "server_harness": "server",
    "rest_uri": "server",
    "ui_server": "server",
    "chromium": "browser",
}
_REQUESTED_BY_NAME = re.compile(r"""getfixturevalue\(\s*["'](\w+)["']""")
_RUNNING = pytest.StashKey[pytest.Item]()


def _names_in(code: CodeType) -> Iterator[str]:
    """The attribute and global names ``code`` uses, with those of the functions nested in it."""
    yield from code.co_names
    for constant in code.co_consts:
        if isinstance(constant, CodeType):
            yield from _names_in(constant)


@functools.cache
def _requested_by_name(function: Callable[..., Any]) -> frozenset[str]:
    """The fixtures a test's body asks for with ``getfixturevalue("name")``.

    Reading the source of every test costs most of a second of collection; the compiled code says
    cheaply which tests call ``getfixturevalue`` at all, and only those are read.
    """
    code = getattr(inspect.unwrap(function), "__code__", None)
    if code is not None and "getfixturevalue" not in set(_names_in(code)):
        return frozenset()
    try:
        return frozenset(_REQUESTED_BY_NAME.findall(inspect.getsource(function)))
    except (OSError, TypeError):  # no source (edited since import): the run-time check remains
        return frozenset()


def _fixtures_used(item: pytest.Item) -> set[str]:
    """The fixtures ``item`` requests, by signature (with their closure) or by name in its body."""
    used = set(getattr(item, "fixturenames", ()))
    function = getattr(item, "function", None)
    if function is not None:
        used |= _requested_by_name(function)
    return used


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark each test with the tier of every outside process its fixtures bring up."""
    for item in items:
        for mark in {FIXTURE_MARKS[name] for name in _fixtures_used(item) & FIXTURE_MARKS.keys()}:
            if item.get_closest_marker(mark) is None:
                item.add_marker(mark)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_protocol(item: pytest.Item) -> Iterator[None]:
    """Remember the running test, for the check in ``pytest_fixture_setup``."""
    item.config.stash[_RUNNING] = item
    try:
        return (yield)
    finally:
        del item.config.stash[_RUNNING]


def pytest_fixture_setup(
    fixturedef: pytest.FixtureDef[Any], request: pytest.FixtureRequest
) -> None:
    """Fail a test that reaches a tiered fixture unmarked, which ``make test-fast`` would run.

    Collection sees the fixtures in signatures and ``getfixturevalue("name")`` in a test's body;
    a fixture that requests one by a computed name must mark its params instead (as
    ``store_uri`` does).
    """
    mark = FIXTURE_MARKS.get(fixturedef.argname)
    item = request.config.stash.get(_RUNNING, None)
    if mark is not None and item is not None and item.get_closest_marker(mark) is None:
        pytest.fail(
            f"{item.nodeid} uses the {fixturedef.argname} fixture but is not marked {mark!r}: "
            f"mark it (pytest.param(..., marks=pytest.mark.{mark}) for a parameter)",
            pytrace=False,
        )
