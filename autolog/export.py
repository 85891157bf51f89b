"""A model taken elsewhere: ``autolog models export URI DIR`` writes a self-contained folder::

    DIR/model.pkl, ...       the model's files, each checked against its SHA-256 first
    DIR/autolog-model.json   its metadata with every file's SHA-256, byte for byte as logged
    DIR/requirements.txt     its pinned requirements, and autolog[server] to load and serve it
                             (from where this autolog was installed: PyPI's "autolog" is
                             another project); autolog-requirements.txt where the model has
                             a requirements.txt of its own (one imported from MLflow)
    DIR/Dockerfile           an image that serves it: ``autolog models serve /model``
    DIR/README.md            what it is and takes, and how to load, serve and build it

``load_model(DIR)``, ``load_predictor(DIR)`` and ``autolog models serve DIR`` take the folder:
its files are checked against ``autolog-model.json`` before anything is unpickled. The folder
is written beside DIR and renamed into place once complete and checked, so DIR never holds half
an export.

Example::

    with autolog.Client() as client:
        export_model(client, "models:/churn@prod", "churn-model")
    autolog.load_predictor("churn-model").predict(frame)
"""

from __future__ import annotations

import json
import os
import re
import secrets
import shutil
import tempfile
import time
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from autolog import models
from autolog.errors import InvalidInputError

if TYPE_CHECKING:
    from autolog.client import Client
    from autolog.entities import ModelInfo

__all__ = ["EXPORT_FILES", "OWN_REQUIREMENTS", "SERVE_PORT", "export_model"]

#: the files an export adds to the model's own
EXPORT_FILES = ("requirements.txt", "Dockerfile", "README.md")
#: the name of the export's requirements where the model has a requirements.txt of its own
#: (an MLflow model's, kept byte for byte with its hash)
OWN_REQUIREMENTS = "autolog-requirements.txt"
#: the port the image's server listens on
SERVE_PORT = 5001


def export_model(
    client: Client, model_uri: str, folder: str | Path, *, force: bool = False
) -> Path:
    """Write the model at ``model_uri`` (``runs:/``, ``models:/`` or a local model folder) as a
    self-contained folder ``folder`` (see the module's docstring); returns its path.

    Raises:
        InvalidInputError: ``folder`` is a file, or a folder that is not empty (unless
            ``force``: then what it holds is replaced), or the folder this process works in.
        ModelIntegrityError: a file of the model does not match its recorded SHA-256.
    """
    target = Path(folder).expanduser()
    _check_target(target, force)
    uri = _pinned(client, model_uri)
    info = client.get_model_info(uri)
    meta, read_files = client.verified_model(uri)
    files = read_files()
    requirements = OWN_REQUIREMENTS if "requirements.txt" in files else "requirements.txt"
    ours = {requirements, *EXPORT_FILES[1:], models.MODEL_META}
    clash = sorted(set(files) & ours)
    if clash:
        raise InvalidInputError(f"model {model_uri} has a file {clash[0]!r} an export writes")
    target.parent.mkdir(parents=True, exist_ok=True)
    # not mkdtemp's: its folder is private (0700), and the export keeps the usual modes
    staging = target.parent / f".{target.name}.export-{secrets.token_hex(6)}"
    staging.mkdir()
    try:
        _write(staging, files, meta, info, model_uri, requirements)
        models.folder_verified(staging)[1]()  # read back as load_model(DIR) will read it
        _put_in_place(staging, target)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return target


def _check_target(target: Path, force: bool) -> None:
    if target.exists() and not target.is_dir():
        raise InvalidInputError(f"{str(target)!r} is a file; export into a folder")
    if not target.is_dir() or not any(target.iterdir()):
        return
    if not force:
        raise InvalidInputError(
            f"{str(target)!r} is not empty: export into a new or empty folder, or pass "
            "--force (force=True) to replace what it holds"
        )
    here = Path.cwd().resolve()
    if here == target.resolve() or target.resolve() in here.parents:
        raise InvalidInputError(
            f"{str(target)!r} holds the folder this command runs in: it is not replaced"
        )


def _pinned(client: Client, model_uri: str) -> str:
    """``model_uri`` as the run's model it names now: an alias that moves while the model is
    read does not mix two versions' files and names."""
    if models.local_folder(model_uri) is not None:
        return model_uri
    from autolog import registry

    client.flush()  # a model this process logged is read once it is written
    run_id, path = registry.model_location(client.store, model_uri)
    return f"runs:/{run_id}/{path}"


def _write(
    folder: Path,
    files: Mapping[str, bytes],
    meta: Mapping[str, Any],
    info: ModelInfo,
    uri: str,
    requirements: str,
) -> None:
    for name, data in files.items():
        path = folder / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
    # the same bytes ``models.digest`` wrote when the model was logged: the store's SHA-256
    # of autolog-model.json still names the exported one
    meta_text = json.dumps(dict(meta), indent=2, sort_keys=True)
    (folder / models.MODEL_META).write_text(meta_text, encoding="utf-8")
    (folder / requirements).write_text(requirements_text(info, requirements), encoding="utf-8")
    (folder / "Dockerfile").write_text(dockerfile_text(info, requirements), encoding="utf-8")
    (folder / "README.md").write_text(readme_text(info, uri, requirements), encoding="utf-8")


def _put_in_place(staging: Path, target: Path) -> None:
    """Rename the complete export to ``target``; what ``target`` held goes once it is there."""
    if not target.exists():
        os.rename(staging, target)
        return
    if not any(target.iterdir()):
        target.rmdir()
        os.rename(staging, target)
        return
    replaced = Path(tempfile.mkdtemp(dir=target.parent, prefix=f".{target.name}.replaced-"))
    os.rename(target, replaced / "old")
    try:
        os.rename(staging, target)
    except OSError:
        os.rename(replaced / "old", target)  # put it back: an export that fails changes nothing
        raise
    finally:
        shutil.rmtree(replaced, ignore_errors=True)


def requirements_text(info: ModelInfo, name: str = "requirements.txt") -> str:
    """``requirements.txt``: the model's recorded requirements, pinned, with autolog's
    ``server`` extra (``autolog models serve``) from where this autolog can be installed
    (see ``autolog_requirement``)."""
    autolog_line, note = autolog_requirement("server")
    lines = [
        r for r in info.requirements if models.canonical_name(r.partition("==")[0]) != "autolog"
    ]
    header = (
        f"# What the model needs, pinned as installed when it was logged (Python "
        f"{info.python_version or 'unknown'}), and autolog to load and serve it.\n"
        + "".join(f"# {line}\n" for line in note)
        + f"#   pip install -r {name}\n"
    )
    return header + "\n".join([autolog_line, *lines]) + "\n"


def autolog_requirement(extra: str) -> tuple[str, list[str]]:
    """The requirement that installs this autolog (with ``extra``), and what a reader must
    know about it.

    PyPI's project named "autolog" is another one (a logging helper), so a bare
    ``autolog==VERSION`` would install that, or nothing: the line names where this autolog
    was installed from, as pip recorded it (PEP 610's ``direct_url.json``): a VCS commit or
    an archive URL, installable anywhere that reaches it; a local folder (a source checkout),
    installable on this machine only. Installed from an index (no record of where): the
    pinned version, and a note to install it from that index.
    """
    from autolog import __version__

    name = f"autolog[{extra}]"
    origin = _direct_url()
    if origin is None:
        return f"{name}=={__version__}", [
            f"autolog {__version__} came from a package index: install with that index",
            "(pip install --index-url URL ...): PyPI's 'autolog' is another project.",
        ]
    url = str(origin.get("url", ""))
    vcs = origin.get("vcs_info")
    if isinstance(vcs, Mapping) and vcs.get("vcs") and vcs.get("commit_id"):
        return f"{name} @ {vcs['vcs']}+{url}@{vcs['commit_id']}", []
    if url.startswith("file:"):
        return f"{name} @ {url}", [
            "autolog is installed from a folder on the machine that exported this model",
            "(PyPI's 'autolog' is another project): elsewhere, and in the Docker image,",
            "replace the autolog line with a URL or index that serves this autolog.",
        ]
    return f"{name} @ {url}", []


def _direct_url() -> dict[str, Any] | None:
    """Where this autolog was installed from (PEP 610), None where pip recorded nothing (an
    install from an index) or it cannot be read."""
    from importlib.metadata import distributions

    # the first "autolog" an installer wrote (INSTALLER): a source checkout's autolog.egg-info
    # in the working folder comes first on the path, and is no install
    for found in distributions(name="autolog"):
        if found.read_text("INSTALLER") is None:
            continue
        text = found.read_text("direct_url.json")
        try:
            origin = json.loads(text) if text else None
        except ValueError:
            return None
        return origin if isinstance(origin, dict) and isinstance(origin.get("url"), str) else None
    return None


def dockerfile_text(info: ModelInfo, requirements: str = "requirements.txt") -> str:
    """A Dockerfile that serves the model on port ``SERVE_PORT`` of the container."""
    python = ".".join(info.python_version.split(".")[:2]) if info.python_version else ""
    if not re.fullmatch(r"3\.\d+", python):
        import platform

        python = ".".join(platform.python_version_tuple()[:2])
    return f"""\
# An image that serves this model with `autolog models serve` (see README.md):
#   docker build -t my-model .
#   docker run --rm -p 127.0.0.1:{SERVE_PORT}:{SERVE_PORT} my-model
FROM python:{python}-slim
WORKDIR /model
# The requirements first: an image rebuilt for another model of the same libraries reuses
# the layer that installed them.
COPY {requirements} ./
RUN pip install --no-cache-dir -r {requirements}
COPY . .
USER nobody
EXPOSE {SERVE_PORT}
# Inside a container the server listens on every interface: the container is reached only
# where `docker run -p` publishes its port (above: this host's loopback). Arguments given
# after the image name replace these, e.g. to require access tokens instead.
ENTRYPOINT ["autolog", "models", "serve", "/model"]
CMD ["--host", "0.0.0.0", "--port", "{SERVE_PORT}", "--insecure-no-auth"]
"""


def readme_text(info: ModelInfo, uri: str, requirements: str = "requirements.txt") -> str:
    """A short README: what the model is and takes, where it came from, how to use it."""
    from autolog import __version__

    origin = [f"`{uri}`"]
    if info.run_id is not None:
        origin.append(f"run `{info.run_id}`")
    if info.registered:
        origin.append("registered as " + ", ".join(f"`{r}`" for r in info.registered))
    exported = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    lines = [
        f"# {info.model_class or 'model'} ({info.flavor})",
        "",
        f"Exported from {', '.join(origin)} on {exported} by autolog {__version__}.",
        f"Made with Python {info.python_version or '(not recorded)'}; "
        f"`{requirements}` pins its libraries.",
        "",
        f"Every file is listed with its SHA-256 in `{models.MODEL_META}`: autolog checks them",
        "before anything is unpickled, and refuses a file that was changed.",
        "",
        *_inputs_section(info.signature),
        "## Use it",
        "",
        "```sh",
        f"pip install -r {requirements}",
        "python -c 'import autolog; print(autolog.get_model_info(\".\"))'",
        "autolog models predict . -i input.csv -o predictions.csv",
        f"autolog models serve . --port {SERVE_PORT}",
        "docker build -t my-model . && "
        f"docker run --rm -p 127.0.0.1:{SERVE_PORT}:{SERVE_PORT} my-model",
        "```",
        "",
        *_install_note(requirements),
        'In Python: `autolog.load_predictor("DIR").predict(data)` checks `data` against the',
        'signature first; `autolog.load_model("DIR")` gives the model object itself.',
    ]
    if info.input_example is not None:
        example = info.input_example
        # MLflow's scoring-server bodies: named columns split, a tensor's rows as inputs
        request: dict[str, Any] = {"inputs": example.get("data")}
        if "columns" in example:
            request = {"dataframe_split": example}
        body = json.dumps(request, separators=(",", ":"))
        lines += [
            "",
            "A request the server answers (the model's input example):",
            "",
            "```sh",
            f"curl -s localhost:{SERVE_PORT}/invocations -H 'Content-Type: application/json' \\",
            f"  -d '{body}'",
            "```",
        ]
    return "\n".join(lines) + "\n"


def _install_note(requirements: str) -> list[str]:
    """What the README says of the autolog line of ``requirements.txt``, where it needs saying
    (see ``autolog_requirement``)."""
    line, note = autolog_requirement("server")
    if not note:
        return []
    return [f"`{requirements}` installs autolog as `{line}`: {' '.join(note)}", ""]


def _inputs_section(signature: Mapping[str, Any] | None) -> list[str]:
    inputs = (signature or {}).get("inputs")
    if not isinstance(inputs, Mapping):
        return ["No signature was recorded: the input is not checked before it is predicted.", ""]
    if inputs.get("type") == "dataframe":
        rows = [
            f"| {c.get('name')} | {c.get('dtype')} |"
            for c in inputs.get("columns", [])
            if isinstance(c, Mapping)
        ]
        return ["## Input", "", "| column | dtype |", "| --- | --- |", *rows, ""]
    return [
        "## Input",
        "",
        f"A tensor of {inputs.get('dtype')}, shape {inputs.get('shape')} (-1: any size).",
        "",
    ]
