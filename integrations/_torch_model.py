"""What a plain PyTorch loop trains: finding the model and its LR schedulers, and describing
them (with the optimizer and the DataLoader) as params.

The model is found once per run, not per step: among the local variables (one level deep, e.g.
``self.model``) and module globals of the nearest frames outside torch and autolog, the module
holding most of the optimizer's parameters. Where several optimizers train several modules (a
GAN), each optimizer's module is the smallest one holding all of its parameters, named after
the variable or attribute that holds it (``generator``, ``netD``). Shared by the plain-loop
hooks (``_torch_loop.py``) and Lightning's (``_torch_lightning.py``).
"""

from __future__ import annotations

import sys
from collections.abc import Iterable
from types import FrameType
from typing import Any, NamedTuple

import torch
from torch import nn
from torch.optim import Optimizer
from torch.optim.lr_scheduler import LRScheduler
from torch.utils.data import DataLoader

__all__ = [
    "Owner",
    "configured_groups",
    "dataset_size",
    "find_objects",
    "find_owner",
    "model_params",
    "optimizer_params",
    "placement",
    "scheduler_params",
    "unwrap",
]

# Frames of these packages are skipped when looking for the user's model and schedulers.
_LIBRARIES = frozenset(
    {"torch", "autolog", "lightning", "pytorch_lightning", "wrapt", "contextlib", "threading"}
)
# Scheduler attributes that are its state, not its settings.
_SCHEDULER_STATE = frozenset(
    {"optimizer", "base_lrs", "last_epoch", "verbose", "best", "num_bad_epochs",
     "cooldown_counter", "mode_worse", "eps", "min_lrs"}
)  # fmt: skip
# Keys LR schedulers add to an optimizer's param groups: their settings (OneCycleLR's peak and
# momentum range), or the value the schedule starts from (``initial_lr``), not the optimizer's.
_SCHEDULER_GROUP_KEYS = ("max_lr", "min_lr", "max_momentum", "base_momentum")
_NOT_HYPERPARAMETERS = frozenset({"params", "param_names", "initial_lr", *_SCHEDULER_GROUP_KEYS})


# -- finding the model ---------------------------------------------------------------------


def find_objects(optimizer: Optimizer) -> tuple[nn.Module | None, list[Any]]:
    """The module trained by ``optimizer`` and its LR schedulers, from the caller's frames.

    Looks at the local variables of the nearest frames outside torch and autolog (one level
    into containers and objects, e.g. ``self.model``) and their module's globals: the module
    holding most of the optimizer's parameters is the model. No per-step cost.
    """
    wanted = _wanted(optimizer)
    found = _found(sys._getframe(1))
    best: nn.Module | None = None
    best_key = (0, 0)
    schedulers = []
    for obj, _ in found.values():
        if isinstance(obj, nn.Module):
            ids = [id(p) for p in obj.parameters()]
            key = (sum(1 for i in ids if i in wanted), len(ids))
            if key[0] and key > best_key:
                best, best_key = obj, key
        elif getattr(obj, "optimizer", None) is optimizer:
            schedulers.append(obj)
    return best, schedulers


class Owner(NamedTuple):
    """The module an optimizer trains, where several optimizers train several modules."""

    module: nn.Module
    #: the variable or attribute that holds it (``generator``, ``netD``); "" if none is seen
    name: str


def find_owner(optimizer: Optimizer) -> Owner | None:
    """The smallest module holding every parameter of ``optimizer`` (a GAN's generator, not
    the object holding both networks), among the modules of the caller's frames and their
    submodules, and the name it goes by there; None if no module holds them all."""
    wanted = _wanted(optimizer)
    if not wanted:
        return None
    best: tuple[int, nn.Module, str] | None = None
    for obj, name in _found(sys._getframe(1)).values():
        if isinstance(obj, nn.Module):
            hit = _smallest_holding(obj, name, wanted)
            if hit is not None and (best is None or hit[0] < best[0]):
                best = hit
    return None if best is None else Owner(best[1], best[2])


def _smallest_holding(
    root: nn.Module, name: str, wanted: set[int]
) -> tuple[int, nn.Module, str] | None:
    """(size, module, name) of the smallest module under ``root`` holding all of ``wanted``."""
    best: list[tuple[int, nn.Module, str]] = []

    def visit(module: nn.Module, label: str, depth: int) -> tuple[int, int]:
        hits = total = 0
        for p in module._parameters.values():
            if p is not None:
                total += 1
                hits += id(p) in wanted
        if depth < 16:
            for child_name, child in module._modules.items():
                if child is not None:
                    h, t = visit(child, child_name, depth + 1)
                    hits += h
                    total += t
        # children come first: a module holding just as many parameters as its child (a
        # Sequential around one layer) is the one the user named
        if hits >= len(wanted) and (not best or total <= best[0][0]):
            best[:] = [(total, module, label)]
        return hits, total

    visit(root, name, 0)
    return best[0] if best else None


def _wanted(optimizer: Optimizer) -> set[int]:
    return {id(p) for group in optimizer.param_groups for p in group["params"]}


def _found(frame: FrameType | None) -> dict[int, tuple[Any, str]]:
    """Modules and schedulers of the nearest frames outside torch and autolog (locals, one
    level into containers and objects, and the frame's module globals), by id, with the name
    each is first seen under (nearest frame first)."""
    found: dict[int, tuple[Any, str]] = {}
    user_frames = 0
    seen_globals: set[int] = set()
    depth = 0
    while frame is not None and user_frames < 3 and depth < 40:
        depth += 1
        package = str(frame.f_globals.get("__name__", "")).partition(".")[0]
        if package not in _LIBRARIES:
            user_frames += 1
            for name, value in list(frame.f_locals.items()):
                _collect(value, name, found, 1)
            if id(frame.f_globals) not in seen_globals:
                seen_globals.add(id(frame.f_globals))
                for name, value in list(frame.f_globals.items()):
                    _collect(value, name, found, 0)
        frame = frame.f_back
    return found


def _collect(value: Any, name: Any, found: dict[int, tuple[Any, str]], depth: int) -> None:
    if isinstance(value, (nn.Module, LRScheduler)):
        found.setdefault(id(value), (value, name if isinstance(name, str) else ""))
        return
    inner = getattr(value, "scheduler", None) if not isinstance(value, type) else None
    if isinstance(inner, LRScheduler):
        # a wrapped scheduler (accelerate's AcceleratedScheduler steps the one it holds)
        found.setdefault(id(inner), (inner, name if isinstance(name, str) else ""))
        return
    if depth <= 0 or isinstance(value, (type, str, bytes, torch.Tensor)):
        return
    if isinstance(value, dict):
        for key, item in list(value.items())[:64]:
            _collect(item, key, found, depth - 1)
    elif isinstance(value, (list, tuple)):
        for item in value[:64]:
            _collect(item, None, found, depth - 1)
    else:
        attributes = getattr(value, "__dict__", None)
        if isinstance(attributes, dict) and not callable(value):
            for key, item in list(attributes.items())[:64]:
                _collect(item, key, found, depth - 1)


def unwrap(model: nn.Module) -> nn.Module:
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
        return value.item() if value.numel() == 1 else value.tolist()
    if isinstance(value, (list, tuple)):
        return type(value)(_plain(v) for v in value)
    return value


def configured_groups(optimizer: Optimizer) -> list[dict[str, Any]]:
    """The hyperparameters of each param group as the optimizer was constructed (taken by the
    ``Optimizer.__init__`` hook, before any LR scheduler changes them)."""
    return [
        {name: _plain(value) for name, value in group.items() if name not in _NOT_HYPERPARAMETERS}
        for group in optimizer.param_groups
    ]


def optimizer_params(
    optimizer: Optimizer,
    key: str = "optimizer",
    configured: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    """The optimizer's class and every hyperparameter of its param groups (group 0 bare,
    group i as ``param_group_<i>_<name>``), as the user configured them.

    ``lr`` is OneCycleLR's ``max_lr`` under that scheduler (the peak the user sets; the
    schedule starts at ``max_lr / div_factor`` and overwrites the optimizer's own ``lr``), else
    the ``initial_lr`` an LR scheduler recorded (the rate a warmup or decay scales), else the
    constructed value. Other hyperparameters (``momentum``, ``betas`` that OneCycleLR cycles,
    ...) are the constructed ones, from ``configured`` (see ``configured_groups``) where the
    optimizer was constructed under autolog, else their current values. A key ending in
    ``optimizer`` names the class; any other key is a prefix (``generator_optimizer``,
    ``generator_lr``).
    """
    if key.endswith("optimizer"):
        params: dict[str, Any] = {key: type(optimizer).__name__}
        prefix = key.removesuffix("optimizer")
    else:
        params = {key: type(optimizer).__name__}
        prefix = f"{key}_"
    for i, group in enumerate(optimizer.param_groups):
        group_prefix = prefix if i == 0 else f"{prefix}param_group_{i}_"
        base = configured[i] if configured is not None and i < len(configured) else None
        values = dict(base) if base is not None else {}
        for name, value in group.items():
            if name not in _NOT_HYPERPARAMETERS and name not in values:
                values[name] = _plain(value)
        if "max_lr" in group:
            values["lr"] = _plain(group["max_lr"])
        elif "initial_lr" in group:
            values["lr"] = _plain(group["initial_lr"])
        for name, value in values.items():
            params[group_prefix + name] = value
    return params


def model_params(model: nn.Module) -> dict[str, Any]:
    inner = unwrap(model)
    parameters = list(inner.parameters())
    return {
        "model_class": type(inner).__name__,
        "total_params": sum(p.numel() for p in parameters),
        "trainable_params": sum(p.numel() for p in parameters if p.requires_grad),
    }


def placement(parameters: Iterable[torch.Tensor]) -> dict[str, str]:
    for p in parameters:
        return {"device": str(p.device), "dtype": str(p.dtype).removeprefix("torch.")}
    return {}


def scheduler_params(scheduler: Any, key: str = "lr_scheduler") -> dict[str, Any]:
    """The scheduler's class and settings (``<key>_<name>``), with those it keeps in its
    optimizer's first param group (OneCycleLR's ``max_lr``, ``min_lr``, momentum range)."""
    inner = getattr(scheduler, "scheduler", None)
    if not isinstance(scheduler, LRScheduler) and isinstance(inner, LRScheduler):
        scheduler = inner  # accelerate's AcceleratedScheduler: the one it steps
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
    optimizer = getattr(scheduler, "optimizer", None)
    groups = getattr(optimizer, "param_groups", None)
    if groups:
        for name in _SCHEDULER_GROUP_KEYS:
            if name in groups[0]:
                params.setdefault(f"{key}_{name}", _plain(groups[0][name]))
    return params


def dataset_size(loader: DataLoader[Any]) -> int | None:
    try:
        return len(loader.dataset)  # type: ignore[arg-type]
    except TypeError:
        return None  # an IterableDataset without __len__
