"""The store's interface: what the services may ask of the job and the offer store.

:class:`~ivoa_broker.store.JobStore` implements both over SQLite or PostgreSQL;
the services (:mod:`ivoa_broker.jobs`, :mod:`ivoa_broker.offers`) and the
dispatcher depend on these methods only. Every write is one statement or one
transaction; a phase change is a compare-and-set (``move``), so concurrent
writers (tasks in one process, or replicas on one PostgreSQL) never overwrite
each other's transitions.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterable, Sequence
from datetime import datetime
from pathlib import Path
from typing import Protocol, Unpack

from ivoa_broker.protocol import Phase
from ivoa_broker.records import Job, JobSummary
from ivoa_broker.store.rows import (
    JobEnd,
    JobFields,
    LiveJob,
    OfferRow,
    OfferSetRow,
    SessionRef,
    StoredResult,
)


class JobRepository(Protocol):
    """Jobs and their results."""

    async def insert(self, job: Job) -> None:
        """Store a new job; its id must be new."""
        ...

    async def get(self, job_id: str) -> Job | None:
        """The job (with results), or ``None``. May answer from the record cache,
        which every write, local or on another replica, invalidates."""
        ...

    def cached(self, job_id: str) -> Job | None:
        """The job from the record cache, without I/O; ``None`` when the cache does
        not hold it (which says nothing of whether the job exists: ask :meth:`get`)."""
        ...

    async def owner_of(self, job_id: str) -> tuple[bool, str | None]:
        """(exists, owner) without loading the job."""
        ...

    async def list_jobs(
        self,
        owner: str | None,
        *,
        phases: Collection[Phase] | None,
        after: datetime | None,
        last: int | None,
        limit: int,
    ) -> list[JobSummary]:
        """One owner's jobs, newest first; ARCHIVED only when asked for."""
        ...

    async def list_every_job(
        self, *, phases: Collection[Phase] | None, after: datetime | None, limit: int
    ) -> list[JobSummary]:
        """Every owner's jobs, newest first (the admins' job list)."""
        ...

    async def count(self) -> int: ...

    async def count_active_jobs(self, owner: str | None) -> int:
        """An owner's jobs that have not ended (per-owner limits)."""
        ...

    async def count_by_phase(self) -> dict[tuple[str, str], int]:
        """Jobs by (phase, platform); platform '' before submission."""
        ...

    async def update(self, job_id: str, **fields: Unpack[JobFields]) -> bool:
        """Set the given columns; True if the job exists."""
        ...

    async def move(
        self,
        job_id: str,
        from_phases: Collection[Phase],
        to: Phase,
        **fields: Unpack[JobFields],
    ) -> bool:
        """Compare-and-set: move to ``to`` (and set ``fields``) only if the job is in
        one of ``from_phases``; False if it is not (or does not exist)."""
        ...

    async def record_ends(self, ends: Sequence[JobEnd]) -> list[bool]:
        """Tasks' ends, all in one transaction: each end's results, then its
        compare-and-set move (as :meth:`move`); per end, whether it moved."""
        ...

    async def delete(self, job_id: str) -> bool:
        """Forget the job and its results; True if it existed."""
        ...

    async def live_jobs(self, phases: Collection[Phase]) -> list[LiveJob]:
        """Jobs in ``phases``, oldest first."""
        ...

    async def unreleased_aborts(self) -> list[LiveJob]:
        """Aborted jobs whose platform has not confirmed that it let go."""
        ...

    async def handle_of(self, job_id: str) -> tuple[str | None, str | None]:
        """(platform, handle JSON) of a job; (None, None) if none."""
        ...

    async def intent_of(self, job_id: str) -> str | None:
        """The job's launch intent: the offer JSON (naming the platform instance) a
        submit was about to go to, written before ``submit`` is called; ``None``
        if no submit was started (or the job does not exist)."""
        ...

    async def job_ids(self, job_ids: Iterable[str]) -> set[str]:
        """Which of ``job_ids`` may own a platform task: not archived, and with a
        Handle or still QUEUED (the others' tasks are orphans)."""
        ...

    async def next_deadline(self) -> datetime | None:
        """Earliest run deadline, destruction time or offer expiry to enforce."""
        ...

    async def overrun(self, now: datetime) -> list[str]:
        """Jobs past their run deadline."""
        ...

    async def expired(self, now: datetime) -> list[str]:
        """Jobs past their destruction time, not yet archived."""
        ...

    async def add_results(self, job_id: str, results: Sequence[StoredResult]) -> None:
        """Record results; a result id seen again is updated, not duplicated."""
        ...

    async def get_result(self, job_id: str, result_id: str) -> StoredResult | None: ...

    async def drop_results(self, job_id: str) -> None: ...


class OfferRepository(Protocol):
    """ExecutionBroker offer sets and offers."""

    async def insert_offerset(self, offerset: OfferSetRow, offers: Sequence[OfferRow]) -> None:
        """The set and its offers, in one transaction."""
        ...

    async def get_offerset(self, offerset_id: str) -> OfferSetRow | None: ...

    async def offers_of(self, offerset_id: str) -> list[OfferRow]: ...

    async def get_offer(self, offer_id: str) -> OfferRow | None: ...

    async def accept_offer(
        self, offer_id: str, job: Job, now: datetime, intent: str | None = None
    ) -> str | None:
        """OFFERED -> ACCEPTED, siblings -> REJECTED, job inserted (with ``intent`` as
        its launch intent), atomically; ``None`` on success, else the phase that
        stopped it, ``""`` if none."""
        ...

    async def reject_offer(self, offer_id: str, now: datetime) -> str | None:
        """OFFERED -> REJECTED; ``None`` on success, else the phase that stopped it."""
        ...

    async def expire_offers(self, now: datetime) -> list[str]:
        """OFFERED -> EXPIRED past expiry; the ids."""
        ...

    async def count_pending_offersets(self, owner: str | None, now: datetime) -> int:
        """An owner's offer sets with an offer still OFFERED and unexpired."""
        ...

    async def list_offersets(
        self,
        owner: str | None,
        *,
        offer_phases: Collection[str] | None,
        after: datetime | None,
        before: datetime | None,
        limit: int,
    ) -> list[OfferSetRow]: ...

    async def list_sessions(
        self,
        owner: str | None,
        *,
        offer_phases: Collection[str] | None,
        job_phases: Collection[Phase] | None,
        after: datetime | None,
        before: datetime | None,
        limit: int,
    ) -> list[SessionRef]: ...


class Store(JobRepository, OfferRepository, Protocol):
    """Both aggregates and the store's life cycle."""

    #: where the data lives, safe to show (a file path, or a URL without password)
    path: Path | str

    async def ping(self) -> bool:
        """True if the database answers."""
        ...

    async def writable(self) -> bool:
        """True if a write could start now."""
        ...

    def on_change(self, callback: Callable[[str], None]) -> None:
        """Call ``callback(id)`` when another process changed a job or an offer
        (PostgreSQL notifications; never on SQLite, which serves one process).
        ``id`` ``"*"``: changes may have been missed, treat everything as changed."""
        ...

    async def close(self) -> None: ...
