"""MLflow's models and model registry, read without mlflow and imported as autolog models.

MLflow keeps a model as a folder with an ``MLmodel`` file (YAML naming its flavors): in a
run's artifacts (``log_model`` before MLflow 3, ``save_model`` then ``log_artifacts``), or,
from MLflow 3 on, as a "logged model" beside the runs (``<experiment>/models/<model_id>/
artifacts``, listed in the ``logged_models`` table), tied to the run that made it. Its registry
is the ``registered_models``, ``model_versions``, their tags and the aliases tables.

A model folder whose flavor autolog can load is imported whole into its run (MLflow's files
kept, so the folder stays an MLflow model too), with an ``autolog-model.json`` naming every
file's SHA-256, recorded in the store as ``log_model`` records it: the hashes are taken from
the bytes at import, and nothing is unpickled (nor loaded: only MLmodel and the first bytes
of a model file are read). The flavors, as MLflow writes them (``mlflow/<flavor>/__init__.py``'s
``save_model``) and as autolog reads them:

- sklearn, pickled with cloudpickle or pickle: autolog's "pickle" flavor, ``model.pkl``;
- lightgbm: a Booster's model text (``model.lgb``, autolog's ``model.txt``, loaded without
  unpickling) or a scikit-learn API model pickled (``model.pkl``): autolog's "lightgbm";
- xgboost: a Booster or a scikit-learn API model in XGBoost's UBJSON or JSON model format
  (``model.ubj`` / ``model.json``; an estimator is its class, named, loading that file): autolog's
  "xgboost", never unpickled;
- pytorch, pickled: the module ``torch.save`` wrote whole (``data/model.pth``, autolog's
  ``model.pth``): autolog's "torch".

Left out, and why said in the summary: skops files, pyfunc models (their own Python code),
PyTorch's pt2 (``torch.export``, MLflow 3's default) and TorchScript, XGBoost's legacy binary
format, and flavors autolog has none of.

A model's MLflow signature (``signature:`` in MLmodel: its ``inputs`` and ``outputs``, JSON
lists of column or tensor specs) and input example (``input_example.json``, as
``saved_input_example_info`` says) become autolog's (``autolog.signatures``), so that its
predictor checks input as a native model's does: named columns with their types (an optional
one may be absent), one tensor's dtype and shape, and the example's first rows. What autolog's
format cannot say (named tensors, an Array, Object or Map column's type, the params schema, an
example's params) is left out and said in the summary, never guessed.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import os
import re
import time
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple

from autolog.cli._mlflow import (
    FileSource,
    Source,
    SqliteSource,
    int_of,
    local_path,
    read_meta,
    read_tree,
    scalar_of,
)
from autolog.errors import InvalidInputError
from autolog.models import canonical_name

if TYPE_CHECKING:
    from autolog.artifacts import ArtifactRepository
    from autolog.cli._mlflow import MlflowRun
    from autolog.entities import ModelVersion
    from autolog.stores.base import Store

__all__ = ["ModelCounts", "import_registry", "needs_model", "run_models", "write_model"]

MLMODEL = "MLmodel"
_PICKLES = ("cloudpickle", "pickle")
_RUN_PATH = re.compile(r"/([0-9a-f]{32})/artifacts/(.+?)/?$")


class LoggedModel(NamedTuple):
    """An MLflow 3 logged model: made by run ``run_id`` (None: by no run)."""

    model_id: str
    name: str
    run_id: str | None
    folder: Path | None


class MlflowVersion(NamedTuple):
    version: int
    source: str
    storage_location: str
    description: str | None
    tags: dict[str, str]


class MlflowRegisteredModel(NamedTuple):
    name: str
    description: str | None
    tags: dict[str, str]
    aliases: dict[str, int]
    versions: list[MlflowVersion]


class Planned(NamedTuple):
    """A model folder of a run: where it goes in the run, and its conversion or why not."""

    path: str
    folder: Path
    #: MLflow 3's id of a logged model; None for a folder of the run's artifacts
    model_id: str | None
    meta: Conversion | None
    #: why it is not imported (``meta`` None), or what of it is not (its signature's parts)
    reason: str | None


class ModelCounts:
    """What the model part of an import did, and what it left out and why."""

    def __init__(self) -> None:
        self.models = 0
        self.registered = 0
        self.versions = 0
        self.aliases = 0
        self.tags = 0
        self.descriptions = 0
        self.versions_present = 0
        self.left_out: list[str] = []

    def parts(self) -> list[str]:
        parts = []
        if self.models or self.versions or self.versions_present:
            parts.append(
                f"{self.models} models, {self.versions} model versions of {self.registered} "
                f"new registered models, {self.aliases} aliases, {self.tags} model tags, "
                f"{self.descriptions} model descriptions"
            )
        if self.versions_present:
            parts.append(f"{self.versions_present} model versions were imported before")
        if self.left_out:
            parts.append(f"left out {len(self.left_out)}: " + "; ".join(self.left_out))
        return parts


# ------------------------------------------------------------------------------- reading


def logged_models(reader: Source) -> list[LoggedModel]:
    """MLflow 3's logged models of ``reader`` (none in older stores), oldest first."""
    if isinstance(reader, SqliteSource):
        rows = _sqlite_rows(
            reader,
            "logged_models",
            "SELECT model_id, name, source_run_id, artifact_location FROM logged_models"
            " WHERE lifecycle_stage IS NULL OR lifecycle_stage != 'deleted'"
            " ORDER BY creation_timestamp_ms, model_id",
        )
    elif isinstance(reader, FileSource):
        rows = []
        for meta_path in sorted(reader.location.glob("*/models/*/meta.yaml")):
            meta = read_meta(meta_path)
            if meta.get("lifecycle_stage") != "deleted":
                found = (meta.get(k) for k in ("model_id", "name", "source_run_id"))
                rows.append((*found, meta.get("artifact_location") or ""))
    else:
        return []
    return [
        LoggedModel(str(i), str(name), run_id or None, _logged_folder(reader, str(i), str(where)))
        for i, name, run_id, where in rows
    ]


def _logged_folder(reader: Source, model_id: str, location: str) -> Path | None:
    """Where MLflow recorded the model's files, or, for a store copied from elsewhere, its
    ``models/<model_id>/artifacts`` folder found again beside the store."""
    recorded = local_path(location)
    if recorded is not None and recorded.is_dir():
        return recorded
    base = reader.location if reader.location.is_dir() else reader.location.parent
    for found in sorted(base.glob(f"**/models/{model_id}/artifacts")):
        if found.is_dir():
            return found
    return None


def registry(reader: Source) -> list[MlflowRegisteredModel]:
    """The registered models of an MLflow store, by name, with their versions."""
    if isinstance(reader, FileSource):
        return _file_registry(reader.location / "models")
    if not isinstance(reader, SqliteSource):
        return []
    models = _sqlite_rows(
        reader, "registered_models", "SELECT name, description FROM registered_models ORDER BY name"
    )
    tags = _grouped(reader, "registered_model_tags", "SELECT name, key, value FROM {}")
    version_tags = _grouped(
        reader, "model_version_tags", "SELECT name || '/' || version, key, value FROM {}"
    )
    aliases: dict[str, dict[str, int]] = {}
    for name, alias, version in _sqlite_rows(
        reader, "registered_model_aliases", "SELECT name, alias, version FROM {}"
    ):
        aliases.setdefault(name, {})[alias] = int(version)
    versions: dict[str, list[MlflowVersion]] = {}
    for name, number, source, location, description in _sqlite_rows(
        reader,
        "model_versions",
        "SELECT name, version, source, storage_location, description FROM model_versions"
        " ORDER BY name, version",
    ):
        found = version_tags.get(f"{name}/{number}", {})
        version = MlflowVersion(int(number), source or "", location or "", description, found)
        versions.setdefault(name, []).append(version)
    return [
        MlflowRegisteredModel(
            name, description, tags.get(name, {}), aliases.get(name, {}), versions.get(name, [])
        )
        for name, description in models
    ]


def _file_registry(base: Path) -> list[MlflowRegisteredModel]:
    """The registry of an ``mlruns`` folder: ``models/<name>/meta.yaml``, its ``tags`` and
    ``aliases`` folders (a file each), and a ``version-<n>`` folder per version, as a model's."""
    found = []
    for meta_path in sorted(base.glob("*/meta.yaml")):
        folder = meta_path.parent
        meta = read_meta(meta_path)
        aliases = read_tree(folder / "aliases")
        versions = []
        for version_meta in folder.glob("version-*/meta.yaml"):
            version = read_meta(version_meta)
            number = int_of(version.get("version"))
            if number is None:
                continue
            versions.append(
                MlflowVersion(
                    number,
                    str(version.get("source") or ""),
                    str(version.get("storage_location") or ""),
                    _text(version.get("description")),
                    read_tree(version_meta.parent / "tags"),
                )
            )
        found.append(
            MlflowRegisteredModel(
                str(meta.get("name") or folder.name),
                _text(meta.get("description")),
                read_tree(folder / "tags"),
                {k: n for k, v in aliases.items() if (n := int_of(v.strip())) is not None},
                sorted(versions),
            )
        )
    return found


def _text(value: Any) -> str | None:
    return None if value is None else str(value)


def _sqlite_rows(reader: SqliteSource, table: str, query: str) -> list[tuple[Any, ...]]:
    """The rows of ``query`` over ``table`` ("{}" in it); none where the store predates the
    table (an older MLflow)."""
    return reader.rows(query.format(table))


def _grouped(reader: SqliteSource, table: str, query: str) -> dict[str, dict[str, str]]:
    grouped: dict[str, dict[str, str]] = {}
    for owner, key, value in _sqlite_rows(reader, table, query):
        grouped.setdefault(str(owner), {})[key] = "" if value is None else str(value)
    return grouped


def parse_mlmodel(text: str) -> dict[str, Any]:
    """An ``MLmodel`` file: nested block maps of scalars, as ``yaml.safe_dump`` writes them
    (PyYAML is not needed; lists are left out: nothing read here is one). A scalar too long
    for a line goes on in the lines indented under its key (a signature's JSON does), folded
    back into one as YAML does."""
    root: dict[str, Any] = {}
    stack: list[tuple[int, dict[str, Any]]] = [(-1, root)]
    #: the scalar read last, whose more indented lines go on with it: parent, key, indent, lines
    scalar: tuple[dict[str, Any], str, int, list[str]] | None = None
    for line in text.splitlines():
        stripped = line.strip()
        indent = len(line) - len(line.lstrip())
        if scalar is not None and (not stripped or indent > scalar[2]):
            scalar[3].append(stripped)
            continue
        if scalar is not None:
            scalar[0][scalar[1]] = scalar_of(_folded(scalar[3]))
            scalar = None
        if not stripped or stripped.startswith(("#", "-")):
            continue
        while stack[-1][0] >= indent:
            stack.pop()
        key, _, value = stripped.partition(":")
        parent = stack[-1][1]
        if value.strip():
            scalar = (parent, key.strip(), indent, [value.strip()])
        else:
            child: dict[str, Any] = {}
            parent[key.strip()] = child
            stack.append((indent, child))
    if scalar is not None:
        scalar[0][scalar[1]] = scalar_of(_folded(scalar[3]))
    return root


def _folded(lines: list[str]) -> str:
    """A scalar's lines as one: a line break is a space, a blank line a line break (YAML's
    folding), and a double-quoted scalar's line that ends in a backslash goes on as it is."""
    text = lines[0]
    breaks = 0
    for line in lines[1:]:
        if not line:
            breaks += 1
            continue
        if text.startswith('"') and text.endswith("\\") and not breaks:
            text = text[:-1] + line
        else:
            text += ("\n" * breaks or " ") + line
        breaks = 0
    return text


# ------------------------------------------------------------------------------- converting


class Conversion(NamedTuple):
    """An MLflow model folder as an autolog model: its metadata, the files autolog's flavor
    reads that MLflow has under another name (autolog's name -> MLflow's: copied, MLflow's
    kept so the folder stays an MLflow model), and the flavor's own files, made at import."""

    meta: dict[str, Any]
    copies: dict[str, str]
    added: dict[str, bytes]


class _LeftOut(Exception):
    """Why an MLflow model cannot be imported (the summary says it)."""


#: MLflow's flavors that have an autolog one; a folder is imported by the first it names
_FLAVORS = ("sklearn", "lightgbm", "xgboost", "pytorch")
#: what ``torch.save`` may have pickled an MLflow module with and a plain unpickler reads
_TORCH_PICKLERS = ("mlflow.pytorch.pickle_module", "cloudpickle", "pickle")
_NEVER = {"python_function": "a pyfunc model is its own Python code, which autolog never runs"}


def convert(folder: Path) -> tuple[Conversion | None, str | None]:
    """The MLflow model in ``folder`` as an autolog model, its signature and input example
    with it, or why it cannot be imported; a model imported may come with what of its
    signature or example was left out (the summary says it with the models left out).
    Only its ``MLmodel`` and input example are parsed, and a model file's first bytes or zip
    listing looked at: nothing is loaded."""
    try:
        mlmodel = parse_mlmodel((folder / MLMODEL).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as exc:
        return None, f"its MLmodel cannot be read ({exc})"
    flavors = mlmodel.get("flavors")
    if not isinstance(flavors, dict) or not flavors:
        return None, "its MLmodel names no flavor"
    name = next((f for f in _FLAVORS if isinstance(flavors.get(f), dict)), None)
    if name is None:
        names = ", ".join(sorted(flavors))
        loader = _dict(flavors.get("python_function")).get("loader_module")
        never = "; ".join(_NEVER[f] for f in sorted(flavors) if f in _NEVER)
        return None, (
            f"MLflow flavor {names}{f' ({loader})' if loader else ''} has no autolog one"
            + (f": {never}" if never else "")
        )
    converter = {
        "sklearn": _sklearn,
        "lightgbm": _lightgbm,
        "xgboost": _xgboost,
        "pytorch": _pytorch,
    }[name]
    try:
        conversion = converter(folder, mlmodel, flavors[name])
    except _LeftOut as exc:
        return None, str(exc)
    for ours in (*conversion.copies, *conversion.added):
        if (folder / ours).exists():  # never written over: the folder stays MLflow's model
            flavor = conversion.meta["flavor"]
            return None, f"its file {ours!r} is one autolog's {flavor} flavor writes"
    signed, notes = signature_parts(mlmodel, folder)
    meta = {**conversion.meta, **signed}
    if signed.get("signature", {}).get("inputs", {}).get("type") == "dataframe":
        _pin(meta, "pandas")  # to predict: a DataFrame is made of the input
    note = f"imported without {'; '.join(notes)}" if notes else None
    return conversion._replace(meta=meta), note


def _sklearn(folder: Path, mlmodel: dict[str, Any], conf: dict[str, Any]) -> Conversion:
    """MLflow's sklearn flavor, pickled: autolog's "pickle" flavor (it loads cloudpickle's
    pickles and plain ones alike) reading ``model.pkl``."""
    pickled = _pickle_file(folder, "sklearn", conf, "pickled_model")
    meta = _meta(
        mlmodel,
        folder,
        flavor="pickle",
        model_class="sklearn model (imported from MLflow)",
        libraries={"sklearn": str(conf.get("sklearn_version") or ""), "cloudpickle": ""},
    )
    return Conversion(meta, _copies({"model.pkl": pickled}), {})


def _pickle_file(folder: Path, kind: str, conf: dict[str, Any], key: str) -> str:
    """The pickle of a (scikit-learn API) model; one saved with skops is left out."""
    serialization = str(conf.get("serialization_format") or "cloudpickle")
    if serialization not in _PICKLES:
        raise _LeftOut(
            f"{kind} model saved with {serialization}, which autolog's flavors do not load "
            "(they load cloudpickle and pickle files)"
        )
    return _model_file(folder, str(conf.get(key) or "model.pkl"))


def _model_file(folder: Path, name: str) -> str:
    """``name``, a file of the model ``folder`` (its MLmodel named it)."""
    if name.startswith("/") or ".." in name.split("/") or not (folder / name).is_file():
        raise _LeftOut(f"its model file {name!r} is missing")
    return name


def _lightgbm(folder: Path, mlmodel: dict[str, Any], conf: dict[str, Any]) -> Conversion:
    """MLflow's lightgbm flavor: a Booster saved as LightGBM's model text (``model.lgb``:
    autolog's ``model.txt``, loaded without unpickling), or a scikit-learn API model pickled
    (``model.pkl``), as autolog's "lightgbm" flavor has them."""
    model_class = str(conf.get("model_class") or "lightgbm.basic.Booster")
    libraries = {"lightgbm": str(conf.get("lgb_version") or "")}
    if model_class == "lightgbm.basic.Booster":
        text = _model_file(folder, str(conf.get("data") or "model.lgb"))
        if not _starts(folder / text, b"tree\n"):
            raise _LeftOut(f"its model file {text!r} is not LightGBM's model text")
        copies = _copies({"model.txt": text})
        # predict() of a Booster loaded from text uses every iteration it holds: MLflow saved
        # the best ones only, so its predictions are the same
        info = {"model": "booster", "best_iteration": 0}
    else:
        copies = _copies({"model.pkl": _pickle_file(folder, "LightGBM", conf, "data")})
        libraries.update(sklearn="", cloudpickle="")
        info = {"model": "estimator", "best_iteration": 0}
    meta = _meta(mlmodel, folder, flavor="lightgbm", model_class=model_class, libraries=libraries)
    return Conversion(meta, copies, {"lightgbm.json": _json(info)})


def _xgboost(folder: Path, mlmodel: dict[str, Any], conf: dict[str, Any]) -> Conversion:
    """MLflow's xgboost flavor: XGBoost's UBJSON or JSON model file, a Booster's or a
    scikit-learn API model's (its class named, the model loaded into a new one: nothing is
    unpickled, then or at load), as autolog's "xgboost" flavor reads them."""
    model_format = str(conf.get("model_format") or "xgb")
    if model_format not in ("ubj", "json"):
        raise _LeftOut(
            f"XGBoost model saved as {model_format!r} (autolog reads XGBoost's UBJSON and JSON "
            "model formats)"
        )
    data = _model_file(folder, str(conf.get("data") or f"model.{model_format}"))
    model_class = str(conf.get("model_class") or "xgboost.core.Booster")
    if not re.fullmatch(r"xgboost(\.\w+)+", model_class):
        raise _LeftOut(f"its model class {model_class!r} is not one of XGBoost's")
    info: dict[str, Any] = {"model": "booster", "format": model_format}
    libraries = {"xgboost": str(conf.get("xgb_version") or "")}
    if model_class != "xgboost.core.Booster":
        info.update(model="estimator", model_class=model_class)
        libraries["sklearn"] = ""
    meta = _meta(mlmodel, folder, flavor="xgboost", model_class=model_class, libraries=libraries)
    copies = _copies({f"model.{model_format}": data})
    return Conversion(meta, copies, {"xgboost.json": _json(info)})


def _pytorch(folder: Path, mlmodel: dict[str, Any], conf: dict[str, Any]) -> Conversion:
    """MLflow's pytorch flavor saved as a pickle: the module ``torch.save`` wrote whole
    (``data/model.pth``, with cloudpickle), which autolog's "torch" flavor loads from
    ``model.pth``. A TorchScript module and a ``torch.export`` program (pt2, MLflow 3's
    default) are left out: autolog's torch flavor loads neither."""
    data = str(conf.get("model_data") or "data")
    if (folder / data / "model.pt2").is_file():
        raise _LeftOut(
            "PyTorch model saved as pt2 (torch.export), a format autolog's torch flavor does "
            "not load"
        )
    whole = _model_file(folder, f"{data}/model.pth")
    pickler = _read_text(folder / data / "pickle_module_info.txt").strip() or "pickle"
    if pickler not in _TORCH_PICKLERS:
        raise _LeftOut(f"PyTorch model pickled with {pickler!r}, which autolog does not import")
    if _torchscript(folder / whole):
        raise _LeftOut("a TorchScript module (torch.jit): autolog's torch flavor does not load it")
    version = str(conf.get("pytorch_version") or "").partition("+")[0]
    meta = _meta(
        mlmodel,
        folder,
        flavor="torch",
        model_class="torch.nn.Module (imported from MLflow)",
        libraries={"torch": version, "cloudpickle": ""},
    )
    return Conversion(meta, {"model.pth": whole}, {})


def _torchscript(path: Path) -> bool:
    """Whether a ``model.pth`` is a TorchScript archive (its ``code/`` folder), not a module
    ``torch.save`` pickled: read as a zip's list of names, nothing loaded."""
    try:
        with zipfile.ZipFile(path) as archive:
            names = archive.namelist()
    except (OSError, zipfile.BadZipFile):  # torch.save's format before the zip one
        return False
    return any(n.partition("/")[2].startswith("code/") for n in names)


def _starts(path: Path, prefix: bytes) -> bool:
    try:
        with path.open("rb") as file:
            return file.read(len(prefix)) == prefix
    except OSError:
        return False


def _read_text(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return ""


def _copies(copies: dict[str, str]) -> dict[str, str]:
    """The files to copy under autolog's name, those already named so left out."""
    return {ours: theirs for ours, theirs in copies.items() if ours != theirs}


def _json(value: dict[str, Any]) -> bytes:
    return json.dumps(value, sort_keys=True).encode()


def _meta(
    mlmodel: dict[str, Any],
    folder: Path,
    *,
    flavor: str,
    model_class: str,
    libraries: dict[str, str],
) -> dict[str, Any]:
    """autolog's metadata of an MLflow model: a library's version is the flavor's record of
    it, else MLflow's pin of it in ``requirements.txt`` (a library with neither is left
    out)."""
    requirements = _requirements(folder)
    pins = {canonical_name(r.partition("==")[0]): r.partition("==")[2] for r in requirements}
    distributions = {k: _DISTRIBUTIONS.get(k, k) for k in libraries}
    versions = {
        k: v or pins.get(canonical_name(distributions[k]), "") for k, v in libraries.items()
    }
    python = _dict(_dict(mlmodel.get("flavors")).get("python_function")).get("python_version")
    return {
        "format_version": 1,
        "flavor": flavor,
        "model_class": model_class,
        "python_version": str(python or ""),
        "libraries": {k: v for k, v in versions.items() if v},
        "distributions": {k: v for k, v in distributions.items() if versions[k]},
        "requirements": requirements,
        "created_time": _created(mlmodel.get("utc_time_created")),
        "metadata": {
            "mlflow": {
                "model_id": str(mlmodel.get("model_id") or ""),
                "run_id": str(mlmodel.get("run_id") or ""),
                "mlflow_version": str(mlmodel.get("mlflow_version") or ""),
                "flavors": sorted(_dict(mlmodel.get("flavors"))),
            }
        },
    }


def _pin(meta: dict[str, Any], library: str) -> None:
    """Add ``library`` to the model's libraries, at MLflow's pin of it (none: not added)."""
    pins = {
        canonical_name(r.partition("==")[0]): r.partition("==")[2] for r in meta["requirements"]
    }
    if pins.get(library):
        meta["libraries"] = {**meta["libraries"], library: pins[library]}
        meta["distributions"] = {**meta["distributions"], library: library}


#: the distributions of the libraries an imported model may name, where not the same name
_DISTRIBUTIONS = {"sklearn": "scikit-learn"}


def _requirements(folder: Path) -> list[str]:
    """MLflow's pins of the model's libraries (``requirements.txt``), mlflow's own left out."""
    try:
        lines = (folder / "requirements.txt").read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError):
        return []
    return [
        line.strip()
        for line in lines
        if "==" in line and not line.strip().startswith(("mlflow", "#", "-"))
    ]


def _created(value: Any) -> int:
    with contextlib.suppress(TypeError, ValueError):
        parsed = dt.datetime.fromisoformat(str(value)).replace(tzinfo=dt.timezone.utc)
        return int(parsed.timestamp() * 1000)
    return time.time_ns() // 1_000_000


def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


# ------------------------------------------------------------------------------- signatures

#: MLflow's column types (``mlflow.types.DataType``) as the dtypes of autolog's columns: the
#: NumPy dtype MLflow reads each as (text and bytes are objects in a DataFrame)
_COLUMN_DTYPES = {
    "boolean": "bool",
    "integer": "int32",
    "long": "int64",
    "float": "float32",
    "double": "float64",
    "string": "object",
    "binary": "object",
    "datetime": "datetime64[ns]",
}
#: the NumPy dtypes of MLflow's tensor specs that autolog's tensors take as NumPy names them
_TENSOR_DTYPE = re.compile(
    r"bool|u?int(8|16|32|64)|float(16|32|64)|complex(64|128)|object|datetime64\[\w+\]"
)
#: an input example larger than this, as JSON, is left out (as autolog's own are)
_EXAMPLE_BYTES = 64 * 1024


def signature_parts(mlmodel: dict[str, Any], folder: Path) -> tuple[dict[str, Any], list[str]]:
    """MLflow's signature and input example of a model as autolog's metadata has them
    (``signature``, ``input_example``; see ``autolog.signatures``), and what of them autolog's
    format cannot say, each named: left out rather than guessed."""
    found: dict[str, Any] = {}
    notes: list[str] = []
    signature = _dict(mlmodel.get("signature"))
    schemas = {}
    for part in ("inputs", "outputs"):
        if signature.get(part) is not None:
            schema, why = _schema(signature[part])
            if schema is not None:
                schemas[part] = schema
            if why:  # the part is left out, else only what ``why`` names of it
                notes.append(f"its MLflow signature's {part} ({why})" if schema is None else why)
    if "inputs" in schemas:  # autolog's signature has inputs, or is none
        found["signature"] = schemas
    elif "outputs" in schemas:
        notes.append("its MLflow signature's outputs (autolog keeps outputs only with inputs)")
    params = _json_list(signature.get("params"))
    if params:
        names = ", ".join(str(_dict(p).get("name")) for p in params)
        notes.append(f"its MLflow signature's params ({names}): autolog's signatures have none")
    info = _dict(mlmodel.get("saved_input_example_info"))
    if info:
        example, why = _example(folder, info, _binary_columns(signature.get("inputs")))
        if example is not None:
            found["input_example"] = example
        if why:
            notes.append(why)
    return found, notes


def _json_list(text: Any) -> list[Any] | None:
    """A schema of MLflow's signature (JSON text of a list), None where it is none."""
    try:
        found = json.loads(text) if isinstance(text, str) else None
    except ValueError:
        return None
    return found if isinstance(found, list) else None


def _schema(text: Any) -> tuple[dict[str, Any] | None, str | None]:
    """An MLflow schema (a list of column or tensor specs) as autolog's, or why none; a
    schema may come with what of it was left out."""
    specs = _json_list(text)
    if not specs or not all(isinstance(s, dict) for s in specs):
        return None, "not a schema autolog can read"
    if all(s.get("type") == "tensor" for s in specs):
        return _tensor_schema(specs)
    if any(s.get("type") == "tensor" for s in specs):
        return None, "tensors and columns together"
    if all("name" in s for s in specs):
        return _column_schema(specs)
    if len(specs) == 1 and specs[0].get("required", True) is True:
        # one unnamed column: a value a row, as autolog's tensor of one dimension is
        dtype = _COLUMN_DTYPES.get(str(specs[0].get("type")))
        if dtype is not None:
            return {"type": "tensor", "dtype": dtype, "shape": [-1]}, None
        return None, f"its column is of MLflow's type {_type_name(specs[0])}, autolog has none"
    return None, f"{len(specs)} columns without names (autolog's columns are named)"


def _tensor_schema(specs: list[dict[str, Any]]) -> tuple[dict[str, Any] | None, str | None]:
    if len(specs) > 1 or "name" in specs[0]:
        names = ", ".join(str(s.get("name")) for s in specs)
        return None, f"named tensors ({names}): autolog's signature has one tensor, unnamed"
    spec = _dict(specs[0].get("tensor-spec"))
    dtype, shape = str(spec.get("dtype")), spec.get("shape")
    if not _TENSOR_DTYPE.fullmatch(dtype):
        return None, f"a tensor of dtype {dtype!r}, which autolog's tensors do not take"
    fits = isinstance(shape, list) and all(type(n) is int and n >= -1 for n in shape)
    if not fits or not shape:
        return None, f"a tensor of shape {shape!r}"
    return {"type": "tensor", "dtype": dtype, "shape": shape}, None


def _column_schema(specs: list[dict[str, Any]]) -> tuple[dict[str, Any] | None, str | None]:
    """Named columns: each with its dtype, ``"required": false`` where MLflow's is optional;
    a column of a type autolog has no dtype for (an array, an object, a map, any) keeps its
    place as an object column (any value goes), its type named as left out."""
    columns = []
    untyped = []
    for spec in specs:
        name = str(spec["name"])
        dtype = _COLUMN_DTYPES.get(str(spec.get("type")))
        if dtype is None:
            untyped.append(f"{name!r} ({_type_name(spec)})")
        column: dict[str, Any] = {"name": name, "dtype": dtype or "object"}
        if spec.get("required", True) is False:
            column["required"] = False
        columns.append(column)
    schema = {"type": "dataframe", "columns": columns}
    if not untyped:
        return schema, None
    return schema, (
        f"the MLflow type of column {', '.join(untyped)}, which autolog's dtypes cannot say "
        "(any value goes there)"
    )


def _type_name(spec: dict[str, Any]) -> str:
    """An MLflow column type, as MLflow's JSON has it (``array of string``)."""
    kind = str(spec.get("type"))
    inner = _dict(spec.get("items") or spec.get("values"))
    return f"{kind} of {_type_name(inner)}" if inner else kind


def _binary_columns(text: Any) -> list[str]:
    return [str(s.get("name")) for s in _json_list(text) or [] if _dict(s).get("type") == "binary"]


def _example(
    folder: Path, info: dict[str, Any], binary: list[str]
) -> tuple[dict[str, Any] | None, str | None]:
    """MLflow's input example (``saved_input_example_info``) as autolog's: its first
    ``EXAMPLE_ROWS`` rows, a DataFrame's with its columns (``dataframe_split``) or an array's
    (``{"data": rows}``); and what of it was left out."""
    from autolog.signatures import EXAMPLE_ROWS

    kind = str(info.get("type") or "")
    path = str(info.get("artifact_path") or "input_example.json")
    try:
        data = json.loads((folder / _model_file(folder, path)).read_bytes())
    except (_LeftOut, OSError, ValueError):
        return None, f"its input example ({path}), which cannot be read"
    notes = []
    if str(info.get("params")).lower() == "true" and isinstance(data, dict):
        data = data.get("inputs")
        notes.append("its input example's params (autolog's examples have none)")
    example: dict[str, Any] | None = None
    if kind == "dataframe" and isinstance(data, dict) and isinstance(data.get("columns"), list):
        rows = data.get("data")
        if isinstance(rows, list):
            example = {"columns": [str(c) for c in data["columns"]], "data": rows[:EXAMPLE_ROWS]}
    elif kind == "ndarray" and isinstance(data, list):
        example = {"data": data[:EXAMPLE_ROWS]}
    if binary and example is not None:
        example = None
        notes.append(f"its input example (column {', '.join(binary)} holds base64 text, not bytes)")
    elif example is None and kind == "dataframe":
        notes.append("its input example, a DataFrame written without its columns' names")
    elif example is None:
        notes.append(f"its input example, of MLflow's type {kind!r} (autolog's are rows)")
    elif len(json.dumps(example, separators=(",", ":"))) > _EXAMPLE_BYTES:
        example = None
        notes.append(f"its input example, over {_EXAMPLE_BYTES} bytes of JSON")
    return example, "; ".join(notes) or None


# ------------------------------------------------------------------------------- importing


def run_models(run: MlflowRun, artifacts: Path | None, logged: list[LoggedModel]) -> list[Planned]:
    """The model folders of ``run``: those in its artifacts (the outermost folder with an
    ``MLmodel``), then its logged models, each at its name in the run (``<name>-<model_id>``
    where the name is taken)."""
    planned = []
    taken: set[str] = set()
    if artifacts is not None:
        taken = set(os.listdir(artifacts))
        for path in _model_folders(artifacts):
            planned.append(Planned(path, artifacts / path, None, *convert(artifacts / path)))
    for model in logged:
        if model.run_id != run.run_id:
            continue
        path = model.name if model.name not in taken else f"{model.name}-{model.model_id}"
        taken.add(path)
        if model.folder is None:
            missing = "its files are not on this machine"
            planned.append(Planned(path, Path(), model.model_id, None, missing))
        else:
            planned.append(Planned(path, model.folder, model.model_id, *convert(model.folder)))
    return planned


def _model_folders(base: Path) -> Iterator[str]:
    for folder, names, files in os.walk(base):
        names.sort()
        if MLMODEL in files:
            names[:] = []  # a model's own folders are its files
            yield Path(folder).relative_to(base).as_posix()


def write_model(
    store: Store, repository: ArtifactRepository, run_id: str, planned: Planned
) -> None:
    """Copy a converted model folder into the run and record it with every file's hash."""
    from autolog import models

    if planned.meta is None:
        reason = planned.reason
        raise InvalidInputError(f"MLflow model {planned.path!r} cannot be imported: {reason}")
    files = {
        path.relative_to(planned.folder).as_posix(): path.read_bytes()
        for path in sorted(planned.folder.rglob("*"))
        if path.is_file() and not path.is_symlink() and path.name != models.MODEL_META
    }
    conversion = planned.meta
    for ours, theirs in conversion.copies.items():
        files[ours] = files[theirs]
    files.update(conversion.added)
    hashes, meta_bytes = models.digest(files, conversion.meta)
    models.write(repository, planned.path, files, meta_bytes, hashes)
    store.record_model(run_id, planned.path, {f"{planned.path}/{n}": h for n, h in hashes.items()})


def needs_model(store: Store, run_id: str, path: str) -> bool:
    """Whether the run has no complete model at ``path`` (none, or one whose writing was cut
    short: still marked incomplete)."""
    from autolog.tracking import incomplete_model

    recorded = store.get_model_files(run_id, path)
    return recorded is None or incomplete_model(path, recorded)


def source_of(version: MlflowVersion, logged: dict[str, tuple[str, str]]) -> tuple[str, str] | None:
    """The run and path here of the model a version points at (``models:/<model_id>``, a
    ``runs:/`` URI or a run's artifact location), None where it names none."""
    for where in (version.source, version.storage_location):
        if where.startswith("models:/") and where[8:] in logged:
            return logged[where[8:]]
        if where.startswith("runs:/"):
            run_id, _, path = where[6:].partition("/")
            if path:
                return run_id, path.strip("/")
        found = _RUN_PATH.search(where)
        if found:
            return found.group(1), found.group(2)
        for model_id, target in logged.items():
            if f"/models/{model_id}/artifacts" in where:
                return target
    return None


def import_registry(
    reader: Source, store: Store, logged: dict[str, tuple[str, str]], counts: ModelCounts
) -> None:
    """MLflow's registered models, versions, aliases, tags and descriptions, each once: a
    version whose model is not a model of an imported run is left out, and said why."""
    from autolog.errors import AutologError

    for model in registry(reader):
        if model.tags.get("mlflow.prompt.is_prompt") == "true":
            counts.left_out.append(f"registered {model.name!r}: a prompt, not a model")
            continue
        numbers = _versions(store, model, logged, counts)
        if not numbers:
            counts.left_out.append(f"registered {model.name!r}: none of its versions imported")
            continue
        try:
            _model_details(store, model, counts)
            here = {v.version: v for v in store.list_model_versions(model.name)}
            for theirs, ours in sorted(numbers.items()):
                version = next(v for v in model.versions if v.version == theirs)
                _version_details(store, model.name, version, here[ours], counts)
        except AutologError as exc:  # a tag or description autolog cannot hold
            counts.left_out.append(f"details of registered {model.name!r}: {exc}")
        aliases = store.get_registered_model(model.name).aliases
        for alias, theirs in sorted(model.aliases.items()):
            if theirs not in numbers:
                counts.left_out.append(
                    f"alias {model.name}@{alias}: its version {theirs} was not imported"
                )
            elif aliases.get(alias) != numbers[theirs]:
                try:
                    store.set_model_alias(model.name, alias, numbers[theirs])
                except AutologError as exc:  # MLflow allows aliases autolog refuses ("a-b")
                    counts.left_out.append(f"alias {model.name}@{alias}: {exc}")
                    continue
                counts.aliases += 1


def _versions(
    store: Store,
    model: MlflowRegisteredModel,
    logged: dict[str, tuple[str, str]],
    counts: ModelCounts,
) -> dict[int, int]:
    """MLflow's version numbers -> the numbers here, registering those not registered yet."""
    from autolog.errors import AutologError

    existing = {v.source: v.version for v in store.list_model_versions(model.name)}
    new_name = not existing
    numbers = {}
    for version in model.versions:
        target = source_of(version, logged)
        where = f"model version {model.name}/{version.version}"
        if target is None or _model_files(store, *target) is None:
            counts.left_out.append(
                f"{where}: its source {version.source!r} is not a model of an imported run"
            )
            continue
        source = f"runs:/{target[0]}/{target[1]}"
        if source in existing:
            numbers[version.version] = existing[source]
            counts.versions_present += 1
            continue
        try:
            created = store.create_model_version(model.name, source, target[0])
        except AutologError as exc:
            counts.left_out.append(f"{where}: {exc}")
            continue
        numbers[version.version] = created.version
        counts.versions += 1
    counts.registered += bool(new_name and numbers)
    return numbers


def _model_files(store: Store, run_id: str, path: str) -> dict[str, str] | None:
    from autolog.errors import AutologError

    try:
        return store.get_model_files(run_id, path)
    except AutologError:  # no such run here
        return None


def _model_details(store: Store, model: MlflowRegisteredModel, counts: ModelCounts) -> None:
    here = store.get_registered_model(model.name)
    if (model.description or None) != (here.description or None):
        store.update_registered_model(model.name, model.description)
        counts.descriptions += 1
    for key, value in sorted(model.tags.items()):
        if here.tags.get(key) != value:
            store.set_registered_model_tag(model.name, key, value)
            counts.tags += 1


def _version_details(
    store: Store, name: str, theirs: MlflowVersion, ours: ModelVersion, counts: ModelCounts
) -> None:
    if (theirs.description or None) != (ours.description or None):
        store.update_model_version(name, ours.version, theirs.description)
        counts.descriptions += 1
    for key, value in sorted(theirs.tags.items()):
        if ours.tags.get(key) != value:
            store.set_model_version_tag(name, ours.version, key, value)
            counts.tags += 1
