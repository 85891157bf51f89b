"""What a trained torch module takes and gives: its first input seen in training, kept as an
input example, and the signature it shows.

Shared by plain loops (``_torch_loop.py``) and Lightning (``_torch_lightning.py``). The input
is caught by a forward pre-hook on the one module being trained, registered once the module is
known and removed by its first call in training (gradients on): one call of that module takes
torch's slower hooked path, every other call and every other module keeps the fast path. The
first rows are cloned on their device (no device synchronisation in the training loop); they
are copied to the CPU, and the module run on them, only when the model is logged.

Only a module called with one tensor (``model(x)``) has an input that a signature can describe
and a predictor can give back: a module called with several arguments, keywords, a dict or a
tuple gets no signature, and nothing is guessed.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import torch
from torch import nn

from autolog.integrations.patching import CallbackFirewall, Settings
from autolog.signatures import EXAMPLE_ROWS

__all__ = ["FirstInput", "batch_input", "logged_with", "output_of", "restored"]


class FirstInput:
    """The first rows of the one tensor ``module`` is called with in training (gradients on),
    caught by a forward pre-hook that removes itself at that call."""

    def __init__(self, module: nn.Module, integration: str, settings: Settings | None) -> None:
        self.rows: torch.Tensor | None = None
        #: the module was called in training with something other than one tensor
        self.other = False
        # our bug in the hook loses the signature, never the training or the run
        self._guard: CallbackFirewall | None = CallbackFirewall(integration, settings)
        self._handle = module.register_forward_pre_hook(self._hook, with_kwargs=True)

    def _hook(self, module: nn.Module, args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
        # an evaluation (no_grad, inference_mode) waits; so does a call traced by
        # torch.compile (a module called inside a compiled one): only eager calls are seen
        guard = self._guard
        if guard is not None and torch.is_grad_enabled() and not torch.compiler.is_compiling():
            guard(self._take, args, kwargs)
        # returning nothing leaves the call's arguments as they are

    # A module copied or pickled while its hook waits (an EMA copy, a torch.save of the whole
    # module) takes a hook that does nothing, and none of this object's state.
    def __deepcopy__(self, memo: dict[int, Any]) -> FirstInput:
        return _inert()

    def __reduce__(self) -> tuple[Any, ...]:
        return (_inert, ())

    def _take(self, args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
        self.close()
        rows = batch_input(args[0]) if len(args) == 1 and not kwargs else None
        if rows is None:
            self.other = True
        self.rows = rows

    def close(self) -> None:
        """Remove the hook (the module's next call takes torch's fast path again)."""
        self._handle.remove()


def _inert() -> FirstInput:
    """A FirstInput whose hook does nothing (see ``FirstInput.__reduce__``)."""
    inert = FirstInput.__new__(FirstInput)
    inert.rows, inert.other, inert._guard = None, False, None
    return inert


def batch_input(value: Any) -> torch.Tensor | None:
    """The first rows of ``value`` where it is one dense tensor with a row dimension, cloned
    on its device (asynchronous: no device sync); else None."""
    if not isinstance(value, torch.Tensor) or value.layout != torch.strided or value.dim() < 1:
        return None
    return value[:EXAMPLE_ROWS].detach().clone()


def logged_with(
    model: nn.Module, rows: torch.Tensor | None, *, called: bool = True
) -> dict[str, Any]:
    """The ``input_example`` and ``signature`` arguments of ``log_model`` for ``model``
    trained on inputs like ``rows``: empty where there are none, or where NumPy cannot hold
    their dtype (bfloat16). The output is ``model``'s on those rows now (see ``output_of``).
    ``called``: ``model`` was seen called with such rows; where it cannot run on them now,
    the signature has inputs only. Else (rows read off a batch) only a model that runs on
    them gets a signature: the run is what shows that it takes them."""
    from autolog import signatures

    if rows is None:
        return {}
    try:
        example = rows.cpu().numpy()
    except TypeError:  # a dtype NumPy has no name for: nothing a signature can say
        return {}
    inputs = signatures.describe(example)
    if inputs is None:
        return {}
    signature: dict[str, Any] = {"inputs": inputs}
    try:
        output = output_of(model, rows)
    except Exception as exc:  # the user's module, on rows it may not take: no output seen
        _logger().debug("autolog: %s does not run on its rows: %r", type(model).__name__, exc)
        if not called:
            return {}
        output = None
    outputs = signatures.describe(output)
    if outputs is not None:
        signature["outputs"] = outputs
    return {"input_example": example, "signature": signature}


def output_of(model: nn.Module, rows: torch.Tensor) -> Any:
    """``model``'s output on ``rows`` as a NumPy array (None where it is no single tensor
    NumPy can hold): in evaluation mode, without gradients, with every module's mode and
    torch's random state as they were, so that the user's training cannot tell it ran."""
    parameter = next(model.parameters(), None)
    if parameter is not None:
        rows = rows.to(parameter.device)  # a batch read before it was moved: where the model is
    devices = [rows.device] if rows.device.type == "cuda" else []
    with torch.random.fork_rng(devices=devices), torch.no_grad(), restored(model):
        model.eval()
        output = model(rows)
    if not isinstance(output, torch.Tensor):
        return None
    try:
        return output.detach().cpu().numpy()
    except TypeError:
        return None


def _logger() -> Any:
    import logging

    return logging.getLogger(__name__)


@contextmanager
def restored(model: nn.Module) -> Iterator[None]:
    """Put every submodule's training flag back as it was (``model.train(mode)`` would set
    one mode for all, undoing a frozen batch norm's ``eval()``)."""
    modes = [(module, module.training) for module in model.modules()]
    try:
        yield
    finally:
        for module, training in modes:
            module.training = training
