"""The child's stdout and stderr for ``autolog run``: shown live and copied to a log file.

Each stream the child writes to is a pseudo-terminal where ours is a terminal (so the script
sees ``isatty()`` true, line buffering, colours and terminal width, as under ``python``) and a
pipe otherwise (so it block-buffers exactly as it would when piped). A thread per stream copies
what arrives to our own stream and to the log, byte for byte.
"""

from __future__ import annotations

import contextlib
import errno
import os
import sys
import threading
from typing import BinaryIO

__all__ = ["Tee"]

_BLOCK = 65536


class _Stream:
    """One of the child's output streams: the end it writes to, the end we read from."""

    def __init__(self, target_fd: int) -> None:
        self.target_fd = target_fd
        self.is_pty = _is_terminal(target_fd) and hasattr(os, "openpty")
        if self.is_pty:
            self.read_fd, self.child_fd = os.openpty()
            _configure_pty(self.child_fd, target_fd)
        else:
            self.read_fd, self.child_fd = os.pipe()
        self.passthrough = True
        self.thread: threading.Thread | None = None

    def resize(self) -> None:
        if self.is_pty:
            _copy_window_size(self.target_fd, self.read_fd)


class Tee:
    """Copies the child's stdout and stderr to ours and to ``log`` until both close."""

    def __init__(self, log: BinaryIO) -> None:
        self._log = log
        self._lock = threading.Lock()
        if _same_file(1, 2):
            # `2>&1`, or both on one terminal: one channel keeps the order of their lines.
            self.streams: tuple[_Stream, ...] = (_Stream(1),)
        else:
            self.streams = (_Stream(1), _Stream(2))

    @property
    def child_fds(self) -> tuple[int, int]:
        return self.streams[0].child_fd, self.streams[-1].child_fd

    def start(self) -> None:
        """Close our copies of the child's ends (so EOF comes when the child is gone) and
        start copying."""
        for stream in self.streams:
            os.close(stream.child_fd)
            stream.thread = threading.Thread(
                target=self._pump, args=(stream,), name="autolog-run-tee", daemon=True
            )
            stream.thread.start()

    def resize(self) -> None:
        """The terminal was resized: tell the child's pseudo-terminals."""
        for stream in self.streams:
            stream.resize()

    def join(self, grace: float) -> bool:
        """Wait for both streams to close; ``grace`` seconds at most (a process the script
        forked may keep them open after it exits). True if all output was copied."""
        import time

        deadline = time.monotonic() + grace
        done = True
        for stream in self.streams:
            if stream.thread is not None:
                stream.thread.join(max(0.0, deadline - time.monotonic()))
                done = done and not stream.thread.is_alive()
        return done

    def _pump(self, stream: _Stream) -> None:
        try:
            while True:
                try:
                    data = os.read(stream.read_fd, _BLOCK)
                except OSError as exc:
                    if exc.errno == errno.EINTR:
                        continue
                    break  # EIO: a pseudo-terminal whose every writer has gone
                if not data:
                    break
                with self._lock:
                    self._log.write(data)
                if stream.passthrough and not _write_all(stream.target_fd, data):
                    # Our reader went away (`autolog run x.py | head`): so does the child's,
                    # and its next write fails as it would under plain python.
                    stream.passthrough = False
                    break
        finally:
            os.close(stream.read_fd)


def _write_all(fd: int, data: bytes) -> bool:
    view = memoryview(data)
    while view:
        try:
            written = os.write(fd, view)
        except InterruptedError:
            continue
        except OSError:
            return False
        view = view[written:]
    return True


def _same_file(a: int, b: int) -> bool:
    try:
        first, second = os.fstat(a), os.fstat(b)
    except OSError:
        return False
    return (first.st_dev, first.st_ino, first.st_rdev) == (
        second.st_dev,
        second.st_ino,
        second.st_rdev,
    )


def _is_terminal(fd: int) -> bool:
    try:
        return os.isatty(fd)
    except OSError:
        return False


def _configure_pty(child_fd: int, target_fd: int) -> None:
    """The child's terminal: our terminal's settings and size, with output processing off,
    so that its bytes reach our terminal (and the log) unchanged."""
    if sys.platform == "win32":  # pragma: no cover - no pseudo-terminals there
        return
    import termios

    with contextlib.suppress(termios.error, OSError):
        attributes = termios.tcgetattr(target_fd)
        attributes[1] &= ~termios.OPOST
        termios.tcsetattr(child_fd, termios.TCSANOW, attributes)
    _copy_window_size(target_fd, child_fd)


def _copy_window_size(source_fd: int, target_fd: int) -> None:
    if sys.platform == "win32":  # pragma: no cover
        return
    import fcntl
    import termios

    with contextlib.suppress(OSError):
        size = fcntl.ioctl(source_fd, termios.TIOCGWINSZ, b"\0" * 8)
        fcntl.ioctl(target_fd, termios.TIOCSWINSZ, size)
