"""HTTP status -> contract errors, and a boundary for httpx-based clients."""

from __future__ import annotations

import contextlib
from collections.abc import Iterable, Iterator
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime

import httpx

from ivoa_broker.protocol import (
    AdapterError,
    AuthError,
    Conflict,
    FatalError,
    InvalidRequest,
    NotFound,
    Secret,
    TransientError,
)
from ivoa_broker.toolkit.redact import Redactor

__all__ = ["HttpBoundary", "error_for_status", "parse_retry_after"]


def error_for_status(
    status: int,
    message: str,
    *,
    retry_after: float | None = None,
    detail: str | None = None,
) -> AdapterError:
    """The contract error for an HTTP error status (the one table for all adapters).

    ====================  ===================================================
    400, 422              :class:`InvalidRequest`
    401, 403              :class:`AuthError`
    404, 410              :class:`NotFound`
    409                   :class:`Conflict`
    429, 5xx              :class:`TransientError` (with ``retry_after``)
    anything else         :class:`FatalError`
    ====================  ===================================================

    Platform-specific refinements (a 403 that means "quota", which is
    :class:`~ivoa_broker.protocol.NoCapacity`) are the adapter's to make
    before calling this.
    """
    if status in (400, 422):
        return InvalidRequest(message, detail=detail)
    if status in (401, 403):
        return AuthError(message, detail=detail)
    if status in (404, 410):
        return NotFound(message, detail=detail)
    if status == 409:
        return Conflict(message, detail=detail)
    if status == 429 or 500 <= status <= 599:
        return TransientError(message, detail=detail, retry_after=retry_after)
    return FatalError(message, detail=detail)


def parse_retry_after(value: str | None, *, now: datetime | None = None) -> float | None:
    """Seconds to wait from a ``Retry-After`` header (seconds or an HTTP date)."""
    if value is None:
        return None
    text = value.strip()
    if text.isdigit():
        return float(text)
    try:
        when = parsedate_to_datetime(text)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max((when - (now or datetime.now(UTC))).total_seconds(), 0.0)


class HttpBoundary:
    """Where an httpx client's exceptions and error answers become contract errors.

    ``platform`` names the platform in messages ("CANFAR"); every text taken
    from an answer is redacted of ``secrets`` and clipped.
    """

    def __init__(
        self, platform: str, secrets: Iterable[str | Secret] = (), *, clip: int = 300
    ) -> None:
        self.platform = platform
        self.redactor = Redactor(secrets)
        self.clip = clip

    def said(self, response: httpx.Response) -> str:
        """The answer's body, one line, redacted and clipped."""
        try:
            text = response.text
        except (UnicodeDecodeError, httpx.ResponseNotRead):
            return ""
        return self.redactor.scrub(" ".join(text.split()))[: self.clip]

    def error(self, response: httpx.Response, what: str) -> AdapterError:
        """The contract error for an error answer to ``what``."""
        code = response.status_code
        said = self.said(response)
        message = f"{self.platform} refused {what} (HTTP {code})"
        if said and code < 500:
            message = f"{message}: {said}"
        return error_for_status(
            code,
            message,
            retry_after=parse_retry_after(response.headers.get("retry-after")),
            detail=f"HTTP {code}: {said}" if said else f"HTTP {code}",
        )

    def check(self, response: httpx.Response, what: str) -> httpx.Response:
        """``response`` if it is not an error; else raise :meth:`error`."""
        if response.status_code >= 400:
            raise self.error(response, what)
        return response

    @contextlib.contextmanager
    def calling(self, what: str) -> Iterator[None]:
        """Wrap one request: network trouble and timeouts become :class:`TransientError`."""
        try:
            yield
        except httpx.TimeoutException as exc:
            raise TransientError(
                f"{self.platform} did not answer {what} in time", detail=type(exc).__name__
            ) from None
        except httpx.TransportError as exc:
            raise TransientError(
                f"cannot reach {self.platform} for {what}",
                detail=f"{type(exc).__name__}: {self.redactor.scrub(str(exc))}",
            ) from None
