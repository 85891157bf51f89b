r"""Filter strings of ``search_registered_models``: the model's name and its tags.

Syntax (conditions joined by ``and``)::

    name = 'churn'        name LIKE 'churn-%'        tags.team = 'ml'        tags.`odd key` != 'x'

Both compare strings with ``=``, ``!=``, ``LIKE``, ``ILIKE``, ``NOT LIKE``, ``NOT ILIKE``
(``%`` any text, ``_`` one character); a tag the model does not have never matches. Quoted
strings escape as in run filters (``autolog.search``): ``\\``, ``\'`` or ``''``, ``\"``.
``matching`` is the one semantics, applied by the tracking service over every engine.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from functools import cache
from typing import NamedTuple

from autolog.entities import RegisteredModel
from autolog.errors import InvalidFilterError
from autolog.search import holds, unquote

__all__ = ["ModelCondition", "matching", "parse_model_filter"]

_CONDITION = r"""\s*(?:
        (?P<name>name)
      | tags\.(?:`(?P<quoted>(?:[^`\\]|\\.)*)`|(?P<key>[A-Za-z0-9_./:\-]+)) )
    \s*(?P<op>!=|<>|==|=|NOT\s+ILIKE|NOT\s+LIKE|ILIKE|LIKE)
    \s*(?P<value>'(?:[^'\\]|\\.|'')*')\s*"""


@cache
def _regexes() -> tuple[re.Pattern[str], re.Pattern[str]]:
    # compiled on first use: `import autolog` stays cheap
    flags = re.VERBOSE | re.IGNORECASE | re.DOTALL
    return re.compile(_CONDITION, flags), re.compile(r"and\b", re.IGNORECASE)


class ModelCondition(NamedTuple):
    """``name`` (key None) or the tag ``key`` compared with ``op`` to ``value``."""

    key: str | None
    op: str
    value: str


def parse_model_filter(filter_string: str | None) -> list[ModelCondition]:
    """The conditions of ``filter_string`` that must all hold; '' (or None) matches every model.

    Raises:
        InvalidFilterError: naming the position where the filter stops making sense.
    """
    text = filter_string or ""
    condition, conjunction = _regexes()
    found: list[ModelCondition] = []
    pos = 0
    while text[pos:].strip():
        match = condition.match(text, pos)
        if match is None:
            where = pos + len(text[pos:]) - len(text[pos:].lstrip())
            raise InvalidFilterError(
                text,
                f"expected name or tags.<key>, an operator and a quoted string at "
                f"{text[where : where + 20]!r}",
                position=where,
            )
        key = None if match["name"] else match["key"] or re.sub(r"\\(.)", r"\1", match["quoted"])
        op = " ".join(match["op"].upper().split())
        found.append(
            ModelCondition(key, {"==": "=", "<>": "!="}.get(op, op), unquote(match["value"]))
        )
        pos = match.end()
        if text[pos:].strip():
            joined = conjunction.match(text, pos)
            if joined is None or not text[joined.end() :].strip():
                raise InvalidFilterError(text, "conditions are joined by 'and'", position=pos)
            pos = joined.end()
    return found


def _holds(actual: str | None, condition: ModelCondition) -> bool:
    return actual is not None and holds(actual, condition.op, condition.value)


def matching(
    models: Iterable[RegisteredModel], conditions: Iterable[ModelCondition]
) -> list[RegisteredModel]:
    """The models for which every condition holds, in their order."""
    wanted = list(conditions)
    return [
        model
        for model in models
        if all(_holds(model.name if c.key is None else model.tags.get(c.key), c) for c in wanted)
    ]
