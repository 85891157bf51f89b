"""The SQL store's translation of parsed filters and ``order_by`` clauses into one SELECT.

``SearchQuery`` builds the query over ``runs r``; the few comparisons SQL cannot answer exactly
as ``autolog.search`` does are checked in Python on values the query selects for them.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from autolog.entities import Run, RunData, RunInfo, RunStatus
from autolog.errors import InvalidFilterError
from autolog.search import NUMERIC_ATTRIBUTES, STRING_ATTRIBUTES, Comparison, OrderBy, matches
from autolog.stores.sql_schema import Dialect

__all__ = ["N_RUN_COLUMNS", "RUN_COLUMNS", "TABLES", "SearchQuery", "marks", "run_info"]

RUN_COLUMNS = (
    "r.run_id, r.experiment_id, r.run_name, r.status, r.start_time, r.end_time,"
    " r.artifact_uri, r.parent_run_id, r.deleted_time"
)
N_RUN_COLUMNS = 9
TABLES = {"param": "params", "tag": "tags"}


class SearchQuery:
    """A filter and order translated to one SELECT over ``runs r``.

    ILIKE is the exception: SQLite's lower() and PostgreSQL's ILIKE on "C" text fold ASCII
    letters only, autolog.search folds every letter ("É" ~ "é"). Those comparisons are checked
    in Python with ``autolog.search.matches`` itself, on values the query selects for them.
    """

    def __init__(self, dialect: Dialect) -> None:
        self.dialect = dialect
        self.in_python: list[Comparison] = []
        # (entity, key) of the param and tag values selected after the run columns
        self.python_values: list[tuple[str, str]] = []
        self.select_params: list[object] = []
        self.joins: list[str] = []
        self.join_params: list[object] = []
        self.where: list[str] = []
        self.where_params: list[object] = []
        self.order: list[str] = []

    def count_sql(self, *, by_parent: bool = False) -> tuple[str, list[object]]:
        """How many runs match (no comparison may be left to Python), or per parent run."""
        assert not self.in_python
        group = " GROUP BY r.parent_run_id" if by_parent else ""
        parts = [
            f"SELECT {'r.parent_run_id, ' if by_parent else ''}COUNT(*) FROM runs r",
            *(["WHERE " + " AND ".join(self.where)] if self.where else []),
        ]
        return " ".join(parts) + group, list(self.where_params)

    def sql(
        self, limit: int | None, offset: int = 0, *, with_total: bool = False
    ) -> tuple[str, list[object]]:
        """The SELECT; ``with_total`` adds the number of all matches as the last column."""
        columns = [
            RUN_COLUMNS,
            *(
                f"(SELECT x.value FROM {TABLES[entity]} x WHERE x.run_id = r.run_id AND x.key = ?)"
                for entity, _ in self.python_values
            ),
            *(["COUNT(*) OVER ()"] if with_total else []),
        ]
        parts = [f"SELECT {', '.join(columns)} FROM runs r", *self.joins]
        if self.where:
            parts.append("WHERE " + " AND ".join(self.where))
        # ties (and no order_by) go newest first, then by run id, as in autolog.search
        parts.append("ORDER BY " + ", ".join([*self.order, "r.start_time DESC", "r.run_id"]))
        params = [*self.select_params, *self.join_params, *self.where_params]
        if limit is not None:
            parts.append("LIMIT ?")
            params.append(limit)
        if offset:
            parts.append("OFFSET ?")
            params.append(offset)
        return " ".join(parts), params

    def _attribute(self, key: str) -> str:
        if key == "experiment_id":
            # compared and ordered as the string the caller sees ("10" < "2")
            collate = ' COLLATE "C"' if self.dialect == "postgresql" else ""
            return f"CAST(r.experiment_id AS TEXT){collate}"
        if key == "duration":
            return "(r.end_time - r.start_time)"
        if key in STRING_ATTRIBUTES or key in NUMERIC_ATTRIBUTES:
            return f"r.{key}"
        raise InvalidFilterError(f"attributes.{key}", f"unknown attribute {key!r}")

    def holds_in_python(self, row: Sequence[Any]) -> bool:
        """Whether a selected row passes the comparisons left to Python."""
        values: dict[str, dict[str, str]] = {"param": {}, "tag": {}}
        for (entity, key), value in zip(self.python_values, row[N_RUN_COLUMNS:], strict=True):
            if value is not None:
                values[entity][key] = value
        run = Run(run_info(row), RunData(values["param"], {}, values["tag"]))
        return matches(run, self.in_python)

    def add_filter(self, c: Comparison) -> None:
        if c.op in ("ILIKE", "NOT ILIKE"):
            self.in_python.append(c)
            if c.entity in TABLES:
                self.python_values.append((c.entity, c.key))
                self.select_params.append(c.key)
            return
        if c.entity == "metric":
            self._add_metric_filter(c)
            return
        if c.entity == "attribute":
            column = self._attribute(c.key)
            if c.key in NUMERIC_ATTRIBUTES:
                condition, params = self._numeric(column, c)
            else:
                condition, params = self._string(column, c)
            self.where.append(condition)
            self.where_params.extend(params)
            return
        table = TABLES[c.entity]
        condition, params = self._string("x.value", c)
        self.where.append(
            f"EXISTS (SELECT 1 FROM {table} x WHERE x.run_id = r.run_id AND x.key = ?"
            f" AND {condition})"
        )
        self.where_params.extend([c.key, *params])

    def _add_metric_filter(self, c: Comparison) -> None:
        # latest_value is NULL for NaN. NaN compares like Python: only "!=" holds for it, and
        # nothing but "!=" holds against a NaN in the filter. A missing metric never matches.
        if isinstance(c.value, str | tuple):
            raise InvalidFilterError(str(c), f"metric {c.key!r} compares to a number")
        params: list[object] = []
        if math.isnan(c.value):
            condition = "1 = 1" if c.op == "!=" else "1 = 0"
        elif c.op == "!=":
            condition, params = "(m.latest_value IS NULL OR m.latest_value <> ?)", [c.value]
        else:
            condition, params = self._numeric("m.latest_value", c)
        self.where.append(
            "EXISTS (SELECT 1 FROM metric_series m WHERE m.run_id = r.run_id AND m.key = ?"
            f" AND {condition})"
        )
        self.where_params.extend([c.key, *params])

    @staticmethod
    def _numeric(column: str, c: Comparison) -> tuple[str, list[object]]:
        sql_op = {"=": "=", "!=": "<>", "<": "<", "<=": "<=", ">": ">", ">=": ">="}.get(c.op)
        if sql_op is None or isinstance(c.value, str | tuple):
            raise InvalidFilterError(str(c), f"{c.op} {c.value!r} does not apply to {c.key!r}")
        return f"{column} {sql_op} ?", [c.value]

    def _string(self, column: str, c: Comparison) -> tuple[str, list[object]]:
        op = c.op
        if op in ("IN", "NOT IN"):
            if not isinstance(c.value, tuple) or not all(isinstance(v, str) for v in c.value):
                raise InvalidFilterError(str(c), f"{op} needs a list of strings")
            if not c.value:  # "IN ()" is not valid PostgreSQL
                return ("1 = 0" if op == "IN" else f"{column} IS NOT NULL"), []
            return f"{column} {op} ({marks(len(c.value))})", list(c.value)
        if not isinstance(c.value, str):
            raise InvalidFilterError(str(c), f"{c.key!r} compares to a string")
        if op in ("=", "!="):
            return f"{column} {'=' if op == '=' else '<>'} ?", [c.value]
        if op not in ("LIKE", "NOT LIKE"):
            raise InvalidFilterError(str(c), f"operator {op} does not apply to {c.key!r}")
        # PostgreSQL treats a backslash as an escape by default; autolog.search has none.
        escape = " ESCAPE ''" if self.dialect == "postgresql" else ""
        condition = f"{column} LIKE ?{escape}"
        # NOT (NULL LIKE x) is NULL: a missing attribute still does not match
        return (f"NOT ({condition})" if op == "NOT LIKE" else condition), [c.value]

    def add_order(self, clause: OrderBy) -> None:
        direction = "ASC" if clause.ascending else "DESC"
        alias = f"o{len(self.joins)}"
        if clause.entity == "attribute":
            column = self._attribute(clause.key)
            # missing values last whatever the direction, as in autolog.search
            self.order += [f"({column} IS NULL)", f"{column} {direction}"]
            return
        if clause.entity == "metric":
            self.joins.append(
                f"LEFT JOIN metric_series {alias} ON {alias}.run_id = r.run_id AND {alias}.key = ?"
            )
            # NaN is stored as NULL, and sorts as a missing value does: last, tied with them
            self.order += [
                f"({alias}.latest_value IS NULL)",
                f"{alias}.latest_value {direction}",
            ]
        else:
            table = TABLES[clause.entity]
            self.joins.append(
                f"LEFT JOIN {table} {alias} ON {alias}.run_id = r.run_id AND {alias}.key = ?"
            )
            self.order += [f"({alias}.value IS NULL)", f"{alias}.value {direction}"]
        self.join_params.append(clause.key)


def run_info(row: Sequence[Any]) -> RunInfo:
    """A RunInfo from the ``RUN_COLUMNS`` at the start of a row."""
    run_id, experiment_id, run_name, status, start, end, artifact_uri, parent, deleted = row[
        :N_RUN_COLUMNS
    ]
    return RunInfo(
        run_id,
        str(experiment_id),
        run_name,
        RunStatus(status),
        start,
        end,
        artifact_uri,
        parent,
        deleted,
    )


def marks(n: int) -> str:
    return ", ".join(["?"] * n)
