"""``autolog models serve``: a logged model behind HTTP, as MLflow's scoring server answers.

Example::

    from autolog.serving import ServeSettings, create_app
    import uvicorn

    uvicorn.run(create_app(ServeSettings("models:/churn@prod")), port=5001)

Routes: ``POST /invocations`` (MLflow's JSON bodies or CSV, ``{"predictions": [...]}``
back), ``GET /ping``, ``/health``, ``/version``, ``/metadata``, ``/metrics`` (Prometheus
text), ``/openapi.json``. The modules: ``formats`` (bodies in, predictions out),
``batching`` (concurrent requests in one ``predict``), ``model`` (the served version and
following an alias), ``metrics``, ``openapi``, ``app`` (the routes and the checks).
"""

from __future__ import annotations

from autolog.serving.app import ServeSettings, create_app

__all__ = ["ServeSettings", "create_app"]
