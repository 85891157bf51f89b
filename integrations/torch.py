"""PyTorch: plain training loops with no code change, and Lightning's ``Trainer.fit``.

A plain loop (model, optimizer, DataLoader, loss, ``backward()``, ``step()``) is recorded as one
run per training loop:

- the run opens at the loop's first optimizer step and is the active run while training goes
  on; it ends, logging the final model, at ``autolog.end_run()``, when another run starts
  (``autolog.start_run``), when a training loop with another optimizer begins, or at
  interpreter exit (FINISHED); an uncaught exception ends it FAILED (KILLED for Ctrl-C) with
  everything logged before kept. Inside a run you started, the first loop logs into your run
  and later ones into nested runs, and your run is never ended by autolog.
- params, at the end of the first epoch (or after 64 steps, or when the run ends, whichever
  comes first): ``optimizer`` (class) and every hyperparameter of its param groups as the
  user configured them (``lr``, ``betas``, ``momentum``, ``weight_decay``, ...; group *i* > 0
  as ``param_group_<i>_<name>``): ``lr`` is the ``initial_lr`` an LR scheduler starts from
  (the configured rate, not the first value of a warmup), and under ``OneCycleLR`` its
  ``max_lr`` (the peak the user sets; the schedule overwrites the optimizer's own ``lr``);
  ``momentum``, ``betas`` and the rest as constructed, not as a schedule (OneCycleLR cycles
  momentum) has set them. ``lr_scheduler`` and its settings (``lr_scheduler_<name>``, with
  those kept in the param group: ``lr_scheduler_max_lr``, ``lr_scheduler_min_lr``,
  ``lr_scheduler_max_momentum``, ``lr_scheduler_base_momentum``; accelerate's
  ``AcceleratedScheduler`` as the scheduler it wraps), ``model_class``, ``total_params``,
  ``trainable_params``, ``device``, ``dtype``, and the training DataLoader's ``batch_size`` and
  ``dataset_size``. A second optimizer stepped after the same ``backward()`` (parameter groups
  split between two optimizers) is the same training: its params as ``optimizer_1`` and
  ``optimizer_1_<name>``, its rate as ``learning_rate_1``.
- **Several trainings in one loop**: optimizers that each step on losses of their own (a GAN's
  discriminator and generator, each ``backward(); step()``) are one training each, in one
  run, never averaged together. Each is named after the module it trains (the smallest module
  holding all of its optimizer's parameters), by the variable or attribute that holds it in the
  training code (``netG``, ``self.generator`` -> ``generator``), else ``optimizer_<i>`` (in the
  order they first step). That name prefixes its metrics (``generator_training_loss``,
  ``generator_learning_rate``, ``generator_optimizer_steps``, ...), its params
  (``generator_optimizer``, ``generator_lr``, ``generator_model_class``,
  ``generator_lr_scheduler``, ...), and is its model's name (``runs:/<id>/generator``; no
  ``model``). Epoch timings, ``batch_size``, ``dataset_size``, ``device`` and ``dtype`` are the
  loop's, unprefixed. No ``validation_loss`` (the run's tag ``autolog.torch.validation`` and a
  warning say why): the losses computed without gradients cannot be told apart between the
  trainings. An optimizer with losses of its own that first steps after the params were
  logged gets its prefix; the first training keeps its bare names (tag
  ``autolog.torch.trainings``).
- step metrics, one step per epoch (step = epoch index from 0):

  ``training_loss``        mean of the losses the user trains on: the scalar tensors
                           ``backward()`` was called on (summed on their device, read with one
                           sync per epoch), taken before GradScaler's scale (the tensor
                           ``scaler.scale(loss)`` returned counts as ``loss``) and before a
                           gradient accumulation's division: where an optimizer step follows
                           k ``backward()`` calls on a loss multiplied by 1/k (``(loss /
                           4).backward()``, a step every 4 batches), each counts undivided
                           (the constant is read from the autograd graph, never from the
                           device). A loss multiplied by a constant with one ``backward()``
                           per step is what is trained on, and counts as it is. Several
                           ``backward()`` calls on one DataLoader batch (a DCGAN
                           discriminator's real and fake losses) add up to that batch's loss.
                           With ``closure`` optimizers (LBFGS), every evaluation of the
                           closure. Where it cannot be told (several ``backward()`` calls per
                           step on losses times constants that differ, or that are tensors on
                           a GPU), no ``training_loss``: tag ``autolog.torch.training_loss``
                           and a warning say why.
  ``validation_loss``      mean of the torch loss values (``torch.nn.functional`` losses and
                           torch's loss modules; a ``reduction="sum"`` loss divided by its
                           number of terms) computed under ``no_grad``/``inference_mode``, or
                           with the model in ``eval()`` mode and no ``backward()`` on them,
                           between two training steps; logged at the step of the epoch in
                           progress, else of the one that just ended. Only where it is the
                           quantity trained on, in its units: where the training loss is the
                           value of one torch loss function averaged over its batch (maybe
                           scaled or divided as above), the losses of that function; losses
                           of other functions are not recorded (tag
                           ``autolog.torch.other_losses``). Where the training loss is anything
                           else (written by hand, a sum of terms such as a VAE's
                           reconstruction loss plus a KL term, reduced by sum, or times a
                           constant), no ``validation_loss`` or ``test_loss`` is recorded and
                           the run says why (tag ``autolog.torch.validation``, and a warning)
  ``learning_rate``        of param group 0 at the epoch's end (``learning_rate_group_<j>``,
                           ``learning_rate_<i>`` for other groups and optimizers)
  ``epoch_time``           seconds from ``iter(loader)`` to its exhaustion (or to the step on
                           its last batch, where a wrapper reads one batch ahead)
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
  steps happen. A pass ends when its iterator is exhausted and something that is no part of
  it happens (an evaluation loss, another DataLoader's pass or batch, the run's end): a
  wrapper that reads one batch ahead (accelerate's ``DataLoaderShard``, a prefetching
  generator) exhausts the DataLoader before the loop trains on its last batch, and that batch
  still belongs to the epoch. A pass also ends when the same DataLoader starts a new pass (a
  loop left with ``break``), or when the run ends.
- **Loops without a DataLoader** (tensors sliced by hand, full-batch training): where the
  training loss's target is a slice of one tensor (``y[i:i + n]``, ``y.split(n)``, or the
  whole tensor), an epoch is a pass over that tensor, told by the slices' offsets starting over
  (full-batch training: one epoch per step). Otherwise (fresh tensors every step, losses not
  computed by a torch loss function) no epoch can be told: an "epoch" is a window of
  ``window_steps`` optimizer steps (default 100), the last window partial when the run ends, and
  the run says so once (tag ``autolog.torch.epochs``, and a warning). Per epoch or window:
  ``training_loss``, ``learning_rate``, ``epoch_time`` (from the end of the previous epoch's
  last optimizer step, or from the first ``backward()``, to the end of its own last step: a
  full-batch LBFGS epoch includes every closure evaluation of its step) and
  ``optimizer_steps``; ``validation_loss`` as above. No
  ``data_time``, ``compute_time``, ``samples_per_second``, ``batch_size`` or ``dataset_size``:
  nothing tells autolog what a batch is.
- **Loops that update the weights by hand** (no ``torch.optim`` optimizer:
  ``p.data.add_(p.grad, alpha=-lr)`` after ``model.zero_grad()`` and ``backward()``): the run
  opens at the first ``zero_grad()`` of a module that follows a ``backward()``, and every
  ``backward()`` is a step; ``optimizer`` is ``manual`` and there is no ``learning_rate`` (tag
  ``autolog.torch.weights`` says so). A loop that calls ``backward()`` without either an
  optimizer step or a module's ``zero_grad()`` records nothing, and a warning says so once it
  has called ``backward()`` 256 times.
- artifacts: checkpoints written during training, in every format: files written with
  ``torch.save(obj, path)`` (or to a file opened for writing: ``with open(path, "wb") as f:
  torch.save(obj, f)``), ``safetensors.torch.save_file`` / ``save_model``, and folders written
  by ``PreTrainedModel.save_pretrained`` (logged whole, with what is saved beside the model,
  a tokenizer say; a tokenizer alone is no checkpoint). A file is ``checkpoints/<file name>``;
  a folder, and a file in a numbered folder (``out/checkpoint-16/``, ``epoch_3/``) or sharing
  its name with another checkpoint's, ``checkpoints/<folder name>/...``; a checkpoint saved
  again under its name keeps its latest version. Bounded by ``max_checkpoints`` (default 5;
  0: none): the newest N and the best (lowest ``validation_loss`` of the epoch it was saved
  in; without validation, the newest only). No artifact store can delete, so checkpoints are
  set aside when written (hard links, no copy; a copy across file systems) and only those
  kept are logged, when the run ends however it ends (a process killed outright logs none).
  Inside the Hugging Face Trainer its own integration records them. See
  ``integrations/_checkpoints.py``. At the end the final model as ``model`` with the "torch"
  flavor: ``state_dict.pt`` (CPU tensors, loadable with ``torch.load(..., weights_only=True)``;
  the very bytes of a ``torch.save``'d checkpoint that holds the same weights, so the store
  keeps them once) and ``model.pkl`` (the module, cloudpickled without its weights, which it
  takes from ``state_dict.pt`` on the CPU), which ``autolog.load_model`` returns. The model
  is found among the local variables (one level deep, e.g. ``self.model``) and module globals
  of the code calling ``optimizer.step()``: the module holding most of the optimizer's
  parameters. autolog holds it until the run ends. Its **signature** and **input example**:
  the tensor the model is first called with in training after the run opens (``model(x)``,
  gradients on), its first 5 rows as the example, shape (``-1`` for the rows) and dtype as the
  input, and the model's output on those rows when it is logged (``no_grad``, each module's
  mode and torch's random state put back). A model called with anything else (several
  arguments, keywords, a dict), or never called after its first optimizer step, has none.
- distributed training: only rank 0 records (``torch.distributed`` if initialised, else
  ``$RANK``, else ``$LOCAL_RANK``); DataLoader workers never record.
- worker processes (``multiprocessing`` / ``torch.multiprocessing`` with any start method,
  ``torch.multiprocessing.spawn``; Hogwild): each logs into the run of the process that started
  it, its series named after it (``training_loss/worker_0``); see
  ``integrations/_workers.py``.

How: torch's global optimizer step post-hook; ``torch.autograd.backward`` (which
``Tensor.backward`` calls) for the losses — torch has no global hook that sees the tensor
``backward()`` starts from; ``GradScaler.scale`` for the loss it scales;
``Optimizer.__init__`` for the hyperparameters as constructed; the ``torch.nn.functional``
loss functions for validation losses, the training loss's value and the training targets'
slices (cheaper than a global module forward hook, which moves
every module call to torch's slow path, and it also sees functional losses);
``DataLoader.__iter__`` and the iterator's ``__next__`` for epochs and timings;
``nn.Module.zero_grad`` for loops that update weights by hand; ``torch.save`` for
checkpoints; ``sys.excepthook`` and ``threading.excepthook`` to learn that training died.

Cost: per optimizer step, three wrapped calls (a DataLoader batch, the loss function,
``backward``; one more for each of ``model.zero_grad()`` and ``GradScaler.scale``) through
the patching firewall and the step hook: a few microseconds each, no device synchronisation
(the loss function's value is told at ``backward()`` by its autograd node's class, learnt from
the function's first value, so the loss function's hook has no after; a constant a loss is
multiplied by is read from the node, a CPU scalar); measured as thread time on a tiny model
(``Linear(4, 2)``, batch 8) at about 35-40 us per step, most of it the wrapping itself; once
per run, finding the model and logging it.

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
    #: checkpoints logged per run: the newest N and the best (0: none)
    max_checkpoints: int = 5


class _Torch:
    name = "torch"
    framework = "torch"

    def make_options(self, options: dict[str, Any]) -> TorchOptions:
        made: TorchOptions = typed_options("torch", TorchOptions, options, {"window_steps": 1})
        return made

    def patch(self, patcher: Patcher) -> None:
        from autolog.integrations import _torch_lightning, _torch_loop, _workers

        _torch_loop.install(patcher)
        _workers.install(patcher)
        for module in _torch_lightning.TRAINER_MODULES:
            patcher.when_imported(
                module, lambda imported: _torch_lightning.install(patcher, imported)
            )


INTEGRATION = _Torch()


class TorchFlavor:
    """A ``torch.nn.Module``: its state dict (``state_dict.pt``) and the pickled module."""

    name = "torch"

    def save(self, model: object) -> dict[str, bytes]:
        import torch

        from autolog.integrations import _checkpoints

        if not isinstance(model, torch.nn.Module):
            raise InvalidInputError(f"the torch flavor saves torch.nn.Module, not {model!r}")
        current = model.state_dict()
        # one copy of the bytes: a checkpoint file holding exactly these weights is reused
        data = _checkpoints.state_dict_file(current)
        if data is None:
            state = {
                key: value.detach().cpu() if isinstance(value, torch.Tensor) else value
                for key, value in current.items()
            }
            buffer = io.BytesIO()
            torch.save(state, buffer)
            data = buffer.getvalue()
        # the module without its weights: they are state_dict.pt's
        return {"state_dict.pt": data, "model.pkl": _checkpoints.dumps_module(model)}

    def load(self, files: Mapping[str, bytes], meta: Mapping[str, Any]) -> object:
        from autolog.integrations import _checkpoints

        if "model.pkl" not in files:  # imported from MLflow: the module torch.save'd whole
            import torch

            whole = io.BytesIO(files["model.pth"])
            return torch.load(whole, map_location="cpu", weights_only=False)
        return _checkpoints.loads_module(files["model.pkl"], files.get("state_dict.pt"))

    def predict(self, model: Any, data: Any) -> Any:
        """The module's output on ``data`` (an array), in evaluation mode and without
        gradients, on the module's device, as a NumPy array. Every submodule's mode is put
        back: a signature taken while training changes nothing of it."""
        import torch

        from autolog.integrations._torch_inputs import restored

        parameter = next(model.parameters(), None)
        device = parameter.device if parameter is not None else torch.device("cpu")
        inputs = torch.as_tensor(data, device=device)
        if parameter is not None and inputs.is_floating_point():
            inputs = inputs.to(parameter.dtype)
        with restored(model), torch.no_grad():
            model.eval()
            output = model(inputs)
        if isinstance(output, torch.Tensor):
            return output.detach().cpu().numpy()
        return output


#: the flavor's entry point (group ``autolog.flavors``, in pyproject.toml)
FLAVOR = TorchFlavor()
