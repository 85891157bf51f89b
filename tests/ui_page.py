"""A browser page for the web UI's tests: every console error or warning, uncaught exception
and dialog the page shows is kept, and ``watched_page`` fails the test on any of them (a
dialog means a page ran script that came from stored data)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

TIMEOUT = 15_000  # ms: a page that has not shown what it should by then has failed


class WatchedPage:
    """A Playwright page on the UI server that records console errors, page errors and
    dialogs (``allowed``: console messages a test expects)."""

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

    def texts(self, selector: str) -> list[str]:
        texts: list[str] = self.page.locator(selector).all_text_contents()
        return [t.strip() for t in texts]


@contextmanager
def watched_page(chromium: Any, wrap: Any, base: str) -> Iterator[Any]:
    """A new page (``wrap(page, base)``, a ``WatchedPage``) in a context of its own, closed
    afterwards; the test fails on any error or dialog the page showed."""
    context = chromium.new_context(viewport={"width": 1280, "height": 900})
    wrapped = wrap(context.new_page(), base)
    try:
        yield wrapped
        assert wrapped.errors == [], wrapped.errors
        assert wrapped.dialogs == [], f"a page ran script from stored data: {wrapped.dialogs}"
    finally:
        context.close()
