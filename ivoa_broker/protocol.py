"""The adapter contract: the public, versioned plug-in API of ivoa-broker.

A platform adapter is a class registered under the entry point group
``ivoa_broker.adapters``. The broker creates **one instance per configured
platform** (not per job), enters it as an async context manager, and calls its
async methods. Everything an adapter sees or returns is defined in this module;
nothing else in ``ivoa_broker`` is public API for plug-in authors, except the
conformance kit in :mod:`ivoa_broker.testing`.

Rules every adapter follows (the conformance kit checks them):

* ``offers()`` is cheap and side-effect free; ``[]`` means "cannot serve this".
* ``submit()`` either returns a :class:`Handle` or raises, leaving nothing behind.
  It is idempotent per ``request.job_id``: native objects carry the job id so
  ``list_native()`` can find orphans after a crash.
* ``status_many()`` works on a fresh instance given only Handles (restarts).
  A task that fails on the platform is ``Status(phase=ERROR, exit_code=...)``,
  never an exception. Exceptions are for the adapter's own trouble and come
  only from the :class:`AdapterError` hierarchy.
* ``cancel()`` only asks; ``cleanup()`` is idempotent and "already gone" is success.
* Secrets are :class:`Secret` values: they never appear in reprs, logs or
  job documents.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from pathlib import Path
from types import TracebackType
from typing import Any, ClassVar, Literal, Protocol, Self, runtime_checkable

from pydantic import BaseModel, ConfigDict

__all__ = [
    "API_VERSION",
    "JSON",
    "SUPPORTED_API_VERSIONS",
    "Adapter",
    "AdapterConfig",
    "AdapterDeps",
    "AdapterError",
    "AuthError",
    "BaseAdapter",
    "CallContext",
    "Capabilities",
    "CommandResult",
    "CommandRunner",
    "Conflict",
    "ExecutionRequest",
    "FatalError",
    "Handle",
    "Health",
    "InvalidRequest",
    "NoCapacity",
    "NotFound",
    "Offer",
    "Phase",
    "Resources",
    "ResultRef",
    "Secret",
    "Status",
    "TransientError",
    "Unsupported",
    "deadline_after",
    "run_command",
    "utcnow",
]

#: Major version of this contract. An adapter declares the version it was
#: written against; the registry refuses versions it does not support.
API_VERSION = 1
SUPPORTED_API_VERSIONS = frozenset({1})

JSON = Any  # a value that json.dumps accepts


def utcnow() -> datetime:
    """The current instant, timezone-aware UTC."""
    return datetime.now(UTC)


class Phase(StrEnum):
    """UWS 1.1 execution phases (XSD ``uws:ExecutionPhase``)."""

    PENDING = "PENDING"
    QUEUED = "QUEUED"
    EXECUTING = "EXECUTING"
    COMPLETED = "COMPLETED"
    ERROR = "ERROR"
    ABORTED = "ABORTED"
    UNKNOWN = "UNKNOWN"
    HELD = "HELD"
    SUSPENDED = "SUSPENDED"
    ARCHIVED = "ARCHIVED"

    def __str__(self) -> str:
        return self.value


class Secret:
    """A string that never shows itself in ``repr``/``str``; call ``reveal()``."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def reveal(self) -> str:
        return self._value

    def __repr__(self) -> str:
        return "Secret('**********')"

    __str__ = __repr__

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Secret) and other._value == self._value

    def __hash__(self) -> int:
        return hash(self._value)

    def __bool__(self) -> bool:
        return bool(self._value)


# --------------------------------------------------------------------------- data


@dataclass(frozen=True)
class Resources:
    """Compute resources. ``None`` means "not asked for / platform default"."""

    cores: float | None = None
    memory_bytes: int | None = None
    gpus: int = 0
    walltime_seconds: int | None = None
    disk_bytes: int | None = None

    def to_json(self) -> dict[str, JSON]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: Mapping[str, JSON]) -> Resources:
        return cls(**{k: data[k] for k in cls.__dataclass_fields__ if k in data})


@dataclass(frozen=True)
class ExecutionRequest:
    """The neutral description of a task, what every adapter is given.

    Built by the core from UWS form parameters or ExecutionBroker documents.
    ``command`` is the full argv (``cmd`` followed by ``args``); ``image`` is an
    OCI reference, ``notebook`` a notebook URL for interactive sessions.
    ``extensions`` holds namespaced platform options (``"slurm.partition"``).
    """

    job_id: str
    owner: str | None = None
    kind: Literal["batch", "interactive"] = "batch"
    command: tuple[str, ...] = ()
    image: str | None = None
    notebook: str | None = None
    env: Mapping[str, str] = field(default_factory=dict)
    resources: Resources = field(default_factory=Resources)
    inputs: tuple[str, ...] = ()
    labels: Mapping[str, str] = field(default_factory=dict)
    extensions: Mapping[str, str] = field(default_factory=dict)
    platform: str | None = None
    schema: int = 1

    def extensions_for(self, namespace: str) -> dict[str, str]:
        """The extensions of one namespace, with the ``namespace.`` prefix removed."""
        prefix = namespace + "."
        return {k[len(prefix) :]: v for k, v in self.extensions.items() if k.startswith(prefix)}

    def to_json(self) -> dict[str, JSON]:
        data = asdict(self)
        data["command"] = list(self.command)
        data["inputs"] = list(self.inputs)
        data["env"] = dict(self.env)
        data["labels"] = dict(self.labels)
        data["extensions"] = dict(self.extensions)
        data["resources"] = self.resources.to_json()
        return data

    @classmethod
    def from_json(cls, data: Mapping[str, JSON]) -> ExecutionRequest:
        return cls(
            job_id=data["job_id"],
            owner=data.get("owner"),
            kind=data.get("kind", "batch"),
            command=tuple(data.get("command", ())),
            image=data.get("image"),
            notebook=data.get("notebook"),
            env=dict(data.get("env", {})),
            resources=Resources.from_json(data.get("resources", {})),
            inputs=tuple(data.get("inputs", ())),
            labels=dict(data.get("labels", {})),
            extensions=dict(data.get("extensions", {})),
            platform=data.get("platform"),
            schema=data.get("schema", 1),
        )


@dataclass(frozen=True)
class Offer:
    """What one platform instance proposes for a request.

    ``adapter`` is the adapter *instance* name (``self.name``), not the plug-in name.
    ``resources`` is what would really be granted (it may be rounded up from
    what was asked). ``terms`` is opaque to the core and is handed back to
    ``submit()`` so the adapter can re-check it. ``start`` is the estimated
    start; adapters that cannot reserve say so with ``reserved=False``.
    """

    adapter: str
    offer_id: str
    summary: str
    resources: Resources
    start: datetime | None = None
    expires_at: datetime | None = None
    reserved: bool = False
    cost: Mapping[str, float] = field(default_factory=dict)
    terms: Mapping[str, JSON] = field(default_factory=dict)
    warnings: tuple[str, ...] = ()

    def to_json(self) -> dict[str, JSON]:
        return {
            "adapter": self.adapter,
            "offer_id": self.offer_id,
            "summary": self.summary,
            "resources": self.resources.to_json(),
            "start": _iso(self.start),
            "expires_at": _iso(self.expires_at),
            "reserved": self.reserved,
            "cost": dict(self.cost),
            "terms": dict(self.terms),
            "warnings": list(self.warnings),
        }

    @classmethod
    def from_json(cls, data: Mapping[str, JSON]) -> Offer:
        return cls(
            adapter=data["adapter"],
            offer_id=data["offer_id"],
            summary=data["summary"],
            resources=Resources.from_json(data.get("resources", {})),
            start=_parse_iso(data.get("start")),
            expires_at=_parse_iso(data.get("expires_at")),
            reserved=bool(data.get("reserved", False)),
            cost=dict(data.get("cost", {})),
            terms=dict(data.get("terms", {})),
            warnings=tuple(data.get("warnings", ())),
        )


@dataclass(frozen=True)
class Handle:
    """How the broker finds a submitted task again: JSON, stored before use.

    A fresh adapter instance given only a Handle must report the same status;
    this is how the broker survives restarts. ``adapter`` is the adapter instance
    name (``self.name``). ``state`` is the adapter's own
    (never holds secrets). ``cancel_requested`` is set by the core when the
    user or the reaper asked to stop the task, so an adapter can tell ABORTED
    from other endings.
    """

    adapter: str
    native_id: str
    state: Mapping[str, JSON] = field(default_factory=dict)
    schema: int = 1
    cancel_requested: bool = False

    def to_json(self) -> str:
        return json.dumps(
            {
                "adapter": self.adapter,
                "native_id": self.native_id,
                "state": dict(self.state),
                "schema": self.schema,
                "cancel_requested": self.cancel_requested,
            },
            sort_keys=True,
        )

    @classmethod
    def from_json(cls, text: str) -> Handle:
        data = json.loads(text)
        return cls(
            adapter=data["adapter"],
            native_id=data["native_id"],
            state=data.get("state", {}),
            schema=data.get("schema", 1),
            cancel_requested=bool(data.get("cancel_requested", False)),
        )


@dataclass(frozen=True)
class Status:
    """What the platform says about a task, already mapped to a UWS phase.

    ``exit_code`` of a task killed by signal N is 128 + N (the shell convention).
    """

    phase: Phase
    native_state: str
    observed_at: datetime = field(default_factory=utcnow)
    message: str | None = None
    exit_code: int | None = None
    started_at: datetime | None = None
    ended_at: datetime | None = None
    endpoint: str | None = None
    progress: int | None = None


@dataclass(frozen=True)
class ResultRef:
    """One result of a task: a local file the broker serves, or a URL.

    ``id`` is unique within the job and safe as one URL path segment (the broker
    serves the result at ``{job}/results/{id}``).
    Exactly one of ``path`` and ``url`` is set. ``path`` must be readable by
    the broker process (an adapter for a remote platform stages files into its
    ``AdapterDeps.data_dir`` first).
    """

    id: str
    path: Path | None = None
    url: str | None = None
    mime_type: str | None = None
    size: int | None = None

    def __post_init__(self) -> None:
        if (self.path is None) == (self.url is None):
            raise ValueError("ResultRef needs exactly one of path and url")


@dataclass(frozen=True)
class Capabilities:
    """Static facts the core uses to filter adapters and gate features."""

    kinds: frozenset[str] = frozenset({"batch"})
    images: bool = False
    gpus: bool = False
    logs: bool = False
    results: bool = False
    #: ``list_native`` works, so the core can find orphans after a crash
    adopt: bool = False
    reserve: bool = False
    #: the adapter accepts platform callbacks through ``receive_callback``
    callbacks: bool = False
    max_walltime_seconds: int | None = None


@dataclass(frozen=True)
class Health:
    ok: bool
    message: str = ""


@dataclass(frozen=True)
class CallContext:
    """Who a call is made for. ``credentials`` is the caller's delegated token."""

    owner: str | None = None
    credentials: Secret | None = None
    request_id: str = ""


@dataclass(frozen=True)
class CommandResult:
    argv: tuple[str, ...]
    returncode: int
    stdout: str
    stderr: str


class CommandRunner(Protocol):
    """Runs a command (CLI platforms). Tests pass a scripted fake."""

    async def __call__(
        self, argv: Sequence[str], *, input: str | None = None, timeout: float | None = None
    ) -> CommandResult: ...


async def run_command(
    argv: Sequence[str], *, input: str | None = None, timeout: float | None = None
) -> CommandResult:
    """The default :class:`CommandRunner`: an asyncio subprocess."""
    proc = await asyncio.create_subprocess_exec(
        *argv,
        stdin=asyncio.subprocess.PIPE if input is not None else asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        out, err = await asyncio.wait_for(
            proc.communicate(input.encode() if input is not None else None), timeout
        )
    except TimeoutError:
        proc.kill()
        await proc.wait()
        raise TransientError(f"command {argv[0]!r} timed out after {timeout} s") from None
    return CommandResult(
        tuple(argv),
        proc.returncode or 0,
        out.decode(errors="replace"),
        err.decode(errors="replace"),
    )


def _never_woken(native_id: str) -> None:
    return None


@dataclass(frozen=True)
class AdapterDeps:
    """What the core gives an adapter instance: its injection seam.

    ``data_dir`` is a private directory for this instance (staged results,
    working areas). ``wake(native_id)`` asks the core to poll this adapter now,
    for adapters that learn of changes by event (a process exit, a callback)
    rather than by polling. ``callback_url`` is this instance's callback prefix on
    the broker's public URL, ``{public_url}/callbacks/{instance}``: a platform-side
    agent POSTs to ``{callback_url}/{job_id}`` (see ``receive_callback``). None
    when the broker has no ``server.public_url`` configured.
    """

    data_dir: Path
    run: CommandRunner = run_command
    wake: Callable[[str], None] = _never_woken
    callback_url: str | None = None


class AdapterConfig(BaseModel):
    """Base of every adapter's ``config_model``. Unknown keys are refused."""

    model_config = ConfigDict(extra="forbid", frozen=True)


# ------------------------------------------------------------------------- errors


class AdapterError(Exception):
    """Base of the errors an adapter may raise.

    ``message`` is safe to show to users; ``reason`` is a short stable label;
    ``detail`` is for logs only (never shown to users, never holds secrets).
    """

    reason: ClassVar[str] = "adapter-error"
    #: HTTP status the broker answers with when this error reaches a client.
    http_status: ClassVar[int] = 500
    #: UWS errorSummary type when this error ends a job.
    uws_error_type: ClassVar[Literal["fatal", "transient"]] = "fatal"

    def __init__(self, message: str, *, detail: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.detail = detail


class InvalidRequest(AdapterError):
    """The request is malformed or impossible for this platform."""

    reason = "invalid-request"
    http_status = 400


class Unsupported(AdapterError):
    """The adapter does not have the capability asked for."""

    reason = "unsupported"
    http_status = 501


class NoCapacity(AdapterError):
    """Quota or capacity exhausted (not impossible, just not now)."""

    reason = "no-capacity"
    http_status = 503
    uws_error_type = "transient"


class AuthError(AdapterError):
    """The platform refused the credentials (401/403, expired token)."""

    reason = "auth"
    http_status = 401


class NotFound(AdapterError):
    """The native object is gone."""

    reason = "not-found"
    http_status = 404


class Conflict(AdapterError):
    """The native object exists already or is being deleted."""

    reason = "conflict"
    http_status = 409


class TransientError(AdapterError):
    """Network trouble, 5xx, scheduler down: worth retrying with backoff."""

    reason = "transient"
    http_status = 503
    uws_error_type = "transient"


class FatalError(AdapterError):
    """Anything else: a garbage answer, a bug, a broken platform."""

    reason = "fatal"
    http_status = 500


# ------------------------------------------------------------------------ contract


@runtime_checkable
class Adapter(Protocol):
    """What the core requires of an adapter class and its instances."""

    plugin: ClassVar[str]
    api_version: ClassVar[int]
    config_model: ClassVar[type[AdapterConfig]]
    capabilities: ClassVar[Capabilities]
    state_map: ClassVar[Mapping[str, Phase]]
    poll_interval: ClassVar[timedelta]

    name: str

    async def __aenter__(self) -> Adapter: ...

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None: ...

    async def health(self) -> Health: ...

    async def offers(self, request: ExecutionRequest, ctx: CallContext) -> list[Offer]: ...

    async def submit(self, request: ExecutionRequest, offer: Offer, ctx: CallContext) -> Handle: ...

    async def status_many(
        self, handles: Sequence[Handle], ctx: CallContext
    ) -> Mapping[str, Status]: ...

    async def cancel(self, handle: Handle, ctx: CallContext) -> None: ...

    async def logs(self, handle: Handle, ctx: CallContext) -> str: ...

    async def results(self, handle: Handle, ctx: CallContext) -> list[ResultRef]: ...

    async def cleanup(self, handle: Handle, ctx: CallContext) -> None: ...

    async def list_native(self, ctx: CallContext) -> Mapping[str, str]: ...

    async def receive_callback(
        self, handle: Handle, secret: str, fields: Mapping[str, str], files: Mapping[str, bytes]
    ) -> None: ...

    async def renew(self, handle: Handle, ctx: CallContext) -> datetime | None: ...

    async def release(self, handle: Handle, ctx: CallContext) -> None: ...


class BaseAdapter(ABC):
    """A convenient base with safe defaults. Subclass it and fill the blanks.

    Subclasses set the class attributes and implement ``offers``, ``submit``,
    ``status`` (or ``status_many``), ``cancel`` and ``cleanup``. ``logs``,
    ``results`` and ``list_native`` raise :class:`Unsupported` unless
    overridden (and the matching capability claimed).
    """

    plugin: ClassVar[str]
    api_version: ClassVar[int] = API_VERSION
    config_model: ClassVar[type[AdapterConfig]] = AdapterConfig
    capabilities: ClassVar[Capabilities] = Capabilities()
    state_map: ClassVar[Mapping[str, Phase]] = {}
    poll_interval: ClassVar[timedelta] = timedelta(seconds=5)
    #: how many ``status`` calls ``status_many`` runs at once by default
    status_concurrency: ClassVar[int] = 8

    def __init__(self, name: str, config: AdapterConfig, deps: AdapterDeps) -> None:
        self.name = name
        self.config = config
        self.deps = deps

    def __repr__(self) -> str:
        return f"{type(self).__name__}(name={self.name!r}, config={self.config!r})"

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        return None

    def explain_refusal(self, request: ExecutionRequest) -> str | None:
        """Why ``offers(request)`` is empty, in words for the user (None: no reason known).

        The core puts it in the error of a job that no platform would take.
        """
        return None

    def map_state(self, native_state: str) -> Phase:
        """Native state -> phase through ``state_map``; unknown strings -> UNKNOWN."""
        return self.state_map.get(native_state, Phase.UNKNOWN)

    async def health(self) -> Health:
        return Health(ok=True)

    @abstractmethod
    async def offers(self, request: ExecutionRequest, ctx: CallContext) -> list[Offer]: ...

    @abstractmethod
    async def submit(self, request: ExecutionRequest, offer: Offer, ctx: CallContext) -> Handle: ...

    async def status(self, handle: Handle, ctx: CallContext) -> Status:
        raise Unsupported(f"{self.plugin} implements neither status nor status_many")

    async def status_many(
        self, handles: Sequence[Handle], ctx: CallContext
    ) -> Mapping[str, Status]:
        """Default: a bounded gather over ``status``; NotFound omits the handle."""
        gate = asyncio.Semaphore(self.status_concurrency)
        found: dict[str, Status] = {}

        async def one(handle: Handle) -> None:
            async with gate:
                with contextlib.suppress(NotFound):
                    found[handle.native_id] = await self.status(handle, ctx)

        await asyncio.gather(*(one(h) for h in handles))
        return found

    @abstractmethod
    async def cancel(self, handle: Handle, ctx: CallContext) -> None: ...

    async def logs(self, handle: Handle, ctx: CallContext) -> str:
        raise Unsupported(f"{self.plugin} does not provide logs")

    async def results(self, handle: Handle, ctx: CallContext) -> list[ResultRef]:
        raise Unsupported(f"{self.plugin} does not provide results")

    async def release(self, handle: Handle, ctx: CallContext) -> None:
        """The task has ended and its results are collected: free what still costs
        (a powered-off VM, a reserved node) but keep everything ``results()``
        returned. Called once by the core after the end is recorded; idempotent.
        ``cleanup`` later removes the rest. Default: nothing to free."""
        return None

    @abstractmethod
    async def cleanup(self, handle: Handle, ctx: CallContext) -> None: ...

    async def list_native(self, ctx: CallContext) -> Mapping[str, str]:
        """Native id -> broker job id of every task this instance can see."""
        raise Unsupported(f"{self.plugin} cannot list its native objects")

    async def renew(self, handle: Handle, ctx: CallContext) -> datetime | None:
        """The client extended a running task's execution duration: ask the platform
        to keep it alive longer (CANFAR ``action=renew``). Returns the platform's new
        expiry if it has one. Platforms without a lifetime of their own need not
        override it (the core enforces the execution duration itself)."""
        raise Unsupported(f"{self.plugin} has no platform-side lifetime to renew")

    async def receive_callback(
        self, handle: Handle, secret: str, fields: Mapping[str, str], files: Mapping[str, bytes]
    ) -> None:
        """A platform-side agent reports back (``capabilities.callbacks``).

        The core routes ``POST {broker}/callbacks/{adapter}/{job_id}`` (bearer
        ``secret``, multipart form) here, for a job that is not yet terminal,
        with the job's stored Handle; once the job is terminal the core answers
        410 itself. The adapter compares a hash of ``secret`` with the hash it
        put in the Handle's ``state`` at submit time (``hmac.compare_digest``;
        the Handle never holds the secret itself) and raises
        :class:`AuthError` if they differ; then it
        records what it needs (exit code, staged files) so that the next
        ``status_many``/``results`` reflect it, and calls ``deps.wake``.
        """
        raise Unsupported(f"{self.plugin} does not accept callbacks")


# ------------------------------------------------------------------------ helpers


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def _parse_iso(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value) if value else None


def deadline_after(seconds: float) -> datetime:
    """An instant ``seconds`` from now (for offer expiry)."""
    return utcnow() + timedelta(seconds=seconds)
