"""The journal of jobs: one structured log line and one counter for every phase change.

:class:`JobService` calls :meth:`Journal.moved` wherever a job's phase changes (and
:meth:`Journal.created` / :meth:`Journal.deleted` at both ends of its life). The line goes to
the logger ``ivoa_broker.journal`` in the broker's one format (:mod:`ivoa_broker.logs`) with
the keys ``event``, ``job``, ``owner``, ``platform``, ``from``, ``to`` and ``reason``; the
counter is ``ivoa_broker_job_transitions_total{from,to,platform}``.

The reason is what the move itself brings (an error message, an abort reason, the platform's
message, the end reason or exit code), never a value the job already had. It is one line of at
most :data:`REASON_LIMIT` characters, with credential-like query parameters written as ``***``;
parameters, tokens and the Handle are never logged.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from ivoa_broker.logs import redact_query
from ivoa_broker.metrics import Metrics
from ivoa_broker.protocol import Phase
from ivoa_broker.records import Job, JobError

log = logging.getLogger("ivoa_broker.journal")

REASON_LIMIT = 300

#: jobInfo keys a move may bring, in the order they explain it best
_INFO_REASONS = ("end_reason", "platform_message", "exit_code", "signal")


class Journal:
    """Where job transitions are told: the log and the transitions counter."""

    def __init__(self, metrics: Metrics | None = None) -> None:
        self.metrics = metrics if metrics is not None else Metrics()

    def created(self, job: Job, reason: str) -> None:
        """A new job, stored in ``job.phase`` (``from`` is empty)."""
        self._tell(job, "", job.phase, reason)

    def moved(
        self, job: Job, to: Phase, fields: Mapping[str, Any] | None = None, reason: str = ""
    ) -> None:
        """``job`` (as it was before) moved to ``to``; ``fields`` are what the move wrote."""
        self._tell(job, job.phase, to, reason or reason_of(job, fields or {}))

    def deleted(self, job: Job) -> None:
        log.info(
            "job %s deleted",
            job.job_id,
            extra={
                "event": "deleted",
                "job": job.job_id,
                "owner": _owner(job),
                "platform": job.platform or "",
            },
        )

    def _tell(self, job: Job, before: str, to: Phase, reason: str) -> None:
        platform = job.platform or ""
        self.metrics.transition(before, to, platform)
        log.info(
            "job %s %s -> %s",
            job.job_id,
            before or "(new)",
            to,
            extra={
                "event": "transition",
                "job": job.job_id,
                "owner": _owner(job),
                "platform": platform,
                "from": before,
                "to": str(to),
                "reason": one_line(reason),
            },
        )


def reason_of(job: Job, fields: Mapping[str, Any]) -> str:
    """Why a move happened, from what it writes: the new error, else the abort's reason
    (its own column), else new jobInfo entries."""
    error = fields.get("error")
    if isinstance(error, JobError) and error != job.error:
        return error.message
    abort_reason = fields.get("abort_reason")
    if isinstance(abort_reason, str) and abort_reason and abort_reason != job.abort_reason:
        return abort_reason
    info = fields.get("job_info")
    if isinstance(info, Mapping):
        new = {k: v for k, v in info.items() if job.job_info.get(k) != v}
        for key in _INFO_REASONS:
            if new.get(key):
                return f"{key}={new[key]}" if key in ("exit_code", "signal") else str(new[key])
    return ""


def one_line(text: str) -> str:
    """``text`` on one line, credential-like query values hidden, at most REASON_LIMIT long."""
    flat = " ".join(redact_query(text).split())
    return flat if len(flat) <= REASON_LIMIT else flat[: REASON_LIMIT - 1] + "…"


def _owner(job: Job) -> str:
    return job.owner if job.owner is not None else "-"
