"""Model folders: flavors that save and load models, metadata, and integrity checks.

A logged model is a folder of artifacts::

    <name>/model.pkl            the object, written with cloudpickle (the "pickle" flavor)
    <name>/...                  any files a flavor adds (LightGBM text, torch state dict, ...)
    <name>/autolog-model.json   flavor, library and Python versions, created time, and the
                                SHA-256 of every file above

Flavors other than "pickle" come from the ``autolog.flavors`` entry-point group (the built-in
integrations' as well as third parties'), loaded on first use, so ``load_model`` works in a
process that never called ``autolog()``; ``register_flavor`` adds one at run time.

The SHA-256 of every file, the metadata file included, is also recorded in the tracking store
when the model is logged. ``load`` reads each file once, checks its digest against the store and
only then hands the verified bytes to the flavor: nothing is unpickled before that.
"""

from __future__ import annotations

import hashlib
import json
import platform
import sys
import time
from collections.abc import Callable, Mapping
from typing import Any, Protocol, runtime_checkable

from autolog.artifacts import ArtifactRepository
from autolog.errors import (
    IncompleteModelError,
    IntegrationError,
    InvalidInputError,
    InvalidValueError,
    ModelIntegrityError,
    NotFoundError,
)
from autolog.stores.base import Store
from autolog.validation import check_artifact_path

__all__ = ["FLAVOR_GROUP", "MODEL_META", "Flavor", "PickleFlavor", "get_flavor", "register_flavor"]

MODEL_META = "autolog-model.json"
#: the entry-point group that names model flavors: ``<flavor name> = "module:FLAVOR_OBJECT"``
FLAVOR_GROUP = "autolog.flavors"
FORMAT_VERSION = 1


@runtime_checkable
class Flavor(Protocol):
    """How one kind of model is written to files and read back.

    ``save`` returns the files of the model folder (relative names -> bytes); ``load`` gets the
    same files back, already verified, plus the metadata that ``save``'s caller wrote.
    Integrations declare theirs in the ``autolog.flavors`` entry-point group.
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
    """Make ``flavor`` available to ``log_model(..., flavor=name)`` and to ``load_model`` in
    this process (a flavor declared as an entry point is found without it)."""
    name = getattr(flavor, "name", None)
    if not isinstance(name, str) or not name.isidentifier():
        raise IntegrationError(repr(flavor), "a flavor needs an identifier as its name")
    for method in ("save", "load"):
        if not callable(getattr(flavor, method, None)):
            raise IntegrationError(name, f"flavor has no {method}() method")
    if name in _flavors and not replace and _flavors[name] is not flavor:
        raise IntegrationError(name, "a flavor with this name is already registered")
    _flavors[name] = flavor


def get_flavor(name: str) -> Flavor:
    """The flavor ``name``: registered, else loaded from its entry point (once).

    Only installed entry points are loaded: a model file names a flavor, never code to import.
    """
    flavor = _flavors.get(name)
    if flavor is not None:
        return flavor
    from importlib.metadata import entry_points

    for entry in entry_points(group=FLAVOR_GROUP, name=name):
        try:
            loaded = entry.load()
        except Exception as exc:
            raise IntegrationError(
                name, f"flavor entry point {entry.value!r} failed: {exc}"
            ) from exc
        if getattr(loaded, "name", None) != name:
            raise IntegrationError(
                name, f"flavor entry point {entry.value!r} names {getattr(loaded, 'name', None)!r}"
            )
        if name not in _flavors:  # another thread may have loaded it meanwhile
            register_flavor(loaded)
        return _flavors[name]
    raise NotFoundError("model flavor", name)


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


def digest(files: Mapping[str, bytes], meta: Mapping[str, Any]) -> tuple[dict[str, str], bytes]:
    """The SHA-256 of every file of a prepared model, the metadata file included, and the
    metadata file's bytes."""
    hashes = {name: hashlib.sha256(data).hexdigest() for name, data in files.items()}
    meta_bytes = json.dumps({**meta, "files": hashes}, indent=2, sort_keys=True).encode()
    return {**hashes, MODEL_META: hashlib.sha256(meta_bytes).hexdigest()}, meta_bytes


def write(
    repo: ArtifactRepository,
    path: str,
    files: Mapping[str, bytes],
    meta_bytes: bytes,
    hashes: Mapping[str, str],
    same: Callable[[str, str], bool] | None = None,
) -> None:
    """Write a prepared model folder (on the writer's file thread: before its record for a
    first model of a run, after it where the record decides whether it may be replaced).
    ``same(path, sha256)`` may put a file in place without writing it: True where it did
    (a hard link to the run's file of the same bytes)."""
    for name, data in files.items():
        file_path = f"{path}/{name}"
        if same is None or not same(file_path, hashes[name]):
            repo.put_bytes(file_path, data, hashes[name])
    repo.put_bytes(f"{path}/{MODEL_META}", meta_bytes, hashes[MODEL_META])


def _verified(repo: ArtifactRepository, path: str, recorded: Mapping[str, str]) -> bytes:
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


def load(store: Store, repo: ArtifactRepository, run_id: str, path: str) -> object:
    """Verify every file of the model ``log_model`` logged at ``path`` against its record in
    the store, then load it."""
    from autolog.tracking import incomplete_model

    recorded = store.get_model_files(run_id, path)
    if recorded is None:
        raise NotFoundError("model", f"runs:/{run_id}/{path}")
    if incomplete_model(path, recorded):
        raise IncompleteModelError(f"runs:/{run_id}/{path}")
    meta_path = f"{path}/{MODEL_META}"
    meta = json.loads(_verified(repo, meta_path, recorded))
    files = {}
    for name, file_digest in meta.get("files", {}).items():
        file_path = f"{path}/{check_artifact_path(name)}"
        if recorded.get(file_path) != file_digest:
            # the metadata written with the model and the store disagree: a file was replaced
            raise ModelIntegrityError(file_path, recorded.get(file_path), file_digest)
        files[name] = _verified(repo, file_path, recorded)
    flavor = get_flavor(meta["flavor"])
    return flavor.load(files, meta)
