"""Azimuth's error answers -> the contract's errors (the one translation table).

Azimuth is Django REST Framework: errors are ``{"detail": ..., "code": ...}`` (views'
``convert_*_exceptions``), ``{field: [messages]}`` (serializer validation) or, from the
auth views, ``{"message": ...}``; the portal's words become the error's message.

The table is the toolkit's :func:`~ivoa_broker.toolkit.error_for_status` (400/422
``InvalidRequest``, 401/403 ``AuthError``, 404/410 ``NotFound``, 409 ``Conflict``,
429/5xx ``TransientError`` with ``Retry-After``, else ``FatalError``) with Azimuth's
refinement: a 409 with ``code: quota_exceeded`` (or naming a quota) is :class:`NoCapacity`.
"""

from __future__ import annotations

import json
from typing import Any

from ivoa_broker.protocol import AdapterError, NoCapacity
from ivoa_broker.toolkit import Redactor, error_for_status

__all__ = ["error_for", "message_of"]


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


def error_for(
    status: int, body: str, what: str, redactor: Redactor, retry_after: float | None = None
) -> AdapterError:
    said, code = message_of(body)
    said = redactor.scrub(said)
    detail = f"HTTP {status}: {said}" if said else f"HTTP {status}"
    if status == 409 and (code == "quota_exceeded" or "quota" in said.lower()):
        return NoCapacity(f"Azimuth refused {what}: {said}", detail=detail)
    if status == 429 or status >= 500:
        message = f"Azimuth is unavailable for {what} (HTTP {status})"
    elif status == 404:
        message = f"{what}: not found on Azimuth ({said})"
    else:
        message = f"Azimuth refused {what} (HTTP {status}): {said}"
    return error_for_status(status, message, retry_after=retry_after, detail=detail)
