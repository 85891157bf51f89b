"""autolog's records on the wire: the JSON forms of the REST API, and a compact binary form
for metric values.

Shared by the tracking server (``autolog.server``) and the REST store (``autolog.stores.rest``);
it imports neither, nor any third-party package. The JSON form of each record is derived from
its entity in ``autolog.entities`` (see "entities" below), as the server's schemas are.

JSON numbers cannot be NaN or infinite, so a metric value that is not finite travels as one of
the strings ``"NaN"``, ``"Infinity"``, ``"-Infinity"``. Every other float is written with
``repr`` (exact: ``-0.0`` and denormals round-trip bit for bit).

The binary form (media type ``application/x-autolog-metrics``) carries metric values column by
column: a batch of a million values is three arrays per key instead of a million JSON
objects. Layout, all integers little-endian::

    b"ALM1"                     magic and version
    uint32 n                    length of the header
    n bytes                     header: UTF-8 JSON object; its "series" is [[key, count], ...]
    per series, in order:       count int64 steps, count int64 timestamps, count float64 values
"""

from __future__ import annotations

import enum
import gc
import json
import math
import struct
import sys
import types
import typing
from array import array
from collections.abc import Callable, Iterable, Mapping, Sequence
from itertools import repeat
from operator import itemgetter
from typing import Any, Generic, NamedTuple, TypeVar

from autolog.entities import (
    AccessToken,
    Experiment,
    FileInfo,
    Metric,
    ModelVersion,
    Param,
    RegisteredModel,
    Run,
    RunPage,
    RunTag,
)
from autolog.errors import (
    AutologError,
    InvalidFilterError,
    InvalidInputError,
    InvalidKeyError,
    InvalidURIError,
    InvalidValueError,
    ModelIntegrityError,
    NotFoundError,
    ParamCollisionError,
    RunStateError,
    StoreError,
    StoreUnavailableError,
    UnsafePathError,
)
from autolog.search import NUMERIC_ATTRIBUTES, STRING_ATTRIBUTES, Comparison, OrderBy

__all__ = [
    "ERROR_STATUS",
    "METRICS_MEDIA_TYPE",
    "AlreadyExistsError",
    "DigestMismatchError",
    "WireError",
    "comparison_from_json",
    "comparison_to_json",
    "decode_metrics",
    "dumps",
    "encode_history",
    "encode_metrics",
    "error_body",
    "error_from_json",
    "error_to_json",
    "experiment_from_json",
    "experiment_to_json",
    "file_info_from_json",
    "file_info_to_json",
    "metric_from_json",
    "metric_to_json",
    "model_version_from_json",
    "model_version_to_json",
    "number_from_json",
    "number_to_json",
    "order_by_from_json",
    "order_by_to_json",
    "pairs_from_json",
    "params_to_json",
    "run_from_json",
    "run_page_from_json",
    "run_page_to_json",
    "run_to_json",
    "tags_to_json",
    "token_from_json",
    "token_to_json",
]

METRICS_MEDIA_TYPE = "application/x-autolog-metrics"
_MAGIC = b"ALM1"
_HEADER = struct.Struct("<4sI")
_BIG_ENDIAN = sys.byteorder == "big"
_SPECIAL = {"NaN": math.nan, "Infinity": math.inf, "-Infinity": -math.inf}
_INFINITE = (math.inf, -math.inf)
_new_tuple = tuple.__new__
_VALUE, _STEP, _TIMESTAMP = itemgetter(1), itemgetter(2), itemgetter(3)
_R = TypeVar("_R", bound=tuple[Any, ...])


class WireError(InvalidInputError):
    """A request or response body does not have the documented form."""


class AlreadyExistsError(InvalidInputError):
    """Creating what exists (409 ``already_exists``): a retry may meet its own first try."""

    def __init__(self, what: str, name: str) -> None:
        self.what = what
        self.name = name
        super().__init__(f"{what} {name!r} already exists")


class DigestMismatchError(StoreUnavailableError):
    """Bytes arrived with another SHA-256 than announced (400 ``sha256_mismatch``): they were
    discarded, and sending them again may work."""


def dumps(value: Any) -> bytes:
    """Compact JSON (no NaN: encode metric values with ``number_to_json`` first)."""
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False, allow_nan=False).encode()


def number_to_json(value: float) -> float | str:
    if math.isfinite(value):
        return value
    if math.isnan(value):
        return "NaN"
    return "Infinity" if value > 0 else "-Infinity"


def number_from_json(value: object) -> float:
    if isinstance(value, float):
        if value in _INFINITE:  # a literal past float's range (1e400): refused like Infinity
            raise WireError(
                f"number out of range: {value}; send the string 'Infinity' or '-Infinity' "
                "for an infinite value"
            )
        return value
    if isinstance(value, int) and not isinstance(value, bool):
        try:
            return float(value)
        except OverflowError:
            raise WireError(f"number out of range: {value}") from None
    if isinstance(value, str) and value in _SPECIAL:
        return _SPECIAL[value]
    raise WireError(f"expected a number (or 'NaN', 'Infinity', '-Infinity'), not {value!r}")


# -------------------------------------------------------------------------------- entities
#
# A record's JSON form is derived from its entity (``autolog.entities``, the one description of
# every record): an object with one member per field, in the entity's field order, each value
# as its annotation says. A field added to an entity travels with no change here, and the
# server's schemas (``autolog.server.schemas``) are derived the same way.
#
#   str, int, bool          themselves (decoding checks the type: no bool for an int)
#   float                   number_to_json (NaN and infinities as strings)
#   an enum                 its value
#   X | None                null or X; the member may be missing on decoding (null)
#   Mapping[str, X]         an object; tuple[X, ...], list[X], Sequence[X]: an array
#   another entity          its own form, nested
#
# A field with a default may be missing on decoding too (the default).

_REQUIRED: Any = object()
_MISSING: Any = object()
_STRING = {str}


class _Codec(NamedTuple):
    """How one field's values travel: ``encode`` to JSON (None: a value is its own JSON) and
    ``decode`` back, WireError if malformed. A value of exactly type ``plain`` needs neither,
    which spares a call per value on the hot paths (a search answer holds thousands)."""

    encode: Callable[[Any], Any] | None
    decode: Callable[[Any], Any]
    plain: type | None = None


def _expected(what: str, value: object) -> WireError:
    return WireError(f"expected {what}, not {value!r}")


def _plain_codec(kind: type, what: str) -> _Codec:
    def decode(value: object) -> Any:
        if type(value) is not kind:  # exactly: a bool is no integer here
            raise _expected(what, value)
        return value

    return _Codec(None, decode, kind)


_CODECS = {
    str: _plain_codec(str, "a string"),
    int: _plain_codec(int, "an integer"),
    bool: _plain_codec(bool, "true or false"),
    float: _Codec(number_to_json, number_from_json),
}


def _codec(hint: Any) -> _Codec:
    """The codec of a field annotated ``hint`` (the table above); TypeError for another type."""
    if hint in _CODECS:
        return _CODECS[hint]
    if isinstance(hint, type) and issubclass(hint, enum.Enum):
        return _enum_codec(hint)
    if isinstance(hint, type) and issubclass(hint, tuple) and hasattr(hint, "_fields"):
        form = _Form(hint)
        return _Codec(form.to_json, form.from_json)
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin in (types.UnionType, typing.Union) and len(args) == 2 and type(None) in args:
        return _optional_codec(_codec(next(a for a in args if a is not type(None))))
    if origin in (Mapping, dict) and args[0] is str:
        return _mapping_codec(_codec(args[1]))
    if origin in (tuple, list, Sequence) and (origin is not tuple or args[1:] == (...,)):
        return _array_codec(_codec(args[0]), tuple if origin is tuple else list)
    raise TypeError(f"no JSON form for a field of type {hint!r}: add one to autolog.wire")


def _enum_codec(kind: type[enum.Enum]) -> _Codec:
    def decode(value: object) -> enum.Enum:
        try:
            return kind(value)
        except ValueError:
            raise _expected(f"one of {[m.value for m in kind]}", value) from None

    return _Codec(lambda member: member.value, decode)


def _optional_codec(codec: _Codec) -> _Codec:
    encode, decode, plain = codec
    return _Codec(
        None if encode is None else lambda value: None if value is None else encode(value),
        lambda value: None if value is None else decode(value),
        plain,
    )


def _mapping_codec(codec: _Codec) -> _Codec:
    encode, decode, plain = codec

    def decoded(data: object) -> dict[str, Any]:
        if type(data) is not dict and not isinstance(data, Mapping):
            raise _expected("an object", data)
        if not set(map(type, data)) <= _STRING:
            raise _expected("an object with string keys", data)
        if plain is not None and set(map(type, data.values())) <= {plain}:
            return dict(data)
        return {key: decode(value) for key, value in data.items()}

    if encode is None:
        return _Codec(dict, decoded)
    return _Codec(lambda data: {key: encode(value) for key, value in data.items()}, decoded)


def _array_codec(codec: _Codec, kind: Callable[[Iterable[Any]], Any]) -> _Codec:
    encode, decode, _ = codec

    def decoded(data: object) -> Any:
        if not isinstance(data, list):
            raise _expected("an array", data)
        return kind(map(decode, data))

    return _Codec(list if encode is None else lambda data: list(map(encode, data)), decoded)


class _Form(Generic[_R]):
    """The JSON form of one entity (the table above), derived from its annotations."""

    def __init__(self, entity: type[_R]) -> None:
        hints = typing.get_type_hints(entity)
        defaults: Mapping[str, Any] = entity._field_defaults  # type: ignore[attr-defined]
        self.entity = entity
        self.names: tuple[str, ...] = entity._fields  # type: ignore[attr-defined]
        self.codecs = tuple(_codec(hints[name]) for name in self.names)
        #: the fields whose values are not their own JSON: index, name, encode
        self.encoders = tuple(
            (index, name, codec.encode)
            for index, (name, codec) in enumerate(zip(self.names, self.codecs, strict=True))
            if codec.encode is not None
        )
        #: per field: name, decode, plain, and its value when missing (_REQUIRED: none)
        self.decoders = tuple(
            (name, codec.decode, codec.plain, _when_missing(hints[name], defaults, name))
            for name, codec in zip(self.names, self.codecs, strict=True)
        )

    def to_json(self, record: _R) -> dict[str, Any]:
        data = dict(zip(self.names, record, strict=True))
        for index, name, encode in self.encoders:
            data[name] = encode(record[index])
        return data

    def from_json(self, data: object) -> _R:
        if type(data) is not dict and not isinstance(data, Mapping):
            names = ", ".join(self.names)
            raise WireError(f"{self.entity.__name__} is an object with {names}, not {data!r}")
        values = []
        for name, decode, plain, default in self.decoders:
            value = data.get(name, _MISSING)
            if type(value) is plain:
                values.append(value)
            elif value is not _MISSING:
                values.append(self._decode(name, decode, value))
            elif default is not _REQUIRED:
                values.append(default)
            else:
                raise WireError(f"{self.entity.__name__}: {name} is missing")
        return _new_tuple(self.entity, values)

    def _decode(self, name: str, decode: Callable[[Any], Any], value: object) -> Any:
        try:
            return decode(value)
        except WireError as exc:
            raise WireError(f"{self.entity.__name__}.{name}: {exc}") from None


def _when_missing(hint: Any, defaults: Mapping[str, Any], name: str) -> Any:
    if type(None) in typing.get_args(hint):
        return None
    return defaults.get(name, _REQUIRED)


_EXPERIMENT = _Form(Experiment)
_RUN = _Form(Run)
_RUN_PAGE = _Form(RunPage)
_METRIC = _Form(Metric)
_PARAM = _Form(Param)
_TAG = _Form(RunTag)
_FILE_INFO = _Form(FileInfo)
_MODEL_VERSION = _Form(ModelVersion)
_REGISTERED_MODEL = _Form(RegisteredModel)
_TOKEN = _Form(AccessToken)

experiment_to_json = _EXPERIMENT.to_json
experiment_from_json = _EXPERIMENT.from_json
run_to_json = _RUN.to_json
run_from_json = _RUN.from_json
run_page_to_json = _RUN_PAGE.to_json
run_page_from_json = _RUN_PAGE.from_json
metric_to_json = _METRIC.to_json
metric_from_json = _METRIC.from_json
file_info_to_json = _FILE_INFO.to_json
file_info_from_json = _FILE_INFO.from_json
model_version_to_json = _MODEL_VERSION.to_json
model_version_from_json = _MODEL_VERSION.from_json
registered_model_to_json = _REGISTERED_MODEL.to_json
registered_model_from_json = _REGISTERED_MODEL.from_json


def params_to_json(params: Iterable[Param]) -> list[dict[str, Any]]:
    return [_PARAM.to_json(param) for param in params]


def tags_to_json(tags: Iterable[RunTag]) -> list[dict[str, Any]]:
    return [_TAG.to_json(tag) for tag in tags]


def pairs_from_json(data: object, what: str) -> list[tuple[str, str]]:
    """Params or tags: a list of {"key": ..., "value": ...} objects with string fields."""
    if not isinstance(data, list):
        raise WireError(f"{what} is a list of {{key, value}} objects, not {data!r}")
    try:
        return [_PARAM.from_json(item) for item in data]
    except WireError as exc:
        raise WireError(f"{what}: {exc}") from None


def token_to_json(token: AccessToken, *, with_hash: bool = False) -> dict[str, Any]:
    """A token's record (the secret is never stored; its hash only ``with_hash``)."""
    data = _TOKEN.to_json(token)
    if not with_hash:
        del data["secret_hash"]
    return data


def token_from_json(data: object, secret_hash: str = "") -> AccessToken:
    """A token's record; ``secret_hash`` where the record carries none (``with_hash=False``)."""
    if isinstance(data, Mapping) and "secret_hash" not in data:
        data = {**data, "secret_hash": secret_hash}
    return _TOKEN.from_json(data)


# ---------------------------------------------------------------------------- binary metrics


def encode_metrics(metrics: Sequence[Metric], header: Mapping[str, Any] | None = None) -> bytes:
    """The binary form of ``metrics`` (grouped by key, each key's values in their order)."""
    columns: dict[str, tuple[list[int], list[int], list[float]]] = {}
    for key, value, step, timestamp in metrics:
        column = columns.get(key)
        if column is None:
            column = columns[key] = ([], [], [])
        column[0].append(step)
        column[1].append(timestamp)
        column[2].append(value)
    return _pack(
        {**(header or {}), "series": [[k, len(c[0])] for k, c in columns.items()]},
        list(columns.values()),
    )


def encode_history(key: str, metrics: Sequence[Metric], header: Mapping[str, Any]) -> bytes:
    """One key's history in the binary form (as ``encode_metrics``, cheaper for one key)."""
    columns = (
        array("q", map(_STEP, metrics)),
        array("q", map(_TIMESTAMP, metrics)),
        array("d", map(_VALUE, metrics)),
    )
    return _pack({**header, "series": [[key, len(metrics)]]}, [columns])


def _pack(
    header: Mapping[str, Any],
    columns: Sequence[tuple[Sequence[int], Sequence[int], Sequence[float]]],
) -> bytes:
    head = dumps(header)
    parts = [_HEADER.pack(_MAGIC, len(head)), head]
    for steps, timestamps, values in columns:
        for code, column in (("q", steps), ("q", timestamps), ("d", values)):
            try:
                packed = column if isinstance(column, array) else array(code, column)
            except OverflowError:
                raise WireError("metric steps and timestamps must fit in 64 bits") from None
            if _BIG_ENDIAN:
                packed.byteswap()
            parts.append(packed.tobytes())
    return b"".join(parts)


def decode_metrics(data: bytes) -> tuple[dict[str, Any], list[Metric]]:
    """The header and the metric values of a binary body; WireError if it is malformed."""
    if len(data) < _HEADER.size:
        raise WireError("binary metric body too short")
    magic, size = _HEADER.unpack_from(data)
    if magic != _MAGIC:
        raise WireError(f"binary metric body must start with {_MAGIC!r}, not {magic!r}")
    start = _HEADER.size
    if start + size > len(data):
        raise WireError("binary metric body: header runs past the end")
    try:
        header = json.loads(data[start : start + size])
    except (ValueError, UnicodeDecodeError) as exc:
        raise WireError(f"binary metric body: header is not JSON ({exc})") from None
    if not isinstance(header, dict):
        raise WireError("binary metric body: the header must be a JSON object")
    series = header.get("series", [])
    if not isinstance(series, list):
        raise WireError("binary metric body: 'series' must be a list of [key, count]")
    # A million tuples made at once set off the cyclic garbage collector over and over (4x
    # the time); tuples of numbers and a string hold no cycles.
    collecting = gc.isenabled()
    gc.disable()
    try:
        metrics = _decode_series(data, start + size, series)
    finally:
        if collecting:
            gc.enable()
    return header, metrics


def _decode_series(data: bytes, offset: int, series: list[Any]) -> list[Metric]:
    metrics: list[Metric] = []
    for entry in series:
        if (
            not isinstance(entry, list)
            or len(entry) != 2
            or not isinstance(entry[0], str)
            or not isinstance(entry[1], int)
            or isinstance(entry[1], bool)
            or entry[1] < 0
        ):
            raise WireError(f"binary metric body: bad series entry {entry!r}")
        key, count = entry
        end = offset + 24 * count
        if end > len(data):
            raise WireError(f"binary metric body: series {key!r} runs past the end")
        steps, timestamps, values = array("q"), array("q"), array("d")
        steps.frombytes(data[offset : offset + 8 * count])
        timestamps.frombytes(data[offset + 8 * count : offset + 16 * count])
        values.frombytes(data[offset + 16 * count : end])
        if _BIG_ENDIAN:
            for column in (steps, timestamps, values):
                column.byteswap()
        metrics.extend(
            [
                _new_tuple(Metric, row)
                for row in zip(repeat(key, count), values, steps, timestamps, strict=False)
            ]
        )
        offset = end
    if offset != len(data):
        raise WireError("binary metric body: bytes left over after the last series")
    return metrics


# ------------------------------------------------------------------------------------ errors

#: error code -> HTTP status, for the errors of the ``AutologError`` tree
ERROR_STATUS = {
    "already_exists": 409,
    "sha256_mismatch": 400,
    "param_collision": 409,
    "invalid_key": 400,
    "invalid_value": 400,
    "invalid_filter": 400,
    "invalid_uri": 400,
    "unsafe_path": 400,
    "invalid_input": 400,
    "invalid_request": 400,
    "not_found": 404,
    "run_state": 409,
    "model_integrity": 409,
    "store_unavailable": 503,
    "store_error": 500,
    "error": 500,
}


def error_to_json(exc: AutologError) -> tuple[int, dict[str, Any]]:
    """The HTTP status and JSON body that report ``exc`` (its data in ``details``)."""
    details: dict[str, Any] = {}
    if isinstance(exc, AlreadyExistsError):
        code, details = "already_exists", {"what": exc.what, "name": exc.name}
    elif isinstance(exc, DigestMismatchError):
        code = "sha256_mismatch"
    elif isinstance(exc, ParamCollisionError):
        code = "param_collision"
        details = {
            "run_id": exc.run_id,
            "key": exc.key,
            "old_value": exc.old_value,
            "new_value": exc.new_value,
        }
    elif isinstance(exc, InvalidKeyError):
        code, details = "invalid_key", {"key": _text(exc.key), "reason": exc.reason}
    elif isinstance(exc, InvalidValueError):
        code, details = "invalid_value", {"key": _text(exc.key), "reason": exc.reason}
    elif isinstance(exc, InvalidFilterError):
        code = "invalid_filter"
        details = {"filter_string": exc.filter_string, "reason": exc.reason}
    elif isinstance(exc, InvalidURIError):
        code, details = "invalid_uri", {"uri": exc.uri, "reason": exc.reason}
    elif isinstance(exc, UnsafePathError):
        code, details = "unsafe_path", {"path": exc.path, "reason": exc.reason}
    elif isinstance(exc, WireError):
        code = "invalid_request"
    elif isinstance(exc, InvalidInputError):
        code = "invalid_input"
    elif isinstance(exc, NotFoundError):
        code, details = "not_found", {"what": exc.what, "name": exc.name}
    elif isinstance(exc, RunStateError):
        code = "run_state"
    elif isinstance(exc, ModelIntegrityError):
        code = "model_integrity"
        details = {"path": exc.path, "expected": exc.expected, "actual": exc.actual}
    elif isinstance(exc, StoreUnavailableError):
        code = "store_unavailable"
    elif isinstance(exc, StoreError):
        code = "store_error"
    else:
        code = "error"
    return ERROR_STATUS[code], error_body(code, str(exc), details)


def error_body(code: str, message: str, details: Mapping[str, Any] | None = None) -> dict[str, Any]:
    return {"error": {"code": code, "message": message, "details": dict(details or {})}}


def error_from_json(status: int, body: object) -> AutologError:
    """The error a server's answer reports, as the ``AutologError`` it was on the server."""
    error = body.get("error") if isinstance(body, Mapping) else None
    if not isinstance(error, Mapping):
        kind = StoreUnavailableError if status >= 500 or status == 429 else StoreError
        return kind(f"the tracking server answered {status} without an error description")
    code = str(error.get("code", ""))
    message = str(error.get("message", ""))
    details = error.get("details") if isinstance(error.get("details"), Mapping) else {}
    assert isinstance(details, Mapping)

    def get(name: str) -> Any:
        value = details.get(name)
        return "" if value is None else value

    exc: AutologError
    if code == "already_exists":
        exc = AlreadyExistsError(get("what"), get("name"))
    elif code == "sha256_mismatch":
        exc = DigestMismatchError(message)
    elif code == "param_collision":
        exc = ParamCollisionError(get("run_id"), get("key"), get("old_value"), get("new_value"))
    elif code == "invalid_key":
        exc = InvalidKeyError(get("key"), get("reason"))
    elif code == "invalid_value":
        exc = InvalidValueError(get("key"), None, get("reason"))
    elif code == "invalid_filter":
        exc = InvalidFilterError(get("filter_string"), get("reason"))
    elif code == "invalid_uri":
        exc = InvalidURIError(get("uri"), get("reason"))
    elif code == "unsafe_path":
        exc = UnsafePathError(get("path"), get("reason"))
    elif code in ("invalid_input", "invalid_request", "too_large"):
        exc = InvalidInputError(message)
    elif code == "not_found":
        exc = NotFoundError(get("what"), get("name"))
    elif code == "run_state":
        exc = RunStateError(message)
    elif code == "model_integrity":
        exc = ModelIntegrityError(get("path"), details.get("expected"), details.get("actual"))
    elif code in ("store_error", "error", "internal_error"):
        exc = StoreError(message)
    else:
        # unavailable, overloaded, refused credentials (which an operator may fix): worth a
        # retry, so data logged meanwhile is kept
        exc = StoreUnavailableError(message or f"the tracking server answered {status}")
    if message:
        exc.args = (message,)  # the server's words, exactly
    return exc


def _text(value: object) -> str:
    return value if isinstance(value, str) else repr(value)


# ------------------------------------------------------------------------------------ search

_ENTITIES = ("metric", "param", "tag", "attribute")
_NUMERIC_OPS = frozenset(("=", "!=", "<", "<=", ">", ">="))
_STRING_OPS = frozenset(("=", "!=", "LIKE", "ILIKE", "NOT LIKE", "NOT ILIKE", "IN", "NOT IN"))


def comparison_to_json(comparison: Comparison) -> dict[str, Any]:
    value = comparison.value
    if isinstance(value, float):
        shown: Any = number_to_json(value)
    elif isinstance(value, tuple):
        shown = list(value)
    else:
        shown = value
    return {"entity": comparison.entity, "key": comparison.key, "op": comparison.op, "value": shown}


def comparison_from_json(data: object) -> Comparison:
    """A parsed filter condition, checked as ``parse_filter`` checks the text form."""
    if not isinstance(data, Mapping):
        raise WireError(f"a filter is an object with entity, key, op, value, not {data!r}")
    entity, key, op, value = (data.get(k) for k in ("entity", "key", "op", "value"))
    if entity not in _ENTITIES or not isinstance(key, str) or not key:
        raise WireError(f"a filter needs an entity in {_ENTITIES} and a key, not {data!r}")
    numeric = entity == "metric" or (entity == "attribute" and key in NUMERIC_ATTRIBUTES)
    if entity == "attribute" and key not in NUMERIC_ATTRIBUTES + STRING_ATTRIBUTES:
        raise WireError(f"unknown attribute {key!r}")
    if not isinstance(op, str) or op not in (_NUMERIC_OPS if numeric else _STRING_OPS):
        raise WireError(f"operator {op!r} does not apply to {entity} {key!r}")
    checked: float | str | tuple[str, ...]
    if numeric:
        checked = number_from_json(value)
        if entity == "attribute":
            if not math.isfinite(checked):
                raise WireError(f"{key} compares to a finite number, not {value!r}")
            # as parse_filter does: a time beyond 64 bits is compared as the number it is
            if -(2**63) <= checked < 2**63:
                checked = int(checked)
    elif op in ("IN", "NOT IN"):
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise WireError(f"{op} takes a list of strings, not {value!r}")
        checked = tuple(value)
    elif isinstance(value, str):
        checked = value
    else:
        raise WireError(f"{entity} {key!r} compares to a string, not {value!r}")
    return Comparison(entity, key, op, checked)


def order_by_to_json(clause: OrderBy) -> dict[str, Any]:
    return clause._asdict()


def order_by_from_json(data: object) -> OrderBy:
    if not isinstance(data, Mapping):
        raise WireError(f"an order is an object with entity, key, ascending, not {data!r}")
    entity, key, ascending = data.get("entity"), data.get("key"), data.get("ascending", True)
    if entity not in _ENTITIES or not isinstance(key, str) or not key:
        raise WireError(f"an order needs an entity in {_ENTITIES} and a key, not {data!r}")
    if entity == "attribute" and key not in NUMERIC_ATTRIBUTES + STRING_ATTRIBUTES:
        raise WireError(f"unknown attribute {key!r}")
    if not isinstance(ascending, bool):
        raise WireError(f"ascending is true or false, not {ascending!r}")
    return OrderBy(entity, key, ascending)
