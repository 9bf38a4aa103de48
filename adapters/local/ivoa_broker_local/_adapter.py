"""The ``local`` adapter: batch jobs as supervised processes on the broker's machine.

Each job runs under its own supervisor (:mod:`ivoa_broker_local._runner`), the
leader of a new session, in ``<work_dir>/<native_id>/`` (see
:mod:`ivoa_broker_local._jobdir`). Everything the adapter knows about a job is
in that directory and in the Handle, so a fresh instance (after a broker
restart, even after SIGKILL) finds every job again.

Contract choices (see also the README):

* **Invalid requests** (an executable that is not on ``PATH`` or not
  executable, a relative path, resources above the maxima) are refused by
  ``offers`` (``[]``, with the reason from :meth:`LocalAdapter.explain_refusal`)
  and by ``submit`` as :class:`InvalidRequest`, before any side effect.
* **Events**: the end of every supervisor this instance started or has seen
  running is watched through a pidfd; ``deps.wake(native_id)`` is called at
  once. ``poll_interval`` is only a slow fallback.
* **Capacity**: ``submit`` raises :class:`NoCapacity` once ``max_jobs`` jobs
  known to this instance are running.
* **Containers** (a request with an ``image``): every contract call goes to the
  embedded docker adapter of :mod:`ivoa_broker_local._container` (``containers``
  in the config), or the request is refused with the reason there is none.
  ``max_jobs`` and the process limits do not apply to containers.
"""

from __future__ import annotations

import asyncio
import dataclasses
import errno
import logging
import os
import shutil
import sys
import uuid
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from ivoa_broker.protocol import (
    API_VERSION,
    JSON,
    AdapterDeps,
    AdapterError,
    BaseAdapter,
    CallContext,
    Capabilities,
    ExecutionRequest,
    FatalError,
    Handle,
    Health,
    InvalidRequest,
    NoCapacity,
    NotFound,
    Offer,
    Phase,
    ResultRef,
    Status,
    TransientError,
    deadline_after,
    utcnow,
)

from ._config import LocalConfig
from ._container import Containers, container_refusal
from ._control import kill_if_alive, signal_supervisor
from ._inputs import INPUT_DIR, INPUT_DIR_ENV, spec_entries
from ._inputs import SPEC_KEY as STAGED_INPUTS_KEY
from ._jobdir import JobDir, RunnerRecord, is_native_id, native_id_for, tail
from ._notebook import (
    STATE_ENV,
    as_batch,
    is_notebook,
    notebook_problem,
    read_progress,
    runtime_paths,
    state_dir,
)
from ._observe import Observation, Observer, handle_state, limits_from_spec
from ._policy import Policy
from ._procs import ProcIdentity, find_session_leader, identify
from ._results import list_results
from ._runner import JOB_ID_ENV, OUTPUT_DIR_ENV, SANDBOXED_KEY, write_json_atomic
from ._sandbox import Sandbox, SandboxUnavailable, probe, wrap
from ._spawn import STATE_DIRS_KEY, launch, runner_marker
from ._states import (
    STATE_MAP,
    Limits,
    human_bytes,
)
from ._watch import ExitWatcher

if TYPE_CHECKING:
    from ivoa_broker_docker import DockerAdapter

__all__ = ["LocalAdapter"]

log = logging.getLogger(__name__)
_T = TypeVar("_T")

#: how long an offer stays valid
OFFER_TTL_SECONDS = 60.0
#: after SIGTERM plus the grace period, how long the supervisor gets to finish
#: its own SIGKILL escalation before the adapter kills its whole session
ESCALATION_MARGIN_SECONDS = 5.0
#: how long cleanup waits for killed processes to be gone before deleting files
CLEANUP_WAIT_SECONDS = 10.0


#: errno values that may clear up by themselves (worth a retry)
_TRANSIENT_ERRNOS = frozenset(
    {errno.ENOSPC, errno.EDQUOT, errno.EMFILE, errno.ENFILE, errno.EAGAIN, errno.ENOMEM}
)


def os_error(what: str, exc: OSError) -> AdapterError:
    """An OS error as a protocol error: resource exhaustion is transient, the rest fatal."""
    reason = exc.strerror or type(exc).__name__
    error = TransientError if exc.errno in _TRANSIENT_ERRNOS else FatalError
    return error(f"{what}: {reason}", detail=repr(exc))


class LocalAdapter(BaseAdapter[LocalConfig]):
    """Runs batch commands on this machine; see the module docstring."""

    plugin = "local"
    api_version = API_VERSION
    config_model = LocalConfig
    capabilities = Capabilities(
        # "interactive": only a notebook, which is executed as a batch job (``_notebook.py``)
        kinds=frozenset({"batch", "interactive"}),
        images=False,
        gpus=False,
        logs=True,
        results=True,
        adopt=True,
        staged_inputs=True,
    )
    state_map = STATE_MAP
    poll_interval = timedelta(seconds=3)

    def __init__(self, name: str, config: LocalConfig, deps: AdapterDeps) -> None:
        super().__init__(name, config, deps)
        cfg = self.cfg = config
        self.work_dir = Path(cfg.work_dir if cfg.work_dir is not None else deps.data_dir)
        self.work_dir = self.work_dir.absolute()
        self._python = self._find_python(cfg.python)
        self.policy = Policy(cfg, self.work_dir)
        self.observer = Observer(self.work_dir, error_tail_bytes=cfg.error_tail_bytes)
        self._watcher = ExitWatcher(self._on_exit)
        self._ended: dict[str, asyncio.Event] = {}
        #: the status of each job whose supervisor is watched and has not ended:
        #: answered without reading anything (its pidfd fires when that changes)
        self._quiet: dict[str, Status] = {}
        self._active: set[str] = set()
        self._locks: dict[str, asyncio.Lock] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        #: the working sandbox (``sandbox = "bwrap"``), or why there is none
        self.sandbox: Sandbox | None = None
        self.sandbox_problem: str | None = (
            None if cfg.sandbox == "none" else "the platform has not been opened yet"
        )
        #: who runs container requests (an embedded docker adapter), or why nobody does
        self.containers = Containers(name, cfg.containers, cfg.container_config, deps)

    @staticmethod
    async def _io(fn: Callable[..., _T], *args: Any, **kwargs: Any) -> _T:
        """Run blocking file or /proc work in a thread: the one place where OS
        trouble becomes an :class:`AdapterError` (see :func:`os_error`)."""
        try:
            return await asyncio.to_thread(fn, *args, **kwargs)
        except OSError as exc:
            raise os_error("the local platform failed", exc) from exc

    @staticmethod
    def _find_python(python: str | None) -> str:
        if python is None:
            return sys.executable
        found = shutil.which(python)
        if found is None:
            raise ValueError(f"local adapter: python interpreter {python!r} not found")
        return os.path.abspath(found)

    # ------------------------------------------------------------------ lifecycle

    async def open(self) -> None:
        """Make the work directory; this instance's limits become its capabilities."""
        await self._io(self.work_dir.mkdir, parents=True, exist_ok=True)
        await self._open_sandbox()
        await self._open_containers()
        self.capabilities = dataclasses.replace(
            type(self).capabilities,
            # (a subclass that runs images its own way says so in its class attribute)
            images=type(self).capabilities.images or self.containers.adapter is not None,
            max_cores=self.cfg.effective_max_cores(),
            max_memory_bytes=self.cfg.effective_max_memory(),
        )

    async def _open_containers(self) -> None:
        """The embedded docker adapter; say at start-up whether containers are run."""
        await self.containers.open()
        if self.containers.adapter is None:
            log.info(
                "local platform %s: container requests are refused: %s",
                self.name,
                self.containers.problem,
            )
        else:
            log.info(
                "local platform %s: container requests run on %s (%s)",
                self.name,
                self.containers.kind(),
                self.containers.address,
            )

    async def _open_sandbox(self) -> None:
        """Try the sandbox once; say at start-up when jobs cannot have it."""
        if self.cfg.sandbox == "none":
            self.sandbox_problem = None
            log.warning(
                'local platform %s: jobs are NOT sandboxed (sandbox = "none"): they run '
                "as the broker's user and can read its configuration, store and tokens",
                self.name,
            )
            return
        try:
            self.sandbox = await asyncio.to_thread(
                probe,
                self.cfg.bwrap,
                network=self.cfg.sandbox_network,
                paths=self.cfg.sandbox_paths,
            )
        except SandboxUnavailable as exc:
            self.sandbox_problem = str(exc)
            log.warning(
                "local platform %s: jobs cannot be sandboxed: %s; it runs no job until they "
                'can, or until its config says sandbox = "none"',
                self.name,
                exc,
            )
        else:
            self.sandbox_problem = None
            log.info("local platform %s: jobs run sandboxed by %s", self.name, self.sandbox.bwrap)

    async def aclose(self) -> None:
        """Stop watching; running jobs are left running (they outlive the broker)."""
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        self._watcher.close()
        await self.containers.aclose()

    async def health(self) -> Health:
        """The processes' health and the containers' (both are said)."""
        processes, containers = await asyncio.gather(
            self._process_health(), self.containers.health()
        )
        return Health(
            ok=processes.ok and containers.ok,
            message=f"{processes.message}; {containers.message}",
        )

    async def _process_health(self) -> Health:
        if self.sandbox_problem is not None:
            return Health(
                ok=False,
                message=f"jobs cannot be sandboxed: {self.sandbox_problem} "
                '(the config may opt out with sandbox = "none")',
            )

        def probe() -> Health:
            try:
                self.work_dir.mkdir(parents=True, exist_ok=True)
                scratch = self.work_dir / f".health-{uuid.uuid4().hex}"
                scratch.write_bytes(b"ok")
                scratch.unlink()
            except OSError as exc:
                return Health(ok=False, message=f"work dir {self.work_dir} is not writable: {exc}")
            return Health(ok=True, message=f"work dir {self.work_dir} is writable")

        return await asyncio.to_thread(probe)

    # --------------------------------------------------------------------- offers

    def explain_refusal(self, request: ExecutionRequest) -> str | None:
        """Why this adapter cannot run ``request``, in words for the user; ``None`` if it can.

        Cheap and side-effect free: ``offers`` returns ``[]`` exactly when this
        returns a reason, and ``submit`` raises ``InvalidRequest`` with it.
        """
        if request.image:
            engine = self.containers.adapter
            if engine is None:
                return container_refusal(request, self.containers.problem)
            return engine.explain_refusal(request)
        if is_notebook(request):
            problem = notebook_problem(request)
            if problem is not None:
                return problem
        refusal = self.policy.refusal(self._runnable(request))
        if refusal is None and self.sandbox_problem is not None:
            return f"the local platform cannot sandbox jobs: {self.sandbox_problem}"
        return refusal

    @staticmethod
    def _runnable(request: ExecutionRequest) -> ExecutionRequest:
        """The batch job that runs ``request`` (a notebook is executed by ``_nbrun``)."""
        return as_batch(request, sys.executable) if is_notebook(request) else request

    async def offers(self, request: ExecutionRequest, ctx: CallContext) -> list[Offer]:
        """One best-effort offer to start now, or ``[]`` (see :meth:`explain_refusal`).

        A container request gets the embedded docker adapter's offers."""
        if request.image:
            engine = self.containers.adapter
            return [] if engine is None else await engine.offers(request, ctx)
        if self.explain_refusal(request) is not None:
            return []
        granted, limits = self.policy.grant(request)
        warnings: list[str] = []
        if granted.disk_bytes is not None:
            warnings.append("disk use is not limited on the local platform")
        if len(self._active) >= self.cfg.max_jobs:
            warnings.append(
                f"all {self.cfg.max_jobs} local job slots are busy; submitting may have to wait"
            )
        cores = granted.cores or 1.0
        memory = human_bytes(granted.memory_bytes) if granted.memory_bytes else "no memory limit"
        what = "execute the notebook on a local kernel" if is_notebook(request) else "run now"
        return [
            Offer(
                adapter=self.name,
                offer_id=f"{self.name}-{uuid.uuid4().hex}",
                summary=(
                    f"{what} as a local process ({cores:g} core{'' if cores == 1 else 's'}, "
                    f"{memory})"
                ),
                resources=granted,
                start=utcnow(),
                expires_at=deadline_after(OFFER_TTL_SECONDS),
                reserved=False,
                terms={
                    "memory_bytes": limits.memory_bytes,
                    "cpu_seconds": limits.cpu_seconds,
                },
                warnings=tuple(warnings),
            )
        ]

    # --------------------------------------------------------------------- submit

    def _lock_for(self, native_id: str) -> asyncio.Lock:
        return self._locks.setdefault(native_id, asyncio.Lock())

    def _spec(self, request: ExecutionRequest, jobdir: JobDir, limits: Limits) -> dict[str, JSON]:
        env = self.policy.job_env(request)
        env[JOB_ID_ENV] = request.job_id
        env[OUTPUT_DIR_ENV] = str(jobdir.out)
        if request.staged_inputs:
            env[INPUT_DIR_ENV] = str(jobdir.path / INPUT_DIR)
        argv = list(request.command)
        state = state_dir(argv, jobdir.path)
        if state is not None:  # a notebook job: its runner's progress and kernel files
            env[STATE_ENV] = str(state)
        if self.sandbox is not None:  # the one launch hook of the sandbox
            argv, env = wrap(
                self.sandbox,
                jobdir.path,
                jobdir.out,
                argv,
                env,
                runtime_paths(argv),
                writable=[state] if state is not None else [],
            )
        return {
            "job_id": request.job_id,
            "owner": request.owner,
            "argv": argv,
            "env": env,
            SANDBOXED_KEY: self.sandbox is not None,
            STATE_DIRS_KEY: [state.name] if state is not None else [],
            STAGED_INPUTS_KEY: spec_entries(request),
            "memory_bytes": limits.memory_bytes,
            "cpu_seconds": limits.cpu_seconds,
            "cpu_hard_seconds": self.policy.cpu_hard_seconds(limits),
            "kill_grace_seconds": self.cfg.kill_grace_seconds,
            "created_at": utcnow().isoformat(),
        }

    def _launch(self, request: ExecutionRequest, jobdir: JobDir, limits: Limits) -> RunnerRecord:
        """In a worker thread: the job's spec (wrapping it in the sandbox looks the
        command up on the job's PATH) and its launch."""
        return launch(jobdir, self._spec(request, jobdir, limits), self._python)

    def _handle(self, native_id: str, record: RunnerRecord, limits: Limits) -> Handle:
        return Handle(adapter=self.name, native_id=native_id, state=handle_state(record, limits))

    def _existing(self, jobdir: JobDir, job_id: str) -> tuple[RunnerRecord, Limits] | None:
        """The job already launched for this id, if any (blocking).

        A directory whose supervisor record is missing (the broker died between
        starting the supervisor and recording it) is matched to its supervisor
        through the supervisor's environment; if there is none, the partial
        directory is removed.
        """
        if not jobdir.exists():
            return None
        record = jobdir.read_runner()
        if record is None:
            leader = find_session_leader(runner_marker(job_id))
            ident = identify(leader) if leader is not None else None
            if ident is None:
                shutil.rmtree(jobdir.path, ignore_errors=True)
                return None
            record = RunnerRecord(
                pid=ident.pid,
                start_ticks=ident.start_ticks,
                boot_id=ident.boot_id,
                started_at=utcnow(),
            )
            write_json_atomic(jobdir.runner_file, record.to_json())
        return record, limits_from_spec(jobdir.read_spec())

    async def submit(self, request: ExecutionRequest, offer: Offer, ctx: CallContext) -> Handle:
        """Start ``request`` (idempotent per job id); raises before any side effect.

        A container request is submitted by the embedded docker adapter; its Handle is
        marked (``state["engine"]``) so that every later call goes there too."""
        if request.image:
            engine = self.containers.adapter
            if engine is None:
                raise InvalidRequest(container_refusal(request, self.containers.problem))
            return self.containers.mark(await engine.submit(request, offer, ctx))
        reason = self.explain_refusal(request)
        if reason is not None:
            raise InvalidRequest(reason)
        request = self._runnable(request)
        if offer.adapter != self.name:
            raise InvalidRequest(
                f"the offer {offer.offer_id!r} was made by {offer.adapter!r}, not {self.name!r}"
            )
        native_id = native_id_for(request.job_id)
        jobdir = JobDir(self.work_dir, native_id)
        lock = self._lock_for(native_id)
        await lock.acquire()
        release = True
        try:
            found = await self._io(self._existing, jobdir, request.job_id)
            if found is not None:
                record, limits = found
                self._track(native_id, record.identity)
                return self._handle(native_id, record, limits)
            if len(self._active) >= self.cfg.max_jobs:
                raise NoCapacity(
                    f"the local platform is running its maximum of {self.cfg.max_jobs} jobs"
                )
            _, limits = self.policy.grant(request)
            self._active.add(native_id)  # reserve the slot while launching
            launching = asyncio.ensure_future(
                asyncio.to_thread(self._launch, request, jobdir, limits)
            )
            try:
                record = await asyncio.shield(launching)
            except asyncio.CancelledError:
                # The thread still launches. Keep the job's lock until it is done, so a
                # cleanup of this job id waits for it and then finds what to remove.
                release = False

                def launched(fut: asyncio.Future[RunnerRecord]) -> None:
                    self._launched_late(native_id, fut)
                    lock.release()

                launching.add_done_callback(launched)
                raise
            except OSError as exc:
                self._active.discard(native_id)
                raise os_error("could not start the job on the local platform", exc) from exc
            except BaseException:
                self._active.discard(native_id)
                raise
        finally:
            if release:
                lock.release()
        self._track(native_id, record.identity)
        return self._handle(native_id, record, limits)

    def _launched_late(self, native_id: str, fut: asyncio.Future[RunnerRecord]) -> None:
        """``submit`` was cancelled while launching: keep watching what it started."""
        if fut.cancelled() or fut.exception() is not None:
            self._active.discard(native_id)
            return
        self._track(native_id, fut.result().identity)

    # ----------------------------------------------------------------- containers

    def _engine_of(
        self, handle: Handle, missing: type[AdapterError] = TransientError
    ) -> DockerAdapter | None:
        """The embedded docker adapter if ``handle`` is a container job, else None.

        Raises ``missing`` for a container job when containers are not run (now)."""
        if not self.containers.owns(handle, self.work_dir):
            return None
        engine = self.containers.adapter
        if engine is None:
            raise missing(
                f"local job {handle.native_id!r} runs in a container, and containers are "
                f"not run now: {self.containers.problem}"
            )
        return engine

    # --------------------------------------------------------------------- events

    def _track(self, native_id: str, ident: ProcIdentity) -> None:
        """Count the job as running and watch for its end (if it still runs)."""
        ended = self._ended.setdefault(native_id, asyncio.Event())
        if self._watcher.watch(native_id, ident):
            self._active.add(native_id)
        elif not ended.is_set():
            # it ended before the watch began (a forked supervisor of a short job
            # can): the end is news all the same
            self._on_exit(native_id)

    def _on_exit(self, native_id: str) -> None:
        self._quiet.pop(native_id, None)
        self._active.discard(native_id)
        event = self._ended.get(native_id)
        if event is not None:
            event.set()
        try:
            self.deps.wake(native_id)
        except Exception:  # the core's callback must not break the watcher
            log.exception("wake(%s) failed", native_id)

    # --------------------------------------------------------------------- status

    async def status_many(
        self, handles: Sequence[Handle], ctx: CallContext
    ) -> Mapping[str, Status]:
        """Status of each job; jobs whose directory is gone are omitted (NotFound).

        A job whose supervisor is watched and still running is answered from
        memory (no file or ``/proc`` read): a poll over many sleeping jobs costs
        nothing per job; their ends arrive as pidfd events. Container jobs are asked
        of the embedded docker adapter (in one call), with the processes.
        """
        boxed: list[Handle] = []
        processes: list[Handle] = []
        for handle in handles:
            try:
                (boxed if self._engine_of(handle, NotFound) else processes).append(handle)
            except NotFound:
                continue  # a container job while containers are off: not known now
        if not boxed:
            return await self._process_status_many(processes)
        engine = self.containers.adapter
        assert engine is not None
        ran, found = await asyncio.gather(
            self._process_status_many(processes), engine.status_many(boxed, ctx)
        )
        return {**ran, **found}

    async def _process_status_many(self, handles: Sequence[Handle]) -> dict[str, Status]:
        if not handles:
            return {}
        quiet: list[Handle] = []
        unknown: list[Handle] = []
        for handle in handles:
            if handle.native_id in self._quiet and self._watcher.watching(handle.native_id):
                quiet.append(handle)
            else:
                unknown.append(handle)

        def look() -> tuple[list[str], dict[str, Observation]]:
            # a quiet job is still checked to have its directory (one stat)
            here = [h.native_id for h in quiet if os.path.isdir(self.work_dir / h.native_id)]
            return here, self._observe_many(unknown) if unknown else {}

        here, found = await self._io(look)
        result: dict[str, Status] = {n: self._quiet[n] for n in here if n in self._quiet}
        recheck: list[Handle] = []
        by_id = {h.native_id: h for h in unknown}
        for native_id, seen in found.items():
            result[native_id] = seen.status
            if seen.running is not None:
                self._track(native_id, seen.running)
                if native_id not in self._active:  # ended between the read and the watch
                    recheck.append(by_id[native_id])
                elif self._watcher.watching(native_id) and not self._reports_progress(native_id):
                    # (a notebook reports progress while it runs: it is read each time)
                    self._quiet[native_id] = seen.status
            else:
                self._active.discard(native_id)
        if recheck:
            again = await self._io(self.observer.observe_many, recheck)
            result.update({k: v.status for k, v in again.items()})
        return result

    def _reports_progress(self, native_id: str) -> bool:
        """A job whose status changes while it runs (a notebook): never answered from memory."""
        spec = JobDir(self.work_dir, native_id).read_spec() or {}
        return any(str(a).endswith(".ipynb") or "_nbrun" in str(a) for a in spec.get("argv", []))

    def _observe_many(self, handles: list[Handle]) -> dict[str, Observation]:
        """What ``observe_many`` sees, with a notebook's progress on a running job."""
        found = self.observer.observe_many(handles)
        for native_id, seen in found.items():
            if seen.status.phase is Phase.EXECUTING:
                progress = read_progress(self.work_dir / native_id)
                if progress is not None:
                    status = dataclasses.replace(seen.status, progress=progress)
                    found[native_id] = dataclasses.replace(seen, status=status)
        return found

    async def status(self, handle: Handle, ctx: CallContext) -> Status:
        engine = self._engine_of(handle, NotFound)
        if engine is not None:
            return await engine.status(handle, ctx)
        found = await self._process_status_many([handle])
        if handle.native_id not in found:
            raise NotFound(f"local job {handle.native_id!r} is gone")
        return found[handle.native_id]

    # --------------------------------------------------------------------- cancel

    def _terminate(self, handle: Handle, *, now: bool) -> ProcIdentity | None:
        """Signal the job's live supervisor (blocking); its identity if signalled."""
        jobdir = self.observer.jobdir(handle)
        if jobdir is None or not jobdir.exists():
            return None
        if not now and jobdir.exit_file.exists():
            return None  # already ended: nothing to ask
        return signal_supervisor(self.observer.runner(handle, jobdir), jobdir, now=now)

    async def cancel(self, handle: Handle, ctx: CallContext) -> None:
        """Ask the job to stop: SIGTERM now, SIGKILL after ``kill_grace_seconds``.

        Idempotent and never raises for a job that has ended or is gone. The
        supervisor escalates to SIGKILL itself; the adapter schedules a fallback
        that kills the whole session if the supervisor has not ended by then.
        A container job is stopped by the embedded docker adapter.
        """
        engine = self._engine_of(handle)
        if engine is not None:
            return await engine.cancel(handle, ctx)
        ident = await self._io(self._terminate, handle, now=False)
        if ident is None:
            return
        self._track(handle.native_id, ident)
        event = self._ended[handle.native_id]
        if event.is_set():
            return
        task = asyncio.create_task(self._escalate(ident, event))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _escalate(self, ident: ProcIdentity, ended: asyncio.Event) -> None:
        timeout = self.cfg.kill_grace_seconds + ESCALATION_MARGIN_SECONDS
        try:
            await asyncio.wait_for(ended.wait(), timeout)
        except TimeoutError:
            await self._io(kill_if_alive, ident)

    # -------------------------------------------------------------- logs, results

    async def logs(self, handle: Handle, ctx: CallContext) -> str:
        """The ends of stdout and stderr (``log_tail_bytes`` each); a container's logs."""
        engine = self._engine_of(handle, NotFound)
        if engine is not None:
            return await engine.logs(handle, ctx)
        jobdir = self.observer.jobdir(handle)
        if jobdir is None:
            raise NotFound(f"local job {handle.native_id!r} is gone")

        def read() -> str:
            if not jobdir.exists():
                raise NotFound(f"local job {handle.native_id!r} is gone")
            limit = self.cfg.log_tail_bytes
            return (
                f"==> stdout <==\n{tail(jobdir.stdout, limit)}"
                f"\n==> stderr <==\n{tail(jobdir.stderr, limit)}"
            )

        return await self._io(read)

    async def results(self, handle: Handle, ctx: CallContext) -> list[ResultRef]:
        """``stdout``, ``stderr`` and the files under ``out/`` (id scheme: README);
        a container job's results are the docker adapter's (the same ids)."""
        engine = self._engine_of(handle, NotFound)
        if engine is not None:
            return await engine.results(handle, ctx)
        jobdir = self.observer.jobdir(handle)

        def listed() -> list[ResultRef] | None:  # one trip to a thread, not two
            if jobdir is None or not jobdir.exists():
                return None
            return list_results(jobdir.path, max_files=self.cfg.max_result_files)

        found = await self._io(listed)
        if found is None:
            raise NotFound(f"local job {handle.native_id!r} is gone")
        return found

    # -------------------------------------------------------------------- cleanup

    async def cleanup(self, handle: Handle, ctx: CallContext) -> None:
        """Kill the job if it still runs and delete its directory; idempotent.

        A live supervisor is told to SIGKILL and reap every process of the job
        (daemons included); if it has not ended after ``CLEANUP_WAIT_SECONDS``,
        its whole session is SIGKILLed. Then the directory is deleted. A container
        job's container and folder are removed by the embedded docker adapter.
        """
        engine = self._engine_of(handle)
        if engine is not None:
            return await engine.cleanup(handle, ctx)
        jobdir = self.observer.jobdir(handle)
        if jobdir is None:
            return
        async with self._lock_for(handle.native_id):
            if await self._io(jobdir.exists):
                ident = await self._io(self._terminate, handle, now=True)
                if ident is not None:
                    self._track(handle.native_id, ident)
                    try:
                        await asyncio.wait_for(
                            self._ended[handle.native_id].wait(), CLEANUP_WAIT_SECONDS
                        )
                    except TimeoutError:
                        await self._io(kill_if_alive, ident)
                await self._io(self._remove_dir, jobdir.path)
        self._watcher.unwatch(handle.native_id)
        self._quiet.pop(handle.native_id, None)
        self._active.discard(handle.native_id)
        self._ended.pop(handle.native_id, None)
        lock = self._locks.get(handle.native_id)
        if lock is not None and not lock.locked():
            del self._locks[handle.native_id]

    async def release(self, handle: Handle, ctx: CallContext) -> None:
        """A container job's end is recorded: its container goes (logs and files stay).
        A process has nothing left that costs once it has ended."""
        engine = self._engine_of(handle)
        if engine is not None:
            await engine.release(handle, ctx)

    async def renew(self, handle: Handle, deadline: datetime, ctx: CallContext) -> datetime | None:
        """Neither processes nor containers have a lifetime of their own (the core keeps
        the execution duration): the docker adapter's answer for a container job."""
        engine = self._engine_of(handle)
        if engine is not None:
            return await engine.renew(handle, deadline, ctx)
        return await super().renew(handle, deadline, ctx)

    @staticmethod
    def _remove_dir(path: Path) -> None:
        try:
            shutil.rmtree(path)
        except FileNotFoundError:
            return
        except OSError:  # a dying process may still have written a file: once more
            shutil.rmtree(path, ignore_errors=True)

    # ---------------------------------------------------------------- adoption

    async def list_native(self, ctx: CallContext) -> Mapping[str, str]:
        """``native_id -> job_id`` of every job directory with a supervisor record, and
        of every container of this instance (when containers are run)."""

        def scan() -> dict[str, str]:
            found: dict[str, str] = {}
            try:
                entries = list(os.scandir(self.work_dir))
            except FileNotFoundError:
                return found
            for entry in entries:
                if not is_native_id(entry.name) or not entry.is_dir(follow_symlinks=False):
                    continue
                jobdir = JobDir(self.work_dir, entry.name)
                if jobdir.runner_file.exists():
                    found[entry.name] = jobdir.job_id()
            return found

        found = await self._io(scan)
        engine = self.containers.adapter
        if engine is not None:
            found.update(await engine.list_native(ctx))
        return found
