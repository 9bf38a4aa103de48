"""An in-memory adapter the tests steer: the platform is a dict of native states."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from pathlib import Path
from typing import ClassVar

from ivoa_broker.protocol import (
    AdapterConfig,
    AdapterDeps,
    BaseAdapter,
    CallContext,
    Capabilities,
    ExecutionRequest,
    Handle,
    Offer,
    Phase,
    Resources,
    ResultRef,
    Status,
    utcnow,
)


class FakeAdapter(BaseAdapter[AdapterConfig]):
    plugin = "fake"
    capabilities = Capabilities(results=True, adopt=True)
    state_map: ClassVar[Mapping[str, Phase]] = {
        "queued": Phase.QUEUED,
        "running": Phase.EXECUTING,
        "done": Phase.COMPLETED,
        "failed": Phase.ERROR,
        "killed": Phase.ABORTED,
        "held": Phase.HELD,
    }
    poll_interval = timedelta(seconds=30)  # the tests wake it; no timer polls needed

    def __init__(
        self,
        name: str = "fake",
        config: AdapterConfig | None = None,
        deps: AdapterDeps | None = None,
    ) -> None:
        super().__init__(
            name, config or self.config_model(), deps or AdapterDeps(data_dir=Path("/tmp"))
        )
        self.native: dict[str, str] = {}
        self.exit_codes: dict[str, int] = {}
        self.cancelled: list[str] = []
        self.cleaned: list[str] = []
        self.released: list[str] = []
        self.submitted: list[ExecutionRequest] = []
        self.any_submit = asyncio.Event()
        self.any_cleanup = asyncio.Event()

    def set(self, native_id: str, state: str, exit_code: int | None = None) -> None:
        self.native[native_id] = state
        if exit_code is not None:
            self.exit_codes[native_id] = exit_code
        self.deps.wake(native_id)

    async def offers(self, request: ExecutionRequest, ctx: CallContext) -> list[Offer]:
        if request.image:
            return []
        return [Offer(self.name, "o1", "fake", Resources(cores=1), start=utcnow())]

    async def submit(self, request: ExecutionRequest, offer: Offer, ctx: CallContext) -> Handle:
        native_id = f"n-{request.job_id}"
        self.native[native_id] = "queued"
        self.submitted.append(request)
        self.any_submit.set()
        return Handle(self.name, native_id, {"job": request.job_id})

    async def status_many(
        self, handles: Sequence[Handle], ctx: CallContext
    ) -> Mapping[str, Status]:
        out = {}
        for h in handles:
            state = self.native.get(h.native_id)
            if state is not None:
                out[h.native_id] = Status(
                    self.map_state(state),
                    state,
                    exit_code=self.exit_codes.get(h.native_id),
                    message=f"exit {self.exit_codes.get(h.native_id)}"
                    if state == "failed"
                    else None,
                )
        return out

    async def cancel(self, handle: Handle, ctx: CallContext) -> None:
        self.cancelled.append(handle.native_id)
        if self.native.get(handle.native_id) in ("queued", "running"):
            self.native[handle.native_id] = "killed"

    async def results(self, handle: Handle, ctx: CallContext) -> list[ResultRef]:
        return [ResultRef("out", url=f"https://results.example/{handle.native_id}")]

    async def release(self, handle: Handle, ctx: CallContext) -> None:
        self.released.append(handle.native_id)

    async def cleanup(self, handle: Handle, ctx: CallContext) -> None:
        self.cleaned.append(handle.native_id)
        self.any_cleanup.set()
        self.native.pop(handle.native_id, None)

    async def list_native(self, ctx: CallContext) -> Mapping[str, str]:
        return {n: n.removeprefix("n-") for n in self.native}


class ExplodingAdapter(FakeAdapter):
    """A plug-in that raises from every method."""

    plugin = "exploding"

    async def health(self):  # type: ignore[no-untyped-def]
        raise RuntimeError("health exploded")

    async def offers(self, request, ctx):  # type: ignore[no-untyped-def]
        raise RuntimeError("offers exploded")

    async def submit(self, request, offer, ctx):  # type: ignore[no-untyped-def]
        raise RuntimeError("submit exploded")

    async def status_many(self, handles, ctx):  # type: ignore[no-untyped-def]
        raise RuntimeError("status exploded")

    async def cancel(self, handle, ctx):  # type: ignore[no-untyped-def]
        raise RuntimeError("cancel exploded")

    async def cleanup(self, handle, ctx):  # type: ignore[no-untyped-def]
        raise RuntimeError("cleanup exploded")

    async def list_native(self, ctx):  # type: ignore[no-untyped-def]
        raise RuntimeError("list exploded")


class RenewingAdapter(FakeAdapter):
    """A platform whose tasks have a lifetime of their own (like CANFAR sessions)."""

    plugin = "renewing"

    def __init__(self, *args: object, **kw: object) -> None:
        super().__init__(*args, **kw)  # type: ignore[arg-type]
        self.renewed: list[str] = []
        self.deadlines: list[datetime] = []

    async def renew(self, handle: Handle, deadline: datetime, ctx: CallContext) -> datetime:
        self.renewed.append(handle.native_id)
        self.deadlines.append(deadline)
        return deadline


class InteractiveAdapter(FakeAdapter):
    """Sessions that expose a URL once running (like CANFAR notebooks)."""

    plugin = "interactive"

    async def status_many(self, handles, ctx):  # type: ignore[no-untyped-def]
        found = dict(await super().status_many(handles, ctx))
        for native_id, status in found.items():
            if status.phase is Phase.EXECUTING:
                found[native_id] = Status(
                    status.phase,
                    status.native_state,
                    endpoint=f"https://sessions.example/{native_id}/lab",
                )
        return found
