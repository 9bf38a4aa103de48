"""The token file: static bearer tokens for development, tests and small sites.

One ``TOKEN OWNER [GROUP,GROUP...]`` entry per line; blank lines and lines starting
with ``#`` are ignored. Only SHA-256 digests of the tokens are kept in memory, looked up by
digest. The file is read again when it changes (size, mtime or inode), so
tokens can be rotated without a restart; a file that no longer parses keeps the
previous tokens and logs the problem (never a token).
"""

from __future__ import annotations

import hashlib
import logging
import os
import re
from dataclasses import dataclass
from pathlib import Path

from ivoa_broker.auth.identity import Identity

log = logging.getLogger(__name__)

_OWNER = re.compile(r"^[A-Za-z0-9_.@+-]{1,128}$")
_GROUPS = re.compile(r"^[A-Za-z0-9_.@+:/-]{1,128}(,[A-Za-z0-9_.@+:/-]{1,128})*$")
VIA = "token-file"


class TokenError(Exception):
    """The token file cannot be read or has a bad line."""


@dataclass(frozen=True)
class TokenEntry:
    digest: bytes
    owner: str
    groups: frozenset[str]

    def __repr__(self) -> str:
        return f"TokenEntry(owner={self.owner!r}, groups={sorted(self.groups)!r})"


def digest(token: str) -> bytes:
    return hashlib.sha256(token.encode()).digest()


def read_token_file(path: Path) -> dict[bytes, TokenEntry]:
    """The file's entries by token digest; :class:`TokenError` names the bad line."""
    try:
        text = path.read_text()
    except OSError as exc:
        raise TokenError(f"cannot read token file {path}: {exc.strerror}") from exc
    entries: dict[bytes, TokenEntry] = {}
    for number, line in enumerate(text.splitlines(), 1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        parts = line.split()
        if (
            len(parts) not in (2, 3)
            or len(parts[0]) < 16
            or not _OWNER.match(parts[1])
            or (len(parts) == 3 and not _GROUPS.match(parts[2]))
        ):
            raise TokenError(
                f"token file {path} line {number}: expected 'TOKEN OWNER [GROUP,GROUP]' with a "
                "token of at least 16 characters and an owner of letters, digits and _.@+-"
            )
        groups = frozenset(parts[2].split(",")) if len(parts) == 3 else frozenset()
        key = digest(parts[0])
        entries[key] = TokenEntry(key, parts[1], groups)
    return entries


def _signature(path: Path) -> tuple[int, int, int] | None:
    try:
        st = os.stat(path)
    except OSError:
        return None
    return (st.st_ino, st.st_size, st.st_mtime_ns)


class TokenFile:
    """Identities from a token file, re-read when it changes."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._signature = _signature(path)
        self._entries = read_token_file(path)

    def __repr__(self) -> str:
        return f"TokenFile({str(self.path)!r}, tokens={len(self._entries)})"

    def __len__(self) -> int:
        return len(self._entries)

    def reload_if_changed(self) -> None:
        now = _signature(self.path)
        if now == self._signature:
            return
        self._signature = now
        try:
            self._entries = read_token_file(self.path)
        except TokenError as exc:
            log.warning("token file not reloaded, the previous tokens stay: %s", exc)
            return
        log.info("token file %s reloaded: %d tokens", self.path, len(self._entries))

    def lookup(self, token: str) -> Identity | None:
        """The identity a token stands for, or None."""
        self.reload_if_changed()
        # a lookup by digest: its timing says nothing about the token itself
        found = self._entries.get(digest(token))
        if found is None:
            return None
        return Identity(owner=found.owner, groups=found.groups, via=VIA)
