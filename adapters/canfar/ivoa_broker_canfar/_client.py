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

Retries are bounded (``retries`` extra attempts, exponential backoff with
jitter capped at ``backoff_max_seconds``, honouring ``Retry-After``; the
toolkit's :func:`~ivoa_broker.toolkit.retrying`). The status table is the
toolkit's :func:`~ivoa_broker.toolkit.error_for_status`, refined for skaha.
Creating a session is retried only when the connection could not be made at
all (the request never left), so a 5xx or a lost answer never creates a
second session; the adapter recovers those by name.

Secrets: tokens travel only in request headers; messages built from response
bodies are scrubbed of every secret this client knows.
"""

from __future__ import annotations

import json
import re
import ssl
from collections.abc import Mapping, Sequence
from typing import Any, Literal

import httpx

from ivoa_broker.protocol import (
    AdapterError,
    FatalError,
    InvalidRequest,
    NoCapacity,
    Secret,
    TransientError,
)
from ivoa_broker.toolkit import Redactor, error_for_status, parse_retry_after, retrying
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
        self._redactor = Redactor(
            s.get_secret_value() for s in (config.token, config.registry_auth) if s is not None
        )
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
        if self._config.auth_type_header:
            headers["X-Skaha-Authentication-Type"] = self._config.auth_type_header
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
        redactor = self._redactor.with_secrets([token])
        tries = 0

        async def once() -> httpx.Response:
            nonlocal tries
            tries += 1
            try:
                response = await self._http.request(
                    method, path, params=params, data=data, headers=self._headers(token)
                )
            except (httpx.ConnectError, httpx.ConnectTimeout) as exc:
                raise _NotSent(  # the request never reached the server
                    f"cannot reach CANFAR at {self._base} for {what}", detail=type(exc).__name__
                ) from None
            except httpx.TimeoutException as exc:
                raise TransientError(
                    f"CANFAR did not answer {what} within {self._config.timeout_seconds:g} s",
                    detail=type(exc).__name__,
                ) from None
            except httpx.TransportError as exc:
                raise TransientError(
                    f"network error talking to CANFAR for {what}", detail=type(exc).__name__
                ) from None
            if response.status_code >= 400:
                raise _error_for(response, what, redactor)
            return response

        policy = retrying(
            1 + self._config.retries,
            self._config.backoff_max_seconds,
            initial=self._config.backoff_seconds,
            retry_if=lambda exc: retry == "always" or isinstance(exc, _NotSent),
        )
        try:
            return await policy.call(once)
        except TransientError as error:
            if tries > 1:
                error.message = f"{error.message} (after {tries} attempts)"
                error.args = (error.message,)
            raise

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


class _NotSent(TransientError):
    """A TransientError for a request that never reached the server (safe to retry
    even for a create)."""


def _error_for(response: httpx.Response, what: str, redactor: Redactor) -> AdapterError:
    """skaha's answer as a contract error: the toolkit's status table, with skaha's
    own wording, its "reached the maximum" (NoCapacity), and every other 4xx an
    InvalidRequest (skaha explains its refusals in the body)."""
    code = response.status_code
    said = redactor.scrub(" ".join(response.text.split())[:300])
    detail = f"HTTP {code}: {said}" if said else f"HTTP {code}"
    if code == 400 and "reached the maximum" in said:
        return NoCapacity(f"CANFAR refused {what}: {said}", detail=detail)
    messages = {
        401: f"CANFAR refused the credentials for {what} (HTTP 401): "
        "the token is missing, invalid or expired",
        403: f"CANFAR denied {what} (HTTP 403): this identity may not do that",
        404: f"{what}: not found on CANFAR",
        409: f"{what}: conflict on CANFAR ({said or 'no reason given'})",
    }
    if code == 429 or code >= 500:
        message = f"CANFAR is unavailable for {what} (HTTP {code})"
    else:
        message = messages.get(
            code, f"CANFAR refused {what} (HTTP {code}): {said or 'no reason given'}"
        )
    error = error_for_status(
        code,
        message,
        retry_after=parse_retry_after(response.headers.get("retry-after")),
        detail=detail,
    )
    if isinstance(error, FatalError) and code < 500:
        return InvalidRequest(message, detail=detail)
    return error
