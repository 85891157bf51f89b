"""Model folders: flavors that save and load models, metadata, and integrity checks.

A logged model is a folder of artifacts::

    <name>/model.pkl            the object, written with cloudpickle (the "pickle" flavor)
    <name>/...                  any files a flavor adds (LightGBM text, torch state dict, ...)
    <name>/autolog-model.json   flavor, library and Python versions, created time, and the
                                SHA-256 of every file above

The SHA-256 of every file, the metadata file included, is also recorded in the tracking store
when the model is logged. ``load`` reads each file once, checks its digest against the store and
only then hands the verified bytes to the flavor: nothing is unpickled before that.
"""

from __future__ import annotations

import hashlib
import importlib
import json
import platform
import sys
import time
from collections.abc import Mapping
from typing import Any, Protocol, runtime_checkable

from autolog.artifacts.local import LocalArtifactRepository
from autolog.errors import (
    IntegrationError,
    InvalidInputError,
    InvalidValueError,
    ModelIntegrityError,
    NotFoundError,
)
from autolog.stores.base import Store
from autolog.validation import check_artifact_path

__all__ = ["MODEL_META", "Flavor", "PickleFlavor", "get_flavor", "register_flavor"]

MODEL_META = "autolog-model.json"
FORMAT_VERSION = 1


@runtime_checkable
class Flavor(Protocol):
    """How one kind of model is written to files and read back.

    ``save`` returns the files of the model folder (relative names -> bytes); ``load`` gets the
    same files back, already verified, plus the metadata that ``save``'s caller wrote.
    Integrations register theirs with ``register_flavor``.
    """

    name: str

    def save(self, model: object) -> dict[str, bytes]: ...

    def load(self, files: Mapping[str, bytes], meta: Mapping[str, Any]) -> object: ...


class PickleFlavor:
    """Any picklable object, through cloudpickle."""

    name = "pickle"

    def save(self, model: object) -> dict[str, bytes]:
        import cloudpickle

        return {"model.pkl": cloudpickle.dumps(model)}

    def load(self, files: Mapping[str, bytes], meta: Mapping[str, Any]) -> object:
        import cloudpickle

        return cloudpickle.loads(files["model.pkl"])


_flavors: dict[str, Flavor] = {"pickle": PickleFlavor()}


def register_flavor(flavor: Flavor, *, replace: bool = False) -> None:
    """Make ``flavor`` available to ``log_model(..., flavor=name)`` and to ``load_model``."""
    name = getattr(flavor, "name", None)
    if not isinstance(name, str) or not name.isidentifier():
        raise IntegrationError(repr(flavor), "a flavor needs an identifier as its name")
    for method in ("save", "load"):
        if not callable(getattr(flavor, method, None)):
            raise IntegrationError(name, f"flavor has no {method}() method")
    if name in _flavors and not replace and _flavors[name] is not flavor:
        raise IntegrationError(name, "a flavor with this name is already registered")
    _flavors[name] = flavor


# Flavors of the built-in integrations, imported on first use (log_model or load_model) so
# that neither autolog() nor the framework's import has to come first.
_BUILTIN_FLAVOR_MODULES = {
    "lightgbm": "autolog.integrations.lightgbm",
    "torch": "autolog.integrations.torch",
}


def get_flavor(name: str, loader_module: str | None = None) -> Flavor:
    module = _BUILTIN_FLAVOR_MODULES.get(name, loader_module)
    # Only our own integrations are imported on behalf of a model file.
    if name not in _flavors and module and module.startswith("autolog."):
        importlib.import_module(module)
    try:
        return _flavors[name]
    except KeyError:
        raise NotFoundError("model flavor", name) from None


def prepare(
    model: object, flavor_name: str, extra: Mapping[str, Any] | None
) -> tuple[dict[str, bytes], dict[str, Any]]:
    """Serialise ``model`` now (the snapshot) and describe it; hashing happens when written."""
    flavor = get_flavor(flavor_name)
    try:
        files = flavor.save(model)
    except Exception as exc:
        raise InvalidValueError(
            "model", model, f"the {flavor.name} flavor cannot save it ({type(exc).__name__}: {exc})"
        ) from exc
    if MODEL_META in files:
        raise IntegrationError(flavor_name, f"flavor files may not be named {MODEL_META}")
    for name in files:
        check_artifact_path(name)
    cls = type(model)
    meta: dict[str, Any] = {
        "format_version": FORMAT_VERSION,
        "flavor": flavor.name,
        "loader_module": type(flavor).__module__,
        "model_class": f"{cls.__module__}.{cls.__qualname__}",
        "python_version": platform.python_version(),
        "libraries": _library_versions(cls.__module__),
        "created_time": time.time_ns() // 1_000_000,
    }
    if extra:
        try:
            json.dumps(dict(extra))
        except (TypeError, ValueError) as exc:
            raise InvalidInputError(f"model metadata must be JSON-serialisable: {exc}") from None
        meta["metadata"] = dict(extra)
    return files, meta


def _library_versions(module: str) -> dict[str, str]:
    versions = {}
    for name in {module.partition(".")[0], "cloudpickle", "numpy"}:
        mod = sys.modules.get(name)
        version = getattr(mod, "__version__", None)
        if isinstance(version, str):
            versions[name] = version
    return versions


def write(
    store: Store,
    repo: LocalArtifactRepository,
    run_id: str,
    path: str,
    files: Mapping[str, bytes],
    meta: Mapping[str, Any],
) -> None:
    """Write a prepared model folder and record every file's SHA-256 (writer thread)."""
    hashes = {name: hashlib.sha256(data).hexdigest() for name, data in files.items()}
    meta_bytes = json.dumps({**meta, "files": hashes}, indent=2, sort_keys=True).encode()
    recorded = {}
    for name, data in files.items():
        recorded[f"{path}/{name}"] = repo.put_bytes(f"{path}/{name}", data, hashes[name])
    recorded[f"{path}/{MODEL_META}"] = repo.put_bytes(f"{path}/{MODEL_META}", meta_bytes)
    store.record_artifact_hashes(run_id, recorded)


def _verified(repo: LocalArtifactRepository, path: str, recorded: Mapping[str, str]) -> bytes:
    expected = recorded.get(path)
    if expected is None:
        raise ModelIntegrityError(path, None, None)
    try:
        data = repo.read_bytes(path)
    except NotFoundError:
        raise ModelIntegrityError(path, expected, None) from None
    actual = hashlib.sha256(data).hexdigest()
    if actual != expected:
        raise ModelIntegrityError(path, expected, actual)
    return data


def load(store: Store, repo: LocalArtifactRepository, run_id: str, path: str) -> object:
    """Verify every file of the model folder at ``path`` against the store, then load it."""
    recorded = store.get_artifact_hashes(run_id, path)
    meta_path = f"{path}/{MODEL_META}"
    if meta_path not in recorded:
        if not recorded:
            raise NotFoundError("model", f"runs:/{run_id}/{path}")
        raise ModelIntegrityError(meta_path, None, None)
    meta = json.loads(_verified(repo, meta_path, recorded))
    files = {}
    for name, digest in meta.get("files", {}).items():
        file_path = f"{path}/{check_artifact_path(name)}"
        if recorded.get(file_path) != digest:
            # the metadata written with the model and the store disagree: a file was replaced
            raise ModelIntegrityError(file_path, recorded.get(file_path), digest)
        files[name] = _verified(repo, file_path, recorded)
    flavor = get_flavor(meta["flavor"], meta.get("loader_module"))
    return flavor.load(files, meta)
