r"""Filter strings and ``order_by`` clauses for ``search_runs``.

Syntax (conditions joined by ``and``)::

    metrics.acc > 0.9 and params.model = 'rf' and tags.team != 'x'
    attributes.status = 'FINISHED' and attributes.run_name LIKE 'grid-%'
    params.`odd key` IN ('a', 'b')

``metrics`` compare numbers (=, !=, <, <=, >, >=); ``params``, ``tags`` and the string
attributes (run_id, run_name, status, experiment_id, parent_run_id) compare strings
(=, !=, LIKE, ILIKE, IN, NOT IN); the time attributes (start_time, end_time, and duration, which
is end_time - start_time in ms and missing until a run ends) compare numbers.

Escaping, so that every stored value (and key) can be written: in a quoted string
``'...'``, ``\\`` is a backslash, ``\'`` and ``''`` are a quote, ``\"`` is a double quote;
a backslash before any other character is kept as it is (``'C:\dir'`` is ``C:\dir``, and
``'C:\dir\\'`` is ``C:\dir\``). In a quoted key (backticks or double quotes) a backslash
escapes the next character. A filter may not hold a NUL or a lone surrogate: no stored text
can.
Stores translate the parsed form to their own query language; ``matches`` and ``sort_runs`` are
the reference semantics used by the in-memory and file stores.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Sequence
from functools import cache, cmp_to_key
from typing import Literal, NamedTuple

from autolog.entities import Run, RunPage
from autolog.errors import InvalidFilterError, InvalidInputError

__all__ = [
    "Comparison",
    "OrderBy",
    "check_page",
    "holds",
    "like_pattern",
    "matches",
    "page_runs",
    "parse_filter",
    "parse_order_by",
    "sort_runs",
    "unquote",
]

Entity = Literal["metric", "param", "tag", "attribute"]

_ENTITY_ALIASES: dict[str, Entity] = {
    "metric": "metric",
    "metrics": "metric",
    "param": "param",
    "params": "param",
    "parameter": "param",
    "parameters": "param",
    "tag": "tag",
    "tags": "tag",
    "attribute": "attribute",
    "attributes": "attribute",
    "attr": "attribute",
    "run": "attribute",
}
STRING_ATTRIBUTES = ("run_id", "run_name", "status", "experiment_id", "parent_run_id")
# duration: end_time - start_time, missing while a run has no end time
NUMERIC_ATTRIBUTES = ("start_time", "end_time", "duration")
_NUMERIC_OPS = ("=", "!=", "<", "<=", ">", ">=")
_STRING_OPS = ("=", "!=", "LIKE", "ILIKE", "NOT LIKE", "NOT ILIKE", "IN", "NOT IN")

_TOKEN_PATTERN = r"""\s*(?:
        (?P<ident>(?:[A-Za-z_]+)\.(?:`(?:[^`\\]|\\.)*`|"(?:[^"\\]|\\.)*"|[A-Za-z0-9_./:\-]+))
      | (?P<string>'(?:[^'\\]|\\.|'')*')
      | (?P<number>[-+]?(?:\d+\.?\d*(?:[eE][-+]?\d+)?|\.\d+(?:[eE][-+]?\d+)?|inf|nan)
            (?![A-Za-z0-9_]))
      | (?P<op><=|>=|!=|<>|==|=|<|>)
      | (?P<word>[A-Za-z]+)
      | (?P<punct>[(),])
    )"""


@cache
def _token_regex() -> re.Pattern[str]:
    # Compiled on first use: filters are rare, `import autolog` is not.
    return re.compile(_TOKEN_PATTERN, re.VERBOSE | re.IGNORECASE)


class Comparison(NamedTuple):
    entity: Entity
    key: str
    op: str
    value: float | str | tuple[str, ...]


class OrderBy(NamedTuple):
    entity: Entity
    key: str
    ascending: bool


#: (kind, text, offset in the filter string)
Token = tuple[str, str, int]


def _tokens(text: str) -> list[Token]:
    out: list[Token] = []
    pos = 0
    while pos < len(text):
        if text[pos:].strip() == "":
            break
        m = _token_regex().match(text, pos)
        if m is None or m.end() == pos:
            start = pos + len(text[pos:]) - len(text[pos:].lstrip())
            raise InvalidFilterError(
                text, f"unexpected text {text[start : start + 20]!r}", position=start
            )
        kind = m.lastgroup
        assert kind is not None
        out.append((kind, m.group(kind), m.start(kind)))
        pos = m.end()
    return out


def _split_ident(text: str, raw: str, pos: int = 0) -> tuple[Entity, str]:
    prefix, _, key = raw.partition(".")
    entity = _ENTITY_ALIASES.get(prefix.lower())
    if entity is None:
        raise InvalidFilterError(
            text,
            f"unknown entity {prefix!r} (use metrics, params, tags or attributes)",
            position=pos,
        )
    if len(key) >= 2 and key[0] == key[-1] and key[0] in '`"':
        key = re.sub(r"\\(.)", r"\1", key[1:-1], flags=re.DOTALL)
    if not key:
        raise InvalidFilterError(text, f"empty key in {raw!r}", position=pos)
    if entity == "attribute":
        key = key.lower()
        if key not in STRING_ATTRIBUTES + NUMERIC_ATTRIBUTES:
            allowed = ", ".join(STRING_ATTRIBUTES + NUMERIC_ATTRIBUTES)
            raise InvalidFilterError(
                text, f"unknown attribute {key!r} (one of {allowed})", position=pos
            )
    return entity, key


def unquote(token: str) -> str:
    """The text of a quoted string token (see the module's escaping rules)."""
    body = token[1:-1]
    if "\\" not in body:
        return body.replace("''", "'")
    out = []
    i = 0
    while i < len(body):
        char = body[i]
        following = body[i + 1 : i + 2]
        if char == "\\" and following and following in "\\'\"":
            out.append(following)
            i += 2
        elif char == "'" and following == "'":
            out.append("'")
            i += 2
        else:
            out.append(char)
            i += 1
    return "".join(out)


def _check_text(text: str) -> None:
    """No NUL, no lone surrogate: no stored text holds one, and some stores cannot take one."""
    if text.isascii() and "\x00" not in text:
        return
    for index, char in enumerate(text):
        if char == "\x00":
            raise InvalidFilterError(text, "a NUL character cannot be matched", position=index)
        if "\ud800" <= char <= "\udfff":
            raise InvalidFilterError(
                text, f"the lone surrogate {char!r} is not Unicode text", position=index
            )


def parse_filter(filter_string: str | None) -> list[Comparison]:
    """Parse a filter string into comparisons that must all hold; '' means everything."""
    text = filter_string or ""
    _check_text(text)
    tokens = _tokens(text)
    result: list[Comparison] = []
    i = 0
    while i < len(tokens):
        kind, raw, pos = tokens[i]
        if kind != "ident":
            raise InvalidFilterError(
                text, f"expected metrics.<key>, params.<key>, ... at {raw!r}", position=pos
            )
        entity, key = _split_ident(text, raw, pos)
        i += 1
        op, i = _read_op(text, tokens, i)
        value, i = _read_value(text, tokens, i, entity, key, op)
        result.append(Comparison(entity, key, op, value))
        if i < len(tokens):
            kind, raw, pos = tokens[i]
            if kind == "word" and raw.lower() == "and":
                i += 1
                if i == len(tokens):
                    raise InvalidFilterError(text, "dangling 'and' at the end", position=pos)
                continue
            if kind == "word" and raw.lower() == "or":
                raise InvalidFilterError(
                    text, "'or' is not supported; run two searches", position=pos
                )
            raise InvalidFilterError(text, f"expected 'and' before {raw!r}", position=pos)
    return result


def _read_op(text: str, tokens: list[Token], i: int) -> tuple[str, int]:
    if i >= len(tokens):
        raise InvalidFilterError(
            text, "missing comparison operator at the end", position=len(text.rstrip())
        )
    kind, raw, pos = tokens[i]
    if kind == "op":
        return {"==": "=", "<>": "!="}.get(raw, raw), i + 1
    if kind == "word":
        word = raw.upper()
        if word in ("LIKE", "ILIKE", "IN"):
            return word, i + 1
        if word == "NOT" and i + 1 < len(tokens) and tokens[i + 1][0] == "word":
            nxt = tokens[i + 1][1].upper()
            if nxt in ("LIKE", "ILIKE", "IN"):
                return f"NOT {nxt}", i + 2
    raise InvalidFilterError(text, f"expected a comparison operator, found {raw!r}", position=pos)


def _read_value(
    text: str, tokens: list[Token], i: int, entity: Entity, key: str, op: str
) -> tuple[float | str | tuple[str, ...], int]:
    numeric = entity == "metric" or (entity == "attribute" and key in NUMERIC_ATTRIBUTES)
    allowed = _NUMERIC_OPS if numeric else _STRING_OPS
    if op not in allowed:
        raise InvalidFilterError(
            text,
            f"operator {op} does not apply to {entity} {key!r} (use {', '.join(allowed)})",
            position=tokens[i - 1][2],
        )
    end = len(text.rstrip())
    if i >= len(tokens):
        raise InvalidFilterError(text, f"missing value after {op}", position=end)
    kind, raw, pos = tokens[i]
    if op in ("IN", "NOT IN"):
        if raw != "(":
            raise InvalidFilterError(
                text, f"{op} needs a parenthesised list of strings", position=pos
            )
        values: list[str] = []
        i += 1
        while True:
            if i >= len(tokens):
                raise InvalidFilterError(text, "unclosed '(' in IN list", position=end)
            kind, raw, pos = tokens[i]
            if kind != "string":
                raise InvalidFilterError(
                    text, f"IN lists hold quoted strings, found {raw!r}", position=pos
                )
            values.append(unquote(raw))
            i += 1
            if i < len(tokens) and tokens[i][1] == ",":
                i += 1
                continue
            if i < len(tokens) and tokens[i][1] == ")":
                return tuple(values), i + 1
            where = tokens[i][2] if i < len(tokens) else end
            raise InvalidFilterError(text, "expected ',' or ')' in IN list", position=where)
    if numeric:
        if kind != "number":
            raise InvalidFilterError(
                text, f"{entity} {key!r} compares to a number, not {raw!r}", position=pos
            )
        number = float(raw)
        if entity == "attribute":
            if not math.isfinite(number):
                raise InvalidFilterError(
                    text, f"{key} compares to a finite number, not {raw!r}", position=pos
                )
            # times are 64-bit integers: one beyond them is compared as the number it is
            return (int(number) if abs(number) < 2**63 else number), i + 1
        return number, i + 1
    if kind != "string":
        raise InvalidFilterError(
            text, f"{entity} {key!r} compares to a quoted string, not {raw!r}", position=pos
        )
    value = unquote(raw)
    if entity == "attribute" and key == "status" and op in ("=", "!="):
        value = value.upper()
    return value, i + 1


def parse_order_by(order_by: Sequence[str] | str | None) -> list[OrderBy]:
    """Parse clauses like ``"metrics.acc DESC"``; the default order is newest first."""
    if order_by is None:
        return []
    clauses = [order_by] if isinstance(order_by, str) else list(order_by)
    result = []
    for clause in clauses:
        _check_text(clause)
        parts = clause.strip().rsplit(None, 1)
        ascending = True
        if len(parts) == 2 and parts[1].upper() in ("ASC", "DESC"):
            ascending = parts[1].upper() == "ASC"
            ident = parts[0].strip()
        else:
            ident = clause.strip()
        if "." not in ident:
            ident = "attributes." + ident
        tokens = _tokens(ident)
        if len(tokens) != 1 or tokens[0][0] != "ident":
            raise InvalidFilterError(clause, "order_by takes '<entity>.<key> [ASC|DESC]'")
        entity, key = _split_ident(clause, tokens[0][1])
        result.append(OrderBy(entity, key, ascending))
    return result


def like_pattern(pattern: str, *, ignore_case: bool) -> re.Pattern[str]:
    parts = []
    for ch in pattern:
        parts.append(".*" if ch == "%" else "." if ch == "_" else re.escape(ch))
    return re.compile("".join(parts), re.DOTALL | (re.IGNORECASE if ignore_case else 0))


def field_value(run: Run, entity: Entity, key: str) -> float | str | int | None:
    """The value a comparison or order_by looks at, None where the run has none."""
    if entity == "metric":
        return run.data.metrics.get(key)
    if entity == "param":
        return run.data.params.get(key)
    if entity == "tag":
        return run.data.tags.get(key)
    if key == "duration":
        end = run.info.end_time
        return None if end is None else end - run.info.start_time
    value = getattr(run.info, key)
    return str(value) if key == "status" else value


def holds(actual: float | str | int, op: str, expected: float | str | tuple[str, ...]) -> bool:
    if op == "=":
        return actual == expected
    if op == "!=":
        return actual != expected
    if op in ("IN", "NOT IN"):
        return (actual in expected) == (op == "IN")  # type: ignore[operator]
    if op.endswith("LIKE"):
        pattern = like_pattern(str(expected), ignore_case="ILIKE" in op)
        return (pattern.fullmatch(str(actual)) is not None) != op.startswith("NOT")
    if isinstance(actual, float) and math.isnan(actual):
        return False
    a, e = float(actual), float(expected)  # type: ignore[arg-type]
    return {"<": a < e, "<=": a <= e, ">": a > e, ">=": a >= e}[op]


def matches(run: Run, comparisons: Iterable[Comparison]) -> bool:
    """True if every comparison holds for ``run``; a missing metric/param/tag never matches."""
    for c in comparisons:
        actual = field_value(run, c.entity, c.key)
        if actual is None or not holds(actual, c.op, c.value):
            return False
    return True


def _sortable(value: float | str | int | None) -> float | str | int | None:
    # NaN has no place in an order: it sorts with the missing values, last either way.
    return None if isinstance(value, float) and math.isnan(value) else value


def sort_runs(runs: Iterable[Run], order_by: Sequence[OrderBy]) -> list[Run]:
    """Sort by the clauses, missing (and NaN) values last; ties and no clauses: newest first."""

    def compare(a: Run, b: Run) -> int:
        for clause in order_by:
            va = _sortable(field_value(a, clause.entity, clause.key))
            vb = _sortable(field_value(b, clause.entity, clause.key))
            if va == vb:
                continue
            if va is None:
                return 1
            if vb is None:
                return -1
            less = va < vb  # type: ignore[operator]
            return (-1 if less else 1) * (1 if clause.ascending else -1)
        if a.info.start_time != b.info.start_time:
            return -1 if a.info.start_time > b.info.start_time else 1
        return -1 if a.info.run_id < b.info.run_id else (1 if a.info.run_id > b.info.run_id else 0)

    return sorted(runs, key=cmp_to_key(compare))


def check_page(offset: int, limit: int) -> None:
    """Raise ``InvalidInputError`` unless ``offset`` and ``limit`` are integers >= 0."""
    for name, value in (("offset", offset), ("limit", limit)):
        if type(value) is not int or value < 0:
            raise InvalidInputError(f"{name} must be an integer >= 0, not {value!r}")


def page_runs(matching: Sequence[Run], offset: int, limit: int, *, top_level: bool) -> RunPage:
    """The reference ``search_run_page``: a page of ``matching`` (every match, in order)."""
    check_page(offset, limit)
    rows = [r for r in matching if r.info.parent_run_id is None] if top_level else matching
    page = list(rows[offset : offset + limit])
    ids = {run.info.run_id for run in page}
    counts: dict[str, int] = {}
    for run in matching:
        parent = run.info.parent_run_id
        if parent is not None and parent in ids:
            counts[parent] = counts.get(parent, 0) + 1
    return RunPage(page, len(rows), counts)
