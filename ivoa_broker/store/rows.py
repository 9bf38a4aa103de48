"""What the store hands back besides :class:`~ivoa_broker.records.Job`: rows of its own
(results with their paths, offers, sessions), the typed set of job columns a write may
change, and the store's one exception."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, TypedDict

from ivoa_broker.protocol import Phase
from ivoa_broker.records import JobError, JobResult, Parameter


class StoreError(Exception):
    """The store cannot be used (file unwritable, disk full, corrupt, server gone)."""


class JobFields(TypedDict, total=False):
    """The job columns a write may set, each with its type: the only names a
    :meth:`~ivoa_broker.store.interface.JobRepository.update` or ``move`` accepts.

    ``error=None`` clears the error; ``run_deadline=None`` stops enforcing one;
    ``abort_reason`` and ``released`` are the lifecycle flags of an aborted job
    (why it was stopped; when its platform confirmed that it let go);
    ``launch_intent`` is the offer JSON a submit is going to (written before
    ``submit`` is called; ``None``: no submit may have reached a platform).
    """

    run_id: str | None
    start_time: datetime | None
    end_time: datetime | None
    quote: datetime | None
    execution_duration: int
    destruction: datetime | None
    parameters: Sequence[Parameter]
    error: JobError | None
    platform: str | None
    handle: str | None
    job_info: Mapping[str, str]
    run_deadline: datetime | None
    cancel_requested: bool
    abort_reason: str | None
    released: datetime | None
    launch_intent: str | None


@dataclass(frozen=True)
class StoredResult:
    """A result row: what the job document shows plus where the bytes are."""

    result: JobResult
    path: str | None = None


@dataclass(frozen=True)
class JobEnd:
    """One job's part of :meth:`~ivoa_broker.store.interface.JobRepository.record_ends`:
    its ``results`` are stored, then it moves to ``to`` with ``fields`` if it is in one
    of ``from_phases`` (compare-and-set; no ``from_phases``: the results only)."""

    job_id: str
    from_phases: tuple[Phase, ...]
    to: Phase
    fields: JobFields
    results: tuple[StoredResult, ...] = ()


@dataclass(frozen=True)
class LiveJob:
    """What the dispatcher needs to resume a job after a restart."""

    job_id: str
    owner: str | None
    phase: Phase
    platform: str | None
    handle: str | None
    cancel_requested: bool


@dataclass(frozen=True)
class OfferSetRow:
    """A stored offer set: the request document as received (JSON data) and the
    messages of the fan-out (platforms that refused, failed or timed out)."""

    offerset_id: str
    owner: str | None
    created: datetime
    request: Mapping[str, Any]
    messages: Sequence[Mapping[str, str]] = ()


@dataclass(frozen=True)
class OfferRow:
    """A stored offer (a session in an offer phase until it is accepted).

    ``phase`` is OFFERED, ACCEPTED, REJECTED or EXPIRED; ``offer`` is the
    adapter's :class:`~ivoa_broker.protocol.Offer` as JSON. An accepted offer's
    job has the same id.
    """

    offer_id: str
    offerset_id: str
    owner: str | None
    seq: int
    created: datetime
    phase: str
    expires: datetime
    offer: Mapping[str, Any]


@dataclass(frozen=True)
class SessionRef:
    """One entry of a session listing: an offer row or a job, by id."""

    session_id: str
    created: datetime
    is_job: bool
