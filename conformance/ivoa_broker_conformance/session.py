"""State shared by all checks of one run: HTTP client, schemas, discovered URLs, memo."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import httpx

from ivoa_broker_conformance.config import Config
from ivoa_broker_conformance.schemas import SchemaSet


@dataclass
class Session:
    config: Config
    client: httpx.AsyncClient
    schemas: SchemaSet
    jobs_url: str = ""
    jobs_url_source: str = ""
    created: list[tuple[str, str]] = field(default_factory=list)  # (url, auth)
    _memo: dict[str, Any] = field(default_factory=dict)
    _locks: dict[str, asyncio.Lock] = field(default_factory=dict)
    #: elapsed seconds of non-WAIT requests made by pyvo (item 80)
    pyvo_timings: list[tuple[str, float]] = field(default_factory=list)

    def auth_headers(self, auth: str) -> dict[str, str]:
        token = {"main": self.config.token, "other": self.config.other_token}.get(auth)
        return {"Authorization": f"Bearer {token}"} if token else {}

    async def once(self, key: str, make: Callable[[], Awaitable[Any]]) -> Any:
        """Compute ``make()`` once per run (failures are remembered too)."""
        lock = self._locks.setdefault(key, asyncio.Lock())
        async with lock:
            if key not in self._memo:
                try:
                    self._memo[key] = ("ok", await make())
                except Exception as exc:
                    self._memo[key] = ("error", exc)
            state, value = self._memo[key]
        if state == "error":
            raise value
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
