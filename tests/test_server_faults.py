"""The tracking server goes away and comes back: training goes on, nothing is lost, nothing is
stored twice, and the runs end with the right status.

Real server processes on loopback ports, killed with SIGKILL and started again on the same
port and database; a proxy that delays answers for a slow server; a token revoked mid-run.
"""

from __future__ import annotations

import socket
import time
import warnings
from collections.abc import Iterator
from pathlib import Path

import pytest

pytest.importorskip("fastapi", reason="the tracking server needs the server extra")

from servers import FaultyProxy, ServerProcess
from support import reset_autolog, run_script
from test_server import _run_command

import autolog
from autolog.entities import RunStatus
from autolog.errors import AutologWarning
from autolog.stores.spool import spooled_sessions
from autolog.tracking import PRESUMED_KILLED_TAG

pytestmark = pytest.mark.server


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Server:
    """``autolog server`` on a fixed port and database, to kill and start again."""

    def __init__(self, root: Path, port: int, *extra: str) -> None:
        self.root = root
        self.port = port
        self.extra = extra
        self.process: ServerProcess | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        args = [
            "--port",
            str(self.port),
            "--backend-store-uri",
            f"sqlite:///{self.root}/autolog.db",
            "--artifacts-destination",
            str(self.root / "artifacts"),
            *self.extra,
        ]
        self.process = ServerProcess(args, cwd=self.root)

    def kill(self) -> None:
        assert self.process is not None
        self.process.kill()

    def stop(self) -> None:
        if self.process is not None:
            self.process.stop()


@pytest.fixture
def server(tmp_path: Path) -> Iterator[Server]:
    root = tmp_path / "server"
    root.mkdir()
    found = Server(root, _free_port())
    try:
        yield found
    finally:
        found.stop()


def _autolog_warnings(caught: list[warnings.WarningMessage]) -> list[str]:
    return [str(w.message) for w in caught if issubclass(w.category, AutologWarning)]


def test_server_down_at_start_then_up(
    server: Server, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AUTOLOG_FLUSH_INTERVAL", "0.05")
    autolog.set_tracking_uri(server.url)
    (tmp_path / "notes.txt").write_text("offline notes")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        with autolog.start_run(run_name="offline-start") as run:
            autolog.log_params({"lr": 0.1})
            for step in range(500):
                autolog.log_metric("loss", 1.0 / (step + 1), step=step)
            autolog.log_artifact(tmp_path / "notes.txt")
            autolog.log_model({"trained": True})
        autolog.flush()
        autolog.flush()  # said once per outage
    messages = _autolog_warnings(caught)
    assert len(messages) == 2, messages
    assert "does not take writes" in messages[0]
    # flush() does not pass spooled values off as stored
    assert "509 logged values were not stored" in messages[1]
    assert "spooled on disk" in messages[1]

    server.start()
    stored = autolog.get_run(run.info.run_id)  # a read sends what is spooled first
    assert stored.info.status is RunStatus.FINISHED
    assert stored.info.run_name == "offline-start"
    assert dict(stored.data.params) == {"lr": "0.1"}
    assert [m.step for m in autolog.get_metric_history(run.info.run_id, "loss")] == list(range(500))
    experiment = autolog.Client(server.url).get_experiment_by_name("Default")
    assert experiment is not None
    assert stored.info.experiment_id == experiment.experiment_id
    assert autolog.load_model(f"runs:/{run.info.run_id}/model") == {"trained": True}
    copy = autolog.download_artifacts(run.info.run_id, "notes.txt")
    assert Path(copy).read_text() == "offline notes"


def test_server_killed_and_restarted_during_training(
    server: Server, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AUTOLOG_FLUSH_INTERVAL", "0.05")
    server.start()
    autolog.set_tracking_uri(server.url)
    steps = 3_000
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        with autolog.start_run() as run:
            autolog.log_param("phase", "train")
            for step in range(steps):
                autolog.log_metric("loss", float(step), step=step)
                autolog.log_metric("acc", float(step) / steps, step=step)
                if step == 1_000:
                    server.kill()
                elif step == 2_000:
                    server.start()
                time.sleep(0.0005)
        stored = autolog.get_run(run.info.run_id)
    assert len(_autolog_warnings(caught)) == 1
    assert stored.info.status is RunStatus.FINISHED
    for key in ("loss", "acc"):
        history = autolog.get_metric_history(run.info.run_id, key)
        assert [m.step for m in history] == list(range(steps)), key  # once each, none lost


def test_the_spool_goes_to_disk_beyond_its_memory_bound(
    server: Server, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("AUTOLOG_FLUSH_INTERVAL", "0.05")
    monkeypatch.setenv("AUTOLOG_SPOOL_MEMORY", "20000")  # about 800 values
    autolog.set_tracking_uri(server.url)
    with pytest.warns(AutologWarning), autolog.start_run() as run:
        for step in range(5_000):
            autolog.log_metric("loss", float(step), step=step)
            if step % 1_000 == 999:
                autolog.flush()  # a batch of 1,000 values (24 kB): over the bound on its own
        sessions = list(spooled_sessions(tmp_path / "autolog-runs" / "spool"))
        assert len(sessions) == 1
        assert sessions[0].target == server.url
        assert len(list(sessions[0].path.glob("*.batch"))) == 5
        server.start()
    history = autolog.get_metric_history(run.info.run_id, "loss")
    assert [m.step for m in history] == list(range(5_000))
    assert list(spooled_sessions(tmp_path / "autolog-runs" / "spool")) == []  # all sent


SCRIPT = """
import autolog
autolog.set_tracking_uri({url!r})
with open("weights.txt", "w") as f:
    f.write("w" * 1000)
with autolog.start_run(run_name="left-behind") as run:
    autolog.log_params({{"epochs": 3}})
    for step in range(2_000):
        autolog.log_metric("loss", 1.0 / (step + 1), step=step)
    autolog.log_artifact("weights.txt")
    autolog.log_model([1, 2, 3])
print(run.info.run_id)
"""


def test_what_is_spooled_at_exit_stays_and_autolog_sync_sends_it_once(
    server: Server, tmp_path: Path
) -> None:
    work = tmp_path / "work"
    work.mkdir()
    done = run_script(SCRIPT.format(url=server.url), work)
    assert done.returncode == 0, done.stderr
    run_id = done.stdout.strip()
    assert "autolog sync" in done.stderr
    assert "2001 logged values" in done.stderr or "logged values" in done.stderr
    assert len(list(spooled_sessions(work / "autolog-runs" / "spool"))) == 1

    server.start()
    code, _, stderr = _run_command("sync", cwd=work)
    assert code == 0, stderr
    assert "autolog sync" in stderr
    assert "sent" in stderr
    autolog.set_tracking_uri(server.url)
    stored = autolog.get_run(run_id)
    assert stored.info.status is RunStatus.FINISHED
    assert stored.data.params == {"epochs": "3"}
    assert len(autolog.get_metric_history(run_id, "loss")) == 2_000
    assert autolog.load_model(f"runs:/{run_id}/model") == [1, 2, 3]

    code, _, stderr = _run_command("sync", cwd=work)
    assert code == 0
    assert "nothing is spooled" in stderr
    assert len(autolog.get_metric_history(run_id, "loss")) == 2_000


CUT_OFF = """
import os, signal
import autolog
autolog.set_tracking_uri({url!r})
with autolog.start_run(run_name="cut-off") as run:
    autolog.log_params({{"epochs": 3}})
    autolog.log_metric("loss", 1.0, step=0)
    autolog.flush()  # the run and its first values are on the server
    os.kill({server_pid}, signal.SIGKILL)
    for step in range(1, 1_000):
        autolog.log_metric("loss", 1.0 / (step + 1), step=step)
    autolog.log_model([1, 2, 3])
print(run.info.run_id)
"""


def test_a_run_read_as_killed_before_autolog_sync_ends_as_its_owner_ended_it(
    server: Server, tmp_path: Path
) -> None:
    server.start()
    assert server.process is not None
    work = tmp_path / "work"
    work.mkdir()
    script = CUT_OFF.format(url=server.url, server_pid=server.process.process.pid)
    done = run_script(script, work)
    assert done.returncode == 0, done.stderr
    run_id = done.stdout.strip()
    assert "autolog sync" in done.stderr
    server.kill()

    # Someone looks at the run before the spool is sent: its process is gone, so it reads
    # KILLED, recorded as presumed.
    server.start()
    autolog.set_tracking_uri(server.url)
    seen = autolog.get_run(run_id)
    assert seen.info.status is RunStatus.KILLED
    assert PRESUMED_KILLED_TAG in seen.data.tags
    assert len(autolog.get_metric_history(run_id, "loss")) == 1

    code, _, stderr = _run_command("sync", cwd=work)
    assert code == 0, stderr
    assert "refused" not in stderr, stderr
    stored = autolog.get_run(run_id)
    assert stored.info.status is RunStatus.FINISHED  # the owner's word, not the reader's guess
    assert PRESUMED_KILLED_TAG not in stored.data.tags
    assert [m.step for m in autolog.get_metric_history(run_id, "loss")] == list(range(1_000))
    assert autolog.load_model(f"runs:/{run_id}/model") == [1, 2, 3]
    with pytest.raises(autolog.AutologError, match="FINISHED"):
        autolog.Client(server.url).log_metric(run_id, "late", 1.0)
    # only autolog marks a run presumed killed
    with autolog.start_run() as other, pytest.raises(autolog.InvalidInputError, match="autolog"):
        autolog.set_tag(PRESUMED_KILLED_TAG, "1")
    with pytest.raises(autolog.InvalidInputError, match="autolog"):
        autolog.start_run(tags={PRESUMED_KILLED_TAG: "1"})
    assert PRESUMED_KILLED_TAG not in autolog.get_run(other.info.run_id).data.tags


def test_a_sync_cut_short_is_finished_by_the_next_without_doubling(
    server: Server, tmp_path: Path
) -> None:
    work = tmp_path / "work"
    work.mkdir()
    done = run_script(SCRIPT.format(url=server.url), work)
    assert done.returncode == 0, done.stderr
    run_id = done.stdout.strip()
    server.start()
    proxy = FaultyProxy(server.url)
    try:
        seen: list[int] = []

        def progress(sent: int, total: int, values: int) -> None:
            seen.append(sent)
            if sent == 2:
                proxy.lose_answers = 1  # the third write is stored, its answer lost

        with pytest.raises(autolog.StoreUnavailableError):
            autolog.sync(proxy.url, folder=work, progress=progress)
        report = autolog.sync(server.url, folder=work, progress=False)
    finally:
        proxy.close()
    assert report.writes > 0
    autolog.set_tracking_uri(server.url)
    assert len(autolog.get_metric_history(run_id, "loss")) == 2_000
    assert autolog.get_run(run_id).info.status is RunStatus.FINISHED


def test_a_slow_server_times_out_and_nothing_is_doubled(
    server: Server, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AUTOLOG_FLUSH_INTERVAL", "0.05")
    monkeypatch.setenv("AUTOLOG_HTTP_TIMEOUT", "0.5")
    server.start()
    proxy = FaultyProxy(server.url)
    try:
        autolog.set_tracking_uri(proxy.url)
        # "does not take writes", then flush(): "... were not stored ... does not take them"
        with pytest.warns(AutologWarning, match="does not take"):
            with autolog.start_run() as run:
                autolog.log_metric("loss", 0.0, step=0)
                autolog.flush()
                proxy.delay = 1.5  # every answer now comes after the client gave up
                started = time.perf_counter()
                for step in range(1, 2_001):
                    autolog.log_metric("loss", float(step), step=step)
                    if step % 500 == 0:
                        time.sleep(0.2)  # several batches sent (and timed out) meanwhile
                elapsed = time.perf_counter() - started
                autolog.flush()
                proxy.delay = 0.0
            history = autolog.get_metric_history(run.info.run_id, "loss")
    finally:
        proxy.close()
    assert elapsed < 5.0  # training never waited on the slow server
    assert [m.step for m in history] == list(range(2_001))
    assert autolog.get_run(run.info.run_id).info.status is RunStatus.FINISHED


def test_a_token_revoked_mid_run(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    root = tmp_path / "secured"
    root.mkdir()
    store = f"sqlite:///{root}/autolog.db"

    def token(name: str) -> str:
        code, out, err = _run_command(
            "server", "token", "create", name, "--scope", "write", "--backend-store-uri", store,
            cwd=root,
        )  # fmt: skip
        assert code == 0, err
        return out.strip()

    first = token("first")
    server = Server(root, _free_port(), "--require-token")
    server.start()
    try:
        monkeypatch.setenv("AUTOLOG_FLUSH_INTERVAL", "0.05")
        monkeypatch.setenv("AUTOLOG_TRACKING_TOKEN", first)
        autolog.set_tracking_uri(server.url)
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            with autolog.start_run() as run:
                for step in range(100):
                    autolog.log_metric("loss", float(step), step=step)
                autolog.flush()
                code, _, err = _run_command(
                    "server", "token", "revoke", "first", "--backend-store-uri", store, cwd=root
                )
                assert code == 0, err
                time.sleep(2.5)  # servers trust a checked token for 2 s
                for step in range(100, 200):
                    autolog.log_metric("loss", float(step), step=step)
                autolog.flush()
            reset_autolog()  # the process's stores close: what is left is kept on disk
        messages = _autolog_warnings(caught)
        assert len(messages) == 2, messages
        assert "not valid" in messages[0]
        assert "100 logged values were not stored" in messages[1]  # the last flush() says so
        monkeypatch.setenv("AUTOLOG_TRACKING_TOKEN", token("second"))
        report = autolog.sync(progress=False)
        assert report.values >= 100
        autolog.set_tracking_uri(server.url)
        assert [m.step for m in autolog.get_metric_history(run.info.run_id, "loss")] == list(
            range(200)
        )
        assert autolog.get_run(run.info.run_id).info.status is RunStatus.FINISHED
    finally:
        server.stop()


FLUSH_THEN_KILLED = """
import sys, time
import autolog
client = autolog.Client({url!r})
run = client.create_run("Default")
for step in range(1_000):
    client.log_metric(run.info.run_id, "loss", float(step), step=step)
started = time.monotonic()
stored = client.flush(timeout=30)
print(run.info.run_id, stored, round(time.monotonic() - started, 2), flush=True)
time.sleep(120)  # killed before this ends
"""


def test_flush_with_the_server_away_spools_to_disk_and_a_sigkill_loses_nothing(
    server: Server, tmp_path: Path
) -> None:
    import signal
    import subprocess
    import sys

    work = tmp_path / "work"
    work.mkdir()
    (work / "script.py").write_text(FLUSH_THEN_KILLED.format(url=server.url))
    child = subprocess.Popen(
        [sys.executable, "script.py"], cwd=work, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        text=True,
    )  # fmt: skip
    try:
        assert child.stdout is not None
        line = child.stdout.readline()
        time.sleep(2.0)
        child.send_signal(signal.SIGKILL)  # no exit handler runs: only what is on disk stays
        _, stderr = child.communicate(timeout=30)
    finally:
        if child.poll() is None:
            child.kill()
    run_id, stored, _ = line.split()
    assert stored == "False", stderr  # spooled, not stored: flush() says so
    sessions = list(spooled_sessions(work / "autolog-runs" / "spool"))
    assert len(sessions) == 1

    server.start()
    code, _, err = _run_command("sync", cwd=work)
    assert code == 0, err
    autolog.set_tracking_uri(server.url)
    history = autolog.get_metric_history(run_id, "loss")
    assert [m.step for m in history] == list(range(1_000))  # every value, once


EXITS_WHILE_AWAY = """
import autolog
autolog.set_tracking_uri({url!r})
with autolog.start_run(run_name="exits-while-away") as run:
    for step in range(1_000):
        autolog.log_metric("loss", float(step), step=step)
    autolog.flush(timeout=30)
print(run.info.run_id, flush=True)
"""


def test_a_spool_is_sent_while_the_process_exits_if_the_server_comes_back(
    server: Server, tmp_path: Path
) -> None:
    import subprocess
    import sys

    server.start()
    proxy = FaultyProxy(server.url)
    target = proxy._target
    proxy._target = ("127.0.0.1", _free_port())  # connections taken and closed: server away
    work = tmp_path / "work"
    work.mkdir()
    (work / "script.py").write_text(EXITS_WHILE_AWAY.format(url=proxy.url))
    child = subprocess.Popen(
        [sys.executable, "script.py"], cwd=work, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        text=True,
    )  # fmt: skip
    try:
        assert child.stdout is not None
        run_id = child.stdout.readline().strip()  # the run has ended: the process exits now
        time.sleep(1.0)
        proxy._target = target  # back, within the exit bound
        _, stderr = child.communicate(timeout=60)
    finally:
        if child.poll() is None:
            child.kill()
        proxy.close()
    assert child.returncode == 0, stderr
    assert "did not take" not in stderr, stderr  # nothing was left behind at exit
    assert list(spooled_sessions(work / "autolog-runs" / "spool")) == []
    assert "were not stored" in stderr  # and flush() said so while the server was away
    autolog.set_tracking_uri(server.url)
    stored = autolog.get_run(run_id)
    assert stored.info.status is RunStatus.FINISHED
    assert [m.step for m in autolog.get_metric_history(run_id, "loss")] == list(range(1_000))


def test_log_metric_costs_microseconds_with_the_server_away(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import threading

    from autolog.stores.spool import Spool

    spooled_on: set[str] = set()
    append = Spool.append

    def watched(self: Spool, op: object) -> None:
        spooled_on.add(threading.current_thread().name)
        append(self, op)  # type: ignore[arg-type]

    monkeypatch.setattr(Spool, "append", watched)
    autolog.set_tracking_uri(f"http://127.0.0.1:{_free_port()}")  # nobody listens
    calls = 50_000
    with pytest.warns(AutologWarning, match="does not take"), autolog.start_run():
        autolog.log_metric("warm", 0.0)
        autolog.flush()  # the server is known to be away, the spool is open
        started = time.perf_counter()
        for step in range(calls):
            autolog.log_metric("loss", float(step), step=step)
        per_call = (time.perf_counter() - started) / calls
        autolog.flush()
    assert spooled_on
    assert threading.main_thread().name not in spooled_on
    assert per_call < 50e-6, f"{per_call * 1e6:.1f} us per log_metric"  # (160 us reported)
