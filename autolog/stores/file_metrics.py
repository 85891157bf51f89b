"""Metric histories of the file store: append-only lines, and a cache of latest values.

A metric line is ``<timestamp> <step> <repr(value)> <crc32>\\n``: the CRC-32 (8 hex digits) of
the text before it lets readers drop a line torn by a crash. ``latest.json`` in the run folder
caches the latest value of each metric and the history size it covers, so ``get_run`` need not
read histories.
"""

from __future__ import annotations

import contextlib
import functools
import os
import zlib
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any, NamedTuple

from autolog.entities import Metric
from autolog.errors import StoreError
from autolog.stores.common import is_newer
from autolog.stores.file_io import (
    O_BINARY,
    dump_json,
    fdatasync,
    naming,
    prepare_key_path,
    read_bytes,
    read_json,
    walk_keys,
    write_all,
    write_atomic,
)

__all__ = [
    "LATEST",
    "append_metrics",
    "latest_values",
    "merge_lines",
    "metric_lines",
    "parse_lines",
]

LATEST = "latest.json"


def metric_lines(metrics: Sequence[Metric]) -> dict[str, tuple[bytes, Metric]]:
    """History lines to append per key, and the batch's latest value of each key."""
    lines: dict[str, list[bytes]] = {}
    latest: dict[str, Metric] = {}
    for metric in metrics:
        try:
            # float.__repr__ gives the shortest text that reads back as the same float, also
            # for numpy scalars whose own repr would be "np.float64(...)".
            value = float(metric.value)
            step, timestamp = int(metric.step), int(metric.timestamp)
        except (TypeError, ValueError, OverflowError) as exc:
            # values are checked before they reach a store: this is a caller's bug
            raise StoreError(f"file store: metric {metric.key!r} holds no number ({exc})") from None
        body = f"{timestamp} {step} {float.__repr__(value)}".encode("ascii")
        lines.setdefault(metric.key, []).append(b"%s %08x\n" % (body, zlib.crc32(body)))
        normal = Metric(metric.key, value, step, timestamp)
        if is_newer(normal, latest.get(metric.key)):
            latest[metric.key] = normal
    return {key: (b"".join(lines[key]), latest[key]) for key in lines}


def merge_lines(
    into: dict[str, tuple[bytes, Metric]], more: Mapping[str, tuple[bytes, Metric]]
) -> None:
    """Add the lines of ``more`` (``metric_lines``) after those of ``into``."""
    for key, (data, latest) in more.items():
        known = into.get(key)
        if known is None:
            into[key] = (data, latest)
        else:
            into[key] = (known[0] + data, latest if is_newer(latest, known[1]) else known[1])


def _parse_line(line: bytes) -> tuple[int, int, float] | None:
    body, space, crc = line.rpartition(b" ")
    if not space or len(crc) != 8:
        return None
    try:
        if int(crc, 16) != zlib.crc32(body):
            return None
        timestamp, step, value = body.split(b" ")
        return int(timestamp), int(step), float(value)
    except ValueError:
        return None


def parse_lines(data: bytes) -> Iterator[tuple[int, int, float]]:
    """The intact lines of a history; a torn or damaged line is skipped, never guessed at."""
    lines = data.split(b"\n")
    for line in lines[:-1]:  # the last piece has no newline: empty, or cut short by a crash
        parsed = _parse_line(line)
        if parsed is not None:
            yield parsed


def _fold(data: bytes, key: str, current: Metric | None) -> Metric | None:
    for timestamp, step, value in parse_lines(data):
        candidate = Metric(key, value, step, timestamp)
        if is_newer(candidate, current):
            current = candidate
    return current


class _Latest(NamedTuple):
    """A cached latest value (None: no intact line yet), and the history bytes it covers."""

    metric: Metric | None
    size: int


def _read_latest(path: Path) -> dict[str, _Latest]:
    # Only a cache: anything missing or odd in it is recomputed from the histories.
    try:
        data = read_json(path) or {}
    except StoreError:
        return {}
    cache = {}
    for key, entry in data.items():
        try:
            size = int(entry["size"])
            metric = None
            if "value" in entry:
                value = float(entry["value"])
                metric = Metric(key, value, int(entry["step"]), int(entry["timestamp"]))
            cache[key] = _Latest(metric, size)
        except (KeyError, TypeError, ValueError):
            continue
    return cache


def _latest_json(cache: Mapping[str, _Latest]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, entry in cache.items():
        record: dict[str, Any] = {"size": entry.size}
        if entry.metric is not None:
            # Values as text: strict JSON has no NaN or infinities, and the text is exact.
            record["value"] = float.__repr__(entry.metric.value)
            record["step"] = entry.metric.step
            record["timestamp"] = entry.metric.timestamp
        out[key] = record
    return out


def _read_range(fd: int, start: int, end: int) -> bytes:
    os.lseek(fd, start, os.SEEK_SET)
    chunks = []
    remaining = end - start
    while remaining > 0:
        chunk = os.read(fd, remaining)
        if not chunk:
            break
        chunks.append(chunk)
        remaining -= len(chunk)
    return b"".join(chunks)


def append_metrics(folder: Path, lines: Mapping[str, tuple[bytes, Metric]]) -> Callable[[], None]:
    """Append each key's lines with one write, then record the new latest values; return what
    takes the batch back out (for a unit of work whose later writes fail; call under the run's
    lock).

    On any failure every history is cut back to its old size, so the batch is all or nothing
    and a retry does not duplicate points.
    """
    latest_path = folder / LATEST
    before = read_bytes(latest_path)
    cache = _read_latest(latest_path)
    opened: list[int] = []
    appended: list[tuple[Path, int]] = []  # (history, its size before this batch)
    try:
        for key, (new_lines, batch_latest) in lines.items():
            path = prepare_key_path(folder / "metrics", key)
            fd = os.open(path, os.O_RDWR | os.O_APPEND | os.O_CREAT | O_BINARY, 0o666)
            opened.append(fd)
            with naming(path):
                size = os.fstat(fd).st_size
                appended.append((path, size))
                entry = cache.get(key)
                if entry is None or entry.size > size:
                    entry = _Latest(None, 0)
                tail = _read_range(fd, entry.size, size) if entry.size < size else b""
                # Lines written after the cache was (by a process that then died) count too.
                current = _fold(tail, key, entry.metric)
                data = new_lines
                if size and _read_range(fd, size - 1, size) != b"\n":
                    data = b"\n" + data  # isolate a line torn by a crash: it stays one bad line
                write_all(fd, data)
                fdatasync(fd)
            if is_newer(batch_latest, current):
                current = batch_latest
            cache[key] = _Latest(current, size + len(data))
        # The cache need not reach the disk: a stale one is corrected from the histories.
        write_atomic(latest_path, dump_json(_latest_json(cache)), sync=False)
    except BaseException:
        _take_back(appended, latest_path, before)
        raise
    finally:
        for fd in opened:
            os.close(fd)
    return functools.partial(_take_back, appended, latest_path, before)


def _take_back(
    appended: Sequence[tuple[Path, int]], latest_path: Path, before: bytes | None
) -> None:
    """Cut histories back to their sizes before a batch, and its cache back to what it was."""
    # Should this fail, readers drop whatever torn line it leaves, and correct the cache.
    for path, size in appended:
        with contextlib.suppress(OSError):
            os.truncate(path, size)
    with contextlib.suppress(OSError):
        if before is None:
            os.unlink(latest_path)
        else:
            write_atomic(latest_path, before, sync=False)


def latest_values(folder: Path) -> dict[str, float]:
    """The latest value of each metric: the cache, checked against each history's size."""
    cache = _read_latest(folder / LATEST)
    values = {}
    for key, path in sorted(walk_keys(folder / "metrics").items()):
        try:
            size = os.stat(path).st_size
        except FileNotFoundError:
            continue
        entry = cache.get(key)
        if entry is None or entry.size > size:
            entry = _Latest(None, 0)
        current = entry.metric
        if entry.size < size:
            with open(path, "rb") as stream:
                stream.seek(entry.size)
                current = _fold(stream.read(size - entry.size), key, current)
        if current is not None:
            values[key] = current.value
    return values
