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
- ``Guard``: for callbacks the framework calls itself.
- The rule for exceptions: the training exception is thrown into the hook at its ``yield``
  and must propagate; the caller always gets it unchanged. An exception of the integration's
  own code becomes one ``AutologWarning`` (raised under ``AUTOLOG_STRICT=1``) and training
  goes on. See ``autolog.integrations.patching``.
"""

from __future__ import annotations

from autolog.integrations.patching import (
    Call,
    Guard,
    Hook,
    HookGenerator,
    Integration,
    Patcher,
    Settings,
    made_by,
    outermost,
    register,
    typed_options,
)
from autolog.integrations.session import Session, current, training_session

__all__ = [
    "Call",
    "Guard",
    "Hook",
    "HookGenerator",
    "Integration",
    "Patcher",
    "Session",
    "Settings",
    "current",
    "made_by",
    "outermost",
    "register",
    "training_session",
    "typed_options",
]
