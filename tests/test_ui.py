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
from ui_page import WatchedPage, watched_page
from ui_seed import (
    LONG_POINTS,
    LOSSES,
    SPIKE_STEP,
    SPIKE_VALUE,
    SWEEP_CONSTANTS,
    SWEEP_GRID,
    XSS_NAME,
    seed_sweep,
)

import autolog

pytestmark = pytest.mark.browser


class Page(WatchedPage):
    """A browser page on the UI server, with what these tests read of its pages."""

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
    with watched_page(chromium, Page, ui_server.url) as wrapped:
        yield wrapped


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
    # only the params that differ, until asked for all
    assert "depth" not in page.page.locator("table.diff").text_content()
    page.page.uncheck("label:has-text('Only differences') input")
    assert "depth" in page.page.locator("table.diff").text_content()


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


# ------------------------------------------------ what differs: runs columns, compare (engineer E)


@pytest.fixture(scope="session")
def sweep(ui_server: Any) -> Any:
    """ui_seed.seed_sweep's six runs, written through the UI server's REST API."""
    return seed_sweep(ui_server.url)


SWEEP_COLUMNS = [
    "params.num_leaves",
    "params.learning_rate",
    "params.boosting_type",
    "metrics.best_iteration",
    "metrics.test_auc",
    "metrics.training_logloss",
    "metrics.valid_auc",
]


def _url_columns(page: Page) -> list[str]:
    columns: list[str] = page.page.evaluate(
        "() => new URLSearchParams(location.search).getAll('col')"
    )
    return columns


def _headings(page: Page) -> list[str]:
    """The runs table's key columns as "kind key" (a param, metric or tag column)."""
    page.page.wait_for_selector("table.runs thead th .kind")
    headings: list[str] = page.page.eval_on_selector_all(
        "table.runs thead th:has(.kind) button.sort",
        """(buttons) => buttons.map((b) => b.querySelector('.kind').textContent + ' '
            + b.childNodes[1].textContent)""",
    )
    return headings


def test_the_runs_table_shows_the_params_and_metrics_a_sweep_varies(page: Page, sweep: Any) -> None:
    page.goto(f"/experiments/{sweep.experiment_id}")
    assert len(page.table_names()) == len(SWEEP_GRID)
    expected = [f"{spec.split('.')[0][:-1]} {spec.split('.', 1)[1]}" for spec in SWEEP_COLUMNS]
    assert _headings(page) == expected
    shown = " ".join(_headings(page))
    for constant in (*SWEEP_CONSTANTS, "n_features"):
        assert constant not in shown  # the same in every run: says nothing about one
    assert _url_columns(page) == SWEEP_COLUMNS  # what is shown is in the address

    # the picker still chooses: a constant column added, a swept one taken away
    page.page.click("button[aria-controls='column-picker']")
    page.page.check("#column-picker label:has-text('bagging_fraction') input")
    page.page.uncheck("#column-picker label:has-text('boosting_type') input")
    assert "param bagging_fraction" in _headings(page)
    assert "param boosting_type" not in _headings(page)
    assert "params.bagging_fraction" in _url_columns(page)
    # and goes back to what varies
    page.page.click("#column-picker button:text-is('Varying columns')")
    assert _url_columns(page) == SWEEP_COLUMNS
    assert _headings(page) == expected


def test_a_runs_table_link_shows_the_same_columns_sort_and_filter(
    chromium: Any, page: Page, sweep: Any
) -> None:
    page.goto(f"/experiments/{sweep.experiment_id}")
    page.table_names()
    page.page.click("button[aria-controls='column-picker']")
    page.page.uncheck("#column-picker label:has-text('valid_auc') input")
    page.page.check("#column-picker label:has-text('objective') input")
    page.page.keyboard.press("Escape")
    generation = page.generation()
    page.page.click("th button.sort[title='Sort by test_auc']")
    page.wait_for_new_rows(generation)
    generation = page.generation()
    page.page.fill("input.filter-input", "params.boosting_type = 'gbdt'")
    page.page.press("input.filter-input", "Enter")
    page.wait_for_new_rows(generation)
    names = page.table_names()
    assert names == ["sweep-5", "sweep-2", "sweep-1", "sweep-0"]  # test_auc, highest first
    headings = _headings(page)
    assert "metric valid_auc" not in headings
    assert "param objective" in headings
    url = page.page.url

    # another browser (nothing saved in it) opening the link sees what was shared
    context = chromium.new_context(viewport={"width": 1280, "height": 900})
    try:
        other = Page(context.new_page(), page.base)
        other.goto(url.removeprefix(page.base))
        assert other.table_names() == names
        assert _headings(other) == headings
        sorted_by = "th:has(button[title='Sort by test_auc'])"
        assert other.page.get_attribute(sorted_by, "aria-sort") == "descending"
        assert other.page.input_value("input.filter-input") == "params.boosting_type = 'gbdt'"
        assert other.errors == []
    finally:
        context.close()

    # a link that names no column shows none
    page.goto(f"/experiments/{sweep.experiment_id}?col=-")
    page.table_names()
    assert page.page.locator("table.runs thead th .kind").count() == 0


def _compare_sweep(page: Page, sweep: Any) -> None:
    ids = [sweep.runs[f"sweep-{n}"] for n in range(len(SWEEP_GRID))]
    page.goto(f"/compare?runs={','.join(ids)}")
    page.page.wait_for_selector("#parallel .parallel-svg")


def test_compare_shows_curves_first_and_single_values_in_one_table(page: Page, sweep: Any) -> None:
    _compare_sweep(page, sweep)
    sections = page.page.eval_on_selector_all("main section.card[id]", "(s) => s.map((e) => e.id)")
    assert sections == ["curves", "singles", "diff", "parallel", "scatter"]
    chart = page.chart("valid_auc")
    assert len(chart["series"]) == len(SWEEP_GRID)
    charted = page.page.eval_on_selector_all(
        "#curves figure[data-metric]", "(f) => f.map((e) => e.dataset.metric)"
    )
    assert sorted(charted) == ["training_logloss", "valid_auc"]  # no chart of one dot each
    rows = page.page.eval_on_selector_all(
        "table.singles tbody tr", "(rows) => rows.map((r) => r.dataset.metric)"
    )
    assert rows == ["best_iteration", "n_features", "test_auc"]
    best = page.page.locator("table.singles tr[data-metric='best_iteration'] td")
    assert best.count() == len(SWEEP_GRID)
    assert [best.nth(n).locator("span.value").text_content() for n in (0, 5)] == ["10", "25"]
    assert best.nth(5).locator("rect").get_attribute("width") == "100.00"  # the largest
    assert best.nth(0).locator("rect").get_attribute("width") == "40.00"  # 10 of 25
    assert page.page.locator("table.singles tr.differs").count() == 2  # not n_features


def test_compare_shows_only_the_params_that_differ_unless_asked(page: Page, sweep: Any) -> None:
    _compare_sweep(page, sweep)
    toggle = page.page.locator("#diff label:has-text('Only differences') input")
    assert toggle.is_checked()
    keys = page.page.locator("table.diff tbody th.key")
    params = ["boosting_type", "learning_rate", "num_leaves"]
    assert keys.all_text_contents() == [
        *(f"{key} (differs)" for key in params),
        "training_logloss (differs)",
        "valid_auc (differs)",
    ]
    total = len(SWEEP_CONSTANTS) + len(params)
    assert f"3 of {total} params differ" in page.page.text_content("#diff .section-head")
    toggle.uncheck()
    shown = [text.removesuffix(" (differs)") for text in keys.all_text_contents()]
    assert shown[:total] == sorted([*SWEEP_CONSTANTS, *params])
    toggle.check()
    assert "alpha" not in page.page.text_content("table.diff")


def test_compare_draws_parallel_coordinates_of_params_against_a_metric(
    page: Page, sweep: Any
) -> None:
    _compare_sweep(page, sweep)
    axes = page.page.locator("#parallel g.pc-axis")

    def axis_specs() -> list[list[str]]:
        found: list[list[str]] = axes.evaluate_all(
            "(gs) => gs.map((g) => [g.dataset.axis, g.dataset.kind])"
        )
        return found

    params = [
        ["params.num_leaves", "numeric"],
        ["params.learning_rate", "numeric"],
        ["params.boosting_type", "categorical"],
    ]
    assert axis_specs() == [*params, ["metrics.best_iteration", "numeric"]]
    ticks = axes.nth(2).locator("text.tick").all_text_contents()
    assert {"dart", "gbdt"} <= set(ticks)
    page.page.select_option("select[aria-label='Parallel coordinates metric']", "test_auc")
    assert axis_specs() == [*params, ["metrics.test_auc", "numeric"]]
    lines = page.page.locator("#parallel path.pc-line")
    assert lines.count() == len(SWEEP_GRID)

    def last_y(run: str) -> float:
        d = lines.and_(page.page.locator(f"[data-run='{sweep.runs[run]}']")).get_attribute("d")
        assert d is not None
        return float(d.rsplit(",", 1)[1])

    # the highest test_auc ends at the top of the metric's axis, the lowest at its bottom
    assert last_y("sweep-5") < last_y("sweep-2") < last_y("sweep-0")
    top = page.page.eval_on_selector(
        "#parallel g.pc-axis[data-axis='metrics.test_auc'] line.axis",
        "(l) => [Number(l.getAttribute('y1')), Number(l.getAttribute('y2'))]",
    )
    assert last_y("sweep-0") == max(top)
    assert last_y("sweep-5") == min(top)


def test_parallel_coordinates_show_markup_params_as_text(page: Page, ui_server: Any) -> None:
    runs = ui_server.seeded.runs
    page.goto(f"/compare?runs={runs[XSS_NAME]},{runs['alpha']}")
    svg = page.page.locator("#parallel .parallel-svg")
    svg.wait_for()
    assert "params.note" in svg.locator("g.pc-axis").evaluate_all(
        "(gs) => gs.map((g) => g.dataset.axis)"
    )
    assert XSS_NAME in svg.locator("path.pc-line title").first.text_content()
    assert page.page.locator("#parallel img").count() == 0


# ------------------------------------------ acting from the UI: runs, models (issue 21, 3 and 5)

NOTE_TAG = "mlflow.note.content"


def _new_run(url: str, name: str, tags: dict[str, str] | None = None, end: bool = False) -> str:
    """A run of its own (the seeded ones stay as other tests expect them), through the client."""
    with autolog.Client(url) as client:
        run = client.create_run("ui-actions", run_name=name, tags=tags)
        if end:
            client.set_terminated(run.info.run_id)
        client.flush()
        return run.info.run_id


def _stored_run(url: str, run_id: str, token: str | None = None) -> dict[str, Any]:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    answer = httpx.get(f"{url}/api/v1/runs/{run_id}", headers=headers)
    assert answer.status_code == 200, answer.text
    run: dict[str, Any] = answer.json()
    return run


def test_a_runs_description_is_markdown_shown_safely(page: Page, ui_server: Any) -> None:
    run_id = _new_run(ui_server.url, "described")
    page.goto(f"/runs/{run_id}")
    box = page.page.locator("#description")
    box.locator("p.muted:text-is('No description.')").wait_for()
    box.locator("button:text-is('Add a description')").click()
    text = (
        "## Findings\n"
        "The **deeper** trees won, see `depth=8` and [the report](https://example.org/r).\n"
        "<img src=x onerror=alert(1)> and [a trap](javascript:alert(1))\n\n"
        "- one\n- two\n"
    )
    box.locator("textarea").fill(text)
    box.locator("button:text-is('Save')").click()
    shown = box.locator(".markdown")
    shown.wait_for()
    assert _stored_run(ui_server.url, run_id)["data"]["tags"][NOTE_TAG] == text
    assert shown.locator("h4").text_content() == "Findings"
    assert shown.locator("strong").text_content() == "deeper"
    assert shown.locator("code").text_content() == "depth=8"
    assert shown.locator("li").all_text_contents() == ["one", "two"]
    links = shown.locator("a")
    assert links.count() == 1
    assert links.get_attribute("href") == "https://example.org/r"
    assert "<img src=x onerror=alert(1)>" in shown.text_content()  # as text ...
    assert "[a trap](javascript:alert(1))" in shown.text_content()
    assert page.page.locator("main img").count() == 0  # ... never as markup
    # the description is not listed again among the tags
    assert page.page.locator(f"#params tr[data-key='{NOTE_TAG}']").count() == 0

    box.locator("button:text-is('Edit')").click()
    box.locator("textarea").fill("Plain now.")
    box.locator("button:text-is('Save')").click()
    box.locator(".markdown p:text-is('Plain now.')").wait_for()


MARKDOWN_CASES = [
    ("# Title", "<h3>Title</h3>"),
    ("a *b* _c_ snake_case_name", "<p>a <em>b</em> <em>c</em> snake_case_name</p>"),
    ("**<i>x</i>**", "<p><strong>&lt;i&gt;x&lt;/i&gt;</strong></p>"),
    ("1. one\n2. two", "<ol><li>one</li><li>two</li></ol>"),
    ("> quoted\n> on", "<blockquote><p>quoted<br>on</p></blockquote>"),
    ("```\n<script>x</script>\n```", "<pre><code>&lt;script&gt;x&lt;/script&gt;</code></pre>"),
    (
        '<a href="javascript:alert(1)">x</a>',
        '<p>&lt;a href="javascript:alert(1)"&gt;x&lt;/a&gt;</p>',
    ),
]


def test_markdown_is_built_as_nodes_from_a_small_subset(page: Page, ui_server: Any) -> None:
    page.goto("/")
    page.page.wait_for_selector("table.experiments")
    for text, html in MARKDOWN_CASES:
        built = page.page.evaluate(
            """async (text) => {
                const { markdown } = await import("/static/js/markdown.js");
                return markdown(text).innerHTML;
            }""",
            text,
        )
        assert built == html, text
    links = page.page.evaluate(
        """async () => {
            const { markdown } = await import("/static/js/markdown.js");
            return [...markdown("[m](mailto:a@b.c) [d](data:text/html,x)").querySelectorAll("a")]
                .map((a) => a.getAttribute("href"));
        }"""
    )
    assert links == ["mailto:a@b.c"]  # a data: (or javascript:) link stays text


def test_no_script_of_the_ui_parses_html(ui_server: Any) -> None:
    static = Path(autolog.__file__).parent / "server" / "static" / "js"
    sinks = re.compile(r"innerHTML\s*=|outerHTML\s*=|insertAdjacentHTML|document\.write|DOMParser")
    found = [
        f"{path.name}: {line.strip()}"
        for path in static.rglob("*.js")
        for line in path.read_text().splitlines()
        if sinks.search(line)
    ]
    assert found == []


def test_a_runs_tags_are_edited_and_added(page: Page, ui_server: Any) -> None:
    run_id = _new_run(ui_server.url, "tagged", tags={"team": "vision"})
    page.goto(f"/runs/{run_id}")
    row = page.page.locator("#params tr[data-key='team']")
    row.locator("button:text-is('Edit')").click()
    row.locator("input").fill("speech")
    row.locator("button:text-is('Save')").click()
    page.page.locator("#params tr[data-key='team'] td.value .pre:text-is('speech')").wait_for()

    form = page.page.locator("form.tag-add")
    form.locator("input[name='key']").fill("stage")
    form.locator("input[name='value']").fill("<b>candidate</b>")
    form.locator("button").click()
    page.page.locator("#params tr[data-key='stage'] .pre:text-is('<b>candidate</b>')").wait_for()
    tags = _stored_run(ui_server.url, run_id)["data"]["tags"]
    assert (tags["team"], tags["stage"]) == ("speech", "<b>candidate</b>")
    # a refusal of the server is shown as it said it
    page.allowed.append(re.compile("status of 4"))
    form.locator("input[name='key']").fill("../escape")
    form.locator("button").click()
    error = page.page.locator("form.tag-add .action-error")
    error.wait_for()
    assert "key" in error.text_content()


def test_a_run_is_deleted_and_restored_from_its_page(page: Page, ui_server: Any) -> None:
    run_id = _new_run(ui_server.url, "short-lived", end=True)
    page.goto(f"/runs/{run_id}")
    page.page.click(".page-actions button:text-is('Delete run')")
    page.page.click(".page-actions button:text-is('Delete')")
    page.page.locator(".page-actions .deleted-badge").wait_for()
    assert _stored_run(ui_server.url, run_id)["info"]["deleted_time"] is not None
    page.page.click(".page-actions button:text-is('Restore')")
    page.page.locator(".page-actions button:text-is('Delete run')").wait_for()
    assert _stored_run(ui_server.url, run_id)["info"]["deleted_time"] is None


def test_the_model_card_shows_every_files_hash(page: Page, ui_server: Any) -> None:
    page.goto(f"/runs/{ui_server.seeded.runs['alpha']}")
    rows = page.page.locator(".model-card table.hashes tbody tr")
    rows.first.wait_for()
    shown = dict(
        zip(
            rows.locator("td:first-child").all_text_contents(),
            rows.locator("code.hash").all_text_contents(),
            strict=True,
        )
    )
    assert set(shown) == {"model.pkl", "autolog-model.json"}  # the metadata file too
    assert all(re.fullmatch("[0-9a-f]{64}", digest) for digest in shown.values()), shown


def test_a_finished_run_does_not_list_the_internal_tags(page: Page, ui_server: Any) -> None:
    internal = {"autolog.heartbeat": "1700000000000", "autolog.runner": "host:1:2"}
    run_id = _new_run(ui_server.url, "watched", tags={**internal, "team": "x"})
    page.goto(f"/runs/{run_id}")
    page.page.locator("#params tr[data-key='autolog.heartbeat']").wait_for()  # while it runs
    with autolog.Client(ui_server.url) as client:
        client.set_terminated(run_id)
        client.flush()
    page.page.locator(".page-head .status:text-is('FINISHED')").wait_for(timeout=5_000)
    page.page.locator("#params tr[data-key='team']").wait_for()
    for key in internal:
        assert page.page.locator(f"#params tr[data-key='{key}']").count() == 0
    page.goto(f"/runs/{run_id}")  # and when the page is opened after the end
    page.page.locator("#params tr[data-key='team']").wait_for()
    assert page.page.locator("#params tr[data-key='autolog.runner']").count() == 0


def _run_with_model(url: str, name: str) -> str:
    with autolog.Client(url) as client:
        run = client.create_run("ui-actions", run_name=name)
        client.log_model(run.info.run_id, {"weights": [4, 5]})
        client.set_terminated(run.info.run_id)
        client.flush()
        return run.info.run_id


def _versions(url: str, name: str) -> list[dict[str, Any]]:
    answer = httpx.get(f"{url}/api/v1/registered-models/versions", params={"name": name})
    versions: list[dict[str, Any]] = answer.json()["versions"]
    return versions


def test_a_runs_model_is_registered_aliased_and_deleted_from_the_models_page(
    page: Page, ui_server: Any
) -> None:
    run_id = _run_with_model(ui_server.url, "to-register")
    page.goto("/models")
    form = page.page.locator("form.register-form")
    form.locator("input[name='source']").fill(f"runs:/{run_id}/model")
    form.locator("input[name='name']").fill("ui-registered")
    form.locator("button:text-is('Register')").click()
    page.page.wait_for_url(re.compile("/models/ui-registered$"))
    row = page.page.locator("table.versions tr.version[data-version='1']")
    row.wait_for()
    assert [v["source"] for v in _versions(ui_server.url, "ui-registered")] == [
        f"runs:/{run_id}/model"
    ]
    # a run id alone registers its model at "model": the next version
    page.goto("/models")
    form.locator("input[name='source']").fill(run_id)
    form.locator("input[name='name']").fill("ui-registered")
    form.locator("button:text-is('Register')").click()
    page.page.locator("table.versions tr.version[data-version='2']").wait_for()

    # an alias: set, offered as the load line, removed
    row.locator("input[name='alias']").fill("staging")
    row.locator("button:text-is('Set alias')").click()
    row.locator(".alias-chip .badge:text-is('@staging')").wait_for()
    lines = row.locator(".load-lines code").all_text_contents()
    assert lines == [
        'autolog.load_model("models:/ui-registered/1")',
        'autolog.load_model("models:/ui-registered@staging")',
    ]
    assert [v["aliases"] for v in _versions(ui_server.url, "ui-registered")] == [["staging"], []]
    row.locator("button[aria-label='Remove alias staging']").click()
    row.locator(".alias-chip").wait_for(state="detached")
    assert _versions(ui_server.url, "ui-registered")[0]["aliases"] == []

    # a version deleted, after a confirmation in the page
    newest = page.page.locator("table.versions tr.version[data-version='2']")
    newest.locator("button:text-is('Delete')").click()
    newest.locator("button:text-is('Delete version')").click()
    newest.wait_for(state="detached")
    assert [v["version"] for v in _versions(ui_server.url, "ui-registered")] == [1]


def test_a_model_card_offers_to_register_its_model(page: Page, ui_server: Any) -> None:
    run_id = _run_with_model(ui_server.url, "card-register")
    page.goto(f"/runs/{run_id}")
    page.page.locator(".model-card a:text-is('Register…')").click()
    page.page.wait_for_url(re.compile(r"/models\?register="))
    source = page.page.locator("form.register-form input[name='source']")
    assert source.input_value() == f"runs:/{run_id}/model"


def test_a_models_description_tags_and_name_are_edited(page: Page, ui_server: Any) -> None:
    run_id = _run_with_model(ui_server.url, "to-describe")
    with autolog.Client(ui_server.url) as client:
        client.register_model(f"runs:/{run_id}/model", "ui-described")
    page.goto("/models/ui-described")
    described = page.page.locator("section.model-description")
    described.locator("button:text-is('Add a description')").click()
    described.locator("textarea").fill("Trained on **all** the data <script>alert(1)</script>")
    described.locator("button:text-is('Save')").click()
    described.locator(".markdown strong:text-is('all')").wait_for()
    assert "<script>alert(1)</script>" in described.locator(".markdown").text_content()

    tags = page.page.locator("section.model-tags")
    tags.locator("input[name='key']").fill("owner")
    tags.locator("input[name='value']").fill("vision-team")
    tags.locator("button:text-is('Add model tag')").click()
    tags.locator("tr[data-key='owner'] .pre:text-is('vision-team')").wait_for()
    found = httpx.get(
        f"{ui_server.url}/api/v1/registered-models/by-name", params={"name": "ui-described"}
    ).json()
    assert found["tags"] == {"owner": "vision-team"}
    assert found["description"].startswith("Trained on **all**")
    tags.locator("button[aria-label='Delete model tag owner']").click()
    tags.locator("tr[data-key='owner']").wait_for(state="detached")

    # a version's description and tags, under Details
    row = page.page.locator("table.versions tr.version[data-version='1']")
    row.locator("button:text-is('Details')").click()
    details = page.page.locator("tr.version-details[data-version='1']")
    details.locator("button:text-is('Add a description')").click()
    details.locator("textarea").fill("the first one")
    details.locator("button:text-is('Save')").click()
    details.locator(".markdown p:text-is('the first one')").wait_for()
    details.locator("input[name='key']").fill("validated")
    details.locator("input[name='value']").fill("yes")
    details.locator("button:text-is('Add version tag')").click()
    details.locator("tr[data-key='validated']").wait_for()
    (version,) = _versions(ui_server.url, "ui-described")
    assert (version["description"], version["tags"]) == ("the first one", {"validated": "yes"})

    # renamed: the page follows the new name
    page.page.click(".page-head button:text-is('Rename')")
    page.page.fill(".rename-form input", "ui-described-2")
    page.page.click(".rename-form button:text-is('Save')")
    page.page.wait_for_url(re.compile("/models/ui-described-2$"))
    page.page.locator("h1:text-is('ui-described-2')").wait_for()
    # and deleted
    page.page.click(".page-actions button:text-is('Delete model')")
    page.page.click(".page-actions button:text-is('Delete')")
    page.page.wait_for_url(re.compile("/models$"))
    page.page.locator("main table tbody tr").first.wait_for()
    assert "ui-described-2" not in page.page.locator("main table").text_content()


@pytest.fixture
def scoped_server(ui_server: Any, tmp_path: Path) -> Iterator[tuple[str, dict[str, str]]]:
    """A server on the seeded store that needs tokens; its URL and a token of each scope."""
    from servers import ServerProcess

    from autolog.server.tokens import create_token
    from autolog.stores import open_store

    store = open_store(ui_server.store_uri)
    try:
        secrets = {
            scope: create_token(store, f"ui-{scope}-{tmp_path.name}", scope)[0]
            for scope in ("read", "write", "admin")
        }
    finally:
        store.close()
    server = ServerProcess(
        ["--backend-store-uri", ui_server.store_uri, "--port", "0", "--require-token"], tmp_path
    )
    try:
        yield server.url, secrets
    finally:
        server.stop()


def _use_token(page: Page, secret: str) -> None:
    """Give the page a token through the header's control, as a person would."""
    page.page.click("header button.token-button")
    page.page.fill("#token-popover-input", secret)
    page.page.click("#token-popover button:text-is('Use it')")
    page.page.locator("header button.token-button:text-is('Token set')").wait_for()


def test_changes_are_refused_in_the_servers_words_without_the_scope(
    chromium: Any, ui_server: Any, scoped_server: Any
) -> None:
    url, secrets = scoped_server
    run_id = _new_run(ui_server.url, "guarded")
    context = chromium.new_context(viewport={"width": 1280, "height": 900})
    try:
        page = Page(context.new_page(), url)
        page.allowed.append(re.compile("status of 40[13]"))  # the refused requests
        page.goto(f"/runs/{run_id}")
        page.page.wait_for_selector("form.token-form")
        _use_token(page, secrets["read"])
        page.page.locator("h1:text-is('guarded')").wait_for()
        assert page.page.evaluate("sessionStorage.getItem('autolog.token')") == secrets["read"]

        form = page.page.locator("form.tag-add")
        form.locator("input[name='key']").fill("team")
        form.locator("button").click()
        error = form.locator(".action-error")
        error.wait_for()
        assert "has the read scope; this request needs write" in error.text_content()
        page.page.click(".page-actions button:text-is('Delete run')")
        page.page.click(".page-actions button:text-is('Delete')")
        refused = page.page.locator(".page-actions .action-error")
        refused.wait_for()
        assert "has the read scope; this request needs admin" in refused.text_content()
        page.goto("/models")
        # a new page load of the tab keeps it
        page.page.locator("header button.token-button:text-is('Token set')").wait_for()
        register = page.page.locator("form.register-form")
        register.locator("input[name='source']").fill(run_id)
        register.locator("input[name='name']").fill("ui-refused")
        register.locator("button").click()
        register.locator(".action-error").wait_for()
        assert "needs write" in register.locator(".action-error").text_content()

        # a write token tags; deleting still needs admin, and an admin token deletes
        page.goto(f"/runs/{run_id}")
        _use_token(page, secrets["write"])
        form.locator("input[name='key']").fill("team")
        form.locator("input[name='value']").fill("audited")
        form.locator("button").click()
        page.page.locator("#params tr[data-key='team'] .pre:text-is('audited')").wait_for()
        page.page.click(".page-actions button:text-is('Delete run')")
        page.page.click(".page-actions button:text-is('Delete')")
        refused.wait_for()
        assert "has the write scope; this request needs admin" in refused.text_content()
        _use_token(page, secrets["admin"])
        page.page.click(".page-actions button:text-is('Delete run')")
        page.page.click(".page-actions button:text-is('Delete')")
        page.page.locator(".page-actions .deleted-badge").wait_for()
        assert _stored_run(url, run_id, secrets["admin"])["info"]["deleted_time"] is not None
        assert page.errors == []
    finally:
        context.close()


# ------------------------------------ a run's name, tags and description after its end (run edits)


def test_a_finished_run_is_renamed_from_its_page(page: Page, ui_server: Any) -> None:
    run_id = _new_run(ui_server.url, "before-rename", end=True)
    page.goto(f"/runs/{run_id}")
    page.page.locator("h1:text-is('before-rename')").wait_for()
    page.page.click(".page-head button:text-is('Rename')")
    page.page.fill(".rename-form input", "  <i>after</i>  ")
    page.page.click(".rename-form button:text-is('Save')")
    page.page.locator("h1:text-is('<i>after</i>')").wait_for()  # as text, trimmed
    stored = _stored_run(ui_server.url, run_id)["info"]
    assert (stored["run_name"], stored["status"]) == ("<i>after</i>", "FINISHED")
    assert page.page.title() == "<i>after</i> · autolog"
    assert page.page.locator(".crumbs span:text-is('<i>after</i>')").count() == 1

    # a deleted run keeps its name: the server's refusal is shown in the form
    page.allowed.append(re.compile("status of 409"))
    page.page.click(".page-actions button:text-is('Delete run')")
    page.page.click(".page-actions button:text-is('Delete')")
    page.page.locator(".page-actions .deleted-badge").wait_for()
    page.page.click(".page-head button:text-is('Rename')")
    page.page.fill(".rename-form input", "refused")
    page.page.click(".rename-form button:text-is('Save')")
    error = page.page.locator(".rename-form .action-error")
    error.wait_for()
    assert "deleted: restore it to rename it" in error.text_content()
    assert _stored_run(ui_server.url, run_id)["info"]["run_name"] == "<i>after</i>"


def test_a_finished_runs_tags_and_description_are_edited(page: Page, ui_server: Any) -> None:
    run_id = _new_run(ui_server.url, "finished-tags", {"team": "vision", "old": "x"}, end=True)
    page.goto(f"/runs/{run_id}")
    page.page.locator(".page-head .status:text-is('FINISHED')").wait_for()
    row = page.page.locator("#params tr[data-key='team']")
    row.locator("button:text-is('Edit')").click()
    row.locator("input").fill("speech")
    row.locator("button:text-is('Save')").click()
    page.page.locator("#params tr[data-key='team'] .pre:text-is('speech')").wait_for()
    form = page.page.locator("form.tag-add")
    form.locator("input[name='key']").fill("stage")
    form.locator("input[name='value']").fill("final")
    form.locator("button").click()
    page.page.locator("#params tr[data-key='stage'] .pre:text-is('final')").wait_for()
    page.page.locator("#params tr[data-key='old'] button.row-delete").click()
    page.page.locator("#params tr[data-key='stage']").wait_for()
    page.page.wait_for_function("() => !document.querySelector(\"#params tr[data-key='old']\")")
    box = page.page.locator("#description")
    box.locator("button:text-is('Add a description')").click()
    box.locator("textarea").fill("Ended **well**.")
    box.locator("button:text-is('Save')").click()
    box.locator(".markdown strong:text-is('well')").wait_for()

    run = _stored_run(ui_server.url, run_id)
    tags = run["data"]["tags"]
    assert (tags["team"], tags["stage"], tags[NOTE_TAG]) == ("speech", "final", "Ended **well**.")
    assert "old" not in tags
    assert run["info"]["status"] == "FINISHED"
    # autolog's own tags have no buttons: they are not the person's to change
    assert page.page.locator("#params tr.system button").count() == 0

    # once the finished run is deleted, its tags are kept: the refusal is shown in the row
    with autolog.Client(ui_server.url) as client:
        client.delete_run(run_id)
    page.allowed.append(re.compile("status of 409"))
    page.page.locator("#params tr[data-key='team'] button.row-delete").click()
    error = page.page.locator("#params tr[data-key='team'] .action-error")
    error.wait_for()
    assert "deleted" in error.text_content()
    assert _stored_run(ui_server.url, run_id)["data"]["tags"]["team"] == "speech"
