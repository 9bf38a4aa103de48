"""A short-lived cache of skaha's ``/context``, ``/image`` and ``/repository`` listings.

Offers are asked for often and must stay cheap; these listings change rarely.
One refresh runs at a time; callers waiting meanwhile share its result.
"""

from __future__ import annotations

import asyncio
import contextlib
import time

from ivoa_broker.protocol import NotFound, Secret
from ivoa_broker_canfar._client import SkahaClient
from ivoa_broker_canfar._mapping import Catalog


class CatalogCache:
    def __init__(self, client: SkahaClient, ttl_seconds: float) -> None:
        self._client = client
        self._ttl = ttl_seconds
        self._value: Catalog | None = None
        self._fetched = 0.0
        self._lock = asyncio.Lock()

    def invalidate(self) -> None:
        self._value = None

    async def get(self, token: Secret | None) -> Catalog:
        async with self._lock:
            now = time.monotonic()
            if self._value is None or now - self._fetched >= self._ttl:
                context, images, hosts = await asyncio.gather(
                    self._client.context(token),
                    self._client.images(token),
                    self._hosts(token),
                )
                self._value = Catalog(context, tuple(images), tuple(hosts))
                self._fetched = now
            return self._value

    async def _hosts(self, token: Secret | None) -> list[str]:
        # older skaha versions have no /repository; then any image host is tried
        with contextlib.suppress(NotFound):
            return await self._client.repositories(token)
        return []
