"""The data a run read, when told: a file's or folder's size and SHA-256.

``autolog.log_input(path, name=None)`` checks the path at the call and hashes it on the
writer's file thread (a data set can take seconds to read; training goes on meanwhile); the
run gets the tag ``autolog.input.<NAME>`` once it is done, holding ``input_record(path)``.
``autolog rerun`` hashes the same paths again to say which inputs differ.
"""

from __future__ import annotations

import hashlib
import json
import os
import stat
from pathlib import Path, PurePath
from typing import TYPE_CHECKING

from autolog.errors import InvalidInputError, InvalidKeyError
from autolog.validation import check_key

if TYPE_CHECKING:
    from autolog.projects.recording import RecordingClient

__all__ = ["TAG_INPUT_PREFIX", "input_name", "input_record", "log_input"]

TAG_INPUT_PREFIX = "autolog.input."
_CHUNK = 1 << 20


def input_name(path: PurePath, name: object) -> str:
    """The input's name: ``name``, else the path's base name, checked as part of a tag key.

    Raises:
        InvalidKeyError: the name cannot be part of a tag key (it is named).
    """
    chosen = path.name if name is None else name
    if not isinstance(chosen, str):
        raise InvalidInputError(f"an input's name must be a string, not {chosen!r}")
    if not chosen:
        raise InvalidKeyError(TAG_INPUT_PREFIX, "an input's name may not be empty")
    check_key(TAG_INPUT_PREFIX + chosen)
    return chosen


def input_record(path: str | os.PathLike[str]) -> dict[str, object]:
    """What ``autolog.input.<NAME>`` holds for ``path``: its absolute path, kind ("file" or
    "folder"), size in bytes, file count and SHA-256. A folder's SHA-256 is that of the lines
    ``<relative posix path>\\0<file sha256 hex>\\n`` in sorted path order; symbolic links in
    it are skipped (counted nowhere).

    Raises:
        InvalidInputError: ``path`` is neither a file nor a folder.
        OSError: it could not be read.
    """
    where = Path(os.path.abspath(path))
    info = where.stat()
    if stat.S_ISREG(info.st_mode):
        digest, size = _hash_file(where)
        return _record(where, "file", size, 1, digest)
    if not stat.S_ISDIR(info.st_mode):
        raise InvalidInputError(f"an input is a file or a folder, not {str(where)!r}")
    listing = hashlib.sha256()
    size = count = 0
    for relative, full in _files_under(where):
        digest, length = _hash_file(full)
        listing.update(f"{relative}\0{digest}\n".encode("utf-8", "surrogateescape"))
        size += length
        count += 1
    return _record(where, "folder", size, count, listing.hexdigest())


def log_input(
    client: RecordingClient, run_id: str, path: str | os.PathLike[str], name: str | None
) -> str:
    """``Client.log_input``: check ``path`` and the name now, hash on the file thread."""
    if not isinstance(path, (str, os.PathLike)):
        raise InvalidInputError(f"log_input takes a path, not {path!r}")
    where = Path(os.path.abspath(path))
    if not where.exists():
        raise InvalidInputError(f"log_input needs an existing file or folder, not {str(where)!r}")
    chosen = input_name(where, name)

    def produce() -> tuple[dict[str, str], dict[str, bytes]]:
        record = input_record(where)
        return {TAG_INPUT_PREFIX + chosen: json.dumps(record, sort_keys=True)}, {}

    client.record_later(run_id, produce, what=f"input {chosen!r}")
    return chosen


def _record(where: Path, kind: str, size: int, files: int, digest: str) -> dict[str, object]:
    return {"path": str(where), "kind": kind, "size": size, "files": files, "sha256": digest}


def _files_under(folder: Path) -> list[tuple[str, Path]]:
    """Every regular file under ``folder`` (links skipped, not followed), by relative path."""
    found: list[tuple[str, Path]] = []
    for top, dirs, names in os.walk(folder, followlinks=False):
        base = Path(top)
        dirs[:] = [d for d in dirs if not (base / d).is_symlink()]
        for name in names:
            full = base / name
            if stat.S_ISREG(full.lstat().st_mode):
                found.append((full.relative_to(folder).as_posix(), full))
    return sorted(found)


def _hash_file(path: Path) -> tuple[str, int]:
    digest = hashlib.sha256()
    size = 0
    with path.open("rb") as f:
        while chunk := f.read(_CHUNK):
            digest.update(chunk)
            size += len(chunk)
    return digest.hexdigest(), size
