"""The model registry's URIs and arguments, as a client reads them: ``runs:/<run>/<path>``,
``models:/<name>/<version>``, ``models:/<name>/latest`` (its highest version that exists) and
``models:/<name>@<alias>``, followed to the run and path of a logged model. The registry's
rules (what may be registered, what stays final) are the tracking service's
(``autolog.tracking``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from autolog.errors import InvalidInputError, InvalidURIError, NotFoundError
from autolog.run_state import check_run_id
from autolog.validation import (
    STEP_MAX,
    check_alias,
    check_artifact_path,
    check_model_name,
    text_problem,
)

if TYPE_CHECKING:
    from autolog.entities import ModelVersion
    from autolog.stores.base import Store

__all__ = ["check_alias", "check_model_name", "model_location", "model_version", "version_arg"]


def model_location(store: Store, model_uri: object) -> tuple[str, str]:
    """The run id and path of the logged model ``model_uri`` names (a registered version is
    looked up in ``store``)."""
    if not isinstance(model_uri, str):
        raise InvalidURIError(repr(model_uri), "model URIs are strings")
    problem = text_problem(model_uri)
    if problem is not None:
        raise InvalidURIError(model_uri, problem)
    if model_uri.startswith("models:/"):
        return model_location(store, model_version(store, model_uri).source)
    if not model_uri.startswith("runs:/"):
        raise InvalidURIError(
            model_uri,
            "use runs:/<run_id>/<path>, models:/<name>/<version>, models:/<name>/latest or "
            "models:/<name>@<alias>",
        )
    run_id, _, path = model_uri.removeprefix("runs:/").strip("/").partition("/")
    if not run_id or not path:
        raise InvalidURIError(model_uri, "expected runs:/<run_id>/<path>")
    return check_run_id(run_id), check_artifact_path(path)


def model_version(store: Store, model_uri: str) -> ModelVersion:
    """The registered version ``models:/<name>/<version>``, ``models:/<name>/latest`` (the
    highest version that exists: deleted ones are skipped) or ``models:/<name>@<alias>``.

    Raises:
        NotFoundError: no such model or version (``latest`` of a model with no versions left
            names the model).
    """
    body = model_uri.removeprefix("models:/").strip("/")
    if "@" in body:
        name, _, alias = body.partition("@")
        if name and alias:
            return store.get_model_version_by_alias(name, alias)
    else:
        name, _, version = body.rpartition("/")
        if name and version == "latest":
            return _latest(store, name)
        if name and version.isascii() and version.isdigit():
            number = int(version)
            if number > STEP_MAX:
                raise NotFoundError("model version", f"{name}/{version}")
            return store.get_model_version(name, number)
    raise InvalidURIError(
        model_uri,
        "expected models:/<name>/<version>, models:/<name>/latest or models:/<name>@<alias>",
    )


def _latest(store: Store, name: str) -> ModelVersion:
    # The registered model's latest_version is its highest version that still exists (a store
    # lowers it when that one is deleted), so one lookup names it without listing versions.
    latest = store.get_registered_model(name).latest_version  # unknown name: NotFoundError
    if latest is None:
        raise NotFoundError("model version", f"{name}/latest (the model has no versions)")
    return store.get_model_version(name, latest)


def version_arg(version: object) -> int:
    if isinstance(version, bool) or not isinstance(version, (int, str)):
        raise InvalidInputError(f"model versions are positive integers, not {version!r}")
    if isinstance(version, str) and not (version.isascii() and version.isdigit()):
        raise InvalidInputError(f"model versions are positive integers, not {version!r}")
    number = int(version)
    if not 1 <= number <= STEP_MAX:
        raise InvalidInputError(f"model versions are positive 64-bit integers, not {version!r}")
    return number
