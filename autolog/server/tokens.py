"""Access tokens of the tracking server: made here, kept in the tracking store as hashes.

A token reads ``autolog_<token_id>_<secret>``: 16 hex digits that find its record, then 43
URL-safe characters (256 random bits). The store keeps the record with the SHA-256 of the
secret, never the secret; a presented token is checked by comparing digests in constant time.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time
from datetime import datetime, timezone

from autolog.entities import AccessToken, TokenScope
from autolog.errors import InvalidInputError
from autolog.stores.base import Store

__all__ = ["PREFIX", "create_token", "parse_token", "verify_token"]

PREFIX = "autolog_"
_ID_HEX = 16


def _digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def create_token(store: Store, name: str, scope: str) -> tuple[str, AccessToken]:
    """Make a token called ``name``, keep its hash in ``store``; return the token (the only
    time it is seen) and its record."""
    if not isinstance(name, str) or not name.strip() or len(name) > 200 or not name.isprintable():
        raise InvalidInputError(f"token names are 1-200 printable characters, not {name!r}")
    try:
        checked = TokenScope(scope)
    except ValueError:
        raise InvalidInputError(f"token scopes are read, write or admin, not {scope!r}") from None
    token_id = secrets.token_hex(_ID_HEX // 2)
    secret = secrets.token_urlsafe(32)
    record = AccessToken(
        token_id, name, checked.value, time.time_ns() // 1_000_000, _digest(secret)
    )
    try:
        store.create_token(record)
    except InvalidInputError:
        taken = next((t for t in store.list_tokens() if t.name == record.name), None)
        if taken is None:
            raise
        raise InvalidInputError(_name_taken(taken)) from None
    return f"{PREFIX}{token_id}_{secret}", record


def _name_taken(token: AccessToken) -> str:
    """Which token has the name already: its id, scope and age tell the owner which it is."""
    created = datetime.fromtimestamp(token.creation_time / 1000, tz=timezone.utc)
    return (
        f"a token named {token.name!r} exists already (id {token.token_id}, {token.scope} "
        f"scope, created {created:%Y-%m-%d %H:%M} UTC): choose another name, or revoke it "
        "first (autolog server token revoke NAME)"
    )


def parse_token(token: str) -> tuple[str, str] | None:
    """``(token_id, secret)`` of a well-formed token, else None."""
    if not token.startswith(PREFIX):
        return None
    token_id, sep, secret = token[len(PREFIX) :].partition("_")
    if not sep or len(token_id) != _ID_HEX or not secret or len(secret) > 100:
        return None
    if any(c not in "0123456789abcdef" for c in token_id):
        return None
    return token_id, secret


def verify_token(record: AccessToken | None, secret: str) -> bool:
    """Whether ``secret`` is the secret of ``record``, compared in constant time."""
    # Compared even when there is no record, so that a missing id takes as long as a wrong one.
    expected = record.secret_hash if record is not None else "0" * 64
    return hmac.compare_digest(_digest(secret), expected) and record is not None
