"""Artifact repositories: where a run's files live, addressed by paths relative to its root."""

from __future__ import annotations

from urllib.parse import urlsplit

from autolog.artifacts.local import LocalArtifactRepository
from autolog.errors import InvalidURIError

__all__ = ["LocalArtifactRepository", "artifact_repository"]


def artifact_repository(artifact_uri: str) -> LocalArtifactRepository:
    """The repository behind a run's ``artifact_uri``."""
    scheme = urlsplit(artifact_uri).scheme.lower()
    if scheme in ("file", ""):
        return LocalArtifactRepository(artifact_uri)
    raise InvalidURIError(artifact_uri, f"no artifact repository for scheme {scheme!r}")
