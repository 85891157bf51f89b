"""Drawing the progress of ``autolog.sync`` for people; the transport only counts.

``autolog.stores.rest.sync`` reports its progress through a ``Progress`` callback (writes
sent, writes in all, values sent) and draws nothing. This module draws it as one line of text
rewritten in place, for ``autolog.sync(progress=True)``. It needs no click, so the core's
``sync`` draws a bar without the ``cli`` extra installed; ``autolog sync`` draws click's own.

Example::

    from autolog.stores.rest import sync

    sync(progress=sync_progress_bar())
"""

from __future__ import annotations

import contextlib
import sys
from typing import TextIO

from autolog.stores.spool import Progress

__all__ = ["sync_progress_bar"]

_WIDTH = 30


def sync_progress_bar(stream: TextIO | None = None) -> Progress:
    """A ``Progress`` that draws a bar on ``stream`` (stderr by default): writes sent of all,
    and values among them; the line ends once every write is sent."""
    out = stream or sys.stderr

    def show(done: int, total: int, values: int) -> None:
        filled = _WIDTH * done // max(total, 1)
        bar = "#" * filled + "-" * (_WIDTH - filled)
        end = "\n" if done >= total else ""
        # A closed or broken stream must not stop the sync: the bar is only a courtesy.
        with contextlib.suppress(Exception):
            out.write(f"\rautolog sync [{bar}] {done}/{total} writes, {values} values{end}")
            out.flush()

    return show
