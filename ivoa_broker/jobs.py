"""JobService: the only writer of jobs, and the place the phase rules are applied.

Routes call it with the caller's owner; the dispatcher calls its ``record_*``
methods with what platforms report. Every phase change goes through
:meth:`JobService._move` (compare-and-set in the store) and wakes the job's
waiters through :class:`ChangeEvents`: WAIT is woken by an event, never by
polling.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import uuid
from collections.abc import Collection, Iterator, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Protocol, Unpack

from ivoa_broker.config import JobsSection
from ivoa_broker.errors import BadRequest, BrokerError, Forbidden, JobNotFound
from ivoa_broker.journal import Journal
from ivoa_broker.phases import BLOCKING, TERMINAL, Action, allowed, can_move
from ivoa_broker.protocol import Offer, Phase, utcnow
from ivoa_broker.records import Job, JobError, JobSummary, Parameter
from ivoa_broker.store import JobEnd, JobFields, Store, StoredResult
from ivoa_broker.task_params import check_parameters
from ivoa_broker.units import parse_duration


class Executor(Protocol):
    """What the job service needs from the dispatcher."""

    @property
    def platforms(self) -> list[str]: ...

    def start(self, job_id: str, offer: Offer | None = None) -> None: ...

    async def stop(self, job_id: str) -> None: ...

    async def discard(self, job_id: str) -> None:
        """Forget the job and remove its platform work (``Adapter.cleanup``); not
        ``Adapter.release``, which frees what still costs but keeps the results."""
        ...

    async def extended(self, job_id: str) -> None: ...

    def deadlines_changed(self, when: datetime | None = None) -> None:
        """A deadline was added or moved (``when``: the new one, if there is one
        new deadline; ``None``: look at them all)."""
        ...


#: the jobInfo entries of a job waiting in the broker's capacity queue
QUEUE_INFO = ("queue_position", "queue_message")


@dataclass(frozen=True)
class Ending:
    """A task's end as its platform reported it, for :meth:`JobService.record_ends`.

    ``phase`` ABORTED only when the broker asked for the stop (else the dispatcher
    makes it ERROR); ``results`` are stored with the end, in the same transaction."""

    job_id: str
    phase: Phase
    ended_at: datetime
    started_at: datetime | None = None
    error: JobError | None = None
    info: Mapping[str, str] | None = None
    results: Sequence[StoredResult] = ()


class ChangeEvents:
    """One asyncio.Event per watched job, set and dropped on every change.

    Waiters register with :meth:`watching`; an event nobody waits for any more
    (timeout, client gone) is dropped with its last waiter, so the table holds
    only jobs that someone is blocked on.
    """

    def __init__(self) -> None:
        self._events: dict[str, asyncio.Event] = {}
        self._waiters: dict[str, int] = {}

    @contextlib.contextmanager
    def watching(self, job_id: str) -> Iterator[asyncio.Event]:
        event = self._events.get(job_id)
        if event is None:
            event = self._events[job_id] = asyncio.Event()
        self._waiters[job_id] = self._waiters.get(job_id, 0) + 1
        try:
            yield event
        finally:
            left = self._waiters[job_id] - 1
            if left:
                self._waiters[job_id] = left
            else:
                del self._waiters[job_id]
                if self._events.get(job_id) is event:
                    del self._events[job_id]

    def fire(self, job_id: str) -> None:
        event = self._events.pop(job_id, None)
        if event is not None:
            event.set()

    def heard(self, job_id: str) -> None:
        """Another replica changed ``job_id`` (``"*"``: changes may have been missed,
        so every waiter looks again)."""
        if job_id != "*":
            self.fire(job_id)
            return
        for key in list(self._events):
            self.fire(key)

    def __len__(self) -> int:
        return len(self._events)

    @property
    def waiters(self) -> int:
        """Clients blocked in a WAIT right now (all jobs)."""
        return sum(self._waiters.values())


class OfferConflict(BrokerError):
    """The offer is not (or no longer) OFFERED: ``phase`` says what it is now."""

    status = 409

    def __init__(self, message: str, phase: str) -> None:
        super().__init__(message)
        self.phase = phase


class OfferGone(OfferConflict):
    """The offer expired before it was accepted."""

    status = 410


class JobService:
    def __init__(self, store: Store, settings: JobsSection, journal: Journal | None = None) -> None:
        self.store = store
        self.settings = settings
        self.events = ChangeEvents()
        #: tells every phase change (log line, transitions counter)
        self.journal = journal or Journal()
        store.on_change(self.events.heard)
        self._executor: Executor | None = None
        #: jobs being stopped right now: why (and the system's error), see :meth:`stop`
        self._stopping: dict[str, tuple[str, JobError | None]] = {}

    def attach(self, executor: Executor) -> None:
        self._executor = executor

    @property
    def executor(self) -> Executor:
        if self._executor is None:
            raise RuntimeError("JobService used before a dispatcher was attached")
        return self._executor

    # ------------------------------------------------------------ client side

    async def create(
        self,
        owner: str | None,
        parameters: Sequence[Parameter],
        *,
        run_id: str | None = None,
        execution_duration: int | None = None,
        destruction: datetime | None = None,
        run: bool = False,
    ) -> Job:
        """Validate everything first, then store: a refused request leaves no job."""
        check_parameters(parameters, self.executor.platforms)
        if run_id is not None and len(run_id) > 256:
            raise BadRequest("RUNID is longer than 256 characters")
        now = utcnow()
        runtime = _runtime_of(parameters)
        duration = self._clamp_duration(
            execution_duration
            if execution_duration is not None
            else runtime or self.settings.default_execution_duration
        )
        job = Job(
            job_id=str(uuid.uuid4()),
            owner=owner,
            phase=Phase.PENDING,
            creation_time=now,
            run_id=run_id,
            execution_duration=duration,
            destruction=self._clamp_destruction(
                destruction or now + timedelta(seconds=self.settings.default_destruction), now
            ),
            parameters=tuple(parameters),
        )
        await self.store.insert(job)
        self.journal.created(job, "created")
        self.executor.deadlines_changed(job.destruction)
        if run:
            await self._run(job, Phase.PENDING)
            return await self._load(job.job_id)
        return job

    async def accept_offer(
        self,
        offer_id: str,
        owner: str | None,
        parameters: Sequence[Parameter],
        offer: Offer,
    ) -> Job:
        """ExecutionBroker accept: in one store transaction the offer moves OFFERED ->
        ACCEPTED, its siblings to REJECTED, and the job (id = the offer's id) is
        created QUEUED; then it is submitted with that very offer.

        Accepting the accepted offer again returns its job (idempotent). Raises
        :class:`OfferGone` (410) for an expired offer, :class:`OfferConflict`
        (409) for a rejected one, :class:`JobNotFound` if there is none.
        """
        check_parameters(parameters, self.executor.platforms)
        now = utcnow()
        duration = self._clamp_duration(
            _runtime_of(parameters) or self.settings.default_execution_duration
        )
        job = Job(
            job_id=offer_id,
            owner=owner,
            phase=Phase.QUEUED,
            creation_time=now,
            execution_duration=duration,
            destruction=self._clamp_destruction(
                now + timedelta(seconds=self.settings.default_destruction), now
            ),
            parameters=tuple(parameters),
        )
        # the accepted offer is the launch intent from the start: a broker that dies
        # before the launch resumes on that platform, not on fresh offers
        intent = json.dumps(offer.to_json())
        stopped = await self.store.accept_offer(offer_id, job, now, intent)
        if stopped is None:
            self.journal.created(job, "offer accepted")
            self.events.fire(offer_id)
            self.executor.deadlines_changed()
            self.executor.start(offer_id, offer)
            return await self._load(offer_id)
        if stopped == "ACCEPTED":
            existing = await self.store.get(offer_id)
            if existing is not None and existing.owner == owner:
                return existing
            raise OfferConflict(f"offer {offer_id} was accepted and its session is gone", stopped)
        if stopped == "EXPIRED":
            raise OfferGone(f"offer {offer_id} has expired; ask for new offers", stopped)
        if stopped:
            raise OfferConflict(f"offer {offer_id} is {stopped}; it cannot be accepted", stopped)
        raise JobNotFound(f"no offer {offer_id!r}")

    async def get(self, job_id: str, owner: str | None) -> Job:
        job = await self.store.get(job_id)
        if job is None or job.owner != owner:
            raise JobNotFound(f"no job {job_id!r}")
        return job

    def cached(self, job_id: str, owner: str | None) -> Job | None:
        """The caller's job if the record cache holds it (no I/O), else ``None``: then
        :meth:`get` answers (from the store, or with 404)."""
        job = self.store.cached(job_id)
        return job if job is not None and job.owner == owner else None

    async def check_owner(self, job_id: str, owner: str | None) -> None:
        exists, job_owner = await self.store.owner_of(job_id)
        if not exists or job_owner != owner:
            raise JobNotFound(f"no job {job_id!r}")

    async def result(self, job_id: str, owner: str | None, result_id: str) -> StoredResult:
        """One stored result of the caller's job (404 for a stranger or an unknown id)."""
        await self.check_owner(job_id, owner)
        stored = await self.store.get_result(job_id, result_id)
        if stored is None:
            raise JobNotFound(f"job {job_id} has no result {result_id[:200]!r}")
        return stored

    async def list_every_owner(
        self,
        *,
        phases: Collection[Phase] | None = None,
        after: datetime | None = None,
        last: int | None = None,
    ) -> list[JobSummary]:
        """Every owner's jobs (for the admins group), newest ``last`` within the list limit."""
        limit = min(last, self.settings.list_limit) if last else self.settings.list_limit
        return await self.store.list_every_job(phases=phases, after=after, limit=limit)

    async def list(
        self,
        owner: str | None,
        *,
        phases: Collection[Phase] | None = None,
        after: datetime | None = None,
        last: int | None = None,
    ) -> list[JobSummary]:
        return await self.store.list_jobs(
            owner, phases=phases, after=after, last=last, limit=self.settings.list_limit
        )

    async def wait(
        self, job_id: str, owner: str | None, timeout: float, phase: Phase | None
    ) -> Job:
        """UWS blocking GET: return when the phase changes, or after ``timeout``.

        Returns at once if the job is not in a blocking phase, or not in
        ``phase`` when one is given (UWS 1.1 §2.2.1.2).
        """
        with self.events.watching(job_id) as event:
            job = await self.get(job_id, owner)
            if timeout <= 0 or job.phase not in BLOCKING or (phase and job.phase != phase):
                return job
            try:
                await asyncio.wait_for(event.wait(), min(timeout, self.settings.wait_cap))
            except TimeoutError:
                return job
        return await self.get(job_id, owner)

    async def run(self, job_id: str, owner: str | None) -> None:
        job = await self.get(job_id, owner)
        if not allowed(Action.RUN, job.phase):
            raise Forbidden(f"job {job_id} is {job.phase}; RUN is only allowed in PENDING or HELD")
        await self._run(job, job.phase)

    async def abort(self, job_id: str, owner: str | None) -> None:
        job = await self.get(job_id, owner)
        if job.phase in TERMINAL or job.phase is Phase.ARCHIVED:
            raise Forbidden(f"job {job_id} is already {job.phase}; nothing to abort")
        await self.stop(job_id, "aborted at the owner's request")

    async def delete(self, job_id: str, owner: str | None) -> None:
        """Stop the job if it runs, free the platform, then forget it."""
        await self.check_owner(job_id, owner)
        await self.destroy(job_id, archive=False)

    async def set_parameters(
        self, job_id: str, owner: str | None, updates: Sequence[Parameter]
    ) -> None:
        job = await self.get(job_id, owner)
        if not allowed(Action.SET_PARAMETERS, job.phase):
            raise Forbidden(f"job {job_id} is {job.phase}; parameters change only in PENDING")
        names = {p.name for p in updates}
        merged = tuple(p for p in job.parameters if p.name not in names) + tuple(updates)
        check_parameters(merged, self.executor.platforms)
        if not await self.store.move(job_id, [Phase.PENDING], Phase.PENDING, parameters=merged):
            raise Forbidden(f"job {job_id} left PENDING; parameters unchanged")
        self.events.fire(job_id)

    async def set_execution_duration(self, job_id: str, owner: str | None, seconds: int) -> int:
        job = await self.get(job_id, owner)
        if not allowed(Action.SET_DURATION, job.phase):
            raise Forbidden(f"job {job_id} is {job.phase}; its execution duration is final")
        chosen = self._clamp_duration(seconds)
        fields: JobFields = {"execution_duration": chosen}
        if job.start_time is not None and job.phase in (Phase.EXECUTING, Phase.SUSPENDED):
            fields["run_deadline"] = job.start_time + timedelta(seconds=chosen) if chosen else None
        await self.store.update(job_id, **fields)
        self.executor.deadlines_changed()
        if chosen > job.execution_duration and job.phase is Phase.EXECUTING:
            await self.executor.extended(job_id)
        self.events.fire(job_id)
        return chosen

    async def set_destruction(self, job_id: str, owner: str | None, when: datetime) -> datetime:
        job = await self.get(job_id, owner)
        if not allowed(Action.SET_DESTRUCTION, job.phase):
            raise Forbidden(f"job {job_id} is {job.phase}; its destruction time is final")
        chosen = self._clamp_destruction(when, utcnow())
        await self.store.update(job_id, destruction=chosen)
        self.executor.deadlines_changed(chosen)
        self.events.fire(job_id)
        return chosen

    # ---------------------------------------------------------- system side

    async def stop(self, job_id: str, reason: str, error: JobError | None = None) -> None:
        """Abort a job (owner's request or the system): stop the platform work first.

        ``error`` is set for system aborts (duration overrun), so clients see why
        in the errorSummary; an owner's abort carries only the reason in jobInfo.
        """
        # the poller may record the platform's end before the move below: it finds
        # why here, so the ABORTED move says so whichever write comes first
        self._stopping[job_id] = (reason, error)
        try:
            await self._stop(job_id, reason, error)
        finally:
            self._stopping.pop(job_id, None)

    async def _stop(self, job_id: str, reason: str, error: JobError | None) -> None:
        await self.store.update(job_id, cancel_requested=True)
        await self.executor.stop(job_id)
        fields: JobFields = {"end_time": utcnow(), "run_deadline": None, "abort_reason": reason}
        if error is not None:
            fields["error"] = error
        if await self._move(job_id, Phase.ABORTED, **fields):
            return
        # the platform confirmed the stop first (the poller recorded ABORTED): the job
        # still says why it was stopped (and, for the system's stops, the error)
        job = await self.store.get(job_id)
        if job is None or job.phase is not Phase.ABORTED:
            return
        late: JobFields = {}
        if job.abort_reason is None:
            late["abort_reason"] = reason
        if error is not None and not job.error:
            late["error"] = error
            late["abort_reason"] = reason
        if late:
            await self.store.update(job_id, **late)
            self.events.fire(job_id)

    async def destroy(self, job_id: str, *, archive: bool) -> None:
        """Destruction: abort if running, free the platform, then archive or delete."""
        job = await self.store.get(job_id)
        if job is None:
            return
        if job.phase not in TERMINAL and job.phase is not Phase.ARCHIVED:
            await self.stop(job_id, "destruction time reached")
        await self.executor.discard(job_id)
        if archive:
            await self.store.drop_results(job_id)
            await self._move(job_id, Phase.ARCHIVED, destruction=None, run_deadline=None)
        else:
            await self.store.delete(job_id)
            self.journal.deleted(job)
            self.events.fire(job_id)

    async def record_submitted(self, job_id: str, platform: str, handle: str) -> bool:
        """The platform accepted the job (jobInfo ``platform`` names it, in the same
        write). False if the job was aborted meanwhile."""
        job = await self.store.get(job_id)
        info = {**(job.job_info if job else {}), "platform": platform}
        return await self.store.move(
            job_id, [Phase.QUEUED], Phase.QUEUED, platform=platform, handle=handle, job_info=info
        )

    async def record_intent(self, job_id: str, intent: str | None) -> bool:
        """The launch intent: the offer (JSON) a submit is about to go to, stored
        *before* ``submit`` is called, so a broker that dies before the Handle is
        stored resumes on that platform (``None`` clears it: the platform refused,
        nothing remains there). False, and nothing written, if the job left QUEUED
        (then nothing must be submitted). Bookkeeping: WAIT clients are not woken."""
        return await self.store.move(job_id, [Phase.QUEUED], Phase.QUEUED, launch_intent=intent)

    async def record_results(self, job_id: str, results: Sequence[StoredResult]) -> None:
        """Results a platform reported (or an interactive session's endpoint)."""
        await self.store.add_results(job_id, results)

    async def record_handle(self, job_id: str, handle: str) -> None:
        await self.store.update(job_id, handle=handle)

    async def record_started(self, job_id: str, started_at: datetime) -> None:
        job = await self._load(job_id)
        deadline = (
            started_at + timedelta(seconds=job.execution_duration)
            if job.execution_duration
            else None
        )
        moved = await self._move(
            job_id, Phase.EXECUTING, start_time=started_at, run_deadline=deadline
        )
        if moved and deadline is not None:
            self.executor.deadlines_changed(deadline)

    async def record_phase(self, job_id: str, phase: Phase, message: str | None) -> None:
        """HELD / SUSPENDED / back to QUEUED or EXECUTING."""
        info = await self._info(job_id, {"platform_message": message or ""})
        await self._move(job_id, phase, job_info=info)

    async def record_ends(self, endings: Sequence[Ending]) -> Sequence[bool]:
        """Tasks' ends (all a poll pass found), with their results, in one store
        transaction; per ending, whether the job moved to its phase.

        A job first seen ended while QUEUED that ran (COMPLETED, or an ERROR with a
        start time) passes EXECUTING in the same write (its history shows both
        moves). A job already ABORTED (the owner's or the system's abort recorded
        first) is marked released: its platform confirmed that the task ended; a
        job the end moves to ABORTED (the broker asked for the stop) is released
        at once. A job that changed phase between the read and the write is
        looked at again (phases only move forward, so this ends)."""
        now = utcnow()
        jobs = [await self.store.get(e.job_id) for e in endings]
        plans: list[tuple[int, Job, JobEnd, bool]] = []
        for i, (ending, job) in enumerate(zip(endings, jobs, strict=True)):
            if job is not None:
                why = self._stopping.get(job.job_id)
                plans.append((i, job, *_end_plan(job, ending, now, why)))
        moved = await self.store.record_ends([plan for _, _, plan, _ in plans])
        out = [False] * len(endings)
        again: list[Ending] = []
        for (i, job, plan, through), done in zip(plans, moved, strict=True):
            if not done:
                if plan.from_phases:  # the phase changed meanwhile: once more, from there
                    again.append(replace(endings[i], results=()))  # results are in
                continue
            if plan.to is job.phase:  # released: no phase change
                self.events.fire(job.job_id)
                continue
            if through:
                self.journal.moved(job, Phase.EXECUTING, {})
                job = replace(job, phase=Phase.EXECUTING)
            self.journal.moved(job, plan.to, plan.fields)
            self.events.fire(job.job_id)
            out[i] = True
        if again:
            index = {e.job_id: k for k, e in enumerate(endings)}
            for ending, done in zip(again, await self.record_ends(again), strict=True):
                out[index[ending.job_id]] = done
        return out

    async def record_error(self, job_id: str, error: JobError) -> bool:
        """The broker could not run the job (no platform, submit failed)."""
        return await self._move(
            job_id, Phase.ERROR, error=error, end_time=utcnow(), run_deadline=None
        )

    async def record_info(
        self, job_id: str, info: dict[str, str], *, significant: bool = False
    ) -> None:
        """Merge into jobInfo; wake WAIT clients only for a significant change
        (an interactive session's URL appearing), not for bookkeeping."""
        job = await self._load(job_id)
        if any(job.job_info.get(k) != v for k, v in info.items()):
            await self.store.update(job_id, job_info={**job.job_info, **info})
            if significant:
                self.events.fire(job_id)

    async def record_queue(self, job_id: str, position: int | None, message: str | None) -> None:
        """The job's place in the broker's capacity queue: jobInfo ``queue_position``
        (1 = next to start) and ``queue_message``; ``None`` removes both (it left
        the queue). Bookkeeping: WAIT clients are not woken."""
        job = await self.store.get(job_id)
        if job is None:
            return
        info = {k: v for k, v in job.job_info.items() if k not in QUEUE_INFO}
        if position is not None and job.phase is Phase.QUEUED:
            info["queue_position"] = str(position)
            info["queue_message"] = message or ""
        if info != job.job_info:
            await self.store.update(job_id, job_info=info)

    # -------------------------------------------------------------- helpers

    async def _run(self, job: Job, current: Phase) -> None:
        job_id = job.job_id
        if not await self.store.move(
            job_id, [current], Phase.QUEUED, error=None, cancel_requested=False
        ):
            raise Forbidden(f"job {job_id} changed phase meanwhile; RUN not applied")
        self.journal.moved(job, Phase.QUEUED, reason="RUN")
        self.events.fire(job_id)
        self.executor.start(job_id)

    async def _move(self, job_id: str, phase: Phase, **fields: Unpack[JobFields]) -> bool:
        """Move to ``phase`` if the transition table allows it from where the job is.

        If the phase changed between the read and the compare-and-set (the poller
        recorded EXECUTING while an abort was on its way), look again: phases only
        move forward, so this ends, and an allowed move is never lost.
        """
        while True:
            job = await self.store.get(job_id)
            if job is None or not can_move(job.phase, phase):
                return False
            if await self.store.move(job_id, [job.phase], phase, **fields):
                self.journal.moved(job, phase, fields)
                self.events.fire(job_id)
                return True

    async def _load(self, job_id: str) -> Job:
        job = await self.store.get(job_id)
        if job is None:
            raise JobNotFound(f"no job {job_id!r}")
        return job

    async def _info(self, job_id: str, extra: dict[str, str]) -> dict[str, str]:
        job = await self.store.get(job_id)
        base = dict(job.job_info) if job else {}
        return {**base, **{k: v for k, v in extra.items() if v}}

    def _clamp_duration(self, seconds: int) -> int:
        if seconds < 0:
            raise BadRequest(f"EXECUTIONDURATION must be >= 0 seconds; got {seconds}")
        cap = self.settings.max_execution_duration
        if cap and (seconds == 0 or seconds > cap):
            return cap
        return seconds

    def _clamp_destruction(self, when: datetime, now: datetime) -> datetime:
        latest = now + timedelta(seconds=self.settings.max_destruction)
        return min(when, latest)


def _end_plan(
    job: Job, ending: Ending, now: datetime, stopping: tuple[str, JobError | None] | None
) -> tuple[JobEnd, bool]:
    """The store write of one task's end for ``job`` as read now, and whether it
    passes EXECUTING on the way (a job first seen ended while QUEUED that ran);
    ``stopping``: why the broker is stopping it, if it is."""
    results = tuple(ending.results)
    if job.phase is Phase.ABORTED:
        if job.released is not None:
            return JobEnd(job.job_id, (), job.phase, {}, results), False
        # aborted earlier (ABORT answers at once); now the platform is done too
        fields: JobFields = {"released": now}
        return JobEnd(job.job_id, (Phase.ABORTED,), Phase.ABORTED, fields, results), False
    phase = ending.phase
    if not can_move(job.phase, phase):
        return JobEnd(job.job_id, (), phase, {}, results), False
    ran = phase is Phase.COMPLETED or (ending.started_at is not None and phase is Phase.ERROR)
    through = job.phase is Phase.QUEUED and ran
    fields = {"end_time": ending.ended_at, "run_deadline": None}
    if job.start_time is None:
        fields["start_time"] = ending.started_at or ending.ended_at
    if ending.error is not None:
        fields["error"] = ending.error
    if ending.info:
        fields["job_info"] = {**job.job_info, **ending.info}
    if phase is Phase.ABORTED:
        fields["released"] = now  # the stop the broker asked for, confirmed by the platform
        if stopping is not None:
            reason, error = stopping
            fields["abort_reason"] = reason
            if error is not None:
                fields["error"] = error
    return JobEnd(job.job_id, (job.phase,), phase, fields, results), through


def _runtime_of(parameters: Sequence[Parameter]) -> int | None:
    for p in parameters:
        if p.name == "runtime":
            return parse_duration(p.value)
    return None
