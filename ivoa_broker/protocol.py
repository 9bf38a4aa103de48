"""The adapter contract: the public, versioned plug-in API of ivoa-broker.

A platform adapter is a subclass of :class:`BaseAdapter` (generic in its
config model) registered under the entry point group ``ivoa_broker.adapters``.
:class:`BaseAdapter` is the single definition of the contract: the registry's
check and the core's typing are derived from it. The broker creates **one
instance per configured platform** (not per job), enters it as an async
context manager (which calls :meth:`BaseAdapter.open`; leaving it calls
:meth:`BaseAdapter.aclose`), and calls its async methods, every call through
one guard with a timeout. Everything an adapter sees or returns is defined in
this module; the other public API for plug-in authors is
:mod:`ivoa_broker.toolkit` (redaction, HTTP status mapping, retries) and the
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
* ``cancel()`` only asks; ``cleanup()`` is idempotent, "already gone" is
  success, and it returns once the platform has let go of the task.
* The core does **not** treat :class:`Conflict` as success anywhere: an
  adapter that means "already done" returns normally.
* Secrets are :class:`Secret` values: they never appear in reprs, logs or
  job documents.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from pathlib import Path
from types import TracebackType
from typing import Any, ClassVar, Generic, Literal, Protocol, Self, TypeAlias, TypeVar, final

from pydantic import BaseModel, ConfigDict, Field

__all__ = [
    "API_VERSION",
    "DEFAULT_CALL_TIMEOUT",
    "JSON",
    "OPTIONAL_METHODS",
    "REQUIRED_METHODS",
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
    "ConfigT",
    "Conflict",
    "EndReason",
    "ExecutionRequest",
    "FatalError",
    "Handle",
    "Health",
    "IdentityMap",
    "InvalidRequest",
    "NoCapacity",
    "NotFound",
    "Offer",
    "Phase",
    "Progress",
    "Resources",
    "ResultRef",
    "Secret",
    "StagedInput",
    "Status",
    "TransientError",
    "Unsupported",
    "Usage",
    "deadline_after",
    "run_command",
    "utcnow",
]

#: Major version of this contract. An adapter declares the version it was
#: written against; the registry refuses versions it does not support.
API_VERSION = 2
SUPPORTED_API_VERSIONS = frozenset({2})

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
class StagedInput:
    """One input the core downloaded for the adapter (see ``ivoa_broker.staging``).

    ``url`` is the ``inputs`` entry it came from, ``path`` the local file (valid
    only while ``submit`` runs: copy or hard-link what the job needs), and
    ``size_bytes`` its size. Only adapters whose capabilities say
    ``staged_inputs`` get them.
    """

    url: str
    path: str
    size_bytes: int

    def to_json(self) -> dict[str, JSON]:
        return {"url": self.url, "path": self.path, "size_bytes": self.size_bytes}

    @classmethod
    def from_json(cls, data: Mapping[str, JSON]) -> StagedInput:
        return cls(url=data["url"], path=data["path"], size_bytes=int(data["size_bytes"]))


@dataclass(frozen=True)
class Resources:
    """Compute resources. ``None`` means "not asked for / platform default"."""

    cores: float | None = None
    memory_bytes: int | None = None
    gpus: int = 0
    walltime_seconds: int | None = None
    disk_bytes: int | None = None
    #: nodes of a multi-node job (Slurm ``--nodes``); None = one / platform default
    nodes: int | None = None
    #: MPI-style tasks (Slurm ``--ntasks``); None = platform default
    tasks: int | None = None

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

    ``deadline`` is the absolute UTC instant by which the task must end: the
    submission (or, for a running task, its start) plus the UWS
    executionDuration; when that is 0 (unlimited) the core uses the broker's
    maximum run time. Adapters map it to the platform's limit (``--time``,
    ``activeDeadlineSeconds``, ...). ``resources.walltime_seconds`` is kept
    equal to the seconds left until the deadline when the core sets one.

    ``account`` is the owner's account on *this* platform instance, from the
    instance's :class:`IdentityMap` (``AdapterConfig.identity``); ``None``
    means "run as the adapter's own service identity". The core sets it per
    instance before calling ``offers``/``submit``.
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
    deadline: datetime | None = None
    account: str | None = None
    #: the ``http(s)`` inputs the core downloaded, for adapters that ask for it
    #: (``Capabilities.staged_inputs``); always empty for the others
    staged_inputs: tuple[StagedInput, ...] = ()

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
        data["deadline"] = _iso(self.deadline)
        data["staged_inputs"] = [staged.to_json() for staged in self.staged_inputs]
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
            deadline=_parse_iso(data.get("deadline")),
            account=data.get("account"),
            staged_inputs=tuple(
                StagedInput.from_json(item) for item in data.get("staged_inputs", ())
            ),
        )

    def seconds_left(self, now: datetime | None = None) -> int | None:
        """Whole seconds from ``now`` to ``deadline`` (at least 1), None without one."""
        if self.deadline is None:
            return None
        left = (self.deadline - (now or utcnow())).total_seconds()
        return max(int(left), 1)


@dataclass(frozen=True)
class Offer:
    """What one platform instance proposes for a request.

    ``adapter`` is the adapter *instance* name (``self.name``), not the plug-in name.
    ``resources`` is what would really be granted (it may be rounded up from
    what was asked). ``terms`` is opaque to the core and is handed back to
    ``submit()`` so the adapter can re-check it. ``start`` is the estimated
    start; adapters that cannot reserve say so with ``reserved=False``.
    ``queue`` names the partition/queue/namespace the offer is for: a platform
    with several makes one offer per queue the request may use.
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
    queue: str | None = None

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
            "queue": self.queue,
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
            queue=data.get("queue"),
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


class EndReason(StrEnum):
    """Why a task ended (``Status.reason``): jobInfo ``end_reason`` and the UWS error."""

    EXIT_NONZERO = "exit_nonzero"
    TIMEOUT = "timeout"
    OUT_OF_MEMORY = "out_of_memory"
    NODE_FAILURE = "node_failure"
    BOOT_FAILURE = "boot_failure"
    PREEMPTED = "preempted"
    CANCELLED_BY_PLATFORM = "cancelled_by_platform"
    IMAGE_UNAVAILABLE = "image_unavailable"
    UNSCHEDULABLE = "unschedulable"
    DEADLINE = "deadline"
    BUILD_FAILED = "build_failed"
    LOST = "lost"

    def __str__(self) -> str:
        return self.value


@dataclass(frozen=True)
class Usage:
    """What a task used, where the platform says (``Status.usage``); all optional."""

    cpu_seconds: float | None = None
    elapsed_seconds: float | None = None
    max_rss_bytes: int | None = None


@dataclass(frozen=True)
class Progress:
    """What a slowly starting task is doing (``Status.progress``)."""

    message: str
    #: 0..1 where known
    fraction: float | None = None


@dataclass(frozen=True)
class Status:
    """What the platform says about a task, already mapped to a UWS phase.

    ``exit_code`` of a task killed by signal N is 128 + N (the shell
    convention) and ``signal`` is N when the platform says so. ``message``
    while waiting is the platform's reason ("Resources"), shown in jobInfo;
    ``reason`` says why a task ended (a small vocabulary, :class:`EndReason`),
    ``usage`` what it used, ``progress`` what a starting task is doing. The
    core records all of them in jobInfo (``end_reason``, ``usage_*``,
    ``signal``, ``progress``) and the reason also in the UWS error message.
    """

    phase: Phase
    native_state: str
    observed_at: datetime = field(default_factory=utcnow)
    message: str | None = None
    exit_code: int | None = None
    signal: int | None = None
    reason: EndReason | None = None
    usage: Usage | None = None
    started_at: datetime | None = None
    ended_at: datetime | None = None
    endpoint: str | None = None
    progress: Progress | None = None


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
    """Facts the core uses to filter adapters and gate features.

    A class sets its defaults as the class attribute ``capabilities``; an
    instance may replace ``self.capabilities`` in :meth:`BaseAdapter.open`
    with what it found on the platform (GPUs, maximum run time, queues). The
    core reads the **instance** attribute. ``None`` limits mean "no limit known".
    """

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
    #: partitions / queues / namespaces known at ``open()``
    queues: tuple[str, ...] = ()
    max_cores: float | None = None
    max_memory_bytes: int | None = None
    max_gpus: int | None = None
    #: the core downloads the job's ``http(s)`` inputs before ``submit`` and
    #: hands them over as local files (``ExecutionRequest.staged_inputs``)
    staged_inputs: bool = False


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
    """Runs a command (CLI platforms). Tests pass a scripted fake.

    ``env`` is added to (and overrides in) the broker's own environment;
    ``cwd`` is the working directory (default: the broker's). A command that
    does not end within ``timeout`` seconds is killed and
    :class:`TransientError` raised; a non-zero exit is a result, not an error.
    """

    async def __call__(
        self,
        argv: Sequence[str],
        *,
        input: str | None = None,
        timeout: float | None = None,
        env: Mapping[str, str] | None = None,
        cwd: str | None = None,
    ) -> CommandResult: ...


async def run_command(
    argv: Sequence[str],
    *,
    input: str | None = None,
    timeout: float | None = None,
    env: Mapping[str, str] | None = None,
    cwd: str | None = None,
) -> CommandResult:
    """The default :class:`CommandRunner`: an asyncio subprocess."""
    proc = await asyncio.create_subprocess_exec(
        *argv,
        stdin=asyncio.subprocess.PIPE if input is not None else asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env={**os.environ, **env} if env is not None else None,
        cwd=cwd,
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


class IdentityMap(BaseModel):
    """Owner (the broker's authenticated user) -> account on one platform instance.

    ``accounts`` names accounts one by one; ``template`` (``"srcnet-{owner}"``)
    is used for owners not in ``accounts``. With neither, :meth:`resolve`
    returns None: tasks run as the adapter's own service identity.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    accounts: dict[str, str] = Field(default_factory=dict)
    template: str | None = None

    def resolve(self, owner: str | None) -> str | None:
        """The platform account of ``owner`` (None: the service identity)."""
        if owner is None:
            return None
        if owner in self.accounts:
            return self.accounts[owner]
        if self.template is not None:
            return self.template.format(owner=owner)
        return None


class AdapterConfig(BaseModel):
    """Base of every adapter's ``config_model``. Unknown keys are refused.

    ``identity`` (every adapter inherits it) maps owners to accounts on the
    platform; the core puts the result in ``ExecutionRequest.account``.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    identity: IdentityMap = Field(default_factory=IdentityMap)


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
    """Network trouble, 5xx, scheduler down: worth retrying with backoff.

    ``retry_after`` is the platform's own advice (HTTP ``Retry-After``) in
    seconds; :func:`ivoa_broker.toolkit.retrying` honours it.
    """

    reason = "transient"
    http_status = 503
    uws_error_type = "transient"

    def __init__(
        self, message: str, *, detail: str | None = None, retry_after: float | None = None
    ) -> None:
        super().__init__(message, detail=detail)
        self.retry_after = retry_after


class FatalError(AdapterError):
    """Anything else: a garbage answer, a bug, a broken platform."""

    reason = "fatal"
    http_status = 500


# ------------------------------------------------------------------------ contract


ConfigT = TypeVar("ConfigT", bound=AdapterConfig)

#: How long the core waits for one adapter call unless a method's docstring
#: says otherwise (the guard's default timeout, in seconds).
DEFAULT_CALL_TIMEOUT = 60.0


class BaseAdapter(ABC, Generic[ConfigT]):
    """The adapter contract, and a base with safe defaults. Subclass it::

        class SlurmConfig(AdapterConfig): ...

        class SlurmAdapter(BaseAdapter[SlurmConfig]):
            plugin = "slurm"
            config_model = SlurmConfig

    **Must implement** (abstract): :meth:`offers`, :meth:`submit`,
    :meth:`cancel`, :meth:`cleanup`, and one of :meth:`status` /
    :meth:`status_many`. **May implement** (documented defaults):
    :meth:`open`, :meth:`aclose`, :meth:`health`, :meth:`explain_refusal`,
    :meth:`logs`, :meth:`results`, :meth:`release`, :meth:`list_native`,
    :meth:`renew`, :meth:`receive_callback`. ``logs``, ``results``,
    ``list_native``, ``renew`` and ``receive_callback`` raise
    :class:`Unsupported` unless overridden (and the matching capability claimed).

    Every call is made by the core through one guard with a timeout (60 s
    unless said otherwise below; ``offers`` gets the broker's
    ``jobs.offer_deadline``): an exception that is not an
    :class:`AdapterError`, a hang past the timeout, or a return value of the
    wrong type is turned into an error the core records; it never crashes
    the broker or leaves a job stuck. Methods raise only
    :class:`AdapterError` subclasses for the adapter's own trouble.

    ``__aenter__``/``__aexit__`` are implemented here once (they call
    :meth:`open` and :meth:`aclose`); do not override them.
    """

    plugin: ClassVar[str]
    api_version: ClassVar[int] = API_VERSION
    #: the pydantic model of this plug-in's ``config:`` block (same class as ConfigT)
    config_model: ClassVar[type[AdapterConfig]] = AdapterConfig
    state_map: ClassVar[Mapping[str, Phase]] = {}
    poll_interval: ClassVar[timedelta] = timedelta(seconds=5)
    #: how many ``status`` calls ``status_many`` runs at once by default
    status_concurrency: ClassVar[int] = 8
    #: class-level defaults; the INSTANCE attribute ``self.capabilities`` is
    #: what the core reads (``open()`` may replace it)
    capabilities: Capabilities = Capabilities()

    def __init__(self, name: str, config: ConfigT, deps: AdapterDeps) -> None:
        """Cheap and synchronous: store the arguments, build nothing that blocks.

        ``name`` is the instance name from the broker's configuration (the
        ``adapter`` of Offers and Handles); ``config`` is already validated.
        """
        self.name = name
        self.config: ConfigT = config
        self.deps = deps
        self.capabilities = type(self).capabilities

    def __repr__(self) -> str:
        return f"{type(self).__name__}(name={self.name!r}, config={self.config!r})"

    @final
    async def __aenter__(self) -> Self:
        await self.open()
        return self

    @final
    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    # ------------------------------------------------------------ lifecycle

    async def open(self) -> None:
        """Called once when the broker starts the instance (by ``__aenter__``).

        Connect, discover the platform, and replace ``self.capabilities`` with
        what this instance really offers (GPUs, maximum run time, queues).
        May raise any :class:`AdapterError`: the instance is then reported
        as failed to start and not used. May block up to the guard's timeout.
        Default: nothing to open.
        """
        return None

    async def aclose(self) -> None:
        """Called once when the broker stops (by ``__aexit__``), also after a
        failed ``open``: release clients, connections, threads. Must not raise
        for "already closed". May block up to the guard's timeout. Default: nothing.
        """
        return None

    # --------------------------------------------------------------- checks

    def explain_refusal(self, request: ExecutionRequest) -> str | None:
        """Why ``offers(request)`` is empty, in words for the user (None: no reason known).

        Synchronous, cheap and side-effect free (no platform calls). The core
        puts the text in the error of a job no platform would take; if this
        raises, the core records a generic reason instead.
        """
        return None

    def map_state(self, native_state: str) -> Phase:
        """Native state -> phase through ``state_map``; unknown strings -> UNKNOWN."""
        return self.state_map.get(native_state, Phase.UNKNOWN)

    async def health(self) -> Health:
        """Is the platform reachable and usable (VOSI availability)?

        Must not raise: report trouble as ``Health(ok=False, message=...)``.
        The core waits at most 3 s. Default: ``Health(ok=True)``.
        """
        return Health(ok=True)

    # ------------------------------------------------------------ must have

    @abstractmethod
    async def offers(self, request: ExecutionRequest, ctx: CallContext) -> list[Offer]:
        """What this instance could do for ``request``: ``[]`` if it cannot serve it.

        Cheap and side-effect free (nothing reserved, nothing created); each
        Offer's ``adapter`` is ``self.name``. A platform with queues makes one
        offer per queue the request may use (``Offer.queue``). May raise
        :class:`TransientError`/:class:`AuthError` when the platform cannot be
        asked; the core then reports this instance as refusing. Blocks at most
        the broker's ``jobs.offer_deadline``.
        """

    @abstractmethod
    async def submit(self, request: ExecutionRequest, offer: Offer, ctx: CallContext) -> Handle:
        """Start the task described by ``request`` on the terms of ``offer``.

        Returns a :class:`Handle` (JSON, stored by the core) or raises,
        leaving nothing behind. Idempotent per ``request.job_id``: submitting
        the same job twice returns a Handle of the same task, and native
        objects carry the job id so :meth:`list_native` finds them.
        Map ``request.deadline`` to the platform's run-time limit.
        Raises :class:`InvalidRequest` (refused before any side effect),
        :class:`NoCapacity` (the job goes HELD), :class:`TransientError`
        (the core looks for the task with ``list_native`` if
        ``capabilities.adopt``, then retries with backoff), :class:`AuthError`,
        :class:`FatalError`. Blocks up to the guard's timeout; the task need
        not have started when it returns.
        """

    async def status(self, handle: Handle, ctx: CallContext) -> Status:
        """The current :class:`Status` of one task (implement this or ``status_many``).

        Works on a fresh instance given only the Handle. A task that failed on
        the platform is ``Status(phase=ERROR, exit_code=..., reason=...)``,
        never an exception. Raises :class:`NotFound` when the platform no
        longer knows the task, :class:`TransientError` when it cannot be asked.
        """
        raise Unsupported(f"{self.plugin} implements neither status nor status_many")

    async def status_many(
        self, handles: Sequence[Handle], ctx: CallContext
    ) -> Mapping[str, Status]:
        """Statuses of many tasks in one go, keyed by ``native_id``.

        A handle the platform no longer knows is left out (the core counts it
        lost after ``jobs.unknown_threshold`` polls). Raises
        :class:`TransientError` when the platform cannot be asked at all (the
        core backs off). Default: a bounded gather over :meth:`status`;
        :class:`NotFound` omits the handle. Blocks up to the guard's timeout.
        """
        gate = asyncio.Semaphore(self.status_concurrency)
        found: dict[str, Status] = {}

        async def one(handle: Handle) -> None:
            async with gate:
                with contextlib.suppress(NotFound):
                    found[handle.native_id] = await self.status(handle, ctx)

        await asyncio.gather(*(one(h) for h in handles))
        return found

    @abstractmethod
    async def cancel(self, handle: Handle, ctx: CallContext) -> None:
        """Ask the platform to stop the task; return without waiting for the end.

        ``handle.cancel_requested`` is set, so later statuses report ABORTED.
        A task that has already finished or is gone is success (return
        normally; do not raise :class:`NotFound` or :class:`Conflict`).
        Raises :class:`TransientError`/:class:`AuthError` when the platform
        cannot be asked. Blocks up to the guard's timeout.
        """

    @abstractmethod
    async def cleanup(self, handle: Handle, ctx: CallContext) -> None:
        """Remove everything of the task: native objects, staged results, work areas.

        Idempotent; "already gone" is success. Called when the job is
        destroyed, and for orphans found by ``list_native`` (then with a
        Handle of only ``adapter`` and ``native_id``). Blocks until the
        platform has let go (deleted, not "deleting"), up to the guard's
        timeout; :class:`TransientError` makes the core retry with backoff.
        """

    # ------------------------------------------------------------- optional

    async def logs(self, handle: Handle, ctx: CallContext) -> str:
        """The task's output so far (``capabilities.logs``), bounded in size.

        Raises :class:`NotFound` when gone. Default: :class:`Unsupported`.
        """
        raise Unsupported(f"{self.plugin} does not provide logs")

    async def results(self, handle: Handle, ctx: CallContext) -> list[ResultRef]:
        """The results of an ended task (``capabilities.results``).

        Called once by the core when the end is seen, before it is recorded.
        A remote adapter stages files into ``deps.data_dir`` first. Default:
        :class:`Unsupported`. Blocks up to the guard's timeout.
        """
        raise Unsupported(f"{self.plugin} does not provide results")

    async def release(self, handle: Handle, ctx: CallContext) -> None:
        """The task has ended and its results are collected: free what still costs
        (a powered-off VM, a reserved node) but keep everything ``results()``
        returned. Called once by the core after the end is recorded; idempotent;
        "already gone" is success. ``cleanup`` later removes the rest.
        Default: nothing to free."""
        return None

    async def list_native(self, ctx: CallContext) -> Mapping[str, str]:
        """Native id -> broker job id of every task this instance can see
        (``capabilities.adopt``). Used after a restart to sweep orphans and
        after a failed submit to find a task queued despite the error.
        Default: :class:`Unsupported`."""
        raise Unsupported(f"{self.plugin} cannot list its native objects")

    async def renew(self, handle: Handle, deadline: datetime, ctx: CallContext) -> datetime | None:
        """The client extended a running task's execution duration: ask the
        platform to let it run until ``deadline`` (CANFAR ``action=renew``,
        ``scontrol update TimeLimit=``). Returns the platform's new expiry if
        it has one. Platforms without a lifetime of their own need not
        override it (the core enforces the execution duration itself).
        Default: :class:`Unsupported`."""
        raise Unsupported(f"{self.plugin} has no platform-side lifetime to renew")

    async def accept_offer(
        self, offer: Offer, request: ExecutionRequest, ctx: CallContext
    ) -> Offer:
        """The client accepts ``offer``: make it binding on the platform *before*
        the broker commits the accept (a remote broker's own accept). Called by
        the core with the offer's request (``job_id`` = the session id) while the
        offer is still OFFERED; the offer it returns (its ``terms`` may name what
        was accepted) is the one ``submit`` gets. Raising makes the local accept
        fail with the message (:class:`Conflict`: the platform refused, 409;
        :class:`NotFound`: its offer is gone or expired, 410; others as usual);
        nothing is committed and no sibling is rejected. Blocks up to the guard's
        timeout. Default: the offer unchanged (nothing to confirm).
        """
        return offer

    async def reject_offer(self, offer: Offer, ctx: CallContext) -> None:
        """An offer of this instance will not be used: the client rejected it,
        accepted a sibling, or the core undoes an ``accept_offer`` whose local
        commit failed. Best effort (the core logs errors and goes on); idempotent.
        Default: nothing to do."""
        return None

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
        Blocks up to the guard's timeout. Default: :class:`Unsupported`.
        """
        raise Unsupported(f"{self.plugin} does not accept callbacks")


#: Any adapter instance, as the core sees it (derived from :class:`BaseAdapter`).
Adapter: TypeAlias = BaseAdapter[Any]

#: The methods a plug-in must implement (``status`` or ``status_many`` counts as one).
REQUIRED_METHODS: tuple[str, ...] = ("offers", "submit", "cancel", "cleanup")
#: The methods a plug-in may implement (defaults in :class:`BaseAdapter`).
OPTIONAL_METHODS: tuple[str, ...] = (
    "open",
    "aclose",
    "health",
    "explain_refusal",
    "status",
    "status_many",
    "logs",
    "results",
    "release",
    "list_native",
    "renew",
    "receive_callback",
    "accept_offer",
    "reject_offer",
)


# ------------------------------------------------------------------------ helpers


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def _parse_iso(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value) if value else None


def deadline_after(seconds: float) -> datetime:
    """An instant ``seconds`` from now (for offer expiry)."""
    return utcnow() + timedelta(seconds=seconds)
