"""How a param or tag value becomes the string that is stored: one rule for every caller.

``log_param``, ``log_params``, ``set_tag`` and run tags store ``render(value)``, whoever calls
them (the user, or an integration through the public API):

- strings as themselves;
- numbers and booleans as Python prints them: ``0.1``, ``1e-05``, ``3``, ``True``; numpy and
  torch scalars and 0-d arrays as the number they hold (``np.float32(0.1)`` is ``0.1``);
- functions, methods and classes by qualified name, ``module.qualname`` (``__main__.refit``,
  ``sklearn.svm._classes.SVC``; builtins by their bare name), never a memory address;
- containers readably, as Python writes them, their items by this same rule (strings quoted
  inside them): ``[1, 'a']``, ``(0.5,)``, ``{'a': 1}``; arrays and tensors as lists; sets
  and dict keys sorted, since their order is not part of their value;
- any other object by ``str()`` (``repr()`` inside a container) with memory addresses removed,
  and an object that only has Python's default representation by its class's qualified name.

So the same value is always the same string, in every process and every run:
``params.kernel = 'rbf'`` finds what any integration or user logged as ``"rbf"``.
"""

from __future__ import annotations

import enum
import functools
import numbers
import os
import re
from collections.abc import Callable, Mapping
from typing import Any

__all__ = ["render"]

# <function f at 0x7f...>, <bound method A.f of <...>>, <class 'x'> forms inside other reprs
_NAMED_AT = re.compile(
    r"<(?:function|built-in function|built-in method|bound method|method|cyfunction) "
    r"([^\s<>]+)(?: of [^<>]*(?:<[^<>]*>[^<>]*)*)? at 0x[0-9a-fA-F]+>"
)
_OBJECT_AT = re.compile(r"<([^\s<>]+) object at 0x[0-9a-fA-F]+>")
_AT = re.compile(r" at 0x[0-9a-fA-F]+")
_MAX_DEPTH = 12  # containers nested deeper are written "..."


def render(value: object) -> str:
    """``value`` as the string a param or tag stores (see the module docstring).

    Example::

        >>> render({"metric": {"l2", "l1"}, "lr": 0.1, "refit": len})
        "{'lr': 0.1, 'metric': {'l1', 'l2'}, 'refit': len}"
    """
    if isinstance(value, str):
        return value
    kind = type(value)
    if kind is float or kind is int or value is None or kind is bool:
        return repr(value)  # the common cases first: params are mostly these
    return _render(value, nested=False, depth=0, seen=set())


def qualified_name(obj: Any) -> str:
    """``module.qualname`` of a function, method or class (builtins: the bare name)."""
    name = getattr(obj, "__qualname__", None) or getattr(obj, "__name__", None)
    if not isinstance(name, str):
        name = type(obj).__qualname__
    module = getattr(obj, "__module__", None)
    if not isinstance(module, str) or module == "builtins":
        return name
    return f"{module}.{name}"


def _render(value: object, *, nested: bool, depth: int, seen: set[int]) -> str:
    if isinstance(value, str):
        return repr(value) if nested else value
    if value is None or isinstance(value, bool):
        return str(value)
    if isinstance(value, enum.Enum):
        return f"{type(value).__qualname__}.{value.name}"
    if isinstance(value, int):
        return int.__repr__(value)
    if isinstance(value, float):
        return float.__repr__(value)  # np.float64 is a float: its value, not "np.float64(...)"
    if isinstance(value, numbers.Integral):
        return int.__repr__(int(value))  # np.int64 and friends
    if isinstance(value, numbers.Number):
        return _text(value, nested=False)  # np.float32(0.1) prints 0.1; Decimal, Fraction
    if isinstance(value, (bytes, bytearray)):
        return repr(value)
    if isinstance(value, type):
        return qualified_name(value)
    if isinstance(value, os.PathLike):
        path = os.fspath(value)
        return repr(path) if nested else str(path)
    if depth >= _MAX_DEPTH or id(value) in seen:
        return "..."

    def inner(item: object) -> str:
        return _render(item, nested=True, depth=depth + 1, seen=seen)

    seen.add(id(value))
    try:
        return _container(value, inner) or _callable(value, inner) or _other(value, nested)
    finally:
        seen.discard(id(value))


def _container(value: object, inner: Callable[[object], str]) -> str | None:
    if isinstance(value, Mapping):
        pairs = sorted((inner(k), inner(v)) for k, v in value.items())
        return "{" + ", ".join(f"{k}: {v}" for k, v in pairs) + "}"
    fields = getattr(type(value), "_fields", None)
    if isinstance(value, tuple) and isinstance(fields, tuple):  # a named tuple
        named = ", ".join(f"{f}={inner(v)}" for f, v in zip(fields, value, strict=False))
        return f"{type(value).__qualname__}({named})"
    if isinstance(value, tuple):
        items = [inner(v) for v in value]
        return "(" + ", ".join(items) + ("," if len(items) == 1 else "") + ")"
    if isinstance(value, list):
        return "[" + ", ".join(inner(v) for v in value) + "]"
    if isinstance(value, (set, frozenset)):
        members = sorted(inner(v) for v in value)
        body = "{" + ", ".join(members) + "}" if members else ""
        if isinstance(value, frozenset):
            return f"frozenset({body})"
        return body or "set()"
    ndim = getattr(value, "ndim", None)
    tolist = getattr(value, "tolist", None)
    if isinstance(ndim, int) and callable(tolist):
        # numpy arrays: element by element, each as numpy prints it; tensors and the like:
        # as the Python values they hold
        numpy = type(value).__module__.partition(".")[0] == "numpy"
        if ndim == 0:
            item = _text(value, nested=False) if numpy else inner(value.item())  # type: ignore[attr-defined]
            return str(item)
        items = list(value) if numpy else tolist()  # type: ignore[call-overload,unused-ignore]
        return "[" + ", ".join(inner(v) for v in items) + "]"
    return None


def _callable(value: object, inner: Callable[[object], str]) -> str | None:
    if isinstance(value, functools.partial):
        args = [inner(value.func), *(inner(a) for a in value.args)]
        args += [f"{k}={inner(v)}" for k, v in sorted(value.keywords.items())]
        return f"functools.partial({', '.join(args)})"
    if callable(value) and isinstance(getattr(value, "__qualname__", None), str):
        return qualified_name(value)  # functions, methods, builtins
    return None


def _other(value: object, nested: bool) -> str:
    cls = type(value)
    if cls.__repr__ is object.__repr__ and (nested or cls.__str__ is object.__str__):
        return qualified_name(cls)  # nothing but "<module.Class object at 0x...>"
    return _text(value, nested=nested)


def _text(value: object, *, nested: bool) -> str:
    try:
        text = repr(value) if nested else str(value)
    except Exception:  # a user's object whose __str__ fails: its class says enough
        return qualified_name(type(value))
    text = _NAMED_AT.sub(lambda m: m.group(1), text)
    text = _OBJECT_AT.sub(lambda m: m.group(1), text)
    return _AT.sub("", text)
