"""The environment a run ran in: every installed distribution, pinned, as a requirements file.

``environment_lock()`` writes what the running interpreter has installed (one line per
distribution, the first of a name on ``sys.path`` winning, as imports do), its Python version,
implementation and platform, and the environment variables that change results. The bytes
depend on the environment only (no run id, no time), so two runs in one environment have the
same lock and the same ``autolog.environment.sha256``. The file installs with ``pip install -r``
or ``uv pip install -r``; ``parse_lock`` reads it back for ``autolog rerun``.

Example::

    # autolog environment lock
    # python: 3.11.7
    # implementation: CPython
    # platform: linux-x86_64
    # env: PYTHONHASHSEED=0
    numpy==2.1.3
    -e /work/main  # autolog==0.1.0 (editable)
    mypkg @ file:///path/to/mypkg.whl  # mypkg==1.0 (direct URL)
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import sys
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from autolog.errors import InvalidInputError
from autolog.models import canonical_name
from autolog.projects.code import strip_credentials

if TYPE_CHECKING:
    from importlib.metadata import Distribution

    from autolog.projects.recording import RecordingClient

__all__ = [
    "ENVIRONMENT_VARIABLES",
    "LOCK_ARTIFACT",
    "TAG_ENVIRONMENT_SHA256",
    "Lock",
    "environment_lock",
    "install_line",
    "parse_lock",
    "record_environment",
]

LOCK_ARTIFACT = "environment/requirements.lock"
TAG_ENVIRONMENT_SHA256 = "autolog.environment.sha256"
_HEADER = "# autolog environment lock"

#: environment variables that change what a run computes, recorded where set
ENVIRONMENT_VARIABLES = (
    "PYTHONHASHSEED",
    "CUDA_VISIBLE_DEVICES",
    "OMP_NUM_THREADS",
    "MKL_NUM_THREADS",
    "OPENBLAS_NUM_THREADS",
    "CUBLAS_WORKSPACE_CONFIG",
    "TF_DETERMINISTIC_OPS",
    "TOKENIZERS_PARALLELISM",
    "NUMEXPR_NUM_THREADS",
    "PYTORCH_CUDA_ALLOC_CONF",
)


@dataclass(frozen=True)
class Lock:
    """A lock read back: the interpreter it was made with and its installable lines."""

    python: str
    implementation: str
    platform: str
    env: dict[str, str] = field(default_factory=dict)
    #: the installable lines (``name==version``, ``-e PATH``, ``name @ URL``), comments removed
    requirements: list[str] = field(default_factory=list)


def environment_lock() -> str:
    """The lock of the running interpreter's environment (its text)."""
    import platform

    lines = [
        _HEADER,
        f"# python: {platform.python_version()}",
        f"# implementation: {platform.python_implementation()}",
        f"# platform: {sys.platform}-{platform.machine()}",
    ]
    for name in ENVIRONMENT_VARIABLES:
        value = os.environ.get(name)
        if value is not None:
            lines.append(f"# env: {name}={_one_line(value)}")
    lines.extend(_requirements(tuple(_installation_folders())))
    return "\n".join(lines) + "\n"


def parse_lock(text: str) -> Lock:
    """Read a lock that ``environment_lock`` wrote.

    Raises:
        InvalidInputError: the text is not such a lock (its header or interpreter lines
            are missing).
    """
    lines = text.splitlines()
    if not lines or lines[0].strip() != _HEADER:
        raise InvalidInputError(f"not an autolog environment lock (no {_HEADER!r} line first)")
    facts: dict[str, str] = {}
    env: dict[str, str] = {}
    requirements: list[str] = []
    for line in lines[1:]:
        stripped = line.strip()
        if stripped.startswith("#"):
            key, _, value = stripped[1:].strip().partition(": ")
            if key == "env":
                name, _, setting = value.partition("=")
                env[name] = setting
            elif key in ("python", "implementation", "platform"):
                facts[key] = value
            continue
        # pip's own rule: a comment starts at a '#' after white space (a URL's '#egg=' stays)
        requirement = re.sub(r"(^|\s+)#.*$", "", stripped).strip()
        if requirement:
            requirements.append(requirement)
    missing = [key for key in ("python", "implementation", "platform") if key not in facts]
    if missing:
        raise InvalidInputError(f"the environment lock has no {', '.join(missing)} line")
    return Lock(facts["python"], facts["implementation"], facts["platform"], env, requirements)


def record_environment(client: RecordingClient, run_id: str) -> None:
    """Record the lock in the run, found and written on the writer's file thread:
    ``environment/requirements.lock`` and the tag ``autolog.environment.sha256``."""

    def produce() -> tuple[dict[str, str], dict[str, bytes]]:
        data = environment_lock().encode()
        digest = hashlib.sha256(data).hexdigest()
        return {TAG_ENVIRONMENT_SHA256: digest}, {LOCK_ARTIFACT: data}

    client.record_later(run_id, produce, what="the environment lock")


# internals ------------------------------------------------------------------------------------

_cache: dict[tuple[str, ...], list[str]] = {}


def _requirements(path: tuple[str, ...]) -> list[str]:
    """One line per installed distribution, sorted by normalised name; kept per ``sys.path``
    (reading every distribution's metadata is the costly part, and it rarely changes)."""
    known = _cache.get(path)
    if known is None:
        known = _cache[path] = _read_requirements(path)
    return known


def _installation_folders() -> list[str]:
    """``sys.path`` without the working folder (``''``, or itself where ``python -m`` or a
    script there put it): a source checkout's build leftovers (``mypkg.egg-info``) are no
    installation, and would hide how the package is installed (``-e``)."""
    here = os.getcwd()
    return [folder for folder in sys.path if folder and os.path.abspath(folder) != here]


def _read_requirements(path: tuple[str, ...]) -> list[str]:
    from importlib.metadata import distributions

    found: dict[str, str] = {}
    for dist in distributions(path=list(path)):  # in sys.path order
        name = dist.metadata["Name"] if dist.metadata is not None else None
        if not name:
            continue  # broken metadata: nothing to pin
        key = canonical_name(name)
        if key not in found:  # the first on sys.path is what imports find
            found[key] = install_line(dist, name)
    return [found[key] for key in sorted(found)]


def install_line(dist: Distribution, name: str) -> str:
    """The installable line of ``dist``: pinned, or its editable folder or direct URL (with
    a comment saying which, and the version)."""
    version = dist.version
    pinned = f"{name}=={version}"
    direct = _direct_url(dist)
    if direct is None:
        return pinned
    url = strip_credentials(str(direct.get("url", "")))
    dir_info = direct.get("dir_info")
    if isinstance(dir_info, dict) and dir_info.get("editable") and url.startswith("file:"):
        return f"-e {_file_path(url)}  # {pinned} (editable)"
    vcs = direct.get("vcs_info")
    if isinstance(vcs, dict) and vcs.get("vcs") and vcs.get("commit_id"):
        url = f"{vcs['vcs']}+{url}@{vcs['commit_id']}"
    elif url.startswith("file:") and not url.startswith("file://"):
        url = "file://" + url.removeprefix("file:")
    return f"{name} @ {url}  # {pinned} (direct URL)"


def _direct_url(dist: Distribution) -> dict[str, object] | None:
    """PEP 610's ``direct_url.json`` of ``dist``, None where it has none (from an index)."""
    text = dist.read_text("direct_url.json")
    if not text:
        return None
    try:
        found = json.loads(text)
    except ValueError:
        return None
    return found if isinstance(found, dict) and found.get("url") else None


def _file_path(url: str) -> str:
    """An editable install's folder: its path, or its file URL where the path has what a
    requirements file would split or cut (white space, '#', quotes)."""
    from urllib.parse import urlsplit
    from urllib.request import url2pathname

    path = url2pathname(urlsplit(url).path)
    return url if re.search(r"[\s#'\"]", path) else path


def _one_line(value: str) -> str:
    # a line break would end the comment line: written as the two characters \n
    return value.replace("\n", "\\n").replace("\r", "\\r")
