"""PyTorch: plain training loops with no code change, and Lightning's ``Trainer.fit``.

A plain loop (model, optimizer, DataLoader, loss, ``backward()``, ``step()``) is recorded as one
run per training loop:

- the run opens at the loop's first optimizer step and is the active run while training goes
  on; it ends, logging the final model, at ``autolog.end_run()``, when another run starts
  (``autolog.start_run``), when a training loop with another optimizer begins, or at
  interpreter exit (FINISHED); an uncaught exception ends it FAILED (KILLED for Ctrl-C) with
  everything logged before kept. Inside a run you started, the first loop logs into your run
  and later ones into nested runs, and your run is never ended by autolog.
- params, at the first step: ``optimizer`` (class) and every hyperparameter of its param
  groups (``lr``, ``betas``, ``momentum``, ``weight_decay``, ...; group *i* > 0 as
  ``param_group_<i>_<name>``; a second optimizer trained alongside, e.g. a GAN's, as
  ``optimizer_1`` and ``optimizer_1_<name>``), ``lr_scheduler`` and its settings
  (``lr_scheduler_<name>``), ``model_class``, ``total_params``, ``trainable_params``,
  ``device``, ``dtype``, and the training DataLoader's ``batch_size`` and ``dataset_size``.
- step metrics, one step per epoch (step = epoch index from 0):

  ``training_loss``        mean of the scalar tensors ``backward()`` was called on (summed on
                           their device, read with one sync per epoch)
  ``validation_loss``      mean of the torch loss values (``torch.nn.functional`` losses and
                           torch's loss modules; a ``reduction="sum"`` loss divided by its
                           number of terms) computed under ``no_grad``/``inference_mode``, or
                           with the model in ``eval()`` mode and no ``backward()`` on them,
                           between two training steps; logged at the step of the epoch in
                           progress, else of the one that just ended
  ``learning_rate``        of param group 0 at the epoch's end (``learning_rate_group_<j>``,
                           ``learning_rate_<i>`` for other groups and optimizers)
  ``epoch_time``           seconds from ``iter(loader)`` to its exhaustion
  ``data_time``            seconds of it spent waiting for the DataLoader (``iter()`` and
                           every ``next()``)
  ``compute_time``         ``epoch_time - data_time``
  ``samples_per_second``   samples of the pass (first dimension of each batch) / epoch_time
  ``optimizer_steps``      steps taken in the epoch

  With ``log_every_n_steps=N``, every N optimizer steps also ``step_training_loss`` (the last
  loss before that step; one device sync each time) and ``step_learning_rate``, at step = the
  optimizer step count.
- **Losses after the last training step** (a final evaluation on the test set, say) are no
  part of the last epoch. Where training was validated between epochs, the evaluations after
  the last step that repeat that validation (the same data: a DataLoader's dataset, or the
  tensor the targets are sliced from; in the same order) are the last epoch's
  ``validation_loss``; the others are ``test_loss`` (``test_loss_1``, ... for other data), at
  the last epoch's step. Where the validation is not repeated exactly, the two cannot be told
  apart: nothing is recorded, and the run says so (tag ``autolog.torch.evaluation``, and a
  warning). Evaluating the validation data again after training is neither, and not recorded.
- an epoch is a pass over the training DataLoader: the DataLoader during whose pass optimizer
  steps happen. A pass ends when its iterator is exhausted, when the same DataLoader starts a
  new pass (a loop left with ``break``), or when the run ends.
- **Loops without a DataLoader** (tensors sliced by hand, full-batch training): where the
  training loss's target is a slice of one tensor (``y[i:i + n]``, ``y.split(n)``, or the
  whole tensor), an epoch is a pass over that tensor, told by the slices' offsets starting over
  (full-batch training: one epoch per step). Otherwise (fresh tensors every step, losses not
  computed by a torch loss function) no epoch can be told: an "epoch" is a window of
  ``window_steps`` optimizer steps (default 100), the last window partial when the run ends, and
  the run says so once (tag ``autolog.torch.epochs``, and a warning). Per epoch or window:
  ``training_loss``, ``learning_rate``, ``epoch_time`` (seconds since the previous one ended, or
  since the first step) and ``optimizer_steps``; ``validation_loss`` as above. No
  ``data_time``, ``compute_time``, ``samples_per_second``, ``batch_size`` or ``dataset_size``:
  nothing tells autolog what a batch is.
- **Loops that update the weights by hand** (no ``torch.optim`` optimizer:
  ``p.data.add_(p.grad, alpha=-lr)`` after ``model.zero_grad()`` and ``backward()``): the run
  opens at the first ``zero_grad()`` of a module that follows a ``backward()``, and every
  ``backward()`` is a step; ``optimizer`` is ``manual`` and there is no ``learning_rate`` (tag
  ``autolog.torch.weights`` says so). A loop that calls ``backward()`` without either an
  optimizer step or a module's ``zero_grad()`` records nothing, and a warning says so once it
  has called ``backward()`` 256 times.
- artifacts: files written with ``torch.save(obj, path)`` during training, or to a file opened
  for writing (``with open(path, "wb") as f: torch.save(obj, f)``), as
  ``checkpoints/<file name>`` (copied on the background writer, after the save returns; a file
  saved again under the same name keeps its latest version); at the end the final model as
  ``model`` with the "torch" flavor: ``state_dict.pt`` (CPU tensors, loadable with
  ``torch.load(..., weights_only=True)``) and ``model.pkl`` (the module, cloudpickled), which
  ``autolog.load_model`` returns. The model is found among the local variables (one level deep,
  e.g. ``self.model``) and module globals of the code calling ``optimizer.step()``: the module
  holding most of the optimizer's parameters. autolog holds it until the run ends.
- distributed training: only rank 0 records (``torch.distributed`` if initialised, else
  ``$RANK``, else ``$LOCAL_RANK``); DataLoader workers never record.

How: torch's global optimizer step post-hook; ``torch.autograd.backward`` (which
``Tensor.backward`` calls) for the losses — torch has no global hook that sees the tensor
``backward()`` starts from; the ``torch.nn.functional`` loss functions for validation losses
and the training targets' slices (cheaper than a global module forward hook, which moves
every module call to torch's slow path, and it also sees functional losses);
``DataLoader.__iter__`` and the iterator's ``__next__`` for epochs and timings;
``nn.Module.zero_grad`` for loops that update weights by hand; ``torch.save`` for
checkpoints; ``sys.excepthook`` and ``threading.excepthook`` to learn that training died.

Cost: per optimizer step, three wrapped calls (a DataLoader batch, the loss function,
``backward``; four where the loop calls ``model.zero_grad()``) through the patching firewall
and the step hook: a few microseconds each, no device synchronisation, measured at about
+7 us per step on an idle 2-core machine against a 1.3 ms step of
``benchmarks/bench_torch.py``; once per run, finding the model and logging it.

Lightning (``lightning`` or ``pytorch_lightning``): ``Trainer.fit`` gets a callback for the
call: params (optimizers, LR schedulers, model, ``max_epochs``, gradient clipping, batch
limits, early-stopping settings), ``trainer.logged_metrics`` per epoch, the early-stopping
result, the best checkpoint under ``checkpoints/`` and the final model; ``Trainer.test``
records the results it returns (``test_loss``, ...) into the fit's run while it is open, else
into a child run of it. See ``integrations/_torch_lightning.py``.
"""

from __future__ import annotations

import io
from collections.abc import Mapping
from typing import Any, NamedTuple

from autolog.errors import InvalidInputError
from autolog.integrations.patching import Patcher, typed_options

__all__ = ["FLAVOR", "INTEGRATION", "TorchFlavor", "TorchOptions"]


class TorchOptions(NamedTuple):
    #: also log ``step_training_loss`` / ``step_learning_rate`` every N optimizer steps (0: off)
    log_every_n_steps: int = 0
    #: loops without a DataLoader: optimizer steps per logged "epoch"
    window_steps: int = 100
    #: log files written with ``torch.save`` during training as checkpoints
    log_checkpoints: bool = True


class _Torch:
    name = "torch"
    framework = "torch"

    def make_options(self, options: dict[str, Any]) -> TorchOptions:
        made: TorchOptions = typed_options("torch", TorchOptions, options, {"window_steps": 1})
        return made

    def patch(self, patcher: Patcher) -> None:
        from autolog.integrations import _torch_lightning, _torch_loop

        _torch_loop.install(patcher)
        for module in _torch_lightning.TRAINER_MODULES:
            patcher.when_imported(
                module, lambda imported: _torch_lightning.install(patcher, imported)
            )


INTEGRATION = _Torch()


class TorchFlavor:
    """A ``torch.nn.Module``: its state dict (``state_dict.pt``) and the pickled module."""

    name = "torch"

    def save(self, model: object) -> dict[str, bytes]:
        import cloudpickle
        import torch

        if not isinstance(model, torch.nn.Module):
            raise InvalidInputError(f"the torch flavor saves torch.nn.Module, not {model!r}")
        state = {
            key: value.detach().cpu() if isinstance(value, torch.Tensor) else value
            for key, value in model.state_dict().items()
        }
        buffer = io.BytesIO()
        torch.save(state, buffer)
        return {"state_dict.pt": buffer.getvalue(), "model.pkl": cloudpickle.dumps(model)}

    def load(self, files: Mapping[str, bytes], meta: Mapping[str, Any]) -> object:
        import cloudpickle

        return cloudpickle.loads(files["model.pkl"])


#: the flavor's entry point (group ``autolog.flavors``, in pyproject.toml)
FLAVOR = TorchFlavor()
