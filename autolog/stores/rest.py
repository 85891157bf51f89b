"""The REST store: the ``Store`` protocol over HTTP, against an autolog tracking server.

Opened by ``open_store`` for ``http(s)://host:port[/prefix]`` tracking URIs. One pooled httpx
client per store keeps connections alive between the writer's batches; every call has a
timeout (``$AUTOLOG_HTTP_TIMEOUT`` seconds, 60 by default; connecting: 10). The token in
``$AUTOLOG_TRACKING_TOKEN`` is read for every request, so a replaced token takes effect at once.

A server whose own store is out (its database stopped or locked) answers 503 with
``Retry-After``: the write is tried again, as told, for up to ``_UNAVAILABLE_SECONDS``. When the
server does not answer at all (down, restarting, too slow, refusing the token), or its store
stays out, writes go to the spool (``autolog.stores.spool``) instead of failing, so training
goes on: one warning, the writes kept in order on disk under ``./autolog-runs/spool`` (all of
this on the writer's thread, never the caller's) and sent by a background thread as soon as
the server answers again (it asks every ``_DRAIN_EVERY`` seconds at most), and at exit for up
to ``_EXIT_DRAIN_SECONDS``. ``settle`` tells stored from spooled, for ``flush()``.

Writes are idempotent, so an answer lost to a timeout or a dropped connection costs nothing:
each batch carries an id the server stores it under at most once, and a run whose creation
comes back from the spool is taken as created when the server says it exists. Metric values
travel in a binary columnar form (``autolog.wire``), not one JSON object per value. ``sync``
sends spools left by processes that exited while the server was away.

Needs httpx (the ``client`` extra); FastAPI is not needed to log to a server.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
import threading
import time
import uuid
import weakref
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit, urlunsplit

from autolog import lifecycle, wire
from autolog.artifacts.remote import DownloadsFileByFile
from autolog.entities import (
    AccessToken,
    Experiment,
    FileInfo,
    Metric,
    MetricColumns,
    ModelVersion,
    Param,
    RegisteredModel,
    Run,
    RunPage,
    RunStatus,
    RunTag,
)
from autolog.errors import (
    AutologError,
    AutologWarning,
    InvalidInputError,
    InvalidURIError,
    NotFoundError,
    StoreError,
    StoreUnavailableError,
)
from autolog.search import Comparison, OrderBy, check_page
from autolog.stores.common import Lifecycle, fork_safe_lock, history_columns
from autolog.stores.spool import (
    Op,
    Progress,
    Spool,
    SyncReport,
    spool_root,
    spooled_sessions,
    take_session,
)
from autolog.stores.writes import RunCreation, RunWrites
from autolog.tracking import check_storable, check_writes
from autolog.validation import check_artifact_path, check_key, check_name

if TYPE_CHECKING:
    import httpx

__all__ = ["TOKEN_ENV", "HttpArtifactRepository", "RestStore", "sync"]

TOKEN_ENV = "AUTOLOG_TRACKING_TOKEN"
TIMEOUT_ENV = "AUTOLOG_HTTP_TIMEOUT"
_API = "/api/v1"
_CHUNK = 1 << 20
# Retries of an upload whose bytes arrived damaged (the server discards them).
_UPLOAD_TRIES = 3


# At exit, how long the spool may take to reach a server that answers again.
_EXIT_DRAIN_SECONDS = 5.0
# How long a write answered 503 (the server's store is out) is tried again before it is spooled,
# and the longest wait between tries whatever Retry-After says.
_UNAVAILABLE_SECONDS = 10.0
_RETRY_AFTER_MAX = 2.0
# The longest pause of the spool's sender between tries: it costs one refused connection.
_DRAIN_EVERY = 1.0
_OFFLINE = "offline:"


def _import_httpx() -> Any:
    try:
        import httpx
    except ImportError as exc:
        raise StoreError(
            "http(s):// tracking URIs need httpx: pip install 'autolog[client]'"
        ) from exc
    return httpx


_RUN_FIELDS = ("experiment_id", "run_name", "start_time", "artifact_uri", "parent_run_id", "tags")


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
        # None: $AUTOLOG_TRACKING_TOKEN, read for every request (a token replaced in a
        # long-lived process, a notebook say, takes effect at once)
        self._token = token
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
        # the spool: writes the server did not take, in order (see autolog.stores.spool)
        self._spool_root = spool_root()
        self._spool: Spool | None = None
        self._drain_lock = threading.Lock()
        self._drainer: threading.Thread | None = None
        self._wake = threading.Event()
        self._warned = False
        self._told_spooled = False
        self._provisional: dict[str, Experiment] = {}
        self._refused_runs: set[str] = set()
        # (run, path) -> the SHA-256 just recorded for it: the file uploaded next under that
        # path is the snapshot hashed while it was staged, so it is not read twice to hash it
        # (the server checks the bytes against it all the same)
        self._recorded: dict[tuple[str, str], str] = {}
        _stores.add(self)

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
                self._client = httpx.Client(
                    base_url=self.base_url + _API,
                    headers=headers,
                    event_hooks={"request": [self._authorize]},
                    timeout=httpx.Timeout(self._timeout, connect=min(self._timeout, 10.0)),
                    # the server keeps idle connections 75 s: close ours first
                    limits=httpx.Limits(max_keepalive_connections=8, keepalive_expiry=30.0),
                    transport=httpx.HTTPTransport(retries=1),
                    trust_env=True,
                )
                self._pid = os.getpid()
            return self._client

    def _authorize(self, request: httpx.Request) -> None:
        token = self._token if self._token is not None else os.environ.get(TOKEN_ENV)
        if token:
            request.headers["Authorization"] = f"Bearer {token}"
        else:
            request.headers.pop("Authorization", None)

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
        # A read may meet a kept-alive connection the other end has just closed: it is asked
        # once more on a new one. (Writes are not: the spool sends them again, with their ids.)
        tries = 2 if method == "GET" else 1
        for attempt in range(tries):
            try:
                request = client.build_request(
                    method, path, content=body, params=params, headers=all_headers
                )
                response = client.send(request, stream=stream)
                break
            except (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout) as exc:
                raise StoreUnavailableError(
                    f"the tracking server at {self.base_url} does not answer ({_reason(exc)})"
                ) from exc
            except (httpx.RemoteProtocolError, httpx.ReadError) as exc:
                if attempt + 1 < tries:
                    continue
                raise _Lost(
                    f"the tracking server at {self.base_url} did not answer {method} {path} "
                    f"({_reason(exc)})"
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
            error = wire.error_from_json(response.status_code, data)
            if response.status_code == 503:
                raise _Unavailable(str(error), _retry_after(response.headers.get("retry-after")))
            raise error
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

    def get_or_create_experiment(
        self, name: str, *, creation_time: int | None = None
    ) -> Experiment:
        """The experiment called ``name``; while the server is away, a stand-in that the
        spooled runs are moved to once it answers (not for an import, which gives
        ``creation_time``: that is the server's to keep, so it is asked now)."""
        check_name(name, "experiment name")  # refused here, as by the server's service
        if creation_time is not None:
            body = {"name": name, "creation_time": creation_time}
            return wire.experiment_from_json(self._json("POST", "/experiments", json=body))
        if self._spool_pending():
            return self._offline_experiment(name)
        try:
            return self._experiment_online(name)
        except StoreUnavailableError as exc:
            self._went_offline(exc)
            return self._offline_experiment(name)

    def _experiment_online(self, name: str) -> Experiment:
        return wire.experiment_from_json(self._json("POST", "/experiments", json={"name": name}))

    def _offline_experiment(self, name: str) -> Experiment:
        experiment_id = f"{_OFFLINE}{name}"
        found = self._provisional.get(experiment_id)
        if found is None:
            now = time.time_ns() // 1_000_000
            found = Experiment(experiment_id, name, f"{self.base_url}/{_OFFLINE}", now)
            self._provisional[experiment_id] = found
        return found

    def get_experiment(self, experiment_id: str) -> Experiment:
        provisional = self._provisional.get(experiment_id)
        if provisional is not None:
            return provisional
        path = f"/experiments/{_segment(experiment_id, 'experiment', experiment_id)}"
        return wire.experiment_from_json(self._read("GET", path))

    def get_experiment_by_name(self, name: str) -> Experiment | None:
        found = self._read("GET", "/experiments", params={"name": name})["experiments"]
        return wire.experiment_from_json(found[0]) if found else None

    def list_experiments(self, lifecycle: Lifecycle = "active") -> list[Experiment]:
        found = self._read("GET", "/experiments", params={"lifecycle": lifecycle})
        return [wire.experiment_from_json(e) for e in found["experiments"]]

    def rename_experiment(self, experiment_id: str, name: str) -> None:
        check_name(name, "experiment name")
        self._request("PATCH", self._experiment_path(experiment_id), json={"name": name})

    def delete_experiment(self, experiment_id: str, *, deleted_time: int | None = None) -> None:
        params = None if deleted_time is None else {"deleted_time": deleted_time}
        self._request("DELETE", self._experiment_path(experiment_id), params=params)

    def set_experiment_tag(self, experiment_id: str, key: str, value: str) -> None:
        path = self._experiment_path(experiment_id) + "/tags"
        self._request("PUT", path, json={"key": key, "value": value})

    def delete_experiment_tag(self, experiment_id: str, key: str) -> None:
        path = self._experiment_path(experiment_id) + "/tags"
        self._request("DELETE", path, params={"key": key})

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
        creation = RunCreation(
            experiment_id, run_name, start_time, artifact_uri, parent_run_id, tags
        )
        check_writes(run_id, RunWrites(create=creation))
        meta = {
            "experiment_id": experiment_id,
            "run_name": run_name,
            "start_time": start_time,
            "artifact_uri": artifact_uri,
            "parent_run_id": parent_run_id,
            "tags": dict(tags),
        }
        self._submit(Op("create_run", run_id, meta))

    def _create_run(self, op: Op, *, again: bool) -> None:
        meta = dict(op.meta)
        experiment_id = str(meta["experiment_id"])
        if experiment_id.startswith(_OFFLINE):
            # made while the server was away: the experiment is known by its name only
            real = self._experiment_online(experiment_id[len(_OFFLINE) :])
            meta["experiment_id"] = real.experiment_id
            meta["artifact_uri"] = f"{real.artifact_location}/{op.run_id}/artifacts"
        body = {"run_id": op.run_id, **{k: meta[k] for k in _RUN_FIELDS}}
        try:
            self._request("POST", "/runs", json=body)
        except wire.AlreadyExistsError:
            if not again:
                raise
            # sent before without an answer: that earlier try created this very run

    def update_run(self, run_id: str, status: RunStatus, end_time: int | None) -> None:
        meta = {"status": RunStatus(status).value, "end_time": end_time}
        self._submit(Op("update_run", run_id, meta))

    def rename_run(self, run_id: str, name: str) -> None:
        """Sent at once, not spooled: a person renames, and hears the server's answer."""
        check_name(name, "run name")
        self._request("PATCH", f"/runs/{_run_segment(run_id)}", json={"run_name": name})

    def delete_tag(self, run_id: str, key: str) -> None:
        """Sent at once, not spooled (an admin's request, as every delete)."""
        check_key(key)
        self._request("DELETE", f"/runs/{_run_segment(run_id)}/tags", params={"key": key})

    def get_run(self, run_id: str) -> Run:
        return wire.run_from_json(self._read("GET", f"/runs/{_run_segment(run_id)}"))

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
        found = self._read("POST", "/runs/search", json=body)["runs"]
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
        return wire.run_page_from_json(self._read("POST", "/runs/search-page", json=body))

    # -------------------------------------------------------------------- params, tags, metrics

    def log_batch(
        self,
        run_id: str,
        metrics: Sequence[Metric] = (),
        params: Sequence[Param] = (),
        tags: Sequence[RunTag] = (),
        batch_id: str | None = None,
    ) -> None:
        """One request for the whole batch, under a batch id (see the module docstring)."""
        # what the server's service would refuse is refused before sending (or spooling)
        check_writes(run_id, RunWrites(metrics=metrics, params=params, tags=tags))
        header = {
            "batch_id": batch_id or uuid.uuid4().hex,
            "params": wire.params_to_json(params),
            "tags": wire.tags_to_json(tags),
        }
        body = wire.encode_metrics(metrics, header)
        values = len(metrics) + len(params) + len(tags)
        self._submit(Op("batch", run_id, {"batch_id": header["batch_id"]}, body, None, values))

    def get_metric_history(self, run_id: str, key: str) -> list[Metric]:
        self._before_read()
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
        check_writes(run_id, RunWrites(hashes=hashes))
        if len(self._recorded) > 10_000:
            self._recorded.clear()  # hints only: forgetting them costs a hash each
        self._recorded.update(((run_id, path), digest) for path, digest in hashes.items())
        if hashes:
            self._submit(Op("hashes", run_id, {"hashes": dict(hashes)}, values=len(hashes)))
        else:
            self.get_run(run_id)  # still NotFoundError for a missing run, as every store

    def get_artifact_hashes(self, run_id: str, prefix: str = "") -> dict[str, str]:
        try:
            found = self._read(
                "GET",
                f"/runs/{_run_segment(run_id)}/artifact-hashes",
                params={"prefix": prefix},
            )
        except NotFoundError as exc:
            if exc.what == "run":
                return {}  # like every store: no run, no digests
            raise
        return dict(found["hashes"])

    def record_model(self, run_id: str, path: str, files: Mapping[str, str]) -> None:
        check_writes(run_id, RunWrites(models={path: files}))
        meta = {"path": path, "files": dict(files)}
        self._submit(Op("model", run_id, meta, values=len(files)))

    def write_run(self, run_id: str, writes: RunWrites) -> None:
        """``writes`` through the server's endpoints, in ``write_run``'s order: the run's
        creation, one batch, the artifact hashes, each model, the run's end.

        All of it is checked before the first request, so what no store takes is refused
        whole, nothing sent. Each request goes as the method it stands for sends it (spooled
        while the server is away, behind what was spooled before) and may be sent again: a
        creation met by its own earlier try is the run, the batch carries a batch id (the
        server stores it once), hashes and models are put, the end is the same end. The
        server applies them one by one: one unit of work is its store's promise, not the
        wire's."""
        check_writes(run_id, writes)
        create = writes.create
        if create is not None:
            # sent before by this very write (a retry) where it exists: the run is this one
            with suppress(wire.AlreadyExistsError):
                self.create_run(run_id, *create)
        if writes.metrics or writes.params or writes.tags:
            batch_id = writes.batch_id or uuid.uuid4().hex
            self.log_batch(run_id, writes.metrics, writes.params, writes.tags, batch_id)
        if writes.hashes:
            self.record_artifact_hashes(run_id, writes.hashes)
        for path, files in (writes.models or {}).items():
            self.record_model(run_id, path, files)
        if writes.end is not None:
            self.update_run(run_id, *writes.end)

    def get_model_files(self, run_id: str, path: str) -> dict[str, str] | None:
        try:
            found = self._read(
                "GET", f"/runs/{_run_segment(run_id)}/models", params={"path": path.strip("/")}
            )
        except NotFoundError as exc:
            if exc.what == "run":
                return None  # like every store: no run, no model
            raise
        files = found["files"]
        return None if files is None else {str(k): str(v) for k, v in files.items()}

    def run_artifacts(self, run_id: str) -> HttpArtifactRepository:
        """The run's files, read and written through the server."""
        return HttpArtifactRepository(self, run_id)

    # ------------------------------------------------------------------------------ registry

    def create_model_version(self, name: str, source: str, run_id: str | None) -> ModelVersion:
        check_storable("registered model name", name)
        check_storable("model source", source)
        body = {"name": name, "source": source, "run_id": run_id}
        return wire.model_version_from_json(self._json("POST", "/model-versions", json=body))

    def get_model_version(self, name: str, version: int) -> ModelVersion:
        if not 0 < version < 2**63:  # no store holds it: not found, as in every store
            raise NotFoundError("model version", f"{name}/{version}")
        found = self._json("GET", "/model-versions", params={"name": name, "version": version})
        return wire.model_version_from_json(found)

    def set_model_alias(self, name: str, alias: str, version: int) -> None:
        check_storable("model alias", name, alias)
        body = {"name": name, "alias": alias, "version": version}
        self._request("PUT", "/model-aliases", json=body)

    def get_model_version_by_alias(self, name: str, alias: str) -> ModelVersion:
        found = self._json("GET", "/model-versions/by-alias", params={"name": name, "alias": alias})
        return wire.model_version_from_json(found)

    def get_registered_model(self, name: str) -> RegisteredModel:
        found = self._json("GET", "/registered-models/by-name", params={"name": name})
        return wire.registered_model_from_json(found)

    def search_registered_models(
        self, filter_string: str = "", max_results: int = 100
    ) -> list[RegisteredModel]:
        body = {"filter": filter_string, "max_results": max_results}
        found = self._json("POST", "/registered-models/search", json=body)
        return [wire.registered_model_from_json(m) for m in found["registered_models"]]

    def delete_model_version(self, name: str, version: int) -> None:
        self._request("DELETE", "/model-versions", params={"name": name, "version": version})

    def delete_registered_model(self, name: str) -> None:
        self._request("DELETE", "/registered-models", params={"name": name})

    def delete_model_alias(self, name: str, alias: str) -> None:
        self._request("DELETE", "/model-aliases", params={"name": name, "alias": alias})

    def rename_registered_model(self, name: str, new_name: str) -> None:
        self._request("PATCH", "/registered-models", json={"name": name, "new_name": new_name})

    def update_registered_model(self, name: str, description: str | None) -> None:
        body = {"name": name, "description": description}
        self._request("PATCH", "/registered-models", json=body)

    def update_model_version(self, name: str, version: int, description: str | None) -> None:
        body = {"name": name, "version": version, "description": description}
        self._request("PATCH", "/model-versions", json=body)

    def set_registered_model_tag(self, name: str, key: str, value: str) -> None:
        body = {"name": name, "key": key, "value": value}
        self._request("PUT", "/registered-model-tags", json=body)

    def delete_registered_model_tag(self, name: str, key: str) -> None:
        self._request("DELETE", "/registered-model-tags", params={"name": name, "key": key})

    def set_model_version_tag(self, name: str, version: int, key: str, value: str) -> None:
        body = {"name": name, "version": version, "key": key, "value": value}
        self._request("PUT", "/model-version-tags", json=body)

    def delete_model_version_tag(self, name: str, version: int, key: str) -> None:
        params = {"name": name, "version": version, "key": key}
        self._request("DELETE", "/model-version-tags", params=params)

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
        """Send what is spooled if the server answers within a few seconds; keep the rest on
        disk (and say where) for ``autolog sync``."""
        if self._closed:
            return
        deadline = time.monotonic() + _EXIT_DRAIN_SECONDS
        self._wake.set()
        drainer = self._drainer
        if drainer is not None and drainer is not threading.current_thread():
            drainer.join(_EXIT_DRAIN_SECONDS)
        # asked until the bound, not once: a server restarting as the process ends takes it all
        self._drain_until(deadline)
        self._keep_spool()
        with self._lock:
            self._closed = True
            client, self._client = self._client, None
        if client is not None and self._pid == os.getpid():
            client.close()

    # -------------------------------------------------------------------------------- spool

    def settle(self, timeout: float | None = None) -> int:
        """Send what is spooled if the server answers (within ``timeout`` seconds, else as
        long as it takes); how many values are still spooled (on disk) after that."""
        if self._spool_pending() and threading.current_thread() is not self._drainer:
            self._drain(None if timeout is None else time.monotonic() + timeout)
        spool = self._spool
        return spool.values() if spool is not None else 0

    def spool_notice(self) -> str | None:
        """What the spool holds, said once while the server stays away (None: nothing, or
        said already)."""
        spool = self._spool
        values = spool.values() if spool is not None else 0
        if not values or self._told_spooled:
            return None
        self._told_spooled = True
        assert spool is not None
        return (
            f"autolog: {values} logged values were not stored: the tracking server at "
            f"{self.base_url} does not take them; they are spooled on disk in "
            f"{spool.session or self._spool_root} "
            "and sent as soon as it answers (or by `autolog sync` once this process ends)"
        )

    def _submit(self, op: Op) -> None:
        """Send a write, or spool it (after everything spooled before it) while the server
        does not answer. Runs on the writer's thread."""
        with self._lock:
            if self._spool_pending():
                self._append(op)
                return
        try:
            self._send_patiently(op)
        except StoreUnavailableError as exc:
            self._went_offline(exc)
            with self._lock:
                self._append(op)

    def _append(self, op: Op) -> None:
        if self._spool is None:
            self._spool = Spool(self.base_url, self._spool_root)
        self._spool.append(op)
        if self._drainer is None or not self._drainer.is_alive():
            self._drainer = threading.Thread(
                target=self._drain_loop, name="autolog-spool", daemon=True
            )
            self._drainer.start()

    def _spool_pending(self) -> bool:
        spool = self._spool
        return spool is not None and len(spool) > 0

    def _send_patiently(self, op: Op, *, again: bool = False) -> None:
        """``_send``, tried again for a while where the server answers that its store is out
        (503): an outage of a few seconds costs a pause of the writer, not a spool."""
        deadline = time.monotonic() + _UNAVAILABLE_SECONDS
        while True:
            try:
                self._send(op, again=again)
                return
            except _Unavailable as exc:
                pause = min(exc.retry_after, _RETRY_AFTER_MAX, deadline - time.monotonic())
                if pause <= 0:
                    raise
                time.sleep(pause)
                # refused, not done: but an earlier try may have been, and its answer lost
                again = True

    def _send(self, op: Op, *, again: bool) -> None:
        """One write to the server; ``again``: it was sent before (from the spool)."""
        run = _run_segment(op.run_id)
        if op.kind == "batch":
            headers = {"Content-Type": wire.METRICS_MEDIA_TYPE}
            self._request("POST", f"/runs/{run}/batch", content=op.data, headers=headers)
        elif op.kind == "create_run":
            self._create_run(op, again=again)
        elif op.kind == "update_run":
            body = {"status": op.meta["status"], "end_time": op.meta["end_time"]}
            self._request("PATCH", f"/runs/{run}", json=body)
        elif op.kind == "hashes":
            self._request(
                "POST", f"/runs/{run}/artifact-hashes", json={"hashes": op.meta["hashes"]}
            )
        elif op.kind == "artifact":
            self._upload(op)
        elif op.kind == "model":
            body = {"path": op.meta["path"], "files": op.meta["files"]}
            self._request("PUT", f"/runs/{run}/models", json=body)
        else:  # pragma: no cover - the kinds are ours
            raise StoreError(f"unknown spooled write {op.kind!r}")

    def _upload(self, op: Op) -> None:
        path, digest = str(op.meta["path"]), str(op.meta["sha256"])
        target = f"/runs/{_run_segment(op.run_id)}/artifacts/{_quoted_path(path)}"
        headers = {"Content-Type": "application/octet-stream", "X-Content-SHA256": digest}
        for attempt in range(_UPLOAD_TRIES):
            try:
                if op.path is None:
                    self._request("PUT", target, content=op.data or b"", headers=headers)
                    return
                with op.path.open("rb") as stream:
                    size = os.fstat(stream.fileno()).st_size
                    self._request(
                        "PUT",
                        target,
                        content=_pieces(stream),
                        headers={**headers, "Content-Length": str(size)},
                    )
                return
            except wire.DigestMismatchError:
                if attempt == _UPLOAD_TRIES - 1:
                    raise
                if attempt == 0 and op.path is not None:
                    # the hash was the one recorded for the path, not the file's: the file's
                    # own then (what put_file returns, where it was sent at once)
                    op.meta["sha256"] = headers["X-Content-SHA256"] = _sha256_file(op.path)

    def _went_offline(self, exc: StoreUnavailableError) -> None:
        if not self._warned:
            self._warned = True
            _warn_or_log(
                f"autolog: the tracking server at {self.base_url} does not take writes "
                f"({exc}); training goes on: what is logged is kept on disk in "
                f"{self._spool_root} and sent when it answers"
            )

    def _before_read(self) -> None:
        """A process reads what it wrote: send what is spooled first (if the server answers)."""
        if self._spool_pending() and threading.current_thread() is not self._drainer:
            self._drain()

    def _read(self, method: str, path: str, **kwargs: Any) -> Any:
        self._before_read()
        return self._json(method, path, **kwargs)

    def _drain(self, deadline: float | None = None) -> bool:
        """Send the spooled writes in order; True once none is left."""
        with self._drain_lock:
            while True:
                with self._lock:
                    spool = self._spool
                    op = spool.oldest() if spool is not None else None
                    if spool is not None and op is None and spool.session is not None:
                        spool.release()  # all sent: the session folder goes
                if op is None or spool is None:
                    self._told_spooled = False  # a later outage is said again
                    return True
                if deadline is not None and time.monotonic() > deadline:
                    return False
                try:
                    self._send(op, again=True)
                except StoreUnavailableError:
                    return False
                except AutologError as exc:
                    # refused for good (a param that would change, a run the server refused):
                    # dropping it must not hold up everything spooled after it
                    self._refused(op, exc)
                with self._lock:
                    spool.done(op)

    def _refused(self, op: Op, exc: AutologError) -> None:
        if op.run_id not in self._refused_runs:
            self._refused_runs.add(op.run_id)
            _warn_or_log(
                f"autolog: the tracking server refused a spooled write for run {op.run_id} "
                f"({exc}); it is dropped, and so is anything else it refuses for that run"
            )

    def _after_fork(self) -> None:
        # The parent's spool and its thread are the parent's: the child starts without them.
        self._drain_lock = threading.Lock()
        self._drainer = None
        self._wake = threading.Event()
        self._spool = None

    def _drain_until(self, deadline: float) -> bool:
        """Send the spool, asking again every little while until ``deadline``; True once none
        is left."""
        while self._spool_pending():
            if self._drain(deadline=deadline):
                return True
            left = deadline - time.monotonic()
            if left <= 0:
                return False
            time.sleep(min(0.2, left))
        return True

    def _drain_loop(self) -> None:
        # Asked often (a refused connection costs next to nothing) so that what is spooled
        # leaves as soon as the server answers, not after a long back-off.
        delay = 0.2
        while not self._closed:
            if self._wake.wait(delay):
                return  # closing: close() takes over
            if self._drain():
                _logger().warning(
                    "autolog: the tracking server at %s answers again; spooled writes sent",
                    self.base_url,
                )
                return
            delay = min(delay * 2, _DRAIN_EVERY)

    def _keep_spool(self) -> None:
        """At close: what is still spooled goes to disk, and stderr says where."""
        spool = self._spool
        if spool is None:
            return
        with self._lock:
            values, runs = spool.values(), len(spool.runs())
            folder = spool.persist() if len(spool) else None
            spool.release()
        if folder is not None:
            lifecycle.report(
                f"the tracking server at {self.base_url} did not take {values} "
                f"logged values of {runs} run(s); they are kept in {folder}: "
                "send them with `autolog sync`"
            )

    def send_spool(self, spool: Spool, progress: Progress | None = None) -> tuple[int, int]:
        """Send every write of ``spool`` (a session another process left); (writes, values).

        Raises StoreUnavailableError if the server stops answering (what is left stays)."""
        total = len(spool)
        writes = values = 0
        while True:
            op = spool.oldest()
            if op is None:
                return writes, values
            try:
                self._send_patiently(op, again=True)
            except StoreUnavailableError:
                raise
            except AutologError as exc:
                self._refused(op, exc)
            spool.done(op)
            writes += 1
            values += op.values
            if progress is not None:
                progress(writes, total, values)

    def __enter__(self) -> RestStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


_stores: weakref.WeakSet[RestStore] = weakref.WeakSet()


def _after_fork_in_child() -> None:
    for store in list(_stores):
        store._after_fork()


lifecycle.on_fork(lifecycle.Layer.STORE, after_in_child=_after_fork_in_child)


class _Lost(StoreUnavailableError):
    """The request went out, its answer did not come back: it may or may not have been done."""


class _Unavailable(StoreUnavailableError):
    """The server answered 503: its own store is out for now; try again after ``retry_after``
    seconds."""

    def __init__(self, message: str, retry_after: float) -> None:
        super().__init__(message)
        self.retry_after = retry_after


def _retry_after(value: str | None) -> float:
    """Retry-After in seconds (an HTTP date, or nothing readable: one second)."""
    try:
        return max(0.0, float(value or ""))
    except ValueError:
        return 1.0


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


class HttpArtifactRepository(DownloadsFileByFile):
    """A run's artifacts through the tracking server: uploads streamed from the file with
    their SHA-256 (checked by the server), downloads streamed to disk and checked against the
    recorded SHA-256 the server sends along."""

    def __init__(self, store: RestStore, run_id: str) -> None:
        self._store = store
        self.run_id = run_id
        self.artifact_uri = f"{store.base_url}{_API}/runs/{run_id}/artifacts"
        self._base = f"/runs/{_run_segment(run_id)}/artifacts"

    def _file(self, path: str) -> str:
        checked = check_artifact_path(path)
        if not checked:
            raise InvalidInputError("this needs the path of a file, not the artifact root")
        return f"{self._base}/{_quoted_path(checked)}"

    def put_file(self, source: Path, path: str) -> str:
        checked = check_artifact_path(path)
        hint = self._store._recorded.pop((self.run_id, checked), None)
        # only a snapshot autolog staged (named so by autolog.artifacts.local) is taken to hold
        # what was recorded for its path; any other file is hashed
        staged = source.name.startswith(".tmp-staged-")
        digest = hint if hint is not None and staged else _sha256_file(source)
        meta = {"path": checked, "sha256": digest}
        self._store._submit(Op("artifact", self.run_id, meta, None, source))
        return meta["sha256"]

    def place(self, staged: Path, path: str) -> None:
        """Upload a snapshot made by ``stage_file`` to ``path``, then remove it (the spool
        keeps its own copy where the server does not take it now; a failed upload keeps it
        for the retry)."""
        self.put_file(staged, path)
        staged.unlink(missing_ok=True)

    def put_bytes(self, path: str, data: bytes, sha256: str | None = None) -> str:
        digest = sha256 or hashlib.sha256(data).hexdigest()
        meta = {"path": check_artifact_path(path), "sha256": digest}
        self._store._submit(Op("artifact", self.run_id, meta, data))
        return digest

    def read_bytes(self, path: str) -> bytes:
        """The file's bytes, unchecked: ``load_model`` checks them against the store."""
        self._store._before_read()
        return self._store._request("GET", self._file(path)).content

    def list(self, path: str | None = None) -> list[FileInfo]:
        found = self._store._json("GET", self._base, params={"path": check_artifact_path(path)})[
            "files"
        ]
        return [wire.file_info_from_json(f) for f in found]

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
        self._store._before_read()
        response = self._store._request("GET", self._file(path), stream=True)
        try:
            yield response.headers.get("x-content-sha256"), response.iter_bytes(_CHUNK)
        except httpx.TransportError as exc:
            raise StoreUnavailableError(
                f"the download of artifact {path!r} broke off ({_reason(exc)})"
            ) from exc
        finally:
            response.close()


def sync(
    tracking_uri: str | None = None,
    *,
    folder: str | os.PathLike[str] | None = None,
    progress: Progress | None = None,
) -> SyncReport:
    """Send what processes left spooled under ``<folder>/autolog-runs/spool`` (the working
    folder by default) to the server each spool was meant for, or to ``tracking_uri``.

    Each write is sent once and then removed; a spool half sent when this stopped is finished
    by the next call without doubling anything. Sessions of processes still running are left
    to them (counted in ``busy_sessions``).

    Raises:
        StoreUnavailableError: a server does not answer (what was not sent stays spooled).
    """
    sessions = list(spooled_sessions(spool_root(folder)))
    taken: list[tuple[Spool, str]] = []
    busy = 0
    try:
        for session in sessions:
            spool = take_session(session.path, session.target)
            if spool is None:
                busy += 1
            else:
                taken.append((spool, tracking_uri or session.target))
        total = sum(len(spool) for spool, _ in taken)
        writes = values = 0
        runs: set[str] = set()

        def step(done: int, _: int, sent: int) -> None:
            if progress is not None:
                progress(writes + done, total, values + sent)

        for spool, target in taken:
            runs |= spool.runs()
            with RestStore(target) as store:
                sent_writes, sent_values = store.send_spool(spool, step)
            writes += sent_writes
            values += sent_values
        return SyncReport(writes, values, len(runs - {""}), busy)
    finally:
        for spool, _ in taken:
            spool.release()


def _quoted_path(path: str) -> str:
    from urllib.parse import quote

    return quote(path, safe="/")


def _warn_or_log(message: str) -> None:
    """An AutologWarning that never raises (not even where warnings are errors): the writer
    thread and the user's training must survive it."""
    import warnings

    try:
        warnings.warn(message, AutologWarning, stacklevel=3)
    except Warning:
        _logger().warning("%s", message)


def _logger() -> Any:
    import logging

    return logging.getLogger(__name__)


def _sha256_file(path: Path) -> str:
    with path.open("rb") as stream:
        return hashlib.file_digest(stream, "sha256").hexdigest()


def _pieces(stream: Any) -> Iterator[bytes]:
    while block := stream.read(_CHUNK):
        yield block
