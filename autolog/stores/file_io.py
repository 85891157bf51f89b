"""File primitives of the file store: file names for keys, atomic writes, reads.

Keys, names and aliases become file names through ``encode_name``: ``[a-z0-9_.-]`` stay as
they are, an upper-case letter ``X`` is written ``^x`` (so that keys differing only in case stay
apart on case-insensitive file systems), any other byte of the UTF-8 text is ``%XX``. A key's
``/`` separates folders, and folders end in ``.d`` (``train/loss`` is ``train.d/loss``), so the
keys ``a`` and ``a/b`` can both exist. A segment whose encoding would be too long for a file
name is stored under ``~<sha256>``, with its text in a hidden file ``.~<sha256>`` beside it.

Every file is replaced atomically (temporary file, fsync, rename; no fsync for files that
something durable rebuilds), so readers never see half of one; names starting with ``.`` are
temporary or hidden files and never data.
"""

from __future__ import annotations

import contextlib
import errno
import functools
import hashlib
import json
import os
import secrets
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any, ParamSpec, TypeVar

from autolog.errors import AutologError, StoreError, StoreUnavailableError, is_transient

__all__ = [
    "O_BINARY",
    "decode_name",
    "dump_json",
    "encode_name",
    "ensure_dir",
    "errnos",
    "fdatasync",
    "fsync_dir",
    "guarded",
    "key_path",
    "naming",
    "prepare_key_path",
    "publish_exclusive",
    "read_bytes",
    "read_json",
    "read_text",
    "store_error",
    "store_errors",
    "temp_beside",
    "unlink_quietly",
    "walk_keys",
    "write_all",
    "write_atomic",
    "write_files",
    "write_new",
]

_P = ParamSpec("_P")
_T = TypeVar("_T")

# File names stay well under the usual 255-byte limit, leaving room for ".d" and ".json".
_MAX_NAME = 200
_LITERAL = frozenset(b"abcdefghijklmnopqrstuvwxyz0123456789_-.")
_HEX = frozenset("0123456789ABCDEF")
# Device names that Windows refuses as file names, whatever the extension.
_RESERVED = frozenset(
    ["con", "prn", "aux", "nul"] + [f"{p}{i}" for p in ("com", "lpt") for i in range(1, 10)]
)
O_BINARY: int = getattr(os, "O_BINARY", 0)  # Windows would otherwise translate newlines
fdatasync: Callable[[int], None] = getattr(os, "fdatasync", os.fsync)


def errnos(names: str) -> frozenset[int]:
    return frozenset(getattr(errno, name) for name in names.split() if hasattr(errno, name))


# os.link fails with these where the file system has no hard links (FAT, some network mounts).
_NO_HARD_LINKS = errnos("EPERM EXDEV EMLINK ENOTSUP EOPNOTSUPP ENOSYS EINVAL")


# ----------------------------------------------------------------------------------- errors


def guarded(method: Callable[_P, _T]) -> Callable[_P, _T]:
    """Turn file-system failures into ``StoreError``s; autolog's own errors pass through."""

    @functools.wraps(method)
    def wrapper(*args: _P.args, **kwargs: _P.kwargs) -> _T:
        with store_errors():
            return method(*args, **kwargs)

    return wrapper


@contextlib.contextmanager
def store_errors() -> Iterator[None]:
    """``guarded`` for a block."""
    try:
        yield
    except AutologError:
        raise
    except OSError as exc:
        raise store_error(exc) from exc
    except ValueError as exc:  # undecodable text in a file someone edited
        raise StoreError(f"file store: unreadable data ({exc})") from exc


def store_error(exc: OSError) -> StoreError:
    """The error for a failed file-system call, naming the file; worth a retry (unavailable)
    where the one transient policy (``errors.is_transient``) says so."""
    path = exc.filename if exc.filename is not None else "?"
    reason = exc.strerror or str(exc)
    kind = StoreUnavailableError if is_transient(exc) else StoreError
    return kind(f"file store: {reason}: {path}")


# ------------------------------------------------------------------------------- file names


def encode_name(text: str) -> str:
    """A file name for ``text``, unique even where the file system ignores case."""
    parts = []
    for byte in text.encode("utf-8", "surrogatepass"):
        if byte in _LITERAL:
            parts.append(chr(byte))
        elif 0x41 <= byte <= 0x5A:  # A-Z
            parts.append("^" + chr(byte + 0x20))
        else:
            parts.append(f"%{byte:02X}")
    if not parts:
        return "%%"
    # No leading dot (hidden, '.', '..'), no trailing dot (Windows drops it), never ending in
    # ".d", which marks a folder.
    if parts[0] == ".":
        parts[0] = "%2E"
    if parts[-1] == ".":
        parts[-1] = "%2E"
    if len(parts) >= 2 and parts[-2:] == [".", "d"]:
        parts[-2] = "%2E"
    if "".join(parts).split(".")[0] in _RESERVED:
        parts[0] = f"%{ord(parts[0]):02X}"
    name = "".join(parts)
    if len(name) > _MAX_NAME:
        return "~" + hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()
    return name


def decode_name(name: str) -> str | None:
    """The text ``encode_name`` made ``name`` from; None for names it cannot have made."""
    if name == "%%":
        return ""
    out = bytearray()
    i = 0
    while i < len(name):
        char = name[i]
        if char == "%":
            digits = name[i + 1 : i + 3]
            if len(digits) != 2 or not _HEX.issuperset(digits):
                return None
            out.append(int(digits, 16))
            i += 3
        elif char == "^":
            letter = name[i + 1 : i + 2]
            if not ("a" <= letter <= "z"):
                return None
            out.append(ord(letter) - 0x20)
            i += 2
        elif ord(char) < 128 and ord(char) in _LITERAL:
            out.append(ord(char))
            i += 1
        else:
            return None
    try:
        return out.decode("utf-8", "surrogatepass")
    except UnicodeDecodeError:
        return None


def key_path(base: Path, key: str) -> Path:
    """Where the value or history of ``key`` lives under ``base``."""
    segments = key.split("/")
    folders = [encode_name(s) + ".d" for s in segments[:-1]]
    return base.joinpath(*folders, encode_name(segments[-1]))


def prepare_key_path(base: Path, key: str) -> Path:
    """``key_path``, with its folders created and the text of hashed segments saved."""
    path = key_path(base, key)
    ensure_dir(path.parent)
    folder = base
    for segment, name in zip(key.split("/"), path.relative_to(base).parts, strict=True):
        if name.startswith("~"):
            plain = name.removesuffix(".d")
            side = folder / f".{plain}"
            if not side.exists():
                write_atomic(side, segment.encode("utf-8", "surrogatepass"))
        folder = folder / name
    return path


def walk_keys(base: Path) -> dict[str, str]:
    """Every key stored under ``base`` and its file."""
    # Plain strings rather than Path objects: searches walk every run, and pathlib's parsing
    # would cost more than the file system calls.
    found: dict[str, str] = {}

    def visit(folder: str, prefix: str) -> None:
        try:
            entries = list(os.scandir(folder))
        except FileNotFoundError:
            return
        for entry in entries:
            name = entry.name
            if name.startswith("."):
                continue  # temporary files and the text of hashed names
            is_dir = entry.is_dir(follow_symlinks=False)
            if is_dir:
                if not name.endswith(".d"):
                    continue
                name = name[:-2]
            hashed = name.startswith("~")
            segment = read_text(os.path.join(folder, f".{name}")) if hashed else decode_name(name)
            if segment is None:
                continue  # not written by this store
            if is_dir:
                visit(entry.path, f"{prefix}{segment}/")
            else:
                found[prefix + segment] = entry.path

    visit(str(base), "")
    return found


# ----------------------------------------------------------------------------- file writing


@contextlib.contextmanager
def naming(path: str | Path) -> Iterator[None]:
    """Give errors of calls on a file descriptor the path they concern, for the message."""
    try:
        yield
    except OSError as exc:
        if exc.filename is None:
            exc.filename = str(path)
        raise


def write_new(path: Path, data: bytes, *, sync: bool = True) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | O_BINARY, 0o666)
    try:
        with naming(path):
            write_all(fd, data)
            if sync:
                os.fsync(fd)
    except BaseException:
        os.close(fd)
        unlink_quietly(path)
        raise
    os.close(fd)


def write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        written = os.write(fd, view)
        view = view[written:]


def temp_beside(path: Path) -> Path:
    return path.with_name(f".tmp-{secrets.token_hex(8)}")


def write_atomic(path: Path, data: bytes, *, sync_dir: bool = False, sync: bool = True) -> None:
    """Replace ``path`` with ``data`` so that readers see the old or the new file, never half."""
    write_files([(path, data)], sync_dirs=sync_dir, sync=sync)


def write_files(
    items: Sequence[tuple[Path, str | bytes]], *, sync_dirs: bool = True, sync: bool = True
) -> None:
    """Replace several files atomically each, syncing every folder once at the end.

    ``sync=False`` syncs nothing: for files that something durable can rebuild (a cache, the
    files that show a journal), where a crash of the process still leaves the old file or the
    new one, and only a crash of the machine may leave less.
    """
    temps: list[tuple[Path, Path]] = []
    moved = 0
    try:
        for path, value in items:
            data = value if isinstance(value, bytes) else value.encode("utf-8", "surrogatepass")
            temp = temp_beside(path)
            write_new(temp, data, sync=sync)
            temps.append((temp, path))
        for temp, path in temps:
            os.replace(temp, path)
            moved += 1
    finally:
        for temp, _ in temps[moved:]:
            unlink_quietly(temp)
    if sync_dirs and sync:
        for folder in dict.fromkeys(path.parent for path, _ in items):
            fsync_dir(folder)


def publish_exclusive(path: Path, data: bytes) -> bool:
    """Create ``path`` holding ``data`` unless it exists; True if this call created it.

    A hard link makes the file appear complete, in one step, only if the name is free.
    """
    temp = temp_beside(path)
    write_new(temp, data)
    try:
        os.link(temp, path)
    except FileExistsError:
        return False
    except OSError as exc:
        if exc.errno not in _NO_HARD_LINKS:
            raise
        return _create_exclusive(path, data)
    finally:
        unlink_quietly(temp)
    fsync_dir(path.parent)
    return True


def _create_exclusive(path: Path, data: bytes) -> bool:
    # Without hard links the file exists, empty, for a moment before it holds its data;
    # readers wait that moment out (see _read_claim and read_json's settle).
    try:
        write_new(path, data)
    except FileExistsError:
        return False
    fsync_dir(path.parent)
    return True


def ensure_dir(path: Path) -> None:
    if path.is_dir():
        return
    ensure_dir(path.parent)
    try:
        os.mkdir(path)
    except FileExistsError:
        return  # made meanwhile by another thread or process
    fsync_dir(path.parent)


def fsync_dir(path: Path) -> None:
    """Make a rename or new entry in ``path`` durable (POSIX wants the folder synced)."""
    if os.name == "nt":
        return  # folders cannot be opened for syncing there; NTFS journals names itself
    fd = os.open(path, os.O_RDONLY)
    try:
        with naming(path):
            os.fsync(fd)
    except OSError as exc:
        if exc.errno not in (errno.EINVAL, errno.ENOTSUP, errno.EBADF):
            raise  # some file systems cannot sync folders at all: nothing more to do there
    finally:
        os.close(fd)


def unlink_quietly(path: Path) -> None:
    with contextlib.suppress(OSError):
        os.unlink(path)


# ----------------------------------------------------------------------------- file reading


def read_bytes(path: str | Path) -> bytes | None:
    try:
        with open(path, "rb") as stream:
            return stream.read()
    except FileNotFoundError:
        return None


def read_text(path: str | Path) -> str | None:
    try:
        with open(path, "rb") as stream:
            return stream.read().decode("utf-8", "surrogatepass")
    except FileNotFoundError:
        return None


def read_json(path: Path, *, settle: bool = False) -> dict[str, Any] | None:
    """The JSON object in ``path``, None if there is no file.

    ``settle`` waits out a file that is being created without hard links (briefly empty).
    """
    for attempt in range(100 if settle else 1):
        text = read_text(path)
        if text is None:
            return None
        try:
            value = json.loads(text)
        except ValueError as exc:
            if settle and attempt < 99:
                time.sleep(0.01)
                continue
            raise StoreError(f"file store: {path} is not valid JSON ({exc})") from exc
        if not isinstance(value, dict):
            raise StoreError(f"file store: {path} does not hold a JSON object")
        return value
    return None  # pragma: no cover - the loop always returns or raises


def dump_json(value: Mapping[str, Any]) -> bytes:
    text = json.dumps(value, indent=2, ensure_ascii=False, sort_keys=True)
    return (text + "\n").encode("utf-8", "surrogatepass")
