"""The progress bar ``autolog.sync(progress=True)`` draws (``autolog.cli.progress``): the REST
transport only counts, through a ``Progress`` callback."""

from __future__ import annotations

import io

from autolog.cli.progress import sync_progress_bar


def test_the_bar_rewrites_one_line_and_ends_it_once_every_write_is_sent() -> None:
    out = io.StringIO()
    show = sync_progress_bar(out)
    show(1, 4, 250)
    show(4, 4, 1000)
    first, last = out.getvalue().split("\r")[1:]
    assert first == "autolog sync [" + "#" * 7 + "-" * 23 + "] 1/4 writes, 250 values"
    assert last == "autolog sync [" + "#" * 30 + "] 4/4 writes, 1000 values\n"


def test_a_broken_stream_does_not_stop_the_sync() -> None:
    out = io.StringIO()
    out.close()
    sync_progress_bar(out)(1, 2, 3)  # no error: the bar is only a courtesy
