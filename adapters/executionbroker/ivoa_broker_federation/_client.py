"""The remote broker over HTTP (httpx, async): the one place its answers and failures
become contract errors (through :class:`ivoa_broker.toolkit.HttpBoundary`)."""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import httpx

from ivoa_broker.protocol import FatalError, Secret
from ivoa_broker.toolkit import HttpBoundary

__all__ = ["JSON_TYPE", "RemoteBroker"]

JSON_TYPE = "application/json"


class RemoteBroker:
    """Calls to one remote broker; ``token`` is given per call (service or account)."""

    def __init__(self, base_url: str, node: str, secrets: Iterable[Secret], timeout: float) -> None:
        self.base_url = base_url.rstrip("/")
        self.node = node
        self.boundary = HttpBoundary(f"remote broker {node}", secrets)
        self._http = httpx.AsyncClient(timeout=timeout, follow_redirects=False)

    def __repr__(self) -> str:
        return f"RemoteBroker({self.base_url!r})"

    async def aclose(self) -> None:
        await self._http.aclose()

    def owns(self, url: str) -> bool:
        """Is ``url`` on the remote (a token is only ever sent there)?"""
        return url == self.base_url or url.startswith(self.base_url + "/")

    def _check_url(self, url: str) -> None:
        if not self.owns(url):
            raise FatalError(f"{self.boundary.platform} named a URL outside itself: {url[:200]}")

    @staticmethod
    def _headers(token: Secret | None, extra: Mapping[str, str] | None = None) -> dict[str, str]:
        headers = {"Accept": JSON_TYPE}
        if token is not None:
            headers["Authorization"] = f"Bearer {token.reveal()}"
        headers.update(extra or {})
        return headers

    def _json(self, response: httpx.Response, what: str) -> dict[str, Any]:
        try:
            body = response.json()
        except (json.JSONDecodeError, UnicodeDecodeError):
            raise FatalError(
                f"{self.boundary.platform} answered {what} with something not JSON",
                detail=self.boundary.said(response),
            ) from None
        if not isinstance(body, dict):
            raise FatalError(f"{self.boundary.platform} answered {what} with a non-object")
        return body

    async def request(
        self,
        method: str,
        url: str,
        what: str,
        token: Secret | None,
        *,
        headers: Mapping[str, str] | None = None,
        timeout: float | None = None,
        **kwargs: Any,
    ) -> httpx.Response:
        """One call; transport trouble -> TransientError. The answer is not checked."""
        self._check_url(url)
        with self.boundary.calling(what):
            extra: dict[str, Any] = {"timeout": timeout} if timeout is not None else {}
            return await self._http.request(
                method, url, headers=self._headers(token, headers), **kwargs, **extra
            )

    async def post_request(
        self, doc: Mapping[str, Any], token: Secret | None, hops: str, timeout: float
    ) -> tuple[dict[str, Any], str | None]:
        """``POST /requests``: the offer set, and the remote's broker id if it says."""
        headers = {"X-IVOA-Broker-Hops": hops} if hops else {}
        response = await self.request(
            "POST",
            f"{self.base_url}/requests",
            "the request for offers",
            token,
            headers=headers,
            timeout=timeout,
            json=dict(doc),
        )
        remote_id = response.headers.get("x-ivoa-broker-id")
        if response.status_code == 303:
            try:
                return self._json(response, "the request for offers"), remote_id
            except FatalError:  # a broker that redirects without a body
                location = response.headers.get("location", "")
                follow = await self.request(
                    "GET", location, "the offer set", token, timeout=timeout
                )
                self.boundary.check(follow, "the offer set")
                return self._json(follow, "the offer set"), remote_id
        self.boundary.check(response, "the request for offers")
        return self._json(response, "the request for offers"), remote_id

    async def update(
        self, session_url: str, update: Mapping[str, Any], token: Secret | None
    ) -> httpx.Response:
        """``POST /sessions/{id}`` with one update; the answer unchecked."""
        return await self.request("POST", session_url, "a session update", token, json=dict(update))

    async def get_json(self, url: str, what: str, token: Secret | None) -> dict[str, Any]:
        response = self.boundary.check(await self.request("GET", url, what, token), what)
        return self._json(response, what)

    async def get_xml(self, url: str, what: str, token: Secret | None) -> bytes:
        response = await self.request(
            "GET", url, what, token, headers={"Accept": "application/xml, text/xml"}
        )
        return self.boundary.check(response, what).content

    async def download(self, url: str, path: Path, token: Secret | None) -> int:
        """Stream one result into ``path``; its size."""
        self._check_url(url)
        size = 0
        with self.boundary.calling("a result"):
            async with self._http.stream(
                "GET", url, headers=self._headers(token, {"Accept": "*/*"})
            ) as response:
                if response.status_code >= 400:
                    await response.aread()
                    raise self.boundary.error(response, "a result")
                path.parent.mkdir(parents=True, exist_ok=True)
                with path.open("wb") as out:
                    async for chunk in response.aiter_bytes():
                        out.write(chunk)
                        size += len(chunk)
        return size
