"""Dispatcher: offers, submit, status polling, deadlines, restarts.

* ``start(job_id)`` asks every eligible adapter for offers concurrently (each
  with a deadline), submits to the best one, and stores the Handle.
* One poller per adapter instance calls ``status_many`` for all its live jobs
  in one batch, every ``poll_interval`` (with jitter) or at once when the
  adapter calls ``deps.wake``. An instance with no live jobs sleeps on its
  wake event: nothing polls idle platforms.
* A platform without room (``NoCapacity``) does not end the job: it waits
  QUEUED in the broker's own queue (:mod:`ivoa_broker.capacity`, fair across
  owners, its place in jobInfo as ``queue_position``) and is launched again
  when a job of that platform ends, or after ``QUEUE_RETRY`` seconds.
* The reaper sleeps until the earliest execution deadline, destruction time or
  offer expiry in the store (or until a deadline changes) and enforces it.
* ``recover()`` re-attaches every live job after a restart and sweeps orphans.

Every adapter call goes through :meth:`Dispatcher._call`: a deadline, and any
exception that is not an :class:`AdapterError` becomes a :class:`FatalError`,
so a misbehaving plug-in cannot crash the broker or lose a job.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import random
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any, TypeVar

from ivoa_broker.capacity import CapacityQueue, Waiting
from ivoa_broker.config import JobsSection
from ivoa_broker.credentials import context_for
from ivoa_broker.errors import BrokerError, Gone, JobNotFound
from ivoa_broker.guard import HEALTH_TIMEOUT, Guard
from ivoa_broker.jobs import Ending, JobService
from ivoa_broker.metrics import Metrics
from ivoa_broker.phases import RUNNING, TERMINAL
from ivoa_broker.protocol import (
    Adapter,
    AdapterError,
    BaseAdapter,
    CallContext,
    ExecutionRequest,
    Handle,
    Health,
    IdentityMap,
    NoCapacity,
    Offer,
    Phase,
    ResultRef,
    Status,
    TransientError,
    Unsupported,
    utcnow,
)
from ivoa_broker.records import JobError, JobResult
from ivoa_broker.staging import StagingError, fetchable, stage_inputs
from ivoa_broker.store import Store, StoredResult
from ivoa_broker.task_params import parse_request

log = logging.getLogger(__name__)
T = TypeVar("T")

SUBMIT_ATTEMPTS = 4
SUBMIT_BACKOFF = 0.5
CALL_TIMEOUT = 60.0
Access = Callable[[str | None, list[str]], tuple[list[str], dict[str, str]]]
MAX_BACKOFF = 60.0
#: seconds between attempts to start a platform's waiting jobs when no job of
#: it has ended meanwhile (capacity freed elsewhere, by another broker)
QUEUE_RETRY = 5.0
#: at most this often (seconds) the queue positions in jobInfo are rewritten
POSITION_REFRESH = 1.0


class Dispatcher:
    def __init__(
        self,
        jobs: JobService,
        store: Store,
        adapters: Mapping[str, Adapter],
        settings: JobsSection,
        *,
        call_timeout: float = CALL_TIMEOUT,
    ) -> None:
        self.jobs = jobs
        self.store = store
        self.adapters = dict(adapters)
        self.settings = settings
        self._live: dict[str, dict[str, Handle]] = {name: {} for name in self.adapters}
        self._misses: dict[str, int] = {}
        self._wake: dict[str, asyncio.Event] = {name: asyncio.Event() for name in self.adapters}
        #: native ids an adapter named when it woke us (polled first, alone)
        self._woken: dict[str, set[str]] = {name: set() for name in self.adapters}
        #: adapters woken without a native id since their last pass (poll them whole)
        self._woken_all: set[str] = set()
        #: what the last poll saw per job, to skip statuses that did not change
        self._seen: dict[str, tuple[Any, ...]] = {}
        self._queues: dict[str, CapacityQueue] = {name: CapacityQueue() for name in self.adapters}
        self._room: dict[str, asyncio.Event] = {name: asyncio.Event() for name in self.adapters}
        self._shown: dict[str, int] = {}
        self._reason: dict[str, str] = {}
        self._freed: dict[str, int] = {name: 0 for name in self.adapters}
        self._shown_at: dict[str, float] = {}
        self._deadlines = asyncio.Event()
        #: when the reaper wakes by itself next (None: it is looking now)
        self._reaper_due: datetime | None = None
        #: set (and replaced) each time the reaper expires offers; for observers
        self.offers_expired = asyncio.Event()
        self._tasks: set[asyncio.Task[Any]] = set()
        self._launching: dict[str, asyncio.Task[None]] = {}
        self._loops: list[asyncio.Task[None]] = []
        self._closed = False
        self.guard = Guard(call_timeout)
        #: the broker points it at its Prometheus metrics (poll lag, offer fan-out)
        self.metrics = Metrics()
        #: the access policy's hook (ivoa_broker.auth.policy): owner, instance names ->
        #: the names that owner may use, and notes on the others (for admins)
        self.access: Access | None = None
        jobs.attach(self)

    @property
    def platforms(self) -> list[str]:
        return list(self.adapters)

    # ------------------------------------------------------------ lifecycle

    async def begin(self) -> None:
        await self.recover()
        for name in self.adapters:
            self._loops.append(asyncio.create_task(self._poll_loop(name), name=f"poll-{name}"))
            self._loops.append(asyncio.create_task(self._pump_loop(name), name=f"queue-{name}"))
        self._loops.append(asyncio.create_task(self._reaper(), name="reaper"))

    async def close(self) -> None:
        # the loops also check the flag: on 3.11 ``wait_for`` can swallow a
        # cancellation that arrives as its inner wait completes
        self._closed = True
        tasks = [*self._loops, *self._tasks, *self._launching.values()]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    def wake(self, adapter: str, native_id: str = "") -> None:
        """For ``AdapterDeps.wake``: poll this adapter now. Thread-safe enough for
        callbacks on the event loop; adapters in threads must use
        ``loop.call_soon_threadsafe``."""
        event = self._wake.get(adapter)
        if event is not None:
            if native_id:
                self._woken[adapter].add(native_id)
            else:  # about any task: the next pass looks at all, whatever else woke it
                self._woken_all.add(adapter)
            event.set()

    def deadlines_changed(self, when: datetime | None = None) -> None:
        """A deadline was added or moved; ``when``, if given, is the new one. The
        reaper looks again now unless it is already due to wake before ``when``
        (a new job's destruction a week away, each job's run deadline: a pass
        for each is four queries a job for nothing)."""
        due = self._reaper_due
        if when is not None and due is not None and when >= due:
            return
        self._deadlines.set()

    # ------------------------------------------------- calls for the routes

    async def health(self, name: str) -> Health:
        """One instance's health through the guard; trouble is a Health, never a raise."""
        adapter = self.adapters[name]
        try:
            found: Health = await self._call(adapter, "health", timeout=HEALTH_TIMEOUT)
        except AdapterError as exc:
            return Health(False, exc.message)
        return found

    async def callback_handle(self, platform: str, job_id: str) -> Handle:
        """The Handle a platform callback for ``job_id`` is for; :class:`JobNotFound`
        or :class:`Gone` (410) when it may not be delivered."""
        job = await self.store.get(job_id)
        stored_platform, handle_json = await self.store.handle_of(job_id)
        if job is None or stored_platform != platform or handle_json is None:
            raise JobNotFound(f"no job {job_id!r} on platform {platform!r}")
        if job.phase in TERMINAL or job.phase is Phase.ARCHIVED:
            raise Gone(f"job {job_id} has ended; callbacks are no longer accepted")
        adapter = self.adapters.get(platform)
        if adapter is None or not adapter.capabilities.callbacks:
            raise JobNotFound(f"platform {platform!r} takes no callbacks")
        return Handle.from_json(handle_json)

    async def deliver_callback(
        self,
        platform: str,
        handle: Handle,
        secret: str,
        fields: Mapping[str, str],
        files: Mapping[str, bytes],
    ) -> None:
        """``receive_callback`` through the guard (its AdapterError reaches the
        client with its own HTTP status), then poll the platform at once."""
        adapter = self.adapters[platform]
        await self._call(adapter, "receive_callback", handle, secret, fields, files)
        self.wake(platform)

    # ---------------------------------------------------- Executor protocol

    def start(self, job_id: str, offer: Offer | None = None) -> None:
        """Launch a QUEUED job: with ``offer`` (an accepted ExecutionBroker offer)
        submit to it; without, gather offers and submit to the best."""
        task = asyncio.create_task(self._launch_safely(job_id, offer), name=f"launch-{job_id}")
        self._launching[job_id] = task
        task.add_done_callback(lambda _: self._launching.pop(job_id, None))

    async def launched(self, job_id: str) -> None:
        """Return once the launch of ``job_id`` (offers, submit, record) is over."""
        task = self._launching.get(job_id)
        if task is not None:
            await asyncio.wait({task})

    async def stop(self, job_id: str) -> None:
        """Ask the platform to stop the job; the poller collects what is left."""
        if self._dequeue(job_id):
            await self.jobs.record_queue(job_id, None, None)
        launching = self._launching.get(job_id)
        if launching is not None:
            # submit is in flight: let it finish, then it sees cancel_requested
            await asyncio.wait({launching}, timeout=CALL_TIMEOUT)
        platform, handle_json = await self.store.handle_of(job_id)
        if platform is None or handle_json is None or platform not in self.adapters:
            return
        handle = replace(Handle.from_json(handle_json), cancel_requested=True)
        await self.jobs.record_handle(job_id, handle.to_json())
        self._live[platform][job_id] = handle
        adapter = self.adapters[platform]
        try:
            await self._call(adapter, "cancel", handle, CallContext())
        except AdapterError as exc:
            log.warning("cancel of job %s on %s failed: %s", job_id, platform, exc.message)
        self.wake(platform, handle.native_id)

    async def extended(self, job_id: str) -> None:
        """A running job's execution duration grew: renew it on platforms that
        give tasks a lifetime of their own; record the platform's new expiry."""
        platform, handle_json = await self.store.handle_of(job_id)
        if platform not in self.adapters or handle_json is None:
            return
        adapter = self.adapters[platform]
        job = await self.store.get(job_id)
        if job is None:
            return
        deadline = self._deadline(job.start_time or utcnow(), job.execution_duration)
        if deadline is None:
            return
        try:
            expiry = await self._call(
                adapter, "renew", Handle.from_json(handle_json), deadline, CallContext()
            )
        except Unsupported:
            return
        except AdapterError as exc:
            await self.jobs.record_info(job_id, {"renew_error": exc.message})
            return
        if expiry is not None:
            await self.jobs.record_info(job_id, {"platform_expiry": expiry.isoformat()})

    async def discard(self, job_id: str) -> None:
        """The job is being destroyed: stop watching it and remove its platform
        work with ``cleanup`` (in the background; the Handle is read before the
        job row goes). Not to be confused with the adapter's ``release``."""
        for live in self._live.values():
            live.pop(job_id, None)
        self._dequeue(job_id)
        self._seen.pop(job_id, None)
        platform, handle_json = await self.store.handle_of(job_id)
        if platform in self.adapters and handle_json is not None:
            self._spawn(self._cleanup(platform, Handle.from_json(handle_json)))

    # --------------------------------------------------------------- launch

    async def _launch_safely(
        self, job_id: str, chosen: Offer | None, from_queue: str | None = None
    ) -> None:
        """A launch that fails in any unforeseen way ends the job in ERROR with
        the reason: a job is never left QUEUED with nothing working on it."""
        try:
            await self._launch(job_id, chosen, from_queue)
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            log.exception("launching job %s failed", job_id)
            with contextlib.suppress(Exception):
                await self.jobs.record_error(
                    job_id,
                    JobError(
                        "fatal", f"the broker could not launch the job ({type(exc).__name__})"
                    ),
                )

    async def _launch(
        self, job_id: str, chosen: Offer | None = None, from_queue: str | None = None
    ) -> None:
        job = await self.store.get(job_id)
        if job is None or job.phase is not Phase.QUEUED:
            return
        try:
            request = parse_request(job_id, job.owner, job.parameters, self.platforms)
        except BrokerError as exc:
            await self.jobs.record_error(job_id, JobError("fatal", exc.message))
            return
        ctx = CallContext(owner=job.owner, request_id=job_id)
        request = self.with_deadline(request, utcnow(), job.execution_duration)
        resume = False
        if chosen is None:
            # a submit may have reached a platform before the broker died (the Handle
            # not yet stored): that platform again, never another one
            intent = await self.store.intent_of(job_id)
            if intent is not None:
                chosen, resume = Offer.from_json(json.loads(intent)), True
                if chosen.adapter not in self.adapters:
                    await self.jobs.record_error(
                        job_id,
                        JobError(
                            "fatal",
                            f"the job was being submitted to {chosen.adapter!r}, which is not "
                            "configured any more; its state there is unknown",
                        ),
                    )
                    return
        if chosen is not None and chosen.adapter in self.adapters:
            await self._stage_and_submit(
                job_id, request, chosen, ctx, keep=True, from_queue=from_queue, resume=resume
            )
            return
        offers, refusals = await self.gather_offers(request, ctx)
        if not offers:
            reasons = "; ".join(f"{name}: {why}" for name, why in refusals.items())
            await self.jobs.record_error(
                job_id, JobError("fatal", f"no platform can run this job ({reasons})")
            )
            return
        await self._stage_and_submit(job_id, request, offers[0], ctx, from_queue=from_queue)

    async def _stage_and_submit(
        self,
        job_id: str,
        request: ExecutionRequest,
        offer: Offer,
        ctx: CallContext,
        *,
        keep: bool = False,
        from_queue: str | None = None,
        resume: bool = False,
    ) -> None:
        """Submit, with the ``http(s)`` inputs downloaded first for an adapter that
        asks for it (``Capabilities.staged_inputs``; the rule: ``staging.py``)."""
        adapter = self.adapters[offer.adapter]
        if not adapter.capabilities.staged_inputs or not any(map(fetchable, request.inputs)):
            await self._submit(
                job_id, request, offer, ctx, keep=keep, from_queue=from_queue, resume=resume
            )
            return
        try:
            async with stage_inputs(
                request.inputs,
                max_bytes=self.settings.input_max_bytes,
                timeout=self.settings.input_timeout,
            ) as staged:
                staged_request = replace(request, staged_inputs=staged)
                await self._submit(
                    job_id,
                    staged_request,
                    offer,
                    ctx,
                    keep=keep,
                    from_queue=from_queue,
                    resume=resume,
                )
        except StagingError as exc:
            await self.jobs.record_error(job_id, JobError("fatal", str(exc)))

    # ------------------------------------------------------------ deadlines

    def _deadline(self, base: datetime, seconds: int) -> datetime | None:
        """``base`` + the execution duration (the broker's maximum when 0); None
        when both are unlimited."""
        if seconds <= 0:
            seconds = self.settings.max_execution_duration
        if seconds <= 0:
            return None
        return base + timedelta(seconds=seconds)

    def with_deadline(
        self, request: ExecutionRequest, base: datetime, seconds: int
    ) -> ExecutionRequest:
        """``request`` with its absolute deadline (``base`` + ``seconds``, the
        maximum when 0) and ``walltime_seconds`` equal to the seconds left."""
        deadline = self._deadline(base, seconds)
        if deadline is None:
            return request
        left = max(int((deadline - base).total_seconds()), 1)
        return replace(
            request,
            deadline=deadline,
            resources=replace(request.resources, walltime_seconds=left),
        )

    def _default_duration(self, request: ExecutionRequest) -> int:
        """The execution duration a job made from ``request`` would get."""
        seconds = request.resources.walltime_seconds or self.settings.default_execution_duration
        cap = self.settings.max_execution_duration
        if cap and (seconds == 0 or seconds > cap):
            return cap
        return seconds

    def _for_instance(self, adapter: Adapter, request: ExecutionRequest) -> ExecutionRequest:
        """``request`` as one instance sees it: the owner's account there."""
        identity = getattr(adapter.config, "identity", None)
        account = identity.resolve(request.owner) if isinstance(identity, IdentityMap) else None
        return replace(request, account=account) if account != request.account else request

    async def gather_offers(
        self, request: ExecutionRequest, ctx: CallContext
    ) -> tuple[list[Offer], dict[str, str]]:
        """Offers from every eligible adapter, ranked; and why the others made none.

        A request without a deadline (an ExecutionBroker request: no job yet)
        gets the one a job made from it would have."""
        if request.deadline is None:
            request = self.with_deadline(request, utcnow(), self._default_duration(request))
        names = [request.platform] if request.platform else list(self.adapters)
        refusals: dict[str, str] = {}
        if self.access is not None:
            names, notes = self.access(request.owner, names)
            refusals.update(notes)
        base_request = request

        async def ask(name: str) -> list[Offer]:
            adapter = self.adapters[name]
            request = self._for_instance(adapter, base_request)
            static = _static_refusal(adapter, request)
            if static:
                if request.image and not adapter.capabilities.images:
                    # its own words say why, and what would run it (the local platform
                    # says whether an engine or the container plug-in is missing)
                    own = self._explain(adapter, request)
                    static = static if own.startswith(_NO_REASON) else own
                refusals[name] = static
                return []
            try:
                found = await self._call(
                    adapter,
                    "offers",
                    request,
                    context_for(adapter, ctx),
                    timeout=self.settings.offer_deadline,
                )
            except AdapterError as exc:
                refusals[name] = exc.message
                return []
            if not found:
                refusals[name] = self._explain(adapter, request)
            return [replace(o, adapter=name) for o in found]

        results = await self.metrics.fanned_out(
            asyncio.gather(*(ask(n) for n in names if n in self.adapters))
        )
        offers = [o for batch in results for o in batch]
        now = utcnow()
        offers.sort(key=lambda o: (o.start or now, sum(o.cost.values())))
        return offers, refusals

    async def confirm_offer(
        self, offer: Offer, request: ExecutionRequest, ctx: CallContext
    ) -> Offer:
        """An ExecutionBroker accept, before it is committed: the offering instance's
        ``accept_offer`` (a remote broker's accept) through the guard. Raises
        :class:`AdapterError` (``JobNotFound`` for an instance no longer configured)."""
        adapter = self.adapters.get(offer.adapter)
        if adapter is None:
            raise JobNotFound(f"platform {offer.adapter!r} is no longer configured")
        request = self._for_instance(adapter, request)
        if request.deadline is None:
            request = self.with_deadline(request, utcnow(), self._default_duration(request))
        confirmed: Offer = await self._call(
            adapter, "accept_offer", offer, request, context_for(adapter, ctx)
        )
        return replace(confirmed, adapter=offer.adapter)

    def decline_offers(self, offers: Sequence[Offer], ctx: CallContext) -> None:
        """Offers that will not be used (rejected, a sibling accepted, an accept
        undone): each instance's ``reject_offer``, in the background, best effort."""
        for offer in offers:
            adapter = self.adapters.get(offer.adapter)
            if adapter is not None:
                self._spawn(self._decline(adapter, offer, context_for(adapter, ctx)))

    async def _decline(self, adapter: Adapter, offer: Offer, ctx: CallContext) -> None:
        try:
            await self._call(adapter, "reject_offer", offer, ctx)
        except AdapterError as exc:
            log.warning("declining an offer of %s failed: %s", adapter.name, exc.message)

    async def _submit(
        self,
        job_id: str,
        request: ExecutionRequest,
        offer: Offer,
        ctx: CallContext,
        *,
        keep: bool = False,
        from_queue: str | None = None,
        resume: bool = False,
    ) -> None:
        """Submit to ``offer``'s platform; ``keep``: an accepted offer (a retry
        from the queue submits to it again); ``from_queue``: the platform whose
        capacity queue this job was taken from (it may not be overtaken);
        ``resume``: the launch intent said a submit went there before the broker
        died without storing the Handle: what carries the job id there is adopted
        (``list_native``), else the idempotent submit is repeated there.

        The launch intent (this offer) is stored before ``submit`` is called."""
        adapter = self.adapters[offer.adapter]
        request = self._for_instance(adapter, request)
        waiting = Waiting(job_id, ctx.owner, offer if keep else None)
        freed = self._freed[offer.adapter]
        found: dict[str, str] = {}
        if resume:
            found.update(await self._look_for(adapter, job_id, ctx))
            if found:
                log.info("job %s found on %s after a restart", job_id, offer.adapter)
                await self.jobs.record_info(job_id, {"adopted": ",".join(sorted(found))})
        if not found and from_queue != offer.adapter and self._queues[offer.adapter]:
            # others wait for room there already: no overtaking, join the queue
            await self._enqueue(offer.adapter, waiting, None, freed=freed)
            return
        if not await self.jobs.record_intent(job_id, json.dumps(offer.to_json())):
            return  # no longer QUEUED (aborted meanwhile): nothing to submit
        delay = SUBMIT_BACKOFF
        for attempt in range(1, SUBMIT_ATTEMPTS + 1):
            try:
                handle = await self._call(adapter, "submit", request, offer, ctx)
                break
            except TransientError as exc:
                # the task may have been queued despite the error (a lost answer,
                # a timeout): look before trying again, so it is found, not doubled
                found.update(await self._look_for(adapter, job_id, ctx))
                if attempt == SUBMIT_ATTEMPTS:
                    await self._abandon(adapter, job_id, found, ctx)
                    await self.jobs.record_error(
                        job_id,
                        JobError("transient", f"{offer.adapter}: submit failed: {exc.message}"),
                    )
                    return
                if found:
                    # submit is idempotent per job id: the retry adopts what is there
                    log.info("job %s was queued on %s despite %s", job_id, offer.adapter, exc)
                    await self.jobs.record_info(job_id, {"adopted": ",".join(sorted(found))})
                else:
                    await asyncio.sleep(delay)
                    delay *= 2
            except NoCapacity as exc:
                if not keep:
                    # refused, nothing remains there: the next try may go elsewhere
                    await self.jobs.record_intent(job_id, None)
                await self._enqueue(
                    offer.adapter,
                    waiting,
                    exc.message,
                    front=from_queue == offer.adapter,
                    freed=freed,
                )
                return
            except AdapterError as exc:
                await self.jobs.record_error(
                    job_id,
                    JobError(exc.uws_error_type, f"{offer.adapter}: {exc.message}"),
                )
                return
        if self._shown.pop(job_id, None) is not None:
            # out of the queue, before the poller can see the job (it would
            # write jobInfo back from an older read)
            await self.jobs.record_queue(job_id, None, None)
        for native_id in found:
            if native_id != handle.native_id:  # the retry made another: remove the first
                await self._abandon(adapter, job_id, {native_id: job_id}, ctx)
        if not await self.jobs.record_submitted(job_id, offer.adapter, handle.to_json()):
            # aborted while submitting: stop what we just started
            handle = replace(handle, cancel_requested=True)
            await self.jobs.record_handle(job_id, handle.to_json())
            try:
                await self._call(adapter, "cancel", handle, ctx)
            except AdapterError as exc:
                log.warning("cancel after late submit of %s failed: %s", job_id, exc.message)
        if log.isEnabledFor(logging.DEBUG):  # the names are joined only when it is shown
            log.debug(
                "job %s submitted to %s as %s (attempt %d, %s, environment names %s)",
                job_id,
                offer.adapter,
                handle.native_id,
                attempt,
                request.kind,
                ",".join(sorted(request.env)) or "-",  # the names only: values may be secrets
            )
        self._live[offer.adapter][job_id] = handle
        self.wake(offer.adapter, handle.native_id)

    async def _look_for(self, adapter: Adapter, job_id: str, ctx: CallContext) -> dict[str, str]:
        """The native objects of ``job_id`` on an adapter that can list them."""
        if not adapter.capabilities.adopt:
            return {}
        try:
            native = await self._call(adapter, "list_native", ctx)
        except AdapterError as exc:
            log.warning("looking for job %s on %s failed: %s", job_id, adapter.name, exc.message)
            return {}
        return {n: j for n, j in native.items() if j == job_id}

    async def _abandon(
        self, adapter: Adapter, job_id: str, found: Mapping[str, str], ctx: CallContext
    ) -> None:
        """Cancel and remove native objects of a job that will not run there."""
        for native_id in found:
            handle = Handle(adapter.name, native_id, cancel_requested=True)
            for method in ("cancel", "cleanup"):
                try:
                    await self._call(adapter, method, handle, ctx)
                except AdapterError as exc:
                    log.warning(
                        "%s of %s (job %s) on %s: %s",
                        method,
                        native_id,
                        job_id,
                        adapter.name,
                        exc.message,
                    )

    # ------------------------------------------------------- capacity queue

    async def _enqueue(
        self, name: str, item: Waiting, why: str | None, *, front: bool = False, freed: int = -1
    ) -> None:
        """The job waits QUEUED for room on ``name`` (``why``: the platform's words).

        ``freed``: the platform's count of ended jobs when the refused submit
        began; if a job ended since, the room it left may have been missed, so
        the pump looks again at once."""
        queue = self._queues[name]
        queue.push(item, front=front)
        if why is not None:
            self._reason[name] = why
        if not front:  # a new arrival learns its place at once; the others in a moment
            place = queue.positions().get(item.job_id)
            if place is not None:
                self._shown[item.job_id] = place
                await self.jobs.record_queue(item.job_id, place, self._queue_message(name))
        if freed != self._freed[name]:
            self._room[name].set()

    def _room_freed(self, name: str) -> None:
        """A job of ``name`` ended or left it: its waiting jobs may start."""
        self._freed[name] += 1
        if self._queues[name]:
            self._room[name].set()

    def _queue_message(self, name: str) -> str:
        why = self._reason.get(name) or "no free slot"
        return f"{name}: {why}; waiting in the broker's queue for room"

    def _dequeue(self, job_id: str) -> bool:
        """Take ``job_id`` out of every capacity queue; whether it waited in one."""
        found = False
        for queue in self._queues.values():
            found = queue.remove(job_id) or found
        self._shown.pop(job_id, None)
        return found

    def queue_position(self, job_id: str) -> int | None:
        """Where ``job_id`` waits for room (1 = next), or None if it does not."""
        for queue in self._queues.values():
            if job_id in queue:
                return queue.positions().get(job_id)
        return None

    async def _pump_loop(self, name: str) -> None:
        """Start waiting jobs of ``name`` when room frees: at once when one of its
        jobs ends (``_room``), else every ``QUEUE_RETRY`` seconds; and keep the
        shown queue positions current (at most once per ``POSITION_REFRESH``)."""
        room, queue = self._room[name], self._queues[name]
        retry_at = 0.0
        while not self._closed:
            if not queue:
                await room.wait()
            else:
                due = retry_at
                if self._positions_stale(name):
                    due = min(due, self._shown_at.get(name, 0.0) + POSITION_REFRESH)
                await self._nap(room, max(due - time.monotonic(), 0.01))
            woken = room.is_set()
            room.clear()
            try:
                if woken or time.monotonic() >= retry_at:
                    await self._pump(name)
                    retry_at = time.monotonic() + QUEUE_RETRY
                await self._show_positions(name)
            except Exception:  # keep pumping whatever happens
                log.exception("capacity queue of %s failed", name)

    async def _pump(self, name: str) -> None:
        """Launch waiting jobs in fair order until the platform is full again."""
        queue = self._queues[name]
        while not self._closed:
            item = queue.pop()
            if item is None:
                return
            task = asyncio.create_task(
                self._launch_safely(item.job_id, item.offer, from_queue=name),
                name=f"launch-{item.job_id}",
            )
            self._launching[item.job_id] = task
            try:
                await asyncio.wait({task})
            finally:
                self._launching.pop(item.job_id, None)
            if item.job_id in queue:  # still no room: it went back to the front
                return

    def _positions_stale(self, name: str) -> bool:
        shown = self._shown
        return any(shown.get(j) != n for j, n in self._queues[name].positions().items())

    async def _show_positions(self, name: str) -> None:
        """Rewrite ``queue_position`` of waiting jobs whose place changed (at most
        once per ``POSITION_REFRESH`` seconds per platform)."""
        now = time.monotonic()
        if now - self._shown_at.get(name, 0.0) < POSITION_REFRESH:
            return
        self._shown_at[name] = now
        message = self._queue_message(name)
        for job_id, place in self._queues[name].positions().items():
            if self._shown.get(job_id) != place:
                self._shown[job_id] = place
                await self.jobs.record_queue(job_id, place, message)

    # -------------------------------------------------------------- polling

    async def _poll_loop(self, name: str) -> None:
        adapter = self.adapters[name]
        interval = max(adapter.poll_interval.total_seconds(), 0.05)
        backoff = interval
        wake = self._wake[name]
        full_at = 0.0  # when the next pass over every live job is due
        while not self._closed:
            if not self._live[name]:
                await wake.wait()
            else:
                nap = backoff * random.uniform(0.9, 1.1)
                if full_at:
                    nap = min(nap, max(full_at - time.monotonic(), 0.0))
                self.metrics.poll_late(name, await self._nap(wake, nap))
            wake.clear()
            woken, self._woken[name] = self._woken[name], set()
            everything = name in self._woken_all
            self._woken_all.discard(name)
            if not self._live[name]:
                continue
            full = everything or not woken or time.monotonic() >= full_at
            try:
                if not full and not await self.poll(name, woken):
                    full = True  # it named a task we do not watch: look at all
                if full:
                    await self.poll(name)
                    full_at = time.monotonic() + interval
                backoff = interval
            except AdapterError as exc:
                backoff = min(backoff * 2, MAX_BACKOFF)
                full_at = time.monotonic() + backoff
                log.warning("polling %s failed (%s); next try in %.1f s", name, exc, backoff)
                await self._count_misses(name, list(self._live[name]), exc.message)
            except Exception:  # keep polling whatever happens
                log.exception("poller of %s failed", name)
                backoff = min(backoff * 2, MAX_BACKOFF)
                full_at = time.monotonic() + backoff

    @staticmethod
    async def _nap(wake: asyncio.Event, seconds: float) -> float | None:
        """Sleep ``seconds`` between polls, or less if the adapter wakes us; how late the
        sleep ended (None when woken)."""
        due = time.monotonic() + seconds
        try:
            await asyncio.wait_for(wake.wait(), seconds)
        except TimeoutError:
            return time.monotonic() - due
        return None

    async def poll(self, name: str, only: set[str] | None = None) -> bool:
        """One batched status call for every live job of one adapter instance,
        or ``only`` for those native ids when the adapter named them in its
        wake-up (an event for a job: the others have not changed). False, and
        nothing polled, if ``only`` names a task the broker does not watch (the
        caller then polls everything)."""
        adapter = self.adapters[name]
        live = dict(self._live[name])
        if only is not None:
            live = {j: h for j, h in live.items() if h.native_id in only}
            if len(live) != len(only):
                return False
        by_native = {h.native_id: job_id for job_id, h in live.items()}
        statuses = await self._call(adapter, "status_many", list(live.values()), CallContext())
        ended: list[tuple[str, Status]] = []
        for native_id, job_id in by_native.items():
            status = statuses.get(native_id)
            handle = live[job_id]
            if status is None:
                if self._current(name, job_id, handle).cancel_requested:
                    ended.append((job_id, Status(Phase.ABORTED, "gone")))
                else:
                    await self._count_misses(
                        name, [job_id], "the platform no longer knows this task"
                    )
                continue
            if status.phase in TERMINAL and not status.endpoint:
                self._misses.pop(job_id, None)
                ended.append((job_id, status))
                continue
            await self._apply(name, job_id, handle, status)
        if ended:
            await self._finish(name, [(j, live[j], s) for j, s in ended])
        return True

    async def _apply(self, name: str, job_id: str, handle: Handle, status: Status) -> None:
        if status.phase is Phase.UNKNOWN:
            await self._count_misses(name, [job_id], status.message or "status unknown")
            return
        self._misses.pop(job_id, None)
        seen = _seen_key(status)
        if status.phase not in TERMINAL and self._seen.get(job_id) == seen:
            return  # nothing changed since the last pass: nothing to record
        if status.endpoint:
            await self._record_endpoint(job_id, status.endpoint)
        if status.progress is not None and status.phase not in TERMINAL:
            info = {"progress": _progress_text(status)}
            if status.progress.fraction is not None:
                info["progress_fraction"] = f"{max(0.0, min(status.progress.fraction, 1.0)):.3f}"
            await self.jobs.record_info(job_id, info)
        if status.phase in TERMINAL:
            await self._finish(name, [(job_id, handle, status)])
        elif status.phase is Phase.EXECUTING:
            await self.jobs.record_started(job_id, status.started_at or status.observed_at)
        elif status.phase in (Phase.HELD, Phase.SUSPENDED, Phase.QUEUED):
            await self.jobs.record_phase(job_id, status.phase, status.message)
        if status.phase not in TERMINAL and job_id in self._live[name]:
            self._seen[job_id] = seen

    async def _record_endpoint(self, job_id: str, endpoint: str) -> None:
        """An interactive session is ready: its URL goes into jobInfo and, as the
        result ``endpoint``, into the results list (where UWS clients look)."""
        job = await self.store.get(job_id)
        if job is None or job.job_info.get("endpoint") == endpoint:
            return
        await self.jobs.record_results(
            job_id, [StoredResult(JobResult("endpoint", "text/html", None, endpoint))]
        )
        await self.jobs.record_info(job_id, {"endpoint": endpoint}, significant=True)

    def _current(self, name: str, job_id: str, seen: Handle) -> Handle:
        """The job's Handle now: a poll pass holds the one from its start, and an
        ABORT may have marked it ``cancel_requested`` meanwhile."""
        return self._live[name].get(job_id, seen)

    async def _finish(self, name: str, ended: Sequence[tuple[str, Handle, Status]]) -> None:
        """Terminal statuses of one poll pass: collect each task's results, then
        record every end (results first, so a waiter woken by the phase change
        already sees them) in one store transaction; then ``release``, if the
        adapter's class has one of its own."""
        adapter = self.adapters[name]
        endings: list[Ending] = []
        handles: list[Handle] = []
        for job_id, seen, status in ended:
            handle = self._current(name, job_id, seen)
            handles.append(handle)
            results: list[StoredResult] = []
            if adapter.capabilities.results:
                try:
                    refs = await self._call(adapter, "results", handle, CallContext())
                    results = [_stored(r) for r in refs]
                except AdapterError as exc:
                    log.warning("results of job %s from %s: %s", job_id, name, exc.message)
            endings.append(_ending(name, job_id, handle, status, results))
        await self.jobs.record_ends(endings)
        for job_id, _, _ in ended:
            self._live[name].pop(job_id, None)
            self._misses.pop(job_id, None)
            self._seen.pop(job_id, None)
            self._room_freed(name)
        if not _releases(adapter):
            return
        for (job_id, _, _), handle in zip(ended, handles, strict=True):
            try:  # free what still costs (a stopped VM); results stay until cleanup
                await self._call(adapter, "release", handle, CallContext())
            except AdapterError as exc:
                log.warning(
                    "release of job %s on %s: %s (cleanup will retry)", job_id, name, exc.message
                )

    async def _count_misses(self, name: str, job_ids: Sequence[str], why: str) -> None:
        for job_id in job_ids:
            count = self._misses.get(job_id, 0) + 1
            self._misses[job_id] = count
            if count >= self.settings.unknown_threshold:
                self._live[name].pop(job_id, None)
                self._misses.pop(job_id, None)
                self._seen.pop(job_id, None)
                self._room_freed(name)
                await self.jobs.record_error(
                    job_id,
                    JobError(
                        "transient",
                        f"lost track of the task on {name} after {count} tries: {why}",
                    ),
                )

    # --------------------------------------------------------------- reaper

    async def _reaper(self) -> None:
        while not self._closed:
            self._reaper_due = None  # while it looks, every change wakes it again
            self._deadlines.clear()
            try:
                await self.reap()
            except Exception:
                log.exception("reaper pass failed")
            upcoming = await self.store.next_deadline()
            timeout = 3600.0
            if upcoming is not None:
                timeout = min(timeout, max((upcoming - utcnow()).total_seconds(), 0.0) + 0.01)
            self._reaper_due = utcnow() + timedelta(seconds=timeout)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._deadlines.wait(), timeout)

    async def reap(self) -> None:
        now = utcnow()
        for job_id in await self.store.overrun(now):
            job = await self.store.get(job_id)
            seconds = job.execution_duration if job else 0
            await self.jobs.stop(
                job_id,
                "execution duration exceeded",
                JobError("fatal", f"execution duration of {seconds} s exceeded; job aborted"),
            )
        for job_id in await self.store.expired(now):
            await self.jobs.destroy(job_id, archive=self.settings.destruction == "archive")
        expired = await self.store.expire_offers(now)
        if expired:
            # offers() is side-effect free (protocol): the OFFERED row is the only
            # reservation, so expiring it is what frees the capacity
            log.info("%d offer(s) expired", len(expired))
            fired, self.offers_expired = self.offers_expired, asyncio.Event()
            fired.set()

    # ------------------------------------------------------------- recovery

    async def recover(self) -> None:
        """After a restart: re-attach live jobs, relaunch unsubmitted ones, sweep orphans."""
        for live in await self.store.live_jobs(RUNNING):
            if live.handle is None:
                if live.phase is Phase.QUEUED and not live.cancel_requested:
                    self.start(live.job_id)
                continue
            if live.platform not in self.adapters:
                await self.jobs.record_error(
                    live.job_id,
                    JobError(
                        "fatal",
                        f"platform {live.platform!r} is not available after a broker restart; "
                        "the job's state on it is unknown",
                    ),
                )
                continue
            self._live[live.platform][live.job_id] = Handle.from_json(live.handle)
        for live in await self.store.unreleased_aborts():
            # aborted before the restart, the platform's end not yet seen (RELEASING)
            if live.platform in self.adapters and live.handle is not None:
                self._live[live.platform][live.job_id] = Handle.from_json(live.handle)
        for name in self.adapters:
            if self._live[name]:
                self.wake(name)
            self._spawn(self._sweep(name))

    async def _sweep(self, name: str) -> None:
        adapter = self.adapters[name]
        try:
            native = await self._call(adapter, "list_native", CallContext())
        except Unsupported:
            return
        except AdapterError as exc:
            log.warning("orphan sweep of %s failed: %s", name, exc.message)
            return
        known = await self.store.job_ids(native.values())
        for native_id, job_id in native.items():
            if job_id not in known:
                log.info("removing orphan %s (job %s) from %s", native_id, job_id, name)
                try:
                    await self._call(adapter, "cleanup", Handle(name, native_id), CallContext())
                except AdapterError as exc:
                    log.warning("orphan %s on %s not removed: %s", native_id, name, exc.message)

    async def _cleanup(self, platform: str, handle: Handle) -> None:
        adapter = self.adapters[platform]
        job_id = handle.native_id
        delay = 1.0
        for _ in range(5):
            try:
                await self._call(adapter, "cleanup", handle, CallContext())
                self._room_freed(platform)
                return
            except TransientError:
                await asyncio.sleep(delay)
                delay *= 2
            except AdapterError as exc:
                log.warning("cleanup of job %s on %s: %s", job_id, platform, exc.message)
                return

    # -------------------------------------------------------------- helpers

    async def _call(
        self, adapter: Adapter, method: str, *args: Any, timeout: float | None = None
    ) -> Any:
        """Every adapter call of the dispatcher, through the guard (:mod:`ivoa_broker.guard`)."""
        return await self.guard.call(adapter, method, *args, timeout=timeout)

    def _explain(self, adapter: Adapter, request: ExecutionRequest) -> str:
        """``explain_refusal`` through the guard: a raise or garbage becomes the reason."""
        try:
            why = self.guard.sync(adapter, "explain_refusal", request)
        except AdapterError as exc:
            return f"no offer for this request (and {exc.message})"
        return str(why) if why else _NO_REASON

    def _spawn(self, coro: Awaitable[Any]) -> None:
        task: asyncio.Task[Any] = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)


#: the refusal of an instance that gives no reason of its own
_NO_REASON = "no offer for this request"


def _ending(
    name: str, job_id: str, handle: Handle, status: Status, results: Sequence[StoredResult]
) -> Ending:
    """What :meth:`JobService.record_ends` records of a terminal status."""
    phase = status.phase
    if phase is Phase.ABORTED and not handle.cancel_requested:
        phase = Phase.ERROR  # stopped by the platform, not by us
    error = None
    if phase is Phase.ERROR:
        message = status.message or f"the task failed on {name} ({status.native_state})"
        if status.reason is not None:
            message = f"{message} [reason: {status.reason.value}]"
        error = JobError("fatal", message)
    return Ending(
        job_id,
        phase,
        ended_at=status.ended_at or status.observed_at,
        started_at=status.started_at,
        error=error,
        info=end_info(status),
        results=tuple(results),
    )


def _releases(adapter: Adapter) -> bool:
    """Whether the adapter's class has a ``release`` of its own (the base's frees nothing)."""
    own = getattr(type(adapter), "release", None)
    return own is not None and own is not BaseAdapter.release


def end_info(status: Status) -> dict[str, str]:
    """The jobInfo entries of a task's end: native state, exit code, signal,
    reason and usage (``usage_cpu_seconds``, ``usage_elapsed_seconds``,
    ``usage_max_rss_bytes``)."""
    info = {"native_state": status.native_state}
    if status.exit_code is not None:
        info["exit_code"] = str(status.exit_code)
    if status.signal is not None:
        info["signal"] = str(status.signal)
    if status.reason is not None:
        info["end_reason"] = str(status.reason)
    usage = status.usage
    if usage is not None:
        for key in ("cpu_seconds", "elapsed_seconds", "max_rss_bytes"):
            value = getattr(usage, key)
            if value is not None:
                info[f"usage_{key}"] = f"{value:g}" if isinstance(value, float) else str(value)
    return info


def _seen_key(status: Status) -> tuple[Any, ...]:
    """What of a status, if unchanged, needs no recording again."""
    return (
        status.phase,
        status.native_state,
        status.message,
        status.started_at,
        status.endpoint,
        status.progress,
    )


def _progress_text(status: Status) -> str:
    progress = status.progress
    if progress is None:
        return ""
    if progress.fraction is None:
        return progress.message
    return f"{progress.message} ({max(0.0, min(progress.fraction, 1.0)) * 100:.0f}%)"


def _static_refusal(adapter: Adapter, request: ExecutionRequest) -> str | None:
    caps = adapter.capabilities
    if request.kind not in caps.kinds:
        return f"does not run {request.kind} tasks"
    if request.image and not caps.images:
        return f"cannot run container images (image={request.image!r})"
    if request.resources.gpus and not caps.gpus:
        return f"has no GPUs (gpus={request.resources.gpus})"
    limit = caps.max_walltime_seconds
    if limit and request.resources.walltime_seconds and request.resources.walltime_seconds > limit:
        return f"runs tasks for at most {timedelta(seconds=limit)}"
    return None


def _stored(ref: ResultRef) -> StoredResult:
    return StoredResult(
        JobResult(id=ref.id, mime_type=ref.mime_type, size=ref.size, href=ref.url),
        path=str(ref.path) if ref.path is not None else None,
    )
