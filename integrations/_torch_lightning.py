"""Lightning's ``Trainer.fit`` and ``Trainer.test``.

``fit``: one run per call, recorded by a callback injected for the call.
Recorded: params (``optimizer`` and its hyperparameters as for plain loops, LR schedulers,
``model_class``, parameter counts, ``max_epochs``, ``accumulate_grad_batches``, ``precision``,
``gradient_clip_val`` and ``gradient_clip_algorithm``, the limits ``limit_train_batches``,
``limit_val_batches``, ``max_steps``, ``min_epochs``, ``val_check_interval`` and
``check_val_every_n_epoch``, the training DataLoader's ``batch_size`` and ``dataset_size``,
each EarlyStopping's ``early_stopping_<monitor|mode|patience|min_delta|...>``), the values
the LightningModule and the LightningDataModule saved with ``self.save_hyperparameters()``
under their own names (``hidden_dim``; see ``_hyperparameters``), every scalar of
``trainer.logged_metrics`` at the end of each training epoch and validation run (step = the
epoch), ``learning_rate`` per epoch, the early-stopping result (``early_stopping_stopped_epoch``,
``early_stopping_best_score``, ``early_stopping_wait_count`` metrics), the best checkpoint of
the ModelCheckpoint (under ``checkpoints/``, with ``best_model_score``), and the trained
LightningModule as the model ``model`` (torch flavor), with a signature and input example where
its input can be told: the tensor its ``forward`` first takes in training (as for plain loops,
``integrations/_torch_inputs.py``); where training never calls ``forward``, the first batch when
it is a tensor, or the ``x`` of an ``(x, y)`` batch, if the module runs on it; else none (a
``forward`` that takes a dict or several arguments, a batch of another shape). Lightning's own
optimizer steps, losses and DataLoader passes are not recorded a second time by the plain-loop
hooks.

``test``: every scalar of the results it returns (``test_loss``, ``test_acc``, ... as the
module logs them), at the step of the last epoch trained, recorded where the fit of the same
trainer (or the same LightningModule) was: into that fit's run while it is still open (the
user's run, as in ``with autolog.start_run(): trainer.fit(...); trainer.test(...)``); else,
since a finished run takes no more writes, into a run of its own that is a child of the fit's
run (``parent_run_id``), with the model's class and size, ``ckpt_path`` and
``limit_test_batches`` as params. A test with no recorded fit is a run of its own. The tag
``autolog.lightning.stage`` says ``test``.
"""

from __future__ import annotations

import importlib
import math
import os
import weakref
from collections.abc import Callable, Iterator
from types import TracebackType
from typing import Any

import torch

import autolog
from autolog.entities import RunStatus
from autolog.integrations import _torch_loop, _torch_model
from autolog.integrations._torch_inputs import FirstInput, batch_input, logged_with
from autolog.integrations.patching import (
    Call,
    CallbackFirewall,
    HookGenerator,
    Patcher,
    Settings,
    outermost,
)
from autolog.integrations.session import Session, training_session
from autolog.runs import end_status

__all__ = ["TRAINER_MODULES", "install"]

TRAINER_MODULES = ("lightning.pytorch.trainer.trainer", "pytorch_lightning.trainer.trainer")
NAME = _torch_loop.NAME
#: Trainer settings logged as params as they are (None: not set, not logged)
_TRAINER_SETTINGS = (
    "gradient_clip_val",
    "limit_train_batches",
    "limit_val_batches",
    "max_steps",
    "min_epochs",
    "val_check_interval",
    "check_val_every_n_epoch",
)


def install(patcher: Patcher, module: Any) -> None:
    """Patch ``Trainer.fit`` of one Lightning package (``lightning`` or ``pytorch_lightning``)."""
    package = module.__name__.partition(".")[0]
    callbacks = importlib.import_module(
        "lightning.pytorch.callbacks" if package == "lightning" else f"{package}.callbacks"
    )
    patcher.wrap(module.Trainer, "fit", _fit_hook(_callback_class(callbacks.Callback)))
    patcher.wrap(module.Trainer, "test", _test_hook)


#: the run of the latest recorded fit of a Trainer, and of a LightningModule: (run, experiment)
_fits: weakref.WeakKeyDictionary[Any, tuple[str, str]] = weakref.WeakKeyDictionary()


def _fit_hook(callback_class: type) -> Callable[[Call], HookGenerator]:
    def hook(call: Call) -> HookGenerator:
        if not outermost(call) or _torch_loop.rank() != 0:
            return
        trainer = call.instance
        _torch_loop.end_plain_runs()  # a new training begins
        tags = {"autolog.torch.trainer": "lightning"}
        with training_session(call, tags=tags) as session:
            recorder = _Recorder(session, call.settings)
            callback = callback_class(recorder)
            trainer.callbacks.append(callback)
            try:
                yield call.args, call.kwargs
            finally:
                _detach(trainer, callback)
                recorder.close()
            recorder.finish(trainer)
            fit = (session.run_id, session.experiment_id)
            _fits[trainer] = fit
            if trainer.lightning_module is not None:
                _fits[trainer.lightning_module] = fit

    return hook


def _test_hook(call: Call) -> HookGenerator:
    """Trainer.test: its results into the fit's run, or a child of it (module docstring)."""
    if not outermost(call) or _torch_loop.rank() != 0:
        return
    trainer = call.instance
    model = call.args[0] if call.args else call.kwargs.get("model")
    fit = _fits.get(trainer)
    if fit is None and model is not None:
        fit = _fits.get(model)
    with _TestRun(call, fit) as session:
        results = yield call.args, call.kwargs
        metrics: dict[str, float] = {}
        for result in results if isinstance(results, list) else ():
            if isinstance(result, dict):
                metrics.update(_scalars(result))
        if metrics:
            step = max(int(trainer.current_epoch) - 1, 0)
            session.client.log_metrics(session.run_id, metrics, step=step)
        if session.owned or fit is None:
            module = trainer.lightning_module
            params: dict[str, Any] = _torch_model.model_params(module) if module is not None else {}
            params["limit_test_batches"] = trainer.limit_test_batches
            ckpt_path = call.kwargs.get("ckpt_path")
            if ckpt_path is not None:
                params["ckpt_path"] = ckpt_path
            session.log_params(params)


class _TestRun:
    """The session of a ``Trainer.test`` call: the fit's run while it is open, else a child
    run of it, else (no recorded fit) a run of its own."""

    _TAGS = {"autolog.torch.trainer": "lightning", "autolog.lightning.stage": "test"}

    def __init__(self, call: Call, fit: tuple[str, str] | None) -> None:
        self.call = call
        self.fit = fit
        self.session: Session | None = None
        self.child = False

    def __enter__(self) -> Session:
        call, fit = self.call, self.fit
        active = autolog.active_run()
        if fit is None:
            self.session = training_session(call, tags=self._TAGS)
        elif active is not None and active.info.run_id == fit[0]:
            # the fit logged into the user's run, still open: the test belongs there too
            self.session = Session(NAME, call.settings, fit[0], fit[1], owned=False).enter()
        else:
            client = autolog.Client(autolog.get_tracking_uri())
            run = client.create_run(
                experiment_id=fit[1], run_name="test", tags=self._TAGS, parent_run_id=fit[0]
            )
            self.child = True
            self.session = Session(NAME, call.settings, run.info.run_id, fit[1], owned=True).enter()
        return self.session

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        session = self.session
        if session is None:
            return
        if not self.child:
            session.__exit__(exc_type, exc, tb)
            return
        session.close()
        trained = exc is None or self.call.returned is True
        session.client.set_terminated(
            session.run_id, RunStatus.FINISHED if trained else end_status(exc)
        )


def _detach(trainer: Any, callback: Any) -> None:
    trainer.callbacks[:] = [c for c in trainer.callbacks if c is not callback]


def _callback_class(base: type) -> type:
    """A Callback subclass of the given package's Callback: Lightning accepts only those."""

    def guarded(name: str) -> Callable[..., None]:
        def method(self: Any, trainer: Any, pl_module: Any, *rest: Any) -> None:
            recorder: _Recorder = self.recorder
            recorder.guard(getattr(recorder, name), trainer, pl_module)

        method.__name__ = name
        return method

    def __init__(self: Any, recorder: _Recorder) -> None:
        self.recorder = recorder

    namespace: dict[str, Any] = {
        "__init__": __init__,
        "__doc__": "Records the fit into autolog's run (added by autolog for this call only).",
    }
    for name in (
        "on_train_start",
        "on_train_epoch_start",
        "on_train_epoch_end",
        "on_validation_end",
    ):
        namespace[name] = guarded(name)

    def on_train_batch_start(
        self: Any, trainer: Any, pl_module: Any, batch: Any, batch_idx: int
    ) -> None:
        recorder: _Recorder = self.recorder
        if recorder.wants_batch:  # the first batch only: later ones cost one attribute read
            recorder.guard(recorder.take_batch, batch)

    namespace["on_train_batch_start"] = on_train_batch_start
    return type("AutologCallback", (base,), namespace)


class _Recorder:
    """What the callback records, into the session's run."""

    def __init__(self, session: Session, settings: Settings) -> None:
        self.session = session
        self.settings = settings
        #: Lightning calls the callback: our bug must not stop the training
        self.guard = CallbackFirewall(NAME, settings)
        self.client = session.client
        self.run_id = session.run_id
        self.logged: dict[tuple[str, int], float] = {}  # (key, epoch) -> value logged
        self.seen: dict[str, float] = {}  # the latest logged_metrics
        self.learning_rate: float | None = None
        #: the first input of the module's forward in training, for the model's signature
        self.first: FirstInput | None = None
        #: the first training batch's input tensor: the batch, or x of an (x, y) batch
        self.batch: torch.Tensor | None = None
        self.wants_batch = settings.log_models

    def close(self) -> None:
        """Let go of the module (its forward hook, if it was never called in training)."""
        if self.first is not None:
            self.first.close()

    def take_batch(self, batch: Any) -> None:
        self.wants_batch = False
        if isinstance(batch, (tuple, list)) and len(batch) == 2:
            batch = batch[0]  # (x, y): nothing else is taken for the model's input
        self.batch = batch_input(batch)

    def signed(self, model: Any) -> dict[str, Any]:
        """``log_model``'s signature and example arguments: from what the module's forward
        took in training; else, where training never called its forward, from the first
        batch's tensor where the module runs on it (``logged_with``); else none."""
        first = self.first
        if first is not None and first.rows is not None:
            return logged_with(model, first.rows)
        if first is not None and first.other:
            return {}  # forward took something else: the batch is no guide to it
        return logged_with(model, self.batch, called=False)

    def on_train_start(self, trainer: Any, pl_module: Any) -> None:
        params: dict[str, Any] = {}
        for i, optimizer in enumerate(trainer.optimizers):
            params.update(
                _torch_model.optimizer_params(optimizer, f"optimizer_{i}" if i else "optimizer")
            )
        for i, config in enumerate(trainer.lr_scheduler_configs):
            key = f"lr_scheduler_{i}" if i else "lr_scheduler"
            params.update(_torch_model.scheduler_params(config.scheduler, key))
            params[f"{key}_interval"] = config.interval
        params.update(_torch_model.model_params(pl_module))
        params["max_epochs"] = trainer.max_epochs
        params["accumulate_grad_batches"] = trainer.accumulate_grad_batches
        params["precision"] = str(trainer.precision)
        for name in _TRAINER_SETTINGS:
            params[name] = getattr(trainer, name, None)
        if trainer.gradient_clip_val is not None:
            # unset means Lightning clips by norm: what it does, not what was passed
            params["gradient_clip_algorithm"] = str(trainer.gradient_clip_algorithm or "norm")
        loader = trainer.train_dataloader
        if isinstance(loader, torch.utils.data.DataLoader):
            params["batch_size"] = loader.batch_size
            params["dataset_size"] = _torch_model.dataset_size(loader)
        for i, stopper in enumerate(trainer.early_stopping_callbacks):
            prefix = f"early_stopping_{i}_" if i else "early_stopping_"
            for name in ("monitor", "mode", "patience", "min_delta", "stopping_threshold",
                         "divergence_threshold", "check_finite"):  # fmt: skip
                if hasattr(stopper, name):
                    params[prefix + name] = getattr(stopper, name)
        params = {k: v for k, v in params.items() if v is not None}
        params.update(_hyperparameters(params, pl_module, trainer.datamodule))
        self.client.log_params(self.run_id, params)
        if self.settings.log_models and self.first is None:
            self.first = FirstInput(pl_module, NAME, self.settings)

    def on_train_epoch_start(self, trainer: Any, pl_module: Any) -> None:
        # Lightning steps epoch schedulers before on_train_epoch_end: read the epoch's rate now.
        if trainer.optimizers:
            self.learning_rate = float(trainer.optimizers[0].param_groups[0]["lr"])

    def on_train_epoch_end(self, trainer: Any, pl_module: Any) -> None:
        metrics = _scalars(trainer.logged_metrics)
        self.seen.update(metrics)
        if self.learning_rate is not None:
            metrics["learning_rate"] = self.learning_rate
        self._log(metrics, int(trainer.current_epoch))

    def on_validation_end(self, trainer: Any, pl_module: Any) -> None:
        if trainer.sanity_checking:
            return
        # Only what this validation changed: the training metrics still there are last epoch's.
        metrics = _scalars(trainer.logged_metrics)
        fresh = {k: v for k, v in metrics.items() if self.seen.get(k) != v}
        self.seen.update(metrics)
        self._log(fresh, int(trainer.current_epoch))

    def _log(self, metrics: dict[str, float], step: int) -> None:
        fresh = {k: v for k, v in metrics.items() if self.logged.get((k, step)) != v}
        for key, value in fresh.items():
            self.logged[key, step] = value
        if fresh:
            self.client.log_metrics(self.run_id, fresh, step=step)

    def finish(self, trainer: Any) -> None:
        """After fit: early-stopping result, best checkpoint, final model."""
        metrics: dict[str, float] = {}
        stopper = trainer.early_stopping_callback
        if stopper is not None:
            metrics["early_stopping_stopped_epoch"] = float(stopper.stopped_epoch)
            metrics["early_stopping_wait_count"] = float(stopper.wait_count)
            best = _scalar(stopper.best_score)
            if best is not None and math.isfinite(best):
                metrics["early_stopping_best_score"] = best
        checkpoint = trainer.checkpoint_callback
        best_path = getattr(checkpoint, "best_model_path", "") if checkpoint else ""
        if best_path and os.path.isfile(best_path):
            self.client.log_artifact(self.run_id, best_path, "checkpoints")
            score = _scalar(getattr(checkpoint, "best_model_score", None))
            if score is not None:
                metrics["best_model_score"] = score
        if metrics:
            self.client.log_metrics(self.run_id, metrics)
        model = trainer.lightning_module
        if self.settings.log_models and model is not None:
            self.close()
            signed = self.guard(self.signed, model) or {}
            self.client.log_model(self.run_id, model, "model", flavor="torch", **signed)


#: what a saved hyperparameter may be to be logged: a plain value, or a list of them
_PLAIN = (str, int, float, bool)


def _hyperparameters(taken: dict[str, Any], module: Any, datamodule: Any) -> dict[str, Any]:
    """What ``save_hyperparameters()`` saved, as params: the module's, then the datamodule's.

    ``hparams_initial``, the values as they were saved, as Lightning's own loggers log them.
    Nested dicts are flattened (``optimizer.lr``). A name that another value already holds (an
    autolog param such as ``lr`` or ``max_epochs``, or the module's own for the datamodule's)
    gets the prefix ``hparams.`` (``datamodule.hparams.`` for the datamodule's). Values other
    than None, strings, numbers, bools and lists of those (a module or a function handed to
    ``__init__``) have no faithful text and are left out.
    """
    params: dict[str, Any] = {}
    for owner, prefix in ((module, "hparams."), (datamodule, "datamodule.hparams.")):
        saved = getattr(owner, "hparams_initial", None) if owner is not None else None
        if not saved:
            continue
        for name, value in _flat(dict(saved)):
            held = taken.get(name, params.get(name))
            key = prefix + name if held is not None and held != value else name
            if key not in taken:
                params[key] = value
    return params


def _flat(values: dict[Any, Any], prefix: str = "") -> Iterator[tuple[str, Any]]:
    for key, value in values.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            yield from _flat(value, f"{name}.")
        elif value is None or isinstance(value, _PLAIN):
            yield name, value
        elif isinstance(value, (list, tuple)) and all(
            v is None or isinstance(v, _PLAIN) for v in value
        ):
            yield name, list(value)


def _scalar(value: Any) -> float | None:
    if isinstance(value, torch.Tensor):
        return float(value.item()) if value.numel() == 1 else None
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    return None


def _scalars(values: Any) -> dict[str, float]:
    out = {}
    for key, value in dict(values).items():
        number = _scalar(value)
        if number is not None and math.isfinite(number):
            out[str(key)] = number
    return out
