"""Named entry points: ``[tool.autolog.entry-points.NAME]`` tables in ``pyproject.toml``.

A project names the commands it is run with, and their typed parameters, in the file it
already has (no new file format)::

    [tool.autolog.entry-points.train]
    description = "Fit the model"                      # optional, shown when a name is wrong
    command = "python train.py --lr {lr} --epochs {epochs} --data {data}"
    lr = {type = "float", default = 0.01}
    epochs = {type = "int", default = 10}
    data = {type = "path"}                             # no default: it must be given

``autolog run -e train -P lr=0.1`` runs it. Every key but ``command`` and ``description`` is
a parameter: a table with ``type`` (``float``, ``int``, ``str``, ``bool`` or ``path``; default
``str``) and an optional ``default``. A ``{NAME}`` in the command is replaced by the
parameter's value, shell-quoted (a value with spaces stays one argument: do not quote
placeholders in the template); ``{{`` and ``}}`` are literal braces. Values are rendered with
``str()`` of the typed value (``0.1``, ``10``, ``True``); a path is kept as given, relative to
the folder of ``pyproject.toml``, where the command runs. The command is
``python SCRIPT ARGS...`` or ``python -m MODULE ARGS...`` (``python3`` and ``python3.X`` too):
it runs with the interpreter ``autolog run`` runs with.
"""

from __future__ import annotations

import json
import re
import shlex
import string
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NamedTuple

from autolog.errors import InvalidInputError, MissingExtraError

__all__ = [
    "PARAMETER_TYPES",
    "TAG_NAME",
    "TAG_PARAMETERS",
    "EntryPoint",
    "Invocation",
    "Parameter",
    "find_entry_points",
    "find_pyproject",
]

#: the tags of a run of an entry point: its name, and every parameter as rendered (JSON)
TAG_NAME = "autolog.entry_point.name"
TAG_PARAMETERS = "autolog.entry_point.parameters"

#: the parameter types, and the Python type a value of each has once checked
PARAMETER_TYPES: dict[str, type] = {
    "float": float,
    "int": int,
    "str": str,
    "bool": bool,
    "path": str,
}
_RESERVED = frozenset({"command", "description"})
_PYTHON = re.compile(r"python(3(\.\d+)?)?")
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_\-]*")
_TRUE = frozenset({"true", "1", "yes", "on"})
_FALSE = frozenset({"false", "0", "no", "off"})


@dataclass(frozen=True)
class Parameter:
    """One typed parameter of an entry point; ``required`` when it has no default."""

    name: str
    type: str
    default: object = None
    required: bool = True

    def convert(self, text: str) -> object:
        """The typed value of ``text`` as given on the command line.

        Raises:
            InvalidInputError: ``text`` is not a value of the parameter's type.
        """
        try:
            if self.type == "bool":
                return _to_bool(text)
            return PARAMETER_TYPES[self.type](text)
        except ValueError:
            raise InvalidInputError(
                f"parameter {self.name!r} is a {self.type}: {text!r} is not one"
            ) from None


@dataclass(frozen=True)
class EntryPoint:
    """A named command of a project: a template over typed parameters.

    ``source`` is the ``pyproject.toml`` it comes from; the command runs in its folder.
    """

    name: str
    command: str
    parameters: Mapping[str, Parameter]
    source: Path
    description: str = ""

    @property
    def folder(self) -> Path:
        """Where the command runs: the folder of its ``pyproject.toml``."""
        return self.source.parent

    def render(self, values: Mapping[str, str]) -> tuple[list[str], dict[str, object]]:
        """The argv after ``python`` (``[SCRIPT, ARGS...]`` or ``["-m", MODULE, ARGS...]``)
        and every parameter's typed value (defaults included), for the given values (text).

        Raises:
            InvalidInputError: an unknown parameter, a value not of its type, a required
                parameter not given, or a rendered command that is not a script or module.
        """
        unknown = sorted(set(values) - set(self.parameters))
        if unknown:
            known = ", ".join(self.parameters) or "none"
            raise InvalidInputError(
                f"entry point {self.name!r} has no parameter {unknown[0]!r} (it has: {known})"
            )
        typed = {
            name: self._value(parameter, values) for name, parameter in self.parameters.items()
        }
        text = "".join(
            literal + ("" if field is None else shlex.quote(str(typed[field])))
            for literal, field in _pieces(self.command)
        )
        argv = shlex.split(text)[1:]
        _check_target(argv, f"entry point {self.name!r} renders {text!r}, which")
        return argv, typed

    def invocation(self, values: Mapping[str, str]) -> Invocation:
        """What a run of this entry point with ``values`` runs, with its params and tags.

        Raises:
            InvalidInputError: as ``render``.
        """
        argv, typed = self.render(values)
        tags = {
            TAG_NAME: self.name,
            TAG_PARAMETERS: json.dumps({key: str(value) for key, value in typed.items()}),
        }
        if argv[0] == "-m":
            return Invocation("module", argv[1], argv[2:], typed, tags)
        return Invocation("script", argv[0], argv[1:], typed, tags)

    def _value(self, parameter: Parameter, values: Mapping[str, str]) -> object:
        if parameter.name in values:
            return parameter.convert(values[parameter.name])
        if parameter.required:
            raise InvalidInputError(
                f"entry point {self.name!r} needs a value for {parameter.name!r} "
                f"(-P {parameter.name}=VALUE)"
            )
        return parameter.default


class Invocation(NamedTuple):
    """A rendered entry point: ``python TARGET ARGS`` (a script) or ``python -m TARGET
    ARGS`` (a module), run in the project's folder; the typed values are the run's params."""

    kind: str  # "script" or "module"
    target: str
    args: list[str]
    params: dict[str, object]
    tags: dict[str, str]


def find_pyproject(start: Path) -> Path | None:
    """The nearest ``pyproject.toml`` in ``start`` or a folder above it."""
    start = start.resolve()
    for folder in (start, *start.parents):
        candidate = folder / "pyproject.toml"
        if candidate.is_file():
            return candidate
    return None


def find_entry_points(start: Path) -> dict[str, EntryPoint]:
    """The entry points of the nearest ``pyproject.toml`` from ``start`` upward, by name
    (``{}`` when there is none, or it has no ``[tool.autolog.entry-points]``).

    Raises:
        InvalidInputError: the file does not parse or a table is malformed (naming both).
        MissingExtraError: Python 3.10 without ``tomli``.
    """
    path = find_pyproject(start)
    if path is None:
        return {}
    document = _read_toml(path)
    tables = document.get("tool", {}).get("autolog", {}).get("entry-points", {})
    if not isinstance(tables, dict):
        raise _malformed(path, "[tool.autolog.entry-points] must be a table of tables")
    return {name: _entry_point(path, name, table) for name, table in tables.items()}


def _read_toml(path: Path) -> dict[str, Any]:
    if sys.version_info >= (3, 11):
        import tomllib
    else:  # pragma: no cover - Python 3.10
        try:
            import tomli as tomllib
        except ImportError:
            raise MissingExtraError(
                "reading entry points from pyproject.toml on Python 3.10",
                "tomli",
                "pip install tomli",
            ) from None
    try:
        with path.open("rb") as file:
            return tomllib.load(file)
    except tomllib.TOMLDecodeError as exc:
        raise InvalidInputError(f"{path} is not valid TOML: {exc}") from None
    except OSError as exc:
        raise InvalidInputError(f"{path} cannot be read: {exc.strerror or exc}") from None


def _malformed(path: Path, problem: str) -> InvalidInputError:
    return InvalidInputError(f"{path}: {problem}")


def _entry_point(path: Path, name: str, table: object) -> EntryPoint:
    where = f"[tool.autolog.entry-points.{name}]"
    if not isinstance(table, dict):
        raise _malformed(path, f"{where} must be a table, not {table!r}")
    if not _NAME.fullmatch(name):
        raise _malformed(path, f"{where}: an entry point's name is letters, digits, _ and -")
    command = table.get("command")
    if not isinstance(command, str) or not command.strip():
        raise _malformed(path, f'{where} needs a command = "python SCRIPT ARGS..."')
    description = table.get("description", "")
    if not isinstance(description, str):
        raise _malformed(path, f"{where}: description must be a string")
    parameters = {
        key: _parameter(path, where, key, spec)
        for key, spec in table.items()
        if key not in _RESERVED
    }
    _check_command(path, where, command, parameters)
    return EntryPoint(name, command, parameters, path, description)


def _parameter(path: Path, where: str, name: str, spec: object) -> Parameter:
    if not _NAME.fullmatch(name):
        raise _malformed(path, f"{where}: parameter {name!r}: a name is letters, digits, _ and -")
    if not isinstance(spec, dict):
        raise _malformed(
            path,
            f'{where}: parameter {name!r} must be a table like {{type = "float", default = 0.1}}',
        )
    extra = sorted(set(spec) - {"type", "default"})
    if extra:
        raise _malformed(path, f"{where}: parameter {name!r} has an unknown key {extra[0]!r}")
    kind = spec.get("type", "str")
    if kind not in PARAMETER_TYPES:
        raise _malformed(
            path,
            f"{where}: parameter {name!r} has type {kind!r}; "
            f"types are {', '.join(PARAMETER_TYPES)}",
        )
    if "default" not in spec:
        return Parameter(name, kind)
    default = _typed_default(spec["default"], kind)
    if default is None:
        raise _malformed(
            path,
            f"{where}: the default of parameter {name!r}, {spec['default']!r}, is not a {kind}",
        )
    return Parameter(name, kind, default, required=False)


def _to_bool(text: str) -> bool:
    """true/false, 1/0, yes/no, on/off (any case)."""
    word = text.strip().lower()
    if word in _TRUE or word in _FALSE:
        return word in _TRUE
    raise ValueError(text)


def _typed_default(value: object, kind: str) -> object:
    """The default as its type's value; None when it is not one (TOML has no null)."""
    if kind == "bool":
        return value if isinstance(value, bool) else None
    if isinstance(value, bool):
        return None
    if kind == "float" and isinstance(value, int | float):
        return float(value)
    return value if isinstance(value, PARAMETER_TYPES[kind]) else None


def _check_command(
    path: Path, where: str, command: str, parameters: Mapping[str, Parameter]
) -> None:
    """A command that names an unknown parameter or is no ``python`` command fails as the
    project is read, not when it is run."""
    try:
        pieces = list(_pieces(command))
    except ValueError as exc:
        raise _malformed(path, f"{where}: command {command!r}: {exc}") from None
    for _, field in pieces:
        if field is not None and field not in parameters:
            raise _malformed(path, f"{where}: the command names {{{field}}}, which is no parameter")
    sample = "".join(literal + ("" if field is None else "X") for literal, field in pieces)
    try:
        words = shlex.split(sample)
    except ValueError as exc:
        raise _malformed(path, f"{where}: command {command!r}: {exc}") from None
    if not words or not _PYTHON.fullmatch(words[0]):
        raise _malformed(
            path,
            f"{where}: the command must start with python (python3, python3.X), not {command!r}",
        )
    try:
        _check_target(words[1:], f"{where}: the command")
    except InvalidInputError as exc:
        raise _malformed(path, str(exc)) from None


def _check_target(argv: list[str], what: str) -> None:
    if not argv:
        raise InvalidInputError(f"{what} names no script or -m MODULE after python")
    if argv[0] == "-m" and len(argv) < 2:
        raise InvalidInputError(f"{what} names no module after -m")
    if argv[0].startswith("-") and argv[0] != "-m":
        raise InvalidInputError(
            f"{what} gives python the option {argv[0]!r}: only SCRIPT ARGS or -m MODULE ARGS"
        )


def _pieces(template: str) -> list[tuple[str, str | None]]:
    """(literal text, placeholder name or None) in order; ``{{``/``}}`` become braces.

    Raises:
        ValueError: unbalanced braces, or a placeholder with a format or conversion.
    """
    pieces: list[tuple[str, str | None]] = []
    for literal, field, spec, conversion in string.Formatter().parse(template):
        if field is not None and (spec or conversion or not _NAME.fullmatch(field)):
            shown = field + (f"!{conversion}" if conversion else "") + (f":{spec}" if spec else "")
            raise ValueError(f"{{{shown}}} is not a placeholder: write {{NAME}}")
        pieces.append((literal, field))
    return pieces
