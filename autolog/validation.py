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
# The longest file name most file systems take: each part of an artifact path is one.
MAX_NAME_BYTES = 255
# Params and tags are stored whole up to this size; larger values are refused, never cut.
MAX_VALUE_LENGTH = 16 * 1024 * 1024

_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_DRIVE = re.compile(r"^[A-Za-z]:")
#: Keys that passed ``check_key`` (up to 100,000 of them): ``key in CHECKED_KEYS`` is the
#: check the hot path makes before calling ``check_key``. Read it; only ``check_key`` adds.
CHECKED_KEYS: set[str] = set()


def text_problem(text: str) -> str | None:
    """Why no store could hold ``text`` exactly, or None: the rules every store shares.

    A NUL character (PostgreSQL text cannot hold one) and a lone surrogate (not Unicode text:
    it has no UTF-8 form, so neither a database nor a file can take it) are refused.
    """
    if text.isascii():
        return "NUL characters cannot be stored" if "\x00" in text else None
    if "\x00" in text:
        return "NUL characters cannot be stored"
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as exc:
        return f"the lone surrogate {text[exc.start]!r} at index {exc.start} is not Unicode text"
    return None


def check_text(value: object, what: str) -> str:
    """``value`` if it is a string every store can hold, else ``InvalidInputError`` naming it.

    ``what`` says what the value is, for the message ("experiment name", "run id", ...).
    """
    if not isinstance(value, str):
        raise InvalidInputError(f"{what} must be a string, not {value!r}")
    problem = text_problem(value)
    if problem is not None:
        raise InvalidInputError(f"{what} {_shown(value)}: {problem}")
    return value


def check_name(value: object, what: str) -> str:
    """A non-empty name (experiment, registered model) every store can hold."""
    if not isinstance(value, str) or not value.strip():
        raise InvalidInputError(f"{what}s must be non-empty strings, not {value!r}")
    return check_text(value, what)


def _shown(value: str) -> str:
    return repr(value) if len(value) <= 80 else repr(value[:77] + "...")


def check_key(key: object) -> str:
    """Return ``key`` if it is a valid param, metric, tag or artifact key, else raise.

    Keys are relative slash-separated paths: they may not be empty, absolute, contain ``..`` or
    ``.`` or empty segments, backslashes or control characters, lone surrogates, or exceed 250
    characters.
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
    for part in stripped.split("/"):
        if len(part.encode("utf-8")) > MAX_NAME_BYTES:
            raise UnsafePathError(
                stripped, f"a part of it is longer than a file name may be ({MAX_NAME_BYTES} bytes)"
            )
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
        fail(
            "NUL characters cannot be stored"
            if "\x00" in key
            else "control characters are not allowed"
        )
    if not key.isascii():
        problem = text_problem(key)
        if problem is not None:
            fail(problem)
    if "\\" in key:
        fail("backslashes are not allowed (use '/')")
    if key.startswith("/") or _DRIVE.match(key):
        fail("absolute paths are not allowed")
    for part in key.split("/"):
        if part == "..":
            fail("'..' segments are not allowed")
        if part in ("", "."):
            fail("empty or '.' segments are not allowed")


def is_run_id(text: str) -> bool:
    """Whether ``text`` can name a new run: 1-128 letters, digits, '-' and '_' (a folder name
    in the file store and one part of a URL path on a tracking server)."""
    return (
        0 < len(text) <= 128 and text.isascii() and text.replace("-", "").replace("_", "").isalnum()
    )


def stringify(key: str, value: object) -> str:
    """Render a param or tag value as the string that is stored (one rule for every caller:
    ``autolog.rendering``), refusing oversized ones."""
    if isinstance(value, str):
        text = value
    else:
        try:
            text = render(value)
        except Exception as exc:  # an int over Python's digit limit, a __str__ that raises
            raise InvalidValueError(
                key, f"<{type(value).__name__}>", f"cannot be shown as text ({exc})"
            ) from None
    if len(text) > MAX_VALUE_LENGTH:
        raise InvalidValueError(
            key, text[:40], f"{len(text)} characters exceeds the limit of {MAX_VALUE_LENGTH}"
        )
    problem = text_problem(text)
    if problem is not None:
        raise InvalidValueError(key, text, problem)
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
        except Exception as exc:  # whatever a value's own __float__ raises
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
    if not isinstance(status, str):  # a RunStatus is a str too
        raise InvalidInputError(
            f"a run ends FINISHED, FAILED or KILLED, given as text, not a {type(status).__name__}"
        )
    try:
        final = RunStatus(status.upper())
    except ValueError:
        final = RunStatus.RUNNING
    if final is RunStatus.RUNNING:
        raise InvalidInputError(
            f"a run ends FINISHED, FAILED or KILLED; {status!r} is not one of them"
        )
    return final


def check_model_name(name: object) -> str:
    """A name a model can be registered under: no '/' or '@' (they separate URI parts)."""
    checked = check_name(name, "registered model name")
    if "/" in checked or "@" in checked:
        raise InvalidInputError(
            f"registered model names may not be empty or hold '/' or '@': {checked!r}"
        )
    return checked


def check_alias(alias: object) -> str:
    if not isinstance(alias, str) or not alias.isidentifier():
        raise InvalidInputError(f"model aliases must be identifiers, not {alias!r}")
    return alias
