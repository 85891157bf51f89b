"""Artifacts in a local directory, with every path confined to the run's artifact root."""

from __future__ import annotations

import contextlib
import errno
import hashlib
import os
import shutil
import stat
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

from autolog.entities import FileInfo
from autolog.errors import (
    InvalidInputError,
    NotFoundError,
    StoreError,
    StoreUnavailableError,
    UnsafePathError,
    is_transient,
)
from autolog.stores.common import local_path
from autolog.validation import check_artifact_path

__all__ = ["LocalArtifactRepository", "discard_staged", "sha256_file", "stage_file"]

_CHUNK = 1 << 20


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        while block := f.read(_CHUNK):
            digest.update(block)
    return digest.hexdigest()


_STAGED = ".tmp-staged-"


def stage_file(source: Path, repo: LocalArtifactRepository | None) -> tuple[Path, str]:
    """A snapshot of ``source``, hashed while copied: beside ``repo``'s files (so that putting
    it in place is a rename), or in a temporary folder where the repository is not known yet.
    Returns the copy and its SHA-256."""
    folder = repo.root if repo is not None else Path(tempfile.gettempdir())
    try:
        folder.mkdir(parents=True, exist_ok=True)
        tmp, digest = _copy_hashing(source, folder, _STAGED)
    except FileNotFoundError:
        raise
    except OSError as exc:
        raise _storage_error(f"cannot copy {source}: {exc}", exc) from exc
    return Path(tmp), digest


def _copy_hashing(source: Path, folder: Path, prefix: str) -> tuple[str, str]:
    """Copy ``source`` to a new temporary file in ``folder`` (its mode too), hashing on the
    way; the copy's path and SHA-256. Nothing is left behind on failure."""
    digest = hashlib.sha256()
    fd, tmp = tempfile.mkstemp(dir=folder, prefix=prefix)
    try:
        with source.open("rb") as src, os.fdopen(fd, "wb") as dst:
            while block := src.read(_CHUNK):
                digest.update(block)
                dst.write(block)
        shutil.copymode(source, tmp)
    except BaseException:
        _unlink(tmp)
        raise
    return tmp, digest.hexdigest()


def discard_staged(copies: list[Path]) -> None:
    """Remove snapshots that ``stage_file`` made and that will not be placed."""
    for copy in copies:
        _unlink(str(copy))


class LocalArtifactRepository:
    """Files under one root directory; writes are atomic (temp file + rename).

    A killed process leaves either the old file or the new one, never a torn one. Files are not
    fsynced: like the SQLite store (WAL, synchronous=NORMAL), what is written survives the
    process, and an operating-system crash may lose the last second.
    """

    def __init__(self, artifact_uri: str) -> None:
        self.artifact_uri = artifact_uri
        self.root = local_path(artifact_uri)
        self._root_resolved: Path | None = None

    def resolve(self, path: str | None) -> Path:
        """The absolute location of ``path``, refusing anything that escapes the root.

        The check runs on the fully resolved path, so a symlink planted inside the root that
        points outside it is refused as well.
        """
        relative = check_artifact_path(path)
        if not relative:
            return self.root
        # ``relative`` has no '..' (checked above), so only a symlink under the root can lead
        # out of it: look at those few components rather than resolving the whole path.
        prefix = str(self.root)
        for part in relative.split("/"):
            prefix = os.path.join(prefix, part)
            if os.path.islink(prefix):
                resolved = Path(prefix).resolve()
                root = self._resolved_root()
                if resolved != root and root not in resolved.parents:
                    raise UnsafePathError(relative, "it resolves outside the run's artifact root")
        return self.root / relative

    def _resolved_root(self) -> Path:
        if self._root_resolved is None:
            self._root_resolved = self.root.resolve()
        return self._root_resolved

    def put_bytes(self, path: str, data: bytes, sha256: str | None = None) -> str:
        """Write ``data`` at ``path`` atomically; return its SHA-256 (``sha256`` if known)."""
        target = self.resolve(path)
        try:
            target.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=".tmp-")
            try:
                with os.fdopen(fd, "wb") as f:
                    f.write(data)
                os.replace(tmp, target)
            except BaseException:
                _unlink(tmp)
                raise
        except OSError as exc:
            raise _storage_error(f"cannot write artifact {target}: {exc}", exc) from exc
        return sha256 or hashlib.sha256(data).hexdigest()

    def put_file(self, source: Path, path: str) -> str:
        """Copy ``source`` to ``path`` atomically, hashing while copying; return the SHA-256."""
        target = self.resolve(path)
        try:
            target.parent.mkdir(parents=True, exist_ok=True)
            tmp, digest = _copy_hashing(source, target.parent, ".tmp-")
            try:
                os.replace(tmp, target)
            except BaseException:
                _unlink(tmp)
                raise
        except FileNotFoundError:
            raise
        except OSError as exc:
            raise _storage_error(f"cannot copy {source} to {target}: {exc}", exc) from exc
        return digest

    def open_upload(self, path: str) -> _LocalUpload:
        """A file written in pieces beside ``path``, renamed into place on ``commit``."""
        target = self.resolve(path)
        if not check_artifact_path(path):
            raise UnsafePathError(path, "an upload needs a file path, not the root")
        try:
            target.parent.mkdir(parents=True, exist_ok=True)
            if target.is_dir():
                raise InvalidInputError(f"artifact {path!r} is a folder; it cannot become a file")
            fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=".tmp-")
        except (FileExistsError, NotADirectoryError):
            raise InvalidInputError(
                f"artifact path {path!r} runs through a file: a file cannot hold others"
            ) from None
        except OSError as exc:
            raise _storage_error(f"cannot write artifact {target}: {exc}", exc) from exc
        return _LocalUpload(os.fdopen(fd, "wb"), tmp, target)

    def stream(self, path: str) -> tuple[int, Iterator[bytes]]:
        """The size of the file at ``path`` and its content in pieces of 1 MiB."""
        target = self.resolve(path)
        try:
            stream = _open_own(target, path)
        except (FileNotFoundError, IsADirectoryError, NotADirectoryError):
            raise NotFoundError("artifact", path) from None
        try:
            size = os.fstat(stream.fileno()).st_size
        except BaseException:
            stream.close()
            raise
        return size, _pieces(stream)

    def remove_all(self) -> None:
        """Remove the run's folder of artifacts (and the run's folder, once empty)."""
        shutil.rmtree(self.root, ignore_errors=True)
        if self.root.name == "artifacts":
            with contextlib.suppress(OSError):
                self.root.parent.rmdir()

    def place(self, staged: Path, path: str) -> None:
        """Move a snapshot made by ``stage_file`` to ``path`` (replacing what is there)."""
        target = self.resolve(path)
        try:
            target.parent.mkdir(parents=True, exist_ok=True)
            try:
                os.replace(staged, target)
                return
            except OSError as exc:
                if exc.errno != errno.EXDEV:
                    raise
            # staged on another file system (the run's place was not known then): copy
            fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=".tmp-")
            try:
                with staged.open("rb") as src, os.fdopen(fd, "wb") as dst:
                    shutil.copyfileobj(src, dst, _CHUNK)
                shutil.copymode(staged, tmp)
                os.replace(tmp, target)
            except BaseException:
                _unlink(tmp)
                raise
            _unlink(str(staged))
        except FileNotFoundError:
            raise
        except OSError as exc:
            raise _storage_error(f"cannot write artifact {target}: {exc}", exc) from exc

    def read_bytes(self, path: str) -> bytes:
        target = self.resolve(path)
        try:
            with _open_own(target, path) as stream:
                return stream.read()
        except (FileNotFoundError, IsADirectoryError):
            raise NotFoundError("artifact", path) from None

    def list(self, path: str | None = None) -> list[FileInfo]:
        """Direct children of ``path`` (the root by default), sorted by path."""
        relative = check_artifact_path(path)
        target = self.resolve(relative)
        try:
            entries = sorted(os.scandir(target), key=lambda e: e.name)
        except (FileNotFoundError, NotADirectoryError):
            return []
        except OSError as exc:
            raise _storage_error(f"cannot list artifacts at {target}: {exc}", exc) from exc
        infos = []
        for entry in entries:
            if entry.name.startswith(".tmp-"):
                continue
            child = f"{relative}/{entry.name}" if relative else entry.name
            if entry.is_dir(follow_symlinks=False):
                infos.append(FileInfo(child, True, None))
            elif entry.is_file(follow_symlinks=False):
                infos.append(FileInfo(child, False, entry.stat(follow_symlinks=False).st_size))
        return infos

    def download(self, path: str | None, dst: Path) -> Path:
        """Copy the file or folder at ``path`` into the directory ``dst``; return the copy.

        Nothing is written through a link: a symlink already at a destination path is
        replaced, not followed, and a folder that is a symlink is refused. An artifact file
        with more than one hard link (planted beside ours, which have one) is refused.
        """
        relative = check_artifact_path(path)
        source = self.resolve(relative)
        if not source.exists():
            raise NotFoundError("artifact", relative or "/")
        try:
            _real_folder(dst, create=True)
            name = source.name if relative else "artifacts"
            out = dst / name
            if source.is_dir():
                self._copy_tree(relative, out)
            else:
                self._copy_out(relative, out)
        except OSError as exc:
            raise _storage_error(f"cannot download {relative or '/'} to {dst}: {exc}", exc) from exc
        return out

    def _copy_tree(self, relative: str, out: Path) -> None:
        _real_folder(out, create=True)
        for info in self.list(relative):
            name = info.path.rsplit("/", 1)[-1]
            if info.is_dir:
                self._copy_tree(info.path, out / name)
            else:
                self._copy_out(info.path, out / name)

    def _copy_out(self, relative: str, out: Path) -> None:
        """Copy one artifact to ``out``, replacing (never following) whatever is there."""
        with _open_own(self.resolve(relative), relative) as src:
            fd, tmp = tempfile.mkstemp(dir=out.parent, prefix=".autolog-download-")
            try:
                with os.fdopen(fd, "wb") as dst:
                    shutil.copyfileobj(src, dst, _CHUNK)
                os.replace(tmp, out)
            except BaseException:
                _unlink(tmp)
                raise


def _open_own(target: Path, relative: str) -> BinaryIO:
    """Open an artifact file to read: never through a symlink, never a file with another
    name elsewhere (a hard link: our writes always make files with one link)."""
    flags = os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_BINARY", 0)
    try:
        fd = os.open(target, flags)
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise UnsafePathError(relative, "it is a symbolic link") from None
        if exc.errno == errno.EISDIR:
            raise IsADirectoryError(str(target)) from None
        raise
    stream = os.fdopen(fd, "rb")
    info = os.fstat(fd)
    if stat.S_ISDIR(info.st_mode):
        stream.close()
        raise IsADirectoryError(str(target))
    if info.st_nlink > 1:
        stream.close()
        raise UnsafePathError(relative, "the file has other hard links (not written by autolog)")
    return stream


def _real_folder(folder: Path, *, create: bool) -> None:
    """Refuse a destination folder that is a symbolic link; create it where asked."""
    if folder.is_symlink():
        raise UnsafePathError(str(folder), "the destination folder is a symbolic link")
    if create:
        folder.mkdir(parents=True, exist_ok=True)


class _LocalUpload:
    """A temporary file beside the target; the target appears whole or not at all."""

    def __init__(self, stream: BinaryIO, tmp: str, target: Path) -> None:
        self._stream = stream
        self._tmp = tmp
        self._target = target

    def write(self, data: bytes) -> None:
        try:
            self._stream.write(data)
        except OSError as exc:
            self.abort()
            raise _storage_error(f"cannot write artifact {self._target}: {exc}", exc) from exc

    def commit(self) -> None:
        try:
            self._stream.close()
            os.replace(self._tmp, self._target)
        except OSError as exc:
            self.abort()
            raise _storage_error(f"cannot write artifact {self._target}: {exc}", exc) from exc

    def abort(self) -> None:
        with contextlib.suppress(OSError):
            self._stream.close()
        _unlink(self._tmp)


def _pieces(stream: BinaryIO) -> Iterator[bytes]:
    with stream:
        while block := stream.read(_CHUNK):
            yield block


def _storage_error(message: str, exc: OSError) -> StoreError:
    """Disk full and I/O errors may pass (retried); a bad path or permission will not."""
    return StoreUnavailableError(message) if is_transient(exc) else StoreError(message)


def _unlink(path: str) -> None:
    with contextlib.suppress(FileNotFoundError):
        os.unlink(path)
