"""Every run knows its environment: ``environment/requirements.lock``, read back by
``parse_lock`` and installable by pip."""

from __future__ import annotations

import hashlib
import json
import platform
import re
import sys
from importlib.metadata import distributions
from pathlib import Path

import pytest
from packaging.requirements import Requirement

import autolog
from autolog import InvalidInputError
from autolog.projects.environment import (
    ENVIRONMENT_VARIABLES,
    environment_lock,
    parse_lock,
    record_environment,
)


def _dist(
    folder: Path, name: str, version: str, direct_url: dict[str, object] | None = None
) -> None:
    """An installed distribution as an installer leaves it: ``NAME-VERSION.dist-info``."""
    info = folder / f"{name.replace('-', '_')}-{version}.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n")
    if direct_url is not None:
        (info / "direct_url.json").write_text(json.dumps(direct_url))


def _pip_lines(lock: Path) -> list[str]:
    """The requirements pip's own parser reads from ``lock`` (editables as ``-e PATH``)."""
    from pip._internal.network.session import PipSession
    from pip._internal.req.req_file import parse_requirements

    found = []
    for parsed in parse_requirements(str(lock), session=PipSession()):
        found.append(f"-e {parsed.requirement}" if parsed.is_editable else parsed.requirement)
    return found


def test_the_lock_pins_every_distribution_and_the_interpreter() -> None:
    text = environment_lock()
    lock = parse_lock(text)
    assert lock.python == platform.python_version()
    assert lock.implementation == platform.python_implementation()
    assert lock.platform == f"{sys.platform}-{platform.machine()}"
    installed = {d.metadata["Name"].lower().replace("_", "-") for d in distributions()}
    pinned = set()
    for line in lock.requirements:
        if line.startswith("-e "):
            continue
        requirement = Requirement(line)
        assert requirement.url or str(requirement.specifier).startswith("=="), line
        pinned.add(requirement.name.lower().replace("_", "-").replace(".", "-"))
    editable = [line for line in text.splitlines() if line.startswith("-e ")]
    assert any(line.endswith("# autolog==0.1.0 (editable)") for line in editable), editable
    assert {n.replace(".", "-") for n in installed} - {"autolog"} <= pinned
    # sorted by normalised name, one line each (an editable's name is in its comment)
    lines = [line for line in text.splitlines() if not line.startswith("#")]
    names = [_name(line) for line in lines]
    assert names == sorted(names)
    assert len(names) == len(set(names))


def _name(line: str) -> str:
    if line.startswith("-e "):
        line = line.split("  # ")[1].split(" ", maxsplit=1)[0]
    return re.sub(r"[-_.]+", "-", Requirement(line).name).lower()


def test_the_lock_is_deterministic_and_pip_reads_it(tmp_path: Path) -> None:
    first = environment_lock()
    assert environment_lock() == first
    lock_file = tmp_path / "requirements.lock"
    lock_file.write_text(first)
    assert _pip_lines(lock_file) == parse_lock(first).requirements


def test_allow_listed_environment_variables(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ENVIRONMENT_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("PYTHONHASHSEED", "0")
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "1,2")
    monkeypatch.setenv("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
    monkeypatch.setenv("AUTOLOG_SECRET_TOKEN", "never-recorded")
    text = environment_lock()
    assert "# env: PYTHONHASHSEED=0\n# env: CUDA_VISIBLE_DEVICES=1,2\n" in text
    assert "never-recorded" not in text
    assert parse_lock(text).env == {
        "PYTHONHASHSEED": "0",
        "CUDA_VISIBLE_DEVICES": "1,2",
        "CUBLAS_WORKSPACE_CONFIG": ":4096:8",
    }


def test_editable_and_direct_url_installs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    first, second = tmp_path / "first", tmp_path / "second"
    project = tmp_path / "my project"
    project.mkdir()
    _dist(first, "zz-editable", "1.0", {"url": project.as_uri(), "dir_info": {"editable": True}})
    _dist(
        first,
        "zz-wheel",
        "2.0",
        {
            "url": "https://user:token@files.example.com/zz_wheel-2.0-py3-none-any.whl",
            "archive_info": {"hashes": {"sha256": "ab" * 32}},
        },
    )
    _dist(
        first,
        "zz-vcs",
        "3.0",
        {
            "url": "https://github.com/o/zz-vcs.git",
            "vcs_info": {"vcs": "git", "commit_id": "c" * 40},
        },
    )
    _dist(first, "zz-shadowed", "1.0")
    _dist(second, "ZZ_Shadowed", "9.9")  # the same normalised name later on sys.path: hidden
    monkeypatch.syspath_prepend(str(second))
    monkeypatch.syspath_prepend(str(first))
    lines = environment_lock().splitlines()
    ours = [line for line in lines if "zz" in line.lower()]
    assert ours == [
        f"-e {project.as_uri()}  # zz-editable==1.0 (editable)",  # a space in its path
        "zz-shadowed==1.0",
        f"zz-vcs @ git+https://github.com/o/zz-vcs.git@{'c' * 40}  # zz-vcs==3.0 (direct URL)",
        "zz-wheel @ https://files.example.com/zz_wheel-2.0-py3-none-any.whl"
        "  # zz-wheel==2.0 (direct URL)",
    ]
    lock_file = tmp_path / "requirements.lock"
    lock_file.write_text("\n".join(lines) + "\n")
    pip_lines = [
        line for line in _pip_lines(lock_file) if "zz" in line.lower() or "my%20project" in line
    ]
    assert pip_lines == [
        f"-e {project.as_uri()}",
        "zz-shadowed==1.0",
        f"zz-vcs @ git+https://github.com/o/zz-vcs.git@{'c' * 40}",
        "zz-wheel @ https://files.example.com/zz_wheel-2.0-py3-none-any.whl",
    ]


def test_parse_lock_refuses_what_is_no_lock() -> None:
    with pytest.raises(InvalidInputError, match="not an autolog environment lock"):
        parse_lock("numpy==2.0\n")
    with pytest.raises(InvalidInputError, match="platform"):
        parse_lock("# autolog environment lock\n# python: 3.11.7\n# implementation: CPython\n")
    lock = parse_lock(
        "# autolog environment lock\n# python: 3.12.1\n# implementation: PyPy\n"
        "# platform: darwin-arm64\n\nnumpy==2.1.3  # a comment\n"
        "pkg @ https://h/p.zip#egg=pkg\n"
    )
    assert (lock.python, lock.implementation, lock.platform) == ("3.12.1", "PyPy", "darwin-arm64")
    assert lock.requirements == ["numpy==2.1.3", "pkg @ https://h/p.zip#egg=pkg"]


def test_a_run_records_its_lock() -> None:
    with autolog.start_run() as run:
        record_environment(autolog.Client(), run.info.run_id)
    run_id = run.info.run_id
    data = Path(autolog.download_artifacts(run_id, "environment/requirements.lock")).read_bytes()
    assert data == environment_lock().encode()
    tags = autolog.get_run(run_id).data.tags
    assert tags["autolog.environment.sha256"] == hashlib.sha256(data).hexdigest()
