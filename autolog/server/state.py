"""What a server process holds: its settings and its tracking store (nothing else, so any
number of processes can serve one store)."""

from __future__ import annotations

from dataclasses import dataclass

from starlette.requests import Request

from autolog.artifacts import ServerSideRepository, local_or_remote
from autolog.entities import Run
from autolog.server.settings import ServerSettings
from autolog.stores.base import Store

__all__ = ["ServerState", "state_of"]


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
        experiment = self.store.get_experiment(run.info.experiment_id)
        root = f"{experiment.artifact_location.rstrip('/')}/{run_id}/artifacts"
        return run, local_or_remote(root)


def state_of(request: Request) -> ServerState:
    state: ServerState = request.app.state.autolog
    return state
