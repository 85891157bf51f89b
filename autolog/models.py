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

import functools
import hashlib
import json
import platform
import re
import sys
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

from autolog.artifacts import ArtifactRepository
from autolog.errors import (
    IncompleteModelError,
    IntegrationError,
    InvalidInputError,
    InvalidURIError,
    InvalidValueError,
    ModelDependencyError,
    ModelIntegrityError,
    NotFoundError,
    issue_warning,
)
from autolog.stores.base import Store
from autolog.validation import check_artifact_path

__all__ = [
    "FLAVOR_GROUP",
    "MODEL_META",
    "Flavor",
    "PickleFlavor",
    "canonical_name",
    "get_flavor",
    "register_flavor",
]

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
    model: object,
    flavor_name: str,
    extra: Mapping[str, Any] | None,
    input_example: Any = None,
    signature: Mapping[str, Any] | None = None,
) -> tuple[dict[str, bytes], dict[str, Any]]:
    """Serialise ``model`` now (the snapshot) and describe it, with its signature: as given,
    else where ``input_example`` (training data) shows it. The example's first rows are
    copied now and written as JSON by ``finish``, with the hashes, on the writer's thread."""
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
        "libraries": _library_versions(cls.__module__, flavor.name),
        "created_time": time.time_ns() // 1_000_000,
    }
    if extra:
        try:
            json.dumps(dict(extra))
        except (TypeError, ValueError) as exc:
            raise InvalidInputError(f"model metadata must be JSON-serialisable: {exc}") from None
        meta["metadata"] = dict(extra)
    if signature is not None:
        meta["signature"] = _checked_signature(signature)
    elif input_example is not None:
        found = _signature(flavor, model, input_example)
        if found is not None:
            meta["signature"] = found
    if input_example is not None:
        from autolog import signatures

        meta[_EXAMPLE_ROWS] = signatures.rows_of(input_example)
    if meta.get("signature", {}).get("inputs", {}).get("type") == "dataframe":
        meta["libraries"].update(_library_versions("pandas", "pandas"))  # to predict
    return files, meta


#: where ``prepare`` leaves the example's rows for ``finish`` (never written)
_EXAMPLE_ROWS = "_example_rows"


def finish(meta: Mapping[str, Any]) -> dict[str, Any]:
    """The metadata ``prepare`` made, completed on the writer's thread: the input example as
    JSON, and the requirements."""
    from autolog import signatures

    done = {k: v for k, v in meta.items() if k != _EXAMPLE_ROWS}
    rows = meta.get(_EXAMPLE_ROWS)
    if rows is not None:
        example = signatures.example_of(rows)
        if example is not None:
            done["input_example"] = example
    return {**done, **requirements(done)}


def _checked_signature(signature: Mapping[str, Any]) -> dict[str, Any]:
    """A signature given to ``log_model``: JSON with the parts a signature has."""
    if not isinstance(signature, Mapping) or not isinstance(signature.get("inputs"), Mapping):
        raise InvalidInputError(
            f"a signature is {{'inputs': {{...}}, 'outputs': {{...}}}}, not {signature!r}"
        )
    try:
        return dict(json.loads(json.dumps(dict(signature))))
    except (TypeError, ValueError) as exc:
        raise InvalidInputError(f"a signature must be JSON-serialisable: {exc}") from None


def _signature(flavor: Flavor, model: object, data: Any) -> dict[str, Any] | None:
    """The signature ``data`` shows: its inputs, and the outputs of a prediction on its
    first rows where the model makes one (else none is recorded: a signature never claims
    what was not seen)."""
    from autolog import signatures

    rows = signatures.head(data)
    inputs = signatures.describe(rows)
    if inputs is None:
        return None
    signature: dict[str, Any] = {"inputs": inputs}
    try:
        outputs = signatures.describe(predict(flavor, model, signatures.as_input(rows, inputs)))
    except Exception as exc:  # a model that does not predict on its training rows as given
        _logger().debug("autolog: no output signature for %s: %r", type(model).__name__, exc)
        outputs = None
    if outputs is not None:
        signature["outputs"] = outputs
    return signature


def predict(flavor: Flavor, model: object, data: Any) -> Any:
    """``model``'s prediction on ``data`` (already in the form its signature takes): the
    flavor's ``predict(model, data)`` where it has one, else the model's ``predict``, else
    the model called."""
    method = getattr(flavor, "predict", None)
    if callable(method):
        return method(model, data)
    predict_method = getattr(model, "predict", None)
    if callable(predict_method):
        return predict_method(data)
    if callable(model):
        return model(data)
    raise InvalidInputError(
        f"a {type(model).__name__} model (flavor {flavor.name!r}) has no predict() and cannot "
        "be called: it makes no predictions"
    )


def requirements(meta: Mapping[str, Any]) -> dict[str, Any]:
    """What loading the model needs, as installed now (computed on the writer's thread, once
    per set of libraries in a process): the distributions of the libraries the model was made
    with, and what they need, pinned; which distribution provides each library."""
    return _requirements(tuple(sorted({*mapping(meta, "libraries"), "autolog"})))


@functools.lru_cache(maxsize=64)
def _requirements(modules: tuple[str, ...]) -> dict[str, Any]:
    from importlib.metadata import PackageNotFoundError, distribution

    provided = {}
    for module in modules:
        name = _distribution_of(module)
        if name is not None:
            provided[module] = name
    pinned: dict[str, str] = {}
    pending = list(provided.values())
    while pending:
        name = pending.pop()
        key = canonical_name(name)
        if key in pinned:
            continue
        try:
            found = distribution(name)
        except PackageNotFoundError:
            continue
        pinned[key] = f"{found.metadata['Name']}=={found.version}"
        pending.extend(_needed(found.requires or []))
    return {
        "requirements": sorted(pinned.values(), key=str.lower),
        "distributions": provided,
    }


def _distribution_of(module: str) -> str | None:
    """The installed distribution that provides ``module``: by the names it usually has
    (a lookup each), else from every distribution's file list (once per process: slow)."""
    from importlib.metadata import PackageNotFoundError, distribution

    for name in (*_KNOWN_DISTRIBUTIONS.get(module, ()), module):
        try:
            return str(distribution(name).metadata["Name"])
        except PackageNotFoundError:
            continue
    names = _module_distributions().get(module)
    return names[0] if names else None


@functools.cache
def _module_distributions() -> Mapping[str, list[str]]:
    from importlib.metadata import packages_distributions

    return packages_distributions()


def _needed(requires: list[str]) -> list[str]:
    """The names of a distribution's requirements that are not behind an extra."""
    names = []
    for requirement in requires:
        spec, _, marker = requirement.partition(";")
        if "extra" in marker:
            continue
        name = re.split(r"[\s<>=!~\[(@]", spec.strip(), maxsplit=1)[0]
        if name:
            names.append(name)
    return names


def canonical_name(name: str) -> str:
    """A distribution's name as PEP 503 compares them ("Scikit_Learn" is "scikit-learn")."""
    return re.sub(r"[-_.]+", "-", name.strip()).lower()


def _logger() -> Any:
    import logging

    return logging.getLogger(__name__)


def _library_versions(module: str, flavor: str) -> dict[str, str]:
    """The versions of the libraries a model of a class of ``module`` saved by ``flavor``
    needs: the class's package, the flavor's (torch for any torch module), cloudpickle and
    NumPy, each where it is imported and says its version."""
    versions = {}
    for name in {module.partition(".")[0], flavor, "cloudpickle", "numpy"}:
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
    # a missing file raises the repository's NotFoundError, which says where it was expected
    # (a store moved without its artifacts, a file deleted): nothing was tampered with
    data = repo.read_bytes(path)
    actual = hashlib.sha256(data).hexdigest()
    if actual != expected:
        raise ModelIntegrityError(path, expected, actual)
    return data


def verified(
    store: Store, repo: ArtifactRepository, run_id: str, path: str
) -> tuple[dict[str, Any], Callable[[], dict[str, bytes]]]:
    """The metadata of the model ``log_model`` logged at ``path``, checked against its record
    in the store, and a function that reads and checks its files (nothing is unpickled)."""
    from autolog.tracking import incomplete_model

    uri = f"runs:/{run_id}/{path}"
    recorded = store.get_model_files(run_id, path)
    if recorded is None:
        raise NotFoundError("model", uri)
    if incomplete_model(path, recorded):
        raise IncompleteModelError(uri)
    meta = _meta(_verified(repo, f"{path}/{MODEL_META}", recorded), uri)

    def files() -> dict[str, bytes]:
        found = {}
        for name, file_digest in meta.get("files", {}).items():
            file_path = f"{path}/{check_artifact_path(name)}"
            if recorded.get(file_path) != file_digest:
                # the metadata written with the model and the store disagree: a file replaced
                raise ModelIntegrityError(file_path, recorded.get(file_path), file_digest)
            found[name] = _verified(repo, file_path, recorded)
        return found

    return meta, files


def load(store: Store, repo: ArtifactRepository, run_id: str, path: str) -> object:
    """Verify every file of the model ``log_model`` logged at ``path`` against its record in
    the store, then load it."""
    meta, files = verified(store, repo, run_id, path)
    return load_verified(meta, files, f"runs:/{run_id}/{path}")


def local_folder(model_uri: str) -> Path | None:
    """The folder a model URI names on this machine (a path or ``file://``), None for a model
    of the store (``runs:/``, ``models:/``).

    Raises:
        InvalidURIError: another scheme, a ``file:`` URI of another host, or a NUL.
    """
    if model_uri.startswith(("runs:/", "models:/")):
        return None
    if model_uri.startswith("file:"):
        from urllib.parse import unquote, urlparse

        parsed = urlparse(model_uri)
        if parsed.netloc not in ("", "localhost"):
            raise InvalidURIError(model_uri, "a file: model URI names a folder on this machine")
        return Path(unquote(parsed.path))
    if "://" in model_uri or model_uri.startswith(("runs:", "models:")) or "\x00" in model_uri:
        raise InvalidURIError(
            model_uri,
            "a model is runs:/<run_id>/<path>, models:/<name>/<version>, models:/<name>@<alias>,"
            " models:/<name>/latest or a local folder",
        )
    return Path(model_uri).expanduser()


def folder_verified(folder: Path) -> tuple[dict[str, Any], Callable[[], dict[str, bytes]]]:
    """The metadata of the model in a local ``folder`` (an exported model: its
    ``autolog-model.json`` names every file's SHA-256), and a function that reads and checks
    its files against it."""
    meta_path = folder / MODEL_META
    try:
        data = meta_path.read_bytes()
    except (FileNotFoundError, NotADirectoryError, IsADirectoryError):
        raise NotFoundError("model folder (with autolog-model.json)", str(folder)) from None
    except OSError as exc:
        raise NotFoundError(
            "model folder (with a readable autolog-model.json)", f"{folder} ({exc.strerror})"
        ) from None
    meta = _meta(data, str(folder))

    def files() -> dict[str, bytes]:
        found = {}
        for name, file_digest in meta.get("files", {}).items():
            file_path = folder / check_artifact_path(name)
            try:
                data = file_path.read_bytes()
            except (FileNotFoundError, NotADirectoryError, IsADirectoryError):
                raise NotFoundError("model file", str(file_path)) from None
            actual = hashlib.sha256(data).hexdigest()
            if actual != file_digest:
                raise ModelIntegrityError(str(file_path), file_digest, actual)
            found[name] = data
        return found

    return meta, files


def load_verified(
    meta: Mapping[str, Any], files: Callable[[], dict[str, bytes]], uri: str
) -> object:
    """Load a model whose metadata was verified: its libraries are checked first (a missing
    one is named with the line that installs it), then its files are read, checked, and
    handed to its flavor."""
    check_libraries(meta, uri)
    flavor = get_flavor(meta["flavor"])
    verified_files = files()
    try:
        return flavor.load(verified_files, meta)
    except ModuleNotFoundError as exc:
        raise ModelDependencyError(uri, [exc.name or str(exc)], _install_line(meta)) from exc


def _meta(data: bytes, uri: str) -> dict[str, Any]:
    try:
        meta = json.loads(data)
    except ValueError:
        meta = None
    if not isinstance(meta, dict) or not isinstance(meta.get("flavor"), str):
        raise InvalidInputError(f"{uri}: {MODEL_META} is not a model's metadata")
    return meta


def check_libraries(meta: Mapping[str, Any], uri: str) -> None:
    """Refuse a model whose libraries are not installed here, naming what installs them; warn
    once where a library's major or minor version differs from the one it was made with."""
    import importlib.util
    from importlib.metadata import PackageNotFoundError, version

    libraries = meta.get("libraries")
    if not isinstance(libraries, dict):
        return
    missing = [m for m in sorted(libraries) if importlib.util.find_spec(m) is None]
    if missing:
        raise ModelDependencyError(uri, missing, _install_line(meta, missing))
    distributions = mapping(meta, "distributions")
    changed = []
    for module, made_with in sorted(libraries.items()):
        try:
            installed = version(str(distributions.get(module, module)))
        except (PackageNotFoundError, ValueError):
            continue
        if _major_minor(installed) != _major_minor(str(made_with)):
            changed.append(f"{module} {made_with} (installed: {installed})")
    if changed:
        issue_warning(
            f"model {uri} was made with {', '.join(changed)}: it may load or predict "
            "differently here"
        )


def mapping(meta: Mapping[str, Any], key: str) -> dict[str, Any]:
    """``meta[key]`` where it is a JSON object (metadata files are read, not trusted)."""
    found = meta.get(key)
    return found if isinstance(found, dict) else {}


def _major_minor(text: str) -> tuple[str, ...]:
    return tuple(text.split(".")[:2])


def _install_line(meta: Mapping[str, Any], modules: list[str] | None = None) -> str:
    """``pip install ...`` for ``modules`` (all the model's libraries by default), pinned as
    the model recorded them."""
    distributions = mapping(meta, "distributions")
    pins = {
        canonical_name(r.partition("==")[0]): r
        for r in meta.get("requirements", [])
        if isinstance(r, str)
    }
    libraries = mapping(meta, "libraries")
    wanted = []
    for module in modules if modules is not None else sorted(libraries):
        name = str(distributions.get(module, (*_KNOWN_DISTRIBUTIONS.get(module, ()), module)[0]))
        pin = pins.get(canonical_name(name))
        made_with = libraries.get(module)
        wanted.append(pin or (f"{name}=={made_with}" if made_with else name))
    return "pip install " + " ".join(f"'{w}'" for w in wanted)


# the distributions that usually provide an import name that is not their own
_KNOWN_DISTRIBUTIONS = {
    "sklearn": ("scikit-learn",),
    "xgboost": ("xgboost", "xgboost-cpu"),
    "PIL": ("pillow",),
    "cv2": ("opencv-python", "opencv-python-headless"),
    "yaml": ("PyYAML",),
}
