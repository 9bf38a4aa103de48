"""Typed ExecutionBroker documents (pydantic v2), bounded on every input.

Field names and shapes follow the newest schema (``uksrc/Calycopis-openapi``
``schema/v1.0``). Every polymorphic object
is discriminated by ``kind``; historical kind URIs, ``type`` for ``kind`` and the
legacy request layouts are normalised before validation (:mod:`.kinds`).

ivoa-broker extensions (documented in the OpenAPI document with
``x-ivoa-broker-extension``):

* ``SimpleComputeResource.gpus {min, max}``: number of GPUs; the schema has no
  accelerator field (§1.2, §8 item 10).
* ``ExecutionSession.requested``: the request as the client sent it (canonical
  form), so that requested and offered values are reported distinctly (§8
  item 14); the session's own components carry the offered values.

Unknown fields are refused (``extra="forbid"``), so a typo is reported with its
path instead of being ignored. Text may not hold control characters other than
tab and newline, C0 or C1 (they do not survive XML and YAML intact).
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Annotated, Any, Literal, Self
from uuid import UUID

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StringConstraints,
    TypeAdapter,
    model_validator,
)

from ivoa_broker.eb import iso8601
from ivoa_broker.eb.errors import PathValueError
from ivoa_broker.eb.kinds import Kind, OptionKind, UpdateKind, normalise_kind_field, unwrap_update

__all__ = [
    "MAX_CORES",
    "MAX_DATA",
    "MAX_DURATION",
    "MAX_FLOAT",
    "MAX_GPUS",
    "MAX_MEMORY_GIB",
    "MAX_MESSAGES",
    "MAX_NAME",
    "MAX_OFFERS",
    "MAX_STORAGE_GIB",
    "MAX_TEXT",
    "AnyUpdate",
    "ComponentPhase",
    "ConnectorProtocol",
    "ConnectorStatus",
    "CoresRange",
    "DataResource",
    "DockerContainer",
    "DockerImage",
    "DockerNetwork",
    "DockerNetworkPort",
    "DockerPlatform",
    "EnumValueOption",
    "EnumValueUpdate",
    "Executable",
    "ExecutionRequestDocument",
    "ExecutionSession",
    "ExternalEndpoint",
    "GpuRange",
    "InstantDuration",
    "IntegerDeltaOption",
    "IntegerDeltaUpdate",
    "IntegerValueOption",
    "IntegerValueUpdate",
    "InternalEndpoint",
    "IntervalDuration",
    "JupyterNotebook",
    "LifecycleSchedule",
    "MemoryRange",
    "MessageItem",
    "MessageLevel",
    "Meta",
    "OfferResult",
    "OfferSetList",
    "OfferSetResponse",
    "Option",
    "PortProtocol",
    "RequestedSchedule",
    "RequestedScheduleBlock",
    "S3DataResource",
    "SessionConnector",
    "SessionList",
    "SessionPhase",
    "SimpleComputeResource",
    "SimpleDataResource",
    "SimpleMinMaxFloatCost",
    "SimpleMinMaxFloatMetric",
    "SimpleStorageResource",
    "SimpleVolumeMount",
    "SingularityContainer",
    "SizeRange",
    "StringValueOption",
    "StringValueUpdate",
    "Update",
    "VolumeMode",
    "option_adapter",
    "update_adapter",
]

# ------------------------------------------------------------------------ bounds
# The shared limits (cores, memory, GPUs, run time, environment size) equal those of
# the UWS parameter path (ivoa_broker.task_params), so both paths accept the same tasks.

MAX_NAME = 256
MAX_TEXT = 4096
MAX_URL = 2048
MAX_ARGS = 256
MAX_ENV = 128
MAX_CORES = 1024
MAX_MEMORY_GIB = 65536
MAX_GPUS = 64
MAX_STORAGE_GIB = 1_048_576
MAX_DURATION = timedelta(days=366)
MAX_INT = 2**53
MAX_FLOAT = 1e15
MAX_MESSAGES = 64
MAX_OPTIONS = 16
MAX_STORAGE = 16
MAX_DATA = 64
MAX_OFFERS = 32
MAX_LIST = 1000

_BAD_CHARS = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\ud800-\udfff\ufffe\uffff]")
_SCHEME = re.compile(r"^[A-Za-z][A-Za-z0-9+.\-]*:\S+$")
_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_DIGEST = re.compile(r"^[a-z0-9]+(?:[+._-][a-z0-9]+)*:[a-fA-F0-9]{32,256}$")
_IMAGE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._\-/:@]*$")


def _text(value: str) -> str:
    bad = _BAD_CHARS.search(value)
    if bad is not None:
        raise ValueError(f"control character U+{ord(bad.group()):04X} not allowed")
    return value


def _one_line(value: str) -> str:
    _text(value)
    if "\n" in value or "\t" in value:
        raise ValueError("must be a single line")
    return value


def _url(value: str) -> str:
    if not _SCHEME.match(value):
        raise ValueError("must be an absolute URI with a scheme and no white space")
    if value.split(":", 1)[0].lower() == "file":
        raise ValueError("file: URLs are not accepted")
    return value


def _image(value: str) -> str:
    if not _IMAGE.match(value):
        raise ValueError("not an OCI image reference")
    return value


def _digest(value: str) -> str:
    if not _DIGEST.match(value):
        raise ValueError("not an OCI digest (algorithm:hex)")
    return value


def _env_name(value: str) -> str:
    if not _ENV_NAME.match(value):
        raise ValueError(f"not an environment variable name: {value[:64]!r}")
    return value


def _duration(value: str) -> str:
    parsed = iso8601.parse_duration(value)
    if parsed > MAX_DURATION:
        raise ValueError(f"duration longer than {MAX_DURATION.days} days")
    return iso8601.format_duration(parsed)


def _interval(value: str) -> str:
    interval = iso8601.parse_interval(value)
    if interval.duration > MAX_DURATION:
        raise ValueError(f"interval longer than {MAX_DURATION.days} days")
    return str(interval)


def _instant(value: datetime) -> datetime:
    if value.tzinfo is None:
        raise ValueError("date-time needs a time zone (Z or an offset)")
    return value.astimezone(UTC)


def _finite(value: float) -> float:
    if not math.isfinite(value) or abs(value) > MAX_FLOAT:
        raise ValueError("must be a finite number of modest size")
    return value


Name = Annotated[
    str, StringConstraints(min_length=1, max_length=MAX_NAME), AfterValidator(_one_line)
]
Text = Annotated[str, StringConstraints(max_length=MAX_TEXT), AfterValidator(_text)]
Arg = Annotated[str, StringConstraints(max_length=MAX_TEXT), AfterValidator(_text)]
Url = Annotated[str, StringConstraints(min_length=3, max_length=MAX_URL), AfterValidator(_url)]
ImageRef = Annotated[
    str, StringConstraints(min_length=1, max_length=MAX_NAME), AfterValidator(_image)
]
Digest = Annotated[str, StringConstraints(max_length=300), AfterValidator(_digest)]
EnvName = Annotated[
    str, StringConstraints(min_length=1, max_length=MAX_NAME), AfterValidator(_env_name)
]
Duration = Annotated[str, StringConstraints(max_length=64), AfterValidator(_duration)]
IntervalText = Annotated[str, StringConstraints(max_length=128), AfterValidator(_interval)]
Instant = Annotated[datetime, AfterValidator(_instant)]
Count = Annotated[int, Field(ge=-MAX_INT, le=MAX_INT)]
Float = Annotated[float, AfterValidator(_finite)]
AbsPath = Annotated[
    str,
    StringConstraints(min_length=1, max_length=1024, pattern=r"^/"),
    AfterValidator(_one_line),
]


class _Doc(BaseModel):
    """Base of every document model: frozen, strict about unknown fields."""

    model_config = ConfigDict(
        extra="forbid",
        frozen=True,
        serialize_by_alias=True,
        validate_by_name=True,
        validate_by_alias=True,
    )


# ------------------------------------------------------------------------ enums


class SessionPhase(StrEnum):
    """``SimpleExecutionSessionPhase`` (newest names)."""

    INITIAL = "INITIAL"
    OFFERED = "OFFERED"
    ACCEPTED = "ACCEPTED"
    REJECTED = "REJECTED"
    EXPIRED = "EXPIRED"
    WAITING = "WAITING"
    PREPARING = "PREPARING"
    AVAILABLE = "AVAILABLE"
    RUNNING = "RUNNING"
    RELEASING = "RELEASING"
    COMPLETED = "COMPLETED"
    FAILED = "FAILED"
    CANCELLED = "CANCELLED"


class ComponentPhase(StrEnum):
    """``LifecyclePhase`` of executables and resources."""

    INITIALIZING = "INITIALIZING"
    WAITING = "WAITING"
    PREPARING = "PREPARING"
    AVAILABLE = "AVAILABLE"
    RUNNING = "RUNNING"
    RELEASING = "RELEASING"
    COMPLETED = "COMPLETED"
    FAILED = "FAILED"
    CANCELLED = "CANCELLED"


_OLD_PHASES = {"PROPOSED": "INITIAL", "READY": "AVAILABLE"}


def _old_phase(value: Any) -> Any:
    return _OLD_PHASES.get(value, value) if isinstance(value, str) else value


def _old_component_phase(value: Any) -> Any:
    return "AVAILABLE" if value == "READY" else value


class MessageLevel(StrEnum):
    DEBUG = "DEBUG"
    INFO = "INFO"
    WARN = "WARN"
    ERROR = "ERROR"
    OTHER = "OTHER"


class VolumeMode(StrEnum):
    READONLY = "READONLY"
    READWRITE = "READWRITE"


class PortProtocol(StrEnum):
    UDP = "UDP"
    TCP = "TCP"
    HTTP = "HTTP"
    HTTPS = "HTTPS"


class ConnectorStatus(StrEnum):
    PREPARING = "PREPARING"
    AVAILABLE = "AVAILABLE"
    FINISHED = "FINISHED"


class ConnectorProtocol(StrEnum):
    TCP = "TCP"
    HTTP = "HTTP"
    HTTPS = "HTTPS"


class OfferResult(StrEnum):
    YES = "YES"
    NO = "NO"


def _yes_no(value: Any) -> Any:
    # YAML 1.1 reads an unquoted YES/NO as a boolean
    if value is True:
        return "YES"
    if value is False:
        return "NO"
    return value


# ------------------------------------------------------------ messages, options


class MessageItem(_Doc):
    """A message about a component (messagetemplates.org style)."""

    kind: Url | None = None
    time: Instant | None = None
    level: MessageLevel = MessageLevel.INFO
    template: Text | None = None
    values: Annotated[dict[Name, Text], Field(max_length=32)] = {}
    message: Text | None = None


class _OptionBase(_Doc):
    kind: str
    path: Name


class EnumValueOption(_OptionBase):
    """The client may set ``path`` to one of ``values`` (e.g. phase ACCEPTED/REJECTED)."""

    kind: Literal[OptionKind.ENUM_VALUE]
    values: Annotated[list[Name], Field(min_length=1, max_length=32)]


class StringValueOption(_OptionBase):
    kind: Literal[OptionKind.STRING_VALUE]
    pattern: Text | None = None


class IntegerValueOption(_OptionBase):
    kind: Literal[OptionKind.INTEGER_VALUE]
    min: Count | None = None
    max: Count | None = None
    units: Name | None = None


class IntegerDeltaOption(_OptionBase):
    """The client may change ``path`` by a delta in ``[min, max]`` ``units``."""

    kind: Literal[OptionKind.INTEGER_DELTA]
    min: Count | None = None
    max: Count | None = None
    units: Name | None = None


Option = Annotated[
    EnumValueOption | StringValueOption | IntegerValueOption | IntegerDeltaOption,
    Field(discriminator="kind"),
    BeforeValidator(normalise_kind_field),
]


class Meta(_Doc):
    """``ComponentMetadata``: ``uuid``/``url``/``created`` are assigned by the server."""

    uuid: UUID | None = None
    name: Name | None = None
    url: Url | None = None
    description: Text | None = None
    created: Instant | None = None
    modified: Instant | None = None
    messages: Annotated[list[MessageItem], Field(max_length=MAX_MESSAGES)] = []
    options: Annotated[list[Option], Field(max_length=MAX_OPTIONS)] = []


# -------------------------------------------------------------------- schedules


class RequestedSchedule(_Doc):
    """When the client wants to start (an interval) and for how long."""

    start: IntervalText | None = None
    duration: Duration | None = None


class RequestedScheduleBlock(_Doc):
    requested: RequestedSchedule | None = None


class InstantDuration(_Doc):
    start: Instant | None = None
    duration: Duration | None = None


class IntervalDuration(_Doc):
    start: IntervalText | None = None
    duration: Duration | None = None


class LifecycleSchedule(_Doc):
    """Offered schedule: preparing, available (the run window), releasing."""

    preparing: InstantDuration | None = None
    available: IntervalDuration | None = None
    releasing: InstantDuration | None = None


# ---------------------------------------------------------------------- min/max


class _MinMax(_Doc):
    @model_validator(mode="after")
    def _ordered(self) -> Self:
        low: int | None = getattr(self, "min", None)
        high: int | None = getattr(self, "max", None)
        if low is not None and high is not None and low > high:
            raise ValueError("min is greater than max")
        return self


class CoresRange(_MinMax):
    min: Annotated[int, Field(ge=1, le=MAX_CORES)] | None = None
    max: Annotated[int, Field(ge=1, le=MAX_CORES)] | None = None


class MemoryRange(_MinMax):
    """Memory in GiB (the v1.0 schema's unit)."""

    min: Annotated[int, Field(ge=1, le=MAX_MEMORY_GIB)] | None = None
    max: Annotated[int, Field(ge=1, le=MAX_MEMORY_GIB)] | None = None


class GpuRange(_MinMax):
    """Number of GPUs (ivoa-broker extension)."""

    min: Annotated[int, Field(ge=0, le=MAX_GPUS)] | None = None
    max: Annotated[int, Field(ge=0, le=MAX_GPUS)] | None = None


class SizeRange(_MinMax):
    """Storage size in GiB."""

    min: Annotated[int, Field(ge=1, le=MAX_STORAGE_GIB)] | None = None
    max: Annotated[int, Field(ge=1, le=MAX_STORAGE_GIB)] | None = None


# -------------------------------------------------------------------- components


class _Component(_Doc):
    """``AbstractComponent`` + ``LifecycleComponent``."""

    kind: str
    meta: Meta | None = None
    phase: Annotated[ComponentPhase | None, BeforeValidator(_old_component_phase)] = None
    schedule: LifecycleSchedule | None = None


class DockerPlatform(_Doc):
    architecture: Name = "amd64"
    os: Name = "linux"


class DockerImage(_Doc):
    """``locations`` are ``<registry>/<namespace>/<image>:<tag>`` references, best first."""

    locations: Annotated[list[ImageRef], Field(min_length=1, max_length=8)]
    digest: Digest | None = None
    platform: DockerPlatform | None = None


class InternalEndpoint(_Doc):
    port: Annotated[int, Field(ge=1, le=65535)] | None = None


class ExternalEndpoint(_Doc):
    port: Annotated[int, Field(ge=1, le=65535)] | None = None
    addresses: Annotated[list[Name], Field(max_length=16)] = []


class DockerNetworkPort(_Doc):
    access: bool = False
    internal: InternalEndpoint | None = None
    external: ExternalEndpoint | None = None
    protocol: PortProtocol = PortProtocol.TCP
    path: Name | None = None


class DockerNetwork(_Doc):
    ports: Annotated[list[DockerNetworkPort], Field(max_length=32)] = []


class DockerContainer(_Component):
    """An OCI container. ``command`` are the arguments to ``entrypoint``."""

    kind: Literal[Kind.DOCKER_CONTAINER]
    image: DockerImage
    privileged: bool = False
    entrypoint: Arg | None = None
    command: Annotated[list[Arg], Field(max_length=MAX_ARGS)] = []
    environment: Annotated[dict[EnvName, Text], Field(max_length=MAX_ENV)] = {}
    network: DockerNetwork | None = None


class JupyterNotebook(_Component):
    """An interactive notebook; ``location`` is the notebook's URL."""

    kind: Literal[Kind.JUPYTER_NOTEBOOK]
    location: Url


class SingularityContainer(_Component):
    """A Singularity/Apptainer image; ``location`` is ``docker://…``, ``library://…`` or a URL."""

    kind: Literal[Kind.SINGULARITY_CONTAINER]
    location: Url


Executable = Annotated[
    DockerContainer | JupyterNotebook | SingularityContainer,
    Field(discriminator="kind"),
    BeforeValidator(normalise_kind_field),
]


class SimpleVolumeMount(_Doc):
    """Mount a storage or data resource (named by ``meta.name`` or ``meta.uuid``) at ``path``."""

    kind: Literal[Kind.SIMPLE_VOLUME_MOUNT] = Kind.SIMPLE_VOLUME_MOUNT
    meta: Meta | None = None
    path: AbsPath
    mode: VolumeMode = VolumeMode.READONLY
    resource: Name


VolumeMount = Annotated[SimpleVolumeMount, BeforeValidator(normalise_kind_field)]


class SimpleComputeResource(_Component):
    """Cores and memory (GiB) as ``{min, max}``; ``gpus`` is an ivoa-broker extension."""

    kind: Literal[Kind.SIMPLE_COMPUTE_RESOURCE] = Kind.SIMPLE_COMPUTE_RESOURCE
    cores: CoresRange | None = None
    memory: MemoryRange | None = None
    gpus: GpuRange | None = Field(
        default=None,
        description="ivoa-broker extension: number of GPUs {min, max}.",
        json_schema_extra={"x-ivoa-broker-extension": True},
    )
    volumes: Annotated[list[VolumeMount], Field(max_length=32)] = []


Compute = Annotated[SimpleComputeResource, BeforeValidator(normalise_kind_field)]


class SimpleStorageResource(_Component):
    """Scratch or persistent storage of ``size`` GiB; ``data`` names resources it holds."""

    kind: Literal[Kind.SIMPLE_STORAGE_RESOURCE] = Kind.SIMPLE_STORAGE_RESOURCE
    size: SizeRange | None = None
    data: Annotated[list[Name], Field(max_length=MAX_DATA)] = []


StorageResource = Annotated[SimpleStorageResource, BeforeValidator(normalise_kind_field)]


class _DataBase(_Component):
    storage: Name | None = None


class SimpleDataResource(_DataBase):
    """Data fetched from ``location`` (a URL)."""

    kind: Literal[Kind.SIMPLE_DATA_RESOURCE]
    location: Url


class S3DataResource(_DataBase):
    """An object in an S3 bucket."""

    kind: Literal[Kind.S3_DATA_RESOURCE]
    endpoint: Url | None = None
    template: Text | None = None
    bucket: Name
    object_: Annotated[Name, Field(alias="object")]


DataResource = Annotated[
    SimpleDataResource | S3DataResource,
    Field(discriminator="kind"),
    BeforeValidator(normalise_kind_field),
]


def _cost_kind(data: Any) -> Any:
    # cost and metric items have their own ``type`` field: never rename it to ``kind``
    if isinstance(data, Mapping) and "kind" in data:
        return normalise_kind_field(data)
    return data


class SimpleMinMaxFloatCost(_Doc):
    """A cost limit (request) or estimate (offer).

    ``type`` names the cost, e.g. ``urn:ivoa:calycopis:cost:monetary``.
    """

    kind: Literal[Kind.SIMPLE_MINMAX_FLOAT_COST] = Kind.SIMPLE_MINMAX_FLOAT_COST
    type: Url | None = None
    description: Text | None = None
    min: Float | None = None
    max: Float | None = None


class SimpleMinMaxFloatMetric(_Doc):
    kind: Literal[Kind.SIMPLE_MINMAX_FLOAT_METRIC] = Kind.SIMPLE_MINMAX_FLOAT_METRIC
    type: Url | None = None
    description: Text | None = None
    min: Float | None = None
    max: Float | None = None


Cost = Annotated[SimpleMinMaxFloatCost, BeforeValidator(_cost_kind)]
Metric = Annotated[SimpleMinMaxFloatMetric, BeforeValidator(_cost_kind)]


# ---------------------------------------------------------------------- request


def _legacy_request(data: Any) -> Any:
    """Lift the pre-2026 layouts: ``resources{compute,storage,data}``, compute as a list."""
    if not isinstance(data, Mapping):
        return data
    out = dict(data)
    resources = out.get("resources")
    if isinstance(resources, Mapping) and not {"compute", "storage", "data"} & set(out):
        del out["resources"]
        for key in ("compute", "storage", "data"):
            if key in resources:
                out[key] = resources[key]
    compute = out.get("compute")
    if isinstance(compute, list) and len(compute) <= 1:
        out["compute"] = compute[0] if compute else None
    return out


def _names(items: list[Any]) -> set[str]:
    found: set[str] = set()
    for item in items:
        meta: Meta | None = item.meta
        if meta is not None:
            if meta.name is not None:
                found.add(meta.name)
            if meta.uuid is not None:
                found.add(str(meta.uuid))
    return found


class ExecutionRequestDocument(_Doc):
    """``ExecutionRequest`` (``POST /requests`` and ``POST /direct``)."""

    name: Name | None = Field(default=None, description="Legacy top-level name (pre-2025-11).")
    description: Text | None = Field(default=None, description="Legacy top-level description.")
    executable: Executable
    compute: Compute | None = None
    storage: Annotated[list[StorageResource], Field(max_length=MAX_STORAGE)] = []
    data: Annotated[list[DataResource], Field(max_length=MAX_DATA)] = []
    schedule: RequestedScheduleBlock | None = None
    costs: Annotated[list[Cost], Field(max_length=16)] = []
    metrics: Annotated[list[Metric], Field(max_length=16)] = []

    @model_validator(mode="before")
    @classmethod
    def _legacy(cls, data: Any) -> Any:
        return _legacy_request(data)

    @model_validator(mode="after")
    def _references(self) -> Self:
        known = _names(self.storage) | _names(self.data)
        if self.compute is not None:
            for i, volume in enumerate(self.compute.volumes):
                if volume.resource not in known:
                    raise PathValueError(
                        f"compute.volumes[{i}].resource",
                        f"no storage or data resource named {volume.resource!r}",
                    )
        for i, store in enumerate(self.storage):
            for j, name in enumerate(store.data):
                if name not in _names(self.data):
                    raise PathValueError(
                        f"storage[{i}].data[{j}]", f"no data resource named {name!r}"
                    )
        return self


# ---------------------------------------------------------------------- sessions


class SessionConnector(_Doc):
    """How to reach a running session (a notebook URL, a port)."""

    kind: Url | None = None
    status: ConnectorStatus
    protocol: ConnectorProtocol
    location: Url


class ExecutionSession(_Doc):
    """A session (``SimpleExecutionSession`` / ``ScheduledExecutionSession``); an offer is one
    in phase ``OFFERED`` with an ``expires`` instant."""

    kind: Literal[Kind.SCHEDULED_EXECUTION_SESSION, Kind.SIMPLE_EXECUTION_SESSION] = (
        Kind.SCHEDULED_EXECUTION_SESSION
    )
    meta: Meta | None = None
    phase: Annotated[SessionPhase, BeforeValidator(_old_phase)]
    expires: Instant | None = None
    schedule: LifecycleSchedule | None = None
    executable: Executable | None = None
    compute: Compute | None = None
    storage: Annotated[list[StorageResource], Field(max_length=MAX_STORAGE)] = []
    data: Annotated[list[DataResource], Field(max_length=MAX_DATA)] = []
    connectors: Annotated[list[SessionConnector], Field(max_length=16)] = []
    costs: Annotated[list[Cost], Field(max_length=16)] = []
    metrics: Annotated[list[Metric], Field(max_length=16)] = []
    requested: ExecutionRequestDocument | None = Field(
        default=None,
        description="ivoa-broker extension: the request as received (canonical form); "
        "the session's components hold the offered values.",
        json_schema_extra={"x-ivoa-broker-extension": True},
    )

    @model_validator(mode="before")
    @classmethod
    def _kind(cls, data: Any) -> Any:
        return normalise_kind_field(data)


class OfferSetResponse(_Doc):
    """``OfferSetResponse``: ``YES`` with offers, or ``NO`` with reasons in ``meta.messages``."""

    kind: Literal[Kind.EXECUTION_OFFERSET] = Kind.EXECUTION_OFFERSET
    meta: Meta | None = None
    result: Annotated[OfferResult, BeforeValidator(_yes_no)]
    description: Text | None = None
    offers: Annotated[list[ExecutionSession], Field(max_length=MAX_OFFERS)] = []

    @model_validator(mode="before")
    @classmethod
    def _kind(cls, data: Any) -> Any:
        return normalise_kind_field(data)

    @model_validator(mode="after")
    def _consistent(self) -> Self:
        if self.result is OfferResult.YES and not self.offers:
            raise ValueError("result YES needs at least one offer")
        if self.result is OfferResult.NO and self.offers:
            raise ValueError("result NO cannot carry offers")
        return self


class SessionList(_Doc):
    """``GET /sessions`` (ivoa-broker extension): sessions, newest first, and the next page."""

    sessions: Annotated[list[ExecutionSession], Field(max_length=MAX_LIST)] = []
    next: Url | None = None


class OfferSetList(_Doc):
    """``GET /offersets`` (ivoa-broker extension): offer sets, newest first, and the next page."""

    offersets: Annotated[list[OfferSetResponse], Field(max_length=MAX_LIST)] = []
    next: Url | None = None


# ----------------------------------------------------------------------- updates


class _UpdateBase(_Doc):
    kind: str
    path: Name


class EnumValueUpdate(_UpdateBase):
    """Set an enum, e.g. ``{path: phase, value: ACCEPTED}``."""

    kind: Literal[UpdateKind.ENUM_VALUE]
    value: Name


class StringValueUpdate(_UpdateBase):
    kind: Literal[UpdateKind.STRING_VALUE]
    value: Text


class IntegerValueUpdate(_UpdateBase):
    kind: Literal[UpdateKind.INTEGER_VALUE]
    value: Count
    units: Name | None = None


class IntegerDeltaUpdate(_UpdateBase):
    """Change an integer by ``delta`` ``units`` (run-time extension: seconds)."""

    kind: Literal[UpdateKind.INTEGER_DELTA]
    delta: Count
    units: Name | None = None


#: Any validated update document (the plain union, for annotations and isinstance).
AnyUpdate = EnumValueUpdate | StringValueUpdate | IntegerValueUpdate | IntegerDeltaUpdate


def _update_in(data: Any) -> Any:
    return normalise_kind_field(unwrap_update(data))


Update = Annotated[
    EnumValueUpdate | StringValueUpdate | IntegerValueUpdate | IntegerDeltaUpdate,
    Field(discriminator="kind"),
    BeforeValidator(_update_in),
]

_UPDATE: TypeAdapter[Any] = TypeAdapter(Update)
_OPTION: TypeAdapter[Any] = TypeAdapter(Option)


def update_adapter() -> TypeAdapter[Any]:
    """The validator of update documents (the union has no model class of its own)."""
    return _UPDATE


def option_adapter() -> TypeAdapter[Any]:
    return _OPTION
