"""A registry you can tidy: delete versions, models and aliases, rename models, describe and tag
models and versions, search models, on every store (memory, files, SQLite, PostgreSQL, a
tracking server), through the ``Client``, the REST routes, and ``autolog gc`` after."""

from __future__ import annotations

from contextlib import closing
from pathlib import Path
from typing import Any

import httpx
import pytest
from engines import (
    DURABLE_ENGINES,
    EVERY_ENGINE,
    logged_model,
    new_run,
    register,
    run_in_threads,
)

import autolog
from autolog.entities import RegisteredModel
from autolog.errors import (
    InvalidFilterError,
    InvalidInputError,
    InvalidKeyError,
    NotFoundError,
    RunStateError,
)
from autolog.purge import purge
from autolog.stores import Store, open_store


def two_versions(store: Store, name: str = "clf") -> tuple[str, str]:
    """``name`` with versions 1 and 2 (from two runs), aliased prod -> 1, canary -> 2."""
    first, second = logged_model(store), logged_model(store)
    register(store, name, first)
    register(store, name, second)
    store.set_model_alias(name, "prod", 1)
    store.set_model_alias(name, "canary", 2)
    return first, second


def numbers(store: Store, name: str) -> list[int]:
    return [v.version for v in store.list_model_versions(name)]


# ------------------------------------------------------------------------------ versions


def test_a_deleted_version_goes_with_its_aliases_and_its_number_is_not_given_again(
    store: Store,
) -> None:
    first, second = two_versions(store)
    store.set_model_version_tag("clf", 2, "k", "v")
    store.delete_model_version("clf", 2)
    assert numbers(store, "clf") == [1]
    with pytest.raises(NotFoundError, match="clf/2"):
        store.get_model_version("clf", 2)
    with pytest.raises(NotFoundError, match="clf@canary"):
        store.get_model_version_by_alias("clf", "canary")
    assert store.get_model_version_by_alias("clf", "prod").version == 1
    model = store.get_registered_model("clf")
    assert (model.aliases, model.latest_version) == ({"prod": 1}, 1)
    assert register(store, "clf", second).version == 3
    assert store.get_model_version("clf", 3).tags == {}
    store.delete_model_version("clf", 3)
    assert register(store, "clf", first).version == 4  # not 3, though 3 was the latest


def test_deleting_an_unknown_version_names_it(store: Store) -> None:
    two_versions(store)
    store.delete_model_version("clf", 1)
    for name, version in [("clf", 1), ("clf", 9), ("nope", 1), ("clf", 0)]:
        with pytest.raises(NotFoundError, match=f"{name}/{version}"):
            store.delete_model_version(name, version)
    assert numbers(store, "clf") == [2]


def test_a_model_whose_versions_are_all_deleted_stays_until_deleted(store: Store) -> None:
    two_versions(store)
    store.delete_model_version("clf", 1)
    store.delete_model_version("clf", 2)
    model = store.get_registered_model("clf")
    assert (model.name, model.latest_version, dict(model.aliases)) == ("clf", None, {})
    assert [m.name for m in store.search_registered_models()] == ["clf"]


def test_a_model_of_a_run_is_replaceable_again_once_its_versions_are_deleted(
    store: Store,
) -> None:
    source = logged_model(store)
    run_id, path = source.split("/")[1], "model"
    register(store, "clf", source)
    with pytest.raises(RunStateError, match="registered as clf/1"):
        store.record_model(run_id, path, {"model/model.pkl": "e" * 64})
    store.delete_model_version("clf", 1)
    store.record_model(run_id, path, {"model/model.pkl": "e" * 64})
    assert store.get_model_files(run_id, path) == {"model/model.pkl": "e" * 64}


# -------------------------------------------------------------------------------- models


def test_a_deleted_model_takes_its_versions_aliases_and_tags_and_frees_its_name(
    store: Store,
) -> None:
    first, _ = two_versions(store)
    two_versions(store, "other")
    store.set_registered_model_tag("clf", "team", "ml")
    store.update_registered_model("clf", "gone soon")
    store.delete_registered_model("clf")
    with pytest.raises(NotFoundError, match="clf"):
        store.get_registered_model("clf")
    assert store.list_model_versions("clf") == []
    with pytest.raises(NotFoundError):
        store.get_model_version_by_alias("clf", "prod")
    assert [v.version for v in store.list_model_versions()] == [1, 2]  # other's
    again = register(store, "clf", first)
    assert again.version == 1
    model = store.get_registered_model("clf")
    assert (model.description, dict(model.tags), dict(model.aliases)) == (None, {}, {})
    with pytest.raises(NotFoundError, match="'nope'"):
        store.delete_registered_model("nope")


def test_a_renamed_model_takes_its_versions_aliases_tags_and_description(
    store: Store,
) -> None:
    first, _ = two_versions(store)
    store.set_registered_model_tag("clf", "team", "ml")
    store.set_model_version_tag("clf", 2, "stage", "canary")
    store.update_registered_model("clf", "churn")
    store.update_model_version("clf", 1, "the first")
    store.delete_model_version("clf", 1)
    store.rename_registered_model("clf", "churn-clf")
    with pytest.raises(NotFoundError, match="'clf'"):
        store.get_registered_model("clf")
    assert store.list_model_versions("clf") == []
    model = store.get_registered_model("churn-clf")
    assert (model.description, dict(model.tags), dict(model.aliases)) == (
        "churn",
        {"team": "ml"},
        {"canary": 2},
    )
    (version,) = store.list_model_versions("churn-clf")
    assert (version.name, version.version, version.aliases) == ("churn-clf", 2, ("canary",))
    assert version.tags == {"stage": "canary"}
    assert store.get_model_version_by_alias("churn-clf", "canary").version == 2
    assert register(store, "churn-clf", first).version == 3  # numbering goes on
    assert register(store, "clf", first).version == 1  # the old name is free


def test_a_rename_onto_a_taken_name_or_of_an_unknown_model_is_refused(store: Store) -> None:
    two_versions(store)
    two_versions(store, "other")
    with pytest.raises(InvalidInputError, match="'other' is taken"):
        store.rename_registered_model("clf", "other")
    with pytest.raises(NotFoundError, match="'nope'"):
        store.rename_registered_model("nope", "fresh")
    for bad in ("a/b", "a@b", "", "  "):
        with pytest.raises(InvalidInputError):
            store.rename_registered_model("clf", bad)
    store.rename_registered_model("clf", "clf")  # its own name: no change
    assert numbers(store, "clf") == [1, 2]
    assert numbers(store, "other") == [1, 2]


def test_aliases_are_deleted_one_by_one(store: Store) -> None:
    two_versions(store)
    store.delete_model_alias("clf", "prod")
    with pytest.raises(NotFoundError, match="clf@prod"):
        store.get_model_version_by_alias("clf", "prod")
    assert store.get_model_version("clf", 1).aliases == ()
    assert store.get_model_version("clf", 2).aliases == ("canary",)
    for name, alias in [("clf", "prod"), ("clf", "nope"), ("nope", "canary")]:
        with pytest.raises(NotFoundError, match=f"{name}@{alias}"):
            store.delete_model_alias(name, alias)


# ------------------------------------------------------------------ descriptions and tags


def test_descriptions_of_models_and_versions_are_set_and_cleared(store: Store) -> None:
    two_versions(store)
    before = store.get_registered_model("clf").last_updated_time
    store.update_registered_model("clf", "Churn, weekly: ünïcode ✓")
    store.update_model_version("clf", 2, "passed the holdout check")
    model = store.get_registered_model("clf")
    assert model.description == "Churn, weekly: ünïcode ✓"
    assert model.last_updated_time >= before
    assert store.get_model_version("clf", 2).description == "passed the holdout check"
    assert store.get_model_version("clf", 1).description is None
    store.update_registered_model("clf", "")
    store.update_model_version("clf", 2, None)
    assert store.get_registered_model("clf").description is None
    assert store.get_model_version("clf", 2).description is None
    with pytest.raises(NotFoundError, match="clf/7"):
        store.update_model_version("clf", 7, "x")
    with pytest.raises(NotFoundError, match="'nope'"):
        store.update_registered_model("nope", "x")
    with pytest.raises(InvalidInputError, match="NUL"):
        store.update_registered_model("clf", "a\x00b")


def test_tags_of_models_and_versions_are_set_replaced_and_deleted(store: Store) -> None:
    two_versions(store)
    store.set_registered_model_tag("clf", "team", "ml")
    store.set_registered_model_tag("clf", "team", "data")
    store.set_registered_model_tag("clf", "owner/name", "ana")
    store.set_model_version_tag("clf", 1, "validated", "yes")
    assert store.get_registered_model("clf").tags == {"team": "data", "owner/name": "ana"}
    assert store.get_model_version("clf", 1).tags == {"validated": "yes"}
    assert store.get_model_version("clf", 2).tags == {}
    store.delete_registered_model_tag("clf", "team")
    store.delete_model_version_tag("clf", 1, "validated")
    assert store.get_registered_model("clf").tags == {"owner/name": "ana"}
    assert store.get_model_version("clf", 1).tags == {}
    with pytest.raises(NotFoundError, match="team"):
        store.delete_registered_model_tag("clf", "team")
    with pytest.raises(NotFoundError, match="validated"):
        store.delete_model_version_tag("clf", 1, "validated")
    with pytest.raises(NotFoundError, match="clf/5"):
        store.set_model_version_tag("clf", 5, "k", "v")
    with pytest.raises(NotFoundError, match="'nope'"):
        store.set_registered_model_tag("nope", "k", "v")
    for bad in ("", "/abs", "a/../b"):
        with pytest.raises(InvalidKeyError):
            store.set_registered_model_tag("clf", bad, "v")


# -------------------------------------------------------------------------------- search


@pytest.mark.parametrize(
    ("filter_string", "expected"),
    [
        ("", ["churn-a", "churn-b", "fraud", "x'y"]),
        ("name = 'fraud'", ["fraud"]),
        ("name != 'fraud'", ["churn-a", "churn-b", "x'y"]),
        ("name LIKE 'churn-%'", ["churn-a", "churn-b"]),
        ("name LIKE 'CHURN%'", []),
        ("name ILIKE 'CHURN%'", ["churn-a", "churn-b"]),
        ("name NOT LIKE 'churn%'", ["fraud", "x'y"]),
        ("name = 'x''y'", ["x'y"]),
        ("tags.team = 'ml'", ["churn-a", "fraud"]),
        ("tags.team != 'ml'", ["churn-b"]),  # a missing tag never matches
        ("tags.team = 'ml' and name LIKE 'churn%'", ["churn-a"]),
        ("tags.`odd key` = 'v'", ["fraud"]),
    ],
)
def test_search_registered_models_filters_on_name_and_tags(
    store: Store, filter_string: str, expected: list[str]
) -> None:
    source = logged_model(store)
    for name, tags in [
        ("fraud", {"team": "ml", "odd key": "v"}),
        ("churn-b", {"team": "bi"}),
        ("churn-a", {"team": "ml"}),
        ("x'y", {}),
    ]:
        register(store, name, source)
        for key, value in tags.items():
            store.set_registered_model_tag(name, key, value)
    found = store.search_registered_models(filter_string)
    assert [m.name for m in found] == expected
    assert all(isinstance(m, RegisteredModel) for m in found)


def test_search_registered_models_limits_and_refuses_bad_filters(store: Store) -> None:
    source = logged_model(store)
    for name in ("c", "a", "b"):
        register(store, name, source)
    assert [m.name for m in store.search_registered_models(max_results=2)] == ["a", "b"]
    for bad in ("version = 1", "name = 'a' or name = 'b'", "name = ", "name = 'a' and"):
        with pytest.raises(InvalidFilterError):
            store.search_registered_models(bad)
    with pytest.raises(InvalidInputError, match="max_results"):
        store.search_registered_models("", 0)


# ------------------------------------------------------------------- what lasts, and races


@DURABLE_ENGINES
def test_a_tidied_registry_reads_the_same_once_reopened(store: Store, store_uri: str) -> None:
    first, _ = two_versions(store)
    store.set_registered_model_tag("clf", "team", "ml")
    store.set_model_version_tag("clf", 2, "k", "v")
    store.update_model_version("clf", 2, "second")
    store.delete_model_version("clf", 1)
    store.rename_registered_model("clf", "churn")
    before = (store.search_registered_models(), store.list_model_versions())
    with closing(open_store(store_uri)) as reopened:
        assert (reopened.search_registered_models(), reopened.list_model_versions()) == before
        assert register(reopened, "churn", first).version == 3


@EVERY_ENGINE
def test_registrations_racing_a_deletion_get_distinct_numbers(store: Store) -> None:
    source = logged_model(store)
    for _ in range(3):
        register(store, "clf", source)

    def work(i: int) -> int:
        if i == 0:
            store.delete_model_version("clf", 3)
            return 0
        return register(store, "clf", source).version

    given = [n for n in run_in_threads(6, work) if n]
    assert sorted(given) == [4, 5, 6, 7, 8]
    assert numbers(store, "clf") == [1, 2, 4, 5, 6, 7, 8]


def test_a_file_store_model_registered_before_model_records_is_read(tmp_path: Path) -> None:
    """Folders written by earlier versions have versions and no model.json."""
    uri = (tmp_path / "files").as_uri()
    with closing(open_store(uri)) as store:
        source = logged_model(store)
        register(store, "clf", source)
        created = store.get_model_version("clf", 1).creation_time
    (record,) = (tmp_path / "files" / ".registry").glob("*/model.json")
    record.unlink()
    with closing(open_store(uri)) as store:
        model = store.get_registered_model("clf")
        assert (model.name, model.creation_time, model.latest_version) == ("clf", created, 1)
        store.set_registered_model_tag("clf", "k", "v")  # writes its record now
        assert store.get_registered_model("clf").creation_time == created
        assert [m.name for m in store.search_registered_models("tags.k = 'v'")] == ["clf"]


# ----------------------------------------------------------------------------------- gc


def test_a_run_whose_versions_are_all_deleted_is_purged_again(store: Store) -> None:
    source = logged_model(store)
    run_id = source.split("/")[1]
    register(store, "clf", source)
    register(store, "other", source)
    store.delete_run(run_id)
    with pytest.raises(InvalidInputError, match="clf/1, other/1"):
        store.purge_run(run_id)
    store.delete_model_version("clf", 1)
    dry = purge(store, 2**62, dry_run=True)
    assert dry.runs == ()
    assert "other/1" in dry.kept[0]
    store.delete_registered_model("other")
    assert purge(store, 2**62, dry_run=True).runs == (run_id,)
    assert purge(store, 2**62).runs == (run_id,)
    with pytest.raises(NotFoundError):
        store.get_run(run_id)


# ------------------------------------------------------------------- Client and models:/


def test_the_client_tidies_the_registry_and_a_renamed_model_loads(tmp_path: Any) -> None:
    client = autolog.Client()
    run = client.create_run(run_name="trained")
    client.log_model(run.info.run_id, {"weights": [1]})
    client.set_terminated(run.info.run_id)
    client.flush()
    client.register_model(f"runs:/{run.info.run_id}/model", "clf")
    client.set_model_alias("clf", "prod", 1)
    client.set_registered_model_tag("clf", "team", 7)  # rendered as text, as run tags are
    client.update_model_version("clf", 1, "first")
    client.rename_registered_model("clf", "churn")
    assert client.load_model("models:/churn/1") == {"weights": [1]}
    assert client.load_model("models:/churn@prod") == {"weights": [1]}
    with pytest.raises(NotFoundError):
        client.load_model("models:/clf/1")
    model = client.get_registered_model("churn")
    assert (dict(model.tags), model.latest_version) == ({"team": "7"}, 1)
    assert [m.name for m in client.search_registered_models("tags.team = '7'")] == ["churn"]
    assert client.list_model_versions("churn")[0].description == "first"
    client.delete_model_alias("churn", "prod")
    client.delete_model_version("churn", 1)
    client.delete_registered_model("churn")
    assert client.search_registered_models() == []
    with pytest.raises(InvalidInputError, match="aliases must be identifiers"):
        client.delete_model_alias("churn", "not an alias")
    with pytest.raises(InvalidInputError, match="'/' or '@'"):
        client.rename_registered_model("churn", "a/b")
    with pytest.raises(InvalidInputError, match="positive integers"):
        client.delete_model_version("churn", "x")  # type: ignore[arg-type]


def test_the_rest_routes_answer_as_documented(rest_uri: str) -> None:
    store = autolog.Client(rest_uri).store
    two_versions(store)
    api = f"{rest_uri}/api/v1"

    def call(method: str, path: str, **kwargs: Any) -> httpx.Response:
        return httpx.request(method, f"{api}{path}", timeout=30, **kwargs)

    assert call("PATCH", "/registered-models", json={"name": "clf", "description": "d"}).is_success
    body = {"name": "clf", "version": 1, "key": "k", "value": "v"}
    assert call("PUT", "/model-version-tags", json=body).is_success
    assert call("PUT", "/registered-model-tags", json={"name": "clf", "key": "t", "value": "1"})
    found = call("POST", "/registered-models/search", json={"filter": "tags.t = '1'"}).json()
    (model,) = found["registered_models"]
    assert model == {
        "name": "clf",
        "creation_time": model["creation_time"],
        "last_updated_time": model["last_updated_time"],
        "description": "d",
        "tags": {"t": "1"},
        "aliases": {"canary": 2, "prod": 1},
        "latest_version": 2,
    }
    listed = call("GET", "/registered-models").json()["models"]
    assert (listed[0]["description"], listed[0]["tags"]) == ("d", {"t": "1"})
    versions = call("GET", "/registered-models/versions", params={"name": "clf"}).json()
    assert versions["versions"][0]["tags"] == {"k": "v"}
    renamed = call("PATCH", "/registered-models", json={"name": "clf", "new_name": "churn"})
    assert renamed.is_success
    params = {"name": "churn", "version": 1, "key": "k"}
    assert call("DELETE", "/model-version-tags", params=params).is_success
    assert call("DELETE", "/model-aliases", params={"name": "churn", "alias": "prod"}).is_success
    assert call("DELETE", "/model-versions", params={"name": "churn", "version": 1}).is_success
    missing = call("DELETE", "/model-versions", params={"name": "churn", "version": 1})
    assert missing.status_code == 404
    assert missing.json()["error"]["code"] == "not_found"
    taken = call("PATCH", "/model-versions", json={"name": "churn", "version": 2})
    assert taken.status_code == 422  # description is required
    assert call("DELETE", "/registered-models", params={"name": "churn"}).is_success
    assert call("POST", "/registered-models/search", json={}).json() == {"registered_models": []}
    bad = call("POST", "/registered-models/search", json={"filter": "version = 1"})
    assert bad.status_code == 400


def test_new_runs_need_a_run_to_register(store: Store) -> None:
    """A version's run must exist: guards the helpers above against a silent no-op."""
    run_id = new_run(store)
    with pytest.raises(NotFoundError):
        store.create_model_version("clf", f"runs:/{run_id}/model", run_id)


def test_the_store_itself_refuses_model_names_and_aliases_no_uri_can_hold(store: Store) -> None:
    """The name and alias rules are the store's (``Tracking``'s), so a server's API and an
    import keep them as the ``Client`` does: a model named "a/b" or "x@y", or an alias that is
    not an identifier, could never be addressed by a ``models:/`` URI."""
    source = logged_model(store)
    run_id = source.split("/")[1]
    for name in ("a/b", "x@y"):
        with pytest.raises(InvalidInputError, match=repr(name)):
            store.create_model_version(name, source, run_id)
    register(store, "clf", source)
    for alias in ("a-test", "not an alias", "1st"):
        with pytest.raises(InvalidInputError, match=f"identifiers, not {alias!r}"):
            store.set_model_alias("clf", alias, 1)
    with pytest.raises(InvalidInputError, match="'a/b'"):
        store.set_model_alias("a/b", "prod", 1)
    with pytest.raises(InvalidInputError, match="'x@y'"):
        store.rename_registered_model("clf", "x@y")
    model = store.get_registered_model("clf")
    assert (model.aliases, model.latest_version) == ({}, 1)
    assert [m.name for m in store.search_registered_models()] == ["clf"]
