"""The adapter's one exception boundary: docker SDK / requests errors -> AdapterError."""

from __future__ import annotations

import json

import docker.errors
import requests.exceptions

from ivoa_broker.protocol import (
    AdapterError,
    AuthError,
    Conflict,
    FatalError,
    InvalidRequest,
    NotFound,
    TransientError,
)

__all__ = ["translate"]


def _for_status(status: int, message: str) -> AdapterError:
    if status in (400, 422):
        return InvalidRequest(message)
    if status in (401, 403):
        return AuthError(message)
    if status in (404, 410):
        return NotFound(message)
    if status == 409:
        return Conflict(message)
    if status == 429 or status >= 500:
        return TransientError(message)
    return FatalError(message)


def translate(exc: BaseException, what: str) -> AdapterError:
    """The contract error for ``exc`` raised while doing ``what``."""
    if isinstance(exc, AdapterError):
        return exc
    if isinstance(exc, docker.errors.NotFound):
        return NotFound(f"{what}: not found", detail=str(exc))
    if isinstance(exc, docker.errors.APIError):
        status = exc.status_code or 500
        explanation = exc.explanation if isinstance(exc.explanation, str) else str(exc)
        return _for_status(status, f"{what}: engine answered {status}: {explanation}")
    # before OSError: requests' exceptions are OSErrors, its JSONDecodeError too
    if isinstance(exc, json.JSONDecodeError | requests.exceptions.InvalidJSONError):
        return FatalError(f"{what}: the engine's answer does not parse", detail=repr(exc))
    if isinstance(exc, requests.exceptions.Timeout | TimeoutError):
        return TransientError(f"{what}: the engine did not answer in time", detail=str(exc))
    if isinstance(exc, requests.exceptions.ConnectionError | ConnectionError | OSError):
        return TransientError(f"{what}: cannot reach the engine", detail=str(exc))
    if isinstance(exc, json.JSONDecodeError | ValueError | KeyError | TypeError):
        return FatalError(f"{what}: the engine's answer does not parse", detail=repr(exc))
    if isinstance(exc, docker.errors.DockerException | requests.exceptions.RequestException):
        return TransientError(f"{what}: {exc}", detail=repr(exc))
    return FatalError(f"{what}: {type(exc).__name__}", detail=repr(exc))
