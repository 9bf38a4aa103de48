"""A thin async client of the skaha v1 sessions API.

This is the one place where httpx exceptions and HTTP status codes become the
protocol's errors:

======================  ==================================================
401                     :class:`AuthError` (token missing, invalid, expired)
403                     :class:`AuthError` (identity not allowed)
404                     :class:`NotFound`
409                     :class:`Conflict`
400 and other 4xx       :class:`InvalidRequest` with skaha's own message
429, 5xx                :class:`TransientError`, retried here with backoff
timeouts, network       :class:`TransientError`, retried here with backoff
undecodable body        :class:`FatalError`
======================  ==================================================

Retries are bounded (``retries`` extra attempts, exponential backoff capped at
``backoff_max_seconds``). Creating a session is retried only when the
connection could not be made at all (the request never left), so a 5xx or a
lost answer never creates a second session; the adapter recovers those by name.

Secrets: tokens travel only in request headers; messages built from response
bodies are scrubbed of every secret this client knows.
"""

from __future__ import annotations

import asyncio
import json
import re
import ssl
from collections.abc import Mapping, Sequence
from typing import Any, Literal

import httpx

from ivoa_broker.protocol import (
    AdapterError,
    AuthError,
    Conflict,
    FatalError,
    InvalidRequest,
    NoCapacity,
    NotFound,
    Secret,
    TransientError,
)
from ivoa_broker_canfar._config import CanfarConfig
from ivoa_broker_canfar._models import ContextInfo, ImageInfo, SessionInfo, garbage

__all__ = ["SkahaClient"]

USER_AGENT = "ivoa-broker-canfar/0.1"
_SESSION_ID = re.compile(r"^[A-Za-z0-9-]+$")

Retry = Literal["always", "connect"]
FormValue = str | Sequence[str]


class SkahaClient:
    """One connection pool to one skaha service; credentials are given per call."""

    def __init__(
        self, config: CanfarConfig, *, transport: httpx.AsyncBaseTransport | None = None
    ) -> None:
        self._config = config
        self._base = config.api_url
        self._secrets: list[str] = [
            s.get_secret_value() for s in (config.token, config.registry_auth) if s is not None
        ]
        headers = {"User-Agent": USER_AGENT}
        if config.registry_auth is not None:
            headers["X-Skaha-Registry-Auth"] = config.registry_auth.get_secret_value()
        self._http = httpx.AsyncClient(
            base_url=self._base + "/",
            headers=headers,
            timeout=config.timeout_seconds,
            verify=self._tls(config),
            transport=transport,
            follow_redirects=True,
        )

    def __repr__(self) -> str:
        return f"SkahaClient({self._base!r})"

    @staticmethod
    def _tls(config: CanfarConfig) -> ssl.SSLContext:
        try:
            context = ssl.create_default_context(
                cafile=str(config.ca_file) if config.ca_file else None
            )
            if not config.verify_tls:
                context.check_hostname = False
                context.verify_mode = ssl.CERT_NONE
            if config.x509_proxy is not None:
                context.load_cert_chain(str(config.x509_proxy))
        except (OSError, ssl.SSLError) as exc:
            raise FatalError(
                "cannot load the TLS files configured for CANFAR (x509_proxy / ca_file)",
                detail=type(exc).__name__,
            ) from None
        return context

    async def aclose(self) -> None:
        await self._http.aclose()

    # ----------------------------------------------------------------- sessions

    async def create_session(self, form: Mapping[str, FormValue], token: Secret | None) -> str:
        """``POST /v1/session`` (form-encoded); returns the new session id."""
        what = "POST /v1/session"
        response = await self._request("POST", "session", token, what, data=form, retry="connect")
        ident = self._text(response, what).strip()
        if not _SESSION_ID.match(ident):
            raise garbage(what, ident)
        return ident

    async def list_sessions(self, token: Secret | None) -> list[SessionInfo]:
        what = "GET /v1/session"
        response = await self._request("GET", "session", token, what)
        return SessionInfo.parse_list(self._json(response, what), what)

    async def get_session(self, session_id: str, token: Secret | None) -> SessionInfo:
        what = f"GET /v1/session/{session_id}"
        response = await self._request("GET", f"session/{session_id}", token, what)
        return SessionInfo.parse(self._json(response, what), what)

    async def session_text(
        self, session_id: str, view: Literal["logs", "events"], token: Secret | None
    ) -> str:
        what = f"GET /v1/session/{session_id}?view={view}"
        response = await self._request(
            "GET", f"session/{session_id}", token, what, params={"view": view}
        )
        text = self._text(response, what)
        if response.headers.get("content-type", "").startswith("text/html"):
            raise garbage(what, text)  # an HTML page (a proxy's), not skaha's text
        return text

    async def delete_session(self, session_id: str, token: Secret | None) -> None:
        what = f"DELETE /v1/session/{session_id}"
        await self._request("DELETE", f"session/{session_id}", token, what)

    async def renew_session(self, session_id: str, token: Secret | None) -> None:
        what = f"POST /v1/session/{session_id}?action=renew"
        await self._request("POST", f"session/{session_id}", token, what, data={"action": "renew"})

    # ------------------------------------------------------------------ catalog

    async def context(self, token: Secret | None) -> ContextInfo:
        what = "GET /v1/context"
        response = await self._request("GET", "context", token, what)
        return ContextInfo.parse(self._json(response, what), what)

    async def images(self, token: Secret | None) -> list[ImageInfo]:
        what = "GET /v1/image"
        response = await self._request("GET", "image", token, what)
        return ImageInfo.parse_list(self._json(response, what), what)

    async def repositories(self, token: Secret | None) -> list[str]:
        what = "GET /v1/repository"
        response = await self._request("GET", "repository", token, what)
        data = self._json(response, what)
        if not isinstance(data, list) or not all(isinstance(h, str) for h in data):
            raise garbage(what, data)
        return list(data)

    # ----------------------------------------------------------------- plumbing

    def _headers(self, token: Secret | None) -> dict[str, str]:
        headers = {}
        if token is not None:
            headers["Authorization"] = f"Bearer {token.reveal()}"
        kind = self._config.auth_type_header
        if kind == "auto":
            # what the canfar client sends for runtime credentials
            kind = "RUNTIME-TOKEN" if token is not None else None
            if kind is None and self._config.x509_proxy is not None:
                kind = "RUNTIME-X509"
        if kind:
            headers["X-Skaha-Authentication-Type"] = kind
        return headers

    async def _request(
        self,
        method: str,
        path: str,
        token: Secret | None,
        what: str,
        *,
        params: Mapping[str, str] | None = None,
        data: Mapping[str, FormValue] | None = None,
        retry: Retry = "always",
    ) -> httpx.Response:
        secrets = [*self._secrets, token.reveal()] if token is not None else self._secrets
        attempts = 1 + self._config.retries
        for attempt in range(1, attempts + 1):
            retryable = retry == "always"
            error: AdapterError
            try:
                response = await self._http.request(
                    method, path, params=params, data=data, headers=self._headers(token)
                )
            except (httpx.ConnectError, httpx.ConnectTimeout) as exc:
                retryable = True  # the request never reached the server
                error = TransientError(
                    f"cannot reach CANFAR at {self._base} for {what}", detail=type(exc).__name__
                )
            except httpx.TimeoutException as exc:
                error = TransientError(
                    f"CANFAR did not answer {what} within {self._config.timeout_seconds:g} s",
                    detail=type(exc).__name__,
                )
            except httpx.TransportError as exc:
                error = TransientError(
                    f"network error talking to CANFAR for {what}", detail=type(exc).__name__
                )
            else:
                if response.status_code < 400:
                    return response
                error = _error_for(response, what, secrets)
                retryable = retryable and isinstance(error, TransientError)
            if not retryable or attempt == attempts:
                if isinstance(error, TransientError) and attempt > 1:
                    error.message = f"{error.message} (after {attempt} attempts)"
                    error.args = (error.message,)
                raise error
            delay = self._config.backoff_seconds * 2 ** (attempt - 1)
            await asyncio.sleep(min(delay, self._config.backoff_max_seconds))
        raise AssertionError("unreachable")  # pragma: no cover

    @staticmethod
    def _text(response: httpx.Response, what: str) -> str:
        try:
            return response.content.decode("utf-8")
        except UnicodeDecodeError:
            raise garbage(what, response.content[:120]) from None

    @classmethod
    def _json(cls, response: httpx.Response, what: str) -> Any:
        text = cls._text(response, what)
        try:
            return json.loads(text)
        except ValueError:
            raise garbage(what, text) from None


def _scrub(text: str, secrets: Sequence[str]) -> str:
    for secret in secrets:
        if secret:
            text = text.replace(secret, "**********")
    return text


def _error_for(response: httpx.Response, what: str, secrets: Sequence[str]) -> AdapterError:
    code = response.status_code
    said = _scrub(" ".join(response.text.split())[:300], secrets)
    detail = f"HTTP {code}: {said}" if said else f"HTTP {code}"
    if code == 401:
        return AuthError(
            f"CANFAR refused the credentials for {what} (HTTP 401): "
            "the token is missing, invalid or expired",
            detail=detail,
        )
    if code == 403:
        return AuthError(
            f"CANFAR denied {what} (HTTP 403): this identity may not do that", detail=detail
        )
    if code == 404:
        return NotFound(f"{what}: not found on CANFAR", detail=detail)
    if code == 409:
        return Conflict(f"{what}: conflict on CANFAR ({said or 'no reason given'})", detail=detail)
    if code == 400 and "reached the maximum" in said:
        return NoCapacity(f"CANFAR refused {what}: {said}", detail=detail)
    if code == 429 or code >= 500:
        return TransientError(f"CANFAR is unavailable for {what} (HTTP {code})", detail=detail)
    return InvalidRequest(
        f"CANFAR refused {what} (HTTP {code}): {said or 'no reason given'}", detail=detail
    )
