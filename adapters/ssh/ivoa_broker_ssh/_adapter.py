"""``SSHAdapter``: batch jobs as detached process groups on one remote host."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import mimetypes
import shutil
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path

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
    NotFound,
    Offer,
    Phase,
    Resources,
    ResultRef,
    Status,
    deadline_after,
    utcnow,
)

from . import _scripts as sh
from ._client import SSHClient
from ._config import SSHConfig
from ._states import STATE_MAP

LOG_LIMIT = 1_000_000
OFFER_TTL_SECONDS = 600


class SSHAdapter(BaseAdapter[SSHConfig]):
    """Runs a request's command on ``config.host`` over SSH (see the package README)."""

    plugin = "ssh"
    config_model = SSHConfig
    capabilities = Capabilities(kinds=frozenset({"batch"}), logs=True, results=True)
    state_map = STATE_MAP
    poll_interval = timedelta(seconds=5)

    def __init__(self, name: str, config: SSHConfig, deps: AdapterDeps) -> None:
        super().__init__(name, config, deps)
        self.cfg: SSHConfig = config
        self.client = SSHClient(config)
        self.capabilities = dataclasses.replace(
            type(self).capabilities,
            max_cores=config.max_cores,
            max_walltime_seconds=config.max_walltime_seconds,
        )

    async def aclose(self) -> None:
        """Close the SSH connection (jobs keep running on the host)."""
        await self.client.close()

    # ------------------------------------------------------------------ helpers

    def _dir(self, handle: Handle) -> str:
        d = handle.state.get("dir")
        if not isinstance(d, str) or "\n" in d:
            return sh.job_dir(self.cfg.work_dir, handle.native_id)
        return d

    def _refusal(self, request: ExecutionRequest) -> str | None:
        res = request.resources
        if request.kind != "batch":
            return "only batch jobs"
        if request.image or request.notebook:
            return "no container images or notebooks"
        if res.gpus:
            return "no GPUs"
        if res.cores is not None and res.cores > self.cfg.max_cores:
            return f"at most {self.cfg.max_cores} cores"
        limit = self.cfg.max_walltime_seconds
        if limit is not None and res.walltime_seconds is not None and res.walltime_seconds > limit:
            return f"at most {limit} s of run time"
        return None

    def _validate(self, request: ExecutionRequest) -> None:
        if not request.command:
            raise InvalidRequest("an SSH job needs a command")
        if not sh.JOB_ID.match(request.job_id):
            raise InvalidRequest("the job id cannot name a remote directory")
        bad = [k for k in request.env if not sh.ENV_NAME.match(k)]
        if bad:
            raise InvalidRequest(f"invalid environment variable names: {bad}")
        refusal = self._refusal(request)
        if refusal:
            raise InvalidRequest(f"this SSH host offers {refusal}")

    # ----------------------------------------------------------------- contract

    async def health(self) -> Health:
        try:
            out = await self.client.run("echo ok")
        except AdapterError as exc:
            return Health(ok=False, message=exc.message)
        return Health(ok=out.stdout.strip() == "ok", message=f"ssh {self.cfg.host}")

    async def offers(self, request: ExecutionRequest, ctx: CallContext) -> list[Offer]:
        if not request.command:
            raise InvalidRequest("an SSH job needs a command")
        if self._refusal(request) is not None:
            return []
        return [
            Offer(
                adapter=self.name,
                offer_id=f"{self.name}:{request.job_id}",
                summary=f"run now on {self.cfg.host} (no reservation)",
                resources=Resources(
                    cores=request.resources.cores,
                    memory_bytes=request.resources.memory_bytes,
                    walltime_seconds=request.resources.walltime_seconds,
                ),
                start=utcnow(),
                expires_at=deadline_after(OFFER_TTL_SECONDS),
                terms={"host": self.cfg.host, "port": self.cfg.port},
            )
        ]

    async def submit(self, request: ExecutionRequest, offer: Offer, ctx: CallContext) -> Handle:
        self._validate(request)
        if offer.terms.get("host") != self.cfg.host:
            raise InvalidRequest("the offer is for another SSH host")
        run_sh = sh.run_script(request.command, request.env, request.resources.walltime_seconds)
        out = await self.client.run(sh.submit_script(self.cfg.work_dir, request.job_id, run_sh))
        if out.stdout.strip() not in (sh.STARTED, sh.EXISTS):
            raise FatalError("the remote host did not confirm the start", detail=out.stdout[-200:])
        d = sh.job_dir(self.cfg.work_dir, request.job_id)
        return Handle(adapter=self.name, native_id=request.job_id, state={"dir": d})

    async def status_many(
        self, handles: Sequence[Handle], ctx: CallContext
    ) -> Mapping[str, Status]:
        if not handles:
            return {}
        dirs = {self._dir(h): h for h in handles}
        out = await self.client.run(sh.status_script(list(dirs)))
        found: dict[str, Status] = {}
        for d, state in sh.parse_status(out.stdout).items():
            handle = dirs.get(d)
            if handle is None or state.gone:
                continue
            native = sh.native_state(state, handle.cancel_requested)
            found[handle.native_id] = Status(
                phase=self.map_state(native),
                native_state=native,
                exit_code=state.exit_code,
                message=_message(native, state.exit_code),
                started_at=_time(state.started),
                ended_at=_time(state.ended),
            )
        return found

    async def cancel(self, handle: Handle, ctx: CallContext) -> None:
        await self.client.run(sh.cancel_script(self._dir(handle), self.cfg.kill_grace_seconds))

    async def logs(self, handle: Handle, ctx: CallContext) -> str:
        out = await self.client.run(sh.logs_script(self._dir(handle), LOG_LIMIT))
        stdout, _, stderr = out.stdout.partition("\036")
        return stdout + (f"\n--- stderr ---\n{stderr}" if stderr else "")

    async def results(self, handle: Handle, ctx: CallContext) -> list[ResultRef]:
        local = self._staging(handle)
        await asyncio.to_thread(_fresh_dir, local)
        d = self._dir(handle)
        for name in ("stdout", "stderr"):
            await self.client.download(f"{d}/{name}", local / name)
        with contextlib.suppress(NotFound):  # a job may remove its out/ folder
            await self.client.download(f"{d}/out", local / "out")
        return await asyncio.to_thread(_staged_refs, local)

    async def cleanup(self, handle: Handle, ctx: CallContext) -> None:
        await self.client.run(sh.cleanup_script(self._dir(handle)))
        await asyncio.to_thread(shutil.rmtree, self._staging(handle), ignore_errors=True)

    async def list_native(self, ctx: CallContext) -> Mapping[str, str]:
        out = await self.client.run(sh.list_script(self.cfg.work_dir))
        found = {}
        for line in out.stdout.splitlines():
            name, sep, job_id = line.partition("|")
            if not sep:
                raise FatalError("the remote host sent an unreadable job list", detail=line[:200])
            found[name] = job_id
        return found

    def _staging(self, handle: Handle) -> Path:
        return self.deps.data_dir / "results" / handle.native_id


def _fresh_dir(path: Path) -> None:
    if path.exists():
        shutil.rmtree(path)
    path.mkdir(parents=True)


def _staged_refs(local: Path) -> list[ResultRef]:
    """``stdout``, ``stderr``, then ``out/<relative path>`` of every staged file."""
    refs = [_ref(name, local / name, "text/plain") for name in ("stdout", "stderr")]
    out = local / "out"
    files = sorted(p for p in out.rglob("*") if p.is_file()) if out.is_dir() else []
    refs += [_ref(p.relative_to(local).as_posix(), p, None) for p in files]
    return refs


def _ref(result_id: str, path: Path, mime: str | None) -> ResultRef:
    return ResultRef(
        id=result_id,
        path=path,
        mime_type=mime or mimetypes.guess_type(path.name)[0] or "application/octet-stream",
        size=path.stat().st_size,
    )


def _time(epoch: int | None) -> datetime | None:
    return datetime.fromtimestamp(epoch, UTC) if epoch is not None else None


def _message(native: str, exit_code: int | None) -> str | None:
    match STATE_MAP[native]:
        case Phase.ERROR if exit_code == 124:
            return "the job ran out of wall time"
        case Phase.ERROR if exit_code is not None and exit_code > 128:
            return f"the job was killed by signal {exit_code - 128}"
        case Phase.ERROR if exit_code is not None:
            return f"the job exited with code {exit_code}"
        case Phase.ERROR:
            return "the job's process vanished without an exit code"
        case Phase.ABORTED:
            return "cancelled"
        case _:
            return None
