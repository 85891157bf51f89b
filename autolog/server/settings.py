"""How a tracking server is configured: one frozen object, also passed to worker processes."""

from __future__ import annotations

import dataclasses
import ipaddress
import json
import os
from dataclasses import dataclass, field
from typing import Any

__all__ = [
    "DEFAULT_MAX_ARTIFACT_BYTES",
    "DEFAULT_MAX_REQUEST_BYTES",
    "SETTINGS_ENV",
    "ServerSettings",
    "is_loopback",
]

SETTINGS_ENV = "AUTOLOG_SERVER_SETTINGS"
DEFAULT_MAX_REQUEST_BYTES = 256 * 1024 * 1024
DEFAULT_MAX_ARTIFACT_BYTES = 10 * 1024 * 1024 * 1024


@dataclass(frozen=True)
class ServerSettings:
    """Everything a server process needs; the same in every worker.

    ``artifacts_destination``: where experiments created through the server keep their files
    (``file:///dir`` or ``s3://bucket/prefix``). ``require_token``: every API request needs a
    token (always so on a non-loopback host, see ``autolog server``). ``allowed_hosts``: Host
    header values accepted besides the loopback names (``*`` wildcards allowed).
    ``cors_origins``: origins allowed to call the API from a browser (none by default).
    """

    backend_store_uri: str
    artifacts_destination: str
    require_token: bool = False
    allowed_hosts: tuple[str, ...] = ()
    cors_origins: tuple[str, ...] = ()
    max_request_bytes: int = DEFAULT_MAX_REQUEST_BYTES
    max_artifact_bytes: int = DEFAULT_MAX_ARTIFACT_BYTES
    extra: dict[str, Any] = field(default_factory=dict, compare=False)

    def to_env(self) -> str:
        return json.dumps(dataclasses.asdict(self))

    @classmethod
    def from_env(cls) -> ServerSettings:
        data = json.loads(os.environ[SETTINGS_ENV])
        for name in ("allowed_hosts", "cors_origins"):
            data[name] = tuple(data.get(name, ()))
        return cls(**data)


_LOOPBACK_NAMES = frozenset(("localhost", "localhost.", "ip6-localhost", "ip6-loopback"))


def is_loopback(host: str) -> bool:
    """Whether ``host`` (a name or an address, IPv6 with or without brackets) is loopback."""
    name = host.strip().lower()
    if name.startswith("[") and name.endswith("]"):
        name = name[1:-1]
    if name in _LOOPBACK_NAMES or name.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False
