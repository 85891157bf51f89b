"""Experiment tags from the user's side: ``Client.set_experiment_tag`` /
``delete_experiment_tag``, ``autolog experiments tag`` and ``show``, and the scopes a tracking
server asks for them (the rules are test_tracking_rules.py's, storage test_engine_contract.py's).
"""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner, Result

import autolog
from autolog.cli._group import root
from autolog.entities import TokenScope
from autolog.errors import InvalidKeyError, InvalidValueError


def invoke(*args: str) -> Result:
    return CliRunner().invoke(root, list(args), catch_exceptions=False)


def test_the_client_sets_and_removes_tags_and_forgets_what_it_had_read() -> None:
    client = autolog.Client()
    experiment = client.get_or_create_experiment("mnist")
    client.set_experiment_tag(experiment.experiment_id, "team", "vision")
    client.set_experiment_tag(experiment.experiment_id, "epochs", 12)  # stored as text
    # read again, not the experiment this client remembered before its tags changed
    assert client.get_or_create_experiment("mnist").tags == {"team": "vision", "epochs": "12"}
    client.delete_experiment_tag(experiment.experiment_id, "team")
    assert client.get_or_create_experiment("mnist").tags == {"epochs": "12"}
    with pytest.raises(InvalidKeyError):
        client.set_experiment_tag(experiment.experiment_id, "../up", "x")
    with pytest.raises(InvalidValueError):
        client.set_experiment_tag(experiment.experiment_id, "k", "nul\x00")


def test_experiments_tag_and_show() -> None:
    client = autolog.Client()
    experiment_id = client.get_or_create_experiment("mnist").experiment_id
    done = invoke("experiments", "tag", "mnist", "team=vision", "note=a=b", "owner=ana")
    assert done.exit_code == 0, done.output
    assert invoke("experiments", "tag", experiment_id, "--delete", "owner").exit_code == 0

    shown = invoke("experiments", "show", "mnist", "--format", "json")
    record = json.loads(shown.stdout)
    assert record["experiment_id"] == experiment_id
    assert record["name"] == "mnist"
    assert record["tags"] == {"team": "vision", "note": "a=b"}
    lines = invoke("experiments", "show", "mnist").stdout.splitlines()  # tsv off a terminal
    assert "tags\tteam\tvision" in lines
    assert "tags\tnote\ta=b" in lines
    assert f"experiment\tid\t{experiment_id}" in lines

    usage = CliRunner().invoke(root, ["experiments", "tag", "mnist", "no-equals"])
    assert usage.exit_code == 2
    assert "tags are KEY=VALUE, not 'no-equals'" in usage.output
    assert CliRunner().invoke(root, ["experiments", "tag", "mnist"]).exit_code == 2
    missing = CliRunner().invoke(root, ["experiments", "show", "nope"])
    assert missing.exit_code == 1
    assert "not found" in missing.stderr


def test_a_server_asks_write_to_set_a_tag_and_admin_to_remove_one() -> None:
    pytest.importorskip("fastapi", reason="the tracking server needs the server extra")
    from autolog.server.security import API_PREFIX, needed_scope

    path = f"{API_PREFIX}/experiments/3/tags"
    assert needed_scope("PUT", path) is TokenScope.WRITE
    assert needed_scope("DELETE", path) is TokenScope.ADMIN
