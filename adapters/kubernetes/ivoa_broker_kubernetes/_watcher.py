"""Wakes the core when a task's pod changes: one watch on the instance's pods.

List (``limit=1``, for a resourceVersion), then watch from it with bookmarks;
when the server ends the watch, resume from the last resourceVersion seen
(events or bookmarks); on ``410 Gone`` relist and wake every task (something
may have been missed); on other trouble back off and try again. Status itself
is read by ``status_many`` (one list per poll), so a broken watch only costs
promptness, never correctness.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from typing import Any

from ivoa_broker.protocol import AdapterError

from ._client import KubeClient, WatchExpired

log = logging.getLogger(__name__)
Obj = dict[str, Any]


class PodWatcher:
    def __init__(
        self,
        client: KubeClient,
        path: str,
        labels: str,
        on_pod: Callable[[Obj], None],
        on_relist: Callable[[], None],
        *,
        timeout: int,
        backoff: float,
    ) -> None:
        self.client = client
        self.path = path
        self.labels = labels
        self.on_pod = on_pod
        self.on_relist = on_relist
        self.timeout = timeout
        self.backoff = backoff
        self.rv: str | None = None
        #: how many times a 410 made it relist (for tests and logs)
        self.relists = 0
        self.bookmarks = 0
        self.events = 0
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._run(), name="k8s-pod-watch")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def _list_rv(self) -> str:
        page = await self.client.call(
            "GET", self.path, "list pods", params={"labelSelector": self.labels, "limit": "1"}
        )
        return str((page.get("metadata") or {}).get("resourceVersion", ""))

    async def _run(self) -> None:
        delay = self.backoff
        while True:
            try:
                if self.rv is None:
                    self.rv = await self._list_rv()
                async for event in self.client.watch(
                    self.path, "watch pods", rv=self.rv, labels=self.labels, timeout=self.timeout
                ):
                    obj = event.get("object") or {}
                    rv = (obj.get("metadata") or {}).get("resourceVersion")
                    if rv:
                        self.rv = str(rv)
                    if event.get("type") == "BOOKMARK":
                        self.bookmarks += 1
                        continue
                    self.events += 1
                    self.on_pod(obj)
                delay = self.backoff
            except WatchExpired:
                log.info("pod watch expired at resourceVersion %s: relisting", self.rv)
                self.rv = None
                self.relists += 1
                self.on_relist()
            except AdapterError as exc:
                log.info("pod watch trouble (%s); retrying in %.1f s", exc.message, delay)
                await asyncio.sleep(delay)
                delay = min(delay * 2, 30.0)
