"""A thin async client of the Azimuth API for one tenancy: the adapter's one boundary.

Every httpx exception and every HTTP error becomes a contract error here (see
:mod:`._errors` for the status table). Authentication is the ``azimuth-sdk``'s: an
application credential is exchanged for a token at ``/auth/<authenticator>/token/``; API
calls carry ``Authorization: Bearer <token>``; a 401 (Keystone token expired) makes the
client authenticate once more and repeat the call, a second 401 is an ``AuthError``.

Reads and deletes are retried on 5xx, timeouts and broken connections (bounded,
exponential backoff); creates only when the connection could not be made at all, so a
lost answer never makes a second machine (the adapter finds those by name).
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from typing import Any, Literal, TypeVar

import httpx

from ivoa_broker.protocol import AdapterError, AuthError, FatalError, TransientError
from ivoa_broker.toolkit import Redactor, parse_retry_after

from ._config import AzimuthConfig
from ._errors import error_for
from ._models import (
    AppInfo,
    ClusterInfo,
    ImageInfo,
    MachineInfo,
    QuotaInfo,
    SizeInfo,
    TenancyInfo,
    garbage,
    parse_list,
)

__all__ = ["AzimuthClient"]

T = TypeVar("T")


def _each(parse: Callable[[dict[str, Any]], T], items: list[dict[str, Any]], what: str) -> list[T]:
    """Parse every item; a missing or mistyped field is garbage, not a crash."""
    try:
        return [parse(item) for item in items]
    except (KeyError, TypeError, ValueError, AttributeError):
        raise garbage(what, items) from None


USER_AGENT = "ivoa-broker-azimuth/0.1"
Retry = Literal["always", "connect"]


class AzimuthClient:
    """One connection pool to one portal, scoped to one tenancy after :meth:`open`."""

    def __init__(
        self, config: AzimuthConfig, *, transport: httpx.AsyncBaseTransport | None = None
    ) -> None:
        self._config = config
        self._base = config.url.rstrip("/")
        self._transport = transport
        self._http: httpx.AsyncClient | None = None
        self._token: str | None = (
            config.token.get_secret_value() if config.token is not None else None
        )
        self._lock = asyncio.Lock()
        self.tenancy: TenancyInfo | None = None

    def __repr__(self) -> str:
        return f"AzimuthClient({self._base!r})"

    def _redactor(self) -> Redactor:
        secret = self._config.application_credential_secret
        return Redactor(
            [s for s in (self._token, secret.get_secret_value() if secret else None) if s]
        )

    async def open(self) -> TenancyInfo:
        """Connect, authenticate and find the configured tenancy (closes again on failure)."""
        await self.aclose()
        self._http = httpx.AsyncClient(
            base_url=self._base,
            headers={"User-Agent": USER_AGENT, "Content-Type": "application/json"},
            timeout=self._config.timeout_seconds,
            verify=self._config.verify_tls,
            transport=self._transport,
            follow_redirects=False,
        )
        try:
            return await self._find_tenancy()
        except BaseException:
            await self.aclose()
            raise

    async def _find_tenancy(self) -> TenancyInfo:
        tenancies = _each(
            TenancyInfo.parse, await self._list("/api/tenancies/", "tenancies/"), "tenancies/"
        )
        wanted = self._config.tenancy
        found = [t for t in tenancies if wanted in (None, t.id, t.name)]
        if not found:
            names = ", ".join(t.name for t in tenancies) or "none"
            raise FatalError(f"the credential sees no tenancy {wanted!r} (it sees: {names})")
        if wanted is None and len(found) > 1:
            names = ", ".join(t.name for t in found)
            raise FatalError(f"the credential sees several tenancies ({names}): set 'tenancy'")
        self.tenancy = found[0]
        return found[0]

    async def aclose(self) -> None:
        http, self._http = self._http, None
        if http is not None:
            await http.aclose()

    # ------------------------------------------------------------ resources

    def _t(self, tail: str) -> str:
        if self.tenancy is None:
            raise FatalError("the Azimuth client is not open")
        return f"/api/tenancies/{self.tenancy.id}/{tail}"

    async def capabilities(self) -> dict[str, Any]:
        what = "GET capabilities/"
        data = self._json(await self._request("GET", self._t("capabilities/"), what), what)
        if not isinstance(data, dict):
            raise garbage(what, data)
        return data

    async def quotas(self) -> list[QuotaInfo]:
        return _each(QuotaInfo.parse, await self._list(self._t("quotas/"), "quotas/"), "quotas/")

    async def sizes(self) -> list[SizeInfo]:
        return _each(SizeInfo.parse, await self._list(self._t("sizes/"), "sizes/"), "sizes/")

    async def images(self) -> list[ImageInfo]:
        return _each(ImageInfo.parse, await self._list(self._t("images/"), "images/"), "images/")

    async def machines(self) -> list[MachineInfo]:
        items = await self._list(self._t("machines/"), "machines/")
        return _each(MachineInfo.parse, items, "machines/")

    async def create_machine(
        self, name: str, image_id: str, size_id: str, userdata: str
    ) -> MachineInfo:
        body = {"name": name, "image_id": image_id, "size_id": size_id, "userdata": userdata}
        return _each(MachineInfo.parse, [await self._create("machines/", body)], "machines/")[0]

    async def delete_machine(self, machine_id: str) -> None:
        await self._delete(f"machines/{machine_id}/")

    async def machine_logs(self, machine_id: str) -> list[str]:
        what = f"GET machines/{machine_id}/logs/"
        data = self._json(
            await self._request("GET", self._t(f"machines/{machine_id}/logs/"), what), what
        )
        if not isinstance(data, dict) or not isinstance(data.get("logs"), list):
            raise garbage(what, data)
        return [str(line) for line in data["logs"]]

    async def app_templates(self) -> list[str]:
        items = await self._list(self._t("kubernetes_app_templates/"), "kubernetes_app_templates/")
        return _each(lambda t: str(t["id"]), items, "kubernetes_app_templates/")

    async def apps(self) -> list[AppInfo]:
        items = await self._list(self._t("kubernetes_apps/"), "kubernetes_apps/")
        return _each(AppInfo.parse, items, "kubernetes_apps/")

    async def create_app(
        self, name: str, template: str, values: dict[str, Any], kubernetes_cluster: str | None
    ) -> AppInfo:
        body: dict[str, Any] = {"name": name, "template": template, "values": values}
        if kubernetes_cluster:
            body["kubernetes_cluster"] = kubernetes_cluster
        return _each(
            AppInfo.parse, [await self._create("kubernetes_apps/", body)], "kubernetes_apps/"
        )[0]

    async def delete_app(self, app_id: str) -> None:
        await self._delete(f"kubernetes_apps/{app_id}/")

    async def cluster_types(self) -> list[str]:
        items = await self._list(self._t("cluster_types/"), "cluster_types/")
        return _each(lambda c: str(c["name"]), items, "cluster_types/")

    async def clusters(self) -> list[ClusterInfo]:
        items = await self._list(self._t("clusters/"), "clusters/")
        return _each(ClusterInfo.parse, items, "clusters/")

    async def create_cluster(
        self, name: str, cluster_type: str, values: dict[str, Any], end_time: str | None
    ) -> ClusterInfo:
        body: dict[str, Any] = {
            "name": name,
            "cluster_type": cluster_type,
            "parameter_values": values,
        }
        if end_time is not None:
            body["schedule"] = {"end_time": end_time}
        return _each(ClusterInfo.parse, [await self._create("clusters/", body)], "clusters/")[0]

    async def delete_cluster(self, cluster_id: str) -> None:
        await self._delete(f"clusters/{cluster_id}/")

    # ------------------------------------------------------------ plumbing

    async def _list(self, path: str, what: str) -> list[dict[str, Any]]:
        what = f"GET {what}"
        return parse_list(what, self._json(await self._request("GET", path, what), what))

    async def _create(self, tail: str, body: dict[str, Any]) -> dict[str, Any]:
        what = f"POST {tail}"
        data = self._json(
            await self._request("POST", self._t(tail), what, json_body=body, retry="connect"),
            what,
        )
        if not isinstance(data, dict):
            raise garbage(what, data)
        return data

    async def _delete(self, tail: str) -> None:
        await self._request("DELETE", self._t(tail), f"DELETE {tail}")

    async def _authenticate(self, stale: str | None) -> str:
        """A fresh token (one at a time; a token changed meanwhile is used as is)."""
        async with self._lock:
            if self._token is not None and self._token != stale:
                return self._token
            cred_id = self._config.application_credential_id
            secret = self._config.application_credential_secret
            if cred_id is None or secret is None:
                raise AuthError(
                    "the Azimuth token was refused (expired?) and no application "
                    "credential is configured to get another"
                )
            what = f"POST /auth/{self._config.authenticator}/token/"
            body = {
                "application_credential_id": cred_id,
                "application_credential_secret": secret.get_secret_value(),
            }
            response = await self._send(
                "POST", f"/auth/{self._config.authenticator}/token/", what, body, None, "connect"
            )
            data = self._json(response, what)
            if not isinstance(data, dict) or not isinstance(data.get("token"), str):
                raise garbage(what, "<token answer without a token>")
            self._token = str(data["token"])
            return self._token

    async def _request(
        self,
        method: str,
        path: str,
        what: str,
        *,
        json_body: dict[str, Any] | None = None,
        retry: Retry = "always",
    ) -> httpx.Response:
        token = self._token or await self._authenticate(None)
        try:
            return await self._send(method, path, what, json_body, token, retry)
        except AuthError as exc:
            if exc.detail is None or not exc.detail.startswith("HTTP 401"):
                raise
            if self._config.application_credential_id is None:
                raise
        token = await self._authenticate(token)  # the token expired: once more
        return await self._send(method, path, what, json_body, token, retry)

    async def _send(
        self,
        method: str,
        path: str,
        what: str,
        json_body: dict[str, Any] | None,
        token: str | None,
        retry: Retry,
    ) -> httpx.Response:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        content = json.dumps(json_body).encode() if json_body is not None else None
        attempts = 1 + self._config.retries
        for attempt in range(1, attempts + 1):
            retryable = retry == "always"
            error: AdapterError
            if self._http is None:
                raise FatalError("the Azimuth client is not open")
            try:
                response = await self._http.request(method, path, content=content, headers=headers)
            except (httpx.ConnectError, httpx.ConnectTimeout) as exc:
                retryable = True  # the request never reached the portal
                error = TransientError(
                    f"cannot reach Azimuth at {self._base} for {what}", detail=type(exc).__name__
                )
            except httpx.TimeoutException as exc:
                error = TransientError(
                    f"Azimuth did not answer {what} within {self._config.timeout_seconds:g} s",
                    detail=type(exc).__name__,
                )
            except httpx.TransportError as exc:
                error = TransientError(
                    f"network error talking to Azimuth for {what}", detail=type(exc).__name__
                )
            else:
                if response.status_code < 400:
                    return response
                error = error_for(
                    response.status_code,
                    response.text,
                    what,
                    self._redactor(),
                    parse_retry_after(response.headers.get("retry-after")),
                )
                retryable = retryable and isinstance(error, TransientError)
            if not retryable or attempt == attempts:
                raise error
            delay = self._config.backoff_seconds * 2 ** (attempt - 1)
            if isinstance(error, TransientError) and error.retry_after is not None:
                delay = error.retry_after
            await asyncio.sleep(min(delay, self._config.backoff_max_seconds))
        raise AssertionError("unreachable")  # pragma: no cover

    @staticmethod
    def _json(response: httpx.Response, what: str) -> Any:
        if response.status_code == 204 or not response.content:
            return None
        try:
            return json.loads(response.content)
        except (ValueError, UnicodeDecodeError):
            raise garbage(what, response.content[:120]) from None
