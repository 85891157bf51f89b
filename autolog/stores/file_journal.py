"""Params and tags of the file store: one append-only journal per run, shown as files.

A run's ``journal`` holds its params and tags, one line per value, in the order they were
stored::

    ["journal", 1] 886f0e11
    ["tag", "team", "vision"] 9bba46dd
    ["param", "lr", "0.01"] fa3ae133
    ["untag", "autolog.presumed_killed"] fce3aac1

a JSON array (kind, key, value), a space and the CRC-32 of the array's text (8 hex digits), so
that a line torn by a crash is dropped on read, never guessed at. The lines of a unit of work
(a batch, or a whole short run) are appended with one write and one fdatasync: that one durable
write stores all its params and tags. A param keeps its first value; a tag its last, until an
``untag`` line removes it.

``params/<key>`` and ``tags/<key>``, one file per key holding its value, show the journal to
people (``ls``, ``cat``, ``grep``). They are written after it, without syncing, and ``.view``
holds how many bytes of the journal they show, so files that a crash left out of date are
brought up to date by the run's next write or its end. A write spends a bounded time on them,
so that thousands of params a second never hold up the next batch's durable write (the rest
follows with the next writes, all of it at the run's end). Readers take values from the
journal, which wins wherever the two disagree.

A journal begun with its run's creation starts with the ``["journal", 1]`` line: all of that
run's params and tags are in it. A run stored before journals existed keeps its files; its journal,
begun by its first write since, adds to them and overrides them.
"""

from __future__ import annotations

import contextlib
import functools
import json
import os
import time
import zlib
from collections import OrderedDict
from collections.abc import Callable, Iterable
from pathlib import Path

from autolog.stores.file_io import (
    O_BINARY,
    fdatasync,
    fsync_dir,
    key_path,
    naming,
    prepare_key_path,
    read_text,
    unlink_quietly,
    walk_keys,
    write_all,
    write_atomic,
    write_files,
)

__all__ = [
    "HEADER",
    "JOURNAL",
    "Entry",
    "Journal",
    "JournalCache",
    "append",
    "encode",
    "read_journal",
    "run_values",
    "update_view",
]

JOURNAL = "journal"
_VIEW = ".view"
_VIEW_PIECE = 64  # journal lines shown per piece; the time limit is checked between pieces
_FORMAT = 1

#: (kind, key, value): kind "param", "tag" or "untag" (value None)
Entry = tuple[str, str, str | None]


def _line(record: list[object]) -> bytes:
    # ensure_ascii=False keeps the text readable; JSON escapes every control character, so
    # a line never holds a newline of its own.
    body = json.dumps(record, ensure_ascii=False).encode("utf-8", "surrogatepass")
    return b"%s %08x\n" % (body, zlib.crc32(body))


#: The first line of a journal that holds all its run's params and tags.
HEADER = _line([JOURNAL, _FORMAT])


def encode(entries: Iterable[Entry]) -> bytes:
    """Journal lines for ``entries``."""
    return b"".join(
        _line([kind, key] if value is None else [kind, key, value]) for kind, key, value in entries
    )


def _parse_line(line: bytes) -> Entry | None:
    body, space, crc = line.rpartition(b" ")
    if not space or len(crc) != 8:
        return None
    try:
        if int(crc, 16) != zlib.crc32(body):
            return None
        record = json.loads(body.decode("utf-8", "surrogatepass"))
    except ValueError:
        return None
    if not isinstance(record, list) or not record or not isinstance(record[0], str):
        return None
    kind = record[0]
    if kind == JOURNAL:
        return (kind, "", None)
    if kind in ("param", "tag") and len(record) == 3:
        key, value = record[1], record[2]
        if isinstance(key, str) and isinstance(value, str):
            return (kind, key, value)
    elif kind == "untag" and len(record) == 2 and isinstance(record[1], str):
        return (kind, record[1], None)
    return None  # damaged, or of a later version: skipped


def _parse(data: bytes) -> tuple[list[Entry], int]:
    """The intact lines of ``data``, and how many of its bytes are whole lines (the piece
    after the last newline is a line still being written, or cut short by a crash)."""
    whole = data.rfind(b"\n") + 1
    entries = []
    for line in data[:whole].split(b"\n")[:-1]:
        entry = _parse_line(line)
        if entry is not None:
            entries.append(entry)
    return entries, whole


class Journal:
    """What a run's journal holds up to ``size`` (a line boundary)."""

    __slots__ = ("complete", "identity", "params", "removed", "size", "started", "tags")

    def __init__(self, identity: tuple[int, int] | None = None) -> None:
        self.params: dict[str, str] = {}
        self.tags: dict[str, str] = {}
        self.removed: set[str] = set()  # tags an untag line removed (from the files too)
        self.size = 0
        self.started = False
        self.complete = False  # begun with the run: the files need not be read
        self.identity = identity  # (device, inode) of the journal read

    def feed(self, data: bytes) -> list[Entry]:
        """Take in what follows ``size`` in the journal; return its intact entries."""
        entries, whole = _parse(data)
        for kind, key, value in entries:
            if not self.started:
                self.started = True
                self.complete = kind == JOURNAL
            if value is None:
                if kind == "untag":
                    self.tags.pop(key, None)
                    self.removed.add(key)
            elif kind == "param":
                self.params.setdefault(key, value)  # a param never changes: the first stays
            else:
                self.tags[key] = value
                self.removed.discard(key)
        self.size += whole
        return entries

    def param(self, folder: Path, key: str) -> str | None:
        """The stored value of param ``key`` (journal first, then a file it does not cover)."""
        value = self.params.get(key)
        if value is None and not self.complete:
            value = read_text(key_path(folder / "params", key))
        return value

    def tag(self, folder: Path, key: str) -> str | None:
        """The stored value of tag ``key``, as ``param`` finds it."""
        value = self.tags.get(key)
        if value is None and not self.complete and key not in self.removed:
            value = read_text(key_path(folder / "tags", key))
        return value


def _read_from(path: Path, start: int) -> tuple[bytes, tuple[int, int] | None]:
    """The bytes of ``path`` from ``start`` on, and the file's identity (None: no file, or
    one shorter than ``start``, which this journal never was: read it again from the start)."""
    try:
        fd = os.open(path, os.O_RDONLY | O_BINARY)
    except FileNotFoundError:
        return b"", None
    try:
        with naming(path):
            stat = os.fstat(fd)
            identity = (stat.st_dev, stat.st_ino)
            if stat.st_size < start:
                return b"", None
            if stat.st_size == start:
                return b"", identity
            os.lseek(fd, start, os.SEEK_SET)
            chunks = []
            while chunk := os.read(fd, max(stat.st_size - start, 1 << 16)):
                chunks.append(chunk)
            return b"".join(chunks), identity
    finally:
        os.close(fd)


def read_journal(folder: Path) -> Journal:
    """The journal of the run in ``folder``, read whole (an empty one if it has none)."""
    data, identity = _read_from(folder / JOURNAL, 0)
    journal = Journal(identity)
    journal.feed(data)
    return journal


def _read_values(base: Path) -> dict[str, str]:
    """The values of the files under ``base`` (``params`` or ``tags`` of a run)."""
    values = {}
    for key, path in sorted(walk_keys(base).items()):
        text = read_text(path)
        if text is not None:
            values[key] = text
    return values


def run_values(folder: Path) -> tuple[dict[str, str], dict[str, str]]:
    """The params and tags of the run in ``folder``, for readers (no lock needed)."""
    journal = read_journal(folder)
    if not journal.complete:
        # Files written before journals existed, and then the journal again: a file is written
        # after its journal line, so every file read here is covered by what the journal holds
        # by now, and the journal's values win.
        params = _read_values(folder / "params")
        tags = _read_values(folder / "tags")
        data, identity = _read_from(folder / JOURNAL, journal.size)
        if identity == journal.identity:
            journal.feed(data)
        else:  # begun meanwhile (the run's first write since journals exist)
            journal = read_journal(folder)
        for key in journal.removed:
            tags.pop(key, None)
        params.update(journal.params)
        tags.update(journal.tags)
        return dict(sorted(params.items())), dict(sorted(tags.items()))
    return dict(sorted(journal.params.items())), dict(sorted(journal.tags.items()))


def append(folder: Path, data: bytes) -> Callable[[], None]:
    """Append journal lines with one write, and make them durable (one fdatasync); return what
    takes them back out (for a unit of work whose later writes fail; call under the run's lock).

    The journal only ever grows otherwise: a write cut short leaves a torn line, which readers
    drop, and which the next append sets apart with a newline of its own.
    """
    path = folder / JOURNAL
    fd = os.open(path, os.O_RDWR | os.O_APPEND | os.O_CREAT | O_BINARY, 0o666)
    size = 0
    try:
        with naming(path):
            size = os.fstat(fd).st_size
            if size:
                os.lseek(fd, size - 1, os.SEEK_SET)
                if os.read(fd, 1) != b"\n":
                    data = b"\n" + data
            write_all(fd, data)
            fdatasync(fd)
    except BaseException:
        with contextlib.suppress(OSError):
            os.ftruncate(fd, size)  # should this fail too, readers drop the torn line
        raise
    finally:
        os.close(fd)
    if not size:
        fsync_dir(folder)  # a new journal: its name must last as long as its lines
    return functools.partial(_cut, path, size)


def _cut(path: Path, size: int) -> None:
    # An empty journal reads as none: a run created by a unit taken back is no run.
    with contextlib.suppress(OSError):
        os.truncate(path, size)


def update_view(folder: Path, journal: Journal, seconds: float | None = None) -> None:
    """Bring the ``params`` and ``tags`` files up to ``journal`` (read up to date, under the
    run's lock): write what the journal holds beyond what they show, for about ``seconds``
    at most (None: all of it; at least one piece of ``_VIEW_PIECE`` lines in any case)."""
    text = read_text(folder / _VIEW)
    shown = int(text) if text is not None and text.strip().isdigit() else 0
    if shown == journal.size:
        return
    if shown > journal.size:
        shown = 0  # not written for this journal: show all of it again
    data, _ = _read_from(folder / JOURNAL, shown)
    lines = data[: journal.size - shown].split(b"\n")[:-1]
    deadline = None if seconds is None else time.monotonic() + seconds
    for start in range(0, len(lines), _VIEW_PIECE):
        piece = lines[start : start + _VIEW_PIECE]
        _show(folder, piece)
        shown += sum(len(line) + 1 for line in piece)
        if deadline is not None and time.monotonic() >= deadline:
            break
    write_atomic(folder / _VIEW, b"%d\n" % shown, sync=False)


def _show(folder: Path, lines: list[bytes]) -> None:
    """Write the files that show journal ``lines``."""
    params: dict[str, str] = {}
    tags: dict[str, str | None] = {}
    for line in lines:
        entry = _parse_line(line)
        if entry is None:
            continue
        kind, key, value = entry
        if kind == "param" and value is not None:
            params.setdefault(key, value)
        elif kind in ("tag", "untag"):
            tags[key] = value
    writes = [(prepare_key_path(folder / "params", k), v) for k, v in params.items()]
    writes += [(prepare_key_path(folder / "tags", k), v) for k, v in tags.items() if v is not None]
    write_files(writes, sync=False)
    for key, value in tags.items():
        if value is None:
            unlink_quietly(key_path(folder / "tags", key))


class JournalCache:
    """The journals of the last few runs this process wrote, each read once and then only its
    new lines (other processes may append to a run between two of our writes)."""

    def __init__(self, size: int = 32) -> None:
        self._size = size
        self._journals: OrderedDict[Path, Journal] = OrderedDict()

    def current(self, folder: Path) -> Journal:
        """The run's journal as it is now; call under the run's lock."""
        journal = self._journals.pop(folder, None)
        start = 0 if journal is None else journal.size
        data, identity = _read_from(folder / JOURNAL, start)
        if journal is None or identity != journal.identity:
            if start:  # another journal in its place (a purged run's id used again)
                data, identity = _read_from(folder / JOURNAL, 0)
            journal = Journal(identity)
        journal.feed(data)
        self._journals[folder] = journal
        while len(self._journals) > self._size:
            self._journals.popitem(last=False)
        return journal

    def forget(self, folder: Path) -> None:
        self._journals.pop(folder, None)
