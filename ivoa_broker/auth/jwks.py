"""An OpenID provider's signing keys (JWKS), cached, with rotation handled.

Keys are fetched on first use and again when older than ``max_age``. A token signed
with a key id the cache does not know triggers one refetch (a provider that rotated
its keys publishes the new one before using it), but at most one per
``min_refetch`` seconds, and concurrent callers share that one fetch: a stream of
tokens with made-up key ids cannot make the broker hammer the provider.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import jwt

from ivoa_broker.errors import ServiceUnavailable

log = logging.getLogger(__name__)

Fetch = Callable[[], Awaitable[dict[str, Any]]]


@dataclass(frozen=True)
class Key:
    """A published verification key and the algorithm its JWK declares (if any)."""

    key: Any
    alg: str | None


class KeyCache:
    def __init__(
        self,
        fetch: Fetch,
        *,
        min_refetch: float,
        max_age: float,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._fetch = fetch
        self.min_refetch = min_refetch
        self.max_age = max_age
        self._clock = clock
        self._keys: dict[str, Key] = {}
        self._unnamed: list[Key] = []
        self._fetched_at: float | None = None
        self._lock = asyncio.Lock()
        #: how many times the JWKS was fetched (for tests and metrics)
        self.fetches = 0

    def __repr__(self) -> str:
        return f"KeyCache(keys={sorted(self._keys)}, fetches={self.fetches})"

    async def key(self, kid: str | None) -> Key | None:
        """The verification key for ``kid`` (None: the provider's only key), or None."""
        if self._fetched_at is None:
            await self._refresh(force=True)
        elif self._clock() - self._fetched_at > self.max_age:
            try:
                await self._refresh(force=True)
            except ServiceUnavailable:
                # keep the cached keys; try again after min_refetch, not on every request
                log.warning("JWKS refresh failed; the cached keys stay in use")
                self._fetched_at = self._clock() - self.max_age + self.min_refetch
        found = self._find(kid)
        if found is not None:
            return found
        await self._refresh(force=False)
        return self._find(kid)

    def _find(self, kid: str | None) -> Key | None:
        if kid is not None:
            return self._keys.get(kid)
        every = [*self._keys.values(), *self._unnamed]
        return every[0] if len(every) == 1 else None

    async def _refresh(self, *, force: bool) -> None:
        seen = self._fetched_at
        async with self._lock:
            if self._fetched_at != seen:
                return  # another caller fetched while we waited: use theirs
            if (
                not force
                and self._fetched_at is not None
                and self._clock() - self._fetched_at < self.min_refetch
            ):
                return
            data = await self._fetch()
            self.fetches += 1
            self._fetched_at = self._clock()
            self._load(data)

    def _load(self, data: dict[str, Any]) -> None:
        keys: dict[str, Key] = {}
        unnamed: list[Key] = []
        for entry in data.get("keys", []) if isinstance(data, dict) else []:
            if not isinstance(entry, dict) or entry.get("use", "sig") != "sig":
                continue
            try:
                parsed = jwt.PyJWK(entry)
            except jwt.PyJWTError as exc:
                log.info("JWKS entry %s skipped: %s", entry.get("kid"), exc)
                continue
            alg = entry.get("alg")
            key = Key(parsed.key, alg if isinstance(alg, str) else None)
            kid = entry.get("kid")
            if isinstance(kid, str):
                keys[kid] = key
            else:
                unnamed.append(key)
        self._keys, self._unnamed = keys, unnamed
