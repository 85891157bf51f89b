"""What travels over ``/invocations``: MLflow's request bodies read into data a predictor
takes, and predictions written back as JSON.

The JSON bodies are those of MLflow's scoring server, so that its clients work unchanged:

- ``{"dataframe_split": {"columns": [...], "data": [[...], ...]}}`` (pandas' split orient;
  ``index`` is accepted and ignored),
- ``{"dataframe_records": [{"col": value, ...}, ...]}``,
- ``{"instances": [...]}`` (TF-serving's row form: a list of rows, or of objects whose keys
  are columns or named inputs),
- ``{"inputs": ...}`` (TF-serving's columnar form: an array, or an object of columns).

A ``text/csv`` body is a table with a header line. Anything else is a ``BadRequest`` naming
what is wrong; none of this module ever answers with a traceback.
"""

from __future__ import annotations

import io
import json
import math
from collections.abc import Mapping
from typing import Any

__all__ = [
    "JSON_FORMATS",
    "BadRequest",
    "predictions_body",
    "read_body",
    "row_count",
    "rows",
]

JSON_FORMATS = ("dataframe_split", "dataframe_records", "instances", "inputs")


class BadRequest(Exception):
    """A request that cannot be read: ``status`` (4xx) and ``code`` say how, the message
    what. Internal to the model server (which answers it as JSON), hence not an
    ``AutologError``."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message


def read_body(body: bytes, content_type: str) -> Any:
    """The data of an ``/invocations`` body, in a form ``Predictor.prepare`` takes.

    Raises:
        BadRequest: an unsupported content type (415), or a body that is not valid JSON or
            CSV or not one of MLflow's formats (400).
    """
    media = content_type.partition(";")[0].strip().lower()
    if media == "application/json" or (media.startswith("application/") and "+json" in media):
        return _read_json(body)
    if media == "text/csv":
        return _read_csv(body)
    shown = repr(content_type) if content_type else "none"
    raise BadRequest(
        415,
        "unsupported_media_type",
        f"the content type is {shown}; send application/json (one of "
        f"{', '.join(JSON_FORMATS)}) or text/csv",
    )


def _read_json(body: bytes) -> Any:
    try:
        parsed = json.loads(body)
    except UnicodeDecodeError:
        raise BadRequest(400, "malformed_json", "the body is not UTF-8 text") from None
    except json.JSONDecodeError as exc:
        raise BadRequest(
            400,
            "malformed_json",
            f"the body is not valid JSON: {exc.msg} at line {exc.lineno} column {exc.colno}",
        ) from None
    if not isinstance(parsed, dict):
        raise BadRequest(
            400,
            "bad_format",
            f"the body is a JSON {type(parsed).__name__}; send an object with one of the keys "
            f"{', '.join(JSON_FORMATS)}",
        )
    found = [key for key in JSON_FORMATS if key in parsed]
    if len(found) != 1:
        given = ", ".join(sorted(map(str, parsed))) or "none"
        raise BadRequest(
            400,
            "bad_format",
            f"the body has the keys {given}; it needs exactly one of {', '.join(JSON_FORMATS)}",
        )
    others = sorted(set(parsed) - {found[0]})
    if others:
        raise BadRequest(
            400,
            "bad_format",
            f"unexpected key {others[0]!r} beside {found[0]!r} (params are "
            "not supported: autolog's models take none)",
        )
    return _READERS[found[0]](parsed[found[0]])


def _split(value: Any) -> Any:
    if not isinstance(value, dict) or not isinstance(value.get("data"), list):
        raise BadRequest(
            400,
            "bad_format",
            'dataframe_split is an object {"columns": [...], "data": [[...], ...]}',
        )
    data = value["data"]
    columns = value.get("columns")
    if columns is None:
        return data  # positional columns: the signature names them
    if not isinstance(columns, list) or not all(isinstance(c, str) for c in columns):
        raise BadRequest(400, "bad_format", "dataframe_split's columns is a list of names")
    records = []
    for number, row in enumerate(data):
        if not isinstance(row, list) or len(row) != len(columns):
            raise BadRequest(
                400,
                "bad_format",
                f"dataframe_split row {number} has "
                f"{len(row) if isinstance(row, list) else 'no list of'} values for "
                f"{len(columns)} columns",
            )
        records.append(dict(zip(columns, row, strict=True)))
    return _records(records)


def _records(value: Any) -> Any:
    if not isinstance(value, list) or not all(isinstance(row, dict) for row in value):
        raise BadRequest(400, "bad_format", "dataframe_records is a list of objects (one a row)")
    if not value:
        return value
    return _columns_of(value, "dataframe_records")


def _instances(value: Any) -> Any:
    if not isinstance(value, list):
        raise BadRequest(400, "bad_format", "instances is a list (one item a row)")
    if value and all(isinstance(row, dict) for row in value):
        return _columns_of(value, "instances")
    return value


def _inputs(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): v if isinstance(v, list) else [v] for k, v in value.items()}
    if not isinstance(value, list):
        raise BadRequest(400, "bad_format", "inputs is a list of rows or an object of columns")
    return value


def _columns_of(rows: list[dict[str, Any]], name: str) -> dict[str, list[Any]]:
    """Rows of objects as a dict of columns; every row has the same keys."""
    keys = list(rows[0])
    wanted = set(keys)
    for number, row in enumerate(rows):
        if row.keys() != wanted:
            differ = sorted(wanted.symmetric_difference(row))
            raise BadRequest(
                400,
                "bad_format",
                f"{name} row {number} differs from the first in the key {differ[0]!r}",
            )
    return {key: [row[key] for row in rows] for key in keys}


_READERS = {
    "dataframe_split": _split,
    "dataframe_records": _records,
    "instances": _instances,
    "inputs": _inputs,
}


def _read_csv(body: bytes) -> Any:
    import pandas as pd

    try:
        return pd.read_csv(io.BytesIO(body))
    except UnicodeDecodeError:
        raise BadRequest(400, "malformed_csv", "the CSV body is not UTF-8 text") from None
    except (pd.errors.ParserError, pd.errors.EmptyDataError, ValueError) as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise BadRequest(400, "malformed_csv", f"the CSV body cannot be read: {first}") from None


def row_count(data: Any) -> int:
    """How many rows prepared input holds (a DataFrame or an array)."""
    shape = getattr(data, "shape", None)
    if shape is not None and len(shape) > 0:
        return int(shape[0])
    return len(data)


def rows(output: Any, start: int, stop: int) -> Any:
    """Rows ``start:stop`` of a model's output (a DataFrame, a Series, an array, a list)."""
    iloc = getattr(output, "iloc", None)
    if iloc is not None:
        return iloc[start:stop]
    return output[start:stop]


def predictions_body(output: Any) -> bytes:
    """``{"predictions": ...}`` for a model's output, as MLflow's scoring server writes it:
    a DataFrame as a list of records, an array or a Series as nested lists; NaN and the
    infinities as null (JSON has none)."""
    value = _plain(output)
    if not isinstance(value, (list, dict)):
        value = [value]  # one prediction of a model that gives a scalar
    try:
        text = json.dumps({"predictions": value}, allow_nan=False, default=_default)
    except ValueError:  # a NaN or an infinity somewhere
        text = json.dumps({"predictions": _finite(value)}, allow_nan=False, default=_default)
    return text.encode()


def _plain(output: Any) -> Any:
    to_dict = getattr(output, "to_dict", None)
    if callable(to_dict) and hasattr(output, "columns"):
        return to_dict(orient="records")
    detach = getattr(output, "detach", None)
    if callable(detach):  # a torch tensor
        output = detach().cpu().numpy()
    tolist = getattr(output, "tolist", None)
    if callable(tolist):
        return tolist()
    if isinstance(output, Mapping):
        return {str(k): _plain(v) for k, v in output.items()}
    if isinstance(output, (list, tuple)):
        return [_plain(v) for v in output]
    return output


def _finite(value: Any) -> Any:
    item = getattr(value, "item", None)
    if callable(item) and not isinstance(value, (list, dict)):
        value = item()  # a NumPy scalar
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, list):
        return [_finite(v) for v in value]
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    return value


def _default(value: Any) -> Any:
    """A value ``json`` does not know: a NumPy scalar as its Python value, a date as ISO
    text, anything else as its text."""
    item = getattr(value, "item", None)
    if callable(item):
        return item()
    isoformat = getattr(value, "isoformat", None)
    return isoformat() if callable(isoformat) else str(value)
