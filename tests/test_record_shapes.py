"""Every record has one description, its entity (``autolog.entities``): its JSON form
(``autolog.wire``) and the server's schema of it (``autolog.server.schemas``) carry exactly the
entity's fields, in order, and a record survives the trip through both.

A field added to an entity and not to a form or schema written by hand fails here; the forms
and schemas derived from the entities follow by themselves.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from typing import Any, get_args

import pytest

from autolog import entities, wire
from autolog.entities import (
    AccessToken,
    Experiment,
    FileInfo,
    Metric,
    ModelVersion,
    Param,
    RegisteredModel,
    Run,
    RunData,
    RunInfo,
    RunPage,
    RunStatus,
    RunTag,
    TokenScope,
)

INFO = RunInfo("r1", "3", "a run", RunStatus.FINISHED, 10, 20, "s3://b/r1", "r0", 30)
RUN = Run(INFO, RunData({"lr": "0.1"}, {"acc": 0.5, "loss": math.nan}, {"team": "x"}))
#: a sample of every record, every field set (none at its default, so a form that drops a
#: field is seen), and one with every optional field missing or null
SAMPLES: dict[type, list[Any]] = {
    Experiment: [Experiment("3", "exp", "s3://b", 5, 6), Experiment("0", "Default", "", 0)],
    RunInfo: [INFO, RunInfo("r2", "0", "", RunStatus.RUNNING, 1, None, "")],
    RunData: [RUN.data, RunData({}, {}, {})],
    Run: [RUN],
    RunPage: [RunPage([RUN], 7, {"r1": 2}), RunPage([], 0, {})],
    Metric: [Metric("acc", -0.0, -1, 2), Metric("loss", math.inf, 2**63 - 1, 0)],
    Param: [Param("lr", "0.1")],
    RunTag: [RunTag("team", "x")],
    FileInfo: [FileInfo("model/model.pkl", False, 12), FileInfo("model", True, None)],
    ModelVersion: [
        ModelVersion("m", 2, "runs:/r1/model", "r1", 9, ("prod", "best"), "the best", {"k": "v"}),
        ModelVersion("m", 1, "runs:/r1/model", None, 0),
    ],
    RegisteredModel: [
        RegisteredModel("m", 3, 4, "a model", {"team": "x"}, {"prod": 2}, 2),
        RegisteredModel("m", 3, 3),
    ],
    AccessToken: [AccessToken("ab12", "ci", "write", 4, "f" * 64)],
}
#: records that have no JSON form of their own, and why
NO_JSON_FORM = {
    entities.MetricColumns: "a history travels as points or in the binary form (wire.py)",
    entities.ModelInfo: "read from a model's verified metadata where it is loaded, never sent",
}


def _pair(kind: type, encode: Callable[..., Any]) -> tuple[Callable[[Any], Any], Any]:
    """A param's or tag's form: one item of the list that carries them."""
    return (
        lambda pair: encode([pair])[0],
        lambda data: kind(*wire.pairs_from_json([data], kind.__name__)[0]),
    )


def _in_run(part: str) -> tuple[Callable[[Any], Any], Callable[[Any], Any]]:
    """A run's info or data: a member of the run's form."""

    def encode(record: Any) -> Any:
        return wire.run_to_json(RUN._replace(**{part: record}))[part]

    def decode(data: Any) -> Any:
        return getattr(wire.run_from_json({**wire.run_to_json(RUN), part: data}), part)

    return encode, decode


#: the JSON form of each record: (encode, decode)
FORMS: dict[type, tuple[Callable[[Any], Any], Callable[[Any], Any]]] = {
    Experiment: (wire.experiment_to_json, wire.experiment_from_json),
    RunInfo: _in_run("info"),
    RunData: _in_run("data"),
    Run: (wire.run_to_json, wire.run_from_json),
    RunPage: (wire.run_page_to_json, wire.run_page_from_json),
    Metric: (wire.metric_to_json, wire.metric_from_json),
    Param: _pair(Param, wire.params_to_json),
    RunTag: _pair(RunTag, wire.tags_to_json),
    FileInfo: (wire.file_info_to_json, wire.file_info_from_json),
    ModelVersion: (wire.model_version_to_json, wire.model_version_from_json),
    RegisteredModel: (wire.registered_model_to_json, wire.registered_model_from_json),
    AccessToken: (lambda token: wire.token_to_json(token, with_hash=True), wire.token_from_json),
}
#: the bytes a server of this version sends and a client of this version reads: the wire
#: format is a contract between them, so a change here must be deliberate
RUN_BYTES = (
    b'{"info":{"run_id":"r1","experiment_id":"3","run_name":"a run","status":"FINISHED",'
    b'"start_time":10,"end_time":20,"artifact_uri":"s3://b/r1","parent_run_id":"r0",'
    b'"deleted_time":30},"data":{"params":{"lr":"0.1"},"metrics":{"acc":0.5,"loss":"NaN"},'
    b'"tags":{"team":"x"}}}'
)


def records() -> list[type]:
    return [
        kind
        for kind in map(entities.__dict__.get, entities.__all__)
        if isinstance(kind, type) and issubclass(kind, tuple)
    ]


def same(a: Any, b: Any) -> bool:
    """Equal in value and in type, to the sign of a zero; NaN is the same as NaN (a record
    holding a NaN metric is not == itself)."""
    return repr(a) == repr(b)


def test_every_record_has_samples_and_a_json_form_or_a_reason() -> None:
    assert set(records()) == set(SAMPLES) | set(NO_JSON_FORM)
    assert set(FORMS) == set(SAMPLES)


@pytest.mark.parametrize("kind", list(SAMPLES), ids=lambda kind: kind.__name__)
def test_the_json_form_has_the_entitys_fields_in_order(kind: type) -> None:
    encode, _ = FORMS[kind]
    for sample in SAMPLES[kind]:
        assert list(encode(sample)) == list(kind._fields)  # type: ignore[attr-defined]


@pytest.mark.parametrize("kind", list(SAMPLES), ids=lambda kind: kind.__name__)
def test_a_record_survives_its_json_form(kind: type) -> None:
    encode, decode = FORMS[kind]
    for sample in SAMPLES[kind]:
        back = decode(json.loads(wire.dumps(encode(sample))))
        assert type(back) is kind
        assert same(back, sample), (back, sample)


def test_the_wire_bytes_of_a_run_are_this_versions() -> None:
    sent = wire.dumps(wire.run_to_json(RUN))
    assert sent == RUN_BYTES, "the wire format changed: update RUN_BYTES only if that is meant"
    assert wire.dumps(wire.token_to_json(SAMPLES[AccessToken][0])) == (
        b'{"token_id":"ab12","name":"ci","scope":"write","creation_time":4}'
    )


def test_optional_members_may_be_missing_and_others_may_not() -> None:
    data: dict[str, Any] = json.loads(RUN_BYTES)
    for optional in ("end_time", "parent_run_id", "deleted_time"):
        del data["info"][optional]
    info = wire.run_from_json(data).info
    assert (info.end_time, info.parent_run_id, info.deleted_time) == (None, None, None)
    assert (
        wire.model_version_from_json(
            {"name": "m", "version": 1, "source": "s", "creation_time": 1}
        ).aliases
        == ()
    )
    assert wire.token_from_json(wire.token_to_json(SAMPLES[AccessToken][0]), "h").secret_hash == "h"
    del data["info"]["start_time"]
    with pytest.raises(wire.WireError, match="RunInfo: start_time is missing"):
        wire.run_from_json(data)


@pytest.mark.parametrize(
    ("field", "value"),
    [("start_time", "10"), ("start_time", True), ("run_name", None), ("status", "DONE")],
)
def test_a_member_of_the_wrong_type_is_refused_by_name(field: str, value: Any) -> None:
    data: dict[str, Any] = json.loads(RUN_BYTES)
    data["info"][field] = value
    with pytest.raises(wire.WireError, match=rf"RunInfo\.{field}: expected"):
        wire.run_from_json(data)


def test_a_metric_value_that_is_no_number_is_refused() -> None:
    data: dict[str, Any] = json.loads(RUN_BYTES)
    data["data"]["metrics"]["acc"] = "high"
    with pytest.raises(wire.WireError, match=r"RunData\.metrics: expected a number"):
        wire.run_from_json(data)
    with pytest.raises(wire.WireError, match=r"RunData\.params: expected an object"):
        wire.run_from_json({**data, "data": {**data["data"], "params": ["lr"]}})


# ------------------------------------------------------------------------- the server's schemas


def server_models() -> dict[type, list[tuple[Any, tuple[str, ...]]]]:
    """Each record's models in the server's schemas, with the fields each leaves out."""
    pytest.importorskip("pydantic", reason="the server's schemas need the server extra")
    from autolog.server import schemas

    return {
        Experiment: [(schemas.Experiment, ())],
        RunInfo: [(schemas.RunInfo, ())],
        RunData: [(schemas.RunData, ())],
        Run: [(schemas.Run, ())],
        RunPage: [(schemas.RunPage, ())],
        Metric: [(schemas.Metric, ()), (schemas.HistoryPoint, ("key",))],
        Param: [(schemas.KeyValue, ())],
        RunTag: [(schemas.KeyValue, ())],
        FileInfo: [(schemas.FileInfo, ())],
        ModelVersion: [(schemas.ModelVersion, ())],
        RegisteredModel: [(schemas.RegisteredModel, ())],
        AccessToken: [
            (schemas.TokenRecord, ()),
            (schemas.TokenCreate, ()),
            (schemas.Token, ("secret_hash",)),
        ],
    }


def test_every_record_with_a_json_form_has_a_schema() -> None:
    assert set(server_models()) == set(FORMS)


@pytest.mark.parametrize("kind", list(SAMPLES), ids=lambda kind: kind.__name__)
def test_each_schema_has_the_entitys_fields_in_order(kind: type) -> None:
    for model, left_out in server_models()[kind]:
        expected = [f for f in kind._fields if f not in left_out]  # type: ignore[attr-defined]
        assert list(model.model_fields) == expected, model.__name__


@pytest.mark.parametrize("kind", list(SAMPLES), ids=lambda kind: kind.__name__)
def test_each_schema_accepts_the_json_form(kind: type) -> None:
    encode, _ = FORMS[kind]
    for model, left_out in server_models()[kind]:
        for sample in SAMPLES[kind]:
            data = json.loads(wire.dumps(encode(sample)))
            model.model_validate({k: v for k, v in data.items() if k not in left_out})


def test_the_schemas_literals_list_every_member_of_their_enum() -> None:
    pytest.importorskip("pydantic", reason="the server's schemas need the server extra")
    from autolog.server import schemas

    assert get_args(schemas.Status) == tuple(status.value for status in RunStatus)
    assert get_args(schemas.Scope) == tuple(scope.value for scope in TokenScope)
