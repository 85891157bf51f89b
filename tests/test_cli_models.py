"""``autolog models``: register, alias, list and show registered models."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner, Result

import autolog
from autolog.cli._group import root


def invoke(*args: str) -> Result:
    return CliRunner().invoke(root, list(args), catch_exceptions=False)


@pytest.fixture
def model_runs() -> list[str]:
    ids = []
    for weights in ([1], [2]):
        with autolog.start_run(run_name=f"w{weights[0]}") as run:
            autolog.log_model({"weights": weights})
        ids.append(run.info.run_id)
    return ids


def test_register_alias_show_and_ls(model_runs: list[str]) -> None:
    first, second = model_runs
    done = invoke("models", "register", f"runs:/{first}/model", "clf")
    assert done.exit_code == 0, done.output
    assert done.stdout.strip() == "1"
    assert invoke("models", "register", f"runs:/{second[:6]}/model", "clf").stdout.strip() == "2"
    assert invoke("models", "register", "runs:/w1/model", "other").stdout.strip() == "1"
    aliased = invoke("models", "alias", "clf", "champion", "1")
    assert "models:/clf@champion is version 1" in aliased.stderr
    assert autolog.load_model("models:/clf@champion") == {"weights": [1]}

    shown = invoke("models", "show", "clf").stdout.splitlines()
    assert shown[0].split("\t") == ["version", "aliases", "run id", "source", "registered"]
    assert shown[1].split("\t")[:4] == ["1", "champion", first, f"runs:/{first}/model"]
    assert shown[2].split("\t")[:3] == ["2", "", second]
    records = json.loads(invoke("models", "show", "clf", "--format", "json").stdout)
    assert [r["version"] for r in records] == [1, 2]
    assert records[0]["aliases"] == ["champion"]

    listed = [line.split("\t") for line in invoke("models", "ls").stdout.splitlines()]
    assert listed[0] == ["name", "versions", "latest", "aliases", "updated"]
    assert [row[:4] for row in listed[1:]] == [
        ["clf", "2", "2", "champion=1"],
        ["other", "1", "1", ""],
    ]
    as_json = json.loads(invoke("models", "ls", "--format", "json").stdout)
    assert [m["name"] for m in as_json] == ["clf", "other"]


def test_model_errors_are_one_line(model_runs: list[str]) -> None:
    for args, message in [
        (["models", "show", "nope"], "registered model 'nope' not found"),
        (["models", "register", f"runs:/{model_runs[0]}/nothing", "clf"], "not found"),
        (["models", "register", "models:/x/1", "clf"], "register a logged model"),
        (["models", "alias", "nope", "champion", "1"], "not found"),
        (["models", "alias", "clf", "bad alias", "1"], "aliases must be identifiers"),
    ]:
        done = CliRunner().invoke(root, args)
        assert done.exit_code == 1, (args, done.output)
        assert message in done.stderr, (args, done.stderr)
        assert "Traceback" not in done.output
    assert CliRunner().invoke(root, ["models", "alias", "clf", "a", "0"]).exit_code == 2


def test_models_through_a_tracking_server(rest_uri: str) -> None:
    client = autolog.Client(rest_uri)
    run = client.create_run(run_name="served")
    client.log_model(run.info.run_id, {"weights": [3]})
    client.set_terminated(run.info.run_id)
    client.flush()
    uri = ("--tracking-uri", rest_uri)
    assert (
        invoke("models", "register", f"runs:/{run.info.run_id}/model", "srv", *uri).stdout == "1\n"
    )
    assert invoke("models", "alias", "srv", "prod", "1", *uri).exit_code == 0
    rows = [line.split("\t") for line in invoke("models", "ls", *uri).stdout.splitlines()]
    assert rows[1][:4] == ["srv", "1", "1", "prod=1"]
    assert client.load_model("models:/srv@prod") == {"weights": [3]}
