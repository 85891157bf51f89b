"""Checkpoints a plain PyTorch loop writes, in every format: the hooks behind the
"checkpoints" of ``integrations/torch.py``, and the torch model's files sharing their bytes.

A checkpoint is one file (``torch.save``, ``safetensors.torch.save_file`` / ``save_model``)
or one folder (``PreTrainedModel.save_pretrained``: the files of its top level the save wrote,
and those written beside them before the run ends, a tokenizer's; or a numbered folder files
are saved into, ``out/checkpoint-16/``: the files saved there). Each is set aside when it is
written, on the training thread (a hard link per file, no bytes copied; a copy across file
systems), and logged when the run ends: the newest ``max_checkpoints`` and the best (lowest
``validation_loss`` of the epoch it was saved in, read back from the store, one flush of the
writer each time the bound drops one), the others dropped unlogged. Artifact stores cannot
delete, so a checkpoint that may still be dropped is never uploaded; the price is that
checkpoints appear when the run ends, and a process killed outright (SIGKILL) logs none.

Inside another integration's training (the Hugging Face Trainer, Lightning: its session is
current) nothing is recorded here: that integration records its own checkpoints.

Names: ``checkpoints/<file name>`` for a file; ``checkpoints/<folder name>/...`` for a folder,
and for a file whose folder is numbered (``checkpoint-16``, ``epoch_3``) or whose name another
kept checkpoint from another folder shares. A checkpoint saved again under its name keeps its
latest version.

One copy of the bytes: the torch flavor's ``state_dict.pt`` is the very file of a checkpoint
that holds the model's current weights (a state dict saved with ``torch.save``, checked equal
tensor by tensor), so both have one SHA-256 and the store keeps the bytes once; its
``model.pkl`` holds the module without its weights, which it takes from ``state_dict.pt``.
"""

from __future__ import annotations

import contextlib
import io
import os
import pickle
import re
import shutil
import tempfile
import threading
import time
from collections import deque
from collections.abc import Callable, Mapping
from contextvars import ContextVar
from pathlib import Path
from typing import Any, NamedTuple

import torch
from torch import nn

from autolog.integrations.patching import Call, HookGenerator, Patcher
from autolog.integrations.session import current

__all__ = [
    "Target",
    "dumps_module",
    "hook_late_modules",
    "install",
    "loads_module",
    "run_ended",
    "saved_file",
    "state_dict_file",
]

#: folders named like one checkpoint of several (``checkpoint-16``, ``epoch_3``, ``step=100``)
_NUMBERED = re.compile(r"(?i).*(checkpoint|ckpt|epoch|step|iter|iteration)[-_=]?\d+")
#: torch.save'd state dicts remembered for the flavor (see ``state_dict_file``)
_REMEMBERED = 4
_PERSISTENT = "autolog.state_dict"
#: file systems that keep modification times in whole seconds (FAT: two)
_MTIME_SLACK = 2.0


class Target(NamedTuple):
    """Where a checkpoint written now goes: the training run that is recording."""

    client: Any  # autolog.Client (or a worker's stand-in for it)
    run_id: str
    #: checkpoints kept: the newest N and the best (0: none)
    max_checkpoints: int
    #: the epoch whose validation_loss scores a checkpoint saved now (None: no epochs yet)
    step: int | None


# -- one run's checkpoints ---------------------------------------------------------------------


class _Checkpoint:
    """A file or folder written during training, and its files set aside."""

    __slots__ = ("folder", "key", "order", "since", "staged", "step")

    def __init__(self, key: Path, folder: bool, staged: Path) -> None:
        self.key = key  # the file or folder, absolute
        self.folder = folder
        self.staged = staged  # a folder holding the files as they were written
        self.order = 0
        self.step: int | None = None
        #: a folder written whole (save_pretrained): when its save began; the files of its
        #: top level written since are its own (None: only the files saved one by one)
        self.since: float | None = None


class _Run:
    """The checkpoints of one run, set aside until it ends."""

    def __init__(self, target: Target) -> None:
        self.client = target.client
        self.run_id = target.run_id
        self.limit = target.max_checkpoints
        self.staging = Path(tempfile.mkdtemp(prefix="autolog-checkpoints-"))
        self.kept: dict[Path, _Checkpoint] = {}
        self.order = 0
        self.serial = 0
        #: torch.save'd state dicts: (their keys, shapes and dtypes; the file set aside)
        self.states: deque[tuple[tuple[Any, ...], Path]] = deque(maxlen=_REMEMBERED)

    def add(self, key: Path, folder: bool, step: int | None) -> _Checkpoint:
        checkpoint = self.kept.get(key)
        if checkpoint is None:
            self.serial += 1
            staged = self.staging / str(self.serial)
            staged.mkdir()
            checkpoint = self.kept[key] = _Checkpoint(key, folder, staged)
        elif not folder:
            _clear(checkpoint.staged)  # saved again: its latest version
        self.order += 1
        checkpoint.order = self.order
        checkpoint.step = step
        return checkpoint

    def bound(self) -> None:
        """Drop the checkpoints that are neither among the newest ``limit`` nor the best."""
        if len(self.kept) <= self.limit:
            return
        kept = self._keep()
        for key in [k for k in self.kept if k not in kept]:
            shutil.rmtree(self.kept.pop(key).staged, ignore_errors=True)

    def _keep(self) -> set[Path]:
        newest = sorted(self.kept.values(), key=lambda c: c.order)[-self.limit :]
        kept = {c.key for c in newest}
        best = self._best()
        if best is not None:
            kept.add(best.key)
        return kept

    def _best(self) -> _Checkpoint | None:
        """The checkpoint saved in the epoch of the lowest validation_loss, if any was."""
        if not any(c.step is not None for c in self.kept.values()):
            return None
        history = getattr(self.client, "get_metric_history", None)
        if history is None:
            return None
        scores: dict[int, float] = {}
        for metric in history(self.run_id, "validation_loss"):
            scores[metric.step] = metric.value  # the latest value logged for the epoch
        scored = [
            (scores[c.step], -c.order, c)
            for c in self.kept.values()
            if c.step is not None and c.step in scores
        ]
        return min(scored, key=lambda s: s[:2])[2] if scored else None

    def end(self) -> None:
        """Log the kept checkpoints (newest and best) under their names."""
        try:
            if len(self.kept) > self.limit:
                self.bound()
            for checkpoint in self.kept.values():
                _top_up(checkpoint)
            names = self._names()
            for checkpoint in sorted(self.kept.values(), key=lambda c: c.order):
                folder = names[checkpoint.key]
                if checkpoint.folder:
                    if any(checkpoint.staged.iterdir()):
                        self.client.log_artifacts(self.run_id, checkpoint.staged, folder)
                else:
                    for file in checkpoint.staged.iterdir():
                        self.client.log_artifact(self.run_id, file, folder)
        finally:
            self.kept = {}
            self.states.clear()
            shutil.rmtree(self.staging, ignore_errors=True)

    def _names(self) -> dict[Path, str]:
        """Each checkpoint's artifact folder: its own folder's name where it is a folder, or
        a file in a numbered folder, or a file whose name another checkpoint shares."""
        names: dict[Path, str] = {}
        by_name: dict[str, int] = {}
        for checkpoint in self.kept.values():
            if not checkpoint.folder:
                by_name[checkpoint.key.name] = by_name.get(checkpoint.key.name, 0) + 1
        for key, checkpoint in self.kept.items():
            if checkpoint.folder:
                names[key] = f"checkpoints/{_safe(key.name)}"
            elif by_name[key.name] > 1 or _NUMBERED.fullmatch(key.parent.name):
                names[key] = f"checkpoints/{_safe(key.parent.name)}"
            else:
                names[key] = "checkpoints"
        return names


_runs: dict[str, _Run] = {}
_lock = threading.Lock()
#: inside a save we record: the saves it makes (save_pretrained's save_file) are part of it
_saving: ContextVar[bool] = ContextVar("autolog_checkpoint_saving", default=False)


def _run(target: Target) -> _Run:
    with _lock:
        found = _runs.get(target.run_id)
        if found is None:
            found = _runs[target.run_id] = _Run(target)
        return found


def saved_file(target: Target, path: str | os.PathLike[str], obj: Any = None) -> None:
    """A file was written during training (``obj``: what ``torch.save`` wrote, if it did):
    set it aside as a checkpoint, or as a file of a numbered folder's checkpoint."""
    if target.max_checkpoints == 0:
        return
    file = Path(os.path.abspath(path))
    if not file.is_file():
        return
    run = _run(target)
    numbered = _NUMBERED.fullmatch(file.parent.name) is not None
    checkpoint = run.add(file.parent if numbered else file, numbered, target.step)
    staged = checkpoint.staged / file.name
    _link_or_copy(file, staged)
    signature = _signature(obj)
    if signature is not None:
        run.states.append((signature, staged))
    run.bound()


def saved_folder(target: Target, folder: Path, since: float) -> None:
    """A folder was written whole (``save_pretrained``, begun at ``since``): set aside the
    files of its top level written since (never the rest of a folder it shares, the working
    folder say)."""
    if target.max_checkpoints == 0 or not folder.is_dir():
        return
    run = _run(target)
    checkpoint = run.add(folder, True, target.step)
    checkpoint.since = since
    _clear(checkpoint.staged)
    _top_up(checkpoint)
    run.bound()


def run_ended(run_id: str) -> None:
    """The run ends (however it ends): log its kept checkpoints, let the rest go."""
    with _lock:
        run = _runs.pop(run_id, None)
    if run is not None:
        run.end()


def _top_up(checkpoint: _Checkpoint) -> None:
    """Set aside the files a folder written whole got since its save began and that are not
    set aside yet (a tokenizer saved beside the model after it)."""
    since = checkpoint.since
    if since is None:
        return
    try:
        entries = sorted(os.scandir(checkpoint.key), key=lambda e: e.name)
    except OSError:
        return  # removed since: what was set aside is what there is
    for entry in entries:
        staged = checkpoint.staged / entry.name
        if (
            entry.is_file(follow_symlinks=False)
            and entry.stat(follow_symlinks=False).st_mtime >= since - _MTIME_SLACK
            and not staged.exists()
        ):
            _link_or_copy(Path(entry.path), staged)


def _link_or_copy(source: Path, target: Path) -> None:
    """A file set aside: a hard link (no bytes copied), a copy across file systems."""
    with contextlib.suppress(FileNotFoundError):
        target.unlink()
    try:
        os.link(source, target)
    except OSError:
        shutil.copy2(source, target)


def _clear(folder: Path) -> None:
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True, exist_ok=True)


def _safe(name: str) -> str:
    """A folder name as one artifact path segment."""
    cleaned = "".join(c if c.isprintable() and c not in "/\\" else "_" for c in name)
    return "_" if cleaned in ("", ".", "..") else cleaned[:200]


# -- hooks ---------------------------------------------------------------------------------------


def install(patcher: Patcher, target: Callable[[], Target | None]) -> None:
    """Hook the checkpoint writers other than ``torch.save`` (whose hook, in the plain-loop
    module, calls ``saved_file``); ``target`` tells the run that records, if any."""

    def file_hook(call: Call) -> HookGenerator:
        """safetensors.torch's serialize_file(tensors, filename): what its save_file and
        save_model write with, looked up at each call (a ``from safetensors.torch import
        save_file`` made before ``autolog()`` still goes through it)."""
        found = _target(target)
        args = call.args
        path = args[1] if len(args) > 1 else call.kwargs.get("filename")
        if found is None or not isinstance(path, (str, os.PathLike)):
            return
        token = _saving.set(True)
        try:
            yield call.args, call.kwargs
        finally:
            _saving.reset(token)
        saved_file(found, path)

    def folder_hook(call: Call) -> HookGenerator:
        """PreTrainedModel.save_pretrained(folder): the folder is the checkpoint."""
        found = _target(target)
        args = call.args
        folder = args[0] if args else call.kwargs.get("save_directory")
        if (
            found is None
            or not isinstance(folder, (str, os.PathLike))
            or call.kwargs.get("is_main_process", True) is False
        ):
            return
        since = time.time()
        token = _saving.set(True)
        try:
            yield call.args, call.kwargs
        finally:
            _saving.reset(token)
        saved_folder(found, Path(os.path.abspath(folder)), since)

    def safetensors_imported(module: Any) -> None:
        patcher.wrap(module, "serialize_file", file_hook)

    def modeling_imported(module: Any) -> None:
        if getattr(module, "PreTrainedModel", None) is None:
            # transformers.modeling_utils imports torch, so the torch integration (and this)
            # may be installed while that module is still being executed: it is hooked once
            # it is whole, when a training loop's run opens (``hook_late_modules``).
            with _lock:
                _late.append(lambda: modeling_imported(module))
            return
        patcher.wrap(module.PreTrainedModel, "save_pretrained", folder_hook)

    def forget_late() -> None:
        with _lock:
            _late.clear()

    patcher.when_imported("safetensors.torch", safetensors_imported)
    patcher.when_imported("transformers.modeling_utils", modeling_imported)
    patcher.on_revert(_end_all)
    patcher.on_revert(forget_late)


#: hooks whose module was still being imported when the hooks were installed
_late: list[Callable[[], None]] = []


def hook_late_modules() -> None:
    """Install the hooks that had to wait for their module's import to finish (called when a
    training loop's run opens: before any checkpoint of it can be saved)."""
    if not _late:
        return
    with _lock:
        waiting = list(_late)
        _late.clear()
    for hook in waiting:
        hook()


def _target(target: Callable[[], Target | None]) -> Target | None:
    """The run a checkpoint written now goes to: none inside a save we record already, nor
    inside another integration's training (the Hugging Face Trainer records its own
    checkpoints through its callback: its session is current while it trains)."""
    if _saving.get() or current() is not None:
        return None
    return target()


def _end_all() -> None:
    with _lock:
        run_ids = list(_runs)
    for run_id in run_ids:
        run_ended(run_id)


# -- the torch model's files -------------------------------------------------------------------


def _signature(obj: Any) -> tuple[Any, ...] | None:
    """Keys, shapes and dtypes of a state dict of CPU tensors; None for anything else."""
    if not isinstance(obj, Mapping) or not obj or len(obj) > 100_000:
        return None
    items = []
    for key, value in obj.items():
        if (
            not isinstance(key, str)
            or type(value) not in (torch.Tensor, nn.Parameter)
            or value.device.type != "cpu"
        ):
            return None
        items.append((key, tuple(value.shape), value.dtype))
    return tuple(items)


def state_dict_file(state: Mapping[str, torch.Tensor]) -> bytes | None:
    """The bytes of a checkpoint file of the recording run that holds exactly ``state`` (a
    model's current state dict: the same keys, and equal tensors), else None."""
    signature = _signature(state)
    if signature is None:
        return None
    with _lock:
        candidates = [
            path for run in _runs.values() for sig, path in run.states if sig == signature
        ]
    for path in reversed(candidates):
        try:
            data = path.read_bytes()
            saved = torch.load(io.BytesIO(data), weights_only=True, map_location="cpu")
        except Exception:  # removed, rewritten or unreadable since: not these weights
            continue
        if (
            isinstance(saved, Mapping)
            and list(saved) == list(state)
            and all(_equal(saved[k], v) for k, v in state.items())
        ):
            return data
    return None


def _equal(a: Any, b: torch.Tensor) -> bool:
    return (
        isinstance(a, torch.Tensor)
        and a.dtype == b.dtype
        and a.shape == b.shape
        and bool(torch.equal(a, b.detach()))
    )


def dumps_module(model: nn.Module) -> bytes:
    """The module, cloudpickled without the tensors of its state dict: each is a reference
    to its key in ``state_dict.pt`` (see ``loads_module``)."""
    import cloudpickle

    keys = {
        id(value): key
        for key, value in model.state_dict(keep_vars=True).items()
        if type(value) in (torch.Tensor, nn.Parameter)
    }

    class _Pickler(cloudpickle.Pickler):  # type: ignore[misc]
        def persistent_id(self, obj: Any) -> Any:
            if type(obj) in (torch.Tensor, nn.Parameter):
                key = keys.get(id(obj))
                if key is not None:
                    return (_PERSISTENT, key, type(obj) is nn.Parameter, obj.requires_grad)
            return None

    buffer = io.BytesIO()
    _Pickler(buffer).dump(model)
    return buffer.getvalue()


def loads_module(data: bytes, state_dict: bytes | None) -> Any:
    """The module ``dumps_module`` pickled, its tensors taken from ``state_dict.pt`` (on the
    CPU). A ``model.pkl`` that holds its own tensors (written before) loads as it is."""
    state: dict[str, torch.Tensor] | None = None
    made: dict[str, torch.Tensor] = {}

    class _Unpickler(pickle.Unpickler):
        def persistent_load(self, pid: Any) -> Any:
            if not (isinstance(pid, tuple) and len(pid) == 4 and pid[0] == _PERSISTENT):
                raise pickle.UnpicklingError(f"unknown persistent id {pid!r}")
            _, key, parameter, requires_grad = pid
            found = made.get(key)
            if found is None:
                nonlocal state
                if state is None:  # read once, at the first tensor
                    if state_dict is None:
                        raise pickle.UnpicklingError("model.pkl needs its state_dict.pt")
                    state = torch.load(
                        io.BytesIO(state_dict), weights_only=True, map_location="cpu"
                    )
                tensor = state[key]
                found = made[key] = (
                    nn.Parameter(tensor, requires_grad=bool(requires_grad)) if parameter else tensor
                )
            return found

    return _Unpickler(io.BytesIO(data)).load()
