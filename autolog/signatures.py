"""What a model takes and gives: signatures, input examples, and input checked against them.

A signature is plain JSON, kept in the model's ``autolog-model.json``::

    {"inputs":  {"type": "dataframe", "columns": [{"name": "age", "dtype": "float64"}, ...]},
     "outputs": {"type": "tensor", "dtype": "int64", "shape": [-1]}}

``inputs``/``outputs`` are either a ``dataframe`` (named columns, each with its NumPy dtype;
one marked ``"required": false``, an imported MLflow model's optional column, may be absent)
or a ``tensor`` (a dtype and a shape, ``-1`` where any size goes: the rows). An input example
is at most ``EXAMPLE_ROWS`` rows of the training data in MLflow's ``dataframe_split`` form
(``{"columns": [...], "data": [[...], ...]}``; ``{"data": [...]}`` for a tensor), so that a
scoring server's client can send it as it is.

Only NumPy is needed to read data (pandas where the data is a DataFrame): both are imported
when there is data of theirs, never by ``import autolog``.
"""

from __future__ import annotations

import contextlib
import json
import math
from collections.abc import Mapping, Sequence
from typing import Any

from autolog.errors import InvalidInputError

__all__ = ["EXAMPLE_ROWS", "as_input", "describe", "example_of", "head", "infer", "rows_of"]

#: rows kept as an input example
EXAMPLE_ROWS = 5
#: an example larger than this, as JSON, is left out (the signature is kept)
_EXAMPLE_BYTES = 64 * 1024
#: the most a finite number takes in JSON, with its comma (-1.2345678901234567e-308,)
_NUMBER_BYTES = 25

# dtype kinds (numpy's one-letter codes) that a column of each kind accepts
_ACCEPTS = {
    "f": "fiub",  # a float column takes floats, integers and booleans
    "i": "iub",
    "u": "ub",
    "b": "b",
    "M": "M",
    "m": "m",
    "O": "OUSfiub",  # objects (strings, categories in a frame): anything
    "U": "OUS",
    "S": "OUS",
}


def head(data: Any, rows: int = EXAMPLE_ROWS) -> Any:
    """The first ``rows`` rows of ``data`` (a frame, an array, a sparse matrix, a tensor),
    or None where ``data`` has no rows to take."""
    if data is None:
        return None
    iloc = getattr(data, "iloc", None)
    if iloc is not None:
        return iloc[:rows]
    shape = getattr(data, "shape", None)
    if shape is None or len(shape) == 0:
        return None
    try:
        return data[:rows]
    except Exception:  # an object that only looks like an array
        return None


def infer(inputs: Any, outputs: Any) -> dict[str, Any] | None:
    """The signature of a model that gave ``outputs`` for ``inputs`` (None where the inputs
    show none; the outputs are left out where they show none)."""
    described = describe(head(inputs))
    if described is None:
        return None
    signature = {"inputs": described}
    given = describe(outputs)
    if given is not None:
        signature["outputs"] = given
    return signature


def rows_of(data: Any) -> Any:
    """A copy of ``data``'s first rows that its owner cannot change any more (an example is
    written later, on another thread), or None."""
    rows = head(data)
    if rows is None:
        return None
    copy = getattr(rows, "copy", None)
    try:
        return copy() if callable(copy) else rows
    except Exception:  # a copy() with other arguments: keep the slice
        return rows


def describe(data: Any) -> dict[str, Any] | None:
    """The schema of ``data`` (see the module's docstring), or None where it has none to
    see (a scalar, an object that is no table or array)."""
    columns = getattr(data, "columns", None)
    dtypes = getattr(data, "dtypes", None)
    if columns is not None and dtypes is not None and hasattr(data, "iloc"):
        return {
            "type": "dataframe",
            "columns": [
                {"name": str(name), "dtype": str(dtype)}
                for name, dtype in zip(columns, dtypes, strict=True)
            ],
        }
    array = _as_numpy(data)
    if array is None or array.ndim == 0:
        return None
    schema: dict[str, Any] = {
        "type": "tensor",
        "dtype": str(array.dtype),
        "shape": [-1, *array.shape[1:]],
    }
    if hasattr(data, "toarray") and isinstance(getattr(data, "format", None), str):
        schema["sparse_format"] = data.format  # trained on a sparse matrix (dense rows go too)
    return schema


def example_of(data: Any) -> dict[str, Any] | None:
    """``data``'s first rows as an input example (JSON-ready), or None where they cannot be
    written as JSON or are too large to keep."""
    rows = head(data)
    if rows is None:
        return None
    if hasattr(rows, "iloc") and hasattr(rows, "columns"):
        example = {
            "columns": [str(c) for c in rows.columns],
            "data": [[_json_value(v) for v in row] for row in rows.itertuples(index=False)],
        }
    else:
        array = _as_numpy(rows)
        if array is None or array.ndim == 0:
            return None
        if array.dtype.kind in "iub" or (array.dtype.kind == "f" and _finite(array)):
            example = {"data": array.tolist()}  # Python numbers already: nothing to convert
            if array.size * _NUMBER_BYTES <= _EXAMPLE_BYTES:
                return example  # small enough, whatever the numbers: no need to write it out
        else:
            example = {"data": _json_value(array.tolist())}
    try:
        text = json.dumps(example, allow_nan=False, separators=(",", ":"))
    except (TypeError, ValueError):
        return None
    return example if len(text) <= _EXAMPLE_BYTES else None


def as_input(data: Any, schema: Mapping[str, Any] | None) -> Any:
    """``data`` (a DataFrame, a NumPy array, a list of records, a dict of columns, nested
    lists) as the model takes it: a DataFrame with the signature's columns in its order, or
    an array of its dtype and shape.

    Raises:
        InvalidInputError: a column is missing, a value does not fit a column's or the
            tensor's dtype, or the shape differs; the message names the column or the shape.
    """
    if schema is None:
        return data if hasattr(data, "iloc") else _array(data, None)
    if schema.get("type") == "dataframe":
        return _frame(data, schema["columns"])
    return _tensor(data, schema)


def _frame(data: Any, columns: Sequence[Mapping[str, Any]]) -> Any:
    """``data`` as a new DataFrame of the signature's columns, in its order and of its dtypes
    (the caller's data is never changed): one frame built from one array per column. A column
    marked ``"required": false`` (an MLflow model's optional one) may be absent."""
    import pandas as pd

    names = [c["name"] for c in columns]
    given, index = _columns_of(data, names)
    missing = [c["name"] for c in columns if c["name"] not in given and c.get("required", True)]
    if missing:
        raise InvalidInputError(f"input lacks the column {missing[0]!r} the model takes")
    converted = {
        c["name"]: _column(given[c["name"]], c["name"], c["dtype"])
        for c in columns
        if c["name"] in given
    }
    return pd.DataFrame(converted, index=index, copy=False)


def _columns_of(data: Any, names: list[str]) -> tuple[dict[str, Any], Any]:
    """The columns ``data`` holds, by name (values of any array-like kind), and the index a
    frame of them keeps (a DataFrame's own; None for a new one)."""
    if hasattr(data, "iloc") and hasattr(data, "columns"):
        return {str(c): data[c] for c in data.columns}, data.index
    if isinstance(data, Mapping):
        return {str(k): _column_values(v) for k, v in data.items()}, None
    if isinstance(data, list) and data and all(isinstance(row, Mapping) for row in data):
        keys = {str(key) for row in data for key in row}
        by_text = [{str(k): v for k, v in row.items()} for row in data]
        return {name: [row.get(name) for row in by_text] for name in names if name in keys}, None
    array = _array(data, None)
    if array.ndim == 1 and len(names) == array.shape[0]:
        array = array.reshape(1, -1)  # one row given as a flat list
    if array.ndim != 2 or array.shape[1] != len(names):
        raise InvalidInputError(
            f"the model takes {len(names)} columns ({', '.join(names)}); "
            f"input of shape {list(array.shape)} has no names to match them to"
        )
    return {name: array[:, i] for i, name in enumerate(names)}, None


def _column(values: Any, name: str, dtype_name: str) -> Any:
    """One column's values as the signature's dtype says, or an error naming the column."""
    import numpy as np

    dtype = np.dtype(_numpy_dtype(dtype_name))
    if dtype.kind not in "fiub":
        return values  # text, categories, dates: as given (the model judges them)
    given = getattr(values, "dtype", None)
    if isinstance(values, np.ndarray):
        array = values
    elif isinstance(given, np.dtype):
        array = values.to_numpy() if hasattr(values, "to_numpy") else np.asarray(values)
    elif given is None:  # a list: JSON gives numbers as Python objects
        array = _numbers_of(np.asarray(values, dtype=object))
    else:  # a pandas extension array (strings, nullable numbers)
        array = np.asarray(values)
    if array.dtype.kind in _ACCEPTS[dtype.kind]:
        return array.astype(dtype, copy=False)
    return _coerce(array, dtype, name)


def _numbers_of(array: Any) -> Any:
    """Objects that are all numbers (None read as NaN) as an array of their kind; else the
    objects as they are."""
    import numpy as np

    values = array.tolist()
    if any(isinstance(v, (str, bytes)) for v in values):
        return array
    try:
        return np.asarray(values, dtype=float if None in values else None)
    except (TypeError, ValueError):
        return array


def _coerce(values: Any, dtype: Any, name: str) -> Any:
    """A column (an array) that really holds values of ``dtype`` though stored as another
    kind (whole numbers written as floats, as a row of mixed columns read as one array), as
    ``dtype``; else an error naming the column."""
    import numpy as np

    whole = values.dtype.kind == "f" and dtype.kind in "iu" and np.isfinite(values).all()
    if whole and (values == np.round(values)).all():
        return values.astype(dtype)
    shown = "str" if values.dtype.kind in "OUS" else str(values.dtype)
    raise InvalidInputError(f"column {name!r} holds {shown} values; the model takes {dtype} there")


def _tensor(data: Any, schema: Mapping[str, Any]) -> Any:
    import numpy as np

    dtype = np.dtype(_numpy_dtype(schema["dtype"]))
    if hasattr(data, "iloc"):
        data = data.to_numpy()
    array = _array(data, None)
    if array.dtype.kind not in _ACCEPTS.get(dtype.kind, dtype.kind):
        raise InvalidInputError(f"input holds {array.dtype} values; the model takes {dtype}")
    shape = list(schema["shape"])
    if array.ndim == len(shape) - 1 and array.ndim >= 1:
        array = array.reshape(1, *array.shape)  # one row without the row dimension
    fixed = [(given, want) for given, want in zip(array.shape, shape, strict=False)]
    if array.ndim != len(shape) or any(w not in (-1, g) for g, w in fixed):
        raise InvalidInputError(
            f"input of shape {list(array.shape)} does not fit the model's shape {shape} "
            "(-1: any size)"
        )
    return array.astype(dtype, copy=False)


def _array(data: Any, dtype: Any) -> Any:
    import numpy as np

    found = _as_numpy(data)
    if found is not None:
        return found
    try:
        return np.asarray(data, dtype=dtype)
    except (TypeError, ValueError) as exc:
        raise InvalidInputError(f"input cannot be read as an array: {exc}") from None


def _as_numpy(data: Any) -> Any:
    """``data`` as a NumPy array without copying where it is one already (or a tensor, a
    sparse matrix's first rows), None where it is none of those."""
    import numpy as np

    if isinstance(data, np.ndarray):
        return data
    if hasattr(data, "toarray") and hasattr(data, "shape"):  # a sparse matrix
        return data.toarray()
    detach = getattr(data, "detach", None)
    if callable(detach):  # a torch tensor
        return detach().cpu().numpy()
    if hasattr(data, "__array__") and not isinstance(data, (str, bytes, Mapping)):
        return np.asarray(data)
    return None


def _finite(array: Any) -> bool:
    import numpy as np

    return bool(np.isfinite(array).all())


def _column_values(values: Any) -> Any:
    return values if isinstance(values, (list, tuple)) or hasattr(values, "__len__") else [values]


def _numpy_dtype(name: str) -> str:
    """A dtype's name as NumPy knows it (pandas' extension names fall back to object)."""
    import numpy as np

    try:
        np.dtype(name)
    except TypeError:
        return "object"
    return name


def _json_value(value: Any) -> Any:
    """``value`` as JSON writes it: NumPy scalars as Python numbers, NaN and infinities as
    None (JSON has none), dates as ISO text, nested lists kept."""
    if isinstance(value, list):
        return [_json_value(v) for v in value]
    item = getattr(value, "item", None)
    if callable(item) and not isinstance(value, (str, bytes)):
        with contextlib.suppress(TypeError, ValueError):
            value = item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, (str, int, float, bool)) or value is None:
        return value
    isoformat = getattr(value, "isoformat", None)
    return isoformat() if callable(isoformat) else str(value)
