"""The REST store: the ``Store`` protocol over HTTP, against an autolog tracking server.

Opened by ``open_store`` for ``http(s)://host:port[/prefix]`` tracking URIs. One pooled httpx
client per store keeps connections alive between the writer's batches; every call has a
timeout (``$AUTOLOG_HTTP_TIMEOUT`` seconds, 60 by default; connecting: 10). A token in
``$AUTOLOG_TRACKING_TOKEN`` is sent with every request.

Writes are idempotent, so an answer lost to a timeout or a dropped connection costs nothing:
each ``log_batch`` carries a batch id, and a batch whose answer was lost is sent again with the
same id before anything newer for its run (the server stores it at most once); a run whose
creation was sent without an answer is taken as created when the server says it exists. Metric
values travel in a binary columnar form (``autolog.wire``), not one JSON object per value.

Needs httpx (the ``client`` extra); FastAPI is not needed to log to a server.
"""

from __future__ import annotations

import builtins
import hashlib
import os
import shutil
import tempfile
import uuid
from collections import Counter
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple
from urllib.parse import urlsplit, urlunsplit

from autolog import wire
from autolog.entities import (
    AccessToken,
    Experiment,
    FileInfo,
    Metric,
    MetricColumns,
    ModelVersion,
    Param,
    Run,
    RunPage,
    RunStatus,
    RunTag,
)
from autolog.errors import (
    InvalidInputError,
    InvalidURIError,
    NotFoundError,
    StoreError,
    StoreUnavailableError,
)
from autolog.search import Comparison, OrderBy, check_page
from autolog.stores.common import Lifecycle, fork_safe_lock, history_columns
from autolog.validation import check_artifact_path

if TYPE_CHECKING:
    import httpx

__all__ = ["TOKEN_ENV", "HttpArtifactRepository", "RestStore"]

TOKEN_ENV = "AUTOLOG_TRACKING_TOKEN"
TIMEOUT_ENV = "AUTOLOG_HTTP_TIMEOUT"
_API = "/api/v1"
_CHUNK = 1 << 20
# Retries of an upload whose bytes arrived damaged (the server discards them).
_UPLOAD_TRIES = 3


class _Unanswered(NamedTuple):
    """A batch that was sent and never answered: it may have been stored, or not."""

    batch_id: str
    metrics: Sequence[Metric]
    params: Sequence[Param]
    tags: Sequence[RunTag]


def _import_httpx() -> Any:
    try:
        import httpx
    except ImportError as exc:
        raise StoreError(
            "http(s):// tracking URIs need httpx: pip install 'autolog[client]'"
        ) from exc
    return httpx


class RestStore:
    """A ``Store`` whose data lives on a tracking server.

    Example::

        store = RestStore("http://127.0.0.1:5000")
        experiment = store.get_or_create_experiment("Default")
    """

    def __init__(self, uri: str, *, token: str | None = None, timeout: float | None = None) -> None:
        parts = urlsplit(uri)
        if parts.scheme.lower() not in ("http", "https") or not parts.hostname:
            raise InvalidURIError(uri, "expected http(s)://host[:port][/prefix]")
        if parts.query or parts.fragment:
            raise InvalidURIError(uri, "a tracking server URI has no query or fragment")
        try:
            parts.port  # noqa: B018 - raises ValueError for a port that is not a number
        except ValueError as exc:
            raise InvalidURIError(uri, str(exc)) from None
        self.uri = uri
        self.base_url = urlunsplit((parts.scheme, parts.netloc, parts.path.rstrip("/"), "", ""))
        self._token = token if token is not None else os.environ.get(TOKEN_ENV) or None
        if timeout is None:
            configured = os.environ.get(TIMEOUT_ENV, "60")
            try:
                timeout = float(configured)
            except ValueError:
                raise InvalidInputError(
                    f"{TIMEOUT_ENV} is a number of seconds, not {configured!r}"
                ) from None
        self._timeout = timeout
        self._httpx = _import_httpx()
        self._lock = fork_safe_lock(self)
        self._client: httpx.Client | None = None
        self._pid = os.getpid()
        self._closed = False
        self._artifact_root: str | None = None
        self._unanswered: dict[str, _Unanswered] = {}
        self._unanswered_creates: set[str] = set()

    def __repr__(self) -> str:
        return f"RestStore({self.base_url!r})"

    # ---------------------------------------------------------------------------- connection

    def _http(self) -> httpx.Client:
        if self._closed:
            raise StoreError(f"the store {self.base_url} is closed")
        client = self._client
        if client is not None and self._pid == os.getpid():
            return client
        with self._lock:
            if self._client is None or self._pid != os.getpid():
                # After a fork the parent's connections are left alone (sharing a socket
                # between two processes garbles both conversations).
                httpx = self._httpx
                headers = {"User-Agent": f"autolog/{_version()}"}
                if self._token:
                    headers["Authorization"] = f"Bearer {self._token}"
                self._client = httpx.Client(
                    base_url=self.base_url + _API,
                    headers=headers,
                    timeout=httpx.Timeout(self._timeout, connect=min(self._timeout, 10.0)),
                    # the server keeps idle connections 75 s: close ours first
                    limits=httpx.Limits(max_keepalive_connections=8, keepalive_expiry=30.0),
                    transport=httpx.HTTPTransport(retries=1),
                    trust_env=True,
                )
                self._pid = os.getpid()
            return self._client

    def _request(
        self,
        method: str,
        path: str,
        *,
        json: Any = None,
        content: Any = None,
        params: Mapping[str, Any] | None = None,
        headers: Mapping[str, str] | None = None,
        stream: bool = False,
    ) -> httpx.Response:
        """One request; its failures as ``AutologError``s (``_Lost`` where the request may have
        reached the server without its answer reaching us)."""
        httpx = self._httpx
        body = wire.dumps(json) if json is not None else content
        all_headers = dict(headers or {})
        if json is not None:
            all_headers["Content-Type"] = "application/json"
        client = self._http()
        try:
            request = client.build_request(
                method, path, content=body, params=params, headers=all_headers
            )
            response = client.send(request, stream=stream)
        except (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout) as exc:
            raise StoreUnavailableError(
                f"the tracking server at {self.base_url} does not answer ({_reason(exc)})"
            ) from exc
        except httpx.TransportError as exc:
            raise _Lost(
                f"the tracking server at {self.base_url} did not answer {method} {path} "
                f"({_reason(exc)})"
            ) from exc
        if response.status_code >= 400:
            try:
                if stream:
                    response.read()
                data = response.json()
            except Exception:
                data = None
            finally:
                response.close()
            raise wire.error_from_json(response.status_code, data)
        return response

    def _json(self, method: str, path: str, **kwargs: Any) -> Any:
        response = self._request(method, path, **kwargs)
        try:
            return response.json()
        except ValueError as exc:
            raise StoreError(
                f"the tracking server at {self.base_url} sent something that is not JSON "
                f"for {method} {path}"
            ) from exc

    def server_info(self) -> dict[str, Any]:
        """The server's version, whether it needs tokens, its artifact root and limits."""
        info: dict[str, Any] = self._json("GET", "/server")
        return info

    @property
    def artifact_root(self) -> str:
        """Where the server's new experiments keep artifacts (asked once)."""
        if self._artifact_root is None:
            self._artifact_root = str(self.server_info()["artifact_root"])
        return self._artifact_root

    @artifact_root.setter
    def artifact_root(self, value: str) -> None:
        raise StoreError("a tracking server's artifact root is set on the server")

    # ---------------------------------------------------------------------------- experiments

    def get_or_create_experiment(self, name: str) -> Experiment:
        return wire.experiment_from_json(self._json("POST", "/experiments", json={"name": name}))

    def get_experiment(self, experiment_id: str) -> Experiment:
        path = f"/experiments/{_segment(experiment_id, 'experiment', experiment_id)}"
        return wire.experiment_from_json(self._json("GET", path))

    def get_experiment_by_name(self, name: str) -> Experiment | None:
        found = self._json("GET", "/experiments", params={"name": name})["experiments"]
        return wire.experiment_from_json(found[0]) if found else None

    def list_experiments(self, lifecycle: Lifecycle = "active") -> list[Experiment]:
        found = self._json("GET", "/experiments", params={"lifecycle": lifecycle})
        return [wire.experiment_from_json(e) for e in found["experiments"]]

    def rename_experiment(self, experiment_id: str, name: str) -> None:
        self._request("PATCH", self._experiment_path(experiment_id), json={"name": name})

    def delete_experiment(self, experiment_id: str) -> None:
        self._request("DELETE", self._experiment_path(experiment_id))

    def restore_experiment(self, experiment_id: str) -> None:
        self._request("POST", self._experiment_path(experiment_id) + "/restore")

    def purge_experiment(self, experiment_id: str) -> None:
        """Removes the artifacts on the server too."""
        self._request("POST", self._experiment_path(experiment_id) + "/purge")

    @staticmethod
    def _experiment_path(experiment_id: str) -> str:
        return f"/experiments/{_segment(experiment_id, 'experiment', experiment_id)}"

    # ----------------------------------------------------------------------------------- runs

    def create_run(
        self,
        run_id: str,
        experiment_id: str,
        run_name: str,
        start_time: int,
        artifact_uri: str,
        parent_run_id: str | None,
        tags: Mapping[str, str],
    ) -> None:
        body = {
            "run_id": run_id,
            "experiment_id": experiment_id,
            "run_name": run_name,
            "start_time": start_time,
            "artifact_uri": artifact_uri,
            "parent_run_id": parent_run_id,
            "tags": dict(tags),
        }
        try:
            self._request("POST", "/runs", json=body)
        except _Lost:
            self._unanswered_creates.add(run_id)
            raise
        except wire.AlreadyExistsError:
            # An earlier try that was never answered created it: that was this very run.
            if run_id in self._unanswered_creates:
                self._unanswered_creates.discard(run_id)
                return
            raise
        self._unanswered_creates.discard(run_id)

    def update_run(self, run_id: str, status: RunStatus, end_time: int | None) -> None:
        body = {"status": RunStatus(status).value, "end_time": end_time}
        self._request("PATCH", f"/runs/{_run_segment(run_id)}", json=body)

    def get_run(self, run_id: str) -> Run:
        return wire.run_from_json(self._json("GET", f"/runs/{_run_segment(run_id)}"))

    def search_runs(
        self,
        experiment_ids: Sequence[str] | None,
        filters: Sequence[Comparison],
        order_by: Sequence[OrderBy],
        max_results: int,
        lifecycle: Lifecycle = "active",
    ) -> list[Run]:
        body = {
            "lifecycle": lifecycle,
            "experiment_ids": None if experiment_ids is None else list(experiment_ids),
            "filters": [wire.comparison_to_json(c) for c in filters],
            "order": [wire.order_by_to_json(o) for o in order_by],
            "max_results": max_results,
        }
        found = self._json("POST", "/runs/search", json=body)["runs"]
        return [wire.run_from_json(r) for r in found]

    def delete_run(self, run_id: str) -> None:
        self._request("DELETE", f"/runs/{_run_segment(run_id)}")

    def restore_run(self, run_id: str) -> None:
        self._request("POST", f"/runs/{_run_segment(run_id)}/restore")

    def purge_run(self, run_id: str) -> None:
        """Removes the run's artifacts on the server too."""
        self._request("POST", f"/runs/{_run_segment(run_id)}/purge")

    def search_run_page(
        self,
        experiment_ids: Sequence[str] | None,
        filters: Sequence[Comparison],
        order_by: Sequence[OrderBy],
        offset: int,
        limit: int,
        top_level: bool = False,
        lifecycle: Lifecycle = "active",
    ) -> RunPage:
        check_page(offset, limit)
        body = {
            "experiment_ids": None if experiment_ids is None else list(experiment_ids),
            "filters": [wire.comparison_to_json(c) for c in filters],
            "order": [wire.order_by_to_json(o) for o in order_by],
            "offset": offset,
            "limit": limit,
            "top_level": top_level,
            "lifecycle": lifecycle,
        }
        found = self._json("POST", "/runs/search-page", json=body)
        return RunPage(
            [wire.run_from_json(r) for r in found["runs"]],
            int(found["total"]),
            {str(k): int(v) for k, v in found["child_counts"].items()},
        )

    # -------------------------------------------------------------------- params, tags, metrics

    def log_batch(
        self,
        run_id: str,
        metrics: Sequence[Metric] = (),
        params: Sequence[Param] = (),
        tags: Sequence[RunTag] = (),
        batch_id: str | None = None,
    ) -> None:
        """One request for the whole batch; see the module docstring for retries."""
        with self._lock:
            unanswered = self._unanswered.pop(run_id, None)
        if unanswered is not None:
            try:
                self._send_batch(run_id, unanswered)
            except _Lost:
                with self._lock:
                    self._unanswered[run_id] = unanswered
                raise
            # The caller sends those values again (they were not known to be stored): they
            # are stored now, so send only the rest.
            metrics, params, tags = (
                _without(metrics, unanswered.metrics),
                _without(params, unanswered.params),
                _without(tags, unanswered.tags),
            )
            if not (metrics or params or tags):
                return
        batch = _Unanswered(batch_id or uuid.uuid4().hex, metrics, params, tags)
        try:
            self._send_batch(run_id, batch)
        except _Lost:
            with self._lock:
                self._unanswered[run_id] = batch
            raise

    def _send_batch(self, run_id: str, batch: _Unanswered) -> None:
        header = {
            "batch_id": batch.batch_id,
            "params": wire.params_to_json(batch.params),
            "tags": wire.tags_to_json(batch.tags),
        }
        body = wire.encode_metrics(batch.metrics, header)
        self._request(
            "POST",
            f"/runs/{_run_segment(run_id)}/batch",
            content=body,
            headers={"Content-Type": wire.METRICS_MEDIA_TYPE},
        )

    def get_metric_history(self, run_id: str, key: str) -> list[Metric]:
        response = self._request(
            "GET",
            f"/runs/{_run_segment(run_id)}/metric-history",
            params={"key": key},
            headers={"Accept": wire.METRICS_MEDIA_TYPE},
        )
        if wire.METRICS_MEDIA_TYPE not in response.headers.get("content-type", ""):
            raise StoreError(f"the tracking server at {self.base_url} sent no metric history")
        _, metrics = wire.decode_metrics(response.content)
        return metrics

    def get_metric_columns(
        self, run_id: str, key: str, min_step: int | None = None, max_step: int | None = None
    ) -> MetricColumns:
        # The whole history in the binary form, cut here: charts ask the server for
        # downsampled series instead (GET /api/v1/metric-series).
        return history_columns(self.get_metric_history(run_id, key), min_step, max_step)

    # --------------------------------------------------------------------------- artifact hashes

    def record_artifact_hashes(self, run_id: str, hashes: Mapping[str, str]) -> None:
        if hashes:
            path = f"/runs/{_run_segment(run_id)}/artifact-hashes"
            self._request("POST", path, json={"hashes": dict(hashes)})
        else:
            self.get_run(run_id)  # still NotFoundError for a missing run, as every store

    def get_artifact_hashes(self, run_id: str, prefix: str = "") -> dict[str, str]:
        try:
            found = self._json(
                "GET",
                f"/runs/{_run_segment(run_id)}/artifact-hashes",
                params={"prefix": prefix},
            )
        except NotFoundError as exc:
            if exc.what == "run":
                return {}  # like every store: no run, no digests
            raise
        return dict(found["hashes"])

    def run_artifacts(self, run_id: str) -> HttpArtifactRepository:
        """The run's files, read and written through the server."""
        return HttpArtifactRepository(self, run_id)

    # ------------------------------------------------------------------------------ registry

    def create_model_version(self, name: str, source: str, run_id: str | None) -> ModelVersion:
        body = {"name": name, "source": source, "run_id": run_id}
        return wire.model_version_from_json(self._json("POST", "/model-versions", json=body))

    def get_model_version(self, name: str, version: int) -> ModelVersion:
        found = self._json("GET", "/model-versions", params={"name": name, "version": version})
        return wire.model_version_from_json(found)

    def set_model_alias(self, name: str, alias: str, version: int) -> None:
        body = {"name": name, "alias": alias, "version": version}
        self._request("PUT", "/model-aliases", json=body)

    def get_model_version_by_alias(self, name: str, alias: str) -> ModelVersion:
        found = self._json("GET", "/model-versions/by-alias", params={"name": name, "alias": alias})
        return wire.model_version_from_json(found)

    def list_model_versions(self, name: str | None = None) -> list[ModelVersion]:
        params = {} if name is None else {"name": name}
        found = self._json("GET", "/registered-models/versions", params=params)
        return [wire.model_version_from_json(v) for v in found["versions"]]

    # -------------------------------------------------------------------------------- tokens

    def create_token(self, token: AccessToken) -> None:
        self._request("POST", "/tokens", json=token._asdict())

    def get_token(self, token_id: str) -> AccessToken | None:
        try:
            found = self._json("GET", f"/tokens/{_segment(token_id, 'token', token_id)}")
        except NotFoundError:
            return None
        return wire.token_from_json(found)

    def list_tokens(self) -> list[AccessToken]:
        return [wire.token_from_json(t) for t in self._json("GET", "/tokens")["tokens"]]

    def revoke_token(self, name: str) -> None:
        self._request("DELETE", "/tokens", params={"name": name})

    # ---------------------------------------------------------------------------------- close

    def close(self) -> None:
        with self._lock:
            self._closed = True
            client, self._client = self._client, None
        if client is not None and self._pid == os.getpid():
            client.close()

    def __enter__(self) -> RestStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class _Lost(StoreUnavailableError):
    """The request went out, its answer did not come back: it may or may not have been done."""


def _reason(exc: Exception) -> str:
    text = str(exc)
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def _version() -> str:
    from autolog import __version__

    return __version__


def _segment(value: str, what: str, name: str) -> str:
    """``value`` as one path segment: anything that would not be one cannot name a record."""
    from urllib.parse import quote

    if not value or value in (".", "..") or "/" in value or "\\" in value:
        raise NotFoundError(what, name)
    return quote(value, safe="")


def _run_segment(run_id: str) -> str:
    return _segment(run_id, "run", run_id)


def _without(items: Sequence[Any], sent: Sequence[Any]) -> list[Any]:
    """``items`` less the very objects in ``sent`` (by identity: the writer sends the same
    objects again; an equal value logged twice is two values)."""
    if not sent:
        return list(items)
    pending = Counter(id(item) for item in sent)
    kept = []
    for item in items:
        if pending[id(item)] > 0:
            pending[id(item)] -= 1
        else:
            kept.append(item)
    return kept


class HttpArtifactRepository:
    """A run's artifacts through the tracking server: uploads streamed from the file with
    their SHA-256 (checked by the server), downloads streamed to disk and checked against the
    recorded SHA-256 the server sends along."""

    def __init__(self, store: RestStore, run_id: str) -> None:
        self._store = store
        self.run_id = run_id
        self.artifact_uri = f"{store.base_url}{_API}/runs/{run_id}/artifacts"
        self._base = f"/runs/{_run_segment(run_id)}/artifacts"

    def _file(self, path: str) -> str:
        from urllib.parse import quote

        checked = check_artifact_path(path)
        if not checked:
            raise InvalidInputError("this needs the path of a file, not the artifact root")
        return f"{self._base}/{quote(checked, safe='/')}"

    def put_file(self, source: Path, path: str) -> str:
        digest = _sha256_file(source)
        for attempt in range(_UPLOAD_TRIES):
            try:
                with source.open("rb") as stream:
                    self._store._request(
                        "PUT",
                        self._file(path),
                        content=_pieces(stream),
                        headers={
                            "Content-Type": "application/octet-stream",
                            "Content-Length": str(os.fstat(stream.fileno()).st_size),
                            "X-Content-SHA256": digest,
                        },
                    )
                return digest
            except wire.DigestMismatchError:
                if attempt == _UPLOAD_TRIES - 1:
                    raise
        return digest  # pragma: no cover - the loop returns or raises

    def put_bytes(self, path: str, data: bytes, sha256: str | None = None) -> str:
        digest = sha256 or hashlib.sha256(data).hexdigest()
        self._store._request(
            "PUT",
            self._file(path),
            content=data,
            headers={"Content-Type": "application/octet-stream", "X-Content-SHA256": digest},
        )
        return digest

    def read_bytes(self, path: str) -> bytes:
        """The file's bytes, unchecked: ``load_model`` checks them against the store."""
        return self._store._request("GET", self._file(path)).content

    def list(self, path: str | None = None) -> list[FileInfo]:
        found = self._store._json("GET", self._base, params={"path": check_artifact_path(path)})[
            "files"
        ]
        return [wire.file_info_from_json(f) for f in found]

    def download(self, path: str | None, dst: Path) -> Path:
        relative = check_artifact_path(path)
        dst.mkdir(parents=True, exist_ok=True)
        name = relative.rsplit("/", 1)[-1] if relative else "artifacts"
        out = dst / name
        if relative:
            try:
                self._download_file(relative, out)
                return out
            except NotFoundError:
                pass  # not a file: maybe a folder
        children = self.list(relative)
        if not children:
            raise NotFoundError("artifact", relative or "/")
        self._download_tree(children, out)
        return out

    def _download_tree(self, children: builtins.list[FileInfo], out: Path) -> None:
        out.mkdir(parents=True, exist_ok=True)
        for info in children:
            target = out / info.path.rsplit("/", 1)[-1]
            if info.is_dir:
                self._download_tree(self.list(info.path), target)
            else:
                self._download_file(info.path, target)

    def _download_file(self, path: str, out: Path) -> None:
        with self._streamed(path) as (recorded, pieces):
            digest = hashlib.sha256()
            fd, tmp = tempfile.mkstemp(dir=out.parent, prefix=".tmp-")
            try:
                with open(fd, "wb") as sink:
                    for piece in pieces:
                        digest.update(piece)
                        sink.write(piece)
                if recorded is not None and digest.hexdigest() != recorded:
                    raise StoreError(
                        f"artifact {path!r} does not match the SHA-256 recorded for it (changed "
                        "on the server, or damaged on the way): not downloaded"
                    )
                shutil.move(tmp, out)
            except BaseException:
                Path(tmp).unlink(missing_ok=True)
                raise

    @contextmanager
    def _streamed(self, path: str) -> Iterator[tuple[str | None, Iterator[bytes]]]:
        httpx = self._store._httpx
        response = self._store._request("GET", self._file(path), stream=True)
        try:
            yield response.headers.get("x-content-sha256"), response.iter_bytes(_CHUNK)
        except httpx.TransportError as exc:
            raise StoreUnavailableError(
                f"the download of artifact {path!r} broke off ({_reason(exc)})"
            ) from exc
        finally:
            response.close()


def _sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as stream:
        while block := stream.read(_CHUNK):
            digest.update(block)
    return digest.hexdigest()


def _pieces(stream: Any) -> Iterator[bytes]:
    while block := stream.read(_CHUNK):
        yield block
