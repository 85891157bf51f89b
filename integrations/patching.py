"""Patching for every integration: the only module that imports wrapt.

An integration describes *what* to record; this module decides *how* it reaches the
framework, and keeps the rules every integration lives by (``docs/integrations.md`` walks
through them):

- ``Patcher.wrap(owner, name, hook)`` replaces ``owner.name`` with a wrapt ``FunctionWrapper``
  whose wrapper is the firewall below; ``Patcher.revert()`` puts the exact original objects back.
- ``Patcher.observe(owner, name, before, after)`` is the light path for calls made many times a
  second (a DataLoader's next batch, a loss function): two plain functions instead of a hook.
- ``Patcher.when_imported(module, callback)`` runs a callback when a module is imported (at
  once if it already is), so ``autolog()`` works before or after ``import sklearn``. Each
  module name gets one post-import hook in wrapt for the life of the process, however often
  ``autolog()`` is turned on and off.
- ``CallbackFirewall`` runs the callbacks a framework calls itself (LightGBM callbacks,
  Lightning callbacks, torch's global optimizer hook) under the same rules as hooks.

The firewall. A hook is a generator (``HookGenerator``). The code before its ``yield`` runs
before the training call; it yields ``(args, kwargs)`` to call the original with, or returns
without yielding to leave the call untouched. The code after the ``yield`` runs with the
result. The rule for exceptions:

- The training exception (raised by the user's code or the framework) is thrown into the hook
  at its ``yield`` so that the hook can record the failure; the hook lets it propagate (a
  ``with training_session(...)`` block ends the run FAILED on its way out). The caller always
  gets that very exception, unchanged: a hook can neither swallow nor replace it.
- An exception raised by the hook's own code is autolog's bug: it becomes one
  ``AutologWarning`` (none when ``silent``) and the training call runs exactly once all the
  same. ``AUTOLOG_STRICT=1`` (the test suite) re-raises it instead, so no test can pass over a
  swallowed error.
- A hook that breaks the contract (yields twice, swallows the training exception, or leaves a
  session it opened current) is reported the same way, as an ``IntegrationError`` naming the
  hook's file and line. A session a hook left current is closed by the firewall, so a failing
  hook never leaves a run open in the caller's context.

Warnings keep their source location. A framework's warning aimed at the caller of the patched
function (``warnings.warn(..., stacklevel=2)`` in it, or deeper in it with a larger stacklevel)
would name the wrapper's frame in this file, the frame between the caller and the framework.
While any integration is on, ``warnings._showwarnmsg`` (what every shown warning goes through,
under ``catch_warnings(record=True)`` too) moves such a warning to the wrapper's caller, where
it points unpatched. Filters and the once-per-location registry were applied before that, with
this module as the place (Python 3.12's ``skip_file_prefixes`` would do better, but only the
warning's issuer can pass it).
"""

from __future__ import annotations

import contextvars
import functools
import logging
import os
import sys
import threading
import warnings
from collections.abc import Callable, Generator, Iterable, Mapping
from typing import Any, NamedTuple, Protocol, TypeVar, runtime_checkable

import wrapt

from autolog.errors import IntegrationError, InvalidInputError, issue_warning, strict
from autolog.integrations.session import Session, current

__all__ = [
    "Call",
    "CallbackFirewall",
    "Hook",
    "HookGenerator",
    "Integration",
    "Patcher",
    "Settings",
    "current_settings",
    "in_hook",
    "made_by",
    "notify",
    "outermost",
    "register",
    "registered",
    "report",
    "strict",
    "typed_options",
]

logger = logging.getLogger(__name__)
T = TypeVar("T")


class Settings(NamedTuple):
    """What ``autolog()`` was called with, as one integration sees it."""

    log_models: bool = True
    exclusive: bool = False
    silent: bool = False
    disable: bool = False
    options: Any = None  # the integration's own options object


class Call:
    """One intercepted call of a patched function or method, as its hook sees it."""

    __slots__ = (
        "args",
        "caller",
        "instance",
        "integration",
        "kwargs",
        "name",
        "returned",
        "settings",
    )

    def __init__(
        self,
        integration: str,
        name: str,
        instance: Any,
        args: tuple[Any, ...],
        kwargs: dict[str, Any],
        settings: Settings,
        caller: str = "",
    ) -> None:
        self.integration = integration
        #: qualified name of what was called, e.g. "LogisticRegression.fit"
        self.name = name
        #: the bound instance, or None for plain functions
        self.instance = instance
        self.args = args
        self.kwargs = kwargs
        self.settings = settings
        #: module of the code that made the call ("" if unknown): tells user code from the
        #: framework's own internal uses (see ``made_by``)
        self.caller = caller
        #: None until the original ran: True once it returned, False once it raised
        self.returned: bool | None = None

    def __repr__(self) -> str:
        return f"<Call {self.integration}:{self.name} from {self.caller or '?'}>"


#: What a hook returns when called: a generator that yields once, ``(args, kwargs)`` to call
#: the original with, and receives the result (or has the training exception thrown into it).
#: Returning before the yield declines the call: the original runs untouched.
HookGenerator = Generator[tuple[tuple[Any, ...], dict[str, Any]], Any, None]
#: A hook: called with the ``Call`` at each intercepted call.
Hook = Callable[[Call], HookGenerator]


@runtime_checkable
class Integration(Protocol):
    """A framework integration: registered once, patched when its framework is imported.

    Built-in and third-party integrations alike are found through the ``autolog.integrations``
    entry-point group (``name = "package.module:INTEGRATION"``), or registered with
    ``register``.
    """

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


def outermost(call: Call, *packages: str) -> bool:
    """Whether ``call`` is an outermost training call: no session is open in this context
    (it is not nested in another recorded call) and none of ``packages`` made it (the
    frameworks' own internal calls, see ``made_by``). Such a call gets a session and a run
    with ``training_session``."""
    return current() is None and not made_by(call, *packages)


def in_hook() -> bool:
    """True while autolog's own hook code runs (calls it makes are not recorded)."""
    return _in_hook.get()


def report(integration: str, exc: BaseException, settings: Settings | None) -> None:
    """An exception in our code: re-raise under strict mode, else warn once and go on."""
    if strict():
        raise exc
    logger.debug("autolog %s integration failed", integration, exc_info=exc)
    if settings is None or not settings.silent:
        issue_warning(
            f"autolog: the {integration} integration failed to record this call "
            f"({type(exc).__name__}: {exc}); training was not affected",
            stacklevel=5,
        )


def notify(integration: str, message: str, settings: Settings | None) -> None:
    """Tell the user something about what the integration recorded (or could not): one
    ``AutologWarning``, none when ``silent``."""
    if settings is None or not settings.silent:
        logger.debug("autolog %s integration: %s", integration, message)
        issue_warning(message, stacklevel=4)


def current_settings(name: str) -> Settings | None:
    """The settings ``autolog()`` gave the integration ``name`` (None: never configured)."""
    return _settings.get(name)


# -- callbacks the framework calls itself ----------------------------------------------------


class CallbackFirewall:
    """Runs callbacks that the framework calls itself as autolog's own code.

    ``guard(fn, *args)`` returns ``fn(*args)``, with calls it makes to patched functions left
    unrecorded. The first exception of ``fn`` is reported (a warning, or raised in strict mode)
    and the guard goes quiet: later calls return None without calling anything, so a broken
    recorder costs the training nothing more, and says so once. ``KeyboardInterrupt`` and other
    ``BaseException`` pass through. One guard per training call, shared by its callbacks.

    Example::

        guard = CallbackFirewall("lightgbm", call.settings)
        def callback(env):
            guard(recorder.record, env)
    """

    __slots__ = ("failed", "integration", "settings")

    def __init__(self, integration: str, settings: Settings | None = None) -> None:
        self.integration = integration
        #: None: the integration's current settings, looked up when something fails
        self.settings = settings
        self.failed = False

    def __call__(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T | None:
        if self.failed:
            return None
        token = _in_hook.set(True)
        try:
            return fn(*args, **kwargs)
        except Exception as exc:
            self.failed = True
            report(self.integration, exc, self.settings or _settings.get(self.integration))
            return None
        finally:
            _in_hook.reset(token)


# -- the firewall ------------------------------------------------------------------------------


def _caller() -> str:
    """Module of the code that called the patched function (frame 2: ours are 0 and 1).

    wrapt's C extension calls our wrapper with no frame of its own; its pure-Python mode
    (``WRAPT_DISABLE_EXTENSIONS=1``, or no compiler at install) adds one or two, skipped here.
    There is no caller when the interpreter calls the function directly (sys.excepthook).
    """
    try:
        frame: Any = sys._getframe(2)
    except ValueError:
        return ""
    name: str = frame.f_globals.get("__name__", "")
    while name == "wrapt" or name.startswith("wrapt."):
        frame = frame.f_back
        if frame is None:
            return ""
        name = frame.f_globals.get("__name__", "")
    return name


def _where(gen: Generator[Any, Any, Any]) -> str:
    """The hook's file and line, for a report of a broken contract."""
    code = getattr(gen, "gi_code", None)  # a generator object's; any other iterator: none
    if code is None:
        return type(gen).__qualname__
    name = getattr(code, "co_qualname", code.co_name)  # co_qualname: Python 3.11+
    return f"{name} at {code.co_filename}:{code.co_firstlineno}"


def _run_hook(gen: Generator[Any, Any, None], step: Callable[[], Any]) -> tuple[bool, Any]:
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
        call = Call(integration, qualname, instance, args, kwargs, settings, _caller())
        before = current()
        started = _start(call, hook, before)
        if started is None:
            # called outside any ``except`` block, so a failure of ours never becomes the
            # __context__ of the user's own exception
            return wrapped(*args, **kwargs)
        gen, call_args, call_kwargs = started
        try:
            result = wrapped(*call_args, **call_kwargs)
        except BaseException as error:
            traceback = error.__traceback__  # gen.throw would add our frames to it
            call.returned = False
            _finish(call, gen, functools.partial(gen.throw, error), error, before)
            raise error.with_traceback(traceback)  # noqa: B904 - the same exception, not a new one
        call.returned = True
        _finish(call, gen, functools.partial(gen.send, result), None, before)
        return result

    return wrapper


def _start(
    call: Call, hook: Hook, before: Session | None
) -> tuple[Generator[Any, Any, None], tuple[Any, ...], dict[str, Any]] | None:
    """Run the hook up to its yield: (generator, args, kwargs), or None to call untouched."""
    try:
        gen = hook(call)
        yielded, value = _run_hook(gen, gen.__next__)
        if not yielded:
            if current() is not before:
                raise IntegrationError(
                    call.integration,
                    f"the hook of {call.name} ({_where(gen)}) declined the call but left "
                    "a session open",
                )
            return None
        call_args, call_kwargs = value
        return gen, tuple(call_args), dict(call_kwargs)
    except Exception as exc:  # our bug: train as if we were not here
        _close_sessions(before, exc)
        report(call.integration, exc, call.settings)
        return None


def _finish(
    call: Call,
    gen: Generator[Any, Any, None],
    step: Callable[[], Any],
    error: BaseException | None,
    before: Session | None,
) -> None:
    """Run the hook after training: ``step`` sends the result or throws the user's error."""
    try:
        again, _ = _run_hook(gen, step)
        if again:
            gen.close()
            raise IntegrationError(
                call.integration, f"the hook of {call.name} ({_where(gen)}) yielded twice"
            )
        if error is not None:
            raise IntegrationError(
                call.integration,
                f"the hook of {call.name} ({_where(gen)}) swallowed the training exception "
                f"({type(error).__name__}); hooks must let it propagate",
            )
        if current() is not before:
            raise IntegrationError(
                call.integration,
                f"the hook of {call.name} ({_where(gen)}) left its session open",
            )
    except BaseException as raised:
        _close_sessions(before, error)
        if raised is error:
            return  # the hook recorded the failure and passed the user's exception on
        if not isinstance(raised, Exception):
            raise  # KeyboardInterrupt and friends are not ours to swallow
        report(call.integration, raised, call.settings)


def _close_sessions(before: Session | None, error: BaseException | None) -> None:
    """Close every session opened since ``before`` was current (a hook that failed or
    forgot): the caller's context is left as it was, and runs opened for the call end."""
    session = current()
    while session is not None and session is not before:
        try:
            session.close(error)
        except Exception as exc:  # closing is best effort; the hook's failure is reported
            logger.debug("autolog: closing a session failed", exc_info=exc)
        if current() is session:
            break  # not ours to unwind (entered in another context)
        session = current()


def _observer(
    integration: str,
    before: Callable[[Any, tuple[Any, ...], dict[str, Any]], Any],
    after: Callable[[Any, Any, BaseException | None], None] | None,
) -> Callable[..., Any]:
    """The light path: no Call, no generator, no caller lookup, no session handling."""

    def wrapper(wrapped: Any, instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        settings = _settings.get(integration)
        if settings is None or settings.disable or _in_hook.get():
            return wrapped(*args, **kwargs)
        token = _in_hook.set(True)
        try:
            state = before(instance, args, kwargs)
        except Exception as exc:
            state = None
            report(integration, exc, settings)
        finally:
            _in_hook.reset(token)
        if state is None or after is None:
            return wrapped(*args, **kwargs)
        try:
            result = wrapped(*args, **kwargs)
        except BaseException as error:
            _observe_after(integration, settings, after, state, None, error)
            raise
        _observe_after(integration, settings, after, state, result, None)
        return result

    return wrapper


def _observe_after(
    integration: str,
    settings: Settings,
    after: Callable[[Any, Any, BaseException | None], None],
    state: Any,
    result: Any,
    error: BaseException | None,
) -> None:
    token = _in_hook.set(True)
    try:
        after(state, result, error)
    except Exception as exc:
        report(integration, exc, settings)
    finally:
        _in_hook.reset(token)


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


# -- warnings keep their source location -------------------------------------------------

_HERE = os.path.normcase(__file__)


def _relay(wrapped: Any, instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
    """``warnings._showwarnmsg``, wrapped: a warning placed at one of our wrappers' frames is
    moved to the code that called the wrapper (see the module docstring)."""
    message: Any = args[0] if args else None
    filename = getattr(message, "filename", None)
    if isinstance(filename, str) and os.path.normcase(filename) == _HERE:
        try:
            place = _callers_place(message.lineno)
        except Exception:  # never lose a warning over its location
            place = None
        if place is not None:
            message.filename, message.lineno = place
    return wrapped(*args, **kwargs)


def _callers_place(lineno: int) -> tuple[str, int] | None:
    """File and line of the caller of the innermost frame of this module at ``lineno`` on the
    current stack: the frame the warning named, and the code that called into the wrapper
    (wrapt's pure-Python frames and ours skipped)."""
    frame: Any = sys._getframe(1)
    while frame is not None and not (
        os.path.normcase(frame.f_code.co_filename) == _HERE and frame.f_lineno == lineno
    ):
        frame = frame.f_back
    if frame is None:
        return None  # a warning of this module's own code, shown later: leave it
    frame = frame.f_back
    while frame is not None and (
        os.path.normcase(frame.f_code.co_filename) == _HERE
        or frame.f_globals.get("__name__", "").partition(".")[0] == "wrapt"
    ):
        frame = frame.f_back
    if frame is None:
        return None
    return frame.f_code.co_filename, frame.f_lineno


def _relay_warnings(on: bool) -> None:
    """Put the relay in front of ``warnings._showwarnmsg`` (once), or take it away again
    when it is still there (something may have replaced it since)."""
    shown: Any = getattr(warnings, "_showwarnmsg", None)
    ours = isinstance(shown, wrapt.FunctionWrapper) and shown._self_wrapper is _relay
    if on and shown is not None and not ours:
        setattr(warnings, "_showwarnmsg", wrapt.FunctionWrapper(shown, _relay))  # noqa: B010
    elif not on and ours:
        setattr(warnings, "_showwarnmsg", shown.__wrapped__)  # noqa: B010


# -- post-import hooks: one per module name, for the life of the process ----------------------

# Callbacks of the active patchers waiting for a module's import, by module name.
_waiting: dict[str, list[tuple[Patcher, Callable[[Any], None]]]] = {}
# Module names our dispatcher is registered for in wrapt (which keeps hooks until the module
# is imported, and never removes one): each name is registered once, not once per autolog().
_watched: set[str] = set()
_import_lock = threading.RLock()


def _dispatch(module: Any) -> None:
    """wrapt's post-import hook: hand the module to the callbacks waiting for it."""
    name = module.__name__
    with _import_lock:
        _watched.discard(name)  # wrapt has dropped this hook: a re-import needs a new one
        waiting = _waiting.pop(name, [])
    for patcher, callback in waiting:
        patcher._imported(callback, module)  # outside the lock: the callback may import


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
        qualname = f"{getattr(owner, '__qualname__', getattr(owner, '__name__', owner))}.{name}"
        return self._put(owner, name, _firewall(self.integration, qualname, hook), aliases)

    def observe(
        self,
        owner: Any,
        name: str,
        before: Callable[[Any, tuple[Any, ...], dict[str, Any]], Any],
        after: Callable[[Any, Any, BaseException | None], None] | None = None,
        *,
        aliases: Iterable[tuple[Any, str]] = (),
    ) -> bool:
        """Watch calls of ``owner.name`` through the light path, for calls made many times a
        second (a DataLoader's next batch, a loss function) where a hook's generator and
        ``Call`` would cost more than the call itself.

        ``before(instance, args, kwargs)`` runs first and returns a state, or None to stay out
        of this call; with a state, ``after(state, result, error)`` runs once the original
        returned (``error`` None) or raised (``result`` None; the exception then propagates
        unchanged). They watch: the call's arguments and result are never changed. Both run as
        autolog's own code under the firewall's rules; neither sees a session being opened
        or may open one. Returns as ``wrap`` does.
        """
        return self._put(owner, name, _observer(self.integration, before, after), aliases)

    def _put(
        self, owner: Any, name: str, wrapper: Callable[..., Any], aliases: Iterable[tuple[Any, str]]
    ) -> bool:
        with self._lock:
            original = vars(owner).get(name)
            if original is None or isinstance(original, _Patched):
                return False
            patched = _Patched(original, wrapper)
            for place, attribute in [(owner, name), *aliases]:
                if vars(place).get(attribute) is original:
                    setattr(place, attribute, patched)
                    self._patches.append((place, attribute, original))
            return True

    def when_imported(self, module: str, callback: Callable[[Any], None]) -> None:
        """Call ``callback(module)`` once ``module`` is imported (now, if it already is).

        An exception of ``callback`` is reported as the integration's (see ``report``).
        Callbacks still waiting when the patcher is reverted are dropped.
        """
        with _import_lock:
            imported = sys.modules.get(module)
            if imported is None:
                _waiting.setdefault(module, []).append((self, callback))
                register = module not in _watched
                _watched.add(module)
        if imported is not None:
            self._imported(callback, imported)
        elif register:
            # Outside our lock: wrapt calls the hook at once if the module was imported since.
            wrapt.register_post_import_hook(_dispatch, module)

    def _imported(self, callback: Callable[[Any], None], module: Any) -> None:
        if not self.active:
            return
        try:
            callback(module)
        except Exception as exc:
            report(self.integration, exc, _settings.get(self.integration))

    def on_revert(self, undo: Callable[[], None]) -> None:
        """Call ``undo`` at ``revert()``: for hooks registered through a framework's own API
        (torch's global optimizer hooks, say) rather than with ``wrap``."""
        with self._lock:
            self._undo.append(undo)

    def revert(self) -> None:
        """Put every original object back, drop the callbacks still waiting for an import,
        and undo every ``on_revert``, newest first."""
        with self._lock:
            self.active = False
            with _import_lock:
                for module, waiting in list(_waiting.items()):
                    kept = [entry for entry in waiting if entry[0] is not self]
                    if kept:
                        _waiting[module] = kept
                    else:
                        del _waiting[module]
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
            if not _patchers:
                _relay_warnings(False)
            return
        _relay_warnings(True)
        if patcher is not None:
            return  # already patched (or waiting for the import): new settings apply now
        patcher = _patchers[name] = Patcher(name)

    def apply(module: Any) -> None:
        integration.patch(patcher)

    patcher.when_imported(integration.framework, apply)


def patcher_of(name: str) -> Patcher | None:
    return _patchers.get(name)
