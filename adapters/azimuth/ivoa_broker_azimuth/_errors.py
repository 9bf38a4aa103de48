"""Azimuth's error answers -> the contract's errors (the one translation table).

Azimuth is Django REST Framework: errors are ``{"detail": ..., "code": ...}`` (views'
``convert_*_exceptions``), ``{field: [messages]}`` (serializer validation) or, from the
auth views, ``{"message": ...}``.

====================================  ==============================================
401, 403                              :class:`AuthError`
404                                   :class:`NotFound`
409 ``quota_exceeded`` / "quota"      :class:`NoCapacity` with the portal's words
409 other                             :class:`Conflict`
400, 405, 413, 422, other 4xx         :class:`InvalidRequest` with the portal's words
429, 5xx (504 operation_timed_out)    :class:`TransientError`
====================================  ==============================================
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

from ivoa_broker.protocol import (
    AdapterError,
    AuthError,
    Conflict,
    InvalidRequest,
    NoCapacity,
    NotFound,
    TransientError,
)

__all__ = ["error_for", "message_of", "scrub"]


def scrub(text: str, secrets: Iterable[str]) -> str:
    for secret in secrets:
        if secret:
            text = text.replace(secret, "***")
    return text


def _flatten(value: Any, path: str = "") -> list[str]:
    if isinstance(value, dict):
        out: list[str] = []
        for key, inner in value.items():
            out += _flatten(inner, f"{path}.{key}" if path else str(key))
        return out
    if isinstance(value, list):
        return [m for item in value for m in _flatten(item, path)]
    return [f"{path}: {value}" if path else str(value)]


def message_of(body: str) -> tuple[str, str | None]:
    """(the portal's message, its ``code``) from an error body; raw text if not JSON."""
    try:
        data = json.loads(body)
    except ValueError:
        return " ".join(body.split())[:300], None
    if isinstance(data, dict):
        code = data.get("code") if isinstance(data.get("code"), str) else None
        for key in ("detail", "message"):
            if isinstance(data.get(key), str):
                return str(data[key]), code
        return "; ".join(_flatten(data))[:500], code
    return "; ".join(_flatten(data))[:500], None


def error_for(status: int, body: str, what: str, secrets: Iterable[str]) -> AdapterError:
    said, code = message_of(body)
    said = scrub(said, list(secrets))
    detail = f"HTTP {status}: {said}" if said else f"HTTP {status}"
    if status in (401, 403):
        verb = "refused the credentials for" if status == 401 else "denied"
        return AuthError(f"Azimuth {verb} {what} (HTTP {status}): {said}", detail=detail)
    if status == 404:
        return NotFound(f"{what}: not found on Azimuth ({said})", detail=detail)
    if status == 409:
        if code == "quota_exceeded" or "quota" in said.lower():
            return NoCapacity(f"Azimuth refused {what}: {said}", detail=detail)
        return Conflict(f"Azimuth refused {what}: {said}", detail=detail)
    if status == 429 or status >= 500:
        return TransientError(f"Azimuth is unavailable for {what} (HTTP {status})", detail=detail)
    return InvalidRequest(f"Azimuth refused {what} (HTTP {status}): {said}", detail=detail)
