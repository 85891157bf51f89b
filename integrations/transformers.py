"""Hugging Face transformers: ``Trainer.train``, and ``evaluate`` / ``predict`` after it.

Written against the integration contract alone (``autolog.integrations``, see
``docs/integrations.md``), with a ``TrainerCallback`` injected for the call, as the Lightning
integration injects its ``Callback``. What one ``Trainer.train`` records:

- params, at the start (a training that raises keeps them): every TrainingArgument as
  ``args.<name>`` (``TrainingArguments.to_dict()``, tokens redacted by transformers, plus the
  ``train_batch_size`` and ``eval_batch_size`` it derives, as MLflow's callback logs them), the
  model config as ``config.<name>`` (``config.to_dict()``), ``model_class``, ``total_params``
  and ``trainable_params``;
- metrics: what Trainer logs, as it logs it (``TrainerCallback.on_log``: ``loss``,
  ``learning_rate``, ``grad_norm``, ``epoch``, ``eval_*`` at each evaluation, ``train_runtime``,
  ``train_loss``, ``total_flos``, ...), at Trainer's global step, never re-derived: the values
  of ``trainer.state.log_history``;
- checkpoints: the ``checkpoint-N/`` folders Trainer saves (``on_save``), model weights
  included, as ``checkpoints/checkpoint-N/...``: the newest ``max_checkpoints`` (option,
  default 2; 0: none) and the best one (``state.best_model_checkpoint``) where it is older, as
  Trainer's ``save_total_limit`` keeps them. Each is hard-linked aside when saved (Trainer may
  delete it meanwhile) and logged when the training ends, however it ends; the tag
  ``autolog.transformers.best_checkpoint`` names the best;
- the model ``model``, flavor "transformers": the trained model saved with ``save_pretrained``
  (safetensors weights and config), with the Trainer's tokenizer or processor
  (``processing_class``) in the same folder, as on the Hub; ``autolog.load_model`` gives the
  model back with ``from_pretrained`` on the verified files. A model whose class transformers
  does not export (a user's own ``nn.Module``) is logged with the torch flavor.

The run stays open after ``train`` returns, so that ``trainer.evaluate()`` and
``trainer.predict()`` add to it: their metrics (``eval_*``; ``test_*``, predict's
``metric_key_prefix``) at the global step the training ended on. It ends (FINISHED) when the
same trainer trains again, when the trainer is garbage-collected, at ``autolog(disable=True)``
and when autolog shuts down (exit; KILLED on SIGTERM); FAILED at once when the training raises.
It is not made the active run. Inside a run of yours, the training (and its evaluate and
predict) logs into your run and never ends it; if your run has ended by the time of
``evaluate``/``predict``, their metrics go to a child run of it. ``evaluate``/``predict`` of a
trainer with no recorded training are a run of their own.

PyTorch's plain-loop recording stands aside while Trainer trains (it does while any
integration's session is current, as inside Lightning); a plain loop's run still open in the
thread ends when the training starts. Only the main process of a distributed training records.
"""

from __future__ import annotations

import contextvars
import json
import logging
import numbers
import os
import re
import shutil
import tempfile
import threading
import weakref
from collections.abc import Mapping
from pathlib import Path
from typing import Any, NamedTuple

import autolog
from autolog import lifecycle
from autolog.entities import RunStatus
from autolog.errors import InvalidInputError, ParamCollisionError
from autolog.integrations import (
    Call,
    CallbackFirewall,
    HookGenerator,
    Patcher,
    Session,
    Settings,
    outermost,
    training_session,
    typed_options,
)
from autolog.integrations.session import open_session
from autolog.runs import end_status

__all__ = ["FLAVOR", "INTEGRATION", "TransformersFlavor", "TransformersOptions"]

logger = logging.getLogger(__name__)

NAME = "transformers"
_MAX_KEY = 250
_BAD_KEY_CHARS = re.compile(r"[\x00-\x1f\x7f\\]")
_CHECKPOINT = re.compile(r"checkpoint-(\d+)")
_FLAVOR_INFO = "transformers.json"


class TransformersOptions(NamedTuple):
    #: Trainer checkpoint folders logged per training: the newest N, plus the best (0: none)
    max_checkpoints: int = 2


class _Transformers:
    name = NAME
    framework = "transformers"

    def make_options(self, options: dict[str, Any]) -> TransformersOptions:
        made: TransformersOptions = typed_options(self.name, TransformersOptions, options)
        return made

    def patch(self, patcher: Patcher) -> None:
        # transformers loads its submodules lazily: Trainer's module (seconds to import) is
        # patched when the user's code imports it, never imported by us.
        patcher.when_imported("transformers.trainer", lambda module: _install(patcher, module))
        patcher.on_revert(_end_trainings)


INTEGRATION = _Transformers()


def _install(patcher: Patcher, module: Any) -> None:
    trainer = module.Trainer
    patcher.wrap(trainer, "train", _train_hook)
    patcher.wrap(trainer, "evaluate", _evaluate_hook)
    patcher.wrap(trainer, "predict", _predict_hook)


# -- the trainings whose runs are still open ------------------------------------------------


class _Training:
    """One recorded ``Trainer.train``: its run, its checkpoints, and what its callback saw."""

    def __init__(self, session: Session, settings: Settings) -> None:
        self.client = session.client
        self.run_id = session.run_id
        self.experiment_id = session.experiment_id
        self.owned = session.owned
        self.settings = settings
        #: Trainer calls the callback: our bug must not stop the training
        self.guard = CallbackFirewall(NAME, settings)
        self.keys: dict[str, str] = {}
        self.max_checkpoints: int = settings.options.max_checkpoints
        self.staging: Path | None = None
        self.staged: dict[int, Path] = {}  # global step -> checkpoint folder set aside
        self.best: int | None = None
        self.finalizer: weakref.finalize[Any, Any] | None = None
        self.ended = False

    # what the callback does

    def log(self, step: int, logs: Mapping[str, Any] | None) -> None:
        metrics = _numbers(logs or {}, self.keys)
        if metrics:
            self.client.log_metrics(self.run_id, metrics, step=step)

    def saved(self, output_dir: str, step: int, best: str | None) -> None:
        """Trainer saved ``checkpoint-<step>``: set it aside (a hard link per file, no copy)
        and drop those set aside that are neither among the newest nor the best."""
        if self.max_checkpoints == 0:
            return
        folder = Path(output_dir) / f"checkpoint-{step}"
        if not folder.is_dir():
            return  # a hyperparameter search's run folder: not where Trainer said
        if self.staging is None:
            self.staging = _staging(folder.parent)
        target = self.staging / folder.name
        shutil.rmtree(target, ignore_errors=True)  # the same step saved again: the latest
        shutil.copytree(folder, target, copy_function=_link_or_copy)
        self.staged[step] = target
        if best:
            found = _CHECKPOINT.fullmatch(os.path.basename(os.path.normpath(best)))
            if found:
                self.best = int(found.group(1))
        kept = set(sorted(self.staged)[-self.max_checkpoints :])
        if self.best is not None:
            kept.add(self.best)
        for dropped in [s for s in self.staged if s not in kept]:
            shutil.rmtree(self.staged.pop(dropped), ignore_errors=True)

    def log_checkpoints(self) -> None:
        """Log the checkpoints set aside (newest and best), then forget them."""
        staged, self.staged = self.staged, {}
        try:
            for _, folder in sorted(staged.items()):
                self.client.log_artifacts(self.run_id, folder, f"checkpoints/{folder.name}")
            if self.best in staged:
                self.client.set_tag(
                    self.run_id,
                    "autolog.transformers.best_checkpoint",
                    f"checkpoints/checkpoint-{self.best}",
                )
        finally:
            self.discard()

    def discard(self) -> None:
        if self.staging is not None:
            shutil.rmtree(self.staging, ignore_errors=True)
            self.staging = None

    def end(self, status: RunStatus | str) -> None:
        """End the run if the training opened it (once)."""
        if self.ended:
            return
        self.ended = True
        if self.finalizer is not None:
            self.finalizer.detach()
        self.discard()
        if self.owned:
            self.client.set_terminated(self.run_id, status)


#: the trainings whose runs take their trainer's evaluate() and predict(), by trainer
_trainings: weakref.WeakKeyDictionary[Any, _Training] = weakref.WeakKeyDictionary()
_lock = threading.Lock()


def _end_when_collected(client: autolog.Client, run_id: str) -> None:
    try:
        client.set_terminated(run_id, "FINISHED")
    except Exception as exc:  # a finalizer has nobody to tell: the run is reaped later
        logger.debug("autolog: ending run %s failed", run_id, exc_info=exc)


def _forget(trainer: Any) -> _Training | None:
    with _lock:
        return _trainings.pop(trainer, None)


def _end_trainings(status: str = "FINISHED") -> None:
    """End the runs kept open for evaluate() and predict() (disable, shutdown)."""
    with _lock:
        trainings = list(_trainings.values())
        _trainings.clear()
    for training in trainings:
        try:
            training.end(status)
        except Exception as exc:  # one run that cannot be ended must not keep the others open
            logger.debug("autolog: ending run %s failed", training.run_id, exc_info=exc)


def _on_shutdown(event: lifecycle.Shutdown) -> None:
    _end_trainings("KILLED" if event.killed else "FINISHED")


def _after_fork_in_child() -> None:
    # A forked child's trainers are copies: the parent ends their runs.
    global _lock
    _lock = threading.Lock()
    for training in list(_trainings.values()):
        if training.finalizer is not None:
            training.finalizer.detach()
        training.ended = True
    _trainings.clear()


lifecycle.on_shutdown(lifecycle.Layer.INTEGRATION, _on_shutdown)
lifecycle.on_fork(lifecycle.Layer.INTEGRATION, after_in_child=_after_fork_in_child)


# -- Trainer.train --------------------------------------------------------------------------


def _train_hook(call: Call) -> HookGenerator:
    trainer = call.instance
    if not outermost(call) or not trainer.is_world_process_zero():
        return
    previous = _forget(trainer)
    if previous is not None:
        previous.end("FINISHED")  # this trainer trains again: its last training is over
    _end_plain_runs()
    tags = {"autolog.estimator": type(trainer).__name__}
    # Detached: the run outlives the call (for evaluate and predict), so it is not made the
    # active run; while Trainer trains, the session is current, and the plain-loop hooks see
    # it and stand aside.
    session = open_session(NAME, call.settings, tags=tags, detached=True)
    training = _Training(session, call.settings)
    try:
        _log_params(session, training, trainer)
        callback = _callback_class()(training)
        # First: the printing callbacks take ``total_flos`` out of the logs they are given.
        trainer.callback_handler.callbacks.insert(0, callback)
        try:
            yield call.args, call.kwargs
        except BaseException as error:
            training.log_checkpoints()  # what it saved before it failed is kept
            training.end(end_status(error))
            raise
        finally:
            trainer.remove_callback(callback)
        _log_trained(training, trainer)
        if training.owned:
            training.finalizer = weakref.finalize(
                trainer, _end_when_collected, training.client, training.run_id
            )
            training.finalizer.atexit = False  # autolog's shutdown ends it, writers still up
        with _lock:
            _trainings[trainer] = training
    except BaseException as error:
        # our own failure after a training that returned leaves its run FINISHED
        training.end(RunStatus.FINISHED if call.returned else end_status(error))
        raise
    finally:
        session.close()


def _end_plain_runs() -> None:
    """End a plain PyTorch loop's run still open in this thread, as Lightning's fit does:
    a new training begins (and that run must not pass for a run of the user's)."""
    from autolog.integrations import _torch_loop

    _torch_loop.end_plain_runs()


def _log_params(session: Session, training: _Training, trainer: Any) -> None:
    args = trainer.args
    params: dict[str, Any] = {}
    for key, value in args.to_dict().items():
        params[_key(f"args.{key}")] = value
    for key in ("train_batch_size", "eval_batch_size"):  # derived, as to_sanitized_dict adds
        params[f"args.{key}"] = getattr(args, key, None)
    model = trainer.model
    if model is not None:
        params.update(_model_params(model))
    try:
        session.client.log_params(session.run_id, params)
    except ParamCollisionError:
        if session.owned:
            raise
        # The user's run holds one of them with another value (an earlier training in it):
        # this training is a child run of it.
        run = session.client.create_run(
            experiment_id=session.experiment_id,
            tags={"autolog.estimator": type(trainer).__name__},
            parent_run_id=session.run_id,
        )
        session.run_id, session.owned = run.info.run_id, True
        training.run_id, training.owned = run.info.run_id, True
        session.client.log_params(session.run_id, params)


def _model_params(model: Any) -> dict[str, Any]:
    params: dict[str, Any] = {}
    config = getattr(model, "config", None)
    to_dict = getattr(config, "to_dict", None)
    if callable(to_dict):
        for key, value in to_dict().items():
            params[_key(f"config.{key}")] = value
    parameters = list(model.parameters())
    params["model_class"] = type(model).__name__
    params["total_params"] = sum(p.numel() for p in parameters)
    params["trainable_params"] = sum(p.numel() for p in parameters if p.requires_grad)
    return params


def _log_trained(training: _Training, trainer: Any) -> None:
    """After a training that returned: its checkpoints and the final model."""
    training.log_checkpoints()
    model = trainer.model
    if not training.settings.log_models or model is None:
        return
    import torch

    if _exported(model):
        token = _processor.set(_processing_class(trainer))
        try:
            training.client.log_model(training.run_id, model, "model", flavor=NAME)
        finally:
            _processor.reset(token)
    elif isinstance(model, torch.nn.Module):
        training.client.log_model(training.run_id, model, "model", flavor="torch")


def _processing_class(trainer: Any) -> Any:
    """The trainer's tokenizer, image processor or processor (``tokenizer`` before 4.46)."""
    if "processing_class" in vars(trainer):
        return trainer.processing_class
    return vars(trainer).get("tokenizer")  # not the property: newer versions warn on it


# -- the callback ---------------------------------------------------------------------------

_callback_classes: list[type[Any]] = []


def _callback_class() -> type[Any]:
    """The callback class, a TrainerCallback subclass, made once (transformers imported)."""
    if _callback_classes:
        return _callback_classes[0]
    from transformers import TrainerCallback

    class AutologCallback(TrainerCallback):
        """Records the training into autolog's run (added by autolog for this call only)."""

        def __init__(self, training: _Training) -> None:
            self.training = training

        def on_log(
            self, args: Any, state: Any, control: Any, logs: Any = None, **kwargs: Any
        ) -> None:
            if state.is_world_process_zero:
                training = self.training
                training.guard(training.log, state.global_step, logs)

        def on_save(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
            if state.is_world_process_zero:
                training = self.training
                training.guard(
                    training.saved, args.output_dir, state.global_step, state.best_model_checkpoint
                )

    _callback_classes.append(AutologCallback)
    return AutologCallback


# -- evaluate() and predict() ---------------------------------------------------------------


def _evaluate_hook(call: Call) -> HookGenerator:
    return _results_hook(call, "evaluate")


def _predict_hook(call: Call) -> HookGenerator:
    return _results_hook(call, "predict")


def _results_hook(call: Call, stage: str) -> HookGenerator:
    """evaluate() / predict() outside a training: their metrics into the trainer's training
    run (module docstring). Trainer's own evaluations during training are on_log's."""
    trainer = call.instance
    if not outermost(call) or not trainer.is_world_process_zero():
        return
    with _lock:
        training = _trainings.get(trainer)
    if training is None:
        tags = {"autolog.estimator": type(trainer).__name__, "autolog.transformers.stage": stage}
        with training_session(call, tags=tags) as session:
            params = {_key(f"args.{k}"): v for k, v in trainer.args.to_dict().items()}
            if trainer.model is not None:
                params.update(_model_params(trainer.model))
            session.log_params(params)
            result = yield call.args, call.kwargs
            _log_results(session.client, session.run_id, trainer, result, {})
        return
    run_id, child = training.run_id, False
    if not training.owned and not _running(training):
        # the user's run ended since the training: a child run of it, never one unlinked
        run = training.client.create_run(
            experiment_id=training.experiment_id,
            run_name=stage,
            tags={"autolog.transformers.stage": stage},
            parent_run_id=training.run_id,
        )
        run_id, child = run.info.run_id, True
    session = Session(NAME, call.settings, run_id, training.experiment_id, owned=False)
    with session.enter():
        try:
            result = yield call.args, call.kwargs
        except BaseException as error:
            if child:
                training.client.set_terminated(run_id, end_status(error))
            raise
        try:
            _log_results(training.client, run_id, trainer, result, training.keys)
        finally:
            if child:
                training.client.set_terminated(run_id, "FINISHED")


def _running(training: _Training) -> bool:
    return training.client.get_run(training.run_id).info.status == "RUNNING"


def _log_results(
    client: autolog.Client, run_id: str, trainer: Any, result: Any, keys: dict[str, str]
) -> None:
    metrics = result if isinstance(result, Mapping) else getattr(result, "metrics", None)
    numbers_ = _numbers(metrics or {}, keys)
    if numbers_:
        client.log_metrics(run_id, numbers_, step=int(trainer.state.global_step))


# -- values ---------------------------------------------------------------------------------


def _numbers(values: Mapping[str, Any], keys: dict[str, str]) -> dict[str, float]:
    """The numbers among Trainer's logs, by valid key (strings and the like are not metrics)."""
    out: dict[str, float] = {}
    for name, value in values.items():
        if isinstance(value, bool):
            continue
        if isinstance(value, numbers.Real):
            number = float(value)
        elif getattr(value, "numel", None) is not None and value.numel() == 1:
            number = float(value.item())  # a tensor: Trainer logs floats, a user may not
        else:
            continue
        key = keys.get(name)
        if key is None:
            key = keys[name] = _key(str(name))
        out[key] = number
    return out


def _key(text: str) -> str:
    """``text`` as a valid key: metric names and config keys are the user's."""
    text = _BAD_KEY_CHARS.sub("_", text)
    parts = ["_" if part in ("", ".", "..") else part for part in text.split("/")]
    return "/".join(parts)[:_MAX_KEY]


def _staging(output_dir: Path) -> Path:
    """A new folder to set checkpoints aside in, on the file system of Trainer's output (hard
    links, not copies of every checkpoint): the system's temporary folder where it is on that
    file system, else in the output folder, named ``_...`` (Trainer's ``push_to_hub`` leaves
    those out), for the duration of the training."""
    temp = tempfile.gettempdir()
    try:
        here = os.stat(temp).st_dev == os.stat(output_dir).st_dev
    except OSError:
        here = True
    if here:
        return Path(tempfile.mkdtemp(prefix="autolog-checkpoints-"))
    return Path(tempfile.mkdtemp(prefix="_autolog-checkpoints-", dir=output_dir))


def _link_or_copy(source: str, target: str) -> None:
    """A checkpoint's file set aside: a hard link (no bytes copied; Trainer writes each
    checkpoint anew, never in place), a copy across file systems."""
    try:
        os.link(source, target)
    except OSError:
        shutil.copy2(source, target)


def _exported(model: Any) -> bool:
    """Whether ``model`` is a class transformers exports (from_pretrained can rebuild it)."""
    import transformers

    cls = type(model)
    return (
        isinstance(model, transformers.PreTrainedModel)
        and getattr(transformers, cls.__name__, None) is cls
    )


# -- the model flavor -----------------------------------------------------------------------

#: the processor (tokenizer, ...) saved beside the model being logged, set around log_model
_processor: contextvars.ContextVar[Any] = contextvars.ContextVar(
    "autolog_transformers_processor", default=None
)


class TransformersFlavor:
    """A transformers ``PreTrainedModel``, in Hugging Face format.

    Files: what ``save_pretrained`` writes (``config.json``, ``model.safetensors``,
    ``generation_config.json``, ...), those of the Trainer's tokenizer or processor when one is
    logged with it, and ``transformers.json`` (the model's and the processor's classes).
    ``load`` writes the verified files to a temporary folder and returns
    ``<class>.from_pretrained(folder)``: the class is looked up among transformers' own
    exports only, and the weights are safetensors: nothing is unpickled.
    """

    name = NAME

    def save(self, model: object) -> dict[str, bytes]:
        import transformers

        if not isinstance(model, transformers.PreTrainedModel) or not _exported(model):
            raise InvalidInputError(
                "the transformers flavor saves models of the classes transformers exports, "
                f"not {type(model).__name__} (log it with the torch flavor)"
            )
        processor = _processor.get()
        with tempfile.TemporaryDirectory(prefix="autolog-model-") as folder:
            model.save_pretrained(folder)
            if processor is not None:
                processor.save_pretrained(folder)
            root = Path(folder)
            files = {
                path.relative_to(root).as_posix(): path.read_bytes()
                for path in sorted(root.rglob("*"))
                if path.is_file()
            }
        info = {
            "model_class": type(model).__name__,
            "processor_class": type(processor).__name__ if processor is not None else None,
        }
        files[_FLAVOR_INFO] = json.dumps(info).encode()
        return files

    def load(self, files: Mapping[str, bytes], meta: Mapping[str, Any]) -> object:
        import transformers

        info = json.loads(files[_FLAVOR_INFO])
        name = str(info.get("model_class"))
        cls = getattr(transformers, name, None)
        if not (isinstance(cls, type) and issubclass(cls, transformers.PreTrainedModel)):
            raise InvalidInputError(f"{name!r} is not a model class of transformers")
        with tempfile.TemporaryDirectory(prefix="autolog-model-") as folder:
            root = Path(folder)
            for relative, data in files.items():
                if relative == _FLAVOR_INFO:
                    continue
                path = root / relative
                path.parent.mkdir(parents=True, exist_ok=True)
                path.write_bytes(data)
            return cls.from_pretrained(folder, local_files_only=True)


#: the flavor's entry point (group ``autolog.flavors``, in pyproject.toml)
FLAVOR = TransformersFlavor()
