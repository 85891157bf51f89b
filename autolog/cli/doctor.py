"""``autolog doctor``: what this installation would do, and whether what it needs answers.

It prints the versions (autolog, Python, the frameworks), the tracking store and artifact
location that a run started here would use and whether they answer (a local store is opened,
a tracking server's health asked), the integrations and the extras installed. It changes
nothing: a local store that does not exist yet is not created. Exit status 0 when every check
answers, 1 otherwise, so a script or a support request can start with it.
"""

from __future__ import annotations

import os
import platform
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from importlib import metadata
from importlib.util import find_spec
from pathlib import Path
from typing import Any

import click

from autolog.cli._common import format_option, local_store_path, tracking_uri_option
from autolog.cli._output import emit_json, emit_sections

__all__ = ["EXTRAS", "command"]

#: extra -> the modules it installs (an extra is installed when every one is importable)
EXTRAS: dict[str, tuple[str, ...]] = {
    "cli": ("click", "rich"),
    "client": ("httpx",),
    "server": ("fastapi", "uvicorn", "httpx"),
    "postgres": ("psycopg",),
    "s3": ("boto3",),
    "sklearn": ("sklearn",),
    "lightgbm": ("lightgbm",),
    "xgboost": ("xgboost",),
    "torch": ("torch", "numpy"),
    "lightning": ("lightning",),
    "transformers": ("transformers", "accelerate", "safetensors"),
    "optuna": ("optuna",),
}
# Modules whose distribution has another name (asked directly: scanning every installed
# distribution's files for the owner of a module takes seconds).
_DISTRIBUTIONS = {
    "sklearn": ("scikit-learn",),
    "xgboost": ("xgboost", "xgboost-cpu"),
    "psycopg": ("psycopg", "psycopg-binary"),
}
_FRAMEWORKS = ("sklearn", "lightgbm", "xgboost", "torch", "lightning", "transformers", "optuna")
# How long a tracking server has to answer before it is said not to.
_SERVER_TIMEOUT_S = 5.0


@dataclass
class _Report:
    """The sections to print, and the checks that did not answer."""

    sections: dict[str, list[tuple[str, str]]] = field(default_factory=dict)
    failures: list[str] = field(default_factory=list)

    def add(self, section: str, key: str, value: str) -> None:
        self.sections.setdefault(section, []).append((key, value))

    def check(self, section: str, key: str, probe: Callable[[], str]) -> None:
        """Run ``probe``: its answer, or what went wrong (a failure)."""
        from autolog.errors import AutologError

        try:
            self.add(section, key, probe())
        except (AutologError, OSError, ImportError) as exc:
            message = " ".join(str(exc).split()) or type(exc).__name__
            self.add(section, key, f"FAILS: {message}")
            self.failures.append(f"{section} {key}")


@click.command(
    epilog="""Examples:

\b
  autolog doctor
  autolog doctor --tracking-uri http://tracking.example.com:5000
  autolog doctor --format json""",
)
@format_option("table", "tsv", "json")
@tracking_uri_option
@click.pass_context
def command(ctx: click.Context, output_format: str | None, tracking_uri: str | None) -> None:
    """Show versions, the tracking store and artifact location a run here would use and
    whether they answer, the integrations and the extras installed.

    Nothing is changed (a store that does not exist yet is not created). Exit status 0 when
    every check answers, 1 otherwise.
    """
    report = _Report()
    _versions(report)
    _tracking(report, tracking_uri)
    _integrations(report)
    _extras(report)
    if (output_format or "").lower() == "json":
        emit_json(
            {
                **{title: dict(items) for title, items in report.sections.items()},
                "ok": not report.failures,
                "failures": report.failures,
            }
        )
    else:
        emit_sections(list(report.sections.items()), output_format)
        if report.failures:
            click.echo(f"autolog doctor: no answer from: {', '.join(report.failures)}", err=True)
    ctx.exit(1 if report.failures else 0)


# ---------------------------------------------------------------------------------- versions


def _version(module: str) -> str | None:
    """The installed version of the distribution that provides ``module`` (``sklearn``:
    ``scikit-learn 1.5.0``); None if the module cannot be imported (not installed, or
    blocked). Nothing is imported."""
    try:
        if find_spec(module) is None:
            return None
    except (ImportError, ValueError):
        return None
    for distribution in _DISTRIBUTIONS.get(module, (module,)):
        try:
            version = metadata.version(distribution)
        except metadata.PackageNotFoundError:
            continue
        return version if distribution == module else f"{distribution} {version}"
    return "installed (version unknown)"


def _versions(report: _Report) -> None:
    from autolog import __version__

    report.add("versions", "autolog", __version__)
    report.add("versions", "python", f"{platform.python_version()} ({sys.executable})")
    report.add("versions", "platform", platform.platform(terse=True))
    for module in _FRAMEWORKS:
        report.add("versions", module, _version(module) or "not installed")


# ---------------------------------------------------------------------------------- tracking


def _tracking(report: _Report, option: str | None) -> None:
    from autolog.client import resolve_tracking_uri
    from autolog.stores.common import redact_uri

    if option:
        source = "--tracking-uri"
    elif os.environ.get("AUTOLOG_TRACKING_URI"):
        source = "$AUTOLOG_TRACKING_URI"
    else:
        source = "default (./autolog-runs)"
    try:
        uri = resolve_tracking_uri(option)
    except Exception as exc:  # an unreadable URI: said, and the rest still checked
        report.add("tracking", "store", f"FAILS: {exc}")
        report.failures.append("tracking store")
        return
    report.add("tracking", "uri", f"{redact_uri(uri)} (from {source})")
    if uri.lower().startswith(("http://", "https://")):
        _server(report, uri)
        return
    _local(report, uri)


def _server(report: _Report, uri: str) -> None:
    """A tracking server: its health (no token needed), then what it says of itself (with the
    token a run would send)."""
    info: dict[str, Any] = {}

    def health() -> str:
        try:
            import httpx
        except ImportError as exc:
            raise ImportError(
                "http(s):// tracking URIs need httpx: pip install 'autolog[client]'"
            ) from exc
        url = f"{uri.rstrip('/')}/api/v1/health"
        try:
            answer = httpx.get(url, timeout=_SERVER_TIMEOUT_S)
        except httpx.HTTPError as exc:
            raise OSError(f"GET {url}: {type(exc).__name__}: {exc}") from None
        if answer.status_code != 200:
            raise OSError(f"GET {url} answered {answer.status_code}")
        return f"answers (GET {url}: 200)"

    def server() -> str:
        from autolog.stores.rest import RestStore

        with RestStore(uri, timeout=_SERVER_TIMEOUT_S) as store:
            info.update(store.server_info())
        tokens = "tokens required" if info.get("auth_required") else "no token needed"
        token = "set" if os.environ.get("AUTOLOG_TRACKING_TOKEN") else "not set"
        return f"autolog {info.get('version')}, {tokens} ($AUTOLOG_TRACKING_TOKEN {token})"

    report.check("tracking", "server", health)
    if "tracking server" in report.failures:
        report.add("tracking", "artifacts", "on the server (it did not answer)")
        return
    report.check("tracking", "access", server)
    where = info.get("artifact_root")
    report.add("tracking", "artifacts", f"kept by the server ({where or 'unknown'})")


def _local(report: _Report, uri: str) -> None:
    """A store on this machine (or a database server): opened if it exists, never made."""
    from autolog.errors import AutologError

    try:
        path = local_store_path(uri)
    except AutologError as exc:
        report.add("tracking", "store", f"FAILS: {exc}")
        report.failures.append("tracking store")
        return
    if path is not None and not path.exists():
        report.check("tracking", "store", lambda: _creatable(path))
        artifacts = _artifacts_beside(uri, path)
        report.add("tracking", "artifacts", f"{artifacts} (made with the store)")
        return
    roots: list[str] = []

    def store() -> str:
        from autolog.stores.base import open_store

        opened = open_store(uri)
        try:
            count = len(opened.list_experiments())
            roots.append(opened.artifact_root)
        finally:
            opened.close()
        return f"answers ({count} experiment{'s' if count != 1 else ''})"

    report.check("tracking", "store", store)
    if roots:
        report.check("tracking", "artifacts", lambda: _artifact_location(roots[0]))


def _creatable(path: Path) -> str:
    """A store not made yet: whether its first run can make it."""
    folder = path.parent if path.suffix else path
    existing = folder
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    if not existing.is_dir() or not os.access(existing, os.W_OK | os.X_OK):
        raise OSError(f"{path} cannot be created: {existing} is not a writable folder")
    return f"not created yet: the first run creates {path}"


def _artifacts_beside(uri: str, path: Path) -> str:
    from autolog.stores.common import default_artifact_root

    if uri.lower().startswith("sqlite:"):
        return (path.parent / "artifacts").resolve().as_uri()
    if uri.lower().startswith("file:") or "://" not in uri:
        return path.resolve().as_uri()
    return default_artifact_root()


def _artifact_location(root: str) -> str:
    """Where new experiments keep their files, and whether it takes them."""
    if root.lower().startswith("s3://"):
        from autolog.artifacts.s3 import check_bucket

        check_bucket(root)
        return f"{root} (the bucket answers)"
    from autolog.stores.common import local_path

    folder = local_path(root)
    if folder.exists():
        if not os.access(folder, os.W_OK | os.X_OK):
            raise OSError(f"{root}: the folder is not writable")
        return f"{root} (writable)"
    _creatable(folder)
    return f"{root} (not made yet; its parent folder is writable)"


# ------------------------------------------------------------------------ integrations, extras


def _integrations(report: _Report) -> None:
    """Every integration of the entry-point group: ready (its framework is installed, so
    autolog() and `autolog run` record it), without its framework, or broken."""
    from autolog.autologging import ENTRY_POINT_GROUP

    for entry in sorted(metadata.entry_points(group=ENTRY_POINT_GROUP), key=lambda e: e.name):
        try:
            integration = entry.load()
            framework = str(integration.framework)
        except Exception as exc:  # a third party's broken entry point: said, not raised
            report.add("integrations", entry.name, f"FAILS: {entry.value}: {exc}")
            report.failures.append(f"integration {entry.name}")
            continue
        version = _version(framework)
        if version is None:
            report.add("integrations", entry.name, f"available ({framework} not installed)")
        else:
            named = version if " " in version else f"{framework} {version}"
            report.add("integrations", entry.name, f"active ({named})")


def _extras(report: _Report) -> None:
    for extra, modules in EXTRAS.items():
        missing = [m for m in modules if _version(m) is None]
        if missing:
            shown = f"no ({', '.join(missing)} missing: pip install 'autolog[{extra}]')"
        else:
            shown = "yes"
        report.add("extras", extra, shown)
