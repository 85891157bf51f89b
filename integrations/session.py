"""Training sessions: which run an intercepted training call records into.

The outermost training call of a context opens a session; calls made while it is open (a
Pipeline fitting its steps, a search fitting clones, ``LGBMClassifier.fit`` calling
``lightgbm.train``) see it through ``current()`` and add to it or stay silent, so one training
makes one run. Sessions live in a ``ContextVar``: threads that train independently get one
session, and one run, each.

Run ownership:

- no active run: the session starts a run and ends it FINISHED, or FAILED if training raised
  (KILLED for KeyboardInterrupt, as everywhere);
- inside a user's run: the first session logs into it and never ends it; later sessions (and
  every session with ``exclusive=True``) start nested child runs.

A hook gets its session with ``training_session(call)`` in a ``with`` block, which ends the
run on the way out however the block is left (see ``Session.__exit__``).
"""

from __future__ import annotations

import contextvars
import threading
from collections.abc import Callable, Mapping
from types import TracebackType
from typing import TYPE_CHECKING, Any

import autolog
from autolog.errors import ParamCollisionError
from autolog.runs import end_status

if TYPE_CHECKING:  # patching imports this module: the types only, to keep imports one way
    from autolog.integrations.patching import Call, Settings

__all__ = ["Session", "current", "open_session", "training_session"]


class Session:
    """One training call's run and what nested calls may share with it."""

    __slots__ = (
        "_active",
        "_call",
        "_token",
        "client",
        "experiment_id",
        "integration",
        "notes",
        "owned",
        "run_id",
        "settings",
        "tags",
    )

    def __init__(
        self,
        integration: str,
        settings: Settings,
        run_id: str,
        experiment_id: str,
        *,
        owned: bool,
        active: autolog.ActiveRun | None = None,
    ) -> None:
        self.integration = integration
        self.settings = settings
        self.run_id = run_id
        self.experiment_id = experiment_id
        self.tags: Mapping[str, Any] | None = None
        self.owned = owned
        self.client = autolog.Client(autolog.get_tracking_uri())
        #: free-form notes nested calls leave for the outer one (e.g. "iterations logged")
        self.notes: dict[str, Any] = {}
        self._active = active
        self._token: contextvars.Token[Session | None] | None = None
        self._call: Call | None = None

    def log_params(self, params: Mapping[str, Any]) -> None:
        """Log params into the session's run. When the session borrowed a user's run that
        already holds one of them with another value, the session moves to a nested child run
        (and logs everything after this there) instead of failing."""
        try:
            self.client.log_params(self.run_id, params)
        except ParamCollisionError:
            if self.owned:
                raise
            run = autolog.start_run(nested=True, tags=self.tags)
            self.run_id, self.owned, self._active = run.info.run_id, True, run
            self.client.log_params(self.run_id, params)

    def enter(self) -> Session:
        """Make this the current session of the context."""
        self._token = _current.set(self)
        return self

    def close(self, error: BaseException | None = None) -> None:
        """Leave the session; end its run if the session started it (FAILED with an error,
        KILLED for ``KeyboardInterrupt``: ``autolog.runs.end_status``).
        Closing twice is harmless."""
        if self._token is not None:
            token, self._token = self._token, None
            _current.reset(token)
        active, self._active = self._active, None
        if self.owned and active is not None:
            active.end(end_status(error))

    def __enter__(self) -> Session:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        """Close the session. The run ends FAILED when training raised, or when the hook
        failed before training ran; FINISHED when training returned, even if recording what
        it returned failed (the firewall reports that failure; the training itself was fine).
        The exception propagates."""
        call = self._call
        trained = exc is None or (call is not None and call.returned is True)
        self.close(None if trained else exc)


_current: contextvars.ContextVar[Session | None] = contextvars.ContextVar(
    "autolog_session", default=None
)
# User runs a session has already logged into: the next session nests a child run instead.
_claimed: set[str] = set()
_claimed_lock = threading.Lock()


#: ``current()``: the session of the training call in progress in this context, if any. The
#: ContextVar's own ``get``, not a function around it: hooks of per-batch calls ask at every
#: call.
current: Callable[[], Session | None] = _current.get


def training_session(
    call: Call,
    *,
    run_name: str | None = None,
    tags: Mapping[str, Any] | None = None,
) -> Session:
    """The session, and run, of an outermost training call (see ``patching.outermost``).

    Use it in a ``with`` block around the hook's ``yield``: the session is current while the
    original runs, so nested calls see it, and the block leaves it and ends the run however
    it is left, so no exception leaves a session current or a run open::

        def fit_hook(call: Call) -> HookGenerator:
            if not outermost(call, "xgboost"):
                return
            with training_session(call, tags={"autolog.estimator": "Booster"}) as session:
                booster = yield call.args, call.kwargs
                session.client.log_metric(session.run_id, "rounds", booster.num_boosted_rounds())
    """
    session = open_session(call.integration, call.settings, run_name=run_name, tags=tags)
    session._call = call
    return session


def open_session(
    integration: str,
    settings: Settings,
    *,
    run_name: str | None = None,
    tags: Mapping[str, Any] | None = None,
    detached: bool = False,
) -> Session:
    """Open the session of an outermost training call and make it current.

    A ``detached`` session's run is not made the active run: it may outlive the call (e.g.
    ``partial_fit`` steps) and is ended by its integration with ``Client.set_terminated``.
    """
    user_run = autolog.active_run()
    session: Session
    if user_run is not None and not settings.exclusive:
        run_id = user_run.info.run_id
        with _claimed_lock:
            first = run_id not in _claimed
            _claimed.add(run_id)
        if first:
            session = Session(
                integration, settings, run_id, user_run.info.experiment_id, owned=False
            )
            session.tags = tags
            if tags:
                session.client.set_tags(run_id, tags)
            return session.enter()
    if detached:
        client = autolog.Client(autolog.get_tracking_uri())
        made = client.create_run(
            None if user_run else autolog.get_experiment_name(),
            experiment_id=user_run.info.experiment_id if user_run else None,
            run_name=run_name,
            tags=tags,
            parent_run_id=user_run.info.run_id if user_run else None,
        )
        info = made.info
        return Session(integration, settings, info.run_id, info.experiment_id, owned=True).enter()
    run = autolog.start_run(run_name=run_name, tags=tags, nested=user_run is not None)
    info = run.info
    return Session(
        integration, settings, info.run_id, info.experiment_id, owned=True, active=run
    ).enter()
