"""Framework integrations (installed as ``autolog.integrations``).

Third-party integrations implement ``Integration`` and either call ``register`` or declare an
entry point in the ``autolog.integrations`` group.
"""

from __future__ import annotations

from autolog.integrations.patching import Integration, Patcher, Settings, register

__all__ = ["Integration", "Patcher", "Settings", "register"]
