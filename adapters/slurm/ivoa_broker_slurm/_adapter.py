"""``SlurmAdapter``: batch jobs on a Slurm cluster, through its CLI or slurmrestd."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import uuid
from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from pathlib import Path
from typing import Protocol

from ivoa_broker.protocol import (
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
    Offer,
    Phase,
    Resources,
    ResultRef,
    Status,
    deadline_after,
)

from ._cli import CliClient
from ._cluster import Cluster, Partition, refusal
from ._config import SlurmConfig
from ._mapping import MB, Plan, Refused, plan
from ._records import JobInfo
from ._rest import RestClient
from ._spec import JobSpec, job_files
from ._states import END_WORDS, STATE_MAP, end_reason, phase_of

#: the comment of every job: ``ivoa-broker:<instance>:<broker job id>``
COMMENT = "ivoa-broker:{instance}:{job_id}"
TERMINAL = frozenset({Phase.COMPLETED, Phase.ERROR, Phase.ABORTED})
#: how long cleanup waits for a cancelled job to let go of its files
CLEANUP_WAIT = 30.0


class SlurmClient(Protocol):
    async def close(self) -> None: ...
    async def ping(self) -> None: ...
    async def cluster(self) -> Cluster: ...
    async def submit(self, spec: JobSpec, *, as_user: str | None = None) -> str: ...
    async def test_only(self, spec: JobSpec, *, as_user: str | None = None) -> datetime | None: ...
    async def jobs(self, ids: Sequence[str]) -> dict[str, JobInfo]: ...
    async def all_jobs(self) -> dict[str, JobInfo]: ...
    async def accounting(self, ids: Sequence[str], kind: str) -> dict[str, JobInfo]: ...
    async def cancel(self, native_id: str, *, as_user: str | None = None) -> None: ...
    async def fetch(self, remote: str, local: Path) -> bool: ...
    async def remove(self, paths: Sequence[str], *, as_user: str | None = None) -> None: ...


def make_client(config: SlurmConfig, deps: AdapterDeps) -> SlurmClient:
    if config.mode == "rest":
        assert config.rest_user is not None and config.rest_token is not None
        return RestClient(
            config.rest_url,
            config.rest_version,
            config.rest_user,
            config.rest_token.get_secret_value(),
            job_root=config.job_root,
            local_job_root=config.broker_job_root,
            timeout=config.command_timeout,
        )
    if config.ssh is not None:
        from ._ssh import SSHRunner

        login = SSHRunner(config.ssh, timeout=config.command_timeout)
        return CliClient(
            login, env=config.env, timeout=config.command_timeout,
            sudo=config.run_as == "sudo", on_close=login.close,
        )  # fmt: skip
    return CliClient(
        deps.run, env=config.env, timeout=config.command_timeout, sudo=config.run_as == "sudo"
    )


class SlurmAdapter(BaseAdapter[SlurmConfig]):
    """One Slurm cluster. See the package README for configuration and limits."""

    plugin = "slurm"
    config_model = SlurmConfig
    state_map = STATE_MAP
    poll_interval = timedelta(seconds=3)
    capabilities = Capabilities(
        kinds=frozenset({"batch"}), gpus=True, logs=True, results=True, adopt=True
    )

    def __init__(self, name: str, config: SlurmConfig, deps: AdapterDeps) -> None:
        super().__init__(name, config, deps)
        self._client = make_client(config, deps)
        self._cluster = Cluster()

    # ------------------------------------------------------------ lifecycle

    async def open(self) -> None:
        self._cluster = await self._client.cluster()
        if self.config.accounting != "auto":
            self._cluster = dataclasses.replace(self._cluster, accounting=self.config.accounting)
        parts = self._allowed_partitions()
        limits = [p.max_time_minutes for p in parts]
        self.capabilities = dataclasses.replace(
            type(self).capabilities,
            images=self.config.container_runner != "none",
            queues=tuple(p.name for p in parts),
            max_cores=float(max((p.max_cpus_per_node for p in parts), default=0)) or None,
            max_memory_bytes=max((p.max_memory_mb for p in parts), default=0) * MB or None,
            max_gpus=max((p.max_gpus for p in parts), default=0),
            max_walltime_seconds=None
            if not limits or None in limits
            else max(m or 0 for m in limits) * 60,
        )

    async def aclose(self) -> None:
        await self._client.close()

    async def health(self) -> Health:
        try:
            await self._client.ping()
        except AdapterError as exc:
            return Health(ok=False, message=exc.message)
        return Health(ok=True, message=f"{len(self._cluster.partitions)} partitions")

    # --------------------------------------------------------------- offers

    def _allowed_partitions(self) -> list[Partition]:
        allowed = self.config.partition.allowed
        return [p for p in self._cluster.partitions if not allowed or p.name in allowed]

    def _candidates(self, request: ExecutionRequest) -> tuple[Plan, list[Partition], list[str]]:
        """The plan, the partitions that can take it, and why the others cannot."""
        the_plan = plan(request, self.config)
        rest = self.config.mode == "rest"
        if rest and request.account is not None and request.account != self.config.rest_user:
            raise Refused(
                f"this REST instance submits as {self.config.rest_user} only, "
                f"not as {request.account}"
            )
        parts = self._allowed_partitions()
        if the_plan.partition is not None:
            named = [p for p in parts if p.name == the_plan.partition]
            if not named:
                raise Refused(f"slurm.partition: the cluster has no partition {the_plan.partition}")
            parts = named
        elif self.config.partition.default is None and not self.config.partition.allowed:
            # no choice configured: every partition, Slurm's default first
            parts.sort(key=lambda p: not p.default)
        reasons = []
        fitting = []
        for part in parts:
            why = refusal(part, the_plan.needs)
            if why is None:
                fitting.append(part)
            else:
                reasons.append(why)
        if self.config.partition.default is not None and the_plan.partition is None:
            fitting.sort(key=lambda p: p.name != self.config.partition.default)
        return the_plan, fitting, reasons

    def explain_refusal(self, request: ExecutionRequest) -> str | None:
        try:
            _, fitting, reasons = self._candidates(request)
        except Refused as exc:
            return str(exc)
        if fitting:
            return None
        if not reasons:
            return "no partition of this cluster is allowed for this instance"
        return "no partition can take the job: " + "; ".join(reasons)

    def _spec(self, request: ExecutionRequest, the_plan: Plan, partition: str | None) -> JobSpec:
        needs = the_plan.needs
        return JobSpec(
            name=f"{self.config.name_prefix}{request.job_id}",
            comment=COMMENT.format(instance=self.name, job_id=request.job_id),
            job_root=self.config.job_root,
            command=the_plan.command,
            env=dict(request.env),
            partition=partition,
            cpus_per_task=needs.cores,
            mem_mb=needs.mem_mb,
            gpus=needs.gpus,
            time_minutes=needs.time_minutes,
            nodes=needs.nodes if request.resources.nodes else None,
            ntasks=the_plan.ntasks,
            **the_plan.choices,
        )

    async def offers(self, request: ExecutionRequest, ctx: CallContext) -> list[Offer]:
        try:
            the_plan, fitting, _ = self._candidates(request)
        except Refused:
            return []
        specs = [self._spec(request, the_plan, p.name) for p in fitting]
        starts = await asyncio.gather(
            *(self._client.test_only(s, as_user=request.account) for s in specs),
            return_exceptions=True,
        )
        offers = []
        for part, start in zip(fitting, starts, strict=True):
            if isinstance(start, InvalidRequest):
                continue  # Slurm itself says this partition cannot run it
            if isinstance(start, BaseException):
                raise start
            offers.append(self._offer(the_plan, part, start))
        return offers

    def _offer(self, the_plan: Plan, part: Partition, start: datetime | None) -> Offer:
        needs = the_plan.needs
        minutes = needs.time_minutes
        if minutes is None:
            minutes = part.max_time_minutes
        granted = Resources(
            cores=float(needs.cores),
            memory_bytes=needs.mem_mb * MB if needs.mem_mb else None,
            gpus=needs.gpus,
            walltime_seconds=minutes * 60 if minutes else None,
            disk_bytes=None,
            nodes=needs.nodes,
            tasks=the_plan.ntasks,
        )
        extras = ", ".join(f"{k} {v}" for k, v in the_plan.choices.items() if v)
        summary = (
            f"Slurm partition {part.name}: {needs.cores} core(s)"
            + (f", {needs.mem_mb} MB" if needs.mem_mb else "")
            + (f", {needs.gpus} GPU(s)" if needs.gpus else "")
            + (f", up to {minutes} min" if minutes else "")
            + (f" ({extras})" if extras else "")
        )
        return Offer(
            adapter=self.name,
            offer_id=f"{self.name}:{part.name}:{uuid.uuid4().hex[:12]}",
            summary=summary,
            resources=granted,
            start=start,
            expires_at=deadline_after(self.config.offer_seconds),
            terms={"partition": part.name, "time_minutes": needs.time_minutes},
            queue=part.name,
        )

    # --------------------------------------------------------------- submit

    async def submit(self, request: ExecutionRequest, offer: Offer, ctx: CallContext) -> Handle:
        try:
            the_plan, fitting, reasons = self._candidates(request)
        except Refused as exc:
            raise InvalidRequest(str(exc)) from None
        partition = offer.terms.get("partition") or offer.queue
        chosen = next((p for p in fitting if p.name == partition), None)
        if chosen is None:
            why = "; ".join(reasons) or f"partition {partition} is not allowed"
            raise InvalidRequest(f"the offer no longer fits: {why}")
        spec = self._spec(request, the_plan, chosen.name)
        existing = await self._find(spec.comment)
        native = existing or await self._client.submit(spec, as_user=request.account)
        state: dict[str, str] = {"job_id": request.job_id, "partition": chosen.name}
        if request.account:
            state["account"] = request.account
        return Handle(adapter=self.name, native_id=native, state=state)

    async def _find(self, comment: str) -> str | None:
        """A job this instance submitted for the same broker job (idempotent submit)."""
        for native, info in (await self._client.all_jobs()).items():
            if info.comment == comment and phase_of(info.state, info.reason) not in (
                Phase.ABORTED,
            ):
                return native
        return None

    # --------------------------------------------------------------- status

    async def status_many(
        self, handles: Sequence[Handle], ctx: CallContext
    ) -> Mapping[str, Status]:
        ids = sorted({h.native_id for h in handles}, key=int)
        if not ids:
            return {}
        found = await self._client.jobs(ids)
        missing = [i for i in ids if i not in found]
        if missing:
            found.update(await self._client.accounting(missing, self._cluster.accounting))
        statuses: dict[str, Status] = {}
        for handle in handles:
            info = found.get(handle.native_id)
            if info is None:
                statuses[handle.native_id] = Status(
                    Phase.UNKNOWN,
                    "unknown",
                    message="the job left the queue and accounting has no record of it (yet)",
                )
            else:
                statuses[handle.native_id] = self._status(info, handle.cancel_requested)
        return statuses

    def _status(self, info: JobInfo, cancel_requested: bool) -> Status:
        phase = phase_of(info.state, info.reason)
        reason = (
            end_reason(info.state, cancel_requested)
            if phase in (Phase.ERROR, Phase.ABORTED)
            else None
        )
        exit_code = info.exit_code
        signal = info.signal or None
        if signal and not exit_code:
            exit_code = 128 + signal  # the shell convention for a death by signal
        message = None
        if phase in (Phase.QUEUED, Phase.HELD):
            message = info.reason
        elif phase is Phase.ERROR or (phase is Phase.ABORTED and not cancel_requested):
            message = END_WORDS.get(info.state, f"the job ended {info.state}")
            if info.state == "FAILED" and exit_code is not None:
                message += f" ({exit_code})"
        if phase is Phase.COMPLETED:
            exit_code = exit_code or 0
        return Status(
            phase=phase,
            native_state=info.state,
            message=message,
            exit_code=exit_code if phase in (Phase.COMPLETED, Phase.ERROR, Phase.ABORTED) else None,
            signal=signal if phase in (Phase.ERROR, Phase.ABORTED) else None,
            reason=reason,
            usage=info.usage,
            started_at=info.started_at if phase is not Phase.QUEUED else None,
            ended_at=info.ended_at
            if phase in (Phase.COMPLETED, Phase.ERROR, Phase.ABORTED)
            else None,
        )

    # ------------------------------------------------------- cancel, files

    async def cancel(self, handle: Handle, ctx: CallContext) -> None:
        await self._client.cancel(handle.native_id, as_user=_account(handle))

    def _files(self, handle: Handle) -> tuple[str, str, str]:
        return job_files(self.config.job_root, handle.native_id)

    async def logs(self, handle: Handle, ctx: CallContext) -> str:
        parts = []
        for ref in await self.results(handle, ctx):
            assert ref.path is not None
            parts.append(ref.path.read_text(errors="replace"))
        return "".join(parts)

    async def results(self, handle: Handle, ctx: CallContext) -> list[ResultRef]:
        stdout, stderr, _ = self._files(handle)
        local = self.deps.data_dir / "jobs" / handle.native_id
        refs = []
        for ref_id, remote in (("stdout", stdout), ("stderr", stderr)):
            target = local / f"{ref_id}.txt"
            if await self._client.fetch(remote, target):
                refs.append(
                    ResultRef(
                        ref_id, path=target, mime_type="text/plain", size=target.stat().st_size
                    )
                )
        return refs

    async def cleanup(self, handle: Handle, ctx: CallContext) -> None:
        """Cancel if still there, wait until Slurm lets go, then remove the job's files."""
        await self._client.cancel(handle.native_id, as_user=_account(handle))
        loop = asyncio.get_running_loop()
        until = loop.time() + CLEANUP_WAIT
        while loop.time() < until:
            info = (await self._client.jobs([handle.native_id])).get(handle.native_id)
            if info is None or phase_of(info.state, info.reason) in TERMINAL:
                break
            await asyncio.sleep(0.5)
        else:
            raise FatalError(f"Slurm job {handle.native_id} did not end within {CLEANUP_WAIT} s")
        await self._client.remove(list(self._files(handle)), as_user=_account(handle))
        local = self.deps.data_dir / "jobs" / handle.native_id
        with contextlib.suppress(FileNotFoundError):
            for path in local.iterdir():
                path.unlink()
            local.rmdir()

    async def list_native(self, ctx: CallContext) -> Mapping[str, str]:
        prefix = COMMENT.format(instance=self.name, job_id="")
        return {
            native: info.comment[len(prefix) :]
            for native, info in (await self._client.all_jobs()).items()
            if info.comment.startswith(prefix) and phase_of(info.state, info.reason) not in TERMINAL
        }


def _account(handle: Handle) -> str | None:
    value = handle.state.get("account")
    return value if isinstance(value, str) else None
