"""The tracking rules, tested once: against ``Tracking`` over the memory engine (``MemoryStore``).

Every rule lives in ``autolog.tracking.Tracking``, the one service over every engine, so a
rule holds alike whichever engine keeps the runs: refusals and errors, the run state machine,
param immutability, batch ids, the finality of models, deleted experiments and purges, what no
store can hold, reaping of dead runs on read, and ``write_run``'s all-or-nothing. What each
engine must keep (round trips, search, units of work, threads, crashes) is
test_engine_contract.py, run on every engine and through the REST store.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator, Sequence

import pytest
from engines import (
    HASH_A,
    HASH_B,
    HASH_C,
    HASH_D,
    T0,
    dead_runner,
    logged_model,
    new_run,
    register,
)

from autolog import context
from autolog.entities import Metric, Param, Run, RunStatus, RunTag
from autolog.errors import (
    AutologError,
    InvalidInputError,
    InvalidKeyError,
    InvalidValueError,
    NotFoundError,
    ParamCollisionError,
    RunStateError,
)
from autolog.search import parse_filter, parse_order_by
from autolog.stores import Store
from autolog.stores.base import RunCreation, RunWrites
from autolog.stores.memory import MemoryStore
from autolog.tracking import (
    LIVENESS_TAGS,
    PRESUMED_KILLED_TAG,
    STALE_SECONDS,
    incomplete_model,
    marked_incomplete,
)


def _ids(runs: Sequence[Run]) -> set[str]:
    return {run.info.run_id for run in runs}


@pytest.fixture
def store() -> Iterator[MemoryStore]:
    """``Tracking`` over the reference engine (this module's ``store``, not conftest's)."""
    tracking = MemoryStore()
    try:
        yield tracking
    finally:
        tracking.close()


# --------------------------------------------------------------------------------------------
# missing things
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("experiment_id", ["987654", "no-such-experiment"])
def test_missing_experiment_raises_not_found(store: Store, experiment_id: str) -> None:
    store.get_or_create_experiment("exp")

    with pytest.raises(NotFoundError) as excinfo:
        store.get_experiment(experiment_id)
    assert excinfo.value.name == experiment_id
    with pytest.raises(NotFoundError):
        store.create_run(uuid.uuid4().hex, experiment_id, "r", T0, "file:///a", None, {})


def test_missing_run_raises_not_found(store: Store) -> None:
    new_run(store)
    missing = uuid.uuid4().hex

    with pytest.raises(NotFoundError) as excinfo:
        store.get_run(missing)
    assert excinfo.value.name == missing
    with pytest.raises(NotFoundError):
        store.update_run(missing, RunStatus.FINISHED, T0)
    with pytest.raises(NotFoundError):
        store.log_batch(missing, params=[Param("p", "1")])
    with pytest.raises(NotFoundError):
        store.get_metric_history(missing, "loss")


def test_recording_artifact_hashes_for_a_missing_run_raises(store: Store) -> None:
    new_run(store)

    with pytest.raises(NotFoundError):
        store.record_artifact_hashes(uuid.uuid4().hex, {"model/a.pkl": HASH_A})


@pytest.mark.parametrize(("name", "version"), [("clf", 3), ("clf", 0), ("clf", -1), ("nope", 1)])
def test_missing_model_version_raises_not_found(store: Store, name: str, version: int) -> None:
    register(store, "clf", logged_model(store))
    register(store, "clf", logged_model(store))

    with pytest.raises(NotFoundError):
        store.get_model_version(name, version)
    with pytest.raises(NotFoundError):
        store.set_model_alias(name, "champion", version)


def test_missing_model_alias_raises_not_found(store: Store) -> None:
    register(store, "clf", logged_model(store))
    store.set_model_alias("clf", "champion", 1)

    with pytest.raises(NotFoundError):
        store.get_model_version_by_alias("clf", "challenger")
    with pytest.raises(NotFoundError):
        store.get_model_version_by_alias("nope", "champion")


# --------------------------------------------------------------------------------------------
# run creation and params: a run id is taken once, params are immutable
# --------------------------------------------------------------------------------------------


def test_creating_a_run_twice_fails_and_keeps_the_first(store: Store) -> None:
    run_id = new_run(store, run_name="first", tags={"t": "1"})

    with pytest.raises(AutologError):
        new_run(store, run_id=run_id, run_name="second", tags={"t": "2"})

    run = store.get_run(run_id)
    assert run.info.run_name == "first"
    assert dict(run.data.tags) == {"t": "1"}


def test_relogging_an_identical_param_is_a_no_op(store: Store) -> None:
    run_id = new_run(store)
    store.log_batch(run_id, params=[Param("lr", "0.01")])

    store.log_batch(run_id, params=[Param("lr", "0.01"), Param("depth", "4")])
    store.log_batch(run_id, params=[Param("lr", "0.01")])

    assert dict(store.get_run(run_id).data.params) == {"lr": "0.01", "depth": "4"}


def test_changing_a_param_raises_and_stores_nothing_of_the_batch(store: Store) -> None:
    run_id = new_run(store, tags={"initial": "yes"})
    store.log_batch(run_id, params=[Param("lr", "0.01")])

    with pytest.raises(ParamCollisionError) as excinfo:
        store.log_batch(
            run_id,
            metrics=[Metric("loss", 0.5, 0, T0)],
            params=[Param("fresh", "x"), Param("lr", "0.02")],
            tags=[RunTag("initial", "changed"), RunTag("new-tag", "v")],
        )

    error = excinfo.value
    assert error.key == "lr"
    assert (error.old_value, error.new_value) == ("0.01", "0.02")
    assert "lr" in str(error)
    run = store.get_run(run_id)
    assert dict(run.data.params) == {"lr": "0.01"}
    assert dict(run.data.tags) == {"initial": "yes"}
    assert dict(run.data.metrics) == {}
    assert store.get_metric_history(run_id, "loss") == []
    # the run still takes writes afterwards
    store.log_batch(run_id, params=[Param("fresh", "x")])
    assert dict(store.get_run(run_id).data.params) == {"lr": "0.01", "fresh": "x"}


# --------------------------------------------------------------------------------------------
# batch ids: a batch sent again (its answer lost) is stored once
# --------------------------------------------------------------------------------------------


def test_a_batch_with_a_stored_batch_id_is_not_stored_again(store: Store) -> None:
    run_id = new_run(store)
    other_id = new_run(store)
    batch = [Metric("loss", 1.0, 0, T0), Metric("loss", 2.0, 1, T0)]

    store.log_batch(run_id, batch, [Param("p", "1")], [RunTag("t", "a")], batch_id="b-1")
    store.log_batch(run_id, batch, [Param("p", "1")], [RunTag("t", "a")], batch_id="b-1")
    store.log_batch(run_id, [Metric("loss", 3.0, 2, T0)], tags=[RunTag("t", "b")], batch_id="b-2")
    store.log_batch(run_id, [Metric("loss", 1.0, 0, T0)], tags=[RunTag("t", "c")], batch_id="b-1")
    store.log_batch(other_id, batch, batch_id="b-1")  # ids belong to their run

    assert [m.value for m in store.get_metric_history(run_id, "loss")] == [1.0, 2.0, 3.0]
    assert store.get_run(run_id).data.tags["t"] == "b"
    assert [m.value for m in store.get_metric_history(other_id, "loss")] == [1.0, 2.0]


def test_batches_without_ids_are_all_stored(store: Store) -> None:
    run_id = new_run(store)
    batch = [Metric("loss", 1.0, 0, T0)]

    store.log_batch(run_id, batch)
    store.log_batch(run_id, batch)

    assert len(store.get_metric_history(run_id, "loss")) == 2


def test_a_refused_batch_leaves_its_id_free(store: Store) -> None:
    run_id = new_run(store)
    store.log_batch(run_id, params=[Param("p", "1")])

    with pytest.raises(ParamCollisionError):
        store.log_batch(run_id, [Metric("m", 1.0, 0, T0)], [Param("p", "2")], batch_id="b-refused")
    store.log_batch(run_id, [Metric("m", 1.0, 0, T0)], batch_id="b-refused")

    assert store.get_metric_history(run_id, "m") == [Metric("m", 1.0, 0, T0)]


# --------------------------------------------------------------------------------------------
# validation: what every store refuses, whoever writes (issue 12)
# --------------------------------------------------------------------------------------------


UNSTORABLE = ["bad\ud800", "nul\x00here"]


@pytest.mark.parametrize("text", UNSTORABLE, ids=["surrogate", "nul"])
def test_text_no_store_can_hold_is_refused_and_nothing_of_the_batch_is_written(
    store: Store, text: str
) -> None:
    run_id = new_run(store)
    for batch in (
        {"params": [Param("ok", "1"), Param("p", text)]},
        {"tags": [RunTag("ok", "1"), RunTag("t", text)]},
        {"metrics": [Metric("ok", 1.0, 0, T0), Metric(f"m{text}", 1.0, 0, T0)]},
    ):
        with pytest.raises(InvalidInputError, match=r"surrogate|NUL"):
            store.log_batch(run_id, **batch)  # type: ignore[arg-type]
    run = store.get_run(run_id)
    assert (run.data.params, run.data.metrics) == ({}, {})
    assert run.data.tags == {}
    with pytest.raises(InvalidInputError):
        store.get_or_create_experiment(f"exp{text}")
    with pytest.raises(InvalidInputError):
        new_run(store, run_name=f"r{text}")
    # and the store goes on working
    store.log_batch(run_id, params=[Param("p", "fine")])
    assert store.get_run(run_id).data.params == {"p": "fine"}


@pytest.mark.parametrize(("offset", "limit"), [(-1, 10), (0, -5), (1.5, 10), (0, "10")])
def test_search_run_page_refuses_a_bad_page(store: Store, offset: object, limit: object) -> None:
    new_run(store)
    with pytest.raises(InvalidInputError, match="must be an integer >= 0"):
        store.search_run_page(None, [], [], offset, limit)  # type: ignore[arg-type]


# --------------------------------------------------------------------------------------------
# the run state machine
# --------------------------------------------------------------------------------------------


def test_a_run_that_has_ended_takes_no_writes(store: Store) -> None:
    # but tags and a new name: test_an_ended_run_takes_tags_and_a_new_name (a designed change;
    # a tags-only batch was refused here before)
    run_id = new_run(store)
    store.log_batch(run_id, metrics=[Metric("m", 1.0, 0, T0)], params=[Param("p", "1")])
    store.record_model(run_id, "model", {"model/model.pkl": HASH_A})
    store.update_run(run_id, RunStatus.FINISHED, T0 + 5)
    for write in (
        lambda: store.log_batch(run_id, metrics=[Metric("m", 2.0, 1, T0)]),
        lambda: store.log_batch(run_id, params=[Param("q", "2")]),
        # tags travelling with a metric or a param are refused with them
        lambda: store.log_batch(run_id, metrics=[Metric("m", 2.0, 1, T0)], tags=[RunTag("t", "x")]),
        lambda: store.log_batch(run_id, params=[Param("q", "2")], tags=[RunTag("t", "x")]),
        lambda: store.record_artifact_hashes(run_id, {"f.txt": HASH_B}),
        lambda: store.record_model(run_id, "other", {"other/model.pkl": HASH_C}),
        lambda: store.update_run(run_id, RunStatus.FAILED, T0 + 6),
        lambda: store.update_run(run_id, RunStatus.RUNNING, None),
    ):
        with pytest.raises(RunStateError, match="FINISHED"):
            write()
    store.update_run(run_id, RunStatus.FINISHED, T0 + 5)  # the same end again: no change
    run = store.get_run(run_id)
    assert (run.info.status, run.info.end_time) == (RunStatus.FINISHED, T0 + 5)
    assert (run.data.metrics, run.data.params, run.data.tags) == ({"m": 1.0}, {"p": "1"}, {})
    assert store.get_artifact_hashes(run_id) == {"model/model.pkl": HASH_A}
    assert store.get_model_files(run_id, "other") is None


@pytest.mark.parametrize("status", [RunStatus.FINISHED, RunStatus.FAILED, RunStatus.KILLED])
def test_an_ended_run_takes_tags_and_a_new_name(store: Store, status: RunStatus) -> None:
    run_id = new_run(store, run_name="first", tags={"team": "a", "stale": "x"})
    store.log_batch(run_id, metrics=[Metric("m", 1.0, 0, T0)], params=[Param("p", "1")])
    store.update_run(run_id, status, T0 + 5)
    before = store.get_run(run_id).info

    store.log_batch(run_id, tags=[RunTag("team", "b"), RunTag("mlflow.note.content", "# why")])
    store.delete_tag(run_id, "stale")
    store.delete_tag(run_id, "stale")  # again (a retried request): no change
    store.delete_tag(run_id, "never-set")
    store.rename_run(run_id, "second")
    store.rename_run(run_id, "second")  # the same name: no change

    run = store.get_run(run_id)
    assert run.info == before._replace(run_name="second")  # still ended, as it was
    assert run.data.tags == {"team": "b", "mlflow.note.content": "# why"}
    assert (run.data.metrics, run.data.params) == ({"m": 1.0}, {"p": "1"})
    with pytest.raises(RunStateError, match=status.value):  # the rest stays refused
        store.log_batch(run_id, metrics=[Metric("m", 2.0, 1, T0)])
    with pytest.raises(RunStateError, match=status.value):
        store.update_run(run_id, RunStatus.RUNNING, None)


@pytest.mark.parametrize(
    "key", [context.TAG_RUNNER, context.TAG_HEARTBEAT, PRESUMED_KILLED_TAG], ids=str
)
def test_an_ended_run_takes_no_tag_that_says_its_process_lives(store: Store, key: str) -> None:
    assert key in LIVENESS_TAGS
    run_id = new_run(store, tags={context.TAG_RUNNER: context.process_identity()})
    store.update_run(run_id, RunStatus.KILLED, T0 + 5)  # killed by its owner: final
    tags = store.get_run(run_id).data.tags
    with pytest.raises(RunStateError, match="KILLED"):
        store.log_batch(run_id, tags=[RunTag("fine", "1"), RunTag(key, str(T0 + 9))])
    if key != PRESUMED_KILLED_TAG:
        with pytest.raises(RunStateError, match="KILLED"):
            store.delete_tag(run_id, key)
    assert store.get_run(run_id).data.tags == tags  # the batch was refused whole
    # had a presumption been set, the run would take writes and a new end again: it does not
    with pytest.raises(RunStateError, match="KILLED"):
        store.log_batch(run_id, metrics=[Metric("m", 1.0, 0, T0)])
    with pytest.raises(RunStateError, match="KILLED"):
        store.update_run(run_id, RunStatus.FINISHED, T0 + 6)


def test_a_presumption_is_removed_by_the_owners_end_only(store: Store) -> None:
    run_id = new_run(store, tags={PRESUMED_KILLED_TAG: str(T0)})
    store.update_run(run_id, RunStatus.KILLED, T0 + 1)  # as older versions recorded a reaping
    with pytest.raises(RunStateError, match="removed by autolog only"):
        store.delete_tag(run_id, PRESUMED_KILLED_TAG)
    store.log_batch(run_id, tags=[RunTag("team", "a")])
    store.update_run(run_id, RunStatus.FINISHED, T0 + 5)  # its owner's end, taken
    run = store.get_run(run_id)
    assert (run.info.status, run.data.tags) == (RunStatus.FINISHED, {"team": "a"})


def test_a_deleted_run_is_not_renamed_and_keeps_its_tags_once_ended(store: Store) -> None:
    running = new_run(store, run_name="running", tags={"t": "1"})
    ended = new_run(store, run_name="ended", tags={"t": "1"})
    store.update_run(ended, RunStatus.FINISHED, T0 + 5)
    for run_id in (running, ended):
        store.delete_run(run_id)
        with pytest.raises(RunStateError, match="deleted: restore it to rename it"):
            store.rename_run(run_id, "new")
    # a RUNNING run's owner still writes to it (its heartbeat is a tag), whoever deleted it
    store.log_batch(running, tags=[RunTag("t", "2")])
    store.delete_tag(running, "t")
    for write in (
        lambda: store.log_batch(ended, tags=[RunTag("t", "2")]),
        lambda: store.delete_tag(ended, "t"),
    ):
        with pytest.raises(RunStateError, match="FINISHED and deleted: restore it"):
            write()
    assert [store.get_run(r).info.run_name for r in (running, ended)] == ["running", "ended"]
    assert (store.get_run(running).data.tags, store.get_run(ended).data.tags) == ({}, {"t": "1"})
    store.restore_run(ended)  # restored, it changes again
    store.rename_run(ended, "back")
    store.delete_tag(ended, "t")
    assert (store.get_run(ended).info.run_name, store.get_run(ended).data.tags) == ("back", {})


@pytest.mark.parametrize("name", ["", "   ", "a\x00b", "\ud800", None, 3])
def test_a_run_name_is_checked_like_other_names(store: Store, name: object) -> None:
    run_id = new_run(store, run_name="kept")
    with pytest.raises(InvalidInputError, match="run name"):
        store.rename_run(run_id, name)  # type: ignore[arg-type]
    assert store.get_run(run_id).info.run_name == "kept"


def test_renaming_or_untagging_what_is_not_there(store: Store) -> None:
    run_id = new_run(store)
    with pytest.raises(NotFoundError):
        store.rename_run(uuid.uuid4().hex, "x")
    with pytest.raises(NotFoundError):
        store.delete_tag(uuid.uuid4().hex, "t")
    with pytest.raises(InvalidKeyError):
        store.delete_tag(run_id, "../t")
    with pytest.raises(InvalidInputError):
        store.delete_tag("a\x00b", "t")


def test_a_run_a_reader_presumed_killed_takes_its_owners_writes_and_end(store: Store) -> None:
    run_id = new_run(store)
    store.log_batch(run_id, metrics=[Metric("m", 1.0, 0, T0)])
    # what a reader does when the run's process seems gone
    store.log_batch(run_id, tags=[RunTag(PRESUMED_KILLED_TAG, str(T0 + 9))])
    store.update_run(run_id, RunStatus.KILLED, T0 + 1)
    assert store.get_run(run_id).info.status is RunStatus.KILLED
    # the owner was only away (its writes spooled): they are taken, then its own end
    store.log_batch(run_id, metrics=[Metric("m", 2.0, 1, T0)], params=[Param("p", "1")])
    store.record_artifact_hashes(run_id, {"f.txt": HASH_B})
    store.record_model(run_id, "model", {"model/model.pkl": HASH_A})
    store.update_run(run_id, RunStatus.FINISHED, T0 + 5)
    run = store.get_run(run_id)
    assert (run.info.status, run.info.end_time) == (RunStatus.FINISHED, T0 + 5)
    assert PRESUMED_KILLED_TAG not in run.data.tags
    assert [m.value for m in store.get_metric_history(run_id, "m")] == [1.0, 2.0]
    assert run.data.params == {"p": "1"}
    assert store.get_model_files(run_id, "model") == {"model/model.pkl": HASH_A}
    # and then it is final, as every ended run
    with pytest.raises(RunStateError, match="FINISHED"):
        store.log_batch(run_id, metrics=[Metric("m", 3.0, 2, T0)])
    with pytest.raises(RunStateError, match="FINISHED"):
        store.update_run(run_id, RunStatus.KILLED, T0 + 6)


def test_a_run_killed_by_its_owner_is_final(store: Store) -> None:
    run_id = new_run(store)
    store.update_run(run_id, RunStatus.KILLED, T0 + 1)
    with pytest.raises(RunStateError, match="KILLED"):
        store.log_batch(run_id, metrics=[Metric("m", 1.0, 0, T0)])
    with pytest.raises(RunStateError, match="KILLED"):
        store.update_run(run_id, RunStatus.FINISHED, T0 + 5)


# --------------------------------------------------------------------------------------------
# models: a record log_model made, final once registered
# --------------------------------------------------------------------------------------------


def test_a_model_is_a_record_log_model_made_not_a_folder_of_files(store: Store) -> None:
    run_id = new_run(store)
    # files that look like a model, recorded as plain artifacts, are not one
    store.record_artifact_hashes(
        run_id, {"fake/autolog-model.json": HASH_A, "fake/model.pkl": HASH_B}
    )
    assert store.get_model_files(run_id, "fake") is None
    with pytest.raises(NotFoundError):
        store.create_model_version("m", f"runs:/{run_id}/fake", run_id)
    with pytest.raises((NotFoundError, InvalidInputError)):
        store.create_model_version("m", "file:///elsewhere/model", None)

    files = {"model/model.pkl": HASH_A, "model/autolog-model.json": HASH_B}
    store.record_model(run_id, "model", files)
    assert store.get_model_files(run_id, "model") == files
    assert store.get_model_files(run_id, "model/") == files
    assert store.get_artifact_hashes(run_id, "model") == files
    # a model's files are written by log_model only (the same file again changes nothing,
    # as a tracking server records what is uploaded)
    with pytest.raises(RunStateError, match="model"):
        store.record_artifact_hashes(run_id, {"model/model.pkl": HASH_C})
    with pytest.raises(RunStateError, match="model"):
        store.record_artifact_hashes(run_id, {"model/extra.pkl": HASH_C})
    store.record_artifact_hashes(run_id, {"model/model.pkl": HASH_A})
    assert store.get_model_files(run_id, "model") == files
    assert store.get_artifact_hashes(run_id, "model") == files
    # files outside its folder are not a model's
    with pytest.raises(InvalidInputError):
        store.record_model(run_id, "m2", {"elsewhere/model.pkl": HASH_A})
    with pytest.raises(InvalidInputError):
        store.record_model(run_id, "m2", {})


def test_a_registered_model_cannot_be_replaced(store: Store) -> None:
    run_id = new_run(store)
    store.record_model(run_id, "model", {"model/model.pkl": HASH_A})
    store.record_model(run_id, "model", {"model/model.pkl": HASH_B})  # not registered: replaced
    version = store.create_model_version("clf", f"runs:/{run_id}/model", run_id)

    with pytest.raises(RunStateError, match="registered"):
        store.record_model(run_id, "model", {"model/model.pkl": HASH_C})
    assert store.get_model_files(run_id, "model") == {"model/model.pkl": HASH_B}
    assert store.get_artifact_hashes(run_id, "model") == {"model/model.pkl": HASH_B}
    assert store.get_model_version("clf", version.version).source == f"runs:/{run_id}/model"
    # another model of the run is still free to change
    store.record_model(run_id, "other", {"other/model.pkl": HASH_A})
    store.record_model(run_id, "other", {"other/model.pkl": HASH_C})


def test_a_model_recorded_incomplete_is_never_registered_and_its_mark_is_no_artifact(
    store: Store,
) -> None:
    run_id = new_run(store)
    files = {"model/model.pkl": HASH_A, "model/autolog-model.json": HASH_B}
    store.record_model(run_id, "model", marked_incomplete("model", files))
    recorded = store.get_model_files(run_id, "model")
    assert recorded is not None
    assert incomplete_model("model", recorded)
    assert store.get_artifact_hashes(run_id) == files  # the mark is no file of the run
    with pytest.raises(RunStateError, match="incomplete"):
        store.create_model_version("clf", f"runs:/{run_id}/model", run_id)
    assert store.list_model_versions() == []
    # its files were all written: the record without the mark completes it
    store.record_model(run_id, "model", files)
    assert store.get_model_files(run_id, "model") == files
    store.create_model_version("clf", f"runs:/{run_id}/model", run_id)


# --------------------------------------------------------------------------------------------
# deleted experiments and purge rules
# --------------------------------------------------------------------------------------------


def test_a_deleted_experiment_hides_its_runs_and_keeps_its_name(store: Store) -> None:
    inside = new_run(store, "old")
    outside = new_run(store, "new")
    old = store.get_experiment_by_name("old")
    assert old is not None
    store.delete_experiment(old.experiment_id)
    assert [e.name for e in store.list_experiments()] == ["new"]
    assert [e.name for e in store.list_experiments("deleted")] == ["old"]
    assert [e.name for e in store.list_experiments("all")] == ["old", "new"]
    assert store.get_experiment(old.experiment_id).deleted_time is not None
    assert _ids(store.search_runs(None, [], [], 10)) == {outside}
    assert _ids(store.search_runs([old.experiment_id], [], [], 10)) == set()
    assert _ids(store.search_runs(None, [], [], 10, "all")) == {inside, outside}
    with pytest.raises(AutologError, match="is deleted"):
        store.get_or_create_experiment("old")
    store.restore_experiment(old.experiment_id)
    assert store.get_or_create_experiment("old").experiment_id == old.experiment_id
    assert _ids(store.search_runs(None, [], [], 10)) == {inside, outside}
    with pytest.raises(NotFoundError):
        store.delete_experiment("12345")


def test_purge_keeps_a_run_that_a_registered_model_points_at(store: Store) -> None:
    run_id = new_run(store)
    store.create_model_version("clf", logged_model(store, run_id), run_id)
    store.delete_run(run_id)
    with pytest.raises(AutologError, match="registered model versions"):
        store.purge_run(run_id)
    assert store.get_run(run_id).info.deleted_time is not None


# --------------------------------------------------------------------------------------------
# reaping: a run whose process is gone reads KILLED, for every reader, and nothing is written
# --------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def dead() -> str:
    """The runner identity of a process that has exited."""
    return dead_runner()


def _now_ms() -> int:
    return time.time_ns() // 1_000_000


def test_a_run_whose_process_died_reads_killed_and_nothing_is_written(
    store: MemoryStore, dead: str
) -> None:
    beating = new_run(store, tags={context.TAG_RUNNER: dead, context.TAG_HEARTBEAT: str(T0 + 500)})
    silent = new_run(store, start_time=T0 + 7, tags={context.TAG_RUNNER: dead})
    store.log_batch(beating, [Metric("m", 1.0, 0, T0)], [Param("p", "1")], [RunTag("t", "x")])
    stored = {run_id: store.engine.run(run_id) for run_id in (beating, silent)}
    before = _now_ms()

    seen = store.get_run(beating)
    (found,) = store.search_runs(None, parse_filter("params.p = '1'"), [], 10)
    paged = store.search_run_page(None, [], [], 0, 10).runs

    # KILLED, ended at its last sign of life: the heartbeat, else its start
    assert (seen.info.status, seen.info.end_time) == (RunStatus.KILLED, T0 + 500)
    assert int(seen.data.tags[PRESUMED_KILLED_TAG]) >= before
    assert (seen.data.params, seen.data.metrics) == ({"p": "1"}, {"m": 1.0})
    assert seen.data.tags["t"] == "x"
    assert seen.info._replace(status=RunStatus.RUNNING, end_time=None) == stored[beating].info
    assert (found.info.status, found.info.end_time) == (RunStatus.KILLED, T0 + 500)
    assert PRESUMED_KILLED_TAG in found.data.tags
    assert {(r.info.run_id, r.info.status, r.info.end_time) for r in paged} == {
        (beating, RunStatus.KILLED, T0 + 500),
        (silent, RunStatus.KILLED, T0 + 7),
    }
    assert all(PRESUMED_KILLED_TAG in r.data.tags for r in paged)
    # no read wrote anything: the engine keeps the run as its owner left it
    for run_id, kept in stored.items():
        now = store.engine.run(run_id)
        assert now == kept
        assert now is not None
        assert (now.info.status, now.info.end_time) == (RunStatus.RUNNING, None)
        assert PRESUMED_KILLED_TAG not in now.data.tags


def test_only_a_run_whose_process_is_known_gone_is_reaped(store: MemoryStore, dead: str) -> None:
    elsewhere = "another-host:4026531836:4242:123456"  # a process this host cannot judge
    stale = _now_ms() - int(STALE_SECONDS * 1000) - 60_000
    runs = {
        "this process": {context.TAG_RUNNER: context.process_identity()},  # started long ago
        "no runner tag": {},
        "elsewhere, beating": {
            context.TAG_RUNNER: elsewhere,
            context.TAG_HEARTBEAT: str(_now_ms()),
        },
        "elsewhere, stale": {context.TAG_RUNNER: elsewhere, context.TAG_HEARTBEAT: str(stale)},
        "elsewhere, silent since its start": {context.TAG_RUNNER: elsewhere},
        "dead, ended by its owner": {context.TAG_RUNNER: dead},
    }
    ids = {name: new_run(store, run_name=name, tags=tags) for name, tags in runs.items()}
    store.update_run(ids["dead, ended by its owner"], RunStatus.FAILED, T0 + 3)

    seen = {name: store.get_run(run_id) for name, run_id in ids.items()}

    assert {name: run.info.status for name, run in seen.items()} == {
        "this process": RunStatus.RUNNING,
        "no runner tag": RunStatus.RUNNING,
        "elsewhere, beating": RunStatus.RUNNING,
        "elsewhere, stale": RunStatus.KILLED,
        "elsewhere, silent since its start": RunStatus.KILLED,
        "dead, ended by its owner": RunStatus.FAILED,
    }
    assert seen["elsewhere, stale"].info.end_time == stale
    assert seen["dead, ended by its owner"].info.end_time == T0 + 3
    presumed = {name for name, run in seen.items() if PRESUMED_KILLED_TAG in run.data.tags}
    assert presumed == {"elsewhere, stale", "elsewhere, silent since its start"}


def test_searches_on_status_end_time_and_duration_see_reaped_runs(
    store: MemoryStore, dead: str
) -> None:
    reaped = new_run(
        store,
        run_name="reaped",
        tags={context.TAG_RUNNER: dead, context.TAG_HEARTBEAT: str(T0 + 500)},
    )  # reads KILLED, ended at T0 + 500: a duration of 500
    finished = new_run(store, run_name="finished", start_time=T0 + 1)
    store.update_run(finished, RunStatus.FINISHED, T0 + 101)  # a duration of 100
    new_run(
        store,
        run_name="alive",
        start_time=T0 + 2,
        tags={context.TAG_RUNNER: context.process_identity()},
    )

    def names(
        filter_string: str = "", order_by: list[str] | None = None, most: int = 10
    ) -> list[str]:
        found = store.search_runs(None, parse_filter(filter_string), parse_order_by(order_by), most)
        return [run.info.run_name for run in found]

    assert names("attributes.status = 'KILLED'") == ["reaped"]
    assert names("attributes.status = 'RUNNING'") == ["alive"]
    assert names("attributes.status != 'RUNNING'") == ["finished", "reaped"]
    assert names("attributes.status != 'RUNNING'", most=1) == ["finished"]
    assert names(f"attributes.end_time >= {T0 + 500}") == ["reaped"]
    assert names("attributes.duration > 200") == ["reaped"]
    assert names("attributes.duration <= 200") == ["finished"]
    assert names(order_by=["attributes.end_time DESC"]) == ["reaped", "finished", "alive"]
    assert names(order_by=["attributes.duration ASC"]) == ["finished", "reaped", "alive"]
    assert names(order_by=["attributes.status"]) == ["finished", "reaped", "alive"]
    killed = store.search_run_page(None, parse_filter("attributes.status = 'KILLED'"), [], 0, 10)
    assert ([r.info.run_id for r in killed.runs], killed.total) == ([reaped], 1)
    assert PRESUMED_KILLED_TAG in killed.runs[0].data.tags
    by_end = store.search_run_page(None, [], parse_order_by(["end_time DESC"]), 1, 1)
    assert ([r.info.run_name for r in by_end.runs], by_end.total) == (["finished"], 3)
    # judged by the service: the engine's own records still say RUNNING
    status_killed = parse_filter("attributes.status = 'KILLED'")
    assert store.engine.find_runs(None, status_killed, [], 10, "active") == []


def test_the_owner_of_a_reaped_run_still_writes_and_its_end_replaces_killed(
    store: MemoryStore, dead: str
) -> None:
    run_id = new_run(store, tags={context.TAG_RUNNER: dead})
    store.log_batch(run_id, metrics=[Metric("m", 1.0, 0, T0)])
    assert store.get_run(run_id).info.status is RunStatus.KILLED

    # what the owner spooled while away reaches the store later (autolog sync): taken
    store.log_batch(run_id, [Metric("m", 2.0, 1, T0)], [Param("p", "1")], [RunTag("t", "x")])
    store.record_artifact_hashes(run_id, {"f.txt": HASH_C})
    store.record_model(run_id, "model", {"model/model.pkl": HASH_A})
    assert store.get_run(run_id).info.status is RunStatus.KILLED  # its process is still gone
    store.update_run(run_id, RunStatus.FINISHED, T0 + 50)

    run = store.get_run(run_id)
    assert (run.info.status, run.info.end_time) == (RunStatus.FINISHED, T0 + 50)
    assert PRESUMED_KILLED_TAG not in run.data.tags
    assert [m.value for m in store.get_metric_history(run_id, "m")] == [1.0, 2.0]
    assert (run.data.params, run.data.tags["t"]) == ({"p": "1"}, "x")
    assert store.get_artifact_hashes(run_id) == {"f.txt": HASH_C, "model/model.pkl": HASH_A}
    assert store.get_model_files(run_id, "model") == {"model/model.pkl": HASH_A}
    stored = store.engine.run(run_id)
    assert stored is not None
    assert (stored.info.status, stored.info.end_time) == (RunStatus.FINISHED, T0 + 50)
    assert PRESUMED_KILLED_TAG not in stored.data.tags
    # and then it is final, as every ended run
    with pytest.raises(RunStateError, match="FINISHED"):
        store.log_batch(run_id, metrics=[Metric("m", 3.0, 2, T0)])
    with pytest.raises(RunStateError, match="FINISHED"):
        store.update_run(run_id, RunStatus.KILLED, T0 + 60)


def test_a_run_read_as_killed_is_renamed_and_tagged_and_still_reaped(
    store: MemoryStore, dead: str
) -> None:
    run_id = new_run(store, tags={context.TAG_RUNNER: dead, context.TAG_HEARTBEAT: str(T0)})
    assert store.get_run(run_id).info.status is RunStatus.KILLED  # stored RUNNING
    # a person names and tags what they see: stored as on any run, the run is still reaped
    store.rename_run(run_id, "crashed")
    store.log_batch(run_id, tags=[RunTag("cause", "oom")])
    store.delete_tag(run_id, context.TAG_HEARTBEAT)
    seen = store.get_run(run_id)
    assert (seen.info.run_name, seen.info.status) == ("crashed", RunStatus.KILLED)
    assert seen.data.tags["cause"] == "oom"
    assert PRESUMED_KILLED_TAG in seen.data.tags
    stored = store.engine.run(run_id)
    assert stored is not None
    assert stored.info.status is RunStatus.RUNNING  # nothing but the name and tags written
    assert PRESUMED_KILLED_TAG not in stored.data.tags
    # its owner, back, still writes and ends it
    store.log_batch(run_id, metrics=[Metric("m", 1.0, 0, T0)])
    store.update_run(run_id, RunStatus.FINISHED, T0 + 50)
    assert store.get_run(run_id).info.status is RunStatus.FINISHED


# --------------------------------------------------------------------------------------------
# write_run: a run's writes in one unit of work, all of them or none
# --------------------------------------------------------------------------------------------


def _everything(store: MemoryStore, run_id: str) -> tuple[object, ...]:
    """All the engine keeps of a run."""
    engine = store.engine
    return (
        engine.run(run_id),
        engine.metric_history(run_id, "loss"),
        engine.artifact_hashes(run_id, ""),
        engine.model_files(run_id, "model"),
        engine.model_files(run_id, "other"),
        engine.versions_of_run(run_id),
    )


def _short_run(run_id: str) -> RunWrites:
    """A whole short run's writes, as the writer finds them queued together."""
    return RunWrites(
        metrics=[Metric("loss", 0.5, 0, T0), Metric("loss", 0.25, 1, T0 + 1)],
        params=[Param("lr", "0.1"), Param("depth", "3")],
        tags=[RunTag("team", "x")],
        batch_id=f"batch-of-{run_id}",
        hashes={"data.csv": HASH_C},
        models={"other": {"other/model.pkl": HASH_A, "other/meta.json": HASH_B}},
        end=(RunStatus.FINISHED, T0 + 9),
    )


def test_write_run_stores_a_whole_short_run(store: MemoryStore) -> None:
    experiment_id = store.get_or_create_experiment("exp").experiment_id
    run_id = uuid.uuid4().hex
    creation = RunCreation(experiment_id, "short", T0, f"file:///a/{run_id}", None, {"t0": "1"})
    writes = _short_run(run_id)._replace(create=creation)

    store.write_run(run_id, writes)

    run = store.get_run(run_id)
    assert (run.info.run_name, run.info.start_time) == ("short", T0)
    assert (run.info.status, run.info.end_time) == (RunStatus.FINISHED, T0 + 9)
    assert run.data.params == {"lr": "0.1", "depth": "3"}
    assert run.data.tags == {"t0": "1", "team": "x"}
    assert run.data.metrics == {"loss": 0.25}
    assert [m.value for m in store.get_metric_history(run_id, "loss")] == [0.5, 0.25]
    model = {"other/model.pkl": HASH_A, "other/meta.json": HASH_B}
    assert store.get_model_files(run_id, "other") == model
    assert store.get_artifact_hashes(run_id) == {"data.csv": HASH_C, **model}
    kept = _everything(store, run_id)
    # sent again (its answer lost): its batch id was claimed with the rest, nothing changes
    store.write_run(run_id, writes._replace(create=None))
    assert _everything(store, run_id) == kept
    # and a second creation of the run is refused, with nothing of what it carries
    with pytest.raises(InvalidInputError, match="already exists"):
        store.write_run(run_id, writes._replace(batch_id="another"))
    assert _everything(store, run_id) == kept


def test_write_run_with_a_param_collision_writes_none_of_it(store: MemoryStore) -> None:
    run_id = new_run(store)
    store.log_batch(run_id, params=[Param("lr", "0.01")])
    before = _everything(store, run_id)
    writes = _short_run(run_id)

    with pytest.raises(ParamCollisionError, match="lr"):
        store.write_run(run_id, writes)

    assert _everything(store, run_id) == before
    # its batch id is free: without the collision, the same writes are stored, all of them
    store.write_run(run_id, writes._replace(params=[Param("depth", "3")]))
    run = store.get_run(run_id)
    assert (run.info.status, run.data.params) == (
        RunStatus.FINISHED,
        {"lr": "0.01", "depth": "3"},
    )
    assert len(store.get_metric_history(run_id, "loss")) == 2
    assert store.get_model_files(run_id, "other") is not None


def test_write_run_refused_halfway_keeps_nothing_written_before(store: MemoryStore) -> None:
    """The batch (and its id) is written, then hashes over a model's file are refused."""
    run_id = new_run(store)
    store.record_model(run_id, "model", {"model/model.pkl": HASH_A})
    before = _everything(store, run_id)
    writes = _short_run(run_id)._replace(hashes={"data.csv": HASH_C, "model/model.pkl": HASH_D})

    with pytest.raises(RunStateError, match="only log_model writes it"):
        store.write_run(run_id, writes)

    assert _everything(store, run_id) == before
    store.write_run(run_id, writes._replace(hashes={"data.csv": HASH_C}))
    assert store.get_run(run_id).info.status is RunStatus.FINISHED
    assert len(store.get_metric_history(run_id, "loss")) == 2


def test_write_run_refused_at_its_last_model_keeps_nothing_written_before(
    store: MemoryStore,
) -> None:
    """Batch, hashes and a first model are written, then a registered model is refused."""
    run_id = new_run(store)
    source = logged_model(store, run_id)
    store.create_model_version("clf", source, run_id)
    before = _everything(store, run_id)
    models = {"other": {"other/model.pkl": HASH_C}, "model": {"model/model.pkl": HASH_D}}
    writes = _short_run(run_id)._replace(models=models)

    with pytest.raises(RunStateError, match="registered"):
        store.write_run(run_id, writes)

    assert _everything(store, run_id) == before
    store.write_run(run_id, writes._replace(models={"other": models["other"]}))
    assert store.get_model_files(run_id, "other") == {"other/model.pkl": HASH_C}
    assert store.get_model_files(run_id, "model") == {
        "model/model.pkl": HASH_A,
        "model/meta.json": HASH_B,
    }


def test_write_run_to_an_ended_run_writes_none_of_it_and_claims_no_batch_id(
    store: MemoryStore,
) -> None:
    run_id = new_run(store)
    store.update_run(run_id, RunStatus.FINISHED, T0 + 9)
    before = _everything(store, run_id)
    writes = _short_run(run_id)  # ends FINISHED at T0 + 9 too: that part alone would pass

    for _ in range(2):  # refused again: a claimed batch id would have made it pass silently
        with pytest.raises(RunStateError, match="FINISHED"):
            store.write_run(run_id, writes)
        assert _everything(store, run_id) == before


# --------------------------------------------------------------------------------------------
# experiment tags, and the times only an import gives
# --------------------------------------------------------------------------------------------


def test_experiment_tags_follow_the_rules_of_run_tags(store: Store) -> None:
    from autolog.errors import InvalidKeyError, InvalidValueError
    from autolog.validation import MAX_VALUE_LENGTH

    experiment_id = store.get_or_create_experiment("exp").experiment_id
    for key in ("", "/abs", "a/../b", "bad\x00key", "k" * 251):
        with pytest.raises(InvalidKeyError):
            store.set_experiment_tag(experiment_id, key, "v")
    with pytest.raises(InvalidKeyError):
        store.delete_experiment_tag(experiment_id, "a//b")
    for value in ("nul\x00", "x" * (MAX_VALUE_LENGTH + 1), 3):
        with pytest.raises(InvalidValueError):
            store.set_experiment_tag(experiment_id, "k", value)  # type: ignore[arg-type]
    with pytest.raises(NotFoundError):
        store.set_experiment_tag("987654", "k", "v")
    with pytest.raises(NotFoundError):
        store.delete_experiment_tag("987654", "k")
    assert store.get_experiment(experiment_id).tags == {}


def test_a_deleted_experiment_takes_no_tags_and_keeps_its_own(store: Store) -> None:
    experiment_id = store.get_or_create_experiment("old").experiment_id
    store.set_experiment_tag(experiment_id, "k", "v")
    store.delete_experiment(experiment_id)
    with pytest.raises(InvalidInputError, match="is deleted"):
        store.set_experiment_tag(experiment_id, "k", "w")
    with pytest.raises(InvalidInputError, match="is deleted"):
        store.delete_experiment_tag(experiment_id, "k")
    store.restore_experiment(experiment_id)
    assert store.get_experiment(experiment_id).tags == {"k": "v"}


def test_only_an_import_chooses_an_experiment_s_times_and_only_once(store: Store) -> None:
    before = time.time_ns() // 1_000_000
    now = store.get_or_create_experiment("now")
    assert now.creation_time >= before  # no time given: now
    imported = store.get_or_create_experiment("imported", creation_time=T0)
    assert imported.creation_time == T0
    assert store.get_or_create_experiment("imported", creation_time=T0 + 5).creation_time == T0
    store.delete_experiment(imported.experiment_id, deleted_time=T0 + 1)
    store.delete_experiment(imported.experiment_id, deleted_time=T0 + 2)  # deleted already
    assert store.get_experiment(imported.experiment_id).deleted_time == T0 + 1
    for bad in (-1, 2**63, "12", True):
        with pytest.raises(InvalidInputError):
            store.get_or_create_experiment("bad", creation_time=bad)  # type: ignore[arg-type]
        with pytest.raises(InvalidInputError):
            store.delete_experiment(now.experiment_id, deleted_time=bad)  # type: ignore[arg-type]
    assert store.get_experiment_by_name("bad") is None
    assert store.get_experiment(now.experiment_id).deleted_time is None


# -------------------------------------------------------------------- a registry to tidy


def test_registry_tags_and_descriptions_follow_the_rules_of_run_tags(store: Store) -> None:
    """The service checks what a caller other than ``Client`` sends (a server's route): keys as
    run tag keys, values strings of a storable size, descriptions text."""
    register(store, "clf", logged_model(store))
    with pytest.raises(InvalidValueError, match="values are strings"):
        store.set_registered_model_tag("clf", "k", 7)  # type: ignore[arg-type]
    with pytest.raises(InvalidValueError):
        store.set_model_version_tag("clf", 1, "k", "x\x00y")
    with pytest.raises(InvalidKeyError):
        store.set_model_version_tag("clf", 1, "a//b", "v")
    with pytest.raises(InvalidInputError, match="a description is text"):
        store.update_registered_model("clf", 3)  # type: ignore[arg-type]
    with pytest.raises(InvalidInputError, match="lone surrogate"):
        store.update_model_version("clf", 1, "\ud800")
    assert store.get_registered_model("clf").tags == {}
    assert store.get_model_version("clf", 1).tags == {}


def test_a_version_number_is_never_given_again_while_its_model_exists(store: Store) -> None:
    source = logged_model(store)
    for _ in range(3):
        register(store, "clf", source)
    store.delete_model_version("clf", 3)
    store.delete_model_version("clf", 2)
    assert register(store, "clf", source).version == 4
    store.delete_registered_model("clf")
    assert register(store, "clf", source).version == 1  # a new model under a free name
