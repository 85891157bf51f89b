"""``autolog()``: record every training of the installed frameworks, or stop doing so."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from autolog.errors import IntegrationError, InvalidInputError

__all__ = ["ENTRY_POINT_GROUP", "autolog"]

#: the entry-point group naming every integration, autolog's own (see pyproject.toml) and
#: third parties' alike: ``<name> = "module:INTEGRATION_OBJECT"``
ENTRY_POINT_GROUP = "autolog.integrations"
_discovered = False


def autolog(
    *,
    log_models: bool = True,
    exclusive: bool = False,
    silent: bool = False,
    disable: bool = False,
    integrations: Iterable[str] | None = None,
    log_system_metrics: bool = False,
    system_metrics_interval: float = 10.0,
    log_code: bool = False,
    **framework_options: Mapping[str, Any],
) -> None:
    """Record the training of every installed framework, with no other change to your code.

    Works whether the frameworks are imported before or after the call. Calling it again
    reconfigures; ``disable=True`` restores the original functions exactly.

    Args:
        log_models: log each trained model (loadable with ``autolog.load_model``).
        exclusive: never log into a run you started; record into a nested child run instead.
        silent: no warning when autolog fails to record something (training goes on anyway).
        disable: turn the selected integrations off and undo their patches.
        integrations: names to act on (default: all known ones, e.g. ``["sklearn"]``).
        log_system_metrics: sample this process's CPU and memory, the machine's memory, disk
            and network I/O and its NVIDIA GPUs into every top-level run started from now on,
            as ``system/...`` metrics (needs the ``system`` extra: psutil, nvidia-ml-py).
        system_metrics_interval: seconds between those samples.
        log_code: record the code (commit, uncommitted diff, untracked files, command line)
            and the environment (every installed package, pinned) of every top-level run
            started from now on, so that ``autolog rerun`` can run it again.
        **framework_options: per-integration options, e.g. ``sklearn={"max_tuning_runs": 3}``.

    Example::

        import autolog
        autolog.autolog()
        LogisticRegression().fit(X, y)      # recorded as a run with params, metrics, model
    """
    for option, value in (
        ("log_models", log_models),
        ("exclusive", exclusive),
        ("silent", silent),
        ("disable", disable),
        ("log_system_metrics", log_system_metrics),
        ("log_code", log_code),
    ):
        if not isinstance(value, bool):
            raise InvalidInputError(f"autolog({option}=...) takes True or False, not {value!r}")
    from autolog import system_metrics

    interval = system_metrics.check_interval(system_metrics_interval, "system_metrics_interval")
    from autolog.integrations import patching

    _load_integrations(patching)
    known = patching.registered()
    if integrations is None:
        selected = list(known)
    elif isinstance(integrations, str):
        raise InvalidInputError(f"integrations must be a list of names, not {integrations!r}")
    else:
        selected = list(integrations)
    unknown = [name for name in [*selected, *framework_options] if name not in known]
    if unknown:
        raise InvalidInputError(
            f"unknown integration(s) {', '.join(map(repr, unknown))}; known: {', '.join(known)}"
        )
    prepared = {}
    for name in selected:
        raw = framework_options.get(name, {})
        if not isinstance(raw, Mapping):
            raise InvalidInputError(f"autolog({name}=...) takes a dict of options, not {raw!r}")
        options = known[name].make_options(dict(raw))
        prepared[name] = patching.Settings(log_models, exclusive, silent, disable, options)
    # psutil missing fails here, before any integration is configured
    system_metrics.follow_runs(
        interval if log_system_metrics and not disable else None, silent=silent
    )
    for name, settings in prepared.items():
        patching.configure(name, settings)
    from autolog.projects import capture

    capture.set_logging_code(log_code and not disable)
    from autolog import lifecycle

    # from the main thread: runs started by any thread get flushed on SIGTERM
    lifecycle.install_signal_handler()


def _load_integrations(patching: Any) -> None:
    """Register, once, every integration of the entry-point group."""
    global _discovered
    if _discovered:
        return
    from importlib.metadata import entry_points

    for entry in entry_points(group=ENTRY_POINT_GROUP):
        try:
            integration = entry.load()
        except Exception as exc:
            raise IntegrationError(
                entry.name, f"entry point {entry.value!r} failed: {exc}"
            ) from exc
        if getattr(integration, "name", None) != entry.name:
            raise IntegrationError(
                entry.name, f"entry point names integration {getattr(integration, 'name', None)!r}"
            )
        patching.register(integration)
    _discovered = True  # only once every entry point registered: a broken one fails each call
