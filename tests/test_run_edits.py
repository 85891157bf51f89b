"""Renaming a run, and its tags after its end, through the public API and the REST API.

The rules are the tracking service's (test_tracking_rules.py) and every engine keeps what they
allow (test_engine_contract.py); here are the callers: ``Client.rename_run`` / ``update_run`` /
``delete_tag`` / ``set_tags`` on an ended run, ``autolog.delete_tag``, and the server's
``PATCH /runs/{id}`` and ``DELETE /runs/{id}/tags`` with their token scopes.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

import autolog
from autolog import context
from autolog.entities import RunStatus

T0 = 1_700_000_000_000


@pytest.fixture(params=["sqlite", pytest.param("rest", marks=pytest.mark.server)])
def client(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[autolog.Client]:
    """A client of a local SQLite store, and one of a tracking server."""
    if request.param == "rest":
        uri = request.getfixturevalue("rest_uri")
    else:
        uri = f"sqlite:///{tmp_path}/runs.db"
    with autolog.Client(uri) as opened:
        yield opened


def _ended_run(client: autolog.Client, **tags: str) -> str:
    run_id = client.create_run("edits", run_name="first", tags=tags).info.run_id
    client.log_metric(run_id, "m", 1.0)
    client.set_terminated(run_id)
    client.flush()
    return run_id


# --------------------------------------------------------------------------------- the client


def test_an_ended_run_is_renamed_tagged_and_untagged(client: autolog.Client) -> None:
    run_id = _ended_run(client, team="a", stale="x")
    before = client.get_run(run_id)

    client.rename_run(run_id, "second")
    client.set_tag(run_id, "team", "b")  # written at once: the run has ended
    client.set_tags(run_id, {"mlflow.note.content": "**why**", "n": 3})
    client.delete_tag(run_id, "stale")
    client.delete_tag(run_id, "stale")  # again: no change

    run = client.get_run(run_id)
    assert run.info == before.info._replace(run_name="second")
    tags = {k: v for k, v in run.data.tags.items() if not k.startswith("autolog.")}
    assert tags == {"team": "b", "mlflow.note.content": "**why**", "n": "3"}
    assert run.data.metrics == {"m": 1.0}
    with pytest.raises(autolog.InvalidInputError, match="FINISHED"):
        client.log_metric(run_id, "m", 2.0)  # values stay refused, at the call


def test_update_run_renames_ends_or_both(client: autolog.Client) -> None:
    run_id = client.create_run("edits", run_name="first").info.run_id
    client.update_run(run_id, name="second")
    assert client.get_run(run_id).info.status is RunStatus.RUNNING
    client.update_run(run_id, status="failed", name="third")
    run = client.get_run(run_id)
    assert (run.info.run_name, run.info.status) == ("third", RunStatus.FAILED)
    with pytest.raises(autolog.InvalidInputError, match="status, its name or both"):
        client.update_run(run_id)
    with pytest.raises(autolog.InvalidInputError, match="FINISHED, FAILED or KILLED"):
        client.update_run(run_id, status="RUNNING", name="fourth")
    with pytest.raises(autolog.InvalidInputError, match="run name"):
        client.update_run(run_id, name="  ")
    assert client.get_run(run_id).info.run_name == "third"  # nothing of a refused update


def test_a_deleted_run_is_not_renamed_nor_its_tags_changed_once_ended(
    client: autolog.Client,
) -> None:
    run_id = _ended_run(client, team="a")
    client.delete_run(run_id)
    for change in (
        lambda: client.rename_run(run_id, "second"),
        lambda: client.set_tag(run_id, "team", "b"),
        lambda: client.delete_tag(run_id, "team"),
    ):
        with pytest.raises(autolog.RunStateError, match="deleted"):
            change()
    client.restore_run(run_id)
    client.rename_run(run_id, "second")
    assert client.get_run(run_id).info.run_name == "second"
    with pytest.raises(autolog.NotFoundError):
        client.rename_run(uuid.uuid4().hex, "x")


def test_autolog_s_own_tags_stay_its_own(client: autolog.Client) -> None:
    run_id = _ended_run(client)
    with pytest.raises(autolog.InvalidInputError, match="set by autolog only"):
        client.delete_tag(run_id, context.TAG_PRESUMED_KILLED)
    with pytest.raises(autolog.RunStateError, match="takes no such tag"):
        client.set_tag(run_id, context.TAG_HEARTBEAT, "1")
    with pytest.raises(autolog.RunStateError, match="takes no such tag"):
        client.delete_tag(run_id, context.TAG_RUNNER)
    assert context.TAG_RUNNER in client.get_run(run_id).data.tags


def test_a_live_runs_tags_are_deleted_after_what_was_queued() -> None:
    with autolog.start_run() as run:
        autolog.set_tag("stage", "draft")
        autolog.delete_tag("stage")  # after the set, though the set was only queued
        autolog.delete_tag("never-set")
        autolog.set_tag("kept", "1")
    tags = autolog.get_run(run.info.run_id).data.tags
    assert "stage" not in tags
    assert tags["kept"] == "1"
    with pytest.raises(autolog.RunStateError, match="no active run"):
        autolog.delete_tag("kept")
    assert len(autolog.search_runs()) == 1  # none started for it


# -------------------------------------------------------------------------- the REST routes


@pytest.fixture
def api(rest_uri: str) -> Iterator[tuple[httpx.Client, autolog.Client]]:
    with (
        httpx.Client(base_url=f"{rest_uri}/api/v1", timeout=30) as http,
        autolog.Client(rest_uri) as client,
    ):
        yield http, client


def _error(response: httpx.Response, status: int, code: str) -> str:
    assert response.status_code == status, response.text
    error: dict[str, Any] = response.json()["error"]
    assert error["code"] == code, error
    message: str = error["message"]
    return message


@pytest.mark.server
def test_patch_renames_ends_or_both_and_refuses_an_empty_update(api: Any) -> None:
    http, client = api
    run_id = client.create_run("routes", run_name="first").info.run_id
    client.flush()

    assert http.patch(f"/runs/{run_id}", json={"run_name": "second"}).status_code == 200
    assert client.get_run(run_id).info.status is RunStatus.RUNNING
    both = {"run_name": "third", "status": "KILLED", "end_time": T0}
    assert http.patch(f"/runs/{run_id}", json=both).status_code == 200
    run = client.get_run(run_id)
    assert (run.info.run_name, run.info.status, run.info.end_time) == ("third", "KILLED", T0)
    assert http.patch(f"/runs/{run_id}", json={"run_name": "fourth"}).status_code == 200

    for body in ({}, {"end_time": T0}, {"run_name": "x", "end_time": T0}):
        message = _error(http.patch(f"/runs/{run_id}", json=body), 400, "invalid_input")
        assert "run_name, a status" in message
    _error(http.patch(f"/runs/{run_id}", json={"run_name": ""}), 422, "invalid_request")
    _error(http.patch(f"/runs/{run_id}", json={"run_name": " "}), 400, "invalid_input")
    _error(http.patch(f"/runs/{run_id}", json={"name": "x"}), 422, "invalid_request")
    _error(http.patch(f"/runs/{uuid.uuid4().hex}", json={"run_name": "x"}), 404, "not_found")
    client.delete_run(run_id)
    message = _error(http.patch(f"/runs/{run_id}", json={"run_name": "x"}), 409, "run_state")
    assert "deleted" in message
    assert client.get_run(run_id).info.run_name == "fourth"


@pytest.mark.server
def test_delete_tag_route_removes_a_tag_of_an_ended_run(api: Any) -> None:
    http, client = api
    run_id = _ended_run(client, team="a", keep="1")
    assert http.delete(f"/runs/{run_id}/tags", params={"key": "team"}).status_code == 200
    assert http.delete(f"/runs/{run_id}/tags", params={"key": "team"}).status_code == 200
    _error(http.delete(f"/runs/{run_id}/tags", params={"key": "../x"}), 400, "invalid_key")
    _error(http.delete(f"/runs/{run_id}/tags"), 422, "invalid_request")
    tags = client.get_run(run_id).data.tags
    assert "team" not in tags
    assert tags["keep"] == "1"


@pytest.fixture
def secured(tmp_path: Path) -> Iterator[tuple[str, dict[str, str]]]:
    """A server that needs tokens: its URL and a token of each scope."""
    from servers import ServerProcess

    from autolog.server.tokens import create_token
    from autolog.stores import open_store

    uri = f"sqlite:///{tmp_path}/secured.db"
    store = open_store(uri)
    try:
        secrets = {s: create_token(store, s, s)[0] for s in ("read", "write", "admin")}
    finally:
        store.close()
    server = ServerProcess(["--backend-store-uri", uri, "--port", "0", "--require-token"], tmp_path)
    try:
        yield server.url, secrets
    finally:
        server.stop()


@pytest.mark.server
def test_renaming_needs_write_and_deleting_a_tag_needs_admin(secured: Any) -> None:
    url, secrets = secured

    def as_(scope: str) -> httpx.Client:
        headers = {"Authorization": f"Bearer {secrets[scope]}"}
        return httpx.Client(base_url=f"{url}/api/v1", headers=headers, timeout=30)

    with as_("admin") as admin, as_("write") as write, as_("read") as read:
        experiment = admin.post("/experiments", json={"name": "guarded"}).json()
        run_id = uuid.uuid4().hex
        created = {
            "run_id": run_id,
            "experiment_id": experiment["experiment_id"],
            "run_name": "first",
            "start_time": T0,
            "artifact_uri": "",
            "tags": {"team": "a"},
        }
        assert admin.post("/runs", json=created).status_code == 200
        _error(read.patch(f"/runs/{run_id}", json={"run_name": "x"}), 403, "forbidden")
        assert write.patch(f"/runs/{run_id}", json={"run_name": "second"}).status_code == 200
        refused = write.delete(f"/runs/{run_id}/tags", params={"key": "team"})
        assert "needs admin" in _error(refused, 403, "forbidden")
        assert admin.delete(f"/runs/{run_id}/tags", params={"key": "team"}).status_code == 200
        run = admin.get(f"/runs/{run_id}").json()
        assert (run["info"]["run_name"], run["data"]["tags"]) == ("second", {})
