"""What a server process holds: its settings and its tracking store (nothing else, so any
number of processes can serve one store)."""

from __future__ import annotations

from dataclasses import dataclass

from starlette.requests import Request

from autolog.artifacts import ServerSideRepository, local_or_remote
from autolog.entities import Experiment, Run
from autolog.server.settings import ServerSettings
from autolog.stores.base import Store

__all__ = [
    "PUBLIC_ROOT",
    "ServerState",
    "public_experiment",
    "public_run",
    "state_of",
]


@dataclass(frozen=True)
class ServerState:
    settings: ServerSettings
    store: Store

    def run_artifacts(self, run_id: str) -> tuple[Run, ServerSideRepository]:
        """The run, and the repository of its files: ``<experiment's location>/<run_id>/
        artifacts``.

        Worked out from the experiment, never from the ``artifact_uri`` a client gave when it
        created the run: that is only text, and a client could name any place with it.
        """
        run = self.store.get_run(run_id)
        return run, local_or_remote(self.artifact_root_of(run.info.experiment_id, run_id))

    def artifact_root_of(self, experiment_id: str, run_id: str) -> str:
        """Where the files of run ``run_id`` of that experiment live on this server."""
        experiment = self.store.get_experiment(experiment_id)
        return f"{experiment.artifact_location.rstrip('/')}/{run_id}/artifacts"


#: how the server names the places of its artifacts to its clients: relative to its artifact
#: root, never the folder or bucket behind it (which a read token must not learn)
PUBLIC_ROOT = "autolog-artifacts:/"


def public_experiment(experiment: Experiment) -> Experiment:
    """The experiment as clients see it: its artifact location relative to the server."""
    return experiment._replace(artifact_location=f"{PUBLIC_ROOT}{experiment.experiment_id}")


def public_run(run: Run) -> Run:
    """The run as clients see it: its artifact URI relative to the server."""
    info = run.info
    uri = f"{PUBLIC_ROOT}{info.experiment_id}/{info.run_id}/artifacts"
    return run._replace(info=info._replace(artifact_uri=uri))


def state_of(request: Request) -> ServerState:
    state: ServerState = request.app.state.autolog
    return state
