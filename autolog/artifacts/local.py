"""Artifacts in a local directory, with every path confined to the run's artifact root."""

from __future__ import annotations

import contextlib
import errno
import hashlib
import itertools
import os
import shutil
import stat
import tempfile
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import BinaryIO, NamedTuple

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

__all__ = [
    "LocalArtifactRepository",
    "Snapshot",
    "copy_snapshot",
    "discard_snapshot",
    "discard_staged",
    "missing",
    "sha256_file",
    "snapshot_file",
    "stage_file",
]

_CHUNK = 1 << 20


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        while block := f.read(_CHUNK):
            digest.update(block)
    return digest.hexdigest()


_STAGED = ".tmp-staged-"
_serial = itertools.count()


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


#: files up to this size are copied at the call (a few hundred microseconds at most); larger
#: ones are snapshotted (a clone or a hard link) and copied on the writer's file thread
COPY_AT_CALL = 256 * 1024
# Linux's ioctl that clones a file's extents (btrfs, XFS with reflink, bcachefs, ...):
# a copy-on-write snapshot that costs microseconds whatever the size.
_FICLONE = 0x40049409
# devices where a clone was refused (the file system has none): not tried there again
_no_clone: set[int] = set()


class Snapshot(NamedTuple):
    """What ``snapshot_file`` took of a file at ``log_artifact``: see ``copy_snapshot``."""

    #: the snapshot (``own``: ours, removed once used), or the caller's file itself
    path: Path
    own: bool
    #: nobody can change these bytes any more (a copy, a clone); else the stamp is checked
    exact: bool
    #: SHA-256 where the bytes were copied (and hashed) at the call already
    digest: str | None
    #: (inode, size, modification time) of the file when the call returned
    stamp: tuple[int, int, int]


def snapshot_file(source: Path, repo: LocalArtifactRepository | None) -> Snapshot:
    """A snapshot of the regular file ``source`` for ``log_artifact``, taken on the calling
    thread in microseconds: a copy for a small file; else a clone (reflink) where the file
    system has them, a true snapshot; else a hard link, which keeps the bytes if the caller
    replaces or deletes its file, but shares a rewrite in place (``copy_snapshot`` then finds
    the size or modification time changed and refuses it); else nothing (the file is read on
    the writer, refused there if it changed). Raises ``FileNotFoundError``, and
    ``InvalidInputError`` for what is not a regular file."""
    info = os.stat(source)
    if not stat.S_ISREG(info.st_mode):
        raise InvalidInputError(f"log_artifact logs regular files, not {str(source)!r}")
    folder = repo.root if repo is not None else Path(tempfile.gettempdir())
    stamp = (info.st_ino, info.st_size, info.st_mtime_ns)
    try:
        folder.mkdir(parents=True, exist_ok=True)
        if info.st_size <= COPY_AT_CALL:
            tmp, digest = _copy_hashing(source, folder, _STAGED)
            return Snapshot(Path(tmp), True, True, digest, stamp)
        clone = _clone(source, folder, info)
        if clone is not None:
            return Snapshot(clone, True, True, None, _stamp(clone))
    except FileNotFoundError:
        if not source.exists():
            raise
    except OSError:
        pass  # a full disk: the writer copies the file (and waits for space)
    # A hard link beside the run's files, else in the temporary folder (where the files that
    # integrations write and remove at once are): the first on the file's own file system.
    for place in dict.fromkeys((folder, Path(tempfile.gettempdir()))):
        link = f"{place}/{_STAGED}{os.getpid()}-{next(_serial)}"
        try:
            os.link(source, link)
        except OSError:
            continue  # another file system, or none with hard links
        linked = os.stat(link)
        if linked.st_ino == info.st_ino:  # else replaced just now: it is read on the writer
            return Snapshot(Path(link), True, False, None, _stamp(Path(link)))
        _unlink(link)
        break
    return Snapshot(source, False, False, None, stamp)


def _clone(source: Path, folder: Path, info: os.stat_result) -> Path | None:
    if not hasattr(os, "O_CLOEXEC") or info.st_dev in _no_clone or os.name != "posix":
        return None
    import fcntl

    fd, tmp = tempfile.mkstemp(dir=folder, prefix=_STAGED)
    try:
        with source.open("rb") as src:
            fcntl.ioctl(fd, _FICLONE, src.fileno())
        os.fchmod(fd, stat.S_IMODE(info.st_mode))
    except OSError:
        _no_clone.add(info.st_dev)
        os.close(fd)
        _unlink(tmp)
        return None
    os.close(fd)
    return Path(tmp)


def _stamp(path: Path) -> tuple[int, int, int]:
    info = os.stat(path)
    return info.st_ino, info.st_size, info.st_mtime_ns


def copy_snapshot(snapshot: Snapshot, repo: LocalArtifactRepository | None) -> tuple[Path, str]:
    """On the writer's file thread: the bytes ``snapshot`` took, staged beside ``repo``'s
    files (else in a temporary folder), and their SHA-256. A hard link or the caller's file
    itself is copied, and refused (``InvalidInputError``) if its size or modification time
    changed since the call: those bytes are gone, and the new ones are not what was logged.
    An exact snapshot is its own staged copy; the caller removes any other once it has been
    copied (``discard_snapshot``)."""
    if snapshot.exact:
        digest = snapshot.digest
        if digest is None:  # a clone: hashed here, off the caller's thread
            digest = sha256_file(snapshot.path)
        return snapshot.path, digest
    changed = InvalidInputError("the file changed before autolog could copy it")
    try:
        before = _stamp(snapshot.path)
    except FileNotFoundError:
        raise changed from None
    if before != snapshot.stamp:
        raise changed
    folder = repo.root if repo is not None else Path(tempfile.gettempdir())
    try:
        folder.mkdir(parents=True, exist_ok=True)
        tmp, digest = _copy_hashing(snapshot.path, folder, _STAGED)
    except FileNotFoundError:
        raise changed from None
    except OSError as exc:
        raise _storage_error(f"cannot copy {snapshot.path}: {exc}", exc) from exc
    try:
        after = _stamp(snapshot.path)
    except FileNotFoundError:
        after = None
    if after != snapshot.stamp:
        _unlink(tmp)
        raise changed
    return Path(tmp), digest


def discard_snapshot(snapshot: Snapshot) -> None:
    """Remove what ``snapshot_file`` made (never the caller's own file)."""
    if snapshot.own:
        _unlink(str(snapshot.path))


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
            stream = _open_own(target, path, self.root)
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

    def link_same(self, path: str, digest: str, candidates: Iterable[str]) -> bool:
        """Make ``path`` a hard link to the first of ``candidates`` (other files of the run)
        that holds the bytes of SHA-256 ``digest``: one copy of the bytes on disk. The
        candidate is hashed again first; False (nothing changed) where none matches or the
        file system has no hard links."""
        target = self.resolve(path)
        for other in candidates:
            if other == path:
                continue
            try:
                source = self.resolve(other)
                with _open_own(source, other, self.root) as stream:
                    info = os.fstat(stream.fileno())
                    if _sha256_stream(stream) != digest:
                        continue
                target.parent.mkdir(parents=True, exist_ok=True)
                tmp = f"{target.parent}/.tmp-link-{os.getpid()}-{next(_serial)}"
                os.link(source, tmp)
                try:
                    linked = os.stat(tmp)
                    if (linked.st_dev, linked.st_ino) != (info.st_dev, info.st_ino):
                        continue  # replaced since it was hashed: not those bytes
                    os.replace(tmp, target)
                finally:
                    _unlink(tmp)
                return True
            except (OSError, StoreError, UnsafePathError):
                continue  # gone, not ours, or no hard links here: the bytes are written
        return False

    def read_bytes(self, path: str) -> bytes:
        """The content of the file at ``path``; ``NotFoundError`` naming where it was expected
        (a file deleted, a store moved without its artifacts)."""
        target = self.resolve(path)
        try:
            with _open_own(target, path, self.root) as stream:
                return stream.read()
        except (FileNotFoundError, IsADirectoryError, NotADirectoryError):
            raise missing(target) from None

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
            raise missing(source)
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
        with _open_own(self.resolve(relative), relative, self.root) as src:
            fd, tmp = tempfile.mkstemp(dir=out.parent, prefix=".autolog-download-")
            try:
                with os.fdopen(fd, "wb") as dst:
                    shutil.copyfileobj(src, dst, _CHUNK)
                os.replace(tmp, out)
            except BaseException:
                _unlink(tmp)
                raise


def missing(target: Path) -> NotFoundError:
    """The error for an artifact that is not where its run's artifacts are: it names the place
    (``artifact file '/.../model/model.pkl' not found``), which tells a file deleted, or a store
    moved without its artifact folder, from a file that was changed."""
    return NotFoundError("artifact file", str(target))


def _open_own(target: Path, relative: str, root: Path) -> BinaryIO:
    """Open an artifact file to read: never through a symlink, never a file with another
    name outside the run's ``root`` (a hard link: ours, made by ``link_same``, join files of
    one run only)."""
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
    if info.st_nlink > 1 and _links_under(root, info) != info.st_nlink:
        stream.close()
        raise UnsafePathError(relative, "the file has other hard links (not written by autolog)")
    return stream


def _links_under(root: Path, info: os.stat_result) -> int:
    """How many names the file of ``info`` has under ``root`` (symlinks not followed): all of
    its links, for files that share their bytes within a run."""
    found = 0
    folders = [str(root)]
    while folders:
        try:
            entries = list(os.scandir(folders.pop()))
        except OSError:
            continue
        for entry in entries:
            if entry.is_dir(follow_symlinks=False):
                folders.append(entry.path)
            elif entry.inode() == info.st_ino and entry.is_file(follow_symlinks=False):
                found += entry.stat(follow_symlinks=False).st_dev == info.st_dev
    return found


def _sha256_stream(stream: BinaryIO) -> str:
    digest = hashlib.sha256()
    while block := stream.read(_CHUNK):
        digest.update(block)
    return digest.hexdigest()


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
