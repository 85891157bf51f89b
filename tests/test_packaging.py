"""What a user installs: the wheel and sdist built from this checkout, and the dev install.

The build is the one a release makes (``python -m build``), with the installed setuptools
(``--no-isolation``: offline, the dev install has it), from a copy of the files git would commit,
so what is checked is what a clean clone builds.
"""

from __future__ import annotations

import email
import os
import shutil
import subprocess
import sys
import tarfile
import zipfile
from dataclasses import dataclass
from email.message import Message
from pathlib import Path

import pytest
from support import REPO

pytest.importorskip("build", reason="the packaging tests need the dev group's build")


@dataclass(frozen=True)
class Built:
    output: str
    wheel: Path
    sdist: Path


def _checkout_files() -> list[str]:
    """The files git would commit (tracked, and new ones it does not ignore)."""
    if shutil.which("git") is None or not (REPO / ".git").exists():
        pytest.skip("the packaging tests build from a git checkout")
    listed = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=REPO,
        capture_output=True,
        check=True,
        timeout=60,
    ).stdout.decode()
    return [name for name in listed.split("\0") if name and (REPO / name).is_file()]


@pytest.fixture(scope="module")
def checkout_files() -> list[str]:
    return _checkout_files()


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory, checkout_files: list[str]) -> Built:
    source = tmp_path_factory.mktemp("checkout")
    for name in checkout_files:
        (source / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(REPO / name, source / name)
    dist = tmp_path_factory.mktemp("dist")
    # PYTHONDONTWRITEBYTECODE makes setuptools say it skips byte-compiling: a setting of this
    # environment, not of the project, so the build runs as on a user's machine.
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    done = subprocess.run(
        [sys.executable, "-m", "build", "--no-isolation", "--outdir", str(dist), str(source)],
        capture_output=True,
        text=True,
        env=env,
        timeout=240,
        check=False,
    )
    output = done.stdout + done.stderr
    assert done.returncode == 0, output
    (wheel,) = dist.glob("autolog-*.whl")
    (sdist,) = dist.glob("autolog-*.tar.gz")
    return Built(output, wheel, sdist)


def _metadata(wheel: Path) -> Message:
    with zipfile.ZipFile(wheel) as archive:
        (name,) = [n for n in archive.namelist() if n.endswith(".dist-info/METADATA")]
        return email.message_from_bytes(archive.read(name))


@pytest.mark.slow
def test_the_build_says_nothing_is_wrong(built: Built) -> None:
    warnings = [line for line in built.output.splitlines() if "warn" in line.lower()]
    assert warnings == [], built.output


@pytest.mark.slow
def test_the_wheel_carries_the_license_and_says_what_it_is(built: Built) -> None:
    with zipfile.ZipFile(built.wheel) as archive:
        names = archive.namelist()
        (license_name,) = [n for n in names if n.endswith(".dist-info/licenses/LICENSE")]
        assert archive.read(license_name) == (REPO / "LICENSE").read_bytes()
    assert (REPO / "LICENSE").read_text().lstrip().startswith("Apache License")
    metadata = _metadata(built.wheel)
    assert metadata["License-Expression"] == "Apache-2.0"
    assert metadata.get_all("License-File") == ["LICENSE"]
    classifiers = metadata.get_all("Classifier") or []
    assert "Typing :: Typed" in classifiers
    # PEP 639: the expression is the license; a License :: classifier beside it is refused
    assert not [c for c in classifiers if c.startswith("License ::")]
    assert "experiment-tracking" in metadata["Keywords"].split(",")
    assert metadata["Requires-Python"] == ">=3.10"


@pytest.mark.slow
def test_the_wheel_declares_what_the_extras_need_and_no_dev_tools(built: Built) -> None:
    metadata = _metadata(built.wheel)
    extras = metadata.get_all("Provides-Extra") or []
    assert "dev" not in extras  # a dependency group: never published
    assert {"torch", "server", "postgres", "s3", "all"} <= set(extras)
    requires = metadata.get_all("Requires-Dist") or []
    core = sorted(r.split(">")[0] for r in requires if "extra ==" not in r)
    assert core == ["cloudpickle", "wrapt"]
    torch = [r.split(";")[0].strip() for r in requires if 'extra == "torch"' in r]
    assert sorted(torch) == ["numpy>=1.24", "torch>=2.1"]
    assert not [r for r in requires if "pytest" in r or "ruff" in r or "moto" in r]


@pytest.mark.slow
def test_the_wheel_holds_the_package_and_nothing_else(built: Built) -> None:
    with zipfile.ZipFile(built.wheel) as archive:
        names = archive.namelist()
    assert {n.split("/")[0] for n in names} == {"autolog", "autolog-0.1.0.dist-info"}
    for expected in (
        "autolog/py.typed",
        "autolog/integrations/sklearn.py",  # integrations/ installed as autolog.integrations
        "autolog/server/static/index.html",  # the web UI's files
        "autolog/server/static/vendor/uplot/LICENSE",
    ):
        assert expected in names
    assert not [n for n in names if "__pycache__" in n or n.endswith(".pyc")]


@pytest.mark.slow
def test_the_sdist_is_the_checkout_a_test_run_needs(
    built: Built, checkout_files: list[str]
) -> None:
    with tarfile.open(built.sdist) as archive:
        root = archive.getnames()[0].split("/")[0]
        names = {n.split("/", 1)[1] for n in archive.getnames() if "/" in n}
    for name in ("LICENSE", "README.md", "pyproject.toml", "setup.py", "Makefile"):
        assert name in names
    # every file of these folders that git would commit, the tests' data and conftest included
    folders = ("autolog/", "integrations/", "tests/", "examples/", "docs/", "deploy/")
    wanted = {n for n in checkout_files if n.startswith(folders)}
    assert wanted - names == set()
    assert "deploy/compose.yaml" in names
    assert root == "autolog-0.1.0"


def test_the_dev_install_takes_the_dev_group_and_what_the_tests_import() -> None:
    """``make`` installs the test tools from the dependency group, beside the extras the
    suite needs (the old ``dev`` extra brought the command line and psycopg)."""
    tomllib = pytest.importorskip("tomllib")
    project = tomllib.loads((REPO / "pyproject.toml").read_text())
    assert "dev" not in project["project"]["optional-dependencies"]
    group = [r.split(">")[0].split("[")[0] for r in project["dependency-groups"]["dev"]]
    assert {"pytest", "ruff", "mypy", "moto", "build", "pyyaml"} <= set(group)
    if shutil.which("make") is None:
        pytest.skip("make is not installed")
    planned = subprocess.run(
        ["make", "-n", "-W", "pyproject.toml", ".venv/.installed-stamp"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    ).stdout
    (install,) = [line for line in planned.splitlines() if "pip install" in line and " -e " in line]
    assert install.endswith("--group dev")
    extras = install.split('-e ".[', 1)[1].split("]", 1)[0].split(",")
    assert {"cli", "postgres", "server", "s3", "torch", "sklearn"} <= set(extras)
