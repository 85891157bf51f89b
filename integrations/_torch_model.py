"""What a plain PyTorch loop trains: finding the model and its LR schedulers, and describing
them (with the optimizer and the DataLoader) as params.

The model is found once per run, not per step: among the local variables (one level deep, e.g.
``self.model``) and module globals of the nearest frames outside torch and autolog, the module
holding most of the optimizer's parameters. Shared by the plain-loop hooks
(``_torch_loop.py``) and Lightning's (``_torch_lightning.py``).
"""

from __future__ import annotations

import sys
from collections.abc import Iterable
from types import FrameType
from typing import Any

import torch
from torch import nn
from torch.optim import Optimizer
from torch.optim.lr_scheduler import LRScheduler
from torch.utils.data import DataLoader

__all__ = [
    "dataset_size",
    "find_objects",
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


# -- finding the model ---------------------------------------------------------------------


def find_objects(optimizer: Optimizer) -> tuple[nn.Module | None, list[Any]]:
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
