"""An async client for the Kubernetes REST API subset the adapter uses (httpx).

The one boundary of the adapter: every httpx exception and error answer
becomes a contract error here (``metav1.Status`` messages, redacted), with
Kubernetes refinements: a 403 ``exceeded quota`` is :class:`NoCapacity`, a
body that is not JSON :class:`FatalError`. Idempotent calls (GET, LIST,
DELETE, PATCH) are retried on 429/5xx/network trouble honouring
``Retry-After``; creates are not (the core looks with ``list_native`` first).
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Mapping
from typing import Any

import httpx

from ivoa_broker.protocol import AdapterError, FatalError, NoCapacity, Secret, TransientError
from ivoa_broker.toolkit import HttpBoundary, retrying

from ._kubeconfig import Connection

Obj = dict[str, Any]
MERGE = "application/merge-patch+json"


class WatchExpired(Exception):
    """The watch's resourceVersion is too old (410 Gone / ``Expired``): relist."""


class KubeClient:
    def __init__(self, conn: Connection, *, timeout: float, retries: int, backoff: float) -> None:
        secrets: list[str | Secret] = [s for s in (conn.token,) if s is not None]
        if conn.basic is not None:
            secrets.append(conn.basic[1])
        self.boundary = HttpBoundary("the Kubernetes API", secrets)
        headers = {"Accept": "application/json", "User-Agent": "ivoa-broker-kubernetes/0.1"}
        if conn.token is not None:
            headers["Authorization"] = f"Bearer {conn.token.reveal()}"
        auth = httpx.BasicAuth(conn.basic[0], conn.basic[1].reveal()) if conn.basic else None
        self.timeout = timeout
        self._http = httpx.AsyncClient(
            base_url=conn.server,
            headers=headers,
            auth=auth,
            verify=conn.ssl_context(),
            timeout=httpx.Timeout(timeout),
            limits=httpx.Limits(max_connections=32, max_keepalive_connections=16),
        )
        self._retry = retrying(
            attempts=retries + 1, max_delay=max(backoff * 16, backoff), initial=backoff
        )

    def __repr__(self) -> str:
        return f"KubeClient({self._http.base_url})"

    async def aclose(self) -> None:
        await self._http.aclose()

    # -------------------------------------------------------------- plumbing

    def _error(self, response: httpx.Response, what: str) -> AdapterError:
        err = self.boundary.error(response, what)
        try:
            status = response.json()
        except ValueError:
            return err
        message = self.boundary.redactor.scrub(str(status.get("message", "")))[:300]
        if response.status_code == 403 and "exceeded quota" in message:
            return NoCapacity(f"the namespace quota refused {what}: {message}", detail=err.detail)
        if message and response.status_code < 500:
            err.message = (
                f"the Kubernetes API refused {what} (HTTP {response.status_code}): {message}"
            )
            err.args = (err.message,)
        return err

    async def _send(
        self,
        method: str,
        path: str,
        what: str,
        *,
        params: Mapping[str, str] | None = None,
        body: Any = None,
        content_type: str = "application/json",
    ) -> httpx.Response:
        content = json.dumps(body).encode() if body is not None else None
        headers = {"Content-Type": content_type} if content is not None else None
        with self.boundary.calling(what):
            response = await self._http.request(
                method, path, params=params, content=content, headers=headers
            )
        if response.status_code >= 400:
            raise self._error(response, what)
        return response

    def _json(self, response: httpx.Response, what: str) -> Obj:
        try:
            data = response.json()
        except ValueError:
            raise FatalError(
                f"the Kubernetes API answered {what} with something that is not JSON",
                detail=self.boundary.said(response),
            ) from None
        if not isinstance(data, dict):
            raise FatalError(f"the Kubernetes API answered {what} with JSON that is not an object")
        return data

    async def call(self, method: str, path: str, what: str, **kw: Any) -> Obj:
        async def once() -> Obj:
            return self._json(await self._send(method, path, what, **kw), what)

        if method == "POST":
            return await once()
        return await self._retry.call(once)

    # ------------------------------------------------------------------ verbs

    async def get(self, path: str, what: str) -> Obj:
        return await self.call("GET", path, what)

    async def list(
        self, path: str, what: str, *, labels: str | None = None, limit: int = 500
    ) -> tuple[list[Obj], str]:
        """All items (following ``continue``) and the list's resourceVersion."""
        items: list[Obj] = []
        params: dict[str, str] = {"limit": str(limit)}
        if labels:
            params["labelSelector"] = labels
        while True:
            page = await self.call("GET", path, what, params=dict(params))
            found = page.get("items")
            if not isinstance(found, list):
                raise FatalError(f"the Kubernetes API answered {what} without an item list")
            items.extend(found)
            meta = page.get("metadata") or {}
            if not meta.get("continue"):
                return items, str(meta.get("resourceVersion", ""))
            params["continue"] = str(meta["continue"])

    async def create(self, path: str, body: Obj, what: str) -> Obj:
        return await self.call("POST", path, what, body=body)

    async def patch(self, path: str, body: Obj, what: str) -> Obj:
        return await self.call("PATCH", path, what, body=body, content_type=MERGE)

    async def delete(
        self, path: str, what: str, *, propagation: str = "Foreground", grace: int | None = None
    ) -> Obj:
        body: Obj = {"kind": "DeleteOptions", "apiVersion": "v1", "propagationPolicy": propagation}
        if grace is not None:
            body["gracePeriodSeconds"] = grace
        return await self.call("DELETE", path, what, body=body)

    async def text(self, path: str, what: str, params: Mapping[str, str]) -> str:
        async def once() -> str:
            return (await self._send("GET", path, what, params=params)).text

        return await self._retry.call(once)

    async def watch(
        self, path: str, what: str, *, rv: str, labels: str | None, timeout: int
    ) -> AsyncIterator[Obj]:
        """Events of one watch from ``rv`` (BOOKMARKs included) until the server ends it.

        Raises :class:`WatchExpired` on 410, contract errors otherwise.
        """
        params = {
            "watch": "1",
            "resourceVersion": rv,
            "allowWatchBookmarks": "true",
            "timeoutSeconds": str(timeout),
        }
        if labels:
            params["labelSelector"] = labels
        read = httpx.Timeout(self.timeout, read=timeout + self.timeout)
        with self.boundary.calling(what):
            async with self._http.stream("GET", path, params=params, timeout=read) as response:
                if response.status_code == 410:
                    raise WatchExpired(rv)
                if response.status_code >= 400:
                    await response.aread()
                    raise self._error(response, what)
                async for line in response.aiter_lines():
                    if not line.strip():
                        continue
                    try:
                        event = json.loads(line)
                    except ValueError:
                        raise FatalError(
                            f"the Kubernetes API sent a watch event that is not JSON ({what})"
                        ) from None
                    obj = event.get("object") or {}
                    if event.get("type") == "ERROR":
                        if obj.get("code") == 410:
                            raise WatchExpired(rv)
                        raise TransientError(
                            f"the watch of {what} ended with an error: {obj.get('message', '')}"
                        )
                    yield event
