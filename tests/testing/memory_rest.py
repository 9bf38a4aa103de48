"""A small REST "task service" fake and an adapter for it: the kit's own reference.

The fake (on :class:`StatefulHTTPFake`) keeps tasks in its state dict. A task
is ``queued`` when created, ``running`` after it was first looked at, and ends
only when the controller says so (``finish``) or when it is cancelled. Its log
is its command line. The adapter maps HTTP trouble to the protocol's errors in
one place (``_call``), like a real REST adapter would.
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Mapping, Sequence
from datetime import timedelta
from typing import Any, ClassVar

import httpx
from pydantic import SecretStr

from ivoa_broker.protocol import (
    AdapterConfig,
    AdapterDeps,
    AuthError,
    BaseAdapter,
    CallContext,
    Capabilities,
    Conflict,
    ExecutionRequest,
    FatalError,
    Handle,
    Health,
    InvalidRequest,
    NotFound,
    Offer,
    Phase,
    Resources,
    Status,
    TransientError,
)
from ivoa_broker.testing import (
    GARBAGE,
    Fault,
    HTTPCall,
    PlatformControls,
    StatefulHTTPFake,
)

JSON = Any
MAX_CORES = 8

ROUTE_OF_OP = {
    "submit": "create",
    "status": "list",
    "cancel": "cancel",
    "cleanup": "delete",
    "logs": "log",
    "list_native": "list",
    "health": "health",
}


class TaskService:
    """The fake platform and its :class:`PlatformController`."""

    def __init__(self) -> None:
        self.http = StatefulHTTPFake("https://tasks.test")
        self.tasks: dict[str, dict[str, JSON]] = {}
        self.http.state["tasks"] = self.tasks
        self._ids = itertools.count(1)
        #: op -> native ids that are "gone" for the next call of that op
        self.gone_once: dict[str, set[str]] = {}
        h = self.http
        h.add_route("GET", "/health", lambda call: (200, {"ok": True}), name="health")
        h.add_route("POST", "/tasks", self._create, name="create")
        h.add_route("GET", "/tasks", self._list, name="list")
        h.add_route("POST", "/tasks/{tid}/cancel", self._cancel, name="cancel")
        h.add_route("DELETE", "/tasks/{tid}", self._delete, name="delete")
        h.add_route("GET", "/tasks/{tid}/log", self._log, name="log")

    # ---------------------------------------------------------------- routes

    def _create(self, call: HTTPCall) -> tuple[int, JSON]:
        body = call.json()
        if any(t["job_id"] == body["job_id"] for t in self.tasks.values()):
            return 409, {"error": "job exists"}
        tid = f"t{next(self._ids)}"
        self.tasks[tid] = {
            "id": tid,
            "job_id": body["job_id"],
            "state": "queued",
            "command": body["command"],
            "exit_code": None,
        }
        return 201, self.tasks[tid]

    def _list(self, call: HTTPCall) -> tuple[int, JSON]:
        ids = [i for i in call.query.get("ids", "").split(",") if i]
        out = []
        hidden = self.gone_once.pop("status", set())
        for tid in ids or list(self.tasks):
            task = self.tasks.get(tid)
            if task is None or tid in hidden:
                continue
            if task["state"] == "queued" and ids:
                task["state"] = "running"  # starts once somebody looks
            out.append(dict(task))
        return 200, out

    def _cancel(self, call: HTTPCall) -> tuple[int, JSON]:
        task = self.tasks.get(call.params["tid"])
        if task is None or call.params["tid"] in self.gone_once.pop("cancel", set()):
            return 404, {"error": "no such task"}
        if task["state"] in ("queued", "running"):
            task["state"] = "cancelled"
        return 202, task

    def _delete(self, call: HTTPCall) -> httpx.Response:
        if call.params["tid"] in self.gone_once.pop("cleanup", set()):
            return httpx.Response(404, json={"error": "no such task"})
        if self.tasks.pop(call.params["tid"], None) is None:
            return httpx.Response(404, json={"error": "no such task"})
        return httpx.Response(204)

    def _log(self, call: HTTPCall) -> httpx.Response:
        task = self.tasks.get(call.params["tid"])
        if task is None:
            return httpx.Response(404, json={"error": "no such task"})
        return httpx.Response(200, json={"log": " ".join(task["command"]) + "\n"})

    # ------------------------------------------------------------ controller

    @property
    def controls(self) -> PlatformControls:
        return PlatformControls(
            native_ids=True,
            finish=True,
            faults={op: frozenset(Fault) for op in ROUTE_OF_OP},
            targeted=True,
        )

    def fail_next_for(self, op: str, fault: Fault, native_id: str) -> None:
        """A targeted fault: only NOT_FOUND, for one task (it looks gone once)."""
        assert fault == Fault.NOT_FOUND
        self.gone_once.setdefault(op, set()).add(native_id)

    async def native_ids(self) -> set[str]:
        return set(self.tasks)

    def fail_next(self, op: str, fault: Fault) -> None:
        error: int | BaseException | str
        if fault == Fault.TIMEOUT:
            error = httpx.ReadTimeout("injected timeout")
        elif fault == Fault.CONNECTION:
            error = httpx.ConnectError("injected connection refused")
        elif fault == Fault.GARBAGE:
            error = GARBAGE
        else:
            status = fault.http_status
            assert status is not None
            error = status
        self.http.fail_next(ROUTE_OF_OP[op], error)

    async def finish(self, native_id: str, exit_code: int) -> None:
        task = self.tasks[native_id]
        if task["state"] in ("queued", "running"):
            task["state"] = "done" if exit_code == 0 else "failed"
            task["exit_code"] = exit_code


class TaskConfig(AdapterConfig):
    base_url: str = "https://tasks.test"
    max_cores: int = MAX_CORES
    token: SecretStr = SecretStr("")


class TaskAdapter(BaseAdapter):
    """An adapter for :class:`TaskService`, written as a real REST adapter would be."""

    plugin = "memory-tasks"
    config_model: ClassVar[type[AdapterConfig]] = TaskConfig
    capabilities = Capabilities(logs=True)
    state_map: ClassVar[Mapping[str, Phase]] = {
        "queued": Phase.QUEUED,
        "running": Phase.EXECUTING,
        "done": Phase.COMPLETED,
        "failed": Phase.ERROR,
        "cancelled": Phase.ABORTED,
    }
    poll_interval = timedelta(seconds=1)

    def __init__(
        self, name: str, config: AdapterConfig, deps: AdapterDeps, client: httpx.AsyncClient
    ) -> None:
        super().__init__(name, config, deps)
        assert isinstance(config, TaskConfig)
        self.cfg = config
        self.client = client

    async def _call(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        """The one boundary where HTTP trouble becomes protocol errors."""
        try:
            response = await self.client.request(method, path, **kwargs)
        except httpx.TimeoutException as exc:
            raise TransientError("task service timed out", detail=str(exc)) from exc
        except httpx.TransportError as exc:
            raise TransientError("task service unreachable", detail=str(exc)) from exc
        code = response.status_code
        if code in (401, 403):
            raise AuthError("task service refused the credentials")
        if code == 404:
            raise NotFound("task is gone")
        if code == 409:
            raise Conflict("task exists")
        if code >= 500:
            raise TransientError(f"task service answered {code}")
        if code >= 400:
            raise FatalError(f"task service answered {code}")
        if code != 204:
            try:
                response.json()
            except (json.JSONDecodeError, UnicodeDecodeError) as exc:
                raise FatalError("task service sent garbage", detail=str(exc)) from exc
        return response

    async def health(self) -> Health:
        try:
            await self._call("GET", "/health")
        except (TransientError, FatalError, AuthError) as exc:
            return Health(ok=False, message=exc.message)
        return Health(ok=True)

    async def offers(self, request: ExecutionRequest, ctx: CallContext) -> list[Offer]:
        cores = request.resources.cores or 1
        if cores > self.cfg.max_cores or request.resources.gpus:
            return []
        return [
            Offer(
                adapter=self.name,
                offer_id=f"{self.name}:{request.job_id}",
                summary="a task",
                resources=Resources(cores=cores),
            )
        ]

    async def submit(self, request: ExecutionRequest, offer: Offer, ctx: CallContext) -> Handle:
        if not request.command:
            raise InvalidRequest("a task needs a command")
        body = {"job_id": request.job_id, "command": list(request.command)}
        try:
            task = (await self._call("POST", "/tasks", json=body)).json()
        except Conflict:
            native = await self.list_native(ctx)
            task = {"id": next(k for k, v in native.items() if v == request.job_id)}
        return Handle(adapter=self.name, native_id=task["id"])

    async def status_many(
        self, handles: Sequence[Handle], ctx: CallContext
    ) -> Mapping[str, Status]:
        if not handles:
            return {}
        ids = ",".join(h.native_id for h in handles)
        tasks = (await self._call("GET", "/tasks", params={"ids": ids})).json()
        return {
            t["id"]: Status(
                phase=self.map_state(t["state"]), native_state=t["state"], exit_code=t["exit_code"]
            )
            for t in tasks
        }

    async def cancel(self, handle: Handle, ctx: CallContext) -> None:
        await self._call("POST", f"/tasks/{handle.native_id}/cancel")

    async def logs(self, handle: Handle, ctx: CallContext) -> str:
        return str((await self._call("GET", f"/tasks/{handle.native_id}/log")).json()["log"])

    async def cleanup(self, handle: Handle, ctx: CallContext) -> None:
        try:
            await self._call("DELETE", f"/tasks/{handle.native_id}")
        except NotFound:
            return

    async def list_native(self, ctx: CallContext) -> Mapping[str, str]:
        tasks = (await self._call("GET", "/tasks")).json()
        return {t["id"]: t["job_id"] for t in tasks}
