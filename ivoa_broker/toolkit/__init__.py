"""Helpers for adapter authors (public API, versioned with the contract).

* :class:`Redactor` - replaces every known secret in a text with ``***``
  (for error messages and details built from a platform's answers);
* :func:`error_for_status` - one HTTP status -> :class:`~ivoa_broker.protocol.AdapterError`
  table for every REST adapter, :func:`parse_retry_after` for ``Retry-After``;
* :class:`HttpBoundary` - turns httpx exceptions and error responses into
  the contract's errors, redacted;
* :func:`retrying` - retries on :class:`~ivoa_broker.protocol.TransientError`
  with exponential backoff and jitter (tenacity), honouring ``retry_after``.

Modules imported on their own (they are for some adapters only):
:mod:`ivoa_broker.toolkit.faults` (fault injection for platform emulators),
:mod:`ivoa_broker.toolkit.cloudinit` (the cloud-init user data of a batch machine:
run, report to the callback route, power off).

Example::

    boundary = HttpBoundary("Slurm REST", secrets=[config.token])

    @retrying(attempts=4, max_delay=30.0)
    async def jobs(self) -> list[dict[str, Any]]:
        with boundary.calling("list jobs"):
            response = await self._http.get("/slurm/v0.0.40/jobs")
        return boundary.check(response, "list jobs").json()
"""

from __future__ import annotations

from ivoa_broker.toolkit.http import HttpBoundary, error_for_status, parse_retry_after
from ivoa_broker.toolkit.redact import REDACTED, Redactor
from ivoa_broker.toolkit.retry import Retrying, retrying

__all__ = [
    "REDACTED",
    "HttpBoundary",
    "Redactor",
    "Retrying",
    "error_for_status",
    "parse_retry_after",
    "retrying",
]
