"""The autolog error tree.

Every error autolog raises on purpose derives from ``AutologError``::

    AutologError
    ├── InvalidInputError (also ValueError)        bad key, value, URI, filter or option
    │   ├── InvalidKeyError                        .key
    │   ├── InvalidValueError                      .key, .value
    │   ├── ParamCollisionError                    .key, .old_value, .new_value
    │   ├── InvalidFilterError                     .filter_string, .position
    │   ├── InvalidURIError                        .uri
    │   └── UnsafePathError                        .path
    ├── NotFoundError (also LookupError)           .what, .name
    ├── RunStateError                              no active run, ending someone else's run
    ├── StoreError                                 a backend failed
    │   └── StoreUnavailableError                  transient: retry later (disk, network, lock)
    ├── ModelIntegrityError                        .path, .expected, .actual
    └── IntegrationError                           .integration (registration, patching)

Errors carry the data they are about as attributes so callers never parse messages.
``AutologWarning`` is what a failure inside autolog's own logging code becomes while training
goes on (see ``autolog.autolog``); ``issue_warning`` issues one.
"""

from __future__ import annotations

import errno
import os
import threading
import warnings

__all__ = [
    "TRANSIENT_ERRNOS",
    "AutologError",
    "AutologWarning",
    "IncompleteModelError",
    "IntegrationError",
    "InvalidFilterError",
    "InvalidInputError",
    "InvalidKeyError",
    "InvalidURIError",
    "InvalidValueError",
    "MissingExtraError",
    "ModelDependencyError",
    "ModelIntegrityError",
    "NotFoundError",
    "ParamCollisionError",
    "RerunError",
    "RunStateError",
    "StoreError",
    "StoreReplacedError",
    "StoreUnavailableError",
    "UnsafePathError",
    "background_thread",
    "is_transient",
    "issue_warning",
    "strict",
]


class AutologError(Exception):
    """Root of every error autolog raises on purpose."""


class AutologWarning(RuntimeWarning):
    """Autolog could not record something; the user's training was not affected."""


class InvalidInputError(AutologError, ValueError):
    """A value given to autolog is not acceptable."""


class InvalidKeyError(InvalidInputError):
    """A param, metric, tag or artifact key is malformed."""

    def __init__(self, key: object, reason: str) -> None:
        self.key = key
        self.reason = reason
        shown = key if not isinstance(key, str) or len(key) <= 80 else key[:77] + "..."
        super().__init__(f"invalid key {shown!r}: {reason}")


class InvalidValueError(InvalidInputError):
    """A param, metric or tag value is malformed."""

    def __init__(self, key: str, value: object, reason: str) -> None:
        self.key = key
        self.value = value
        self.reason = reason
        try:
            text = repr(value)
        except Exception:  # a value whose own __repr__ fails is still named by its type
            text = f"<{type(value).__name__}>"
        if len(text) > 80:
            text = text[:77] + "..."
        super().__init__(f"invalid value {text} for {key!r}: {reason}")


class ParamCollisionError(InvalidInputError):
    """A param was logged again in the same run with a different value."""

    def __init__(self, run_id: str, key: str, old_value: str, new_value: str) -> None:
        self.run_id = run_id
        self.key = key
        self.old_value = old_value
        self.new_value = new_value
        super().__init__(
            f"param {key!r} of run {run_id} is already {_short(old_value)}; "
            f"it cannot change to {_short(new_value)} (params are immutable within a run)"
        )


class InvalidFilterError(InvalidInputError):
    """A search filter or order_by clause cannot be parsed; ``position`` is the offset in
    ``filter_string`` (from 0) where the parser stopped, where known."""

    def __init__(self, filter_string: str, reason: str, *, position: int | None = None) -> None:
        self.filter_string = filter_string
        self.reason = reason
        self.position = position
        where = "" if position is None else f" at position {position + 1}"
        super().__init__(f"invalid filter {filter_string!r}{where}: {reason}")


class InvalidURIError(InvalidInputError):
    """A tracking, artifact or model URI is malformed or unsupported."""

    def __init__(self, uri: str, reason: str) -> None:
        self.uri = uri
        self.reason = reason
        super().__init__(f"invalid URI {uri!r}: {reason}")


class UnsafePathError(InvalidInputError):
    """An artifact path would leave its run's artifact root."""

    def __init__(self, path: str, reason: str = "it would leave the run's artifact root") -> None:
        self.path = path
        self.reason = reason
        super().__init__(f"unsafe artifact path {path!r}: {reason}")


class NotFoundError(AutologError, LookupError):
    """An experiment, run, model or artifact does not exist."""

    def __init__(self, what: str, name: str) -> None:
        self.what = what
        self.name = name
        super().__init__(f"{what} {name!r} not found")


class RunStateError(AutologError):
    """The operation does not fit the state of the run (e.g. no active run)."""


class StoreError(AutologError):
    """A tracking store failed."""


class StoreUnavailableError(StoreError):
    """A transient store failure (locked, disk full, server down): the write may be retried."""


class StoreReplacedError(StoreUnavailableError):
    """The store's database file was deleted or replaced while in use: what it held is gone,
    and what follows goes to a new one (said even while another failure is being reported)."""


class ModelIntegrityError(AutologError):
    """A model file does not match the SHA-256 recorded in the tracking store."""

    def __init__(self, path: str, expected: str | None, actual: str | None) -> None:
        self.path = path
        self.expected = expected
        self.actual = actual
        if expected is None:
            reason = "no hash was recorded for it in the tracking store"
        elif actual is None:
            reason = "the file is missing"
        else:
            reason = f"its SHA-256 is {actual}, the tracking store recorded {expected}"
        super().__init__(f"refusing to load model file {path!r}: {reason}")


class IncompleteModelError(ModelIntegrityError):
    """A model's record says its files were still being written when the process logging it
    stopped (a replacement ``log_model`` records before it writes): it is never loaded."""

    def __init__(self, path: str) -> None:
        self.path = path
        self.expected = None
        self.actual = None
        AutologError.__init__(
            self,
            f"refusing to load model {path!r}: it is incomplete (the process logging it stopped "
            "before all of its files were written); log it again",
        )


class ModelDependencyError(AutologError, ImportError):
    """A model needs a library that is not installed where it is loaded."""

    def __init__(self, uri: str, missing: list[str], install: str) -> None:
        self.uri = uri
        self.missing = missing
        self.install = install
        AutologError.__init__(
            self,
            f"model {uri} needs {', '.join(missing)}, not installed here: {install}",
        )


class MissingExtraError(AutologError, ImportError):
    """A feature needs an optional dependency that is not installed: the message names the
    ``pip install`` line that brings it."""

    def __init__(self, feature: str, missing: str, install: str) -> None:
        self.feature = feature
        self.missing = missing
        self.install = install
        AutologError.__init__(self, f"{feature} needs {missing}, not installed here: {install}")


class RerunError(AutologError):
    """A run cannot be rebuilt or re-run here: its code (a commit no repository here has, a
    patch that does not apply), its environment (a locked package no index has) or its command
    cannot be reproduced. The message says which, and what was tried."""


class IntegrationError(AutologError):
    """An integration is malformed, duplicated, or failed to patch its framework."""

    def __init__(self, integration: str, reason: str) -> None:
        self.integration = integration
        self.reason = reason
        super().__init__(f"integration {integration!r}: {reason}")


def _short(value: str) -> str:
    return repr(value) if len(value) <= 60 else repr(value[:57] + "...")


def is_transient(exc: BaseException) -> bool:
    """Whether a failure may pass (store down, disk full, lock held) and is worth a retry.

    The one retry policy of every write, values, artifacts and models alike: kept and tried
    again with back-off while it holds, reported at exit if it never passed. A ``StoreError``
    that some layer raised from a full disk (``raise StoreError(...) from exc``) is one too.
    """
    for _ in range(8):  # a chain of causes, not a cycle
        if isinstance(exc, StoreUnavailableError):
            return True
        if isinstance(exc, OSError):
            return exc.errno in TRANSIENT_ERRNOS
        cause = exc.__cause__
        if not isinstance(exc, StoreError) or cause is None:
            return False
        exc = cause
    return False


#: the operating system's errors that may pass (``is_transient``), the same for every kind of
#: write (values, artifacts, models) and every store: a full disk or quota, a busy or
#: exhausted resource (locks, file handles), a network file system away, and a permission or
#: read-only mount that an administrator (or a backup) may give back. Retried with back-off
#: while the process lives, reported at exit if it never passed.
TRANSIENT_ERRNOS: frozenset[int] = frozenset({
    getattr(errno, name)
    for name in ("ENOSPC", "EDQUOT", "EIO", "EAGAIN", "EBUSY", "ENOMEM", "ETIMEDOUT", "EINTR",
                 "ESTALE", "ECONNREFUSED", "ECONNRESET", "ENETUNREACH", "EHOSTUNREACH",
                 "EACCES", "EPERM", "EROFS", "EMFILE", "ENFILE", "ENOLCK")
    if hasattr(errno, name)
})  # fmt: skip


#: marks autolog's own background threads (see ``issue_warning``)
_thread_role = threading.local()


def strict() -> bool:
    """Whether our own failures are raised rather than warned about (``AUTOLOG_STRICT=1``, as
    the test suite runs: no test can pass over a failure of autolog's own code)."""
    return os.environ.get("AUTOLOG_STRICT", "") not in ("", "0")


def background_thread() -> None:
    """Mark the calling thread as one of autolog's own background threads (see
    ``issue_warning``)."""
    _thread_role.background = True


def issue_warning(message: str, stacklevel: int = 3) -> None:
    """Issue an ``AutologWarning``.

    Where warnings are made errors (``-W error``, ``filterwarnings = error``), the error is
    raised on the caller's thread, as Python raises any warning there. On autolog's background
    threads it is reported the way an exception no one caught in a thread is
    (``threading.excepthook``: pytest fails the test), and the thread goes on.
    """
    try:
        warnings.warn(message, AutologWarning, stacklevel=stacklevel)
    except Warning as exc:
        if not getattr(_thread_role, "background", False):
            raise
        try:
            threading.excepthook(
                threading.ExceptHookArgs(
                    (type(exc), exc, exc.__traceback__, threading.current_thread())
                )
            )
        except Exception:  # a broken hook must not end the thread either
            import logging

            logging.getLogger(__name__).warning("%s", message)
