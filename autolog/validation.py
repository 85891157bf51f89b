"""Checks applied on the caller's thread before anything is queued for a store."""

from __future__ import annotations

import numbers
import re
from collections.abc import Mapping
from typing import Any

from autolog.entities import RunStatus
from autolog.errors import (
    InvalidInputError,
    InvalidKeyError,
    InvalidValueError,
    UnsafePathError,
)
from autolog.rendering import render

MAX_KEY_LENGTH = 250
# Params and tags are stored whole up to this size; larger values are refused, never cut.
MAX_VALUE_LENGTH = 16 * 1024 * 1024

_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_DRIVE = re.compile(r"^[A-Za-z]:")
#: Keys that passed ``check_key`` (up to 100,000 of them): ``key in CHECKED_KEYS`` is the
#: check the hot path makes before calling ``check_key``. Read it; only ``check_key`` adds.
CHECKED_KEYS: set[str] = set()


def check_key(key: object) -> str:
    """Return ``key`` if it is a valid param, metric, tag or artifact key, else raise.

    Keys are relative slash-separated paths: they may not be empty, absolute, contain ``..`` or
    ``.`` or empty segments, backslashes or control characters, or exceed 250 characters.
    """
    if not isinstance(key, str):
        raise InvalidKeyError(key, f"keys must be strings, not {type(key).__name__}")
    if key in CHECKED_KEYS:  # a set lookup keeps log_metric at microseconds per call
        return key
    _check_relative_path(key, InvalidKeyError, allow_empty=False)
    if len(key) > MAX_KEY_LENGTH:
        raise InvalidKeyError(key, f"longer than {MAX_KEY_LENGTH} characters ({len(key)})")
    if len(CHECKED_KEYS) < 100_000:
        CHECKED_KEYS.add(key)
    return key


def check_artifact_path(path: str | None) -> str:
    """Normalise an artifact path ('' for the root); raise UnsafePathError if it could escape."""
    if path is None or path in ("", "."):
        return ""
    if not isinstance(path, str):
        raise UnsafePathError(repr(path), "artifact paths must be strings")
    stripped = path.strip("/") if not path.startswith("/") else path
    _check_relative_path(stripped, UnsafePathError, allow_empty=False)
    return stripped


def _check_relative_path(
    key: str, error: type[InvalidKeyError] | type[UnsafePathError], *, allow_empty: bool
) -> None:
    def fail(reason: str) -> None:
        raise error(key, reason)

    if not key:
        if allow_empty:
            return
        fail("keys may not be empty")
    if _CONTROL.search(key):
        fail("control characters are not allowed")
    if "\\" in key:
        fail("backslashes are not allowed (use '/')")
    if key.startswith("/") or _DRIVE.match(key):
        fail("absolute paths are not allowed")
    for part in key.split("/"):
        if part == "..":
            fail("'..' segments are not allowed")
        if part in ("", "."):
            fail("empty or '.' segments are not allowed")


def stringify(key: str, value: object) -> str:
    """Render a param or tag value as the string that is stored (one rule for every caller:
    ``autolog.rendering``), refusing oversized ones."""
    text = value if isinstance(value, str) else render(value)
    if len(text) > MAX_VALUE_LENGTH:
        raise InvalidValueError(
            key, text[:40], f"{len(text)} characters exceeds the limit of {MAX_VALUE_LENGTH}"
        )
    return text


def to_float(key: str, value: object) -> float:
    """Convert a metric value to float; NaN and infinities are kept as they are."""
    if isinstance(value, float):
        return value
    if isinstance(value, (str, bytes, bytearray)) or value is None:
        raise InvalidValueError(key, value, "metric values must be numbers")
    if isinstance(value, numbers.Real) or hasattr(value, "__float__"):
        try:
            return float(value)
        except (TypeError, ValueError) as exc:
            raise InvalidValueError(key, value, f"not convertible to float ({exc})") from None
    raise InvalidValueError(key, value, "metric values must be numbers")


STEP_MIN, STEP_MAX = -(2**63), 2**63 - 1


def to_step(key: str, step: object) -> int:
    if isinstance(step, bool) or not isinstance(step, numbers.Integral):
        raise InvalidValueError(key, step, "steps must be integers")
    result = int(step)
    if not STEP_MIN <= result <= STEP_MAX:
        raise InvalidValueError(key, step, "steps must fit in 64 bits")
    return result


def to_timestamp(key: str, timestamp: object) -> int:
    """A timestamp in milliseconds since the epoch (an int that fits in 64 bits)."""
    if isinstance(timestamp, bool) or not isinstance(timestamp, numbers.Integral):
        raise InvalidValueError(key, timestamp, "timestamps are integer milliseconds")
    result = int(timestamp)
    if not 0 <= result <= STEP_MAX:
        raise InvalidValueError(key, timestamp, "timestamps must fit in 64 bits, >= 0")
    return result


def check_mapping(value: object, what: str) -> Mapping[str, Any]:
    """``value`` if it is a mapping (of params, metrics or tags), else InvalidInputError."""
    if not isinstance(value, Mapping):
        raise InvalidInputError(f"{what} must be a mapping of keys to values, not {value!r}")
    return value


def final_status(status: object) -> RunStatus:
    """``status`` as a final RunStatus; InvalidInputError for RUNNING or an unknown one."""
    try:
        final = RunStatus(str(status).upper())
    except ValueError:
        final = RunStatus.RUNNING
    if final is RunStatus.RUNNING:
        raise InvalidInputError(
            f"a run ends FINISHED, FAILED or KILLED; {status!r} is not one of them"
        )
    return final
