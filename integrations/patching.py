"""Patching for every integration: the only module that imports wrapt.

An integration describes *what* to record; this module decides *how* it reaches the
framework:

- ``Patcher.wrap(owner, name, hook)`` replaces ``owner.name`` with a wrapt ``FunctionWrapper``
  whose wrapper is the firewall below; ``Patcher.revert()`` puts the exact original objects back.
- ``Patcher.when_imported(module, callback)`` runs a callback when a module is imported (at
  once if it already is), so ``autolog()`` works before or after ``import sklearn``.
- The firewall: a hook is a generator. The code before its ``yield`` runs before the training
  call, the code after it runs with the result; if training raises, the exception is thrown into
  the generator so the hook can record the failure, and then re-raised unchanged. An exception
  raised by the hook itself becomes one ``AutologWarning`` (none when ``silent``) and the
  training call runs exactly once all the same. ``AUTOLOG_STRICT=1`` (the test suite) re-raises
  the hook's exceptions instead, so no test can pass over a swallowed error.
"""

from __future__ import annotations

import contextvars
import functools
import logging
import os
import sys
import threading
from collections.abc import Callable, Generator, Iterable, Mapping
from typing import Any, NamedTuple, Protocol, runtime_checkable

import wrapt

from autolog.errors import IntegrationError, InvalidInputError
from autolog.writer import warn

__all__ = [
    "Call",
    "Hook",
    "Integration",
    "Patcher",
    "Settings",
    "in_hook",
    "notify",
    "report",
    "strict",
]

logger = logging.getLogger(__name__)


class Settings(NamedTuple):
    """What ``autolog()`` was called with, as one integration sees it."""

    log_models: bool = True
    exclusive: bool = False
    silent: bool = False
    disable: bool = False
    options: Any = None  # the integration's own options object


class Call(NamedTuple):
    """One intercepted call of a patched function or method."""

    integration: str
    name: str  # qualified name of what was called, e.g. "LogisticRegression.fit"
    instance: Any  # the bound instance, or None for plain functions
    args: tuple[Any, ...]
    kwargs: dict[str, Any]
    settings: Settings
    #: module of the code that made the call ("" if unknown): tells user code from the
    #: framework's own internal uses
    caller: str = ""


#: A hook receives the call and yields once: (args, kwargs) to call the original with. It then
#: receives the result (or has the training exception thrown into it). Returning before the
#: yield declines the call: the original runs untouched.
Hook = Callable[[Call], Generator[tuple[tuple[Any, ...], dict[str, Any]], Any, None]]


@runtime_checkable
class Integration(Protocol):
    """A framework integration: registered once, patched when its framework is imported."""

    name: str
    #: the top-level module whose import triggers ``patch``
    framework: str

    def make_options(self, options: dict[str, Any]) -> Any:
        """Validate this integration's own ``autolog()`` options; raise InvalidInputError."""
        ...

    def patch(self, patcher: Patcher) -> None:
        """Wrap the framework's training entry points with ``patcher.wrap``."""
        ...


_in_hook: contextvars.ContextVar[bool] = contextvars.ContextVar("autolog_in_hook", default=False)
_settings: dict[str, Settings] = {}


def typed_options(
    integration: str, cls: Any, options: dict[str, Any], minimums: Mapping[str, int] | None = None
) -> Any:
    """An integration's options object (a NamedTuple with defaults) from ``autolog()``'s dict,
    checked by the type of each default: flags are bools, counts are ints >= their minimum."""
    try:
        made = cls(**options)
    except TypeError as exc:
        raise InvalidInputError(f"{integration} options: {exc}") from None
    for field, default in cls._field_defaults.items():
        value = getattr(made, field)
        if isinstance(default, bool):
            if not isinstance(value, bool):
                raise InvalidInputError(f"{integration} {field} takes True or False, not {value!r}")
        elif isinstance(default, int):
            least = (minimums or {}).get(field, 0)
            if isinstance(value, bool) or not isinstance(value, int) or value < least:
                raise InvalidInputError(
                    f"{integration} {field} must be an int >= {least}, not {value!r}"
                )
    return made


def made_by(call: Call, *packages: str) -> bool:
    """Whether the code that made ``call`` belongs to one of ``packages`` (the frameworks' own
    internal calls), a framework's test modules excepted: those train as users do."""
    caller = call.caller
    return caller.startswith(tuple(f"{p}." for p in packages)) and ".tests." not in caller


def in_hook() -> bool:
    """True while autolog's own hook code runs (calls it makes are not recorded)."""
    return _in_hook.get()


def strict() -> bool:
    return os.environ.get("AUTOLOG_STRICT", "") not in ("", "0")


def report(integration: str, exc: BaseException, settings: Settings | None) -> None:
    """An exception in our code: re-raise under strict mode, else warn once and go on."""
    if strict():
        raise exc
    logger.debug("autolog %s integration failed", integration, exc_info=exc)
    if settings is None or not settings.silent:
        warn(
            f"autolog: the {integration} integration failed to record this call "
            f"({type(exc).__name__}: {exc}); training was not affected",
            stacklevel=5,
        )


def notify(integration: str, message: str, settings: Settings | None) -> None:
    """Tell the user something about what the integration recorded (or could not): one
    ``AutologWarning``, none when ``silent``."""
    if settings is None or not settings.silent:
        logger.debug("autolog %s integration: %s", integration, message)
        warn(message, stacklevel=4)


def _run_hook(
    gen: Generator[Any, Any, None], step: Callable[[], Any], call: Call
) -> tuple[bool, Any]:
    """Advance the hook with ``step`` as our own code; (True, value) if it yielded."""
    token = _in_hook.set(True)
    try:
        return True, step()
    except StopIteration:
        return False, None
    finally:
        _in_hook.reset(token)


def _firewall(integration: str, qualname: str, hook: Hook) -> Callable[..., Any]:
    def wrapper(wrapped: Any, instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        settings = _settings.get(integration)
        if settings is None or settings.disable or _in_hook.get():
            return wrapped(*args, **kwargs)
        # wrapt's C wrapper adds no frame: frame 1 is whoever called the patched function.
        # There is none when the interpreter calls it directly (sys.excepthook).
        try:
            caller = sys._getframe(1).f_globals.get("__name__", "")
        except ValueError:
            caller = ""
        call = Call(integration, qualname, instance, args, kwargs, settings, caller)
        started = _start(call, hook)
        if started is None:
            # called outside any ``except`` block, so a failure of ours never becomes the
            # __context__ of the user's own exception
            return wrapped(*args, **kwargs)
        gen, call_args, call_kwargs = started
        try:
            result = wrapped(*call_args, **call_kwargs)
        except BaseException as error:
            traceback = error.__traceback__  # gen.throw would add our frames to it
            _finish(call, gen, functools.partial(gen.throw, error), error)
            raise error.with_traceback(traceback)  # noqa: B904 - the same exception, not a new one
        _finish(call, gen, functools.partial(gen.send, result), None)
        return result

    return wrapper


def _start(
    call: Call, hook: Hook
) -> tuple[Generator[Any, Any, None], tuple[Any, ...], dict[str, Any]] | None:
    """Run the hook up to its yield: (generator, args, kwargs), or None to call untouched."""
    try:
        gen = hook(call)
        yielded, value = _run_hook(gen, gen.__next__, call)
        if not yielded:
            return None
        call_args, call_kwargs = value
        return gen, tuple(call_args), dict(call_kwargs)
    except Exception as exc:  # our bug: train as if we were not here
        report(call.integration, exc, call.settings)
        return None


def _finish(
    call: Call,
    gen: Generator[Any, Any, None],
    step: Callable[[], Any],
    error: BaseException | None,
) -> None:
    """Run the hook after training: ``step`` sends the result or throws the user's error."""
    try:
        again, _ = _run_hook(gen, step, call)
        if again:
            gen.close()
            raise IntegrationError(call.integration, f"the hook of {call.name} yielded twice")
    except BaseException as raised:
        if raised is error:
            return  # the hook recorded the failure and passed the user's exception on
        if not isinstance(raised, Exception):
            raise  # KeyboardInterrupt and friends are not ours to swallow
        report(call.integration, raised, call.settings)


class _BoundPatched(wrapt.BoundFunctionWrapper):  # type: ignore[type-arg]
    def __reduce_ex__(self, protocol: Any) -> Any:
        # A bound method pickles as "getattr(instance, name)", exactly like an unpatched one;
        # the method taken from the class as "getattr(class, name)".
        instance = self._self_instance
        owner = instance if instance is not None else self._self_owner
        return getattr, (owner, self.__name__)


class _Patched(wrapt.FunctionWrapper):  # type: ignore[type-arg]
    """The wrapper put in place of a patched function; pickles as the function it wraps."""

    __bound_function_wrapper__ = _BoundPatched

    def __reduce_ex__(self, protocol: Any) -> Any:
        # Functions and classes pickle by qualified name: the module attribute is this wrapper
        # while patched, and the original after revert or in another process.
        return self.__wrapped__.__qualname__

    def __copy__(self) -> _Patched:
        return self

    def __deepcopy__(self, memo: Any) -> _Patched:
        return self


class Patcher:
    """The patches of one integration, and the means to undo them."""

    def __init__(self, integration: str) -> None:
        self.integration = integration
        self._patches: list[tuple[Any, str, Any]] = []
        self._undo: list[Callable[[], None]] = []
        self._lock = threading.RLock()
        self.active = True

    def wrap(
        self,
        owner: Any,
        name: str,
        hook: Hook,
        *,
        aliases: Iterable[tuple[Any, str]] = (),
    ) -> bool:
        """Route calls of ``owner.name`` (defined in ``owner`` itself) through ``hook``.

        ``aliases`` are other ``(owner, name)`` places that re-export the same object (a
        function imported with ``from .engine import train``): each one that still holds the
        original gets the very same wrapper, so every route to the function is patched and it
        keeps pickling by its qualified name. Returns False when ``owner`` does not define
        ``name`` itself or it is patched already.
        """
        with self._lock:
            original = vars(owner).get(name)
            if original is None or isinstance(original, _Patched):
                return False
            qualname = f"{getattr(owner, '__qualname__', getattr(owner, '__name__', owner))}.{name}"
            wrapper = _Patched(original, _firewall(self.integration, qualname, hook))
            for place, attribute in [(owner, name), *aliases]:
                if vars(place).get(attribute) is original:
                    setattr(place, attribute, wrapper)
                    self._patches.append((place, attribute, original))
            return True

    def when_imported(self, module: str, callback: Callable[[Any], None]) -> None:
        """Call ``callback(module)`` once ``module`` is imported (now, if it already is)."""

        def hook(imported: Any) -> None:
            if not self.active:
                return  # wrapt keeps hooks forever; ours retire with a revert
            try:
                callback(imported)
            except Exception as exc:
                report(self.integration, exc, _settings.get(self.integration))

        wrapt.register_post_import_hook(hook, module)

    def on_revert(self, undo: Callable[[], None]) -> None:
        """Call ``undo`` at ``revert()``: for hooks registered through a framework's own API
        (torch's global optimizer hooks, say) rather than with ``wrap``."""
        with self._lock:
            self._undo.append(undo)

    def revert(self) -> None:
        """Put every original object back and undo every ``on_revert``, newest first."""
        with self._lock:
            self.active = False
            while self._patches:
                owner, name, original = self._patches.pop()
                setattr(owner, name, original)
            while self._undo:
                undo = self._undo.pop()
                try:
                    undo()
                except Exception as exc:
                    report(self.integration, exc, _settings.get(self.integration))

    @property
    def patched(self) -> list[tuple[Any, str]]:
        return [(owner, name) for owner, name, _ in self._patches]


# -- registry and configuration -------------------------------------------------------------

_registry: dict[str, Integration] = {}
_patchers: dict[str, Patcher] = {}
_lock = threading.RLock()


def register(integration: Integration, *, replace: bool = False) -> None:
    """Make an integration known to ``autolog()``; a malformed or duplicate one fails here."""
    name = getattr(integration, "name", None)
    if not isinstance(name, str) or not name.isidentifier():
        raise IntegrationError(repr(integration), "an integration needs an identifier as .name")
    framework = getattr(integration, "framework", None)
    if not isinstance(framework, str) or not all(p.isidentifier() for p in framework.split(".")):
        raise IntegrationError(name, f"framework must be a module name, not {framework!r}")
    for method in ("patch", "make_options"):
        if not callable(getattr(integration, method, None)):
            raise IntegrationError(name, f"an integration needs a {method}() method")
    with _lock:
        existing = _registry.get(name)
        if existing is not None and existing is not integration and not replace:
            raise IntegrationError(name, "an integration with this name is already registered")
        _registry[name] = integration


def registered() -> dict[str, Integration]:
    return dict(_registry)


def configure(name: str, settings: Settings) -> None:
    """Apply ``settings`` to the registered integration ``name``: patch, reconfigure or undo."""
    with _lock:
        integration = _registry[name]
        _settings[name] = settings
        patcher = _patchers.get(name)
        if settings.disable:
            if patcher is not None:
                patcher.revert()
                del _patchers[name]
            return
        if patcher is not None:
            return  # already patched (or waiting for the import): new settings apply now
        patcher = _patchers[name] = Patcher(name)

    def apply(module: Any) -> None:
        integration.patch(patcher)

    patcher.when_imported(integration.framework, apply)


def current_settings(name: str) -> Settings | None:
    return _settings.get(name)


def patcher_of(name: str) -> Patcher | None:
    return _patchers.get(name)
