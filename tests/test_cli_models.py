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
    assert done.stdout == "models:/clf/1\n"  # the URI load_model takes
    second_uri = invoke("models", "register", f"runs:/{second[:6]}/model", "clf").stdout
    assert second_uri.strip() == "models:/clf/2"
    assert (
        invoke("models", "register", "runs:/w1/model", "other").stdout.strip() == "models:/other/1"
    )
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
        invoke("models", "register", f"runs:/{run.info.run_id}/model", "srv", *uri).stdout
        == "models:/srv/1\n"
    )
    assert invoke("models", "alias", "srv", "prod", "1", *uri).exit_code == 0
    rows = [line.split("\t") for line in invoke("models", "ls", *uri).stdout.splitlines()]
    assert rows[1][:4] == ["srv", "1", "1", "prod=1"]
    assert client.load_model("models:/srv@prod") == {"weights": [3]}
    tidy(uri)
    assert client.search_registered_models() == []


def tidy(uri: tuple[str, ...] = ()) -> None:
    """Tag, describe, rename, filter and delete ``srv`` (version 1 aliased prod) by the CLI."""
    for args in [
        ("tag", "srv", "team=ml", "owner=a=b"),
        ("tag", "srv/1", "validated=yes"),
        ("describe", "srv", "churn, weekly"),
        ("describe", "srv/1", "first"),
        ("rename", "srv", "churn"),
    ]:
        done = invoke("models", *args, *uri)
        assert done.exit_code == 0, (args, done.output)
    client = autolog.Client(uri[1] if uri else None)
    model = client.get_registered_model("churn")
    assert (dict(model.tags), model.description) == (
        {"team": "ml", "owner": "a=b"},
        "churn, weekly",
    )
    version = client.get_model_version("churn", 1)
    assert (version.tags, version.description) == ({"validated": "yes"}, "first")
    (shown,) = json.loads(invoke("models", "show", "churn", "--format", "json", *uri).stdout)
    assert (shown["description"], shown["tags"]) == ("first", {"validated": "yes"})
    listed = invoke("models", "ls", "--filter", "tags.team = 'ml'", "--format", "json", *uri)
    (record,) = json.loads(listed.stdout)
    assert (record["name"], record["tags"]["team"]) == ("churn", "ml")
    assert (
        json.loads(
            invoke("models", "ls", "--filter", "name = 'srv'", "--format", "json", *uri).stdout
        )
        == []
    )
    assert invoke("models", "tag", "churn", "--delete", "owner", *uri).exit_code == 0
    assert client.get_registered_model("churn").tags == {"team": "ml"}
    deleted = invoke("models", "alias", "churn", "prod", "--delete", *uri)
    assert "deleted models:/churn@prod" in deleted.stderr
    assert client.get_model_version("churn", 1).aliases == ()
    assert invoke("models", "delete", "churn/1", *uri).exit_code == 0
    assert client.list_model_versions("churn") == []
    empty = invoke("models", "show", "churn", "--format", "json", *uri)
    assert (empty.exit_code, json.loads(empty.stdout)) == (0, [])  # a model with no versions
    assert invoke("models", "delete", "churn", *uri).exit_code == 0


def test_the_registry_is_tidied_from_the_cli(model_runs: list[str]) -> None:
    invoke("models", "register", f"runs:/{model_runs[0]}/model", "srv")
    invoke("models", "alias", "srv", "prod", "1")
    tidy()
    with pytest.raises(autolog.NotFoundError):
        autolog.Client().get_registered_model("churn")


def test_tidying_errors_are_one_line(model_runs: list[str]) -> None:
    invoke("models", "register", f"runs:/{model_runs[0]}/model", "clf")
    invoke("models", "register", f"runs:/{model_runs[0]}/model", "other")
    for args, message in [
        (["models", "delete", "nope"], "registered model 'nope' not found"),
        (["models", "delete", "clf/7"], "model version 'clf/7' not found"),
        (["models", "delete", "clf/x"], "positive integers"),
        (["models", "alias", "clf", "prod", "--delete"], "model alias 'clf@prod' not found"),
        (["models", "rename", "clf", "other"], "'other' is taken"),
        (["models", "rename", "clf", "a/b"], "'/' or '@'"),
        (["models", "tag", "clf", "/bad=1"], "/bad"),
        (["models", "tag", "clf", "--delete", "nope"], "nope"),
        (["models", "describe", "nope/1", "x"], "not found"),
        (["models", "ls", "--filter", "version = 1"], "invalid filter"),
    ]:
        done = CliRunner().invoke(root, args)
        assert done.exit_code == 1, (args, done.output)
        assert message in done.stderr, (args, done.stderr)
        assert "Traceback" not in done.output
    for usage in (
        ["models", "alias", "clf", "prod"],
        ["models", "alias", "clf", "prod", "1", "--delete"],
        ["models", "tag", "clf"],
        ["models", "tag", "clf", "novalue"],
    ):
        assert CliRunner().invoke(root, usage).exit_code == 2, usage
