"""The BinderHub API over httpx: health, versions, config and the build event stream."""

from __future__ import annotations

import contextlib
import json
from collections.abc import AsyncIterator, Iterator, Mapping
from typing import Any

import httpx
from httpx_sse import aconnect_sse

from ivoa_broker.protocol import AdapterError, FatalError, Secret, TransientError
from ivoa_broker.toolkit import error_for_status

__all__ = ["BinderClient", "translated"]


@contextlib.contextmanager
def translated(what: str) -> Iterator[None]:
    """Transport trouble and unparsable answers inside the block become AdapterErrors."""
    try:
        yield
    except AdapterError:
        raise
    except httpx.TimeoutException as exc:
        raise TransientError(f"{what}: BinderHub did not answer in time") from exc
    except httpx.TransportError as exc:
        raise TransientError(f"{what}: cannot reach BinderHub ({type(exc).__name__})") from exc
    except (ValueError, KeyError, TypeError) as exc:
        raise FatalError(f"{what}: BinderHub sent an answer that does not parse") from exc


class BinderClient:
    """One BinderHub (``url``), with its API token for authenticated deployments."""

    def __init__(
        self,
        url: str,
        token: Secret | None,
        *,
        timeout: float = 30.0,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.url = url.rstrip("/")
        headers = {"Authorization": f"token {token.reveal()}"} if token else {}
        self._timeout = timeout
        self._http = httpx.AsyncClient(
            base_url=self.url, headers=headers, timeout=timeout, transport=transport
        )

    def __repr__(self) -> str:
        return f"BinderClient(url={self.url!r})"

    async def aclose(self) -> None:
        await self._http.aclose()

    async def _json(self, path: str, what: str, *, ok: tuple[int, ...] = (200,)) -> Any:
        with translated(what):
            response = await self._http.get(path)
            if response.status_code not in ok:
                raise error_for_status(
                    response.status_code, f"{what}: BinderHub answered {response.status_code}"
                )
            return response.json()

    async def health(self) -> Mapping[str, Any]:
        """``/health``: ``{"ok": bool, "checks": [...]}`` (503 when unhealthy)."""
        data = await self._json("/health", "health", ok=(200, 503))
        return dict(data)

    async def versions(self) -> Mapping[str, Any]:
        return dict(await self._json("/versions", "versions"))

    async def providers(self) -> set[str]:
        """The enabled repository providers (``/_config``)."""
        return set(dict(await self._json("/_config", "config")))

    async def build(self, path: str) -> AsyncIterator[Mapping[str, Any]]:
        """The events of ``GET /build/<path>`` until BinderHub closes the stream."""
        timeout = httpx.Timeout(self._timeout, read=None)
        with translated("build"):
            async with aconnect_sse(self._http, "GET", f"/build/{path}", timeout=timeout) as src:
                if (
                    src.response.status_code >= 400
                    and "event-stream" not in src.response.headers.get("content-type", "")
                ):
                    raise error_for_status(
                        src.response.status_code,
                        f"build: BinderHub answered {src.response.status_code}",
                    )
                async for event in src.aiter_sse():
                    if event.data:
                        data = json.loads(event.data)
                        if isinstance(data, dict):
                            yield data
