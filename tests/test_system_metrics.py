"""System metrics: a real process tree sampled by ``SystemMetricsSampler``, and
``autolog.autolog(log_system_metrics=True)`` sampling this process into real runs."""

from __future__ import annotations

import hashlib
import math
import subprocess
import sys
import textwrap
import threading
import time
import warnings
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest
from support import run_script

import autolog
from autolog.errors import (
    AutologWarning,
    InvalidInputError,
    InvalidValueError,
    NotFoundError,
    RunStateError,
)
from autolog.system_metrics import SystemMetricsSampler

pytestmark = pytest.mark.slow  # each test samples for a second or starts interpreters

THREAD = "autolog-system-metrics"
#: the grandchild's allocation, MB: far above what an idle interpreter holds
GRANDCHILD_MB = 150

# The child: starts a grandchild that holds GRANDCHILD_MB of memory, says "ready", burns one
# second of CPU time on one core when told "go", says how much it burned, exits when told.
TREE = f"""
    import subprocess, sys, time
    grandchild = subprocess.Popen(
        [sys.executable, "-c",
         "import sys, time; block = b'x' * {GRANDCHILD_MB * 1_000_000}; print('ready', flush=True);"
         " sys.stdin.readline()"],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
    )
    assert grandchild.stdout.readline().strip() == "ready"
    print("ready", grandchild.pid, flush=True)
    assert sys.stdin.readline().strip() == "go"
    start = time.process_time()
    while time.process_time() - start < 1.0:
        pass
    print("burned", time.process_time() - start, flush=True)
    sys.stdin.readline()
    grandchild.communicate("")
"""


def _system_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name == THREAD]


@pytest.fixture
def following() -> Iterator[None]:
    """System metrics turned off after the test, whatever it did (``disable=True`` undoes the
    integrations' patches too)."""
    try:
        yield
    finally:
        autolog.autolog(disable=True)
    assert not _system_threads()


class Samples:
    """What a sampler logged, with when each sample arrived."""

    def __init__(self) -> None:
        self.samples: list[tuple[int, float, dict[str, float]]] = []
        self.first = threading.Event()

    def __call__(self, metrics: dict[str, float], step: int) -> None:
        self.samples.append((step, time.monotonic(), metrics))
        self.first.set()

    def series(self, key: str) -> list[float]:
        return [m[key] for _, _, m in self.samples if key in m]


def test_process_tree_cpu_and_memory(tmp_path: Path) -> None:
    script = tmp_path / "tree.py"
    script.write_text(textwrap.dedent(TREE))
    with subprocess.Popen(
        [sys.executable, str(script)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    ) as child:
        try:
            assert child.stdout is not None
            assert child.stdin is not None
            ready, grandchild_pid = child.stdout.readline().split()
            assert ready == "ready"
            samples = Samples()
            sampler = SystemMetricsSampler(samples, pid=child.pid, interval=0.2).start()
            assert samples.first.wait(10)  # measured from here on
            child.stdin.write("go\n")
            child.stdin.flush()
            burned_line = child.stdout.readline().split()
            sampler.stop()
            alone = psutil.Process(child.pid).memory_info().rss / 1e6
            child.stdin.write("\n")
            child.stdin.flush()
            assert child.wait(30) == 0
        finally:
            child.kill()
    assert burned_line[0] == "burned"
    burned = float(burned_line[1])
    steps = [step for step, _, _ in samples.samples]
    assert steps == list(range(len(steps))), steps
    # CPU: over the samples after the first, the tree's share of a core times the time it
    # covers adds up to the CPU time the child reports burning (its grandchild only waits)
    times = [at for _, at, _ in samples.samples]
    shares = [m["system/cpu_percent"] for _, _, m in samples.samples]
    counted = sum(shares[i] / 100 * (times[i] - times[i - 1]) for i in range(1, len(times)))
    assert burned * 0.8 <= counted <= burned * 1.3 + 0.05, (counted, burned, shares)
    # one busy process on one core: never more than one core (timing jitter aside), and a
    # good part of one while it burns, however loaded the machine
    assert max(shares) <= 115, shares
    assert max(shares) >= 30, shares
    # memory: the grandchild's block is counted with the child's
    assert alone < GRANDCHILD_MB / 2
    assert max(samples.series("system/memory_rss_mb")) >= GRANDCHILD_MB + alone * 0.5
    assert int(grandchild_pid) != child.pid


def test_machine_metrics_and_last_sample_at_stop() -> None:
    samples = Samples()
    sampler = SystemMetricsSampler(samples, interval=0.2)
    with sampler:
        assert samples.first.wait(10)
        time.sleep(0.25)
    count = len(samples.samples)
    assert count >= 2
    time.sleep(0.5)
    assert len(samples.samples) == count  # stopped: nothing after
    assert not _system_threads()
    last = samples.samples[-1][2]
    assert 0 < last["system/memory_used_percent"] < 100
    total = psutil.virtual_memory().total / 1e6
    assert 0 < last["system/memory_available_mb"] <= total
    assert last["system/memory_rss_mb"] > 5  # this interpreter
    assert 0 <= last["system/cpu_percent"] <= 100 * (psutil.cpu_count() or 1) * 1.15
    # the machine's I/O since sampling began, where this machine has the counters
    io = psutil.disk_io_counters(), psutil.net_io_counters()
    keys = {
        "system/disk_read_mb": io[0],
        "system/disk_write_mb": io[0],
        "system/network_received_mb": io[1],
        "system/network_sent_mb": io[1],
    }
    for key, counters in keys.items():
        if counters is None:
            assert key not in last
        else:
            assert all(v >= 0 and math.isfinite(v) for v in samples.series(key)), key
            assert samples.series(key) == sorted(samples.series(key)), key


def test_stop_is_idempotent_and_final() -> None:
    samples = Samples()
    sampler = SystemMetricsSampler(samples, interval=60)
    sampler.stop()  # before start: nothing to stop
    with pytest.raises(RunStateError, match="make a new one"):
        sampler.start()
    sampler = SystemMetricsSampler(samples, interval=60).start()
    sampler.start()  # a second start: the same thread
    assert len(_system_threads()) == 1
    sampler.stop()
    sampler.stop()
    assert [step for step, _, _ in samples.samples] == [0]  # the last sample, taken at stop
    assert not _system_threads()


def test_no_gpu_says_nothing() -> None:
    pynvml = pytest.importorskip("pynvml")
    try:
        pynvml.nvmlInit()
    except pynvml.NVMLError:
        pass
    else:
        pynvml.nvmlShutdown()
        pytest.skip("this machine has an NVIDIA driver: benchmarks/gpu_system_metrics_check.py")
    samples = Samples()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with SystemMetricsSampler(samples, interval=0.1):
            assert samples.first.wait(10)
            time.sleep(0.15)
    assert len(samples.samples) >= 2
    assert not [k for _, _, m in samples.samples for k in m if k.startswith("system/gpu")]


@pytest.mark.parametrize("interval", [0, -1.0, math.nan, math.inf, "10", True, None])
def test_bad_interval(interval: object) -> None:
    with pytest.raises(InvalidValueError, match=r"'interval'.*seconds > 0") as raised:
        SystemMetricsSampler(Samples(), interval=interval)  # type: ignore[arg-type]
    assert raised.value.key == "interval"


def test_bad_options_of_autolog(following: None) -> None:
    with pytest.raises(InvalidInputError, match="system_metrics_interval"):
        autolog.autolog(log_system_metrics=True, system_metrics_interval=0)
    with pytest.raises(InvalidInputError, match="log_system_metrics"):
        autolog.autolog(log_system_metrics="yes")  # type: ignore[arg-type]
    assert not _system_threads()


def test_no_such_process() -> None:
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    with pytest.raises(NotFoundError, match=str(child.pid)):
        SystemMetricsSampler(Samples(), pid=child.pid)


@pytest.mark.parametrize("silent", [False, True])
def test_an_error_while_logging_is_one_warning_and_stops(silent: bool) -> None:
    """One warning, none when silent (``autolog(silent=True)``): sampling stops either way."""
    calls: list[int] = []

    def log(metrics: dict[str, float], step: int) -> None:
        calls.append(step)
        raise OSError("disk gone")

    caught: list[threading.ExceptHookArgs] = []
    hook = threading.excepthook
    threading.excepthook = caught.append  # where -W error sends a background thread's warning
    try:
        with warnings.catch_warnings(record=True) as recorded:
            warnings.simplefilter("always")
            sampler = SystemMetricsSampler(log, interval=0.05, silent=silent).start()
            deadline = time.monotonic() + 10
            while not calls and time.monotonic() < deadline:
                time.sleep(0.01)
            time.sleep(0.3)
            sampler.stop()
    finally:
        threading.excepthook = hook
    assert calls == [0]  # sampling stopped at the first failure
    said = [str(w.message) for w in recorded if w.category is AutologWarning]
    said += [str(args.exc_value) for args in caught]
    if silent:
        assert said == []
        return
    assert len(said) == 1, said
    assert "system metrics stopped" in said[0]
    assert "disk gone" in said[0]


def test_missing_psutil(tmp_path: Path) -> None:
    done = run_script(
        """
        import sys
        sys.modules["psutil"] = None  # as if it were not installed
        import autolog
        from autolog.system_metrics import SystemMetricsSampler
        for make in (
            lambda: SystemMetricsSampler(lambda m, s: None),
            lambda: autolog.autolog(log_system_metrics=True),
        ):
            try:
                make()
            except autolog.MissingExtraError as exc:
                print(exc)
            else:
                print("no error")
        autolog.autolog()  # off, as by default: psutil is not needed
        print("off ok")
        """,
        tmp_path,
    )
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    expected = "system metrics needs psutil, not installed here: pip install 'autolog[system]'"
    assert lines == [expected, expected, "off ok"], done.stdout


def _history(run_id: str, key: str) -> list[autolog.Metric]:
    return autolog.get_metric_history(run_id, key)


def _busy(seconds: float) -> None:
    """Keep a core busy as training does: in native code that lets other threads run
    (hashing a megabyte gives up the GIL, as a tensor or NumPy operation does). A pure-Python
    loop holds the GIL, and every read the sampler makes then waits for it: its samples come
    late (a quarter of a second apart at best), though each is right for the time it spans."""
    chunk = b"x" * 1_000_000
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        hashlib.sha256(chunk).digest()


def test_autolog_samples_every_top_level_run(following: None) -> None:
    autolog.autolog(log_system_metrics=True, system_metrics_interval=0.2)
    assert not _system_threads()  # no thread until a run is live
    # each run lasts 5 intervals or more: at least 2 samples however loaded the machine
    with autolog.start_run() as first:
        with autolog.start_run(nested=True) as nested:
            _busy(0.6)
        assert len(_system_threads()) == 1
        _busy(0.4)
    with autolog.start_run() as second:
        for step in range(3):
            autolog.log_metric("loss", 1 / (step + 1))
            _busy(0.35)
    autolog.flush()
    for run in (first, second):
        cpu = _history(run.info.run_id, "system/cpu_percent")
        assert len(cpu) >= 2, cpu
        assert [m.step for m in cpu] == list(range(len(cpu)))  # each run counts from 0
        assert all(0 <= m.value <= 100 * (psutil.cpu_count() or 1) * 1.15 for m in cpu)
        rss = _history(run.info.run_id, "system/memory_rss_mb")
        assert [m.step for m in rss] == list(range(len(rss)))
        keys = autolog.get_run(run.info.run_id).data.metrics
        assert "system/memory_available_mb" in keys
        assert not [k for k in keys if k.startswith("system/gpu")]
    assert not [k for k in autolog.get_run(nested.info.run_id).data.metrics if "system/" in k]
    assert [m.step for m in _history(second.info.run_id, "loss")] == [0, 1, 2]
    # after the runs end, nothing more goes to them
    counted = len(_history(first.info.run_id, "system/cpu_percent"))
    time.sleep(0.5)
    autolog.flush()
    assert len(_history(first.info.run_id, "system/cpu_percent")) == counted
    autolog.autolog(log_system_metrics=False)
    assert not _system_threads()


def test_autolog_samples_a_scikit_learn_run(following: None) -> None:
    pytest.importorskip("sklearn")
    from sklearn.datasets import make_classification
    from sklearn.ensemble import RandomForestClassifier

    x, y = make_classification(n_samples=3000, n_features=20, random_state=0)
    autolog.autolog(log_system_metrics=True, system_metrics_interval=0.1)
    started = time.monotonic()
    RandomForestClassifier(n_estimators=150, random_state=0).fit(x, y)
    fit = time.monotonic() - started
    run = autolog.last_active_run()
    assert run is not None
    autolog.autolog(disable=True)  # stops the sampler
    assert not _system_threads()
    autolog.flush()
    found = autolog.get_run(run.info.run_id)
    assert "n_estimators" in found.data.params  # the integration's own run
    cpu = _history(run.info.run_id, "system/cpu_percent")
    assert len(cpu) >= 1, f"a fit of {fit:.2f} s at 0.1 s intervals"
    assert [m.step for m in cpu] == list(range(len(cpu)))
    assert max(m.value for m in cpu) > 10  # the fit kept a core busy


def test_a_new_interval_goes_on_in_the_live_run(following: None) -> None:
    autolog.autolog(log_system_metrics=True, system_metrics_interval=0.2)
    with autolog.start_run() as run:
        _busy(0.5)
        autolog.autolog(log_system_metrics=True, system_metrics_interval=0.1)
        assert len(_system_threads()) == 1
        _busy(0.5)
    autolog.flush()
    cpu = _history(run.info.run_id, "system/cpu_percent")
    assert [m.step for m in cpu] == list(range(len(cpu)))
    assert len(cpu) >= 5, cpu  # both samplers' samples, one series
    disk = _history(run.info.run_id, "system/disk_read_mb")
    assert [m.value for m in disk] == sorted(m.value for m in disk)  # counted on, not anew


def test_shutdown_samples_the_live_run_last(following: None) -> None:
    from autolog import lifecycle

    autolog.autolog(log_system_metrics=True, system_metrics_interval=30)
    run = autolog.start_run()
    assert len(_system_threads()) == 1
    lifecycle.shutdown(timeout=10)  # as at exit: the open run ends, after a last sample
    assert not _system_threads()
    found = autolog.get_run(run.info.run_id)
    assert found.info.status == "FINISHED"
    assert [m.step for m in _history(run.info.run_id, "system/memory_rss_mb")] == [0]
