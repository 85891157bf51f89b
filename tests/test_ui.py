"""The web UI in Debian's Chromium (headless, through Playwright), against a real
``autolog server`` process serving the runs of ``ui_seed.py``.

One browser for the session (``chromium`` in conftest.py); each test opens its own page and
fails on any console error or uncaught exception the page logs.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from ui_seed import LONG_POINTS, LOSSES, SPIKE_STEP, SPIKE_VALUE, XSS_NAME

import autolog

pytestmark = pytest.mark.browser

TIMEOUT = 15_000  # ms: a page that has not shown what it should by then has failed


class Page:
    """A browser page on the UI server that records console errors, page errors and dialogs."""

    def __init__(self, page: Any, base: str) -> None:
        self.page = page
        self.base = base
        self.errors: list[str] = []
        self.dialogs: list[str] = []
        self.allowed: list[re.Pattern[str]] = []
        page.on("console", self._console)
        page.on("pageerror", lambda error: self.errors.append(f"page error: {error}"))
        page.on("dialog", self._dialog)
        page.set_default_timeout(TIMEOUT)

    def _console(self, message: Any) -> None:
        if message.type in ("error", "warning") and not any(
            p.search(message.text) for p in self.allowed
        ):
            self.errors.append(f"console.{message.type}: {message.text}")

    def _dialog(self, dialog: Any) -> None:
        self.dialogs.append(dialog.message)
        dialog.dismiss()

    def goto(self, path: str) -> Any:
        response = self.page.goto(f"{self.base}{path}")
        assert response is not None
        assert response.status == 200, (path, response.status)
        return response

    def chart(self, key: str) -> dict[str, Any]:
        """What the chart of ``key`` holds and draws, once it has drawn."""
        selector = f'figure[data-metric="{key}"]'
        self.page.wait_for_selector(f"{selector}[data-drawn-at]")
        data: dict[str, Any] = self.page.eval_on_selector(
            selector,
            """(el) => {
                const c = el.__chart;
                return {
                    drawn: c.u.data.map((column) => Array.from(column)),
                    series: c.series.map((s) => ({label: s.label, total: s.total,
                        steps: s.base.steps, values: s.base.values})),
                    readout: c.readout.textContent,
                    status: c.status.textContent,
                };
            }""",
        )
        return data

    def table_names(self) -> list[str]:
        self.page.wait_for_selector("div.vscroll[data-rendered-at]")
        names: list[str] = self.page.eval_on_selector_all(
            "table.runs tbody tr[data-run-id] td.name a",
            "(links) => links.map((a) => a.textContent)",
        )
        return names

    def wait_for_new_rows(self, generation: int) -> None:
        self.page.wait_for_function(
            "(g) => Number(document.querySelector('div.vscroll').dataset.generation) > g",
            arg=generation,
        )

    def generation(self) -> int:
        self.page.wait_for_selector("div.vscroll[data-rendered-at]")
        return int(self.page.get_attribute("div.vscroll", "data-generation") or "0")


@pytest.fixture
def page(chromium: Any, ui_server: Any) -> Iterator[Page]:
    context = chromium.new_context(viewport={"width": 1280, "height": 900})
    wrapped = Page(context.new_page(), ui_server.url)
    try:
        yield wrapped
        assert wrapped.errors == [], wrapped.errors
        assert wrapped.dialogs == [], f"a page ran script from a user's string: {wrapped.dialogs}"
    finally:
        context.close()


# ------------------------------------------------------------------------------------ pages


def test_every_page_loads_with_no_console_error(page: Page, ui_server: Any) -> None:
    runs = ui_server.seeded.runs
    visits = [
        ("/", "table.experiments a", "ui-tests"),
        (f"/experiments/{ui_server.seeded.experiment_id}", "table.runs td.name a", "alpha"),
        (f"/runs/{runs['alpha']}", "h1", "alpha"),
        (f"/compare?runs={runs['alpha']},{runs['beta']}", "h1", "Compare 2 runs"),
        ("/models", "main table a", "ui-model"),
        ("/models/ui-model", "h1", "ui-model"),
    ]
    for path, selector, text in visits:
        response = page.goto(path)
        csp = response.headers["content-security-policy"]
        assert "script-src 'self'" in csp
        assert "unsafe-inline" not in csp
        assert response.headers["x-content-type-options"] == "nosniff"
        page.page.wait_for_selector(f"{selector}:has-text('{text}')")
        page.page.wait_for_load_state("networkidle")
    page.goto("/runs/no-such-run")
    page.allowed.append(re.compile("404"))
    page.page.wait_for_selector(".error-box:has-text('not found')")


def test_the_filter_box_filters_and_shows_parse_errors_inline(page: Page, ui_server: Any) -> None:
    page.goto(f"/experiments/{ui_server.seeded.experiment_id}")
    assert set(page.table_names()) >= {"alpha", "beta", "parent", XSS_NAME}
    box = page.page.locator("input.filter-input")

    generation = page.generation()
    box.fill("params.model = 'rf'")
    box.press("Enter")
    page.wait_for_new_rows(generation)
    assert page.table_names() == ["alpha"]
    assert "filter=params.model" in page.page.url

    page.allowed.append(re.compile("status of 400"))  # the browser logs the refused request
    box.fill("metrics.loss >")
    box.press("Enter")
    error = page.page.locator("#filter-error")
    error.wait_for(state="visible")
    assert "missing value after >" in error.text_content()
    assert box.get_attribute("aria-invalid") == "true"
    assert page.table_names() == ["alpha"]  # the last good result stays

    generation = page.generation()
    box.fill("metrics.loss < 0.04 and params.lr = '0.1'")
    box.press("Enter")
    page.wait_for_new_rows(generation)
    error.wait_for(state="hidden")
    assert page.table_names() == ["alpha"]


def test_sorting_happens_on_the_server(page: Page, ui_server: Any) -> None:
    page.goto(f"/experiments/{ui_server.seeded.experiment_id}")
    page.table_names()
    top = ["spiky", "parent", XSS_NAME, "beta", "alpha"]  # newest first by default
    assert page.table_names() == top

    def sort_by(title: str) -> list[str]:
        generation = page.generation()
        page.page.click(f"th button.sort[title='Sort by {title}']")
        page.wait_for_new_rows(generation)
        return page.table_names()

    assert sort_by("Name") == sorted(top, reverse=True)
    assert page.page.get_attribute("th:has(button[title='Sort by Name'])", "aria-sort") == (
        "descending"
    )
    assert sort_by("Name") == sorted(top)
    # a metric column: runs without the metric come last either way
    page.page.click("button[aria-controls='column-picker']")
    page.page.check("#column-picker label:has-text('loss') input")
    page.page.keyboard.press("Escape")
    assert sort_by("loss")[:2] == ["beta", "alpha"]
    assert sort_by("loss")[:2] == ["alpha", "beta"]
    first_row = page.page.locator("table.runs tbody tr[data-run-id]").first
    assert str(LOSSES[-1]) in first_row.locator("td.num").all_text_contents()


def test_child_runs_are_grouped_under_their_parent(page: Page, ui_server: Any) -> None:
    page.goto(f"/experiments/{ui_server.seeded.experiment_id}")
    assert "child-0" not in page.table_names()
    toggle = page.page.locator("tr:has(a:text-is('parent')) button.expander")
    assert toggle.get_attribute("aria-expanded") == "false"
    assert "2" in toggle.text_content()
    toggle.click()
    page.page.wait_for_selector("tr.child a:text-is('child-1')")
    names = page.table_names()
    assert names[names.index("parent") + 1 : names.index("parent") + 3] == ["child-1", "child-0"]
    page.page.locator("tr:has(a:text-is('parent')) button.expander").click()
    page.page.wait_for_selector("tr.child", state="detached")
    generation = page.generation()
    page.page.uncheck("#group-children")
    page.wait_for_new_rows(generation)
    assert {"child-0", "child-1", "parent"} <= set(page.table_names())


def test_the_table_is_usable_from_the_keyboard(page: Page, ui_server: Any) -> None:
    page.goto(f"/experiments/{ui_server.seeded.experiment_id}")
    page.table_names()
    page.page.focus("div.vscroll")
    page.page.keyboard.press("ArrowDown")
    assert page.page.get_attribute("div.vscroll", "aria-activedescendant") == "row-1"
    page.page.keyboard.press("Space")
    page.page.keyboard.press("ArrowDown")
    page.page.keyboard.press("Space")
    assert page.page.locator("button.primary").text_content() == "Compare 2 runs"
    page.page.keyboard.press("Enter")
    page.page.wait_for_url(re.compile(r"/runs/"))
    page.page.wait_for_selector("h1")


# --------------------------------------------------------------------------------- charts


def test_a_runs_charts_show_the_logged_values(page: Page, ui_server: Any) -> None:
    page.goto(f"/runs/{ui_server.seeded.runs['alpha']}")
    chart = page.chart("loss")
    steps, values = chart["drawn"][0], chart["drawn"][1]
    assert steps == list(range(len(LOSSES)))
    assert values == LOSSES
    assert chart["status"] == f"{len(LOSSES)} points"
    assert str(LOSSES[-1]) in chart["readout"]
    table = page.page.locator("table.metrics-table tr:has(a:text-is('loss')) td")
    assert [table.nth(i).text_content() for i in range(5)] == [
        str(LOSSES[-1]),
        str(LOSSES[-1]),
        "1",
        str(len(LOSSES)),
        str(len(LOSSES) - 1),
    ]

    # the keyboard moves the read-out over the points
    page.page.focus('figure[data-metric="loss"]')
    page.page.keyboard.press("Home")
    assert "step 0" in page.page.text_content('figure[data-metric="loss"] .chart-readout')
    page.page.keyboard.press("ArrowRight")
    assert "step 1" in page.page.text_content('figure[data-metric="loss"] .chart-readout')
    assert str(LOSSES[1]) in page.page.text_content('figure[data-metric="loss"] .chart-readout')

    # x as wall time and as time since the start; log scale; smoothing
    page.page.select_option("select[aria-label='X axis']", "relative")
    relative = page.chart("loss")["drawn"][0]
    assert relative == sorted(relative)
    assert relative[0] >= 0
    page.page.check("label:has-text('Log scale') input")
    page.page.wait_for_function(
        "() => document.querySelector('figure[data-metric=loss]').__chart.u.scales.y.distr === 3"
    )
    page.page.fill("input[aria-label='Smoothing']", "0.9")
    smoothed = page.chart("loss")
    assert len(smoothed["drawn"]) == 3  # x, smoothed, raw
    assert smoothed["drawn"][2] == LOSSES
    assert smoothed["drawn"][1][-1] > LOSSES[-1]  # the average lags the falling curve
    page.page.fill("input[aria-label='Smoothing']", "0")
    page.page.uncheck("label:has-text('Log scale') input")
    page.page.select_option("select[aria-label='X axis']", "step")


def test_the_spike_survives_downsampling_in_the_charts_data(page: Page, ui_server: Any) -> None:
    page.goto(f"/runs/{ui_server.seeded.runs['spiky']}")
    chart = page.chart("signal")
    steps, values = chart["drawn"][0], chart["drawn"][1]
    assert chart["series"][0]["total"] == LONG_POINTS
    assert len(steps) < LONG_POINTS // 50  # downsampled ...
    assert values[steps.index(SPIKE_STEP)] == SPIKE_VALUE  # ... and the spike is there
    assert max(values) == SPIKE_VALUE
    assert "every spike kept" in chart["status"]

    # zooming in (from the keyboard) asks for the finer range, and the spike is still there
    page.page.focus('figure[data-metric="signal"]')
    page.page.keyboard.press("End")
    for _ in range(4):
        page.page.keyboard.press("+")
    page.page.wait_for_function(
        "() => document.querySelector('figure[data-metric=signal]').__chart.series[0].zoomed"
    )
    zoomed = page.chart("signal")["drawn"][0]
    assert zoomed[-1] - zoomed[0] < LONG_POINTS / 4
    page.page.keyboard.press("0")
    whole = page.chart("signal")
    assert whole["drawn"][0][0] == 0
    assert SPIKE_STEP in whole["drawn"][0]


def test_a_running_runs_chart_grows(page: Page, ui_server: Any) -> None:
    with autolog.Client(ui_server.url) as client:
        run = client.create_run("ui-live", run_name="live")
        run_id = run.info.run_id
        for step in range(5):
            client.log_metric(run_id, "live_loss", 10.0 - step, step=step)
        client.flush()
        page.goto(f"/runs/{run_id}")
        first = page.chart("live_loss")
        assert first["drawn"][0] == [0, 1, 2, 3, 4]
        assert page.page.locator(".page-head .status").text_content() == "RUNNING"

        for step in range(5, 12):
            client.log_metric(run_id, "live_loss", 10.0 - step, step=step)
        client.flush()
        # the page asks for new points every second
        page.page.wait_for_function(
            "() => document.querySelector('[data-metric=live_loss]').__chart.pointCount(0) === 12",
            timeout=5_000,
        )
        grown = page.chart("live_loss")
        assert grown["drawn"][0] == list(range(12))
        assert grown["drawn"][1][-1] == -1.0
        # the runs table shows it RUNNING, and FINISHED once it ends, without a reload
        page.page.click(".crumbs a:text-is('ui-live')")
        row = page.page.locator("tr:has(a:text-is('live')) .status")
        row.wait_for()
        assert row.text_content() == "RUNNING"
        client.set_terminated(run_id)
        client.flush()
        page.page.wait_for_selector(
            "tr:has(a:text-is('live')) .status:text-is('FINISHED')", timeout=5_000
        )
        page.page.go_back()
        page.page.wait_for_selector(".page-head .status:text-is('FINISHED')", timeout=5_000)


def test_the_live_endpoint_sends_only_new_points(ui_server: Any) -> None:
    alpha = ui_server.seeded.runs["alpha"]
    answer = httpx.get(
        f"{ui_server.url}/api/v1/metric-series",
        params={"run_id": alpha, "key": "loss", "width": 500, "min_step": 38},
    )
    (series,) = answer.json()["series"]
    assert series["steps"] == [38, 39]
    assert series["total"] == 2


# ------------------------------------------------------------------------------- artifacts


def _open_artifact(page: Page, name: str) -> Any:
    page.page.click(f"button.tree-file[data-path='{name}']")
    preview = page.page.locator(".preview")
    preview.locator(".preview-head code", has_text=name).wait_for()
    preview.locator("p.muted:text-is('Loading…')").wait_for(state="detached")
    return preview


def test_artifacts_are_previewed_by_kind(page: Page, ui_server: Any) -> None:
    run_id = ui_server.seeded.runs["alpha"]
    page.goto(f"/runs/{run_id}")
    page.page.wait_for_selector("button.tree-file[data-path='notes.txt']")

    text = _open_artifact(page, "notes.txt")
    assert text.locator("pre").text_content() == "line one\nsecond line <b>not bold</b>\n"
    assert text.locator("pre b").count() == 0

    log = _open_artifact(page, "train.log")
    assert "epoch 2 loss 0.25" in log.locator("pre").text_content()

    data = _open_artifact(page, "data.json")
    shown = data.locator("pre").text_content()
    assert '"alpha": [\n    1,' in shown
    assert "<i>x</i>" in shown

    table = _open_artifact(page, "table.csv")
    headers = table.locator("thead th").all_text_contents()
    assert headers == ["name", "score", "comment"]
    cells = table.locator("tbody tr").nth(1).locator("td").all_text_contents()
    assert cells == ["beta", "0.8", 'say "hi"']

    image = _open_artifact(page, "image.png")
    image.locator("img").wait_for()
    page.page.wait_for_function("() => document.querySelector('.preview img').naturalWidth === 3")

    for name, kind in (("page.html", "HTML"), ("icon.svg", "SVG")):
        source = _open_artifact(page, name)
        assert f"{kind} is shown as its source text" in source.text_content()
        assert "alert(" in source.locator("pre").text_content()
        assert source.locator("svg, h1, iframe, object, embed").count() == 0

    page.page.click("button.tree-dir:has-text('files')")
    binary = _open_artifact(page, "files/blob.bin")
    assert "binary file" in binary.text_content()
    href = binary.locator("a:text-is('Download')").get_attribute("href")
    assert href is not None
    download = httpx.get(f"{ui_server.url}{href}")
    assert download.content == bytes(range(256)) * 4

    card = page.page.locator(".model-card")
    card.wait_for()
    assert f'autolog.load_model("runs:/{run_id}/model")' in card.text_content()
    assert "pickle flavor" in card.text_content()
    assert card.locator(".badge:text-is('recorded')").count() == 2  # model.pkl and its metadata
    assert "ui-model v1" in card.text_content()


# ---------------------------------------------------------------------------- compare, models


def test_compare_two_runs(page: Page, ui_server: Any) -> None:
    runs = ui_server.seeded.runs
    page.goto(f"/compare?runs={runs['alpha']},{runs['beta']}")
    chart = page.chart("loss")
    assert [s["label"] for s in chart["series"]] == ["alpha", "beta"]
    assert chart["drawn"][1] == LOSSES
    assert chart["drawn"][2] == [v * 1.5 for v in LOSSES]
    differs = page.page.locator("table.diff tr.differs th.key").all_text_contents()
    assert "lr (differs)" in differs
    assert "model (differs)" in differs
    assert not any(text.startswith("depth") for text in differs)  # equal in both runs
    assert page.page.locator(".scatter-svg circle").count() == 2
    page.page.check("label:has-text('Only differences') input")
    assert "depth" not in page.page.locator("table.diff").text_content()


def test_the_models_page_links_versions_to_their_runs(page: Page, ui_server: Any) -> None:
    page.goto("/models")
    row = page.page.locator("main table tbody tr:has-text('ui-model')")
    row.wait_for()
    assert "@champion → v1" in row.text_content()
    row.locator("a:text-is('alpha')").click()
    page.page.wait_for_url(re.compile(ui_server.seeded.runs["alpha"]))
    page.goto("/models/ui-model")
    version = page.page.locator("table.versions tbody tr").first
    version.wait_for()
    assert "@champion" in version.text_content()
    assert 'autolog.load_model("models:/ui-model/1")' in version.text_content()
    page.goto("/models/no-such-model")
    page.page.wait_for_selector(".error-box:has-text('No registered model is named no-such-model')")


# -------------------------------------------------------------------------------- security


def test_a_run_named_like_markup_shows_as_text(page: Page, ui_server: Any) -> None:
    run_id = ui_server.seeded.runs[XSS_NAME]
    page.goto(f"/experiments/{ui_server.seeded.experiment_id}")
    assert XSS_NAME in page.table_names()
    page.goto(f"/runs/{run_id}")
    page.page.wait_for_selector("h1")
    assert page.page.locator("h1").text_content() == XSS_NAME
    assert page.page.locator("main img").count() == 0
    page.page.wait_for_selector(f"td.value:has-text('{XSS_NAME}')")
    page.goto(f"/compare?runs={run_id},{ui_server.seeded.runs['alpha']}")
    page.page.wait_for_selector("h1")
    assert page.page.locator("table.diff img, .compare-legend img").count() == 0
    assert XSS_NAME in page.page.locator(".compare-legend").text_content()


def test_narrow_windows_do_not_scroll_sideways(chromium: Any, ui_server: Any) -> None:
    context = chromium.new_context(viewport={"width": 390, "height": 800})
    try:
        narrow = Page(context.new_page(), ui_server.url)
        for path in (
            "/",
            f"/experiments/{ui_server.seeded.experiment_id}",
            f"/runs/{ui_server.seeded.runs['alpha']}",
            "/models",
        ):
            narrow.goto(path)
            narrow.page.wait_for_load_state("networkidle")
            width = narrow.page.evaluate("document.documentElement.scrollWidth")
            assert width <= 390, (path, width)
        assert narrow.errors == []
    finally:
        context.close()


@pytest.fixture
def token_server(ui_server: Any, tmp_path: Path) -> Iterator[tuple[str, str]]:
    """A second server on the same store that needs tokens; its URL and a read token."""
    from servers import ServerProcess

    from autolog.server.tokens import create_token
    from autolog.stores import open_store

    store = open_store(ui_server.store_uri)
    try:
        secret, _ = create_token(store, f"ui-{tmp_path.name}", "read")
    finally:
        store.close()
    server = ServerProcess(
        ["--backend-store-uri", ui_server.store_uri, "--port", "0", "--require-token"], tmp_path
    )
    try:
        yield server.url, secret
    finally:
        server.stop()


def test_a_server_that_needs_tokens_asks_for_one(chromium: Any, token_server: Any) -> None:
    url, secret = token_server
    context = chromium.new_context(viewport={"width": 1280, "height": 900})
    try:
        page = Page(context.new_page(), url)
        page.allowed.append(re.compile("status of 401"))  # the first, token-less requests
        page.goto("/")
        page.page.wait_for_selector("form.token-form")
        page.page.fill("#token-input", "autolog_0123_wrong")
        page.page.click("form.token-form button")
        page.page.wait_for_selector("form.token-form:has-text('refused')")
        page.page.fill("#token-input", secret)
        page.page.click("form.token-form button")
        page.page.wait_for_selector("table.experiments a:has-text('ui-tests')")
        # files are fetched with the token too: an image shows, a download has the bytes
        found = httpx.post(
            f"{url}/api/v1/runs/search-page",
            json={"filter": "attributes.run_name = 'alpha'"},
            headers={"Authorization": f"Bearer {secret}"},
        ).json()
        alpha = found["runs"][0]["info"]["run_id"]
        # a search is a read, whatever its method: a read token may make it
        plain = httpx.post(
            f"{url}/api/v1/runs/search",
            json={"filter": "attributes.run_name = 'alpha'"},
            headers={"Authorization": f"Bearer {secret}"},
        )
        assert plain.status_code == 200, plain.text
        page.goto(f"/runs/{alpha}")
        page.page.click("button.tree-file[data-path='image.png']")
        page.page.wait_for_function(
            "() => document.querySelector('.preview img')?.naturalWidth === 3"
        )
        with page.page.expect_download() as download:
            page.page.click(".preview a:text-is('Download')")
        assert Path(download.value.path()).read_bytes().startswith(b"\x89PNG")
        assert page.errors == []
    finally:
        context.close()
