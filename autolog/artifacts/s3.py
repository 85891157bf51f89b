"""Artifacts in an S3 bucket (or anything that speaks S3), through boto3.

``s3://bucket/prefix/...``: a run's files are the objects under its prefix. boto3 finds
credentials and the endpoint as it always does (``AWS_ACCESS_KEY_ID``, ``AWS_PROFILE``,
``AWS_ENDPOINT_URL``, instance roles, ...). Uploads go in parts of 8 MiB, so no file is ever
held whole in memory; a part upload that is not completed leaves no object behind.
"""

from __future__ import annotations

import contextlib
import hashlib
import shutil
import tempfile
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from autolog.artifacts.remote import DownloadsFileByFile
from autolog.entities import FileInfo
from autolog.errors import (
    InvalidInputError,
    InvalidURIError,
    NotFoundError,
    StoreError,
    StoreUnavailableError,
)
from autolog.validation import check_artifact_path

__all__ = ["S3ArtifactRepository", "check_bucket"]

PART_SIZE = 8 * 1024 * 1024  # S3 wants parts of at least 5 MiB, all but the last
_CHUNK = 1 << 20
_clients: dict[str, Any] = {}
_clients_lock = threading.Lock()


def _client() -> Any:
    """One boto3 client per process (clients are thread-safe; making one takes ~50 ms)."""
    with _clients_lock:
        client = _clients.get("s3")
        if client is None:
            try:
                import boto3
                from botocore.config import Config
            except ImportError as exc:
                raise StoreError(
                    "s3:// artifact locations need boto3: pip install 'autolog[s3]'"
                ) from exc
            config = Config(retries={"max_attempts": 5, "mode": "standard"})
            client = _clients["s3"] = boto3.client("s3", config=config)
        return client


def _split(uri: str) -> tuple[str, str]:
    parts = urlsplit(uri)
    if parts.scheme.lower() != "s3" or not parts.netloc:
        raise InvalidURIError(uri, "expected s3://bucket/prefix")
    return parts.netloc, parts.path.strip("/")


def _error(exc: Exception, what: str) -> Exception:
    """botocore's failures as ours: a missing object is NotFound, the network is transient."""
    from botocore.exceptions import BotoCoreError, ClientError

    if isinstance(exc, ClientError):
        code = str(exc.response.get("Error", {}).get("Code", ""))
        if code in ("NoSuchKey", "404", "NotFound"):
            return NotFoundError("artifact", what)
        if code in ("SlowDown", "ServiceUnavailable", "InternalError", "RequestTimeout", "503"):
            return StoreUnavailableError(f"S3 failed on {what}: {exc}")
        return StoreError(f"S3 refused {what}: {exc}")
    if isinstance(exc, BotoCoreError):
        return StoreUnavailableError(f"S3 is not reachable for {what}: {exc}")
    return exc


def check_bucket(uri: str) -> None:
    """Raise StoreError (with the reason) unless the bucket of ``uri`` can be reached."""
    bucket, _ = _split(uri)
    try:
        _client().head_bucket(Bucket=bucket)
    except Exception as exc:
        raise _error(exc, f"bucket {bucket!r}") from exc


class S3ArtifactRepository(DownloadsFileByFile):
    """The objects under one ``s3://bucket/prefix``; keys below it are checked artifact paths."""

    def __init__(self, artifact_uri: str) -> None:
        self.artifact_uri = artifact_uri.rstrip("/")
        self.bucket, self.prefix = _split(self.artifact_uri)

    def _key(self, path: str | None) -> str:
        relative = check_artifact_path(path)
        if not relative:
            return self.prefix
        return f"{self.prefix}/{relative}" if self.prefix else relative

    # writing
    def open_upload(self, path: str) -> _S3Upload:
        if not check_artifact_path(path):
            raise InvalidInputError("an upload needs a file path, not the root")
        return _S3Upload(_client(), self.bucket, self._key(path))

    def put_file(self, source: Path, path: str) -> str:
        upload = self.open_upload(path)
        digest = hashlib.sha256()
        try:
            with source.open("rb") as stream:
                while block := stream.read(_CHUNK):
                    digest.update(block)
                    upload.write(block)
            upload.commit()
        except BaseException:
            upload.abort()
            raise
        return digest.hexdigest()

    def put_bytes(self, path: str, data: bytes, sha256: str | None = None) -> str:
        key = self._key(path)
        try:
            _client().put_object(Bucket=self.bucket, Key=key, Body=data)
        except Exception as exc:
            raise _error(exc, key) from exc
        return sha256 or hashlib.sha256(data).hexdigest()

    def remove_all(self) -> None:
        """Delete every object under the run's prefix."""
        prefix = f"{self.prefix}/" if self.prefix else ""
        client = _client()
        try:
            pages = client.get_paginator("list_objects_v2").paginate(
                Bucket=self.bucket, Prefix=prefix
            )
            for page in pages:
                keys = [{"Key": item["Key"]} for item in page.get("Contents", [])]
                if keys:
                    client.delete_objects(Bucket=self.bucket, Delete={"Objects": keys})
        except Exception as exc:
            raise _error(exc, prefix) from exc

    # reading
    def stream(self, path: str) -> tuple[int, Iterator[bytes]]:
        key = self._key(path)
        try:
            answer = _client().get_object(Bucket=self.bucket, Key=key)
        except Exception as exc:
            raise _error(exc, path) from exc
        body = answer["Body"]

        def pieces() -> Iterator[bytes]:
            try:
                yield from body.iter_chunks(_CHUNK)
            finally:
                body.close()

        return int(answer["ContentLength"]), pieces()

    def read_bytes(self, path: str) -> bytes:
        _, pieces = self.stream(path)
        return b"".join(pieces)

    def list(self, path: str | None = None) -> list[FileInfo]:
        relative = check_artifact_path(path)
        prefix = self._key(relative)
        prefix = f"{prefix}/" if prefix else ""
        infos: list[FileInfo] = []
        try:
            pages = (
                _client()
                .get_paginator("list_objects_v2")
                .paginate(Bucket=self.bucket, Prefix=prefix, Delimiter="/")
            )
            for page in pages:
                for common in page.get("CommonPrefixes", []):
                    name = common["Prefix"][len(prefix) :].rstrip("/")
                    infos.append(FileInfo(_join(relative, name), True, None))
                for item in page.get("Contents", []):
                    name = item["Key"][len(prefix) :]
                    if name:
                        infos.append(FileInfo(_join(relative, name), False, int(item["Size"])))
        except Exception as exc:
            raise _error(exc, relative or "/") from exc
        return sorted(infos, key=lambda info: info.path)

    def _download_file(self, path: str, out: Path) -> None:
        _, pieces = self.stream(path)
        fd, tmp = tempfile.mkstemp(dir=out.parent, prefix=".tmp-")
        try:
            with open(fd, "wb") as sink:
                for piece in pieces:
                    sink.write(piece)
            shutil.move(tmp, out)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise


def _join(folder: str, name: str) -> str:
    return f"{folder}/{name}" if folder else name


class _S3Upload:
    """Parts of 8 MiB: one ``put_object`` for a small file, a multipart upload for a large
    one, completed only on ``commit`` (an aborted one leaves nothing)."""

    def __init__(self, client: Any, bucket: str, key: str) -> None:
        self._client = client
        self._bucket = bucket
        self._key = key
        self._buffer = bytearray()
        self._upload_id: str | None = None
        self._parts: list[dict[str, Any]] = []

    def write(self, data: bytes) -> None:
        self._buffer += data
        while len(self._buffer) >= PART_SIZE:
            part = bytes(self._buffer[:PART_SIZE])
            del self._buffer[:PART_SIZE]
            self._send_part(part)

    def _send_part(self, part: bytes) -> None:
        try:
            if self._upload_id is None:
                started = self._client.create_multipart_upload(Bucket=self._bucket, Key=self._key)
                self._upload_id = started["UploadId"]
            number = len(self._parts) + 1
            sent = self._client.upload_part(
                Bucket=self._bucket,
                Key=self._key,
                UploadId=self._upload_id,
                PartNumber=number,
                Body=part,
            )
        except Exception as exc:
            self.abort()
            raise _error(exc, self._key) from exc
        self._parts.append({"ETag": sent["ETag"], "PartNumber": number})

    def commit(self) -> None:
        try:
            if self._upload_id is None:
                self._client.put_object(
                    Bucket=self._bucket, Key=self._key, Body=bytes(self._buffer)
                )
                return
            if self._buffer:
                self._send_part(bytes(self._buffer))
            self._client.complete_multipart_upload(
                Bucket=self._bucket,
                Key=self._key,
                UploadId=self._upload_id,
                MultipartUpload={"Parts": self._parts},
            )
        except Exception as exc:
            self.abort()
            raise _error(exc, self._key) from exc
        finally:
            self._buffer = bytearray()

    def abort(self) -> None:
        self._buffer = bytearray()
        upload_id, self._upload_id = self._upload_id, None
        if upload_id is not None:
            # should this fail too, the bucket's lifecycle rules clean up what it leaves
            with contextlib.suppress(Exception):
                self._client.abort_multipart_upload(
                    Bucket=self._bucket, Key=self._key, UploadId=upload_id
                )
