"""Plain PyTorch training loops: the hooks behind ``autolog.integrations.torch``.

Imported by the torch integration's ``patch()`` only, once torch is imported. What is recorded,
and when, is described in ``integrations/torch.py``; this module is how.

Per optimizer step the hooks cost a few microseconds and never synchronise a device: the
losses ``backward()`` was called on are kept as detached tensors (summed on their device every
256 values) and read with one ``.item()`` per epoch.

What ``backward()`` is called on is not always the loss the user trains on: GradScaler's
``scaler.scale(loss)`` multiplies it by the scale, gradient accumulation divides it by the
number of batches per step. The hooks tell the loss apart without reading a value: the
tensor ``GradScaler.scale`` returned is traded for the one it was given; a loss multiplied by a
constant (the graph node's saved CPU scalar, read without a device sync) is a gradient
accumulation's where several backward() calls each divide by their number before one optimizer
step; the latest output of a torch loss function is kept (a reference) to know whether the
loss is that function's value, the same quantity the evaluations compute.
"""

from __future__ import annotations

import functools
import io
import math
import os
import sys
import threading
import time
import weakref
from collections.abc import Mapping
from contextvars import ContextVar
from typing import Any

import torch
from torch import nn
from torch.optim import Optimizer
from torch.utils.data import DataLoader

import autolog
from autolog.entities import RunStatus
from autolog.errors import ParamCollisionError
from autolog.integrations import _checkpoints
from autolog.integrations._torch_inputs import FirstInput, logged_with
from autolog.integrations._torch_model import (
    configured_groups,
    dataset_size,
    find_objects,
    find_owner,
    model_params,
    optimizer_params,
    placement,
    scheduler_params,
    unwrap,
)
from autolog.integrations._workers import worker_client
from autolog.integrations.patching import (
    Call,
    CallbackFirewall,
    HookGenerator,
    Patcher,
    Settings,
    current_settings,
    notify,
)
from autolog.integrations.session import current, open_session
from autolog.lifecycle import Layer, on_fork, on_run_end

__all__ = ["end_plain_runs", "install", "rank"]

NAME = "torch"

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
#: losses whose "mean" averages over classes' targets, and over samples of the batch
_CLASS_LOSSES = frozenset({"cross_entropy", "nll_loss", "multi_margin_loss"})
_PER_SAMPLE_LOSSES = frozenset(
    {"cosine_embedding_loss", "ctc_loss", "multilabel_margin_loss",
     "multilabel_soft_margin_loss", "triplet_margin_loss", "triplet_margin_with_distance_loss"}
)  # fmt: skip
_MAX_SEGMENTS = 32  # sources of evaluation data told apart between two training steps
_FOLD = 256  # detached losses kept before they are summed (on their device) into one tensor
#: optimizer steps after which a run that has seen one training only logs its params bare
#: (until then a second optimizer with its own losses, a GAN's, may still turn up)
_DECIDE_STEPS = 64
#: reductions whose value is a mean over the batch (the units validation losses are kept in)
_MEAN_REDUCTIONS = frozenset({"mean", "batchmean", "elementwise_mean"})
_NAME_CHARS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_")

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
        items = self.items
        items.extend(other.items)
        if other.total is not None:
            self._add_total(other.total)
            other.total = None
        self.count += other.count
        other.items.clear()  # in place: no new list at every step
        other.count = 0
        if len(items) >= _FOLD:
            self._fold()

    def last(self) -> torch.Tensor | None:
        return self.items[-1] if self.items else None

    def mean(self) -> float | None:
        """The mean of every value (one device sync), then empty."""
        total, n = self.drain()
        return total / n if n else None

    def drain(self) -> tuple[float, int]:
        """The sum of every value (one device sync) and their number, then empty."""
        n = len(self)
        if n == 0:
            return 0.0, 0
        if self.items:
            self._fold()
        assert self.total is not None
        value = float(self.total.item())
        self.clear()
        return value, n

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
        "exhausted",
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
        #: its iterator ran dry; a wrapper reading one batch ahead (accelerate's
        #: DataLoaderShard, a prefetching generator) still hands out the last batch: the pass
        #: is done at the next thing that is no part of it (see ``_end_drain``)
        self.exhausted = False
        self.done = False


class _Thread:
    """What one thread (context) is doing: its training run, the pass it reads, its losses."""

    __slots__ = (
        "capture_name",
        "capture_node",
        "draining",
        "eval_losses",
        "factor",
        "generation",
        "in_loss",
        "last_pass",
        "loss_name",
        "loss_target",
        "mark_batches",
        "mark_pass",
        "merged",
        "open_guard",
        "pending",
        "pending_since",
        "scaled",
        "tracker",
        "train_loss",
        "unscaled",
    )

    def __init__(self, generation: int) -> None:
        self.generation = generation
        self.tracker: _Tracker | None = None
        #: opening this thread's runs: after a failure of ours, the thread records no more
        self.open_guard = CallbackFirewall(NAME)
        #: losses backward() was called on since the last optimizer step
        self.pending = _Losses()
        #: the DataLoader pass that gave the latest batch
        self.last_pass: _Pass | None = None
        #: losses computed with gradients on while the model was in eval mode:
        #: (id, value, where the data came from, which pass over it, loss function)
        self.eval_losses: list[tuple[int, torch.Tensor, Any, Any, str]] = []
        self.in_loss = False
        #: the latest training loss's target, where no DataLoader gives the batches:
        #: (the tensor it is a view of, or itself; storage offset; number of elements)
        self.loss_target: tuple[torch.Tensor, int, int] | None = None
        #: the latest torch loss function called with gradients, until backward(): its name
        #: ("" if reduced by sum: not a mean over the batch), the autograd node class of its
        #: value (see _LOSS_NODES), or the value itself where that class tells nothing
        self.capture_name = ""
        self.capture_node: type | None = None
        self.train_loss: torch.Tensor | None = None
        #: GradScaler.scale's latest result, and the loss it was given
        self.scaled: torch.Tensor | None = None
        self.unscaled: torch.Tensor | None = None
        #: of the pending losses: the constant every one was multiplied by (1.0: none; NaN:
        #: not the same for all, or not readable), the loss function every one is the value of
        #: ("" if not all the same one), the time of the first
        self.factor = 1.0
        self.loss_name = ""
        self.pending_since = 0.0
        #: pending losses computed on the same DataLoader batch as the one before them (their
        #: batch's loss is the sum), and the pass and batch count of the latest
        self.merged = 0
        self.mark_pass: _Pass | None = None
        self.mark_batches = 0
        #: a pass whose iterator ran dry, not done yet (see ``_Pass.exhausted``)
        self.draining: _Pass | None = None


_state: ContextVar[_Thread | None] = ContextVar("autolog_torch", default=None)
_generation = 0  # bumped by revert and in a forked child: every thread's state starts over
_lock = threading.Lock()
_trackers: dict[int, _Tracker] = {}  # open trackers of every thread, by id
# id(DataLoader iterator) -> its pass in progress (a plain dict: read at every batch; the
# entry goes with the iterator); DataLoader -> its latest pass
_passes: dict[int, _Pass] = {}
_loader_pass: weakref.WeakKeyDictionary[Any, _Pass] = weakref.WeakKeyDictionary()
# optimizer -> optimizer steps taken in the process before it was created
_created: weakref.WeakKeyDictionary[Optimizer, int] = weakref.WeakKeyDictionary()
# optimizer -> the hyperparameters of its param groups as constructed (before LR schedulers)
_configured: weakref.WeakKeyDictionary[Optimizer, list[dict[str, Any]]] = (
    weakref.WeakKeyDictionary()
)
# autograd node classes of a product and a quotient (set by install), and of arithmetic any
# loss written by hand ends with
_MUL: type | None = None
_DIV: type | None = None
_ARITHMETIC: frozenset[type] = frozenset()
# The autograd node class of each torch loss function's value (None: an arithmetic node, which
# tells nothing). Learnt from its first value: then backward() knows the function's value by
# its node's class, and the loss function's hook needs no after (one call less per step).
_LOSS_NODES: dict[str, type | None] = {}
_steps_total = 0
_warned_no_step = False  # a loop calling backward() that nothing records: said once


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


# -- evaluations and epochs without a DataLoader ---------------------------------------------


class _Segment:
    """One evaluation: consecutive losses computed on one source of data (a DataLoader's
    dataset, else the tensor the loss target is a view of; ``None``: unknown), in one pass
    over it (one DataLoader pass; slices of the tensor at offsets not seen yet)."""

    __slots__ = ("losses", "offsets", "pass_", "source")

    def __init__(self, source: Any, mark: Any) -> None:
        self.source = source
        self.pass_ = mark if isinstance(mark, _Pass) else None
        self.offsets: set[int] = set()
        self.losses = _Losses()

    def takes(self, source: Any, mark: Any) -> bool:
        """Whether a loss on ``source`` at ``mark`` continues this evaluation."""
        if source is not self.source or source is None:
            return source is None and self.source is None and mark is None
        if isinstance(mark, _Pass):
            return mark is self.pass_
        if isinstance(mark, int):
            if mark in self.offsets:
                return False  # the tensor is evaluated again from a slice already seen
            self.offsets.add(mark)
        return True


class _Passes:
    """Epochs of a loop without a DataLoader, told from the training losses' targets.

    Batches sliced from one tensor (``y[i:i + n]``, ``y.split(n)``, a whole-tensor target in
    full-batch training) are views of it: their storage offsets show where a pass over the
    tensor starts again. The first repeat is accepted as the end of the first epoch only if the
    slices seen until then tile the tensor (no overlap, nothing missing but a remainder
    smaller than one batch), or are one and the same slice (full batch); from then on every
    repeat starts an epoch. Anything else (fresh tensors every step, random slices) is no
    structure: ``state`` becomes ``"none"``.
    """

    __slots__ = ("base", "offsets", "reason", "spans", "state")

    def __init__(self) -> None:
        self.state = "undecided"  # then "passes" or "none"
        self.reason = ""  # why "none": "loss", "tensors" or "slices"
        self.base: torch.Tensor | None = None
        self.offsets: set[int] = set()  # of the epoch in progress
        self.spans: list[tuple[int, int]] = []  # (offset, numel) of the first epoch

    def observe(self, target: tuple[torch.Tensor, int, int] | None) -> bool:
        """Note one optimizer step's target; True if the step begins a new epoch."""
        if self.state == "none":
            return False
        if target is None:
            if self.state == "undecided":
                self.state, self.reason = "none", "loss"
            return False  # a step without a loss function: counted in the epoch in progress
        base, offset, numel = target
        if self.base is None:
            self.base = base
        elif base is not self.base:
            self.state, self.reason = "none", "tensors"
            self.base = None
            return False
        if offset not in self.offsets:
            self.offsets.add(offset)
            if self.state == "undecided":
                self.spans.append((offset, numel))
            return False
        if self.state == "undecided":
            if not self.tiles():
                self.state, self.reason = "none", "slices"
                self.base = None
                return False
            self.state = "passes"
            self.spans = []
        self.offsets = {offset}
        return True

    def tiles(self) -> bool:
        """Whether the slices of the first epoch cover the tensor once (or are one slice)."""
        spans = sorted(self.spans)
        if self.base is None or not spans:
            return False
        if len(spans) == 1:
            return True
        end = 0
        for offset, numel in spans:
            if offset < end:
                return False
            end = offset + numel
        covered = sum(numel for _, numel in spans)
        largest = max(numel for _, numel in spans)
        return covered >= self.base.numel() - largest

    def why(self, window: int) -> str:
        """What is logged instead of epochs, and why."""
        cause = {
            "loss": "its training loss is not computed by a torch loss function on a target",
            "tensors": "its training batches are not slices of one tensor",
        }.get(self.reason, "its training batches, slices of one tensor, do not pass over it")
        return (
            f"no epochs can be told in this loop: it has no DataLoader and {cause}. "
            f"training_loss, learning_rate, epoch_time and optimizer_steps are logged for "
            f"every window of {window} optimizer steps instead (step = window index; "
            f"autolog(torch={{'window_steps': N}}) sets the window)."
        )


def _mean(segments: list[_Segment]) -> float | None:
    """The mean of every loss of the segments (one device sync), or None if none."""
    if not segments:
        return None
    total = _Losses()
    for segment in segments:
        total.take(segment.losses)
    return total.mean()


class _Tally:
    """What one training counted since its last epoch: its losses (those of steps that
    accumulated gradients over losses divided by a constant, by that constant) and steps."""

    __slots__ = ("factored", "merged", "steps", "train")

    def __init__(self) -> None:
        self.train = _Losses()
        self.factored: dict[float, _Losses] = {}
        self.steps = 0
        self.merged = 0  # losses added to the one before them: the same batch's

    def take(self, other: _Tally) -> None:
        self.train.take(other.train)
        for factor, losses in other.factored.items():
            self.factored.setdefault(factor, _Losses()).take(losses)
        other.factored = {}
        self.steps += other.steps
        self.merged += other.merged
        other.steps = other.merged = 0

    def mean(self) -> float | None:
        """The mean loss, each divided one multiplied back (one device sync per constant)."""
        total, n = self.train.drain()
        for factor, losses in self.factored.items():
            part, m = losses.drain()
            total += part / factor
            n += m
        self.factored = {}
        n -= self.merged
        self.merged = 0
        return total / n if n > 0 else None


class _Chunk:
    """Steps counted while the epoch structure is undecided: one window of ``window_steps``."""

    __slots__ = ("end", "rates", "start", "steps", "tallies")

    def __init__(self, tallies: list[_Tally], steps: int, start: float, end: float,
                 rates: dict[str, float]) -> None:  # fmt: skip
        self.tallies = tallies  # one per training
        self.steps = steps
        self.start = start
        self.end = end
        self.rates = rates


class _Series:
    """One training in a loop: an optimizer (or a loop updating weights by hand) and the module
    it trains. A loop whose optimizers each take their own backward() losses (a GAN's
    discriminator and generator) holds several, each recorded under its own name; optimizers
    sharing one backward() (parameter groups split between two optimizers) are one."""

    __slots__ = (
        "accumulation",
        "configured",
        "index",
        "loss_fns",
        "model",
        "name",
        "optimizers",
        "prefix",
        "schedulers",
        "tally",
        "untold",
    )

    def __init__(self, index: int, optimizer: Optimizer | None) -> None:
        self.index = index
        #: the first one's steps are this training's steps
        self.optimizers: list[Optimizer] = [optimizer] if optimizer is not None else []
        self.configured = [_configured.get(optimizer) if optimizer is not None else None]
        self.name = ""  # where several trainings share the run
        self.prefix = ""  # of its metric and param names: "" or "<name>_"
        self.model: nn.Module | None = None
        self.schedulers: list[Any] = []
        self.tally = _Tally()
        #: the constant each loss is multiplied by for gradient accumulation (0: none seen)
        self.accumulation = 0.0
        #: the loss functions its losses are the values of ("": something else)
        self.loss_fns: set[str] = set()
        #: the loss trained on cannot be told (see ``take``): no training_loss
        self.untold = False

    def take(self, pending: _Losses, th: _Thread, closure: bool) -> float:
        """Count the losses of one optimizer step; returns the constant to divide them by to
        get the loss the user trains on (1.0 unless the step accumulated divided losses)."""
        factor = th.factor
        name = th.loss_name
        tally = self.tally
        merged, th.merged, th.mark_pass = th.merged, 0, None
        if merged and not closure:
            # several backward() calls on one batch (a DCGAN discriminator's loss on real
            # and on fake samples): the gradient, and the batch's loss, is their sum. (Not
            # for a closure's: each evaluation of the closure is the loss again.)
            k = len(pending)
            tally.train.take(pending)
            tally.merged += merged
            if merged != k - 1 or not abs(factor * k - 1.0) < 1e-6:
                # a sum of several losses (not one batch's parts, each divided by their
                # number, which add up to the loss function's mean over the batch)
                name = ""
            if name not in self.loss_fns:
                self.loss_fns.add(name)
            return 1.0
        if factor != 1.0:
            k = len(pending)
            if k > 1 and math.isnan(factor):
                # several losses, each times a constant that cannot be read without a device
                # sync (a tensor on a GPU), or not the same for all: an accumulation's division
                # or not cannot be told
                self.untold = True
            if k > 1 and abs(factor * k - 1.0) < 1e-6:
                # each of the step's k losses divided by k: gradient accumulation
                self.accumulation = factor
            if factor == self.accumulation:
                losses = tally.factored.get(factor)
                if losses is None:
                    losses = tally.factored[factor] = _Losses()
                losses.take(pending)
                if name not in self.loss_fns:
                    self.loss_fns.add(name)
                return factor
            name = ""  # a loss times a constant is what is trained on: not the function's value
        tally.train.take(pending)
        if name not in self.loss_fns:
            self.loss_fns.add(name)
        return 1.0


def _series_name(name: str) -> str:
    """A variable's name as the prefix of a training's metrics, params and model ("" if it
    cannot be one: none, ``self``, or characters a metric name cannot hold)."""
    if not name or name == "self" or name[0].isdigit() or not set(name) <= _NAME_CHARS:
        return ""
    return name


# -- the run of one training loop ----------------------------------------------------------


class _Tracker:
    """The run of one training loop and what it has counted since its last epoch."""

    def __init__(
        self,
        settings: Settings,
        session_client: autolog.Client,
        run_id: str,
        active: autolog.ActiveRun | None,
        optimizer: Optimizer | None,
    ) -> None:
        self.settings = settings
        self.log_every = int(settings.options.log_every_n_steps)
        self.window = int(settings.options.window_steps)
        self.client = session_client
        self.run_id = run_id
        self.active = active  # the run we opened (None: logging into a user's run)
        #: every optimizer stepping in this loop, of every training
        self.optimizers: list[Optimizer] = [optimizer] if optimizer is not None else []
        #: the trainings of the loop (one, but for a GAN's and the like), and by optimizer
        self.series = [_Series(0, optimizer)]
        self.series_of: dict[int, _Series] = {}
        if optimizer is not None:
            self.series_of[id(optimizer)] = self.series[0]
        #: several trainings (each optimizer with its own losses): names prefixed
        self.multi = False
        #: the params of the trainings are logged (their names are settled)
        self.decided = False
        #: the module a loop without an optimizer updates by hand (steps are its zero_grad calls)
        self.manual: nn.Module | None = None
        #: the first training's model (tells training losses from evaluations in eval mode)
        self.model: nn.Module | None = None
        #: the first input of each module trained, by id, for its signature (see _watch)
        self.inputs: dict[int, FirstInput] = {}
        self.thread = threading.get_ident()
        self.pid = os.getpid()
        self.closed = False
        self.epoch = 0  # epochs (or step windows) completed
        self.epoch_steps = 0  # optimizer steps since the last epoch ended (every training's)
        self.steps = 0
        self.last_step_total = 0  # _steps_total at this run's latest step
        self.pass_: _Pass | None = None  # the training DataLoader pass in progress
        #: the learning rates when the training pass ran dry (its epoch's, not those of a
        #: scheduler stepped between its end and the next thing that ends it)
        self.end_rates: dict[str, float] | None = None
        self.loader_logged = False  # epochs are DataLoader passes (else passes over a tensor)
        self.passes = _Passes()  # epochs of a loop without a DataLoader
        self.chunks: list[_Chunk] = []  # windows of steps while ``passes`` is undecided
        self.window_start = perf_counter()
        self.last_step_time = self.window_start  # when the latest optimizer step returned
        #: evaluation losses since the last training step, by source of data
        self.gap: list[_Segment] = []
        #: sources evaluated between training steps (validation data), by id; holding them
        #: keeps the ids unique
        self.val_sources: dict[int, Any] = {}
        #: the sources of the latest validation, in order (None: none yet)
        self.validation: list[Any] | None = None
        #: validation values while ``passes`` is undecided: (value, window index)
        self.deferred: list[tuple[float, int]] = []
        self.notes: set[str] = set()
        self.params: set[str] = set()
        self._lock = threading.Lock()
        #: torch calls our step hook, and the core our run-end hook: our bug must not stop the
        #: training, and after one the run records no more
        self.guard = CallbackFirewall(NAME, settings)

    # opening ---------------------------------------------------------------------------------

    @classmethod
    def open(cls, settings: Settings, optimizer: Optimizer, th: _Thread) -> _Tracker:
        model, schedulers = find_objects(optimizer)
        tracker = cls._start(settings, optimizer, type(optimizer).__name__, model)
        tracker._began(th)
        first = tracker.series[0]
        first.model = model
        first.schedulers = schedulers
        tracker._watch(model)
        tracker._log_params(placement(p for g in optimizer.param_groups for p in g["params"]))
        return tracker

    @classmethod
    def open_manual(cls, settings: Settings, module: nn.Module) -> _Tracker:
        """The run of a loop that updates ``module``'s weights by hand, without an optimizer."""
        tracker = cls._start(settings, None, "manual", module)
        tracker.manual = module
        tracker.series[0].model = module
        tracker._watch(module)
        tracker._log_params({"optimizer": "manual"})
        tracker._log_params(placement(module.parameters()))
        tracker.note(
            "weights",
            "no torch.optim optimizer steps this loop: its weights are updated by hand. Each "
            "model.zero_grad() that follows a backward() counts as an optimizer step; there is "
            "no learning_rate to record.",
            warn=False,
        )
        return tracker

    def _began(self, th: _Thread) -> None:
        """The first epoch began with the first step's losses, before the run opened."""
        if len(th.pending) and th.pending_since:
            self.window_start = self.last_step_time = th.pending_since

    @classmethod
    def _start(
        cls, settings: Settings, optimizer: Optimizer | None, kind: str, model: nn.Module | None
    ) -> _Tracker:
        tags = {"autolog.torch.optimizer": kind}
        if model is not None:
            tags["autolog.torch.model"] = type(unwrap(model)).__name__
        session = open_session(NAME, settings, tags=tags)
        owned = session.owned
        active = autolog.active_run() if owned else None
        session.owned = False  # the run outlives this call: the tracker ends it
        session.close()
        # a worker process logging into its parent's run names its series after itself
        client = worker_client(session.client, session.run_id)
        _checkpoints.hook_late_modules()  # before this loop can save a checkpoint
        tracker = cls(settings, client, session.run_id, active, optimizer)
        tracker.model = model
        on_run_end(tracker.run_id, tracker.finalize, makes_way=owned)
        with _lock:
            _trackers[id(tracker)] = tracker
        return tracker

    def add_optimizer(self, optimizer: Optimizer, th: _Thread, last: _Series) -> None:
        """Another optimizer steps in this loop. With losses of its own since the last step,
        it is another training (a GAN's generator beside its discriminator): a series of its
        own, and the run holds several, each named after the module it trains. Without, it
        shares the losses of the training that stepped last (parameter groups split between
        two optimizers): its params get a prefix, ``optimizer_<i>``."""
        self.optimizers.append(optimizer)
        if not len(th.pending) and last.optimizers:
            last.optimizers.append(optimizer)
            last.configured.append(_configured.get(optimizer))
            self.series_of[id(optimizer)] = last
            if self.decided:
                self._log_optimizer(last, len(last.optimizers) - 1)
            return
        series = _Series(len(self.series), optimizer)
        self.series.append(series)
        self.series_of[id(optimizer)] = series
        self.multi = True
        owners = {}
        for s in self.series:
            if s.optimizers and not s.name and not (self.decided and s.index == 0):
                owners[s.index] = find_owner(s.optimizers[0])
        _, series.schedulers = find_objects(optimizer)
        taken = {s.name for s in self.series}
        for s in self.series:
            if s.index not in owners:
                continue
            owner = owners[s.index]
            name = _series_name(owner.name if owner is not None else "")
            if not name or name in taken:
                name = f"optimizer_{s.index}"
            s.name, s.prefix = name, f"{name}_"
            taken.add(name)
            if owner is not None:
                s.model = owner.module
                self._watch(owner.module)
        if self.decided:
            # the first training's params went out bare before this one turned up
            self._log_series(series)
            self.note(
                "trainings",
                f"a second optimizer with losses of its own began after {self.steps} steps: "
                f"its training is recorded under the prefix {series.prefix!r}, the first one's "
                f"under bare names.",
                warn=False,
            )
        else:
            self._decide()

    def _watch(self, model: nn.Module | None) -> None:
        """Catch the first input ``model`` is called with in training, for the signature of
        the model logged at the end (once per module; no cost per step: see
        ``_torch_inputs``). A loop that never calls the module after its first optimizer step
        (a single step) shows none, and its model has no signature."""
        if model is not None and id(model) not in self.inputs and self.settings.log_models:
            self.inputs[id(model)] = FirstInput(model, NAME, self.settings)

    def _decide(self) -> None:
        """Log the params of every training, now that their names are settled."""
        if self.decided:
            return
        self.decided = True
        if self.multi:
            names = ", ".join(repr(s.name) for s in self.series)
            self.note(
                "trainings",
                f"several optimizers each train on losses of their own: one training per "
                f"optimizer ({names}), each with its own metrics and params under its name as "
                f"a prefix, and its own model",
                warn=False,
            )
        for series in self.series:
            self._log_series(series)

    def _log_series(self, series: _Series) -> None:
        prefix = series.prefix
        for j in range(len(series.optimizers)):
            self._log_optimizer(series, j)
        if series.model is not None:
            self._log_params({prefix + k: v for k, v in model_params(series.model).items()})
        for scheduler in series.schedulers:
            self._log_params(scheduler_params(scheduler, f"{prefix}lr_scheduler"))

    def _log_optimizer(self, series: _Series, j: int) -> None:
        key = f"{series.prefix}optimizer" + (f"_{j}" if j else "")
        optimizer = series.optimizers[j]
        self._log_params(optimizer_params(optimizer, key, series.configured[j]))

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

    def note(self, topic: str, text: str, *, warn: bool = True) -> None:
        """Say once in the run (tag ``autolog.torch.<topic>``), and as a warning, what was
        recorded differently and why."""
        if topic in self.notes:
            return
        self.notes.add(topic)
        self.client.set_tag(self.run_id, f"autolog.torch.{topic}", text)
        if warn:
            notify(NAME, f"autolog: {text}", self.settings)

    def _log_loader(self, p: _Pass) -> None:
        self.loader_logged = True
        self._merge_chunks()
        self.note("epochs", "an epoch is a pass over the training DataLoader", warn=False)
        loader = p.loader()
        if loader is None:
            return
        params = {
            "batch_size": loader.batch_size or p.batch_size or None,
            "dataset_size": dataset_size(loader),
        }
        self._log_params({k: v for k, v in params.items() if v is not None})

    # each optimizer step ---------------------------------------------------------------------

    def step(self, th: _Thread, optimizer: Optimizer | None, closure: bool = False) -> None:
        """One optimizer step (or, in a loop without one, one model.zero_grad() after a
        backward()): what was evaluated since the last step was validation."""
        if th.eval_losses:
            model = self.model
            self._settle_eval_losses(th, validation=model is not None and model.training)
        if self.gap:
            self._validation()
        draining = th.draining
        if draining is not None and draining is not self.pass_:
            _end_drain(th)  # an evaluation pass that ran dry: training goes on after it
        series = self.series_of.get(id(optimizer)) if optimizer is not None else self.series[0]
        if series is not None:
            self._count_step(th, series, optimizer, closure)

    def _count_step(
        self, th: _Thread, series: _Series, optimizer: Optimizer | None, closure: bool
    ) -> None:
        target, th.loss_target = th.loss_target, None
        p = th.last_pass
        in_pass = p is not None and not p.done
        # when the step returned: the end of an epoch that is no DataLoader pass (in a pass,
        # the pass's own times, but for a batch read ahead)
        now = perf_counter() if not in_pass or p.exhausted else 0.0  # type: ignore[union-attr]
        if not in_pass and not self.loader_logged and self.passes.observe(target):
            self._end_tensor_epoch()
        pending = th.pending
        last = pending.last() if self.log_every else None
        factor = 1.0
        if th.factor != 1.0 or th.merged:
            factor = series.take(pending, th, closure)
        elif pending.items or pending.total is not None:
            # the common step: losses as they are (kept inline: this runs at every step)
            series.tally.train.take(pending)
            if th.loss_name not in series.loss_fns:
                series.loss_fns.add(th.loss_name)
        if optimizer is None or series.optimizers[0] is optimizer:
            series.tally.steps += 1
        self.steps += 1
        self.epoch_steps += 1
        self.last_step_total = _steps_total
        if now:
            self.last_step_time = now
        if in_pass:
            assert p is not None
            if p.exhausted:
                p.end = now  # a batch read ahead, trained on after its iterator ran dry
                self.end_rates = self.rates()
            if p is not self.pass_:
                self.pass_ = p
                if not self.loader_logged:
                    self._log_loader(p)
        elif not self.loader_logged:
            self._after_step_without_loader()
        if not self.decided and self.steps >= _DECIDE_STEPS:
            self._decide()
        if self.log_every and self.steps % self.log_every == 0:
            self._log_step(series, last, factor)

    def _log_step(self, series: _Series, last: torch.Tensor | None, factor: float) -> None:
        prefix = series.prefix
        metrics = {f"{prefix}step_{k}": v for k, v in self._learning_rates(series).items()}
        if last is not None:
            metrics[f"{prefix}step_training_loss"] = float(last.item()) / factor
        self.client.log_metrics(self.run_id, metrics, step=self.steps)

    # evaluations -----------------------------------------------------------------------------

    def evaluated_loss(self, name: str) -> bool:
        """Whether an evaluation loss of the function ``name`` is the quantity trained on (then
        it is recorded); where it is not, the run says why."""
        if self.multi:
            self.note(
                "validation",
                "validation_loss is not recorded: this loop trains several modules, one "
                "optimizer each, and the losses computed without gradients cannot be told "
                "apart between them",
            )
            return False
        functions = self.series[0].loss_fns
        if len(functions) == 1:
            (trained,) = functions
            if trained == name:
                return True
            if trained:
                self.note(
                    "other_losses",
                    f"losses of other loss functions than the training loss's ({trained}), "
                    f"computed without gradients, are not recorded (e.g. {name}): they are not "
                    f"the quantity trained on",
                    warn=False,
                )
                return False
        if not functions:
            return False
        self.note(
            "validation",
            "validation_loss is not recorded: the training loss (what backward() is called "
            "on) is not the value of one torch loss function averaged over its batch (a loss "
            "written by hand, a sum of terms such as a reconstruction loss plus a KL term, or "
            "a loss reduced by sum), so the losses computed without gradients are not the same "
            "quantity",
        )
        return False

    def add_evaluation(self, source: Any, mark: Any, value: torch.Tensor, name: str) -> None:
        """A loss of the function ``name`` computed without training (no_grad, or eval mode):
        validation if training goes on after it, else decided when the run ends; nothing if it
        is not the quantity trained on."""
        if not self.evaluated_loss(name):
            return
        gap = self.gap
        if not gap or not gap[-1].takes(source, mark):
            if len(gap) < _MAX_SEGMENTS:
                gap.append(_Segment(source, mark))
            elif gap[-1].source is not None:
                # sources that change at every loss (fresh tensors): the rest is unknown
                gap.append(_Segment(None, None))
        gap[-1].losses.add(value)

    def _settle_eval_losses(self, th: _Thread, *, validation: bool) -> None:
        if validation:
            for _, value, source, mark, name in th.eval_losses:
                self.add_evaluation(source, mark, value, name)
        th.eval_losses.clear()

    def _validation(self) -> None:
        """Training goes on after the evaluations of the gap: they were validation."""
        gap, self.gap = self.gap, []
        self.val_sources.update((id(s.source), s.source) for s in gap)
        self.validation = [s.source for s in gap]
        value = _mean(gap)
        if value is None:
            return
        if not self.loader_logged and self.passes.state == "undecided":
            window = (
                len(self.chunks) if self.epoch_steps or not self.chunks else len(self.chunks) - 1
            )
            self.deferred.append((value, window))
            return
        # validation belongs to the epoch in progress, else to the one that just ended
        step = self.epoch if self.epoch_steps else max(self.epoch - 1, 0)
        self.client.log_metric(self.run_id, "validation_loss", value, step)

    def _end_gap(self) -> None:
        """The evaluations after the last training step. If training was validated between
        steps, the first ones must repeat that validation (the same data, in the same order):
        they are the last epoch's. The others are evaluations after training: ``test_loss``
        (``test_loss_1``, ... for other data). Where the validation is not repeated, the two
        cannot be told apart: nothing is recorded, and the run says so."""
        rest, self.gap = self.gap, []
        if not rest:
            return
        step = max(self.epoch - 1, 0)
        pattern = self.validation
        if pattern is not None:
            head = rest[: len(pattern)]
            if len(head) < len(pattern) or any(
                source is None or segment.source is not source
                for segment, source in zip(head, pattern, strict=False)
            ):
                self.note(
                    "evaluation",
                    "losses computed after the last training step were not recorded: they do "
                    "not repeat the data of the validation between epochs, so the last "
                    "epoch's validation cannot be told apart from a test after training.",
                )
                return
            value = _mean(head)
            if value is not None:
                self.client.log_metric(self.run_id, "validation_loss", value, step)
            rest = rest[len(pattern) :]
        tests: dict[int, list[_Segment]] = {}
        skipped = False
        for segment in rest:
            if id(segment.source) in self.val_sources:
                skipped = True  # validation data again (a restored best model, say)
                continue
            tests.setdefault(id(segment.source), []).append(segment)
        for i, segments in enumerate(tests.values()):
            value = _mean(segments)
            if value is not None:
                key = "test_loss" if i == 0 else f"test_loss_{i}"
                self.client.log_metric(self.run_id, key, value, step)
        if skipped:
            self.note(
                "evaluation",
                "losses computed on the validation data again after training (a restored "
                "checkpoint, say) were not recorded: they are neither the last epoch's "
                "validation nor a test.",
                warn=False,
            )

    # epochs ----------------------------------------------------------------------------------

    def end_epoch(self, p: _Pass | None) -> None:
        """Log the epoch that just ended: a DataLoader pass ``p``, else a pass over the
        training tensor or a window of steps (ended when its last step returned)."""
        self._decide()
        metrics: dict[str, float] = {}
        for series in self.series:
            metrics.update(self._tally_metrics(series, series.tally))
            series.tally = _Tally()
        if self.end_rates is not None:
            metrics.update(self.end_rates)
            self.end_rates = None
        if p is not None:
            elapsed = p.end - p.start
            metrics["epoch_time"] = elapsed
            metrics["data_time"] = p.data_time
            metrics["compute_time"] = max(elapsed - p.data_time, 0.0)
            if p.samples and elapsed > 0:
                metrics["samples_per_second"] = p.samples / elapsed
        else:
            metrics["epoch_time"] = max(self.last_step_time - self.window_start, 0.0)
        self.client.log_metrics(self.run_id, metrics, step=self.epoch)
        self.epoch += 1
        self.epoch_steps = 0
        self.window_start = self.last_step_time if p is None else perf_counter()
        self.pass_ = None
        for series in self.series:
            if series.model is None:
                self._discover_model(series)

    def _tally_metrics(self, series: _Series, tally: _Tally) -> dict[str, float]:
        prefix = series.prefix
        metrics: dict[str, float] = {}
        loss = tally.mean()
        if series.untold:
            self.note(
                "training_loss",
                f"{prefix}training_loss is not recorded: several backward() calls per optimizer "
                f"step on losses times constants that differ, or are held in a tensor on a "
                f"device (autolog does not read it: a device sync): whether they divide for "
                f"gradient accumulation cannot be told",
            )
        elif loss is not None:
            metrics[prefix + "training_loss"] = loss
        metrics.update(self._learning_rates(series))
        metrics[prefix + "optimizer_steps"] = float(tally.steps)
        tally.steps = 0
        return metrics

    def _end_tensor_epoch(self) -> None:
        """A pass over the training tensor has ended (before the step that starts the next)."""
        self._merge_chunks()
        self.note(
            "epochs",
            "no DataLoader: an epoch is a pass over the tensor the training batches are sliced "
            "from (the training loss's target)",
            warn=False,
        )
        self.end_epoch(None)

    def _after_step_without_loader(self) -> None:
        state = self.passes.state
        if state == "none":
            if self.chunks or self.deferred or "epochs" not in self.notes:
                self._unfold_chunks()
            if self.epoch_steps >= self.window:
                self.end_epoch(None)
        elif state == "undecided" and self.epoch_steps >= self.window:
            rates = self.rates()
            tallies = [series.tally for series in self.series]
            end = self.last_step_time
            self.chunks.append(_Chunk(tallies, self.epoch_steps, self.window_start, end, rates))
            for series in self.series:
                series.tally = _Tally()
            self.epoch_steps = 0
            self.window_start = end

    def _merge_chunks(self) -> None:
        """The steps counted while undecided are one epoch (they were a pass, or a DataLoader
        turned up): one epoch of them all."""
        if self.chunks:
            merged = [_Tally() for _ in self.series]
            for chunk in self.chunks:
                for tally, part in zip(merged, chunk.tallies, strict=False):
                    tally.take(part)
                self.epoch_steps += chunk.steps
            for tally, series in zip(merged, self.series, strict=True):
                tally.take(series.tally)
                series.tally = tally
            self.window_start = self.chunks[0].start
            self.chunks = []
        for value, _ in self.deferred:
            self.client.log_metric(self.run_id, "validation_loss", value, self.epoch)
        self.deferred = []

    def _unfold_chunks(self) -> None:
        """No epochs can be told: the steps counted while undecided become windows."""
        self.note("epochs", self.passes.why(self.window))
        if self.chunks:
            self._decide()
        for chunk in self.chunks:
            metrics = {"epoch_time": chunk.end - chunk.start}
            for series, tally in zip(self.series, chunk.tallies, strict=False):
                metrics.update(self._tally_metrics(series, tally))
            metrics.update(chunk.rates)  # the rates of the window's end, not the current ones
            self.client.log_metrics(self.run_id, metrics, step=self.epoch)
            self.epoch += 1
        self.chunks = []
        for value, window in self.deferred:
            self.client.log_metric(self.run_id, "validation_loss", value, window)
        self.deferred = []

    def pass_ended(self, p: _Pass, th: _Thread) -> None:
        if p is self.pass_:
            self.end_epoch(p)
            return
        # A pass without optimizer steps: evaluation. Eval-mode losses not followed by a step
        # were evaluation too.
        if th.eval_losses:
            self._settle_eval_losses(th, validation=True)

    def rates(self) -> dict[str, float]:
        """The learning rates of every training."""
        rates: dict[str, float] = {}
        for series in self.series:
            rates.update(self._learning_rates(series))
        return rates

    def _learning_rates(self, series: _Series) -> dict[str, float]:
        rates = {}
        prefix = series.prefix
        for i, optimizer in enumerate(series.optimizers):
            for j, group in enumerate(optimizer.param_groups):
                group_key = f"_group_{j}" if j else ""
                key = f"{prefix}learning_rate" + (f"_{i}" if i else "") + group_key
                rates[key] = float(group["lr"])
        return rates

    def _discover_model(self, series: _Series) -> None:
        if not series.optimizers:
            return
        if series.prefix:
            owner = find_owner(series.optimizers[0])
            model = owner.module if owner is not None else None
            schedulers = find_objects(series.optimizers[0])[1]
        else:
            model, schedulers = find_objects(series.optimizers[0])
        prefix = series.prefix
        if model is not None:
            series.model = model
            self._watch(model)
            if series.index == 0:
                self.model = model
            if self.decided:
                self._log_params({prefix + k: v for k, v in model_params(model).items()})
        for scheduler in schedulers:
            if scheduler not in series.schedulers:
                series.schedulers.append(scheduler)
                if self.decided:
                    self._log_params(scheduler_params(scheduler, f"{prefix}lr_scheduler"))

    # the end ---------------------------------------------------------------------------------

    def finish(self, status: RunStatus = RunStatus.FINISHED) -> None:
        """End this training's run (ours) or stop logging into it (a user's)."""
        if self.active is not None:
            self.active.end(status)  # runs our end hook, which finalizes
        else:
            on_run_end(self.run_id, None)
            self.finalize(status)

    def finalize(self, status: RunStatus) -> None:
        """Log the last, partial epoch, the evaluations after training and the final model
        (if the run FINISHED); let go. Called when the run ends, however it ends (see
        ``autolog.runs.on_run_end``)."""
        with self._lock:
            if self.closed:
                return
            self.closed = True
        with _lock:
            _trackers.pop(id(self), None)
        if os.getpid() != self.pid:
            return  # a forked child: the run is the parent's
        try:
            # params are logged whatever the ending: a training that raised keeps them; so
            # is an epoch whose pass over the DataLoader was complete
            self.guard(self._decide)
            p = self.pass_
            if p is not None and p.exhausted and not p.done:
                self.guard(self.end_epoch, p)
            if status is RunStatus.FINISHED:
                self.guard(self._log_final)
            self.guard(_checkpoints.run_ended, self.run_id)  # kept checkpoints, any ending
        finally:
            for watched in self.inputs.values():
                watched.close()
            self.inputs = {}
            self.model = None
            self.manual = None
            self.optimizers = []
            self.series = []
            self.series_of = {}
            self.pass_ = None
            self.gap = []
            self.val_sources = {}
            self.validation = None

    def _log_final(self) -> None:
        th = _state.get()
        ours = th is not None and th.tracker is self and th.generation == _generation
        if ours and th is not None and th.eval_losses:
            self._settle_eval_losses(th, validation=True)
        self._end_epochs()
        self._end_gap()
        for series in self.series:
            if series.model is None:
                self._discover_model(series)
        for watched in self.inputs.values():
            watched.close()  # the model is saved without our hook
        if not self.settings.log_models:
            return
        for series in self.series:
            if series.model is not None:
                name = series.name if self.multi and series.name else "model"
                model = unwrap(series.model)
                seen = self.inputs.get(id(series.model))
                rows = seen.rows if seen is not None else None
                # a failure of ours there loses the signature, not the model
                signed = CallbackFirewall(NAME, self.settings)(logged_with, model, rows) or {}
                self.client.log_model(self.run_id, model, name, flavor="torch", **signed)

    def _end_epochs(self) -> None:
        """The last epoch, partial or not; a loop still undecided is decided now."""
        if not self.epoch_steps and not self.chunks:
            return
        if not self.loader_logged and self.passes.state == "undecided":
            if self.passes.tiles():
                self.passes.state = "passes"
                self._end_tensor_epoch()
                return
            self.passes.state, self.passes.reason = "none", "slices"
            self._unfold_chunks()
        if self.epoch_steps:
            p = self.pass_
            if p is not None and not p.done and not p.exhausted:
                p.end = perf_counter()
            self.end_epoch(p)


# -- hooks -----------------------------------------------------------------------------------


def after_step(optimizer: Optimizer, args: Any, kwargs: Any) -> None:
    """torch's global optimizer step post-hook: the run opens at the first step."""
    global _steps_total
    _steps_total += 1
    settings = current_settings(NAME)
    if settings is None or settings.disable or current() is not None:
        return  # off, or a Lightning (or other integration's) training records this step
    th = _thread()
    tracker = th.tracker
    if tracker is None or tracker.closed or optimizer not in tracker.optimizers:
        th.open_guard.settings = settings
        tracker = th.open_guard(_tracker_for, th, optimizer, settings)
        if tracker is None:
            th.pending.clear()
            th.eval_losses.clear()
            return
    # the step's arguments, the optimizer first: step(closure) for LBFGS and the like
    closure = (args[1] if len(args) > 1 else kwargs.get("closure")) is not None
    tracker.guard(tracker.step, th, optimizer, closure)


def _tracker_for(th: _Thread, optimizer: Optimizer, settings: Settings) -> _Tracker | None:
    if _in_worker() or rank() != 0:
        return None
    old = th.tracker
    if old is not None and not old.closed:
        if _joins(old, th, optimizer):
            last = old.series_of.get(id(old.optimizers[-1])) if old.optimizers else None
            old.add_optimizer(optimizer, th, last or old.series[0])
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


def optimizer_init_hook(call: Call) -> HookGenerator:
    """Optimizer.__init__: when it was created, and its hyperparameters as configured (LR
    schedulers change them in place, from their construction on)."""
    yield call.args, call.kwargs
    optimizer = call.instance
    _created[optimizer] = _steps_total
    _configured[optimizer] = configured_groups(optimizer)


# The hooks of calls made at every batch (backward(), a loss, zero_grad(), the DataLoader's
# next batch) take the firewall's light path (``Patcher.observe``): a before and an after
# function, no generator and no Call.


def backward_before(instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
    """torch.autograd.backward (which Tensor.backward calls): keep the loss, detached: the
    one GradScaler scaled where it is GradScaler's product, with the constant it was
    multiplied by (a division for gradient accumulation, say) noted."""
    if current() is None:
        tensors = args[0] if args else kwargs.get("tensors")
        if isinstance(tensors, torch.Tensor) and tensors.numel() == 1:
            th = _thread()
            if th.eval_losses:
                key = id(tensors)
                th.eval_losses = [e for e in th.eval_losses if e[0] != key]
            loss = tensors
            if loss is th.scaled and th.unscaled is not None:
                loss = th.unscaled  # scaler.scale(loss).backward(): the loss before its scale
            th.scaled = th.unscaled = None
            captured, node = th.train_loss, th.capture_node
            th.train_loss = th.capture_node = None
            if loss is captured or (node is not None and type(loss.grad_fn) is node):
                factor, name = 1.0, th.capture_name  # the loss function's value itself
            else:
                factor, name = _factor(loss, captured, node, th.capture_name)
            pending = th.pending
            batch = th.last_pass
            if not len(pending):
                th.factor = factor
                th.loss_name = name
                th.pending_since = perf_counter()
                th.merged = 0
                th.mark_pass = batch
                if batch is not None:
                    th.mark_batches = batch.batches
            else:
                if factor != th.factor:
                    th.factor = math.nan
                if name != th.loss_name:
                    th.loss_name = ""
                if batch is not None:
                    if batch is th.mark_pass and th.mark_batches == batch.batches:
                        th.merged += 1  # another backward() on the same batch
                    else:
                        th.mark_pass = batch
                        th.mark_batches = batch.batches
            pending.add(loss.detach())
            tracker = th.tracker
            if tracker is None or tracker.closed:
                if len(pending) == _FOLD:
                    _no_step_warning(current_settings(NAME))
            elif tracker.manual is not None:
                # a loop by hand updates the weights after each backward()
                tracker.guard(tracker.step, th, None)
    # None: backward runs untouched, with no after


def _factor(
    loss: torch.Tensor, captured: torch.Tensor | None, node_class: type | None, name: str
) -> tuple[float, str]:
    """The constant ``loss`` is a product (or quotient) of, and the loss function it is that
    function's value times the constant of ("" if none); (1.0, "") if it is no such product,
    (NaN, "") if the constant cannot be read without a device sync (a tensor on a GPU)."""
    node: Any = loss.grad_fn  # the node's saved operands are not in torch's stubs
    kind = type(node)
    if node is None or (kind is not _MUL and kind is not _DIV):
        return 1.0, ""
    (first, _), (second, _) = node.next_functions
    if second is None and first is not None:
        constant, source = node._saved_other, first
    elif first is None and second is not None and kind is _MUL:
        constant, source = node._saved_self, second
    else:
        return 1.0, ""  # a product of two tensors that both require gradients
    if not isinstance(constant, torch.Tensor) or constant.numel() != 1:
        return math.nan, ""
    if constant.device.type != "cpu":
        return math.nan, ""
    value = float(constant)
    if kind is _DIV:
        value = 1.0 / value if value else math.nan
    if captured is not None and source is captured.grad_fn:
        return value, name
    return value, name if node_class is not None and type(source) is node_class else ""


def scale_before(
    scaler: Any, args: tuple[Any, ...], kwargs: dict[str, Any]
) -> tuple[_Thread, torch.Tensor] | None:
    """GradScaler.scale: the loss it scales, to trade its product for it at backward()."""
    outputs = args[0] if args else kwargs.get("outputs")
    if isinstance(outputs, torch.Tensor) and current() is None:
        return _thread(), outputs
    return None


def scale_after(
    state: tuple[_Thread, torch.Tensor], result: Any, error: BaseException | None
) -> None:
    th, outputs = state
    if isinstance(result, torch.Tensor) and result is not outputs:
        th.scaled = result
        th.unscaled = outputs


def _no_step_warning(settings: Settings | None) -> None:
    global _warned_no_step
    if _warned_no_step or _in_worker():
        return
    _warned_no_step = True
    notify(
        NAME,
        f"autolog: backward() was called {_FOLD} times with no optimizer step and no "
        "model.zero_grad() in between: nothing is recorded for this loop. autolog records "
        "loops that step a torch.optim optimizer, and loops that update the weights by hand "
        "between calls of a module's zero_grad().",
        settings,
    )


def zero_grad_before(module: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
    """nn.Module.zero_grad after a backward() with no optimizer step since: a loop that
    updates the weights by hand (no torch.optim optimizer). Its run opens here, with that
    backward() as its first step; every later backward() is a step."""
    th = _state.get()
    if th is None or th.generation != _generation or not len(th.pending):
        return
    if current() is not None:
        return
    tracker = th.tracker
    if tracker is not None and not tracker.closed and tracker.optimizers:
        return  # an optimizer's loop: that backward() was not a training step of its own
    if _in_worker() or rank() != 0 or _has_optimizer(module):
        return
    settings = current_settings(NAME)
    if settings is None:
        return
    if tracker is not None and not tracker.closed:
        tracker.finish()  # another module's loop by hand: the last one is over
    th.open_guard.settings = settings
    tracker = th.tracker = th.open_guard(_Tracker.open_manual, settings, module)
    if tracker is not None:
        tracker._began(th)
        tracker.guard(tracker.step, th, None)
    # None: zero_grad runs untouched, with no after


def _has_optimizer(module: nn.Module) -> bool:
    """Whether a live optimizer holds any of the module's parameters (then its loop steps it:
    a zero_grad after a backward() is no update by hand, e.g. after adversarial inputs)."""
    optimizers = list(_created.keys())
    if not optimizers:
        return False
    ids = {id(p) for p in module.parameters()}
    return any(
        id(p) in ids
        for optimizer in optimizers
        for g in optimizer.param_groups
        for p in g["params"]
    )


class _LossCall:
    """A loss being computed (the light path's state between before and after): an
    evaluation, or (``tracker`` None) a training loss whose value is kept."""

    __slots__ = ("args", "grad", "kwargs", "name", "th", "tracker")

    def __init__(
        self,
        name: str,
        th: _Thread,
        tracker: _Tracker | None,
        grad: bool,
        args: tuple[Any, ...],
        kwargs: dict[str, Any],
    ) -> None:
        self.name = name
        self.th = th
        self.tracker = tracker
        self.grad = grad
        self.args = args
        self.kwargs = kwargs


def loss_before(
    name: str, instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]
) -> _LossCall | None:
    """torch.nn.functional losses (``name``: which one): those computed without gradients (or
    in eval mode) are evaluations; a training loss's target tells epochs apart in a loop
    without a DataLoader, and its value (kept until backward()) whether backward() is called
    on this function's value."""
    th = _state.get()
    if th is None or th.generation != _generation:
        th = _thread()
    if th.in_loss or current() is not None:
        return None
    tracker = th.tracker
    if tracker is not None and tracker.closed:
        tracker = None
    grad = torch.is_grad_enabled()
    if grad:
        model = tracker.model if tracker is not None else None
        if model is None or model.training:
            # a training loss: backward() will report it
            if tracker is None or not tracker.loader_logged:
                th.loss_target = _target(args, kwargs)
            th.capture_name = name if kwargs.get("reduction", "mean") in _MEAN_REDUCTIONS else ""
            th.train_loss = None
            node = th.capture_node = _LOSS_NODES.get(name)
            if node is not None:
                return None  # backward() knows its value by its node's class
            th.in_loss = True  # a loss computed by another one is not its own
            return _LossCall(name, th, None, True, args, kwargs)
    if tracker is None:
        return None
    draining = th.draining
    if draining is not None and draining is tracker.pass_:
        _end_drain(th)  # evaluation begins: the training pass read ahead is over
    th.in_loss = True  # a loss computed by another one is not counted twice
    return _LossCall(name, th, tracker, grad, args, kwargs)


def loss_after(loss: _LossCall, result: Any, error: BaseException | None) -> None:
    th = loss.th
    th.in_loss = False
    tracker = loss.tracker
    if tracker is None:  # a training loss: kept for backward() to recognise
        if isinstance(result, torch.Tensor):
            th.train_loss = result
            if loss.name not in _LOSS_NODES:
                node = type(result.grad_fn) if result.grad_fn is not None else None
                _LOSS_NODES[loss.name] = None if node in _ARITHMETIC else node
        return
    if isinstance(result, torch.Tensor) and result.numel() == 1:
        source, mark = _source(th, loss.args, loss.kwargs)
        value = result.detach()
        reduction = loss.kwargs.get("reduction", "mean")
        if reduction == "sum":
            # a mean, like every other loss recorded
            value = value / _terms(loss.name, loss.args, loss.kwargs)
        if loss.grad:
            # in eval mode with gradients: evaluation, unless backward() is called on it
            th.train_loss = result
            th.capture_node = None
            th.capture_name = loss.name if reduction in _MEAN_REDUCTIONS else ""
            th.eval_losses.append((id(result), value, source, mark, loss.name))
        else:
            tracker.add_evaluation(source, mark, value, loss.name)


def _terms(name: str, args: tuple[Any, ...], kwargs: dict[str, Any]) -> int:
    """How many terms the loss's ``reduction="mean"`` would average: what its sum is divided
    by (class-index targets: one per target element; per-sample losses: the batch; the rest:
    one per input element). Class weights and ``ignore_index`` are not counted out."""
    first = args[0] if args else next(iter(kwargs.values()), None)
    if not isinstance(first, torch.Tensor) or first.dim() == 0:
        return 1
    if name in _PER_SAMPLE_LOSSES:
        return max(int(first.shape[1 if name == "ctc_loss" else 0]), 1)
    target = args[1] if len(args) > 1 else kwargs.get("target")
    if name in _CLASS_LOSSES and isinstance(target, torch.Tensor):
        if not target.is_floating_point():
            return max(target.numel(), 1)
        return max(first.numel() // max(int(first.shape[1]), 1) if first.dim() > 1 else 1, 1)
    return max(first.numel(), 1)


def _target(args: tuple[Any, ...], kwargs: dict[str, Any]) -> tuple[torch.Tensor, int, int] | None:
    """The loss's target (its second argument): the tensor it is a view of (or itself), its
    storage offset and size."""
    target = args[1] if len(args) > 1 else kwargs.get("target")
    if not isinstance(target, torch.Tensor):
        return None
    base = target._base
    return (target if base is None else base, int(target.storage_offset()), target.numel())


def _source(th: _Thread, args: tuple[Any, ...], kwargs: dict[str, Any]) -> tuple[Any, Any]:
    """Where an evaluation loss's data came from, and which pass over it: the dataset of the
    DataLoader being read and the pass; else the tensor its target is a view of (or the
    target itself) and the slice's offset; else (None, None)."""
    p = th.last_pass
    if p is not None and not p.done:
        loader = p.loader()
        return (None, None) if loader is None else (loader.dataset, p)
    target = _target(args, kwargs)
    return (None, None) if target is None else (target[0], target[1])


def iter_hook(call: Call) -> HookGenerator:
    """DataLoader.__iter__: a pass begins (and the loader's unfinished previous one ends)."""
    start = perf_counter()
    iterator = yield call.args, call.kwargs
    if _in_worker():
        return
    loader = call.instance
    th = _thread()
    if th.draining is not None:
        _end_drain(th)
    previous = _loader_pass.get(loader)
    if previous is not None and not previous.done:
        if not previous.exhausted:
            previous.end = start
        _end_pass(previous, th)
    p = _Pass(loader, start, perf_counter() - start)
    key = id(iterator)
    _passes[key] = p
    weakref.finalize(iterator, _passes.pop, key, None)
    _loader_pass[loader] = p


def next_before(
    instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]
) -> tuple[_Pass, float] | None:
    """The DataLoader iterator's __next__: time spent waiting for data, the end of a pass."""
    p = _passes.get(id(instance))
    if p is None or p.done:
        return None
    return p, perf_counter()


def next_after(state: tuple[_Pass, float], batch: Any, error: BaseException | None) -> None:
    p, start = state
    now = perf_counter()
    p.data_time += now - start
    th = _thread()
    if error is not None:
        if isinstance(error, StopIteration) and not p.exhausted:
            # Ran dry, but a wrapper reading ahead may still hand out the last batch: the
            # pass ends at the next thing that is no part of it (_end_drain).
            p.end = now
            p.exhausted = True
            if th.draining is not None and th.draining is not p:
                _end_drain(th)
            th.draining = p
            tracker = th.tracker
            if tracker is not None and p is tracker.pass_ and not tracker.closed:
                tracker.end_rates = tracker.rates()
        return
    if th.draining is not None and th.draining is not p:
        _end_drain(th)  # a batch of another pass
    p.batches += 1
    size = _batch_size(batch)
    p.samples += size
    if not p.batch_size:
        p.batch_size = size
    th.last_pass = p


def _end_drain(th: _Thread) -> None:
    """The pass whose iterator ran dry is over: something that is no part of it happened (a
    DataLoader's next pass or batch, an evaluation after training on it, a training step
    after evaluating it)."""
    p = th.draining
    th.draining = None
    if p is not None and not p.done:
        _end_pass(p, th)


def _end_pass(p: _Pass, th: _Thread) -> None:
    p.done = True
    if th.draining is p:
        th.draining = None
    if th.last_pass is p:
        th.last_pass = None
    tracker = th.tracker
    if tracker is not None and not tracker.closed and current() is None:
        tracker.pass_ended(p, th)


def save_hook(call: Call) -> HookGenerator:
    """torch.save to a file during training (a path, or a file opened for writing): the file
    becomes a checkpoint (see ``_checkpoints``)."""
    checkpoints = checkpoint_target()
    if checkpoints is None:
        return
    args = call.args
    target = args[1] if len(args) > 1 else call.kwargs.get("f")
    path = _file_path(target)
    if path is None:
        return
    yield call.args, call.kwargs
    if isinstance(target, io.IOBase):
        target.flush()  # the bytes torch wrote are on disk before they are set aside
    _checkpoints.saved_file(checkpoints, path, args[0] if args else call.kwargs.get("obj"))


def checkpoint_target() -> _checkpoints.Target | None:
    """The run of this thread's training loop, for a checkpoint written now (None: none)."""
    th = _state.get()
    tracker = th.tracker if th is not None and th.generation == _generation else None
    if tracker is None or tracker.closed or not tracker.settings.options.log_checkpoints:
        return None
    if current() is not None or _in_worker():
        return None  # another integration's training (it records its own), or a worker
    # the epoch whose validation_loss scores it: as ``_validation`` logs it
    step = tracker.epoch if tracker.epoch_steps else max(tracker.epoch - 1, 0)
    options = tracker.settings.options
    return _checkpoints.Target(tracker.client, tracker.run_id, options.max_checkpoints, step)


def _file_path(target: Any) -> str | os.PathLike[str] | None:
    """The file ``torch.save`` writes to: a path, or the path of a file object opened for
    writing (``with open(path, "wb") as f: torch.save(obj, f)``); None for buffers."""
    if isinstance(target, (str, os.PathLike)):
        return target
    if not isinstance(target, (io.BufferedWriter, io.BufferedRandom, io.FileIO)):
        return None  # BytesIO, compressed streams (not on disk as written), sockets...
    name = getattr(target, "name", None)
    if not isinstance(name, str) or target.closed or not target.writable():
        return None  # opened from a file descriptor: no path to copy
    return os.path.abspath(name)


def sys_excepthook_hook(call: Call) -> HookGenerator:
    """An uncaught exception ends the main thread: its training runs end FAILED."""
    kind = call.args[0] if call.args else None
    _fail(threading.main_thread().ident, kind)
    yield from ()


def threading_excepthook_hook(call: Call) -> HookGenerator:
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


def end_plain_runs(status: RunStatus = RunStatus.FINISHED) -> None:
    """End the plain-loop run of this thread (another kind of training begins, or a worker
    process's target returned or raised)."""
    th = _state.get()
    if th is not None and th.tracker is not None and not th.tracker.closed:
        th.tracker.finish(status)


def _reset() -> None:
    """autolog(disable=True): end the open runs, forget every thread's state."""
    global _generation, _warned_no_step
    with _lock:
        trackers = list(_trackers.values())
    for tracker in trackers:
        if tracker.thread == threading.get_ident():
            tracker.finish()
        else:
            on_run_end(tracker.run_id, None)
            tracker.finalize(RunStatus.FINISHED)
    _generation += 1
    _warned_no_step = False


def _after_fork_in_child() -> None:
    # A DataLoader worker (or any forked child) records nothing of the parent's training; the
    # lock may have been held by a parent thread that does not exist here.
    global _generation, _lock
    _generation += 1
    _lock = threading.Lock()
    _trackers.clear()


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
    from torch.optim.optimizer import register_optimizer_step_post_hook
    from torch.utils.data import dataloader

    patcher.wrap(dataloader.DataLoader, "__iter__", iter_hook)
    patcher.observe(dataloader._BaseDataLoaderIter, "__next__", next_before, next_after)
    patcher.observe(torch.autograd, "backward", backward_before)
    functional = torch.nn.functional
    for name in LOSS_FUNCTIONS:
        if name in vars(functional):
            patcher.observe(functional, name, functools.partial(loss_before, name), loss_after)
    patcher.wrap(torch.serialization, "save", save_hook, aliases=[(torch, "save")])
    _checkpoints.install(patcher, checkpoint_target)
    patcher.wrap(Optimizer, "__init__", optimizer_init_hook)
    patcher.observe(nn.Module, "zero_grad", zero_grad_before)
    from torch.amp import grad_scaler

    patcher.observe(grad_scaler.GradScaler, "scale", scale_before, scale_after)
    global _MUL, _DIV, _ARITHMETIC
    one = torch.ones((), requires_grad=True)
    _MUL, _DIV = type((one * 2).grad_fn), type((one / 2).grad_fn)
    sums = (one + one, one - one, one * one, one / one, one * 2, one / 2, -one)
    _ARITHMETIC = frozenset(type(t.grad_fn) for t in (*sums, one.mean(), one.sum()))
    patcher.wrap(sys, "excepthook", sys_excepthook_hook)
    patcher.wrap(threading, "excepthook", threading_excepthook_hook)
    handle = register_optimizer_step_post_hook(after_step)
    patcher.on_revert(handle.remove)
    patcher.on_revert(_reset)
    # lifecycle keeps one registration however often autolog() is turned on again
    on_fork(Layer.INTEGRATION, after_in_child=_after_fork_in_child)
