"""autolog: record machine-learning training with one line.

Example::

    import autolog

    with autolog.start_run(run_name="baseline"):
        autolog.log_params({"lr": 0.01, "epochs": 3})
        for epoch in range(3):
            autolog.log_metric("loss", 1.0 / (epoch + 1), step=epoch)

    autolog.search_runs(filter_string="metrics.loss < 0.5")
"""

from __future__ import annotations

from autolog.autologging import autolog
from autolog.client import Client
from autolog.entities import (
    Experiment,
    FileInfo,
    Metric,
    ModelVersion,
    Param,
    Run,
    RunData,
    RunInfo,
    RunStatus,
    RunTag,
)
from autolog.errors import (
    AutologError,
    AutologWarning,
    IncompleteModelError,
    IntegrationError,
    InvalidFilterError,
    InvalidInputError,
    InvalidKeyError,
    InvalidURIError,
    InvalidValueError,
    ModelIntegrityError,
    NotFoundError,
    ParamCollisionError,
    RunStateError,
    StoreError,
    StoreUnavailableError,
    UnsafePathError,
)
from autolog.runs import (
    ActiveRun,
    active_run,
    delete_run,
    download_artifacts,
    end_run,
    flush,
    get_experiment_name,
    get_metric_history,
    get_run,
    get_tracking_uri,
    last_active_run,
    list_artifacts,
    load_model,
    log_artifact,
    log_artifacts,
    log_metric,
    log_metrics,
    log_model,
    log_param,
    log_params,
    register_model,
    restore_run,
    search_runs,
    set_experiment,
    set_model_alias,
    set_tag,
    set_tags,
    set_tracking_uri,
    start_run,
    sync,
)

__version__ = "0.1.0"

__all__ = [
    "ActiveRun",
    "AutologError",
    "AutologWarning",
    "Client",
    "Experiment",
    "FileInfo",
    "IncompleteModelError",
    "IntegrationError",
    "InvalidFilterError",
    "InvalidInputError",
    "InvalidKeyError",
    "InvalidURIError",
    "InvalidValueError",
    "Metric",
    "ModelIntegrityError",
    "ModelVersion",
    "NotFoundError",
    "Param",
    "ParamCollisionError",
    "Run",
    "RunData",
    "RunInfo",
    "RunStateError",
    "RunStatus",
    "RunTag",
    "StoreError",
    "StoreUnavailableError",
    "UnsafePathError",
    "__version__",
    "active_run",
    "autolog",
    "delete_run",
    "download_artifacts",
    "end_run",
    "flush",
    "get_experiment_name",
    "get_metric_history",
    "get_run",
    "get_tracking_uri",
    "last_active_run",
    "list_artifacts",
    "load_model",
    "log_artifact",
    "log_artifacts",
    "log_metric",
    "log_metrics",
    "log_model",
    "log_param",
    "log_params",
    "register_model",
    "restore_run",
    "search_runs",
    "set_experiment",
    "set_model_alias",
    "set_tag",
    "set_tags",
    "set_tracking_uri",
    "start_run",
    "sync",
]
