"""Who is calling: bearer tokens from a token file map to owners.

The token file has one ``TOKEN OWNER`` pair per line; blank lines and lines
starting with ``#`` are ignored. Tokens are compared in constant time and
never logged. Anonymous callers get owner ``None`` when anonymous use is on.
"""

from __future__ import annotations

import hmac
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from ivoa_broker.errors import Unauthorized

_OWNER = re.compile(r"^[A-Za-z0-9_.@+-]{1,128}$")


@dataclass(frozen=True)
class Identity:
    owner: str | None
    token: str | None = None

    def __repr__(self) -> str:
        return f"Identity(owner={self.owner!r})"


class TokenError(Exception):
    """The token file cannot be read or has a bad line."""


def read_token_file(path: Path) -> dict[str, str]:
    try:
        text = path.read_text()
    except OSError as exc:
        raise TokenError(f"cannot read token file {path}: {exc.strerror}") from exc
    tokens: dict[str, str] = {}
    for number, line in enumerate(text.splitlines(), 1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        parts = line.split()
        if len(parts) != 2 or not _OWNER.match(parts[1]) or len(parts[0]) < 16:
            raise TokenError(
                f"token file {path} line {number}: expected 'TOKEN OWNER' with a token of "
                "at least 16 characters and an owner of letters, digits and _.@+-"
            )
        tokens[parts[0]] = parts[1]
    return tokens


class Authenticator:
    def __init__(self, tokens: Mapping[str, str], anonymous: bool) -> None:
        self._tokens = dict(tokens)
        self.anonymous = anonymous

    def __repr__(self) -> str:
        return f"Authenticator(tokens={len(self._tokens)}, anonymous={self.anonymous})"

    def identify(self, authorization: str | None) -> Identity:
        """The caller's identity from an Authorization header; raises Unauthorized."""
        if not authorization:
            if self.anonymous:
                return Identity(owner=None)
            raise Unauthorized("authentication required: send 'Authorization: Bearer <token>'")
        scheme, _, token = authorization.partition(" ")
        token = token.strip()
        if scheme.lower() != "bearer" or not token:
            raise Unauthorized("unsupported Authorization header; use 'Bearer <token>'")
        owner = self._lookup(token)
        if owner is None:
            raise Unauthorized("the bearer token is not valid")
        return Identity(owner=owner, token=token)

    def _lookup(self, token: str) -> str | None:
        found: str | None = None
        for known, owner in self._tokens.items():
            if hmac.compare_digest(known.encode(), token.encode()):
                found = owner
        return found
