"""What a client knows of the runs it writes to, and how it names and times new ones.

Kept apart from ``Client`` (its job: validate and queue) so the writer-side resolution of a
run's experiment (``Creation``) and the per-run state read on every ``log_metric`` are in one
place.
"""

from __future__ import annotations

import os
import threading
from collections import deque
from typing import TYPE_CHECKING, Any, Literal, Protocol, overload

from autolog import lifecycle
from autolog.entities import Experiment, Metric
from autolog.errors import InvalidInputError, NotFoundError, StoreUnavailableError

if TYPE_CHECKING:
    from autolog.stores.base import Store

__all__ = [
    "DEFAULT_START_TIMEOUT",
    "Creation",
    "ExperimentCache",
    "RunState",
    "check_run_id",
    "experiment_named",
    "random_bits",
    "run_name",
    "start_timeout",
]


class ExperimentCache(Protocol):
    """Where a client keeps the experiments the store gave it (a ``backends.Backend``)."""

    def remember(self, experiment: Experiment) -> Experiment: ...

    def forget(self, name: str) -> None: ...


#: default of ``$AUTOLOG_START_TIMEOUT``: how long starting a run may wait for the store
DEFAULT_START_TIMEOUT = 1.0


class RunState:
    """What this process knows of a run it writes to: enough to validate without I/O."""

    __slots__ = (
        "artifact_uri",
        "created",
        "creation",
        "digests",
        "experiment_id",
        "experiment_name",
        "last_heartbeat",
        "models",
        "next_step",
        "owned",
        "params",
        "queue",
        "tags",
        "unrecorded",
    )

    def __init__(
        self,
        artifact_uri: str | None,
        params: dict[str, str] | None,
        owned: bool,
        queue: deque[Metric],
    ) -> None:
        #: None until the run's experiment is known (a run started while the store was late)
        self.artifact_uri = artifact_uri
        self.queue = queue  # the writer's deque of this run's metric values
        self.params = params  # None: not known (a run made elsewhere, the store late)
        self.next_step: dict[str, int] = {}
        self.owned = owned
        self.last_heartbeat = 0.0
        self.experiment_id: str | None = None
        self.experiment_name: str | None = None
        #: set once the run is known to be in the store (or never will be)
        self.created = threading.Event()
        #: SHA-256 -> the artifact this process last wrote with those bytes (on the writer's
        #: file thread only): the same bytes again become a hard link to it (``same_bytes``)
        self.digests: dict[str, str] = {}
        #: paths of the models this process logged to the run (a first one at a path of a run
        #: of its own cannot be registered yet: its record may travel with the run's others)
        self.models: set[str] = set()
        #: paths of first models whose files are written and whose record is queued, not
        #: written yet: a model logged at the same path again waits for it
        self.unrecorded: set[str] = set()
        #: of a run this process started: ``Writer.create_run``'s arguments (its name, start,
        #: parent, first tags) and the tags set since, kept while it is live so that it can be
        #: created again in a store that lost it (a SQLite file deleted or replaced)
        self.creation: dict[str, Any] | None = None
        self.tags: dict[str, str] | None = None


class Creation:
    """What the writer thread needs to create a run whose experiment may not be known yet."""

    __slots__ = ("experiment", "experiment_id", "experiments", "name", "run_id", "state")

    def __init__(
        self,
        experiments: ExperimentCache,
        state: RunState,
        run_id: str,
        experiment: Experiment | None,
        name: str,
        experiment_id: str | None,
    ) -> None:
        self.experiments = experiments
        self.state = state
        self.run_id = run_id
        self.experiment = experiment
        self.name = name
        self.experiment_id = experiment_id

    def resolve(self, store: Store, arguments: dict[str, Any]) -> dict[str, Any]:
        """On the writer thread, just before the run is created: its experiment and place."""
        found = self.experiment
        if found is None:
            if self.experiment_id is not None:
                found = store.get_experiment(self.experiment_id)
            else:
                found = experiment_named(store, self.name, create=True)
            self.experiments.remember(found)
            self.state.experiment_id = found.experiment_id
            self.state.experiment_name = found.name
            self.state.artifact_uri = f"{found.artifact_location}/{self.run_id}/artifacts"
        return {
            **arguments,
            "experiment_id": found.experiment_id,
            "artifact_uri": self.state.artifact_uri,
        }

    def refresh(self) -> None:
        """The experiment this process knew is not in the store (the store was replaced):
        look it up again by name, rather than drop the run."""
        if self.experiment_id is None:
            self.experiments.forget(self.name)
            self.experiment = None


@overload
def experiment_named(store: Store, name: str, *, create: Literal[True]) -> Experiment: ...


@overload
def experiment_named(store: Store, name: str, *, create: bool = False) -> Experiment | None: ...


def experiment_named(store: Store, name: str, *, create: bool = False) -> Experiment | None:
    """The experiment called ``name`` (made if ``create``), refusing a name that no experiment
    has but that is another experiment's id: ``experiment_name="0"`` meant experiment 0, and
    silently making an experiment called "0" would scatter the user's runs.

    Raises:
        InvalidInputError: ``name`` is only an experiment id.
    """
    if not (name.isascii() and name.isdigit()):
        # every store's experiment ids are numbers: only such a name can be taken for one (and
        # no read is added before the common case, which a server that is away spools)
        return (
            store.get_or_create_experiment(name) if create else store.get_experiment_by_name(name)
        )
    try:
        found = store.get_experiment_by_name(name)
        if found is not None:
            return found
        same_id: Experiment | None = store.get_experiment(name)
    except NotFoundError:
        same_id = None
    except StoreUnavailableError:
        same_id = None  # not known now: the name is taken as a name, as it was given
    if same_id is not None:
        raise InvalidInputError(
            f"no experiment is named {name!r}, but experiment {same_id.name!r} has the id "
            f"{name!r}: pass experiment_id={name!r} for it (an experiment named {name!r} is made "
            f"by get_or_create_experiment({name!r}))"
        )
    return store.get_or_create_experiment(name) if create else None


def start_timeout() -> float:
    return lifecycle.seconds_setting("AUTOLOG_START_TIMEOUT", DEFAULT_START_TIMEOUT)


_ADJECTIVES = ("amber", "bold", "brisk", "calm", "clever", "crisp", "eager", "gentle", "keen")
_NOUNS = ("badger", "falcon", "heron", "lynx", "marten", "otter", "panda", "raven", "wren")


_generator: tuple[int, Any] | None = None


def random_bits(bits: int) -> int:
    """Random bits for run ids and names, from a generator of our own (the user's seeds are
    untouched) seeded from ``os.urandom`` once per process: ``os.urandom`` is a system call
    that takes milliseconds on a busy machine, at every run. A forked child (another pid)
    seeds its own, so it never repeats its parent's ids."""
    global _generator
    pid = os.getpid()
    generator = _generator
    if generator is None or generator[0] != pid:
        import random

        generator = _generator = (pid, random.Random(os.urandom(32)))
    bits_: int = generator[1].getrandbits(bits)
    return bits_


def run_name() -> str:
    a, b, c = random_bits(24).to_bytes(3, "big")
    return f"{_ADJECTIVES[a % len(_ADJECTIVES)]}-{_NOUNS[b % len(_NOUNS)]}-{c}"


def check_run_id(run_id: object) -> str:
    """``run_id`` if it can name a run (a non-empty string of printable text), else
    ``InvalidInputError`` naming it."""
    if not isinstance(run_id, str) or not run_id:
        raise InvalidInputError(f"run ids are non-empty strings, not {run_id!r}")
    if not run_id.isascii() or not run_id.isprintable():
        raise InvalidInputError(f"run ids are printable ASCII text, not {run_id!r}")
    return run_id
