"""System metrics: what a training costs the machine, sampled on a thread of its own.

``SystemMetricsSampler`` reads, every ``interval`` seconds, the CPU and memory of a process
tree (a process and all its descendants, found afresh at each sample), the machine's memory,
its disk and network I/O since sampling began, and every visible NVIDIA GPU's utilisation,
memory and power (through NVML, where ``nvidia-ml-py`` is installed and a driver answers), and
hands them to a ``log(metrics, step)`` function. ``autolog run --system-metrics`` samples the
script's process tree into its run; ``autolog.autolog(log_system_metrics=True)`` samples this
process into every top-level run it starts (``follow_runs``).

Names (every value a float; MB are 10**6 bytes)::

    system/cpu_percent                  the process tree, 100 = one core busy
    system/memory_rss_mb                the process tree's resident memory
    system/memory_used_percent          the machine
    system/memory_available_mb          the machine
    system/disk_read_mb, system/disk_write_mb              the machine, since sampling began
    system/network_received_mb, system/network_sent_mb     the machine, since sampling began
    system/gpu<i>/utilization_percent, system/gpu<i>/memory_used_mb, system/gpu<i>/power_w

A reading the machine does not give (no disk counters in a container, power on a GPU that
does not report it) is left out, never logged as 0. psutil is needed (the ``system`` extra).
"""

from __future__ import annotations

import contextlib
import importlib
import math
import os
import sys
import threading
import time
from collections.abc import Callable, Mapping
from types import ModuleType, TracebackType
from typing import TYPE_CHECKING, Any

from autolog import lifecycle
from autolog.entities import Metric
from autolog.errors import (
    InvalidValueError,
    MissingExtraError,
    NotFoundError,
    RunStateError,
    background_thread,
    issue_warning,
)

if TYPE_CHECKING:
    from autolog.backends import Backend
    from autolog.run_state import RunState

__all__ = ["DEFAULT_INTERVAL", "SystemMetricsSampler", "check_interval", "follow_runs"]

#: seconds between samples unless told otherwise
DEFAULT_INTERVAL = 10.0
_MB = 1_000_000
#: metrics that count from the start of sampling (the machine's counters go on across runs)
_SINCE_START = (
    "system/disk_read_mb",
    "system/disk_write_mb",
    "system/network_received_mb",
    "system/network_sent_mb",
)

LogFunction = Callable[[dict[str, float], int], None]


def check_interval(value: object, name: str = "interval") -> float:
    """``value`` as seconds between samples: a finite number > 0.

    Raises:
        InvalidValueError: anything else, naming ``name``.
    """
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise InvalidValueError(name, value, "it must be a number of seconds > 0")
    seconds = float(value)
    if not (seconds > 0 and math.isfinite(seconds)):
        raise InvalidValueError(name, value, "it must be a number of seconds > 0")
    return seconds


def _psutil() -> ModuleType:
    """psutil, imported by name: it ships no type information, and is an optional extra."""
    try:
        return importlib.import_module("psutil")
    except ImportError as exc:
        raise MissingExtraError(
            "system metrics", "psutil", "pip install 'autolog[system]'"
        ) from exc


class SystemMetricsSampler:
    """Samples a process tree and the machine every ``interval`` seconds on a daemon thread,
    calling ``log(metrics, step)`` with each sample (step: its index, 0, 1, ...).

    The first sample comes one interval after ``start()`` (CPU use is measured over the time
    between two samples); ``stop()`` takes a last one. An error while sampling or logging
    becomes one ``AutologWarning`` and sampling stops: it never reaches the training.

    Args:
        log: called on the sampler's thread with each sample.
        pid: the root of the process tree (default: this process).
        interval: seconds between samples, > 0.
        silent: no warning when sampling fails (it still stops).

    Raises:
        MissingExtraError: psutil is not installed.
        InvalidValueError: ``interval`` is not a number of seconds > 0.
        NotFoundError: no process has the id ``pid``.

    Example::

        with SystemMetricsSampler(lambda m, step: client.log_metrics(run_id, m, step)):
            train()
    """

    def __init__(
        self,
        log: LogFunction,
        *,
        pid: int | None = None,
        interval: float = DEFAULT_INTERVAL,
        silent: bool = False,
    ) -> None:
        self.interval = check_interval(interval)
        self._silent = silent
        psutil = _psutil()
        self.pid = os.getpid() if pid is None else pid
        try:
            root = psutil.Process(self.pid)
        except psutil.Error as exc:
            raise NotFoundError("process", str(self.pid)) from exc
        self._log = log
        self._tree = _ProcessTree(psutil, root)
        self._machine = _Machine(psutil)
        self._gpus = _Gpus()
        self._step = 0
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None
        self._stopped = False

    def start(self) -> SystemMetricsSampler:
        """Start sampling (a second call does nothing).

        Raises:
            RunStateError: the sampler was stopped: make a new one.
        """
        if self._stopped:
            raise RunStateError("this system metrics sampler was stopped; make a new one")
        if self._thread is None:
            self._thread = threading.Thread(
                target=self._run, name="autolog-system-metrics", daemon=True
            )
            self._thread.start()
        return self

    def stop(self, timeout: float | None = None) -> None:
        """Take a last sample and stop (waiting at most ``timeout`` seconds for it); a second
        call does nothing."""
        self._stopped = True
        self._stopping.set()
        thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout)

    close = stop

    def __enter__(self) -> SystemMetricsSampler:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def sample(self) -> dict[str, float]:
        """Read everything once (what the thread does each interval; not to be called while
        it runs): the CPU share is over the time since the previous reading."""
        metrics = self._tree.read()
        metrics.update(self._machine.read())
        metrics.update(self._gpus.read())
        return metrics

    def _run(self) -> None:
        background_thread()
        try:
            self._begin()
            deadline = time.monotonic()
            while True:
                # on a fixed schedule: a slow sample does not push the next ones later
                deadline += self.interval
                now = time.monotonic()
                if now > deadline:
                    deadline = now + self.interval
                if self._stopping.wait(min(deadline - now, threading.TIMEOUT_MAX)):
                    break
                self._emit()
            self._emit()
        except Exception as exc:  # never into the training: said once, sampling stops
            if not self._silent:
                issue_warning(f"autolog: system metrics stopped: {exc!r}", stacklevel=2)
        finally:
            self._gpus.close()

    def _begin(self) -> None:
        """On the thread: the first readings (each later one is measured from them) and NVML,
        whose start can take a second on a machine with GPUs."""
        self._gpus.open()
        self.sample()

    def _emit(self) -> None:
        metrics = self.sample()
        step, self._step = self._step, self._step + 1
        self._log(metrics, step)


class _ProcessTree:
    """CPU time and resident memory of a process and its descendants, from one reading to the
    next. A process that ends between two readings is not counted for its last moments (the
    operating system keeps no times of a process that is gone and not waited for)."""

    def __init__(self, psutil: ModuleType, root: Any) -> None:
        self._psutil = psutil
        self._root = root
        # (pid, start time) -> (CPU seconds, monotonic time) at the previous reading: a pid
        # reused by a new process is another key
        self._seen: dict[tuple[int, float], tuple[float, float]] = {}
        self._at: tuple[float, float] | None = None  # (monotonic, wall clock) of that reading

    def read(self) -> dict[str, float]:
        psutil = self._psutil
        now, wall = time.monotonic(), time.time()
        try:
            processes = [self._root, *self._descendants()]
        except psutil.Error:  # the root has ended: nothing of the tree to say
            self._seen.clear()
            self._at = (now, wall)
            return {}
        seen: dict[tuple[int, float], tuple[float, float]] = {}
        cores = 0.0  # the share of one core, summed over the processes
        rss = 0
        previous = self._at
        for process in processes:
            try:
                with process.oneshot():
                    times = process.cpu_times()
                    memory = process.memory_info().rss
                    key = (process.pid, process.create_time())
            except psutil.Error:  # ended (or became unreadable) since it was listed
                continue
            # each process's use over the time between its own two readings: a reading
            # slowed down (a loaded machine, a training holding the GIL) skews nothing
            at = time.monotonic()
            cpu = float(times.user + times.system)
            seen[key] = (cpu, at)
            rss += int(memory)
            before = self._seen.get(key)
            if before is not None:
                if at > before[1]:
                    cores += max(cpu - before[0], 0.0) / (at - before[1])
            elif previous is not None and key[1] >= previous[1] and at > previous[0]:
                cores += cpu / (at - previous[0])  # started since: all of its time is new
        self._seen = seen
        self._at = (now, wall)
        if not seen:  # none could be read (another user's): nothing to say, rather than 0
            return {}
        metrics = {"system/memory_rss_mb": rss / _MB}
        if previous is not None:
            metrics["system/cpu_percent"] = 100.0 * cores
        return metrics

    def _descendants(self) -> list[Any]:
        """The root's descendants, found afresh.

        On Linux from the kernel's list of each task's children: a handful of reads.
        ``psutil``'s ``children()`` reads every process of the machine, each read giving up
        the GIL and waiting to get it back; while the training holds it (a Python loop), the
        sample then took as long as the training let it, a second and more, instead of a
        millisecond.
        """
        pids = _linux_descendants(self._root.pid) if sys.platform.startswith("linux") else None
        if pids is None:
            return list(self._root.children(recursive=True))
        found = []
        for pid in pids:
            try:
                found.append(self._psutil.Process(pid))
            except self._psutil.Error:
                continue  # ended since it was listed
        return found


def _linux_descendants(root: int) -> list[int] | None:
    """Every descendant of ``root`` from ``/proc/<pid>/task/<tid>/children``; None where the
    kernel does not keep that list (then psutil's way is the way)."""
    if not os.path.exists(f"/proc/{root}/task/{root}/children"):
        return None
    found: list[int] = []
    waiting = [root]
    while waiting:
        pid = waiting.pop()
        try:
            tasks = os.listdir(f"/proc/{pid}/task")
        except OSError:
            continue  # ended meanwhile
        for task in tasks:
            try:
                with open(f"/proc/{pid}/task/{task}/children", "rb") as listed:
                    children = [int(child) for child in listed.read().split()]
            except (OSError, ValueError):
                continue
            found.extend(children)
            waiting.extend(children)
    return found


class _Machine:
    """The machine's memory, and its disk and network I/O since the first reading."""

    def __init__(self, psutil: ModuleType) -> None:
        self._psutil = psutil
        self._first: dict[str, float] | None = None

    def read(self) -> dict[str, float]:
        memory = self._psutil.virtual_memory()
        metrics = {
            "system/memory_used_percent": float(memory.percent),
            "system/memory_available_mb": memory.available / _MB,
        }
        counters = self._counters()
        if self._first is None:
            self._first = counters
        for key, value in counters.items():
            start = self._first.get(key)
            if start is not None:  # a counter that appeared only later is never said
                metrics[key] = max(value - start, 0.0)
        return metrics

    def _counters(self) -> dict[str, float]:
        """The machine's I/O counters in MB, those psutil can read here (none in some
        containers: ``disk_io_counters()`` is None where /proc/diskstats is absent)."""
        psutil = self._psutil
        counters: dict[str, float] = {}
        try:
            disk = psutil.disk_io_counters()
        except (OSError, RuntimeError):
            disk = None
        if disk is not None:
            counters["system/disk_read_mb"] = disk.read_bytes / _MB
            counters["system/disk_write_mb"] = disk.write_bytes / _MB
        try:
            network = psutil.net_io_counters()
        except (OSError, RuntimeError):
            network = None
        if network is not None:
            counters["system/network_received_mb"] = network.bytes_recv / _MB
            counters["system/network_sent_mb"] = network.bytes_sent / _MB
        return counters


#: what is read of each GPU: (name, reading from the pynvml module and a device handle)
_GPU_READINGS: tuple[tuple[str, Callable[[Any, Any], float]], ...] = (
    ("utilization_percent", lambda nvml, gpu: float(nvml.nvmlDeviceGetUtilizationRates(gpu).gpu)),
    ("memory_used_mb", lambda nvml, gpu: nvml.nvmlDeviceGetMemoryInfo(gpu).used / _MB),
    ("power_w", lambda nvml, gpu: nvml.nvmlDeviceGetPowerUsage(gpu) / 1000.0),  # mW
)


class _Gpus:
    """The visible NVIDIA GPUs through NVML: none where nvidia-ml-py is not installed or NVML
    does not start (no driver, no GPU). Found once, never looked for again at each sample."""

    def __init__(self) -> None:
        self._nvml: Any = None
        self._handles: list[Any] = []
        self._refused: set[tuple[int, str]] = set()

    def open(self) -> None:
        try:
            nvml: Any = importlib.import_module("pynvml")
        except ImportError:
            return
        try:
            nvml.nvmlInit()
        except (nvml.NVMLError, OSError):  # no driver or no library: no GPU to say anything of
            return
        try:
            self._handles = _visible_gpus(nvml)
        except nvml.NVMLError:
            self._handles = []
        if self._handles:
            self._nvml = nvml
        else:
            _shut_down_nvml(nvml)

    def read(self) -> dict[str, float]:
        nvml = self._nvml
        metrics: dict[str, float] = {}
        if nvml is None:
            return metrics
        for index, handle in enumerate(self._handles):
            for name, reading in _GPU_READINGS:
                if (index, name) in self._refused:
                    continue
                try:
                    metrics[f"system/gpu{index}/{name}"] = float(reading(nvml, handle))
                except nvml.NVMLError:
                    # not supported by this GPU (power on some boards), or the GPU is lost:
                    # not asked again
                    self._refused.add((index, name))
        return metrics

    def close(self) -> None:
        nvml, self._nvml = self._nvml, None
        self._handles = []
        if nvml is not None:
            _shut_down_nvml(nvml)


def _visible_gpus(nvml: Any) -> list[Any]:
    """Handles of the GPUs this process may use, in CUDA's order (``system/gpu0`` is what
    torch calls ``cuda:0``): every GPU, or those ``CUDA_VISIBLE_DEVICES`` lists by index or
    UUID. As CUDA does, the list ends at the first entry naming no GPU (``-1``: none)."""
    count = int(nvml.nvmlDeviceGetCount())
    listed = os.environ.get("CUDA_VISIBLE_DEVICES")
    if listed is None:
        return [nvml.nvmlDeviceGetHandleByIndex(i) for i in range(count)]
    handles = []
    for raw in listed.split(","):
        entry = raw.strip()
        if entry.isascii() and entry.isdigit() and int(entry) < count:
            handles.append(nvml.nvmlDeviceGetHandleByIndex(int(entry)))
        elif entry.startswith("GPU-"):
            try:
                handles.append(nvml.nvmlDeviceGetHandleByUUID(entry))
            except nvml.NVMLError:
                break
        else:
            break
    return handles


def _shut_down_nvml(nvml: Any) -> None:
    with contextlib.suppress(nvml.NVMLError):  # nothing more to release
        nvml.nvmlShutdown()


# -- autolog.autolog(log_system_metrics=True): this process, into every top-level run it starts


class _Followed:
    """A run that samples go to: its backend and state (to log without a ``Client``, and see
    that it has ended), and what its I/O metrics have added up to since it began."""

    __slots__ = ("backend", "since_start", "state")

    def __init__(self, backend: Backend, state: RunState) -> None:
        self.backend = backend
        self.state = state
        self.since_start: dict[str, float] = {}


class _Follower:
    """One sampler of this process, started with the first top-level run after
    ``follow_runs`` and kept until it is turned off (or autolog shuts down), logging each sample
    to every top-level run this process started since that is live. Each run's steps count
    from 0 (the run's own step of each key), and its I/O metrics from the sample before it
    began."""

    def __init__(self) -> None:
        # reentrant: SIGTERM's shutdown may interrupt the main thread holding it
        self.lock = threading.RLock()
        self.interval: float | None = None
        self.silent = False  # autolog(silent=True): no warning when sampling fails
        self.sampler: SystemMetricsSampler | None = None
        self.runs: dict[str, _Followed] = {}
        # the sampler's I/O counters at its previous sample: each run adds what came since
        self.previous: dict[str, float] = {}

    def run_started(self, backend: Backend, run_id: str, state: RunState) -> None:
        """``client.RUN_STARTED_HOOKS``: on the thread starting the run; no I/O."""
        try:
            self._follow(backend, run_id, state)
        except Exception as exc:  # no thread to be had: the run goes on without samples
            if not self.silent:
                issue_warning(f"autolog: system metrics not sampled: {exc!r}")

    def _follow(self, backend: Backend, run_id: str, state: RunState) -> None:
        with self.lock:
            if self.interval is None:
                return
            self.runs[run_id] = _Followed(backend, state)
            if self.sampler is None:
                self.previous = {}
                self.sampler = SystemMetricsSampler(
                    self.log, interval=self.interval, silent=self.silent
                ).start()

    def log(self, metrics: dict[str, float], step: int) -> None:
        """On the sampler's thread: the sample, into every followed run still live."""
        del step  # each run counts its own
        stamp = time.time_ns() // 1_000_000
        with self.lock:
            counted = [k for k in _SINCE_START if k in metrics]
            added = {k: metrics[k] - self.previous.get(k, 0.0) for k in counted}
            self.previous.update((k, metrics[k]) for k in added)
            for run_id, run in list(self.runs.items()):
                if not run.state.owned or run.backend.closed:
                    del self.runs[run_id]  # ended (or its store closed): nothing more goes to it
                    continue
                for key, value in added.items():
                    run.since_start[key] = run.since_start.get(key, 0.0) + value
                _log_to(run, {**metrics, **run.since_start}, stamp, run_id)

    def stop(self, timeout: float | None = None, *, forget: bool = True) -> None:
        """Stop the sampler (its last sample goes to the live runs); ``forget``: the runs too
        (later ones start it again while sampling stays on)."""
        with self.lock:
            sampler, self.sampler = self.sampler, None
        if sampler is not None:
            sampler.stop(timeout)
        if forget:
            with self.lock:
                self.runs.clear()


def _log_to(run: _Followed, metrics: Mapping[str, float], stamp: int, run_id: str) -> None:
    """Queue ``metrics`` for the run, each key at the run's next step of it (as ``log_metric``
    with no step does)."""
    next_step = run.state.next_step
    writer = run.backend.writer
    for key, value in metrics.items():
        step = next_step.get(key, 0)
        next_step[key] = step + 1
        writer.metric(run_id, Metric(key, value, step, stamp))


_follower = _Follower()


def follow_runs(interval: float | None, *, silent: bool = False) -> None:
    """Sample this process every ``interval`` seconds into every top-level run it starts from
    now on, while the run is live (``autolog.autolog(log_system_metrics=True)``); ``None``
    stops (the last sample goes to the live runs). The sampler thread starts with the first
    such run, not before. Calling it again with the same interval changes nothing.

    Raises:
        MissingExtraError: psutil is not installed (checked now, not at the first run).
        InvalidValueError: ``interval`` is not a number of seconds > 0.
    """
    from autolog import client

    if interval is not None:
        interval = check_interval(interval, "system_metrics_interval")
        _psutil()
    follower = _follower
    with follower.lock:
        follower.silent = silent
        if interval == follower.interval:
            return
        follower.interval = interval
    # a new interval: the live runs go on with a new sampler, from their next sample
    follower.stop(forget=interval is None)
    hooks = client.RUN_STARTED_HOOKS
    if interval is None:
        if follower.run_started in hooks:
            hooks.remove(follower.run_started)
        return
    if follower.run_started not in hooks:
        hooks.append(follower.run_started)
    with follower.lock:
        if follower.runs and follower.sampler is None:
            follower.previous = {}
            follower.sampler = SystemMetricsSampler(
                follower.log, interval=interval, silent=silent
            ).start()


def _shut_down(event: lifecycle.Shutdown) -> None:
    # before the runs end (a lower layer): the last sample goes into them
    _follower.stop(event.remaining())


def _after_fork_in_child() -> None:
    # The sampler's thread stayed in the parent (its lock may be held), and the runs are the
    # parent's: sampling stays on, for this process, from its first run.
    _follower.lock = threading.RLock()
    _follower.sampler = None
    _follower.runs = {}
    _follower.previous = {}


lifecycle.on_shutdown(lifecycle.Layer.INTEGRATION, _shut_down)
lifecycle.on_fork(lifecycle.Layer.INTEGRATION, after_in_child=_after_fork_in_child)
