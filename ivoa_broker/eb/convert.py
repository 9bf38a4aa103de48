"""ExecutionBroker documents <-> the neutral :class:`~ivoa_broker.protocol.ExecutionRequest`.

Forward: :func:`to_execution_request` (what adapters see). Backward: the helpers
the web layer uses to render a stored :class:`~ivoa_broker.protocol.Offer` and
the original request as an ``ExecutionSession`` and to group sessions into an
``OfferSetResponse``.

What the neutral request cannot hold directly goes into ``extensions`` under
the ``eb.`` namespace (structured values as JSON text):

=====================  ==========================================================
``eb.executable``      ``docker-container`` | ``jupyter-notebook`` | ``singularity-container``
``eb.entrypoint``      the container entrypoint; it is also ``command[0]``
``eb.image.locations`` JSON list of every image location (when more than one)
``eb.platform``        ``<os>/<architecture>`` of the image, when given
``eb.ports``           JSON list ``[{port, protocol, access, path}]``
``eb.volumes``         JSON list ``[{path, mode, resource, location}]``
``eb.cores.max``       requested maximum cores (``resources.cores`` is the minimum)
``eb.memory.max``      requested maximum memory in bytes
``eb.gpus.max``        requested maximum GPUs
``eb.start``           requested start interval ``<instant>/<duration>``
``eb.costs``           JSON list of cost limits ``[{type, min, max}]``
=====================  ==========================================================

``labels["eb.name"]`` carries the executable's (or legacy request's) name.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID, uuid5

from pydantic import ValidationError

from ivoa_broker.eb import iso8601
from ivoa_broker.eb.errors import DocumentError, from_validation_error
from ivoa_broker.eb.kinds import OptionKind
from ivoa_broker.eb.model import (
    MAX_CORES,
    MAX_DURATION,
    MAX_FLOAT,
    MAX_GPUS,
    MAX_MEMORY_GIB,
    MAX_MESSAGES,
    MAX_NAME,
    MAX_TEXT,
    ComponentPhase,
    CoresRange,
    DataResource,
    DockerContainer,
    EnumValueOption,
    ExecutionRequestDocument,
    ExecutionSession,
    GpuRange,
    IntegerDeltaOption,
    IntervalDuration,
    JupyterNotebook,
    LifecycleSchedule,
    MemoryRange,
    MessageItem,
    MessageLevel,
    Meta,
    OfferResult,
    OfferSetResponse,
    Option,
    S3DataResource,
    SessionPhase,
    SimpleComputeResource,
    SimpleDataResource,
    SimpleMinMaxFloatCost,
    SingularityContainer,
)
from ivoa_broker.protocol import ExecutionRequest, Offer, Resources

__all__ = [
    "GIB",
    "RUNTIME_PATH",
    "data_location",
    "offer_session",
    "offer_set",
    "phase_options",
    "refusal",
    "request_document",
    "to_execution_request",
]

GIB = 1024**3
MAX_COSTS = 16
#: The update/option path of the run-time (the ``available`` window's duration).
RUNTIME_PATH = "schedule.available.duration"


def request_document(doc: ExecutionRequestDocument | Mapping[str, Any]) -> ExecutionRequestDocument:
    """Validate a raw mapping (or pass a model through), errors as :class:`DocumentError`."""
    if isinstance(doc, ExecutionRequestDocument):
        return doc
    try:
        return ExecutionRequestDocument.model_validate(doc)
    except ValidationError as exc:
        raise from_validation_error(exc) from None


def data_location(item: SimpleDataResource | S3DataResource) -> str:
    """The URL an adapter fetches a data resource from."""
    if isinstance(item, SimpleDataResource):
        return item.location
    if item.endpoint:
        return f"{item.endpoint.rstrip('/')}/{item.bucket}/{item.object_}"
    return f"s3://{item.bucket}/{item.object_}"


def _first(low: int | None, high: int | None) -> int | None:
    return low if low is not None else high


def _by_name(doc: ExecutionRequestDocument) -> dict[str, str | None]:
    """Resource name/uuid -> data location (``None`` for storage)."""
    found: dict[str, str | None] = {}
    for store in doc.storage:
        if store.meta is not None:
            for key in (store.meta.name, store.meta.uuid):
                if key is not None:
                    found[str(key)] = None
    for item in doc.data:
        if item.meta is not None:
            for key in (item.meta.name, item.meta.uuid):
                if key is not None:
                    found[str(key)] = data_location(item)
    return found


def _executable(doc: ExecutionRequestDocument, ext: dict[str, str]) -> dict[str, Any]:
    exe = doc.executable
    if isinstance(exe, DockerContainer):
        if exe.privileged:
            raise DocumentError(
                422,
                "Unsupported request",
                "privileged containers are not supported",
                "executable.privileged",
            )
        ext["eb.executable"] = "docker-container"
        image = exe.image.locations[0]
        if exe.image.digest and "@" not in image:
            image = f"{image}@{exe.image.digest}"
        if len(exe.image.locations) > 1:
            ext["eb.image.locations"] = json.dumps(exe.image.locations)
        if exe.image.platform is not None:
            ext["eb.platform"] = f"{exe.image.platform.os}/{exe.image.platform.architecture}"
        command = list(exe.command)
        if exe.entrypoint is not None:
            ext["eb.entrypoint"] = exe.entrypoint
            command.insert(0, exe.entrypoint)
        if exe.network is not None and exe.network.ports:
            ext["eb.ports"] = json.dumps(
                [
                    {
                        "port": p.internal.port if p.internal else None,
                        "protocol": p.protocol.value,
                        "access": p.access,
                        "path": p.path,
                    }
                    for p in exe.network.ports
                ]
            )
        return {
            "kind": "batch",
            "image": image,
            "command": tuple(command),
            "env": dict(exe.environment),
        }
    if isinstance(exe, JupyterNotebook):
        ext["eb.executable"] = "jupyter-notebook"
        return {"kind": "interactive", "notebook": exe.location}
    if isinstance(exe, SingularityContainer):
        ext["eb.executable"] = "singularity-container"
        return {"kind": "batch", "image": exe.location}
    raise AssertionError(f"unhandled executable {type(exe).__name__}")  # pragma: no cover


def to_execution_request(
    doc: ExecutionRequestDocument | Mapping[str, Any], *, job_id: str, owner: str | None
) -> ExecutionRequest:
    """The neutral request for an EB ``ExecutionRequest`` document.

    Cores, memory and GPUs take the requested minimum (the maximum if only that
    is given); memory and storage GiB become bytes; the requested duration
    becomes ``walltime_seconds``; data locations become ``inputs`` in order.
    Raises :class:`DocumentError` (400 invalid, 422 privileged container).
    """
    doc = request_document(doc)
    ext: dict[str, str] = {}
    fields = _executable(doc, ext)

    cores: int | None = None
    memory: int | None = None
    gpus = 0
    compute = doc.compute
    if compute is not None:
        if compute.cores is not None:
            cores = _first(compute.cores.min, compute.cores.max)
            if compute.cores.max is not None:
                ext["eb.cores.max"] = str(compute.cores.max)
        if compute.memory is not None:
            gib = _first(compute.memory.min, compute.memory.max)
            memory = gib * GIB if gib is not None else None
            if compute.memory.max is not None:
                ext["eb.memory.max"] = str(compute.memory.max * GIB)
        if compute.gpus is not None:
            gpus = _first(compute.gpus.min, compute.gpus.max) or 0
            if compute.gpus.max is not None:
                ext["eb.gpus.max"] = str(compute.gpus.max)
        if compute.volumes:
            where = _by_name(doc)
            ext["eb.volumes"] = json.dumps(
                [
                    {
                        "path": v.path,
                        "mode": v.mode.value,
                        "resource": v.resource,
                        "location": where.get(v.resource),
                    }
                    for v in compute.volumes
                ]
            )

    sizes = [s.size.min or s.size.max for s in doc.storage if s.size is not None]
    disk = sum(size for size in sizes if size is not None) * GIB if sizes else None

    walltime: int | None = None
    requested = doc.schedule.requested if doc.schedule is not None else None
    if requested is not None:
        if requested.duration is not None:
            walltime = int(iso8601.parse_duration(requested.duration).total_seconds())
        if requested.start is not None:
            ext["eb.start"] = requested.start
    if doc.costs:
        ext["eb.costs"] = json.dumps(
            [{"type": c.type, "min": c.min, "max": c.max} for c in doc.costs]
        )

    labels: dict[str, str] = {}
    name = doc.executable.meta.name if doc.executable.meta is not None else None
    if name or doc.name:
        labels["eb.name"] = name or doc.name or ""

    return ExecutionRequest(
        job_id=job_id,
        owner=owner,
        resources=Resources(
            cores=float(cores) if cores is not None else None,
            memory_bytes=memory,
            gpus=gpus,
            walltime_seconds=walltime,
            disk_bytes=disk,
        ),
        inputs=tuple(data_location(item) for item in doc.data),
        labels=labels,
        extensions=ext,
        **fields,
    )


# --------------------------------------------------------------------- rendering


def _component_meta(session_id: UUID, part: str, meta: Meta | None) -> Meta:
    uid = uuid5(session_id, part)
    if meta is None:
        return Meta(uuid=uid)
    return meta.model_copy(update={"uuid": uid})


def _granted_compute(
    offer: Offer, doc: ExecutionRequestDocument, session_id: UUID, phase: ComponentPhase | None
) -> SimpleComputeResource:
    asked = doc.compute if doc.compute is not None else SimpleComputeResource()
    res = offer.resources
    # offered values are clipped to the document bounds (an adapter may be generous)
    cores = min(math.ceil(res.cores), MAX_CORES) if res.cores else None
    memory = min(math.ceil(res.memory_bytes / GIB), MAX_MEMORY_GIB) if res.memory_bytes else None
    gpus = max(0, min(res.gpus, MAX_GPUS))
    gpus_asked = asked.gpus is not None
    return asked.model_copy(
        update={
            "meta": _component_meta(session_id, "compute", asked.meta),
            "phase": phase,
            "cores": CoresRange(min=cores, max=cores) if cores else asked.cores,
            "memory": MemoryRange(min=memory, max=memory) if memory else asked.memory,
            "gpus": GpuRange(min=gpus, max=gpus) if gpus or gpus_asked else None,
        }
    )


def _aware(value: datetime | None) -> datetime | None:
    """Adapters give aware datetimes; a naive one is taken as UTC rather than crash."""
    if value is None or value.tzinfo is not None:
        return value
    return value.replace(tzinfo=UTC)


def _schedule(offer: Offer, doc: ExecutionRequestDocument, created: datetime) -> LifecycleSchedule:
    start = _aware(offer.start) or created
    seconds = offer.resources.walltime_seconds
    if seconds is not None:
        seconds = min(max(seconds, 0), int(MAX_DURATION.total_seconds()))
    duration: str | None = None
    if seconds is not None:
        duration = iso8601.format_duration(timedelta(seconds=seconds))
    elif doc.schedule is not None and doc.schedule.requested is not None:
        duration = doc.schedule.requested.duration
    window = f"{iso8601.format_instant(start)}/PT0S"
    return LifecycleSchedule(available=IntervalDuration(start=window, duration=duration))


def _cost_type(key: str) -> str:
    return key if ":" in key else f"urn:ivoa:calycopis:cost:{key}"


_UNSAFE = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\ud800-\udfff\ufffe\uffff]")


def _safe(text: str, limit: int, *, one_line: bool = False) -> str:
    """Adapter-supplied text made fit for a document: bad characters replaced, clipped."""
    cleaned = _UNSAFE.sub("\ufffd", text)
    if one_line:
        cleaned = cleaned.replace("\n", " ").replace("\t", " ")
    return cleaned[:limit]


def _costs(cost: Mapping[str, float]) -> list[SimpleMinMaxFloatCost]:
    out = []
    for key in sorted(cost)[:MAX_COSTS]:
        value = cost[key]
        if math.isfinite(value) and abs(value) <= MAX_FLOAT:
            out.append(SimpleMinMaxFloatCost(type=_cost_type(key), min=value, max=value))
    return out


def offer_session(
    offer: Offer,
    doc: ExecutionRequestDocument,
    *,
    session_id: UUID,
    base_url: str,
    created: datetime,
    phase: SessionPhase = SessionPhase.OFFERED,
    options: Sequence[Option] = (),
    messages: Sequence[MessageItem] = (),
) -> ExecutionSession:
    """Render one stored offer, with the request it answers, as an ``ExecutionSession``.

    Components echo the request with the **offered** values (cores/memory/GPUs
    as ``min == max`` = granted); ``requested`` keeps the request as received.
    ``expires`` is the offer's ``expires_at`` (shown while OFFERED only); the
    offer's warnings become WARN messages and a non-reserved offer says so.
    ``base_url`` is the service root; the session's URL is ``{base_url}/sessions/{id}``.
    """
    component_phase = (
        ComponentPhase.INITIALIZING
        if phase in (SessionPhase.INITIAL, SessionPhase.OFFERED, SessionPhase.ACCEPTED)
        else None
    )
    notes = [
        MessageItem(level=MessageLevel.WARN, message=_safe(w, MAX_TEXT)) for w in offer.warnings
    ]
    if not offer.reserved:
        notes.append(
            MessageItem(
                level=MessageLevel.INFO,
                message="best effort: the start time is an estimate, not a reservation",
            )
        )
    notes.extend(messages)
    del notes[MAX_MESSAGES:]
    executable = doc.executable.model_copy(
        update={
            "meta": _component_meta(session_id, "executable", doc.executable.meta),
            "phase": component_phase,
        }
    )
    storage = [
        s.model_copy(
            update={
                "meta": _component_meta(session_id, f"storage/{i}", s.meta),
                "phase": component_phase,
            }
        )
        for i, s in enumerate(doc.storage)
    ]
    data: list[DataResource] = [
        d.model_copy(
            update={
                "meta": _component_meta(session_id, f"data/{i}", d.meta),
                "phase": component_phase,
            }
        )
        for i, d in enumerate(doc.data)
    ]
    return ExecutionSession(
        meta=Meta(
            uuid=session_id,
            name=_safe(offer.adapter, MAX_NAME, one_line=True) or None,
            url=f"{base_url.rstrip('/')}/sessions/{session_id}",
            description=_safe(offer.summary, MAX_TEXT) or None,
            created=created,
            messages=notes,
            options=list(options),
        ),
        phase=phase,
        expires=_aware(offer.expires_at) if phase is SessionPhase.OFFERED else None,
        schedule=_schedule(offer, doc, created),
        executable=executable,
        compute=_granted_compute(offer, doc, session_id, component_phase),
        storage=storage,
        data=data,
        costs=_costs(offer.cost),
        requested=doc,
    )


def offer_set(
    sessions: Sequence[ExecutionSession],
    *,
    offerset_id: UUID,
    base_url: str,
    created: datetime,
    messages: Sequence[MessageItem] = (),
    name: str | None = None,
) -> OfferSetResponse:
    """Group offer sessions into an ``OfferSetResponse``: YES with offers, NO without."""
    return OfferSetResponse(
        meta=Meta(
            uuid=offerset_id,
            name=name,
            url=f"{base_url.rstrip('/')}/offersets/{offerset_id}",
            created=created,
            messages=list(messages),
        ),
        result=OfferResult.YES if sessions else OfferResult.NO,
        offers=list(sessions),
    )


def refusal(reasons: Iterable[tuple[str | None, str]]) -> list[MessageItem]:
    """Reasons for a NO, as ERROR messages (``path`` kept in ``values``)."""
    return [
        MessageItem(
            level=MessageLevel.ERROR,
            message=text,
            values={"path": path} if path else {},
        )
        for path, text in reasons
    ]


def phase_options(
    allowed: Iterable[SessionPhase], *, extend_max_seconds: int | None = None
) -> list[Option]:
    """``meta.options`` for a session: the phases the client may set now, and how far
    the run time may be extended (seconds), both from the core's transition table."""
    values = [p.value for p in allowed]
    out: list[Option] = []
    if values:
        out.append(EnumValueOption(kind=OptionKind.ENUM_VALUE, path="phase", values=values))
    if extend_max_seconds:
        out.append(
            IntegerDeltaOption(
                kind=OptionKind.INTEGER_DELTA,
                path=RUNTIME_PATH,
                min=0,
                max=extend_max_seconds,
                units="seconds",
            )
        )
    return out
