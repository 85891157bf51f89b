"""Screenshots of every page of the web UI, from the demo runs (`make screenshots`).

    .venv/bin/python docs/screenshots.py [--store examples/autolog-runs/autolog.db]

Starts `autolog server` on the demo store, drives Debian's Chromium headless through the pages
and writes PNGs to docs/images/, which the README shows.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parent.parent
IMAGES = ROOT / "docs" / "images"
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking"]
WIDTH, HEIGHT = 1280, 800


def start_server(store: Path) -> tuple[subprocess.Popen[str], str]:
    """`autolog server` on a free loopback port; the process and the URL it printed."""
    command = Path(sys.executable).with_name("autolog")
    process = subprocess.Popen(
        [str(command), "server", "--backend-store-uri", f"sqlite:///{store}", "--port", "0"],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    assert process.stdout is not None
    url = ""
    deadline = time.monotonic() + 60
    while not url and time.monotonic() < deadline:
        line = process.stdout.readline()
        if not line and process.poll() is not None:
            raise SystemExit("autolog server exited before it printed its URL")
        if " at http" in line:
            url = line.rsplit(" at ", 1)[1].strip().rstrip("/")
    threading.Thread(target=process.stdout.read, daemon=True).start()
    for _ in range(200):
        try:
            httpx.get(f"{url}/api/v1/health", timeout=2)
            break
        except httpx.HTTPError:
            time.sleep(0.05)
    return process, url


def search(url: str, experiment: str, filter_string: str = "") -> list[Any]:
    """Runs of the demo experiment named ``experiment``, through the REST API."""
    experiments = httpx.get(f"{url}/api/v1/experiments").json()["experiments"]
    ids = [e["experiment_id"] for e in experiments if e["name"] == experiment]
    if not ids:
        raise SystemExit(f"no experiment {experiment!r} in the store: run `make demo` first")
    body = {"experiment_ids": ids, "filter": filter_string, "limit": 100}
    runs: list[Any] = httpx.post(f"{url}/api/v1/runs/search-page", json=body).json()["runs"]
    return runs


class Camera:
    """One browser page that takes the screenshots, and the errors the pages logged."""

    def __init__(self, browser: Any, url: str) -> None:
        self.page = browser.new_page(viewport={"width": WIDTH, "height": HEIGHT})
        self.url = url
        self.errors: list[str] = []
        self.page.on("pageerror", lambda e: self.errors.append(str(e)))
        self.page.on("console", lambda m: self.errors.append(m.text) if m.type == "error" else None)

    def shot(
        self,
        name: str,
        path: str,
        ready: str,
        *,
        height: int = HEIGHT,
        full: bool = False,
        before: Callable[[], None] | None = None,
    ) -> None:
        page = self.page
        page.set_viewport_size({"width": WIDTH, "height": height})
        page.goto(f"{self.url}{path}")
        page.wait_for_selector(ready)
        page.wait_for_load_state("networkidle")
        if before is not None:
            before()
            page.wait_for_load_state("networkidle")
        page.wait_for_timeout(300)  # let the last chart settle
        page.screenshot(path=str(IMAGES / f"{name}.png"), full_page=full)
        print(f"docs/images/{name}.png")


def take(camera: Camera, url: str) -> None:
    """Every page, from the demo's learning-rate sweep (examples/sweep.py)."""
    page = camera.page
    parent = next(r for r in search(url, "lr-sweep") if r["info"]["run_name"] == "sweep")
    parent_id, experiment_id = parent["info"]["run_id"], parent["info"]["experiment_id"]
    children = search(url, "lr-sweep", f"attributes.parent_run_id = '{parent_id}'")
    best = parent["data"]["tags"]["best_run"]
    child_ids = ",".join(r["info"]["run_id"] for r in children)

    def expand() -> None:
        page.click("tr:has(a:text-is('sweep')) button.expander")
        page.wait_for_selector("tr.child")

    def open_csv() -> None:
        page.click("button.tree-file[data-path='history.csv']")
        page.wait_for_selector(".preview table")
        page.locator("#artifacts").scroll_into_view_if_needed()

    camera.shot("experiments", "/", "table.experiments a", height=420)
    camera.shot(
        "runs",
        f"/experiments/{experiment_id}",
        "div.vscroll[data-rendered-at]",
        height=600,
        before=expand,
    )
    camera.shot("run", f"/runs/{best}", "figure[data-drawn-at]", height=1150)
    camera.shot(
        "artifacts", f"/runs/{best}", "button.tree-file[data-path='history.csv']", before=open_csv
    )
    camera.shot("compare", f"/compare?runs={child_ids}", "figure[data-drawn-at]", full=True)
    camera.shot("models", "/models", "main table a", height=360)
    camera.shot("model", "/models/lr-sweep-model", "table.versions tbody tr", height=360)


def main() -> None:
    from playwright.sync_api import sync_playwright

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--store", default=str(ROOT / "examples" / "autolog-runs" / "autolog.db"))
    args = parser.parse_args()
    store = Path(args.store).resolve()
    if not store.exists():
        raise SystemExit(f"{store} does not exist: run `make demo` first")
    IMAGES.mkdir(parents=True, exist_ok=True)
    process, url = start_server(store)
    try:
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            camera = Camera(browser, url)
            take(camera, url)
            browser.close()
        if camera.errors:
            raise SystemExit("the pages logged errors:\n" + "\n".join(camera.errors))
    finally:
        process.terminate()
        process.wait(30)


if __name__ == "__main__":
    main()
