"""Property-based checks of the REST API from its own OpenAPI document (schemathesis): no
answer is a 5xx, and every answer keeps to the schema the document declares for it.

Bounded to a few examples per operation so that it stays quick; the server is a real
``autolog server`` process with tokens off (every operation reachable).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("fastapi", reason="the tracking server needs the server extra")
schemathesis = pytest.importorskip("schemathesis")

from hypothesis import HealthCheck, settings  # noqa: E402
from servers import ServerProcess  # noqa: E402

pytestmark = pytest.mark.server

EXAMPLES = 10
# What the issue asks of every answer. Not "a schema-valid request is accepted": the schema
# cannot say every rule (an artifact path with a control character, a run that does not exist),
# and a clear 4xx for those is right.
CHECKS = [
    schemathesis.checks.not_a_server_error,
    schemathesis.checks.status_code_conformance,
    schemathesis.checks.content_type_conformance,
    schemathesis.checks.response_schema_conformance,
    schemathesis.checks.response_headers_conformance,
    schemathesis.checks.allow_header_conformance,
]


@pytest.fixture(scope="module")
def schema_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    root: Path = tmp_path_factory.mktemp("schema")
    server = ServerProcess(
        [
            "--port",
            "0",
            "--backend-store-uri",
            f"sqlite:///{root}/autolog.db",
            "--artifacts-destination",
            str(root / "artifacts"),
            "--max-artifact-size",
            "1MiB",
        ],
        cwd=root,
    )
    try:
        yield server
    finally:
        server.stop()


def _document() -> dict[str, Any]:
    """The OpenAPI document the server serves at /openapi.json (the same app, built here)."""
    from autolog.server.app import create_app
    from autolog.server.settings import ServerSettings

    app = create_app(settings=ServerSettings("memory:", "file:///unused"))
    document: dict[str, Any] = app.openapi()
    return document


@schemathesis.serializer("application/x-autolog-metrics")
def _binary_metrics(ctx: Any, value: Any) -> bytes:
    """Generated bodies of the binary metric form, sent as the bytes they are."""
    data = getattr(value, "data", value)
    return data if isinstance(data, bytes) else str(data).encode()


schema = schemathesis.openapi.from_dict(_document())


@schema.parametrize()
@settings(
    max_examples=EXAMPLES,
    deadline=None,
    suppress_health_check=list(HealthCheck),
    derandomize=True,
)
def test_no_server_error_and_every_answer_keeps_to_its_schema(
    case: Any, schema_server: ServerProcess
) -> None:
    case.call_and_validate(base_url=schema_server.url, checks=CHECKS)
