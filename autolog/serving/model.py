"""The model being served, and following an alias: ``models:/NAME@ALIAS`` is polled, and a
version it moves to is loaded, verified and tried beside the one in service before it takes
its place, so that no request fails across the switch."""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, NamedTuple

from autolog.errors import AutologError

if TYPE_CHECKING:
    from autolog.client import Client
    from autolog.predictor import Predictor

__all__ = ["ModelHolder", "Served", "alias_of"]

_log = logging.getLogger(__name__)


class Served(NamedTuple):
    """One loaded version, with the answers that never change while it is served."""

    predictor: Predictor
    #: the registered version (None for a run's model or a folder)
    version: int | None
    #: the model's ``ModelInfo`` as JSON
    info: dict[str, Any]
    metadata_body: bytes


def alias_of(uri: str) -> tuple[str, str] | None:
    """``(name, alias)`` for ``models:/NAME@ALIAS``, else None."""
    if not uri.startswith("models:/"):
        return None
    name, at, alias = uri.removeprefix("models:/").strip("/").partition("@")
    return (name, alias) if at and name and alias else None


class ModelHolder:
    """The served model; ``current`` is swapped in one assignment, so a request sees the old
    version or the new one, never half of each."""

    def __init__(self, client: Client, uri: str, on_swap: Callable[[], None]) -> None:
        self.client = client
        self.uri = uri
        self._alias = alias_of(uri)
        self._on_swap = on_swap
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.current = self._load(self._version())

    def _version(self) -> int | None:
        from autolog import registry

        if not self.uri.startswith("models:/"):
            return None
        return registry.model_version(self.client.store, self.uri).version

    def _load(self, version: int | None) -> Served:
        """Load (checking every file's hash) and describe one version; for an alias, the
        version it pointed at when asked, by number, so a move in between is seen next poll."""
        uri = self.uri
        if self._alias is not None and version is not None:
            uri = f"models:/{self._alias[0]}/{version}"
        predictor, info = self.client.load_predictor(uri), self.client.get_model_info(uri)
        described = {**info._asdict(), "uri": self.uri, "served_uri": uri, "version": version}
        body = json.dumps(described, default=str).encode()
        return Served(predictor, version, described, body)

    def follow(self, interval: float) -> None:
        """Poll the alias every ``interval`` seconds on a daemon thread (nothing to follow
        for any other URI)."""
        if self._alias is None or self._thread is not None:
            return
        self._thread = threading.Thread(
            target=self._poll, args=(interval,), name="autolog-serve-alias", daemon=True
        )
        self._thread.start()

    def close(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def _poll(self, interval: float) -> None:
        while not self._stop.wait(interval):
            try:
                self.check()
            except Exception as exc:  # the old version keeps serving whatever goes wrong
                _log.warning("autolog models serve: following %s: %s", self.uri, exc)

    def check(self) -> bool:
        """Swap in the version the alias points at now, if it moved; whether it did.

        The new version must load, verify and predict its own input example before it is
        swapped in; until then, and if it cannot, the current one answers.
        """
        try:
            version = self._version()
        except AutologError as exc:
            _log.warning(
                "autolog models serve: cannot read %s (%s); still serving version %s",
                self.uri,
                exc,
                self.current.version,
            )
            return False
        if version == self.current.version:
            return False
        served = self._load(version)
        example = served.predictor.input_example
        if example is not None:
            served.predictor.predict(_example_data(example))
        self.current = served
        self._on_swap()
        _log.warning(
            "autolog models serve: %s moved to version %s: now serving it", self.uri, version
        )
        return True


def _example_data(example: dict[str, Any]) -> Any:
    """An input example (``dataframe_split`` form) as data a predictor takes."""
    columns = example.get("columns")
    data = example.get("data", [])
    if columns:
        return [dict(zip(columns, row, strict=False)) for row in data]
    return data
