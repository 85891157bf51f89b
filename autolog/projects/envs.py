"""The Python environment a rerun runs in: the run's own, rebuilt from its lock, or this one.

``recorded_env`` builds a virtual environment from ``environment/requirements.lock`` with
``uv`` when it is installed (much faster) and ``python -m venv`` + pip otherwise, on the
current interpreter (no other Python is fetched: a lock of another version is said in one
line). Packages come from the indexes this machine's pip is configured with (index-url,
extra-index-url, find-links), so a lock installs wherever the project's own packages did.
autolog itself is installed from the running autolog's source (the same editable checkout or
URL, else the same version): the child records into the run with the code that reads it.

Environments are cached under ``$AUTOLOG_CACHE_DIR/envs/<key>`` (default
``~/.cache/autolog``), keyed by the installable lines and the Python version: a second rerun of
a run (or of any run with the same lock) starts at once. An environment is built in a folder
of its own beside the cache and renamed into place only when complete, so a build that was
killed is never mistaken for a finished one.
"""

from __future__ import annotations

import ast
import contextlib
import hashlib
import json
import os
import platform
import re
import secrets
import shutil
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from autolog.errors import RerunError
from autolog.models import canonical_name

if TYPE_CHECKING:
    from autolog.projects.environment import Lock

__all__ = [
    "CACHE_DIR_VARIABLE",
    "IndexOptions",
    "PythonEnv",
    "autolog_requirement",
    "cache_dir",
    "current_env",
    "env_key",
    "find_uv",
    "index_options",
    "installable_lines",
    "recorded_env",
    "recorded_env_cached",
]

CACHE_DIR_VARIABLE = "AUTOLOG_CACHE_DIR"
_BUILDING = ".build-"  # prefix of the folders environments are built in
_MARKER = "autolog-env.json"  # written last into a built environment, before the rename
_REQUIREMENTS = "autolog-requirements.txt"
_NAME_PART = re.compile(r"^\s*([A-Za-z0-9][A-Za-z0-9._-]*)")
# what installers say of a requirement no index has (uv, then pip)
_NOT_FOUND = (
    re.compile(r"Because (\S+?) was not found in the (?:package registry|provided package)"),
    re.compile(r"there is no version of (\S+?)(?: and|,|$)", re.MULTILINE),
    re.compile(r"No matching distribution found for (\S+)"),
)


@dataclass(frozen=True)
class PythonEnv:
    """The interpreter a rerun runs, and the environment variables it runs with.

    ``built``: this call built it (``seconds`` it took); ``path``: the virtual environment
    (None for the current interpreter); ``notes``: what the user should know (a Python version
    other than the run's).
    """

    python: str
    path: Path | None = None
    variables: Mapping[str, str] = field(default_factory=dict)
    built: bool = False
    seconds: float = 0.0
    installer: str | None = None
    notes: tuple[str, ...] = ()
    #: the run recorded its variables (it has a lock): an allow-listed one it did not have set
    #: is unset for the rerun too (a PYTHONHASHSEED set here would change its results)
    recorded: bool = False

    def child_environment(self, base: Mapping[str, str] | None = None) -> dict[str, str]:
        """``base`` (default: this process's environment) with the run's recorded variables
        (those it did not have are removed), and the virtual environment first on PATH as its
        activation would put it."""
        from autolog.projects.environment import ENVIRONMENT_VARIABLES

        env = dict(os.environ if base is None else base)
        if self.recorded:
            for name in ENVIRONMENT_VARIABLES:
                env.pop(name, None)
        env.update(self.variables)
        if self.path is not None:
            env.pop("PYTHONHOME", None)
            env["VIRTUAL_ENV"] = str(self.path)
            env["PATH"] = os.pathsep.join([str(self.path / "bin"), env.get("PATH", "")])
        return env


@dataclass(frozen=True)
class IndexOptions:
    """Where pip is configured to find packages here (``pip config`` and ``PIP_*``)."""

    index_url: str | None = None
    extra_index_urls: tuple[str, ...] = ()
    find_links: tuple[str, ...] = ()
    no_index: bool = False

    def arguments(self) -> list[str]:
        """The same settings as options of ``pip install`` and ``uv pip install``."""
        args = ["--no-index"] if self.no_index else []
        if self.index_url:
            args += ["--index-url", self.index_url]
        for url in self.extra_index_urls:
            args += ["--extra-index-url", url]
        for place in self.find_links:
            args += ["--find-links", place]
        return args

    def describe(self) -> str:
        places = [self.index_url or "https://pypi.org/simple", *self.extra_index_urls]
        if self.no_index:
            places = []
        places += [f"find-links {p}" for p in self.find_links]
        return ", ".join(places) or "no index"


def current_env(lock: Lock | None) -> PythonEnv:
    """This interpreter, with the run's recorded environment variables (where it has a lock)."""
    return PythonEnv(
        python=sys.executable, variables=dict(lock.env) if lock else {}, recorded=lock is not None
    )


def cache_dir() -> Path:
    """``$AUTOLOG_CACHE_DIR``, else ``~/.cache/autolog``."""
    chosen = os.environ.get(CACHE_DIR_VARIABLE)
    return Path(chosen).expanduser() if chosen else Path.home() / ".cache" / "autolog"


def recorded_env(
    lock_text: str,
    *,
    cache: Path | None = None,
    uv: str | None = None,
    index: IndexOptions | None = None,
) -> PythonEnv:
    """The virtual environment of ``lock_text`` (a run's ``requirements.lock``), reused from
    the cache or built there: with ``uv`` (its executable) when given, else venv + pip.

    Raises:
        RerunError: a locked package is on no configured index (named), or the install failed
            (the installer's last words).
    """
    lock, lines, final = _planned(lock_text, cache)
    notes = _version_notes(lock.python)
    envs = final.parent
    key = final.name
    if (final / _MARKER).is_file():
        return PythonEnv(
            _python_of(final),
            final,
            dict(lock.env),
            installer=_installer_of(final),
            notes=notes,
            recorded=True,
        )
    started = time.monotonic()
    envs.mkdir(parents=True, exist_ok=True)
    _remove_abandoned(envs, key)
    building = envs / f"{_BUILDING}{key}-{os.getpid()}-{secrets.token_hex(4)}"
    try:
        installer = _build(building, lines, uv, index or index_options())
        (building / _MARKER).write_text(
            json.dumps({"python": platform.python_version(), "installer": installer}) + "\n",
            encoding="utf-8",
        )
        _move_into_place(building, final)
    finally:
        if building.exists():
            shutil.rmtree(building, ignore_errors=True)
    return PythonEnv(
        _python_of(final),
        final,
        dict(lock.env),
        built=True,
        seconds=time.monotonic() - started,
        installer=installer,
        notes=notes,
        recorded=True,
    )


def recorded_env_cached(lock_text: str, *, cache: Path | None = None) -> bool:
    """Whether the environment of ``lock_text`` is built already (``recorded_env`` reuses
    it)."""
    return (_planned(lock_text, cache)[2] / _MARKER).is_file()


def _planned(lock_text: str, cache: Path | None) -> tuple[Lock, list[str], Path]:
    """The lock read, the lines to install, and where their environment goes."""
    from autolog.projects.environment import parse_lock

    lock = parse_lock(lock_text)
    lines = installable_lines(lock.requirements, lock_text)
    key = env_key(lines, platform.python_version())
    return lock, lines, (cache or cache_dir()) / "envs" / key


def installable_lines(requirements: Sequence[str], lock_text: str) -> list[str]:
    """The lock's installable lines with autolog's own replaced by the running autolog's
    source (``autolog_requirement``): the child must record with the autolog reading it."""
    ours = _autolog_lines(lock_text)
    kept = [line for line in requirements if line.strip() not in ours and not _names_autolog(line)]
    return [*kept, autolog_requirement()]


def autolog_requirement() -> str:
    """How to install the running autolog: its editable folder (``-e PATH``), the URL it was
    installed from (``autolog @ URL``), else ``autolog==<version>``: its lock line."""
    from importlib import metadata

    from autolog import __version__
    from autolog.projects.environment import install_line

    try:
        found = metadata.distribution("autolog")
    except metadata.PackageNotFoundError:
        return f"autolog=={__version__}"
    return install_line(found, "autolog").partition("  # ")[0]


def env_key(lines: Sequence[str], python_version: str) -> str:
    """The cache key of an environment: its installable lines and Python version."""
    text = "\n".join([f"python {python_version}", *lines]) + "\n"
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:24]


def find_uv() -> str | None:
    """The uv executable: beside this interpreter, on PATH, or the ``uv`` package's; None
    when there is none (pip builds the environment then)."""
    beside = Path(sys.executable).parent / "uv"
    if beside.is_file() and os.access(beside, os.X_OK):
        return str(beside)
    found = shutil.which("uv")
    if found:
        return found
    try:
        import uv  # type: ignore[import-not-found,unused-ignore]

        return str(uv.find_uv_bin())
    except (ImportError, FileNotFoundError):
        return None


def index_options(python: str | None = None) -> IndexOptions:
    """The package indexes pip is configured with here: ``pip config list`` (its files and
    ``PIP_*`` variables) of ``python`` (default: this interpreter), else of the pip on PATH
    (an environment made by uv has none of its own), else the variables alone."""
    settings: dict[str, str] = {}
    for pip in _pips(python or sys.executable):
        listing = _config_list(pip)
        if listing is not None:
            settings = _pip_settings(listing)
            break
    for name in ("index-url", "extra-index-url", "find-links", "no-index"):
        variable = "PIP_" + name.upper().replace("-", "_")
        if name not in settings and os.environ.get(variable):
            settings[name] = os.environ[variable]
    no_index = settings.get("no-index", "").lower() in ("1", "true", "yes", "on")
    return IndexOptions(
        index_url=settings.get("index-url") or None,
        extra_index_urls=tuple(settings.get("extra-index-url", "").split()),
        find_links=tuple(settings.get("find-links", "").split()),
        no_index=no_index,
    )


def _pips(python: str) -> list[list[str]]:
    found = [[python, "-m", "pip"]]
    for name in ("pip3", "pip"):
        path = shutil.which(name)
        if path is not None:
            found.append([path])
    return found


def _config_list(pip: list[str]) -> str | None:
    """What ``pip config list`` prints; None where that pip cannot say."""
    try:
        result = subprocess.run(
            [*pip, "config", "list"],
            capture_output=True,
            text=True,
            timeout=60,
            stdin=subprocess.DEVNULL,
            check=False,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return result.stdout if result.returncode == 0 else None


def _pip_settings(listing: str) -> dict[str, str]:
    """``pip config list`` lines (``section.name='value'``) as one setting per name, the
    variables' (``:env:``) over ``install`` over ``global``, as pip reads them."""
    rank = {"global": 0, "install": 1, ":env:": 2}
    found: dict[str, tuple[int, str]] = {}
    for line in listing.splitlines():
        key, sep, raw = line.partition("=")
        section, dot, name = key.rpartition(".")
        if not sep or not dot or section not in rank:
            continue
        value = raw.strip()
        with contextlib.suppress(ValueError, SyntaxError):
            value = str(ast.literal_eval(value))
        if name not in found or rank[section] >= found[name][0]:
            found[name] = (rank[section], value)
    return {name: value for name, (_, value) in found.items()}


def _build(folder: Path, lines: list[str], uv: str | None, index: IndexOptions) -> str:
    """Create the environment in ``folder`` and install ``lines``; the installer used."""
    env = dict(os.environ)
    cert = os.environ.get("PIP_CERT")
    if cert and "SSL_CERT_FILE" not in env:
        env["SSL_CERT_FILE"] = cert  # pip's certificate bundle, for uv too
    env["UV_PYTHON_DOWNLOADS"] = "never"  # the current interpreter, never a fetched one
    if uv is not None:
        _step(
            [uv, "venv", "--quiet", "--relocatable", "--python", sys.executable, str(folder)], env
        )
    else:
        _step([sys.executable, "-m", "venv", str(folder)], env)
    requirements = folder / _REQUIREMENTS
    requirements.write_text("\n".join(lines) + "\n", encoding="utf-8")
    python = _python_of(folder)
    if uv is not None:
        install = [uv, "pip", "install", "--python", python, "--index-strategy"]
        # pip takes the best match over every index; uv's default stops at the first index
        # that has the name (which may lack the locked version, e.g. a local +cpu build)
        install += ["unsafe-best-match", "--quiet"]
    else:
        install = [python, "-m", "pip", "install", "--quiet", "--disable-pip-version-check"]
        install += ["--no-input"]
    result = subprocess.run(
        [*install, *index.arguments(), "-r", str(requirements)],
        capture_output=True,
        text=True,
        env=env,
        stdin=subprocess.DEVNULL,
        check=False,
    )
    if result.returncode != 0:
        raise RerunError(_install_failure(result.stdout + "\n" + result.stderr, index))
    return "uv" if uv is not None else "pip"


def _step(command: list[str], env: Mapping[str, str]) -> None:
    result = subprocess.run(
        command, capture_output=True, text=True, env=env, stdin=subprocess.DEVNULL, check=False
    )
    if result.returncode != 0:
        words = " ".join((result.stderr or result.stdout).split())
        raise RerunError(f"creating the environment failed ({command[0]}): {words}")


def _install_failure(output: str, index: IndexOptions) -> str:
    """What the installer said, led by the locked packages no index has."""
    missing = list(
        dict.fromkeys(found for pattern in _NOT_FOUND for found in pattern.findall(output))
    )
    if missing:
        return (
            f"the locked package{'s' if len(missing) > 1 else ''} {', '.join(missing)} "
            f"cannot be found on the configured package indexes ({index.describe()})"
        )
    last = [line.strip() for line in output.splitlines() if line.strip()][-12:]
    return "installing the run's locked packages failed: " + " | ".join(last)


def _move_into_place(building: Path, final: Path) -> None:
    """Rename the finished environment to its key; another process's finished one wins."""
    _retarget_scripts(building / "bin", str(building), str(final))
    if final.exists() and not (final / _MARKER).is_file():
        shutil.rmtree(final)  # not built by autolog (a build never leaves a partial one here)
    try:
        building.rename(final)
    except OSError:
        if not (final / _MARKER).is_file():
            raise  # not a race lost to another build: a real failure


def _retarget_scripts(bin_dir: Path, old: str, new: str) -> None:
    """Scripts pip wrote name the folder they were built in (their shebang): the new one."""
    if not bin_dir.is_dir():
        return
    for path in bin_dir.iterdir():
        if path.is_symlink() or not path.is_file() or path.stat().st_size > 1_000_000:
            continue
        with contextlib.suppress(OSError, UnicodeDecodeError):
            text = path.read_text(encoding="utf-8")
            if old in text:
                path.write_text(text.replace(old, new), encoding="utf-8")


def _remove_abandoned(envs: Path, key: str) -> None:
    """Remove build folders of ``key`` whose process has died (a build killed midway)."""
    for folder in envs.glob(f"{_BUILDING}{key}-*"):
        pid = folder.name[len(_BUILDING) + len(key) + 1 :].partition("-")[0]
        if pid.isdigit() and not _alive(int(pid)):
            shutil.rmtree(folder, ignore_errors=True)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _python_of(folder: Path) -> str:
    return str(folder / "bin" / "python")


def _installer_of(folder: Path) -> str | None:
    with contextlib.suppress(OSError, ValueError):
        return str(json.loads((folder / _MARKER).read_text(encoding="utf-8"))["installer"])
    return None


def _version_notes(recorded: str | None) -> tuple[str, ...]:
    current = platform.python_version()
    if recorded and recorded != current:
        return (
            f"the run used Python {recorded}; this environment uses Python {current}, the "
            "current interpreter (no other Python is fetched)",
        )
    return ()


def _autolog_lines(lock_text: str) -> set[str]:
    """The installable parts of the lock lines that install autolog (``-e PATH  #
    autolog==...`` names it only in its comment)."""
    found = set()
    for line in lock_text.splitlines():
        requirement, _, comment = line.partition(" #")
        installs = requirement.strip() and not requirement.lstrip().startswith("#")
        if installs and (comment.strip().startswith("autolog==") or _names_autolog(requirement)):
            found.add(requirement.strip())
    return found


def _names_autolog(line: str) -> bool:
    match = _NAME_PART.match(line)
    return match is not None and canonical_name(match.group(1)) == "autolog"
