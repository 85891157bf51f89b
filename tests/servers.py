"""Tracking servers for the tests: real processes on free loopback ports.

``ServerProcess`` runs ``autolog server`` (the command users run) and reads the URL it
prints; ``HarnessProcess`` runs ``server_harness.py`` (one process, a fresh store per test).
Both bind 127.0.0.1 only and are stopped by the fixtures that start them.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import httpx

HERE = Path(__file__).resolve().parent
AUTOLOG = str(Path(sys.executable).with_name("autolog"))
_START_TIMEOUT = 60.0


class _Output:
    """Collects a process's output on a thread, so a full pipe never blocks the server."""

    def __init__(self, stream: object) -> None:
        self.lines: list[str] = []
        self._stream = stream
        self._thread = threading.Thread(target=self._read, daemon=True)
        self._thread.start()

    def _read(self) -> None:
        for line in self._stream:  # type: ignore[attr-defined]
            self.lines.append(line)

    @property
    def text(self) -> str:
        return "".join(self.lines)

    def wait_for(self, predicate: object, process: subprocess.Popen[str], what: str) -> str:
        deadline = time.monotonic() + _START_TIMEOUT
        while time.monotonic() < deadline:
            for line in list(self.lines):
                if predicate(line):  # type: ignore[operator]
                    return line
            if process.poll() is not None:
                time.sleep(0.2)  # let the reader thread take the last lines
                break
            time.sleep(0.02)
        raise RuntimeError(f"{what} did not start: {self.text}")


class ServerProcess:
    """``autolog server ARGS --port 0`` in ``cwd``; ``url`` is the URL it printed."""

    def __init__(
        self,
        args: Sequence[str],
        cwd: Path,
        env: dict[str, str] | None = None,
        *,
        wait: bool = True,
    ) -> None:
        full_env = {**os.environ, **(env or {})}
        full_env.pop("AUTOLOG_TRACKING_URI", None)
        self.process = subprocess.Popen(
            [AUTOLOG, "server", *args],
            cwd=cwd,
            env=full_env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        self.stdout = _Output(self.process.stdout)
        self.stderr = _Output(self.process.stderr)
        self.url = ""
        if wait:
            line = self.stdout.wait_for(
                lambda text: text.startswith("autolog tracking server at "),
                self.process,
                f"autolog server {' '.join(args)} ({self.stderr.text})",
            )
            self.url = line.split(" at ", 1)[1].strip()
            wait_until_up(self.url)

    @property
    def port(self) -> int:
        return int(self.url.rsplit(":", 1)[1])

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 30.0) -> int:
        if self.process.poll() is None:
            self.process.send_signal(sig)
        try:
            code = self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            code = self.process.wait(10)
        _close_pipes(self.process)
        return code

    def kill(self) -> None:
        """SIGKILL: the server dies at once, mid-request if it was in one."""
        if self.process.poll() is None:
            self.process.kill()
        self.process.wait(10)
        _close_pipes(self.process)

    def finish(self, timeout: float = 30.0) -> tuple[int, str, str]:
        """Wait for a server that stops by itself; its exit status and output."""
        code = self.process.wait(timeout)
        _close_pipes(self.process)
        return code, self.stdout.text, self.stderr.text


class HarnessProcess:
    """``server_harness.py``: one server process that makes a fresh store per test."""

    def __init__(self, root: Path) -> None:
        self.process = subprocess.Popen(
            [sys.executable, str(HERE / "server_harness.py"), str(root)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        self.stdout = _Output(self.process.stdout)
        self.stderr = _Output(self.process.stderr)
        line = self.stdout.wait_for(
            lambda text: text.startswith("port "), self.process, "the test server harness"
        )
        self.url = f"http://127.0.0.1:{int(line.split()[1])}"
        wait_until_up(self.url, "/_tenants", method="OPTIONS")
        self.client = httpx.Client(base_url=self.url, timeout=30)

    def new_store(self) -> str:
        """The tracking URI of a new, empty store."""
        prefix = self.client.post("/_tenants").json()["prefix"]
        return f"{self.url}{prefix}"

    def drop_store(self, uri: str) -> None:
        self.client.delete(f"/_tenants/{uri.rsplit('/', 1)[-1]}")

    def stop(self) -> None:
        self.client.close()
        self.process.terminate()
        try:
            self.process.wait(30)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(10)
        _close_pipes(self.process)


def _close_pipes(process: subprocess.Popen[str]) -> None:
    """Let the reader threads finish, then close the pipes (no ResourceWarning)."""
    for stream in (process.stdout, process.stderr):
        if stream is not None:
            deadline = time.monotonic() + 5
            while not stream.closed and time.monotonic() < deadline:
                try:
                    stream.close()
                except ValueError:  # the reader thread is in a read: it ends at EOF
                    time.sleep(0.01)
                    continue


def free_port() -> int:
    """A TCP port free on 127.0.0.1 now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextlib.contextmanager
def moto_s3(log: Path) -> Iterator[str]:
    """moto's S3 server in its own process on a free loopback port (a real S3 HTTP API,
    boto3 unchanged), with no bucket yet: its endpoint URL. Its output goes to ``log``."""
    port = free_port()
    with log.open("w") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    endpoint = f"http://127.0.0.1:{port}"
    try:
        wait_until_up(endpoint, "/")
        yield endpoint
    finally:
        process.terminate()
        process.wait(30)


def wait_until_up(url: str, path: str = "/api/v1/health", *, method: str = "GET") -> None:
    deadline = time.monotonic() + _START_TIMEOUT
    while True:
        try:
            httpx.request(method, url + path, timeout=5)
            return
        except httpx.TransportError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.05)


class FaultyProxy:
    """A TCP proxy on 127.0.0.1 in front of a server, that can lose or delay its answers.

    ``lose_answers = n``: the next n answers from the server are dropped and their connection
    closed (the server did the work; the client never hears of it). ``delay = s``: answers
    are held s seconds (a slow server). The tracking URI is ``url``.
    """

    def __init__(self, target: str) -> None:
        self._target = (target.split("//", 1)[1].rsplit(":", 1)[0], int(target.rsplit(":", 1)[1]))
        self.lose_answers = 0
        self.lost = 0
        self.delay = 0.0
        self._lock = threading.Lock()
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self._listener.getsockname()[1]}"
        self._sockets: list[Any] = []
        self._closed = False
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while not self._closed:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            try:
                upstream = socket.create_connection(self._target)
            except OSError:
                client.close()
                continue
            for sock in (client, upstream):
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            self._sockets += [client, upstream]
            threading.Thread(target=self._pipe, args=(client, upstream, False), daemon=True).start()
            threading.Thread(target=self._pipe, args=(upstream, client, True), daemon=True).start()

    def _pipe(self, source: Any, sink: Any, answers: bool) -> None:
        try:
            while data := source.recv(1 << 16):
                if answers:
                    with self._lock:
                        lose = self.lose_answers > 0
                        if lose:
                            self.lose_answers -= 1
                            self.lost += 1
                    if lose:
                        break
                    if self.delay:
                        time.sleep(self.delay)
                sink.sendall(data)
        except OSError:
            pass
        finally:
            for sock in (source, sink):
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)  # wakes the other direction's thread
                with contextlib.suppress(OSError):
                    sock.close()

    def close(self) -> None:
        self._closed = True
        self._listener.close()
        for sock in self._sockets:
            with contextlib.suppress(OSError):
                sock.close()  # type: ignore[attr-defined]
