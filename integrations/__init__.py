"""Framework integrations (installed as ``autolog.integrations``), and the contract they share.

Everything a framework author needs is exported here; ``docs/integrations.md`` walks through
writing one. Built-in integrations are declared like third-party ones: an entry point in the
``autolog.integrations`` group names the ``Integration`` object, and one in ``autolog.flavors``
names each model flavor, so the core finds them without naming any.

- ``Integration``: ``name``, ``framework``, ``make_options(dict)`` and ``patch(Patcher)``.
- ``Patcher.wrap(owner, name, hook)``: a ``Hook`` is called with the ``Call`` and returns a
  ``HookGenerator`` that yields ``(args, kwargs)`` once; ``Patcher.observe`` is the light path
  for calls made many times a second; ``Patcher.when_imported`` patches submodules lazily.
- ``outermost(call, *packages)`` and ``training_session(call)``: the outermost training call
  gets a session and a run, ended FINISHED or FAILED by the ``with`` block.
- ``CallbackFirewall``: for callbacks the framework calls itself.
- ``current_settings(name)``: what ``autolog()`` gave another integration (is it on?);
  ``training_scores``: the training scores of an estimator that follows scikit-learn's API.
- The rule for exceptions: the training exception is thrown into the hook at its ``yield``
  and must propagate; the caller always gets it unchanged. An exception of the integration's
  own code becomes one ``AutologWarning`` (raised under ``AUTOLOG_STRICT=1``) and training
  goes on. See ``autolog.integrations.patching``.
"""

from __future__ import annotations

from typing import Any

from autolog.integrations.patching import (
    Call,
    CallbackFirewall,
    Hook,
    HookGenerator,
    Integration,
    Patcher,
    Settings,
    current_settings,
    made_by,
    outermost,
    register,
    typed_options,
)
from autolog.integrations.session import Session, current, training_session

__all__ = [
    "Call",
    "CallbackFirewall",
    "Hook",
    "HookGenerator",
    "Integration",
    "Patcher",
    "Session",
    "Settings",
    "current",
    "current_settings",
    "made_by",
    "outermost",
    "register",
    "training_scores",
    "training_session",
    "typed_options",
]


def training_scores(estimator: Any, X: Any, y: Any, sample_weight: Any = None) -> dict[str, float]:
    """The training scores of a fitted estimator that follows scikit-learn's API: classifiers
    ``training_accuracy``, ``training_precision``, ``training_recall``, ``training_f1``,
    ``training_log_loss`` and ``training_roc_auc`` (where defined), regressors
    ``training_mse``, ``training_rmse``, ``training_mae``, ``training_r2``; others none.
    One prediction on ``X`` (NumPy and scikit-learn are imported on the first call)."""
    from autolog.integrations import _scores

    return _scores.training_scores(estimator, X, y, sample_weight)
