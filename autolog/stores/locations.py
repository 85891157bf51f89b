"""Artifact locations kept relative to a local store, so that the store can move.

A project folder moved or copied with its ``./autolog-runs`` (the SQLite database and the
artifact folder beside it) must keep every artifact and model loadable. So a store that lives
in a local folder, its *home* (the folder of a SQLite file, a file store's root), keeps the
locations under that folder relative to it: ``artifacts/0`` for an experiment,
``artifacts/0/<run_id>/artifacts`` for a run (a relative URI reference: no scheme, no leading
slash, quoted as in a ``file:`` URI). Every read resolves them against the home of the moment,
so ``Run.info.artifact_uri`` and ``Experiment.artifact_location`` are absolute ``file:`` URIs
wherever the folder has gone.

Locations elsewhere (another folder, ``s3://``) and the absolute ones earlier versions wrote
are stored and read as they are: a database written before keeps working where it is. Stores
without a home (PostgreSQL, memory, a tracking server's REST store) store every location as
given. A tracking server serves the store it opened: it resolves against that store's home,
wherever the store is now.

``Tracking`` applies this once for every engine: ``stored`` on what it writes (a run's
creation, the artifact root new experiments derive their location from), ``run`` and
``experiment`` on what it returns.
"""

from __future__ import annotations

import os
import posixpath
from collections.abc import Iterable
from pathlib import Path
from urllib.parse import quote, unquote, urlsplit

from autolog.entities import Experiment, Run, RunPage
from autolog.errors import InvalidURIError
from autolog.stores.common import local_path

__all__ = ["Locations", "home_of", "is_relative_location"]


def home_of(engine: object) -> Path | None:
    """The folder a local store lives in (its engine's ``home``); None for a store without
    one (PostgreSQL, memory), whose locations are stored as given."""
    home = getattr(engine, "home", None)
    return home if isinstance(home, Path) else None


def is_relative_location(location: str) -> bool:
    """Whether ``location`` is the stored, home-relative form (``artifacts/0/...``): not
    rooted, no scheme (a Windows drive, ``C:``, reads as one)."""
    if not location or location[0] in "/\\":
        return False
    # what ``stored`` writes never has a colon (it is quoted): no URI to parse, for every run
    # of a search
    return ":" not in location or not urlsplit(location).scheme


class Locations:
    """Stores locations under ``home`` relative to it, and resolves them when read.

    Example::

        locations = Locations(Path("/work/project/autolog-runs"))
        locations.stored("file:///work/project/autolog-runs/artifacts/0")  # 'artifacts/0'
        # after ``mv /work/project /data/project``, with the store opened there:
        Locations(Path("/data/project/autolog-runs")).resolved("artifacts/0")
        # 'file:///data/project/autolog-runs/artifacts/0'
    """

    def __init__(self, home: Path | None) -> None:
        self.home = None if home is None else home.resolve()
        self._home_uri = "" if self.home is None else self.home.as_uri()

    def __repr__(self) -> str:
        return f"Locations({self.home})"

    def stored(self, location: str) -> str:
        """What to store for ``location``: relative to the home where it lies under it, else
        ``location`` itself (another folder, S3, a store without a home)."""
        home = self.home
        if home is None or not location or is_relative_location(location):
            return location
        parts = urlsplit(location)
        scheme = parts.scheme.lower()
        if scheme not in ("file", "") and not (len(scheme) == 1 and os.name == "nt"):
            return location
        try:
            path = local_path(location).expanduser()
        except InvalidURIError:
            return location  # file://host/...: not on this machine, not ours to rewrite
        # as written first: a symbolic link inside the home (an artifact folder on another
        # disk) moves with the home; then with links resolved, as the home itself is
        for candidate in (Path(os.path.abspath(path)), path.resolve()):
            if candidate == home or home in candidate.parents:
                return quote(candidate.relative_to(home).as_posix())
        return location  # outside the home: it stays where it is when the store moves

    def resolved(self, location: str) -> str:
        """The absolute URI of a stored ``location`` (a relative one taken against the home)."""
        home = self.home
        if home is None or not is_relative_location(location):
            return location
        relative = posixpath.normpath(location)
        if relative == ".":
            return self._home_uri
        if relative == ".." or relative.startswith("../"):
            return (home / unquote(relative)).resolve().as_uri()
        return f"{self._home_uri}/{relative}"

    def run(self, run: Run) -> Run:
        """``run`` with its artifact URI resolved."""
        uri = run.info.artifact_uri
        if self.home is None or not is_relative_location(uri):
            return run
        return run._replace(info=run.info._replace(artifact_uri=self.resolved(uri)))

    def runs(self, runs: Iterable[Run]) -> list[Run]:
        return [self.run(run) for run in runs]

    def page(self, page: RunPage) -> RunPage:
        return page._replace(runs=self.runs(page.runs))

    def experiment(self, experiment: Experiment) -> Experiment:
        """``experiment`` with its artifact location resolved."""
        location = experiment.artifact_location
        if self.home is None or not is_relative_location(location):
            return experiment
        return experiment._replace(artifact_location=self.resolved(location))
