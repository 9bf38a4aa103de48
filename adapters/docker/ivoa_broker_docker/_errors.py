"""The adapter's one exception boundary: docker SDK / requests errors -> AdapterError."""

from __future__ import annotations

import json

import docker.errors
import requests.exceptions

from ivoa_broker.protocol import AdapterError, FatalError, NotFound, TransientError
from ivoa_broker.toolkit import error_for_status

__all__ = ["translate"]


def translate(exc: BaseException, what: str) -> AdapterError:
    """The contract error for ``exc`` raised while doing ``what``."""
    if isinstance(exc, AdapterError):
        return exc
    if isinstance(exc, docker.errors.NotFound):
        return NotFound(f"{what}: not found", detail=str(exc))
    if isinstance(exc, docker.errors.APIError):
        status = exc.status_code or 500
        explanation = exc.explanation if isinstance(exc.explanation, str) else str(exc)
        return error_for_status(status, f"{what}: engine answered {status}: {explanation}")
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
