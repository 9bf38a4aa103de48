"""State shared by all checks of one run: HTTP client, schemas, discovered URLs, memo."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import httpx

from ivoa_broker_conformance.config import Config
from ivoa_broker_conformance.errors import CheckBlocked, CheckSkipped
from ivoa_broker_conformance.schemas import SchemaSet

if TYPE_CHECKING:
    from ivoa_broker_conformance.model import CheckResult


@dataclass
class Session:
    config: Config
    client: httpx.AsyncClient
    schemas: SchemaSet
    jobs_url: str = ""
    jobs_url_source: str = ""
    #: other URLs naming the job list: the one typed or declared, before redirects
    jobs_url_aliases: list[str] = field(default_factory=list)
    #: the DAL standard the UWS sits inside ("TAP"), or "" for a plain UWS service
    dal: str = ""
    created: list[tuple[str, str]] = field(default_factory=list)  # (url, auth)
    #: results of the checks run so far, in order
    results: list[CheckResult] = field(default_factory=list)
    _memo: dict[str, Any] = field(default_factory=dict)
    _locks: dict[str, asyncio.Lock] = field(default_factory=dict)
    #: elapsed seconds of non-WAIT requests made by pyvo (item 80)
    pyvo_timings: list[tuple[str, float]] = field(default_factory=list)

    def auth_headers(self, auth: str) -> dict[str, str]:
        credential = self.config.credential(auth)
        return credential.headers() if credential else {}

    async def once(self, key: str, make: Callable[[], Awaitable[Any]], owner: str = "") -> Any:
        """Compute ``make()`` once per run. A failure is remembered: the check that met it
        (``owner``) fails; any later check needing the same value is blocked by it."""
        lock = self._locks.setdefault(key, asyncio.Lock())
        async with lock:
            if key not in self._memo:
                try:
                    self._memo[key] = ("ok", await make(), owner)
                except Exception as exc:
                    self._memo[key] = ("error", exc, owner)
                    raise
            state, value, first = self._memo[key]
        if state == "error":
            if isinstance(value, CheckSkipped | CheckBlocked):
                raise value
            raise CheckBlocked(f"blocked by {first or 'an earlier check'}: {value}") from value
        return value

    def remember_job(self, url: str, auth: str) -> None:
        self.created.append((url, auth))

    async def cleanup(self) -> None:
        """Delete every job the suite created (best effort, bounded)."""

        async def delete(url: str, auth: str) -> None:
            with contextlib.suppress(httpx.HTTPError):
                await self.client.delete(url, headers=self.auth_headers(auth), timeout=5.0)

        await asyncio.gather(*(delete(u, a) for u, a in self.created))
        self.created.clear()
