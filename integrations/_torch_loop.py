"""Plain PyTorch training loops: the hooks behind ``autolog.integrations.torch``.

Imported by the torch integration's ``patch()`` only, once torch is imported. What is recorded,
and when, is described in ``integrations/torch.py``; this module is how.

Per optimizer step the hooks cost a few microseconds and never synchronise a device: the
losses ``backward()`` was called on are kept as detached tensors (summed on their device every
256 values) and read with one ``.item()`` per epoch.
"""

from __future__ import annotations

import os
import sys
import threading
import time
import weakref
from collections.abc import Generator, Mapping
from contextvars import ContextVar
from types import FrameType
from typing import Any

import torch
from torch import nn
from torch.optim import Optimizer
from torch.optim.lr_scheduler import LRScheduler
from torch.utils.data import DataLoader

import autolog
from autolog.entities import RunStatus
from autolog.errors import ParamCollisionError
from autolog.integrations.patching import Call, Patcher, Settings, current_settings, report
from autolog.integrations.session import current, open_session
from autolog.runs import on_run_end

__all__ = [
    "dataset_size",
    "end_plain_runs",
    "install",
    "model_params",
    "optimizer_params",
    "rank",
    "scheduler_params",
]

NAME = "torch"
Yield = Generator[tuple[tuple[Any, ...], dict[str, Any]], Any, None]

#: the loss functions of torch.nn.functional; torch's loss modules call them too
LOSS_FUNCTIONS = (
    "binary_cross_entropy",
    "binary_cross_entropy_with_logits",
    "cosine_embedding_loss",
    "cross_entropy",
    "ctc_loss",
    "gaussian_nll_loss",
    "hinge_embedding_loss",
    "huber_loss",
    "kl_div",
    "l1_loss",
    "linear_cross_entropy",
    "margin_ranking_loss",
    "mse_loss",
    "multi_margin_loss",
    "multilabel_margin_loss",
    "multilabel_soft_margin_loss",
    "nll_loss",
    "poisson_nll_loss",
    "smooth_l1_loss",
    "soft_margin_loss",
    "triplet_margin_loss",
    "triplet_margin_with_distance_loss",
)
_FOLD = 256  # detached losses kept before they are summed (on their device) into one tensor
# Frames of these packages are skipped when looking for the user's model and schedulers.
_LIBRARIES = frozenset(
    {"torch", "autolog", "lightning", "pytorch_lightning", "wrapt", "contextlib", "threading"}
)
# Scheduler attributes that are its state, not its settings.
_SCHEDULER_STATE = frozenset(
    {"optimizer", "base_lrs", "last_epoch", "verbose", "best", "num_bad_epochs",
     "cooldown_counter", "mode_worse", "eps", "min_lrs"}
)  # fmt: skip

perf_counter = time.perf_counter


# -- losses summed on the device --------------------------------------------------------------


class _Losses:
    """Scalar loss tensors, summed lazily where they live: no device sync until ``mean()``."""

    __slots__ = ("count", "items", "total")

    def __init__(self) -> None:
        self.items: list[torch.Tensor] = []
        self.total: torch.Tensor | None = None
        self.count = 0  # values folded into total

    def __len__(self) -> int:
        return self.count + len(self.items)

    def add(self, value: torch.Tensor) -> None:
        self.items.append(value)
        if len(self.items) >= _FOLD:
            self._fold()

    def take(self, other: _Losses) -> None:
        """Move every value of ``other`` into this one."""
        self.items.extend(other.items)
        if other.total is not None:
            self._add_total(other.total)
        self.count += other.count
        other.clear()
        if len(self.items) >= _FOLD:
            self._fold()

    def last(self) -> torch.Tensor | None:
        return self.items[-1] if self.items else None

    def mean(self) -> float | None:
        """The mean of every value (one device sync), then empty."""
        n = len(self)
        if n == 0:
            return None
        if self.items:
            self._fold()
        assert self.total is not None
        value = float(self.total.item()) / n
        self.clear()
        return value

    def clear(self) -> None:
        self.items = []
        self.total = None
        self.count = 0

    def _fold(self) -> None:
        items, self.items = self.items, []
        self._add_total(_sum(items))
        self.count += len(items)

    def _add_total(self, value: torch.Tensor) -> None:
        total = self.total
        self.total = value if total is None else total + value.to(total.device)


def _sum(items: list[torch.Tensor]) -> torch.Tensor:
    try:
        stacked = torch.stack(items)
    except RuntimeError:  # several devices or shapes (() and (1,)): rare, so not the fast path
        first = items[0]
        stacked = torch.stack([t.reshape(()).to(first.device) for t in items])
    # float64 keeps a long epoch's sum exact enough; MPS has no float64
    dtype = torch.float32 if stacked.device.type == "mps" else torch.float64
    return stacked.sum(dtype=dtype)


# -- per-thread state ----------------------------------------------------------------------


class _Pass:
    """One pass over a DataLoader: from ``iter(loader)`` to its exhaustion."""

    __slots__ = (
        "__weakref__",
        "batch_size",
        "batches",
        "data_time",
        "done",
        "end",
        "loader",
        "samples",
        "start",
    )

    def __init__(self, loader: DataLoader[Any], start: float, data_time: float) -> None:
        self.loader: weakref.ref[DataLoader[Any]] = weakref.ref(loader)
        self.start = start
        self.end = start
        self.data_time = data_time  # seconds spent waiting for batches (iter() included)
        self.batches = 0
        self.samples = 0
        self.batch_size = 0  # of the first batch
        self.done = False


class _Thread:
    """What one thread (context) is doing: its training run, the pass it reads, its losses."""

    __slots__ = ("eval_losses", "generation", "in_loss", "last_pass", "pending", "tracker")

    def __init__(self, generation: int) -> None:
        self.generation = generation
        self.tracker: _Tracker | None = None
        #: losses backward() was called on since the last optimizer step
        self.pending = _Losses()
        #: the DataLoader pass that gave the latest batch
        self.last_pass: _Pass | None = None
        #: losses computed with gradients on while the model was in eval mode: (id, value)
        self.eval_losses: list[tuple[int, torch.Tensor]] = []
        self.in_loss = False


_state: ContextVar[_Thread | None] = ContextVar("autolog_torch", default=None)
_generation = 0  # bumped by revert and in a forked child: every thread's state starts over
_lock = threading.Lock()
_trackers: dict[int, _Tracker] = {}  # open trackers of every thread, by id
# DataLoader iterator -> its pass in progress; DataLoader -> its latest pass
_passes: weakref.WeakKeyDictionary[Any, _Pass] = weakref.WeakKeyDictionary()
_loader_pass: weakref.WeakKeyDictionary[Any, _Pass] = weakref.WeakKeyDictionary()
# optimizer -> optimizer steps taken in the process before it was created
_created: weakref.WeakKeyDictionary[Optimizer, int] = weakref.WeakKeyDictionary()
_steps_total = 0
_fork_handler_installed = False


def _thread() -> _Thread:
    th = _state.get()
    if th is None or th.generation != _generation:
        th = _Thread(_generation)
        _state.set(th)
    return th


def _in_worker() -> bool:
    return torch.utils.data.get_worker_info() is not None


def rank() -> int:
    """This process's rank: torch.distributed's, else $RANK, else $LOCAL_RANK, else 0."""
    dist = torch.distributed
    if dist.is_available() and dist.is_initialized():
        return int(dist.get_rank())
    for variable in ("RANK", "LOCAL_RANK"):
        value = os.environ.get(variable, "").strip()
        if value.isdigit():
            return int(value)
    return 0


# -- the run of one training loop ----------------------------------------------------------


class _Tracker:
    """The run of one training loop and what it has counted since its last epoch."""

    def __init__(
        self,
        settings: Settings,
        session_client: autolog.Client,
        run_id: str,
        active: autolog.ActiveRun | None,
        optimizer: Optimizer,
    ) -> None:
        self.settings = settings
        self.log_every = int(settings.options.log_every_n_steps)
        self.window = int(settings.options.window_steps)
        self.client = session_client
        self.run_id = run_id
        self.active = active  # the run we opened (None: logging into a user's run)
        self.optimizers: list[Optimizer] = [optimizer]
        self.model: nn.Module | None = None
        self.schedulers: list[Any] = []
        self.thread = threading.get_ident()
        self.pid = os.getpid()
        self.closed = False
        self.train = _Losses()
        self.val = _Losses()
        self.epoch = 0  # epochs (or step windows) completed
        self.epoch_steps = 0  # optimizer steps since the last epoch ended
        self.steps = 0
        self.last_step_total = 0  # _steps_total at this run's latest step
        self.pass_: _Pass | None = None  # the training DataLoader pass in progress
        self.loader_logged = False  # epochs are DataLoader passes (else windows of steps)
        self.window_start = perf_counter()
        self.params: set[str] = set()
        self._lock = threading.Lock()

    # opening ---------------------------------------------------------------------------------

    @classmethod
    def open(cls, settings: Settings, optimizer: Optimizer, th: _Thread) -> _Tracker:
        model, schedulers = _find_objects(optimizer)
        tags = {"autolog.torch.optimizer": type(optimizer).__name__}
        if model is not None:
            tags["autolog.torch.model"] = type(_unwrap(model)).__name__
        session = open_session(NAME, settings, tags=tags)
        owned = session.owned
        active = autolog.active_run() if owned else None
        session.owned = False  # the run outlives this call: the tracker ends it
        session.close()
        tracker = cls(settings, session.client, session.run_id, active, optimizer)
        tracker.model = model
        tracker.schedulers = schedulers
        on_run_end(tracker.run_id, tracker._on_run_end, makes_way=owned)
        with _lock:
            _trackers[id(tracker)] = tracker
        tracker._log_params(optimizer_params(optimizer))
        tracker._log_params(_placement(optimizer))
        if model is not None:
            tracker._log_params(model_params(model))
        for scheduler in schedulers:
            tracker._log_params(scheduler_params(scheduler))
        return tracker

    def add_optimizer(self, optimizer: Optimizer) -> None:
        """Another optimizer of the same training (a GAN's): its params get a prefix."""
        index = len(self.optimizers)
        self.optimizers.append(optimizer)
        self._log_params(optimizer_params(optimizer, f"optimizer_{index}"))

    def _log_params(self, params: Mapping[str, Any]) -> None:
        fresh = {k: v for k, v in params.items() if k not in self.params}
        self.params.update(fresh)
        try:
            self.client.log_params(self.run_id, fresh)
        except ParamCollisionError:
            # a user's run that already holds some of these keys: keep theirs
            for key, value in fresh.items():
                try:
                    self.client.log_params(self.run_id, {key: value})
                except ParamCollisionError:
                    continue

    def _log_loader(self, p: _Pass) -> None:
        self.loader_logged = True
        loader = p.loader()
        if loader is None:
            return
        params = {
            "batch_size": loader.batch_size or p.batch_size or None,
            "dataset_size": dataset_size(loader),
        }
        self._log_params({k: v for k, v in params.items() if v is not None})

    # each optimizer step ---------------------------------------------------------------------

    def step(self, th: _Thread) -> None:
        if th.eval_losses:
            model = self.model
            self._settle_eval_losses(th, validation=model is not None and model.training)
        if len(self.val):
            self.flush_validation()
        pending = th.pending
        last = pending.last() if self.log_every else None
        if pending.items or pending.total is not None:
            self.train.take(pending)
        self.steps += 1
        self.epoch_steps += 1
        self.last_step_total = _steps_total
        p = th.last_pass
        if p is not None and not p.done:
            if p is not self.pass_:
                self.pass_ = p
                if not self.loader_logged:
                    self._log_loader(p)
        elif not self.loader_logged and self.epoch_steps >= self.window:
            self.end_epoch(None)
        if self.log_every and self.steps % self.log_every == 0:
            self._log_step(last)

    def _log_step(self, last: torch.Tensor | None) -> None:
        metrics = {f"step_{k}": v for k, v in self._learning_rates().items()}
        if last is not None:
            metrics["step_training_loss"] = float(last.item())
        self.client.log_metrics(self.run_id, metrics, step=self.steps)

    def _settle_eval_losses(self, th: _Thread, *, validation: bool) -> None:
        if validation:
            for _, value in th.eval_losses:
                self.val.add(value)
        th.eval_losses.clear()

    # epochs ----------------------------------------------------------------------------------

    def end_epoch(self, p: _Pass | None) -> None:
        """Log the epoch that just ended: a DataLoader pass ``p``, else a window of steps."""
        now = perf_counter()
        metrics: dict[str, float] = {}
        loss = self.train.mean()
        if loss is not None:
            metrics["training_loss"] = loss
        metrics.update(self._learning_rates())
        if p is not None:
            elapsed = p.end - p.start
            metrics["epoch_time"] = elapsed
            metrics["data_time"] = p.data_time
            metrics["compute_time"] = max(elapsed - p.data_time, 0.0)
            if p.samples and elapsed > 0:
                metrics["samples_per_second"] = p.samples / elapsed
        else:
            metrics["epoch_time"] = now - self.window_start
        metrics["optimizer_steps"] = float(self.epoch_steps)
        self.client.log_metrics(self.run_id, metrics, step=self.epoch)
        self.epoch += 1
        self.epoch_steps = 0
        self.window_start = now
        self.pass_ = None
        if self.model is None:
            self._discover_model()

    def flush_validation(self) -> None:
        value = self.val.mean()
        if value is None:
            return
        # validation belongs to the epoch in progress, else to the one that just ended
        step = self.epoch if self.epoch_steps else max(self.epoch - 1, 0)
        self.client.log_metric(self.run_id, "validation_loss", value, step)

    def pass_ended(self, p: _Pass, th: _Thread) -> None:
        if p is self.pass_:
            self.end_epoch(p)
            return
        # A pass without optimizer steps: evaluation. Eval-mode losses not followed by a step
        # were validation.
        if th.eval_losses:
            self._settle_eval_losses(th, validation=True)
        if len(self.val):
            self.flush_validation()

    def _learning_rates(self) -> dict[str, float]:
        rates = {}
        for i, optimizer in enumerate(self.optimizers):
            for j, group in enumerate(optimizer.param_groups):
                key = "learning_rate" + (f"_{i}" if i else "") + (f"_group_{j}" if j else "")
                rates[key] = float(group["lr"])
        return rates

    def _discover_model(self) -> None:
        model, schedulers = _find_objects(self.optimizers[0])
        if model is not None:
            self.model = model
            self._log_params(model_params(model))
        for scheduler in schedulers:
            if scheduler not in self.schedulers:
                self.schedulers.append(scheduler)
                self._log_params(scheduler_params(scheduler))

    # the end ---------------------------------------------------------------------------------

    def finish(self, status: RunStatus = RunStatus.FINISHED) -> None:
        """End this training's run (ours) or stop logging into it (a user's)."""
        if self.active is not None:
            self.active.end(status)  # runs our end hook, which finalizes
        else:
            on_run_end(self.run_id, None)
            self.finalize(status)

    def _on_run_end(self, status: RunStatus) -> None:
        try:
            self.finalize(status)
        except Exception as exc:
            report(NAME, exc, self.settings)

    def finalize(self, status: RunStatus) -> None:
        """Log the last, partial epoch and the final model (if the run FINISHED); let go."""
        with self._lock:
            if self.closed:
                return
            self.closed = True
        with _lock:
            _trackers.pop(id(self), None)
        if os.getpid() != self.pid:
            return  # a forked child: the run is the parent's
        try:
            if status is RunStatus.FINISHED:
                if self.epoch_steps:
                    p = self.pass_
                    if p is not None and not p.done:
                        p.end = perf_counter()
                    self.end_epoch(p)
                self.flush_validation()
                if self.model is None:
                    self._discover_model()
                if self.settings.log_models and self.model is not None:
                    self.client.log_model(self.run_id, _unwrap(self.model), "model", flavor="torch")
        finally:
            self.model = None
            self.optimizers = []
            self.schedulers = []
            self.pass_ = None


# -- hooks -----------------------------------------------------------------------------------


def after_step(optimizer: Optimizer, args: Any, kwargs: Any) -> None:
    """torch's global optimizer step post-hook: the run opens at the first step."""
    global _steps_total
    _steps_total += 1
    settings = current_settings(NAME)
    if settings is None or settings.disable or current() is not None:
        return  # off, or a Lightning (or other integration's) training records this step
    try:
        th = _thread()
        tracker = th.tracker
        if tracker is None or tracker.closed or optimizer not in tracker.optimizers:
            tracker = _tracker_for(th, optimizer, settings)
            if tracker is None:
                th.pending.clear()
                th.eval_losses.clear()
                return
        tracker.step(th)
    except Exception as exc:  # our bug: the step happened all the same
        report(NAME, exc, settings)


def _tracker_for(th: _Thread, optimizer: Optimizer, settings: Settings) -> _Tracker | None:
    if _in_worker() or rank() != 0:
        return None
    old = th.tracker
    if old is not None and not old.closed:
        if _joins(old, th, optimizer):
            old.add_optimizer(optimizer)
            return old
        old.finish()  # a new training loop with another optimizer: the last one is over
    tracker = th.tracker = _Tracker.open(settings, optimizer, th)
    return tracker


def _joins(tracker: _Tracker, th: _Thread, optimizer: Optimizer) -> bool:
    """Does ``optimizer`` train alongside the tracker's (a GAN), or start a new loop?"""
    p = th.last_pass
    if p is not None and not p.done:
        return p is tracker.pass_  # stepping in the very pass the current optimizer steps in
    created = _created.get(optimizer)
    return created is not None and tracker.last_step_total > created


def optimizer_init_hook(call: Call) -> Yield:
    yield call.args, call.kwargs
    _created[call.instance] = _steps_total


def backward_hook(call: Call) -> Yield:
    """torch.autograd.backward (which Tensor.backward calls): keep the loss, detached."""
    if current() is None:
        args = call.args
        tensors = args[0] if args else call.kwargs.get("tensors")
        if isinstance(tensors, torch.Tensor) and tensors.numel() == 1:
            th = _thread()
            if th.eval_losses:
                key = id(tensors)
                th.eval_losses = [e for e in th.eval_losses if e[0] != key]
            th.pending.add(tensors.detach())
    yield from ()  # decline: backward runs untouched


def loss_hook(call: Call) -> Yield:
    """torch.nn.functional losses: those computed without gradients (or in eval mode) are
    validation losses."""
    th = _state.get()
    if th is None or th.in_loss or th.generation != _generation:
        return
    tracker = th.tracker
    if tracker is None or tracker.closed or current() is not None:
        return
    grad = torch.is_grad_enabled()
    if grad:
        model = tracker.model
        if model is None or model.training:
            return  # a training loss: backward() will report it
    th.in_loss = True  # a loss computed by another one is not counted twice
    try:
        result = yield call.args, call.kwargs
    finally:
        th.in_loss = False
    if isinstance(result, torch.Tensor) and result.numel() == 1:
        if grad:
            th.eval_losses.append((id(result), result.detach()))
        else:
            tracker.val.add(result.detach())


def iter_hook(call: Call) -> Yield:
    """DataLoader.__iter__: a pass begins (and the loader's unfinished previous one ends)."""
    start = perf_counter()
    iterator = yield call.args, call.kwargs
    if _in_worker():
        return
    loader = call.instance
    th = _thread()
    previous = _loader_pass.get(loader)
    if previous is not None and not previous.done:
        previous.end = start
        _end_pass(previous, th)
    p = _Pass(loader, start, perf_counter() - start)
    _passes[iterator] = p
    _loader_pass[loader] = p


def next_hook(call: Call) -> Yield:
    """The DataLoader iterator's __next__: time spent waiting for data, the end of a pass."""
    p = _passes.get(call.instance)
    if p is None or p.done:
        return
    start = perf_counter()
    try:
        batch = yield call.args, call.kwargs
    except BaseException as error:
        now = perf_counter()
        p.data_time += now - start
        if isinstance(error, StopIteration):
            p.end = now
            _end_pass(p, _thread())
        return  # the firewall re-raises the error unchanged
    p.data_time += perf_counter() - start
    p.batches += 1
    size = _batch_size(batch)
    p.samples += size
    if not p.batch_size:
        p.batch_size = size
    _thread().last_pass = p


def _end_pass(p: _Pass, th: _Thread) -> None:
    p.done = True
    if th.last_pass is p:
        th.last_pass = None
    tracker = th.tracker
    if tracker is not None and not tracker.closed and current() is None:
        tracker.pass_ended(p, th)


def save_hook(call: Call) -> Yield:
    """torch.save to a file during training: the file becomes a checkpoint artifact."""
    th = _state.get()
    tracker = th.tracker if th is not None and th.generation == _generation else None
    if tracker is None or tracker.closed or not tracker.settings.options.log_checkpoints:
        return
    args = call.args
    target = args[1] if len(args) > 1 else call.kwargs.get("f")
    if not isinstance(target, (str, os.PathLike)) or _in_worker():
        return
    yield call.args, call.kwargs
    tracker.client.log_artifact_later(tracker.run_id, target, "checkpoints")


def sys_excepthook_hook(call: Call) -> Yield:
    """An uncaught exception ends the main thread: its training runs end FAILED."""
    kind = call.args[0] if call.args else None
    _fail(threading.main_thread().ident, kind)
    yield from ()


def threading_excepthook_hook(call: Call) -> Yield:
    hook_args = call.args[0] if call.args else None
    thread = getattr(hook_args, "thread", None)
    if thread is not None:
        _fail(thread.ident, getattr(hook_args, "exc_type", None))
    yield from ()


def _fail(ident: int | None, kind: Any) -> None:
    interrupted = isinstance(kind, type) and issubclass(kind, KeyboardInterrupt)
    status = RunStatus.KILLED if interrupted else RunStatus.FAILED
    with _lock:
        trackers = [t for t in _trackers.values() if t.thread == ident]
    for tracker in trackers:
        tracker.finish(status)


def end_plain_runs() -> None:
    """End the plain-loop run of this thread (another kind of training begins)."""
    th = _state.get()
    if th is not None and th.tracker is not None and not th.tracker.closed:
        th.tracker.finish()


def _reset() -> None:
    """autolog(disable=True): end the open runs, forget every thread's state."""
    global _generation
    with _lock:
        trackers = list(_trackers.values())
    for tracker in trackers:
        if tracker.thread == threading.get_ident():
            tracker.finish()
        else:
            on_run_end(tracker.run_id, None)
            tracker.finalize(RunStatus.FINISHED)
    _generation += 1


def _after_fork_in_child() -> None:
    # A DataLoader worker (or any forked child) records nothing of the parent's training; the
    # lock may have been held by a parent thread that does not exist here.
    global _generation, _lock
    _generation += 1
    _lock = threading.Lock()
    _trackers.clear()


# -- finding the model -------------------------------------------------------------------


def _find_objects(optimizer: Optimizer) -> tuple[nn.Module | None, list[Any]]:
    """The module trained by ``optimizer`` and its LR schedulers, from the caller's frames.

    Looks at the local variables of the nearest frames outside torch and autolog (one level
    into containers and objects, e.g. ``self.model``) and their module's globals: the module
    holding most of the optimizer's parameters is the model. No per-step cost.
    """
    wanted = {id(p) for group in optimizer.param_groups for p in group["params"]}
    found: dict[int, Any] = {}
    frame: FrameType | None = sys._getframe(1)
    user_frames = 0
    seen_globals: set[int] = set()
    depth = 0
    while frame is not None and user_frames < 3 and depth < 40:
        depth += 1
        package = str(frame.f_globals.get("__name__", "")).partition(".")[0]
        if package not in _LIBRARIES:
            user_frames += 1
            for value in list(frame.f_locals.values()):
                _collect(value, found, 1)
            if id(frame.f_globals) not in seen_globals:
                seen_globals.add(id(frame.f_globals))
                for value in list(frame.f_globals.values()):
                    _collect(value, found, 0)
        frame = frame.f_back
    best: nn.Module | None = None
    best_key = (0, 0)
    schedulers = []
    for obj in found.values():
        if isinstance(obj, nn.Module):
            ids = [id(p) for p in obj.parameters()]
            key = (sum(1 for i in ids if i in wanted), len(ids))
            if key[0] and key > best_key:
                best, best_key = obj, key
        elif getattr(obj, "optimizer", None) is optimizer:
            schedulers.append(obj)
    return best, schedulers


def _collect(value: Any, found: dict[int, Any], depth: int) -> None:
    if isinstance(value, (nn.Module, LRScheduler)):
        found[id(value)] = value
    elif depth <= 0 or isinstance(value, (type, str, bytes, torch.Tensor)):
        return
    elif isinstance(value, dict):
        for item in list(value.values())[:64]:
            _collect(item, found, depth - 1)
    elif isinstance(value, (list, tuple)):
        for item in value[:64]:
            _collect(item, found, depth - 1)
    else:
        attributes = getattr(value, "__dict__", None)
        if isinstance(attributes, dict) and not callable(value):
            for item in list(attributes.values())[:64]:
                _collect(item, found, depth - 1)


def _unwrap(model: nn.Module) -> nn.Module:
    """The module inside DataParallel / DistributedDataParallel / torch.compile wrappers."""
    for _ in range(8):
        inner = getattr(model, "_orig_mod", None)  # torch.compile's OptimizedModule
        if inner is None and isinstance(
            model, (nn.DataParallel, nn.parallel.DistributedDataParallel)
        ):
            inner = model.module
        if not isinstance(inner, nn.Module):
            return model
        model = inner
    return model


# -- params --------------------------------------------------------------------------------


def _plain(value: Any) -> Any:
    if isinstance(value, torch.Tensor):
        return value.item() if value.numel() == 1 else repr(value.tolist())
    if isinstance(value, (list, tuple)):
        return type(value)(_plain(v) for v in value)
    return value


def optimizer_params(optimizer: Optimizer, key: str = "optimizer") -> dict[str, Any]:
    """The optimizer's class and every hyperparameter of its param groups (group 0 bare,
    group i as ``param_group_<i>_<name>``)."""
    params: dict[str, Any] = {key: type(optimizer).__name__}
    prefix = "" if key == "optimizer" else f"{key}_"
    for i, group in enumerate(optimizer.param_groups):
        group_prefix = prefix if i == 0 else f"{prefix}param_group_{i}_"
        for name, value in group.items():
            if name not in ("params", "param_names"):
                params[group_prefix + name] = _plain(value)
    return params


def model_params(model: nn.Module) -> dict[str, Any]:
    inner = _unwrap(model)
    parameters = list(inner.parameters())
    return {
        "model_class": type(inner).__name__,
        "total_params": sum(p.numel() for p in parameters),
        "trainable_params": sum(p.numel() for p in parameters if p.requires_grad),
    }


def _placement(optimizer: Optimizer) -> dict[str, str]:
    for group in optimizer.param_groups:
        for p in group["params"]:
            return {"device": str(p.device), "dtype": str(p.dtype).removeprefix("torch.")}
    return {}


def scheduler_params(scheduler: Any, key: str = "lr_scheduler") -> dict[str, Any]:
    params: dict[str, Any] = {key: type(scheduler).__name__}
    for name, value in vars(scheduler).items():
        if name.startswith("_") or name in _SCHEDULER_STATE:
            continue
        plain = _plain(value)
        if isinstance(plain, (bool, int, float, str)) or (
            isinstance(plain, (list, tuple))
            and len(plain) <= 16
            and all(isinstance(v, (bool, int, float, str)) for v in plain)
        ):
            params[f"{key}_{name}"] = plain
    return params


def dataset_size(loader: DataLoader[Any]) -> int | None:
    try:
        return len(loader.dataset)  # type: ignore[arg-type]
    except TypeError:
        return None  # an IterableDataset without __len__


def _batch_size(batch: Any) -> int:
    for _ in range(4):
        if isinstance(batch, torch.Tensor):
            return int(batch.shape[0]) if batch.dim() else 1
        if isinstance(batch, (list, tuple)) and batch:
            batch = batch[0]
        elif isinstance(batch, Mapping) and batch:
            batch = next(iter(batch.values()))
        else:
            return 0
    return 0


# -- installation -------------------------------------------------------------------------


def install(patcher: Patcher) -> None:
    """Wrap what a plain loop calls and register torch's global optimizer hook."""
    global _fork_handler_installed
    from torch.optim.optimizer import register_optimizer_step_post_hook
    from torch.utils.data import dataloader

    patcher.wrap(dataloader.DataLoader, "__iter__", iter_hook)
    patcher.wrap(dataloader._BaseDataLoaderIter, "__next__", next_hook)
    patcher.wrap(torch.autograd, "backward", backward_hook)
    functional = torch.nn.functional
    for name in LOSS_FUNCTIONS:
        if name in vars(functional):
            patcher.wrap(functional, name, loss_hook)
    patcher.wrap(torch.serialization, "save", save_hook, aliases=[(torch, "save")])
    patcher.wrap(Optimizer, "__init__", optimizer_init_hook)
    patcher.wrap(sys, "excepthook", sys_excepthook_hook)
    patcher.wrap(threading, "excepthook", threading_excepthook_hook)
    handle = register_optimizer_step_post_hook(after_step)
    patcher.on_revert(handle.remove)
    patcher.on_revert(_reset)
    if not _fork_handler_installed and hasattr(os, "register_at_fork"):
        _fork_handler_installed = True
        os.register_at_fork(after_in_child=_after_fork_in_child)
