"""``HEAD`` on the web UI's pages answers as ``GET`` does, without the body: against a real
``autolog server`` process (uvicorn), as a monitor or a link checker would ask."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

pytestmark = pytest.mark.server

# what may differ between two answers to the same question
_PER_ANSWER = {"date"}


@pytest.mark.parametrize(
    "path",
    [
        "/",
        "/experiments/0",
        "/runs/abc",
        "/compare?runs=a,b",
        "/models",
        "/models/ui-model",
        "/static/js/app.js",
        "/static/css/app.css",
    ],
)
def test_head_answers_like_get_without_a_body(ui_server: Any, path: str) -> None:
    got = httpx.get(f"{ui_server.url}{path}")
    head = httpx.head(f"{ui_server.url}{path}")
    assert head.status_code == got.status_code == 200
    assert head.content == b""
    assert int(head.headers["content-length"]) == len(got.content)
    same = {k: v for k, v in got.headers.items() if k not in _PER_ANSWER}
    assert {k: v for k, v in head.headers.items() if k not in _PER_ANSWER} == same


def test_head_on_a_missing_page_is_a_404_as_get_is(ui_server: Any) -> None:
    assert httpx.head(f"{ui_server.url}/no-such-page").status_code == 404
    assert httpx.get(f"{ui_server.url}/no-such-page").status_code == 404
