"""The filter-string and order_by parser of ``search_runs``."""

from __future__ import annotations

import math

import pytest

from autolog.errors import AutologError, InvalidFilterError, InvalidInputError
from autolog.search import Comparison, OrderBy, parse_filter, parse_order_by

# --------------------------------------------------------------------------------------------
# valid filters
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("empty", ["", "   ", None])
def test_an_empty_filter_matches_everything(empty: str | None) -> None:
    assert parse_filter(empty) == []


@pytest.mark.parametrize(
    ("filter_string", "expected"),
    [
        ("metrics.acc > 0.9", Comparison("metric", "acc", ">", 0.9)),
        ("metrics.acc >= 1", Comparison("metric", "acc", ">=", 1.0)),
        ("metrics.acc < 2", Comparison("metric", "acc", "<", 2.0)),
        ("metrics.acc <= 2", Comparison("metric", "acc", "<=", 2.0)),
        ("metrics.acc = 0.5", Comparison("metric", "acc", "=", 0.5)),
        ("metrics.acc == 0.5", Comparison("metric", "acc", "=", 0.5)),
        ("metrics.acc != 0.5", Comparison("metric", "acc", "!=", 0.5)),
        ("metrics.acc <> 0.5", Comparison("metric", "acc", "!=", 0.5)),
        ("metrics.loss>-1e-3", Comparison("metric", "loss", ">", -0.001)),
        ("metrics.loss < 1E3", Comparison("metric", "loss", "<", 1000.0)),
        ("metrics.loss < +.5", Comparison("metric", "loss", "<", 0.5)),
        ("metrics.loss < inf", Comparison("metric", "loss", "<", math.inf)),
        ("metrics.loss > -inf", Comparison("metric", "loss", ">", -math.inf)),
        ("metrics.train/loss < 1", Comparison("metric", "train/loss", "<", 1.0)),
        ("metrics.`val acc` > 0", Comparison("metric", "val acc", ">", 0.0)),
        ('metrics."val acc" > 0', Comparison("metric", "val acc", ">", 0.0)),
        ("metric.acc > 0", Comparison("metric", "acc", ">", 0.0)),
        ("params.model = 'rf'", Comparison("param", "model", "=", "rf")),
        ("param.model != 'rf'", Comparison("param", "model", "!=", "rf")),
        ("parameters.model == 'rf'", Comparison("param", "model", "=", "rf")),
        ("params.`odd key/ü` = 'x y'", Comparison("param", "odd key/ü", "=", "x y")),
        ("params.note = 'it''s'", Comparison("param", "note", "=", "it's")),
        ("params.note = ''", Comparison("param", "note", "=", "")),
        ("params.lr = '0.1'", Comparison("param", "lr", "=", "0.1")),
        ("params.model LIKE 'r%'", Comparison("param", "model", "LIKE", "r%")),
        ("params.model like 'r_'", Comparison("param", "model", "LIKE", "r_")),
        ("params.model ILIKE 'R%'", Comparison("param", "model", "ILIKE", "R%")),
        ("params.model NOT LIKE 'r%'", Comparison("param", "model", "NOT LIKE", "r%")),
        ("params.model not ilike 'R%'", Comparison("param", "model", "NOT ILIKE", "R%")),
        ("params.model IN ('rf')", Comparison("param", "model", "IN", ("rf",))),
        ("params.model IN ('rf', 'svm')", Comparison("param", "model", "IN", ("rf", "svm"))),
        ("params.model in('a','b','c')", Comparison("param", "model", "IN", ("a", "b", "c"))),
        (
            "params.model NOT IN ('rf', 'x,y')",
            Comparison("param", "model", "NOT IN", ("rf", "x,y")),
        ),
        ("tags.team = 'x'", Comparison("tag", "team", "=", "x")),
        ("tag.`owner name` LIKE '%é'", Comparison("tag", "owner name", "LIKE", "%é")),
        ("attributes.status = 'FINISHED'", Comparison("attribute", "status", "=", "FINISHED")),
        ("attributes.status = 'finished'", Comparison("attribute", "status", "=", "FINISHED")),
        ("attributes.status != 'failed'", Comparison("attribute", "status", "!=", "FAILED")),
        ("attr.Run_Name LIKE 'grid-%'", Comparison("attribute", "run_name", "LIKE", "grid-%")),
        ("run.run_id = 'abc'", Comparison("attribute", "run_id", "=", "abc")),
        ("attributes.parent_run_id = 'p'", Comparison("attribute", "parent_run_id", "=", "p")),
        (
            "attributes.experiment_id IN ('1', '2')",
            Comparison("attribute", "experiment_id", "IN", ("1", "2")),
        ),
        (
            "attributes.start_time >= 1700000000000",
            Comparison("attribute", "start_time", ">=", 1_700_000_000_000),
        ),
        ("attributes.end_time < 5", Comparison("attribute", "end_time", "<", 5)),
    ],
)
def test_valid_single_conditions(filter_string: str, expected: Comparison) -> None:
    (parsed,) = parse_filter(filter_string)

    assert parsed == expected
    assert type(parsed.value) is type(expected.value)


def test_nan_is_a_number() -> None:
    (parsed,) = parse_filter("metrics.loss != nan")

    assert parsed.op == "!="
    assert isinstance(parsed.value, float)
    assert math.isnan(parsed.value)


def test_time_attributes_compare_to_integers() -> None:
    (parsed,) = parse_filter("attributes.start_time > 1.7e12")

    assert parsed.value == 1_700_000_000_000
    assert type(parsed.value) is int


def test_conditions_are_joined_by_and_in_any_case() -> None:
    parsed = parse_filter(
        "metrics.acc > 0.9 and params.model = 'rf' AND tags.team != 'x' "
        "And attributes.status IN ('FINISHED', 'KILLED')"
    )

    assert parsed == [
        Comparison("metric", "acc", ">", 0.9),
        Comparison("param", "model", "=", "rf"),
        Comparison("tag", "team", "!=", "x"),
        Comparison("attribute", "status", "IN", ("FINISHED", "KILLED")),
    ]


def test_keywords_inside_quoted_values_are_values() -> None:
    parsed = parse_filter("params.a = 'x and y' and params.b = 'or' and params.c LIKE 'IN (%'")

    assert [c.value for c in parsed] == ["x and y", "or", "IN (%"]


def test_comparisons_are_immutable() -> None:
    (parsed,) = parse_filter("metrics.acc > 0.9")

    with pytest.raises(AttributeError):
        parsed.value = 1.0  # type: ignore[misc]
    assert parsed.value == 0.9


# --------------------------------------------------------------------------------------------
# invalid filters
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("filter_string", "reason"),
    [
        ("foo.acc > 1", "unknown entity 'foo'"),
        ("runs.acc > 1", "unknown entity 'runs'"),
        ("attributes.color = 'red'", "unknown attribute 'color'"),
        ("attributes.artifact_uri = 'x'", "unknown attribute 'artifact_uri'"),
        ("metrics.acc >", "missing value"),
        ("params.model =", "missing value"),
        ("metrics.acc", "missing comparison operator"),
        ("metrics.acc 0.5", "expected a comparison operator"),
        ("metrics.acc > 'high'", "compares to a number"),
        ("metrics.acc > abc", "compares to a number"),
        ("params.model = 3", "compares to a quoted string"),
        ("params.model = rf", "compares to a quoted string"),
        ("attributes.start_time > 'yesterday'", "compares to a number"),
        ("attributes.start_time > nan", "finite number"),
        ("attributes.end_time < inf", "finite number"),
        ("attributes.status = 3", "compares to a quoted string"),
        ("metrics.a > 1 or metrics.b < 2", "'or' is not supported"),
        ("metrics.a > 1 OR metrics.b < 2", "'or' is not supported"),
        ("metrics.a > 1 and", "dangling 'and'"),
        ("metrics.a > 1 AND ", "dangling 'and'"),
        ("and metrics.a > 1", "expected metrics.<key>"),
        ("metrics.a > 1 metrics.b < 2", "expected 'and'"),
        ("metrics.acc LIKE '0.%'", "operator LIKE does not apply to metric 'acc'"),
        ("metrics.acc IN ('1')", "operator IN does not apply"),
        ("attributes.end_time NOT LIKE '1%'", "operator NOT LIKE does not apply"),
        ("params.model > 'a'", "operator > does not apply to param 'model'"),
        ("tags.team <= 'a'", "operator <= does not apply to tag 'team'"),
        ("attributes.run_name >= 'a'", "operator >= does not apply"),
        ("params.model NOT = 'a'", "expected a comparison operator"),
        ("params.model IN ('a', 'b'", "IN list"),
        ("params.model IN (", "IN list"),
        ("params.model IN ('a' 'b')", "expected ',' or ')'"),
        ("params.model IN 'a'", "parenthesised list"),
        ("params.model IN (1, 2)", "IN lists hold quoted strings"),
        ("params.model IN ()", "IN lists hold quoted strings"),
        ("params.model = 'unterminated", "unexpected text"),
        ("metrics.acc > 1 ;", "unexpected text"),
        ("acc > 0.5", "expected metrics.<key>"),
        ("metrics.`` > 1", "empty key"),
    ],
)
def test_invalid_filters_raise_naming_the_filter(filter_string: str, reason: str) -> None:
    with pytest.raises(InvalidFilterError) as excinfo:
        parse_filter(filter_string)

    error = excinfo.value
    assert isinstance(error, ValueError)
    assert isinstance(error, InvalidInputError)
    assert isinstance(error, AutologError)
    assert error.filter_string == filter_string
    assert repr(filter_string) in str(error)
    assert reason in error.reason


# --------------------------------------------------------------------------------------------
# order_by
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("empty", [None, []])
def test_no_order_by_means_the_default_order(empty: list[str] | None) -> None:
    assert parse_order_by(empty) == []


@pytest.mark.parametrize(
    ("clause", "expected"),
    [
        ("metrics.acc DESC", OrderBy("metric", "acc", ascending=False)),
        ("metrics.acc desc", OrderBy("metric", "acc", ascending=False)),
        ("metrics.acc ASC", OrderBy("metric", "acc", ascending=True)),
        ("metrics.acc", OrderBy("metric", "acc", ascending=True)),
        ("  metrics.acc   DESC ", OrderBy("metric", "acc", ascending=False)),
        ("params.model", OrderBy("param", "model", ascending=True)),
        ("tags.team DESC", OrderBy("tag", "team", ascending=False)),
        ("metrics.`val acc` DESC", OrderBy("metric", "val acc", ascending=False)),
        ("attributes.start_time DESC", OrderBy("attribute", "start_time", ascending=False)),
        ("start_time", OrderBy("attribute", "start_time", ascending=True)),
        ("run_name DESC", OrderBy("attribute", "run_name", ascending=False)),
    ],
)
def test_valid_order_by_clauses(clause: str, expected: OrderBy) -> None:
    assert parse_order_by(clause) == [expected]
    assert parse_order_by([clause]) == [expected]


def test_order_by_keeps_the_clause_order() -> None:
    assert parse_order_by(["params.model", "metrics.acc DESC", "attributes.end_time"]) == [
        OrderBy("param", "model", ascending=True),
        OrderBy("metric", "acc", ascending=False),
        OrderBy("attribute", "end_time", ascending=True),
    ]


@pytest.mark.parametrize(
    ("clause", "reason"),
    [
        ("foo.acc DESC", "unknown entity 'foo'"),
        ("attributes.color", "unknown attribute 'color'"),
        ("colour DESC", "unknown attribute 'colour'"),
        ("metrics.acc DESC extra", "order_by takes"),
        ("metrics.acc > 1", "order_by takes"),
        ("metrics.a, metrics.b", "order_by takes"),
    ],
)
def test_invalid_order_by_raises_naming_the_clause(clause: str, reason: str) -> None:
    with pytest.raises(InvalidFilterError) as excinfo:
        parse_order_by(["metrics.fine", clause])

    assert isinstance(excinfo.value, ValueError)
    assert isinstance(excinfo.value, AutologError)
    assert excinfo.value.filter_string == clause
    assert reason in excinfo.value.reason


@pytest.mark.parametrize(
    ("text", "position"),
    [
        ("metrics.acc >> 0.9", 13),
        ("metrics.acc > 0.9 and", 18),
        ("metrics.acc > 0.9 or params.a = 'b'", 18),
        ("foo.bar = 1", 0),
        ("metrics.acc ~ 1", 12),
        ("metrics.acc", 11),
        ("params.x IN ('a' 'b')", 17),
        ("metrics.acc > 1 params.x = '1'", 16),
        ("params.model > 'x'", 13),
    ],
)
def test_filter_errors_say_where_the_parser_stopped(text: str, position: int) -> None:
    with pytest.raises(InvalidFilterError) as excinfo:
        parse_filter(text)
    assert excinfo.value.position == position
    assert f"at position {position + 1}:" in str(excinfo.value)
