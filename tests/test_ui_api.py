"""The REST endpoints the web UI reads (autolog.server.ui_api), the pages' security headers,
and ``autolog ui``: against a real ``autolog server`` process on the runs of ui_seed.py."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
from servers import AUTOLOG
from ui_seed import LONG_POINTS, LOSSES, SPIKE_STEP, SPIKE_VALUE

from autolog.server.ui import CONTENT_SECURITY_POLICY
from autolog.server.ui_api import preview_kind

pytestmark = pytest.mark.server


def api(ui_server: Any, method: str, path: str, **kwargs: Any) -> httpx.Response:
    return httpx.request(method, f"{ui_server.url}/api/v1{path}", timeout=30, **kwargs)


def ok(response: httpx.Response) -> Any:
    assert response.status_code == 200, response.text
    return response.json()


def error_code(response: httpx.Response) -> str:
    code: str = response.json()["error"]["code"]
    return code


# ------------------------------------------------------------------------------ run pages


def page(ui_server: Any, **body: Any) -> dict[str, Any]:
    body.setdefault("experiment_ids", [ui_server.seeded.experiment_id])
    found: dict[str, Any] = ok(api(ui_server, "POST", "/runs/search-page", json=body))
    return found


def names(found: dict[str, Any]) -> list[str]:
    return [run["info"]["run_name"] for run in found["runs"]]


def test_search_page_pages_counts_and_groups(ui_server: Any) -> None:
    runs = ui_server.seeded.runs
    everything = page(ui_server, limit=100)
    assert everything["total"] == len(runs) == len(everything["runs"])
    first = page(ui_server, limit=3, order_by=["attributes.run_name ASC"])
    second = page(ui_server, offset=3, limit=3, order_by=["attributes.run_name ASC"])
    assert names(first) + names(second) == sorted(runs)[:6]
    assert first["total"] == second["total"] == len(runs)

    top = page(ui_server, top_level=True, limit=100)
    assert set(names(top)) == set(runs) - {"child-0", "child-1"}
    assert top["child_counts"] == {runs["parent"]: 2}
    children = page(ui_server, filter=f"attributes.parent_run_id = '{runs['parent']}'")
    assert sorted(names(children)) == ["child-0", "child-1"]
    # the parsed form the REST store sends
    parsed = page(
        ui_server,
        filters=[{"entity": "param", "key": "model", "op": "=", "value": "rf"}],
        order=[{"entity": "metric", "key": "loss", "ascending": False}],
    )
    assert names(parsed) == ["alpha"]
    assert page(ui_server, limit=0)["runs"] == []
    assert page(ui_server, offset=10_000)["total"] == len(runs)


@pytest.mark.parametrize(
    ("body", "status", "code"),
    [
        ({"filter": "metrics.loss >"}, 400, "invalid_filter"),
        ({"filter": "nonsense = 1"}, 400, "invalid_filter"),
        ({"order_by": ["metrics.loss SIDEWAYS x"]}, 400, "invalid_filter"),
        ({"offset": -1}, 422, "invalid_request"),
        ({"limit": 1001}, 422, "invalid_request"),
        ({"unknown": 1}, 422, "invalid_request"),
    ],
)
def test_search_page_refuses_bad_requests_clearly(
    ui_server: Any, body: dict[str, Any], status: int, code: str
) -> None:
    answer = api(ui_server, "POST", "/runs/search-page", json=body)
    assert answer.status_code == status, answer.text
    assert error_code(answer) == code
    assert "Traceback" not in answer.text


def test_experiment_summaries(ui_server: Any) -> None:
    found = ok(api(ui_server, "GET", "/experiment-summaries"))["experiments"]
    summary = next(e for e in found if e["experiment_id"] == ui_server.seeded.experiment_id)
    assert summary["name"] == "ui-tests"
    assert summary["run_count"] == len(ui_server.seeded.runs)
    assert summary["running_count"] == 0
    assert summary["last_activity"] >= summary["creation_time"]


# -------------------------------------------------------------------------------- metrics


def series(ui_server: Any, **params: Any) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = ok(api(ui_server, "GET", "/metric-series", params=params))[
        "series"
    ]
    return found


def test_metric_series_keeps_the_spike_under_100_kb(ui_server: Any) -> None:
    spiky = ui_server.seeded.runs["spiky"]
    for width in (200, 1200, 5000):
        answer = api(
            ui_server,
            "GET",
            "/metric-series",
            params={"run_id": spiky, "key": "signal", "width": width},
        )
        assert len(answer.content) < 100_000, (width, len(answer.content))
        (found,) = answer.json()["series"]
        assert found["total"] == LONG_POINTS
        assert found["downsampled"] is True
        assert found["values"][found["steps"].index(SPIKE_STEP)] == SPIKE_VALUE
        assert found["t0"] + found["times"][0] == 1_700_000_000_000
    # a zoomed range is finer, and still has the spike
    (zoomed,) = series(
        ui_server,
        run_id=spiky,
        key="signal",
        width=500,
        min_step=SPIKE_STEP - 5_000,
        max_step=SPIKE_STEP + 5_000,
    )
    assert zoomed["total"] == 10_001
    assert zoomed["steps"][0] == SPIKE_STEP - 5_000
    assert zoomed["steps"][-1] == SPIKE_STEP + 5_000
    assert SPIKE_VALUE in zoomed["values"]


def test_metric_series_of_several_runs_and_keys(ui_server: Any) -> None:
    runs = ui_server.seeded.runs
    found = series(ui_server, run_id=[runs["alpha"], runs["beta"]], key=["loss", "acc"], width=800)
    assert [(s["run_id"], s["key"]) for s in found] == [
        (runs["alpha"], "loss"),
        (runs["alpha"], "acc"),
        (runs["beta"], "loss"),
        (runs["beta"], "acc"),
    ]
    assert found[0]["values"] == LOSSES
    assert found[0]["steps"] == list(range(len(LOSSES)))
    assert found[0]["downsampled"] is False
    # only the points after a step: what a live chart asks for
    (after,) = series(ui_server, run_id=runs["alpha"], key="loss", width=800, min_step=38)
    assert after["steps"] == [38, 39]
    (none,) = series(ui_server, run_id=runs["alpha"], key="loss", width=800, min_step=40)
    assert (none["steps"], none["total"]) == ([], 0)
    (missing,) = series(ui_server, run_id=runs["alpha"], key="never-logged", width=800)
    assert missing["total"] == 0


def test_metric_series_sends_non_finite_values_as_strings(ui_server: Any) -> None:
    (found,) = series(ui_server, run_id=ui_server.seeded.runs["alpha"], key="special", width=100)
    assert found["values"] == [1.0, "NaN", "Infinity", "-Infinity", 2.0]


@pytest.mark.parametrize(
    ("params", "status", "code"),
    [
        ({"key": "loss", "width": 100}, 422, "invalid_request"),  # no run
        ({"run_id": "nope", "key": "loss", "width": 100}, 404, "not_found"),
        ({"run_id": "RUN", "key": "loss", "width": 0}, 422, "invalid_request"),
        ({"run_id": "RUN", "key": "loss", "width": "wide"}, 422, "invalid_request"),
        (
            {"run_id": ["RUN"] * 11, "key": [f"k{i}" for i in range(10)], "width": 9},
            400,
            "invalid_input",
        ),
    ],
)
def test_metric_series_refuses_bad_requests_clearly(
    ui_server: Any, params: dict[str, Any], status: int, code: str
) -> None:
    alpha = ui_server.seeded.runs["alpha"]
    if "run_id" in params:
        value = params["run_id"]
        params["run_id"] = (
            [alpha] * len(value)
            if isinstance(value, list)
            else (alpha if value == "RUN" else value)
        )
    answer = api(ui_server, "GET", "/metric-series", params=params)
    assert answer.status_code == status, answer.text
    assert error_code(answer) == code


def test_metric_summary(ui_server: Any) -> None:
    found = ok(api(ui_server, "GET", f"/runs/{ui_server.seeded.runs['alpha']}/metric-summary"))
    loss = found["metrics"]["loss"]
    assert loss == {
        "latest": LOSSES[-1],
        "min": LOSSES[-1],
        "max": LOSSES[0],
        "count": len(LOSSES),
        "last_step": len(LOSSES) - 1,
    }
    special = found["metrics"]["special"]
    assert (special["min"], special["max"], special["latest"], special["count"]) == (
        1.0,
        2.0,
        2.0,
        5,
    )
    spiky = ok(api(ui_server, "GET", f"/runs/{ui_server.seeded.runs['spiky']}/metric-summary"))
    assert spiky["metrics"]["signal"]["max"] == SPIKE_VALUE
    assert error_code(api(ui_server, "GET", "/runs/nope/metric-summary")) == "not_found"


# --------------------------------------------------------------------------------- models


def test_registered_models_and_their_versions(ui_server: Any) -> None:
    alpha = ui_server.seeded.runs["alpha"]
    models = ok(api(ui_server, "GET", "/registered-models"))["models"]
    model = next(m for m in models if m["name"] == "ui-model")
    assert model["latest_version"] == 1
    assert model["aliases"] == {"champion": 1}
    assert (model["latest_run_id"], model["latest_run_name"]) == (alpha, "alpha")
    versions = ok(api(ui_server, "GET", "/registered-models/versions", params={"name": "ui-model"}))
    (version,) = versions["versions"]
    assert version["source"] == f"runs:/{alpha}/model"
    assert (version["run_name"], version["aliases"]) == ("alpha", ["champion"])
    everything = ok(api(ui_server, "GET", "/registered-models/versions"))["versions"]
    assert version in everything
    unknown = api(ui_server, "GET", "/registered-models/versions", params={"name": "nope"})
    assert ok(unknown)["versions"] == []


def test_logged_models_show_their_card(ui_server: Any) -> None:
    alpha = ui_server.seeded.runs["alpha"]
    (model,) = ok(api(ui_server, "GET", f"/runs/{alpha}/logged-models"))["models"]
    assert model["path"] == "model"
    assert model["flavor"] == "pickle"
    assert model["model_class"] == "builtins.dict"
    assert model["load_uri"] == f"runs:/{alpha}/model"
    files = {f["name"]: f for f in model["files"]}
    assert set(files) == {"model.pkl", "autolog-model.json"}
    assert files["model.pkl"]["sha256"] == files["model.pkl"]["recorded"]
    assert len(files["autolog-model.json"]["recorded"]) == 64
    assert model["registered"] == [{"name": "ui-model", "version": 1, "aliases": ["champion"]}]
    beta = ok(api(ui_server, "GET", f"/runs/{ui_server.seeded.runs['beta']}/logged-models"))
    assert beta["models"] == []
    assert error_code(api(ui_server, "GET", "/runs/nope/logged-models")) == "not_found"


# ------------------------------------------------------------------------------ artifacts


@pytest.mark.parametrize(
    ("path", "kind", "text"),
    [
        ("notes.txt", "text", "line one\nsecond line <b>not bold</b>\n"),
        ("train.log", "text", "epoch 1 loss 0.5\nepoch 2 loss 0.25\n"),
        ("data.json", "json", None),
        ("table.csv", "csv", None),
        (
            "page.html",
            "html",
            "<html><body><h1>pwned</h1><script>alert('html')</script></body></html>",
        ),
        ("icon.svg", "svg", None),
        ("image.png", "image", None),
        ("files/blob.bin", "binary", None),
        ("model/model.pkl", "binary", None),
    ],
)
def test_artifact_previews_by_kind(ui_server: Any, path: str, kind: str, text: str | None) -> None:
    alpha = ui_server.seeded.runs["alpha"]
    found = ok(api(ui_server, "GET", f"/runs/{alpha}/artifact-preview", params={"path": path}))
    assert (found["path"], found["kind"], found["truncated"]) == (path, kind, False)
    if kind in ("image", "binary"):
        assert found["text"] is None
    else:
        assert found["size"] == len(found["text"].encode())
    if text is not None:
        assert found["text"] == text
    if kind == "json":
        assert json.loads(found["text"])["nested"]["markup"] == "<i>x</i>"


def test_artifact_preview_reads_only_the_start_of_a_file(ui_server: Any) -> None:
    alpha = ui_server.seeded.runs["alpha"]
    found = ok(
        api(
            ui_server,
            "GET",
            f"/runs/{alpha}/artifact-preview",
            params={"path": "notes.txt", "max_bytes": 5},
        )
    )
    assert (found["text"], found["truncated"]) == ("line ", True)
    assert found["size"] == len("line one\nsecond line <b>not bold</b>\n")


@pytest.mark.parametrize(
    ("path", "status"),
    [("../../etc/passwd", 400), ("/etc/passwd", 400), ("missing.txt", 404), ("files", 404)],
)
def test_artifact_preview_refuses_paths_outside_files(
    ui_server: Any, path: str, status: int
) -> None:
    alpha = ui_server.seeded.runs["alpha"]
    answer = api(ui_server, "GET", f"/runs/{alpha}/artifact-preview", params={"path": path})
    assert answer.status_code == status, answer.text
    assert "root:" not in answer.text


def test_markup_artifacts_download_as_data_never_as_pages(ui_server: Any) -> None:
    alpha = ui_server.seeded.runs["alpha"]
    for name in ("page.html", "icon.svg"):
        answer = httpx.get(f"{ui_server.url}/api/v1/runs/{alpha}/artifacts/{name}")
        assert answer.status_code == 200
        assert answer.headers["content-type"] == "application/octet-stream"
        assert answer.headers["content-disposition"].startswith("attachment")
        assert answer.headers["x-content-type-options"] == "nosniff"
        assert "script-src 'self'" in answer.headers["content-security-policy"]


def test_preview_kind_judges_by_name_and_content() -> None:
    assert preview_kind("a/b.png", b"\x89PNG\r\n\x1a\nrest") == "image"
    assert preview_kind("fake.png", b"<script>") == "binary"  # not what its name says
    assert preview_kind("x.JSON", b"{}") == "json"
    assert preview_kind("x.tsv", b"a\tb") == "csv"
    assert preview_kind("x.htm", b"<p>") == "html"
    assert preview_kind("x.svg", b"<svg/>") == "svg"
    assert preview_kind("README", "héllo".encode()) == "text"
    assert preview_kind("cut.txt", "abcé".encode()[:-1]) == "text"  # a character cut at the end
    assert preview_kind("x.txt", b"\xff\xfe\x00a") == "binary"
    assert preview_kind("x.txt", b"ab\x00cd") == "binary"


# --------------------------------------------------------------------------------- pages


@pytest.mark.parametrize(
    "path",
    ["/", "/experiments/0", "/runs/abc", "/compare?runs=a,b", "/models", "/models/ui-model"],
)
def test_pages_are_the_app_with_a_content_security_policy(ui_server: Any, path: str) -> None:
    answer = httpx.get(f"{ui_server.url}{path}")
    assert answer.status_code == 200
    assert answer.headers["content-type"].startswith("text/html")
    assert answer.headers["content-security-policy"] == CONTENT_SECURITY_POLICY
    assert answer.headers["x-frame-options"] == "DENY"
    assert '<script type="module" src="/static/js/app.js">' in answer.text
    assert "<script>" not in answer.text  # nothing inline: the policy would refuse it


def test_static_files_are_served_and_stay_inside_their_folder(ui_server: Any) -> None:
    script = httpx.get(f"{ui_server.url}/static/js/app.js")
    assert script.status_code == 200
    assert "javascript" in script.headers["content-type"]
    assert httpx.get(f"{ui_server.url}/static/vendor/uplot/LICENSE").status_code == 200
    for escape in ("/static/../ui.py", "/static/%2e%2e/ui.py", "/static/..%2fui.py"):
        answer = httpx.get(f"{ui_server.url}{escape}")
        assert answer.status_code == 404, escape
    assert httpx.get(f"{ui_server.url}/no-such-page").status_code == 404


def test_csp_forbids_inline_script_and_everything_from_elsewhere() -> None:
    directives = dict(part.split(" ", 1) for part in CONTENT_SECURITY_POLICY.split("; "))
    assert directives["default-src"] == "'none'"
    for name in ("script-src", "style-src", "connect-src"):
        assert directives[name] == "'self'"
    assert directives["frame-ancestors"] == "'none'"
    assert "unsafe" not in CONTENT_SECURITY_POLICY


# ----------------------------------------------------------------------------- autolog ui


def _start_ui(args: list[str], cwd: Path, env: dict[str, str]) -> tuple[subprocess.Popen[str], str]:
    process = subprocess.Popen(
        [AUTOLOG, "ui", *args],
        cwd=cwd,
        env={**os.environ, **env},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    assert process.stdout is not None
    first = process.stdout.readline()
    assert first.startswith("autolog UI at http://127.0.0.1:"), first
    url = first.split(" at ", 1)[1].strip()
    for _ in range(300):
        try:
            if httpx.get(f"{url}api/v1/health", timeout=1).status_code == 200:
                return process, url
        except httpx.HTTPError:
            time.sleep(0.05)
    process.kill()
    raise AssertionError(f"autolog ui did not answer: {process.stdout.read()}")


def _stop(process: subprocess.Popen[str]) -> None:
    process.send_signal(signal.SIGTERM)
    output, _ = process.communicate(timeout=30)
    assert process.returncode == 0, output


def test_autolog_ui_serves_a_store_on_loopback_and_opens_the_browser(
    ui_server: Any, tmp_path: Path
) -> None:
    opened = tmp_path / "opened.txt"
    browser = tmp_path / "browser.py"
    browser.write_text(f"import sys; open({str(opened)!r}, 'w').write(sys.argv[1])\n")
    store = ui_server.store_uri
    # port 5000 taken (by us, or by someone else): the UI takes a free one instead
    holder = socket.socket()
    try:
        try:
            holder.bind(("127.0.0.1", 5000))
            holder.listen()
        except OSError:
            pass
        process, url = _start_ui(
            ["--backend-store-uri", store], tmp_path, {"BROWSER": f"{sys.executable} {browser} %s"}
        )
    finally:
        holder.close()
    try:
        assert not url.endswith(":5000/")
        page = httpx.get(url)
        assert page.status_code == 200
        assert "content-security-policy" in page.headers
        found = httpx.post(
            f"{url}api/v1/runs/search-page", json={"filter": "attributes.run_name = 'alpha'"}
        )
        assert [r["info"]["run_name"] for r in found.json()["runs"]] == ["alpha"]
        for _ in range(100):
            if opened.exists():
                break
            time.sleep(0.05)
        assert opened.read_text() == url
    finally:
        _stop(process)


def test_autolog_ui_without_a_browser_and_on_a_given_port(ui_server: Any, tmp_path: Path) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    opened = tmp_path / "opened.txt"
    process, url = _start_ui(
        ["--tracking-uri", ui_server.store_uri, "--port", str(port), "--no-browser"],
        tmp_path,
        {"BROWSER": f"{sys.executable} -c 'open({str(opened)!r}, \"w\")' %s"},
    )
    try:
        assert url == f"http://127.0.0.1:{port}/"
        assert httpx.get(url).status_code == 200
        time.sleep(0.5)
        assert not opened.exists()
    finally:
        _stop(process)


def test_autolog_ui_says_what_is_wrong_in_one_line(tmp_path: Path) -> None:
    done = subprocess.run(
        [AUTOLOG, "ui", "--backend-store-uri", "nosuch://x", "--no-browser"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 1
    assert "Traceback" not in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1
    assert "nosuch" in done.stderr
