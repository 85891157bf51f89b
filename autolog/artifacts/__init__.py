"""Artifact repositories: where a run's files live, with every path confined to the run's
root.

``LocalArtifactRepository`` (a folder), ``S3ArtifactRepository`` (a bucket, through boto3) and
``HttpArtifactRepository`` (through a tracking server) offer the same methods
(``ArtifactRepository``); ``artifact_repository`` picks one for a run.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol
from urllib.parse import urlsplit

from autolog.artifacts.local import LocalArtifactRepository
from autolog.artifacts.remote import DownloadsFileByFile
from autolog.entities import FileInfo
from autolog.errors import InvalidURIError, NotFoundError

if TYPE_CHECKING:
    from autolog.stores.base import Store

__all__ = [
    "ArtifactRepository",
    "DownloadsFileByFile",
    "LocalArtifactRepository",
    "ServerSideRepository",
    "Upload",
    "artifact_repository",
    "expected_at",
    "listed",
    "local_or_remote",
    "served_by_store",
]


class ArtifactRepository(Protocol):
    """The files of one run. Paths are relative to the run's root; none may leave it."""

    artifact_uri: str

    def put_file(self, source: Path, path: str) -> str:
        """Copy ``source`` to ``path`` (atomically); return its SHA-256."""
        ...

    def put_bytes(self, path: str, data: bytes, sha256: str | None = None) -> str: ...

    def read_bytes(self, path: str) -> bytes: ...

    def list(self, path: str | None = None) -> list[FileInfo]:
        """Direct children of ``path`` (the root by default), sorted by path."""
        ...

    def download(self, path: str | None, dst: Path) -> Path:
        """Copy the file or folder at ``path`` into the directory ``dst``; return the copy."""
        ...


class Upload(Protocol):
    """A file being written in pieces; it appears at its path only once committed."""

    def write(self, data: bytes) -> None: ...

    def commit(self) -> None: ...

    def abort(self) -> None: ...


class ServerSideRepository(ArtifactRepository, Protocol):
    """What the tracking server needs on top: streaming in and out, never a whole file in
    memory."""

    def open_upload(self, path: str) -> Upload: ...

    def stream(self, path: str) -> tuple[int, Iterator[bytes]]:
        """The size of the file at ``path`` and its content in pieces; NotFoundError."""
        ...

    def remove_all(self) -> None:
        """Remove every file of the run (its run was purged)."""
        ...


def served_by_store(store: Store) -> bool:
    """Whether ``store`` keeps its runs' files itself (the REST store: on its server)."""
    return callable(getattr(store, "run_artifacts", None))


def artifact_repository(
    artifact_uri: str, *, store: Store | None = None, run_id: str | None = None
) -> ArtifactRepository:
    """The repository behind a run's ``artifact_uri``.

    A store that serves artifacts itself is asked first: the REST store's runs keep their
    files wherever the tracking server puts them, and are read and written through it.
    """
    serve: Any = getattr(store, "run_artifacts", None)
    if serve is not None and run_id is not None:
        repository: ArtifactRepository = serve(run_id)
        return repository
    return local_or_remote(artifact_uri)


def expected_at(repository: ArtifactRepository, path: str = "") -> str:
    """Where ``path`` of the run's artifacts should be: a local path, else a URI."""
    if isinstance(repository, LocalArtifactRepository):
        return str(repository.resolve(path))
    root = repository.artifact_uri.rstrip("/")
    return f"{root}/{path}" if path else root


def listed(
    repository: ArtifactRepository, path: str, recorded: Mapping[str, str]
) -> list[FileInfo]:
    """``repository.list(path)``, unless it finds nothing where the store recorded files
    (``recorded``: the run's artifact hashes at or under ``path``): then ``NotFoundError``
    naming where they were expected. An empty table would read as "nothing was logged" when
    the files were deleted, or their store moved without its artifact folder."""
    files = repository.list(path or None)
    inside = [name for name in recorded if name != path]  # a file lists nothing
    if files or not inside:
        return files
    count = f"{len(inside)} recorded file{'s' if len(inside) != 1 else ''}"
    raise NotFoundError(f"artifacts ({count})", expected_at(repository, path))


def local_or_remote(artifact_uri: str) -> ServerSideRepository:
    """The repository of a ``file:`` or ``s3:`` artifact URI (no tracking server involved)."""
    scheme = urlsplit(artifact_uri).scheme.lower()
    if scheme in ("file", ""):
        return LocalArtifactRepository(artifact_uri)
    if scheme == "s3":
        from autolog.artifacts.s3 import S3ArtifactRepository

        return S3ArtifactRepository(artifact_uri)
    raise InvalidURIError(
        artifact_uri,
        f"no artifact repository for scheme {scheme!r} (file:// and s3:// are supported)",
    )
