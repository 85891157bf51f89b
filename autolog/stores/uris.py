"""What a tracking URI names on this machine: SQLAlchemy's and MLflow's reading of
``sqlite:`` URIs, and relative paths made absolute.

Kept apart from ``stores.base`` (which opens stores, and so imports every one of them) so that
the stores, the backends and the command line can read a URI without importing each other.
"""

from __future__ import annotations

import os
from urllib.parse import unquote, urlsplit

from autolog.errors import InvalidURIError
from autolog.stores.common import local_path

__all__ = ["absolute_uri", "sqlite_path"]


def sqlite_path(uri: str) -> str:
    """The database file a ``sqlite:`` URI names, as written (relative to the working folder
    or absolute), or ``":memory:"``; no I/O.

    SQLAlchemy's convention, which MLflow users have in their fingers: the path is what follows
    the third slash, so ``sqlite:///runs.db`` is ``runs.db`` in the working folder and
    ``sqlite:////srv/runs.db`` (four slashes) is ``/srv/runs.db``; ``sqlite:///C:/runs.db`` is
    a Windows drive path. ``sqlite://``, ``sqlite:///`` and ``sqlite:///:memory:`` are an
    in-memory database.
    """
    parts = urlsplit(uri)
    if parts.scheme.lower() != "sqlite":
        raise InvalidURIError(uri, "not a sqlite: URI")
    if parts.netloc not in ("", "localhost"):
        raise InvalidURIError(
            uri,
            "SQLite URIs name a local file: sqlite:///relative.db (in the working folder)"
            " or sqlite:////absolute/path.db",
        )
    path = unquote(parts.path)
    path = path[1:] if path.startswith("/") else path  # what follows "sqlite:///"
    return ":memory:" if path in ("", ":memory:") else path


def absolute_uri(uri: str) -> str:
    """``uri`` with a relative local path made absolute against the working folder now: what
    a program means when it says ``sqlite:///runs.db`` or ``./runs``, said so that a later
    ``os.chdir`` or another process (a server, ``autolog run``'s child) reads the same store,
    and what to show a person. Other URIs come back unchanged; no I/O but ``getcwd``.

    >>> absolute_uri("sqlite:///runs.db")  # in /home/me/project
    'sqlite:////home/me/project/runs.db'
    >>> absolute_uri("runs"), absolute_uri("file:runs")  # the file store
    ('file:///home/me/project/runs', 'file:///home/me/project/runs')
    """
    from pathlib import Path

    parts = urlsplit(uri)
    scheme = parts.scheme.lower()
    if scheme == "sqlite":
        path = sqlite_path(uri)
        if path == ":memory:":
            return uri
        # keep what a URI cannot hold as such quoted; spaces stay readable
        text = Path(path).expanduser().resolve().as_posix()
        text = text.replace("%", "%25").replace("?", "%3F").replace("#", "%23")
        query = f"?{parts.query}" if parts.query else ""
        return f"sqlite:///{text}{query}"
    if scheme in ("file", "") or (len(scheme) == 1 and os.name == "nt"):
        if scheme == "file" and parts.netloc not in ("", "localhost"):
            raise InvalidURIError(uri, "file URIs must name a local path (file:///dir)")
        return local_path(uri).expanduser().resolve().as_uri()
    return uri
