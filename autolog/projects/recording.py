"""What recording a run's code, environment and inputs needs of a ``Client``.

A protocol rather than ``autolog.client.Client`` itself: the client calls into these modules
when a run starts (``autolog.autolog(log_code=True)``), so they must not import it back.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, Protocol

__all__ = ["RecordingClient"]


class RecordingClient(Protocol):
    """The part of ``autolog.Client`` that records a run's context."""

    @property
    def tracking_uri(self) -> str: ...

    def set_tags(self, run_id: str, tags: Mapping[str, Any]) -> None: ...

    def record_later(
        self,
        run_id: str,
        produce: Callable[[], tuple[Mapping[str, str], Mapping[str, bytes]]],
        *,
        what: str,
    ) -> None: ...
