"""One way to predict with a model of any flavor: ``autolog.load_predictor(uri)``."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from autolog import signatures
from autolog.models import get_flavor, predict

__all__ = ["Predictor"]


class Predictor:
    """A loaded model behind ``predict(data)``, which checks ``data`` against the model's
    signature first.

    ``data`` may be a pandas DataFrame, a NumPy array, a list of records (dicts), a dict of
    columns, or nested lists; it is put in the form the model was trained on (the signature's
    columns in their order, or its dtype and shape). The output is what the model gives:
    a NumPy array, or a DataFrame where the model returns one.
    """

    def __init__(self, model: object, meta: Mapping[str, Any], uri: str) -> None:
        self.model = model
        self.uri = uri
        self.flavor = str(meta["flavor"])
        signature = meta.get("signature")
        self.signature: dict[str, Any] | None = signature if isinstance(signature, dict) else None
        example = meta.get("input_example")
        self.input_example: dict[str, Any] | None = example if isinstance(example, dict) else None
        self._flavor = get_flavor(self.flavor)
        self._inputs = self.signature.get("inputs") if self.signature else None

    def prepare(self, data: Any) -> Any:
        """``data`` in the form the model takes.

        Raises:
            InvalidInputError: a column is missing, a value does not fit its column's dtype,
                or the shape differs (the message names which).
        """
        return signatures.as_input(data, self._inputs)

    def predict(self, data: Any) -> Any:
        """The model's prediction on ``data``, checked against its signature first."""
        return self.predict_prepared(self.prepare(data))

    def predict_prepared(self, data: Any) -> Any:
        """The model's prediction on data already in its form (what ``prepare`` returned,
        checked once for several uses: a server joins requests' rows this way)."""
        return predict(self._flavor, self.model, data)

    def __repr__(self) -> str:
        return f"<Predictor {self.uri} ({self.flavor})>"
