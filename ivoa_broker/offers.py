"""Offer sets and offers: the ExecutionBroker negotiation on top of the job service.

``POST /requests`` -> :meth:`OfferService.request`: the request document becomes
the neutral request, every eligible adapter is asked concurrently through
:meth:`Dispatcher.gather_offers` (each with ``offer_deadline``; a slow or broken
platform is reported in the offer set's messages, not fatal), and the offers are
stored OFFERED with an expiry (``jobs.offer_ttl``, or the adapter's own earlier
one). The reaper expires them (OFFERED -> EXPIRED) at that instant.

Accepting (:meth:`OfferService.accept`) is one store transaction through
:meth:`JobService.accept_offer`: the offer becomes ACCEPTED, its siblings
REJECTED, and the UWS job is created with the offer's id, its parameters derived
from the request (:func:`request_parameters`), pinned to the offering platform
and submitted with the accepted offer. From then on the session *is* the job.
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator, Collection, Mapping
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from ivoa_broker.config import JobsSection
from ivoa_broker.dispatch import Dispatcher
from ivoa_broker.eb.convert import request_document, to_execution_request
from ivoa_broker.eb.errors import DocumentError
from ivoa_broker.eb.formats import to_data
from ivoa_broker.eb.model import MAX_OFFERS, ExecutionRequestDocument, SessionPhase
from ivoa_broker.errors import JobNotFound
from ivoa_broker.hops import HOPS_LABEL
from ivoa_broker.jobs import JobService, OfferConflict, OfferGone
from ivoa_broker.phases import TERMINAL
from ivoa_broker.protocol import (
    CallContext,
    Conflict,
    ExecutionRequest,
    NotFound,
    Offer,
    Phase,
    Secret,
    utcnow,
)
from ivoa_broker.records import Job, Parameter
from ivoa_broker.store import OfferRow, OfferSetRow, SessionRef, Store

__all__ = [
    "OFFER_PHASES",
    "OfferService",
    "OfferSetView",
    "SessionView",
    "offer_phase",
    "request_parameters",
]

#: The phases an offer row has before (or instead of) becoming a job.
OFFER_PHASES = frozenset(
    {SessionPhase.OFFERED, SessionPhase.ACCEPTED, SessionPhase.REJECTED, SessionPhase.EXPIRED}
)

#: Session phase -> the UWS phases of jobs shown in it (for listing filters).
_JOB_PHASES: Mapping[SessionPhase, frozenset[Phase]] = {
    SessionPhase.ACCEPTED: frozenset({Phase.PENDING}),
    SessionPhase.WAITING: frozenset({Phase.QUEUED, Phase.HELD, Phase.SUSPENDED}),
    SessionPhase.RUNNING: frozenset({Phase.EXECUTING}),
    SessionPhase.RELEASING: frozenset({Phase.ABORTED}),
    SessionPhase.CANCELLED: frozenset({Phase.ABORTED}),
    SessionPhase.COMPLETED: frozenset({Phase.COMPLETED, Phase.ARCHIVED}),
    SessionPhase.FAILED: frozenset({Phase.ERROR}),
}


#: offer set id -> (the lock its accepts take: platform confirm + local commit, users)
_ACCEPTING: dict[str, tuple[asyncio.Lock, int]] = {}


@contextlib.asynccontextmanager
async def _one_accept_at_a_time(offerset_id: str) -> AsyncIterator[None]:
    """Two offers of one set are never confirmed on their platforms at once."""
    lock, users = _ACCEPTING.get(offerset_id, (asyncio.Lock(), 0))
    _ACCEPTING[offerset_id] = (lock, users + 1)
    try:
        async with lock:
            yield
    finally:
        lock, users = _ACCEPTING[offerset_id]
        if users <= 1:
            del _ACCEPTING[offerset_id]
        else:
            _ACCEPTING[offerset_id] = (lock, users - 1)


def offer_phase(row: OfferRow, now: datetime) -> SessionPhase:
    """The phase an offer row shows: an OFFERED row past its expiry is EXPIRED
    even before the reaper has written it."""
    phase = SessionPhase(row.phase)
    if phase is SessionPhase.OFFERED and row.expires <= now:
        return SessionPhase.EXPIRED
    return phase


def request_parameters(request: ExecutionRequest, platform: str) -> list[Parameter]:
    """The UWS parameters of an EB request (what ``/jobs/{id}/parameters`` shows
    and what the dispatcher parses back into the same neutral request), pinned
    to ``platform``."""
    out: list[Parameter] = []

    def add(name: str, value: object) -> None:
        out.append(Parameter(name, str(value)))

    if request.kind != "batch":
        add("kind", request.kind)
    if request.command:
        add("cmd", request.command[0])
        for arg in request.command[1:]:
            add("args", arg)
    if request.image:
        add("image", request.image)
    if request.notebook:
        add("notebook", request.notebook)
    for key, value in request.env.items():
        add("env", f"{key}={value}")
    res = request.resources
    if res.cores is not None:
        add("cores", f"{res.cores:g}")
    if res.memory_bytes is not None:
        add("memory", res.memory_bytes)
    if res.gpus:
        add("gpus", res.gpus)
    if res.walltime_seconds:
        add("runtime", res.walltime_seconds)
    for url in request.inputs:
        add("input", url)
    for key, value in sorted(request.extensions.items()):
        add(key, value)
    add("platform", platform)
    return out


@dataclass(frozen=True)
class OfferSetView:
    """An offer set with its offers (and, for accepted ones, their jobs)."""

    offerset: OfferSetRow
    offers: list[OfferRow]
    jobs: Mapping[str, Job]


@dataclass(frozen=True)
class SessionView:
    """What ``/sessions/{id}`` shows: the offer row (if the session began as an
    offer), the job (once accepted, or any UWS job), and the request document."""

    session_id: str
    offer: OfferRow | None
    job: Job | None
    request: ExecutionRequestDocument | None
    created: datetime


class OfferService:
    """The ExecutionBroker lifecycle layer (stateless: build one where needed)."""

    def __init__(
        self, store: Store, jobs: JobService, dispatcher: Dispatcher, settings: JobsSection
    ) -> None:
        self.store = store
        self.jobs = jobs
        self.dispatcher = dispatcher
        self.settings = settings

    # ------------------------------------------------------------ offer sets

    async def request(
        self,
        owner: str | None,
        doc: ExecutionRequestDocument,
        *,
        hops: tuple[str, ...] = (),
        credentials: Secret | None = None,
        keep_empty: bool = True,
    ) -> OfferSetView:
        """Fan the request out to every eligible platform and store the offers.
        ``hops``: the federation hop list, this broker last (``labels[HOPS_LABEL]``);
        ``credentials``: the caller's token, for instances that forward it.
        An offer set without offers (``result: NO``) is stored only with ``keep_empty``
        (``POST /requests`` keeps it, readable with the reasons; ``POST /direct`` does not)."""
        offerset_id = str(uuid.uuid4())
        request = to_execution_request(doc, job_id=offerset_id, owner=owner)
        if hops:
            request = replace(request, labels={**request.labels, HOPS_LABEL: ",".join(hops)})
        ctx = CallContext(owner=owner, credentials=credentials, request_id=offerset_id)
        offers, refusals = await self.dispatcher.gather_offers(request, ctx)
        now = utcnow()
        latest = now + timedelta(seconds=self.settings.offer_ttl)
        rows: list[OfferRow] = []
        for seq, offer in enumerate(offers[:MAX_OFFERS]):
            own = offer.expires_at
            expires = min(own, latest) if own is not None and own.tzinfo is not None else latest
            stored = replace(offer, expires_at=expires)
            rows.append(
                OfferRow(
                    offer_id=str(uuid.uuid4()),
                    offerset_id=offerset_id,
                    owner=owner,
                    seq=seq,
                    created=now,
                    phase=SessionPhase.OFFERED.value,
                    expires=expires,
                    offer=stored.to_json(),
                )
            )
        offerset = OfferSetRow(
            offerset_id=offerset_id,
            owner=owner,
            created=now,
            request=to_data(doc),
            messages=tuple(
                {"platform": name, "text": why} for name, why in sorted(refusals.items())
            ),
        )
        if rows or keep_empty:
            await self.store.insert_offerset(offerset, rows)
        if rows:
            self.dispatcher.deadlines_changed(min(row.expires for row in rows))
        return OfferSetView(offerset, rows, {})

    async def offerset(self, offerset_id: str, owner: str | None) -> OfferSetView:
        found = await self.store.get_offerset(offerset_id)
        if found is None or found.owner != owner:
            raise JobNotFound(f"no offer set {offerset_id!r}")
        rows = await self.store.offers_of(offerset_id)
        return OfferSetView(found, rows, await self._jobs_of(rows))

    async def offersets(
        self,
        owner: str | None,
        *,
        phases: Collection[SessionPhase] | None,
        after: datetime | None,
        before: datetime | None,
        last: int | None,
    ) -> list[OfferSetView]:
        offer_phases = None
        if phases:
            offer_phases = [p.value for p in phases if p in OFFER_PHASES] or ["-"]
        limit = min(last, self.settings.list_limit) if last else self.settings.list_limit
        sets = await self.store.list_offersets(
            owner, offer_phases=offer_phases, after=after, before=before, limit=limit
        )
        views = []
        for found in sets:
            rows = await self.store.offers_of(found.offerset_id)
            views.append(OfferSetView(found, rows, await self._jobs_of(rows)))
        return views

    async def _jobs_of(self, rows: list[OfferRow]) -> dict[str, Job]:
        out: dict[str, Job] = {}
        for row in rows:
            if row.phase == SessionPhase.ACCEPTED.value:
                job = await self.store.get(row.offer_id)
                if job is not None:
                    out[row.offer_id] = job
        return out

    # -------------------------------------------------------------- sessions

    async def session(self, session_id: str, owner: str | None) -> SessionView:
        """An offer or a job, owner-scoped (a stranger's is "not found")."""
        job = await self.store.get(session_id)
        if job is not None and job.owner != owner:
            raise JobNotFound(f"no session {session_id!r}")
        offer = await self.store.get_offer(session_id)
        if offer is not None and offer.owner != owner:
            raise JobNotFound(f"no session {session_id!r}")
        if job is None and (offer is None or offer.phase == SessionPhase.ACCEPTED.value):
            raise JobNotFound(f"no session {session_id!r}")
        doc = None
        if offer is not None:
            offerset = await self.store.get_offerset(offer.offerset_id)
            if offerset is not None:
                doc = request_document(offerset.request)
        created = job.creation_time if job is not None else offer.created  # type: ignore[union-attr]
        return SessionView(session_id, offer, job, doc, created)

    async def sessions(
        self,
        owner: str | None,
        *,
        phases: Collection[SessionPhase] | None,
        after: datetime | None,
        before: datetime | None,
        last: int | None,
    ) -> list[SessionView]:
        offer_phases: list[str] | None = None
        job_phases: set[Phase] | None = None
        if phases:
            offer_phases = [p.value for p in phases if p in OFFER_PHASES - {SessionPhase.ACCEPTED}]
            job_phases = set()
            for p in phases:
                job_phases |= _JOB_PHASES.get(p, frozenset())
        limit = min(last, self.settings.list_limit) if last else self.settings.list_limit
        refs: list[SessionRef] = await self.store.list_sessions(
            owner,
            offer_phases=offer_phases,
            job_phases=job_phases,
            after=after,
            before=before,
            limit=limit,
        )
        views = []
        for ref in refs:
            try:
                views.append(await self.session(ref.session_id, owner))
            except JobNotFound:  # deleted meanwhile
                continue
        return views

    # --------------------------------------------------------------- updates

    async def accept(
        self, session_id: str, owner: str | None, credentials: Secret | None = None
    ) -> Job:
        """Accept an offer (idempotent); 409 rejected, 410 expired, 404 unknown.

        Atomic for the client across platforms that confirm accepts themselves (a
        remote broker): the platform's ``accept_offer`` runs first, and only once
        it has confirmed is the accept committed here; if it refuses, the accept
        fails with its reason and the offer and its siblings stay as they were.
        The siblings' platforms are then told (``reject_offer``), in the background.
        ``credentials``: the caller's token, for instances that forward it."""
        offer = await self.store.get_offer(session_id)
        if offer is None or offer.owner != owner:
            job = await self.store.get(session_id)
            if job is not None and job.owner == owner:
                # a UWS job: accepting it is asking for what it already is
                return job
            raise JobNotFound(f"no session {session_id!r}")
        offerset = await self.store.get_offerset(offer.offerset_id)
        if offerset is None:
            raise JobNotFound(f"no session {session_id!r}")
        doc = request_document(offerset.request)
        request = to_execution_request(doc, job_id=session_id, owner=owner)
        chosen = Offer.from_json(offer.offer)
        params = request_parameters(request, chosen.adapter)
        ctx = CallContext(owner=owner, credentials=credentials, request_id=session_id)
        async with _one_accept_at_a_time(offer.offerset_id):
            current = await self.store.get_offer(session_id)
            if current is None or offer_phase(current, utcnow()) is not SessionPhase.OFFERED:
                # accepted meanwhile (idempotent), rejected or expired: the usual answer
                return await self.jobs.accept_offer(session_id, owner, params, chosen)
            confirmed = await self._confirm(chosen, request, ctx)
            try:
                job = await self.jobs.accept_offer(session_id, owner, params, confirmed)
            except BaseException:
                self.dispatcher.decline_offers([confirmed], ctx)  # undo the platform's accept
                raise
        siblings = [
            Offer.from_json(row.offer)
            for row in await self.store.offers_of(offer.offerset_id)
            if row.offer_id != session_id and row.phase == SessionPhase.REJECTED.value
        ]
        self.dispatcher.decline_offers(siblings, ctx)
        return job

    async def _confirm(self, chosen: Offer, request: ExecutionRequest, ctx: CallContext) -> Offer:
        """The platform's own accept; its refusal is the client's 409 (410 if gone)."""
        try:
            return await self.dispatcher.confirm_offer(chosen, request, ctx)
        except NotFound as exc:
            raise OfferGone(f"the platform no longer has this offer: {exc.message}", "") from None
        except Conflict as exc:
            raise OfferConflict(f"the platform refused the accept: {exc.message}", "") from None

    async def reject(self, session_id: str, owner: str | None) -> None:
        offer = await self.store.get_offer(session_id)
        if offer is None or offer.owner != owner:
            await self._job_or_missing(session_id, owner)
            raise OfferConflict(f"session {session_id} is not an offer; it cannot be rejected", "")
        stopped = await self.store.reject_offer(session_id, utcnow())
        if stopped is None:
            self.dispatcher.decline_offers([Offer.from_json(offer.offer)], CallContext(owner))
            return
        if stopped == SessionPhase.REJECTED.value:
            return
        if stopped == SessionPhase.EXPIRED.value:
            raise OfferGone(f"offer {session_id} has expired", stopped)
        raise OfferConflict(f"offer {session_id} is {stopped}; it cannot be rejected", stopped)

    async def cancel(self, session_id: str, owner: str | None) -> None:
        """Cancel an accepted session: the job is aborted (RELEASING until the
        platform has let go). Cancelling a cancelled session again is a no-op."""
        job = await self._job_or_missing(session_id, owner)
        if job is None:
            raise OfferConflict(
                f"session {session_id} is an offer, not accepted; reject it instead", ""
            )
        if job.phase is Phase.ABORTED:
            return
        if job.phase in TERMINAL or job.phase is Phase.ARCHIVED:
            raise OfferConflict(f"session {session_id} has ended ({job.phase}); too late", "")
        await self.jobs.abort(session_id, owner)

    async def extend(self, session_id: str, owner: str | None, seconds: int) -> int:
        """Run-time extension: the job's execution duration becomes current + delta."""
        job = await self._job_or_missing(session_id, owner)
        if job is None:
            raise OfferConflict(f"session {session_id} is not accepted; nothing runs yet", "")
        current = job.execution_duration
        if current == 0:
            raise OfferConflict(f"session {session_id} has no run-time limit to extend", "")
        if seconds < 0:
            # meta.options offers deltas of 0..max: the run time is extended, never cut
            raise DocumentError(
                422, "Unsupported update", "the run time can be extended, not shortened", "delta"
            )
        wanted = current + seconds
        return await self.jobs.set_execution_duration(session_id, owner, wanted)

    async def direct(
        self,
        owner: str | None,
        doc: ExecutionRequestDocument,
        credentials: Secret | None = None,
    ) -> Job:
        """``POST /direct``: ask for offers and accept the best one in one step."""
        view = await self.request(owner, doc, credentials=credentials, keep_empty=False)
        if not view.offers:
            reasons = "; ".join(f"{m['platform']}: {m['text']}" for m in view.offerset.messages)
            raise DocumentError(
                422,
                "No offer",
                f"no platform can run this request ({reasons or 'no platform configured'})",
                "",
            )
        return await self.accept(view.offers[0].offer_id, owner, credentials)

    async def _job_or_missing(self, session_id: str, owner: str | None) -> Job | None:
        """The caller's job with this id; ``None`` if it is the caller's offer; 404 else."""
        job = await self.store.get(session_id)
        if job is not None:
            if job.owner != owner:
                raise JobNotFound(f"no session {session_id!r}")
            return job
        offer = await self.store.get_offer(session_id)
        if offer is None or offer.owner != owner:
            raise JobNotFound(f"no session {session_id!r}")
        return None
