"""Errors the core raises towards clients, each with its HTTP status.

Adapter errors (:mod:`ivoa_broker.protocol`) carry their own ``http_status``;
the web layer renders both kinds the same way.
"""

from __future__ import annotations

from typing import ClassVar


class BrokerError(Exception):
    """A client-facing error: ``message`` says what is wrong and what to fix."""

    status: ClassVar[int] = 500

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class BadRequest(BrokerError):
    status = 400


class Unauthorized(BrokerError):
    """No identity: ``challenges`` are the ``WWW-Authenticate`` values to send."""

    status = 401

    def __init__(self, message: str, challenges: list[str] | None = None) -> None:
        super().__init__(message)
        self.challenges = challenges or ['Bearer realm="ivoa-broker"']


class NotPermitted(BrokerError):
    """The caller may not use this (access policy): 403 with the reason."""

    status = 403


class TooManyRequests(BrokerError):
    """A per-owner limit is reached: 429, try again after ``retry_after`` seconds."""

    status = 429

    def __init__(self, message: str, retry_after: int) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class Forbidden(BrokerError):
    """The request is not allowed in the job's current phase (UWS: 403)."""

    status = 403


class JobNotFound(BrokerError):
    status = 404


class Gone(BrokerError):
    status = 410


class PayloadTooLarge(BrokerError):
    status = 413


class ServiceUnavailable(BrokerError):
    status = 503
