"""The neutral request as a remote ExecutionBroker request, and the remote's answers
(offer sets, sessions, UWS job documents) read back into contract values.

Only the public documents are used: the request is JSON with the canonical v1.0
``kind`` URIs; answers are read leniently (a field missing is a value unknown),
so any conforming broker will do.
"""

from __future__ import annotations

import json
import math
import xml.etree.ElementTree as ET
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from ivoa_broker.eb.iso8601 import parse_duration
from ivoa_broker.eb.kinds import BASE
from ivoa_broker.eb.model import MAX_CORES, MAX_DURATION, MAX_GPUS, MAX_MEMORY_GIB
from ivoa_broker.protocol import EndReason, ExecutionRequest, Phase, Resources, Status, Usage
from ivoa_broker.units import parse_instant

__all__ = [
    "RemoteOffer",
    "UwsJob",
    "parse_uws_job",
    "read_offerset",
    "refusal",
    "request_document",
    "session_status",
]

GIB = 1024**3
DOCKER = BASE + "executable/docker-container.yaml"
NOTEBOOK = BASE + "executable/jupyter-notebook.yaml"
SINGULARITY = BASE + "executable/singularity-container.yaml"
COMPUTE = BASE + "compute/simple-compute-resource.yaml"
DATA = BASE + "data/simple-data-resource.yaml"
UWS_NS = "{http://www.ivoa.net/xml/UWS/v1.0}"
XLINK_HREF = "{http://www.w3.org/1999/xlink}href"

#: remote UWS phase -> contract phase
UWS_PHASES: Mapping[str, Phase] = {
    "PENDING": Phase.QUEUED,
    "QUEUED": Phase.QUEUED,
    "HELD": Phase.HELD,
    "SUSPENDED": Phase.SUSPENDED,
    "EXECUTING": Phase.EXECUTING,
    "COMPLETED": Phase.COMPLETED,
    "ERROR": Phase.ERROR,
    "ABORTED": Phase.ABORTED,
    "ARCHIVED": Phase.COMPLETED,
    "UNKNOWN": Phase.UNKNOWN,
}

#: remote session phase -> contract phase (when no UWS view is known)
SESSION_PHASES: Mapping[str, Phase] = {
    "ACCEPTED": Phase.QUEUED,
    "WAITING": Phase.QUEUED,
    "RUNNING": Phase.EXECUTING,
    "RELEASING": Phase.ABORTED,
    "CANCELLED": Phase.ABORTED,
    "COMPLETED": Phase.COMPLETED,
    "FAILED": Phase.ERROR,
}


def refusal(request: ExecutionRequest, default_image: str | None) -> str | None:
    """Why ``request`` cannot be put as an ExecutionBroker request; ``None`` if it can."""
    if request.kind == "interactive" and not request.notebook:
        return "an interactive session needs a notebook to be asked of a remote broker"
    if request.kind == "batch" and not request.image and not default_image and request.command:
        return (
            "the ExecutionBroker API runs containers: the request names no image "
            "(and this remote has no default_image)"
        )
    res = request.resources
    if res.cores is not None and math.ceil(res.cores) > MAX_CORES:
        return (
            f"{res.cores:g} cores is beyond what an ExecutionBroker request can ask ({MAX_CORES})"
        )
    if res.memory_bytes is not None and math.ceil(res.memory_bytes / GIB) > MAX_MEMORY_GIB:
        return "the memory asked is beyond what an ExecutionBroker request can ask"
    if res.gpus > MAX_GPUS:
        return f"{res.gpus} GPUs is beyond what an ExecutionBroker request can ask ({MAX_GPUS})"
    if res.walltime_seconds and res.walltime_seconds > MAX_DURATION.total_seconds():
        return "the run time asked is beyond what an ExecutionBroker request can ask"
    return None


def _executable(request: ExecutionRequest, default_image: str | None) -> dict[str, Any]:
    ext = request.extensions
    name = request.labels.get("eb.name")
    meta = {"meta": {"name": name[:256]}} if name else {}
    if request.notebook:
        return {"kind": NOTEBOOK, "location": request.notebook, **meta}
    if ext.get("eb.executable") == "singularity-container" and request.image:
        return {"kind": SINGULARITY, "location": request.image, **meta}
    image = request.image or default_image
    locations = [image]
    if "eb.image.locations" in ext:
        locations = [str(x) for x in json.loads(ext["eb.image.locations"])] or locations
    command = list(request.command)
    exe: dict[str, Any] = {"kind": DOCKER, "image": {"locations": locations}, **meta}
    entrypoint = ext.get("eb.entrypoint")
    if entrypoint is not None and command and command[0] == entrypoint:
        exe["entrypoint"] = entrypoint
        command = command[1:]
    exe["command"] = command
    if request.env:
        exe["environment"] = dict(request.env)
    return exe


def request_document(request: ExecutionRequest, default_image: str | None) -> dict[str, Any]:
    """The ExecutionBroker request (JSON-ready) asking for what ``request`` asks."""
    doc: dict[str, Any] = {"executable": _executable(request, default_image)}
    res = request.resources
    compute: dict[str, Any] = {"kind": COMPUTE}
    ext = request.extensions
    if res.cores is not None:
        low = max(1, math.ceil(res.cores))
        high = max(low, int(ext.get("eb.cores.max", low)))
        compute["cores"] = {"min": low, "max": high}
    if res.memory_bytes is not None:
        low = max(1, math.ceil(res.memory_bytes / GIB))
        high = max(low, math.ceil(int(ext.get("eb.memory.max", low * GIB)) / GIB))
        compute["memory"] = {"min": low, "max": high}
    if res.gpus:
        compute["gpus"] = {"min": res.gpus, "max": max(res.gpus, int(ext.get("eb.gpus.max", 0)))}
    if len(compute) > 1:
        doc["compute"] = compute
    if request.inputs:
        doc["data"] = [{"kind": DATA, "location": url} for url in request.inputs]
    requested: dict[str, str] = {}
    if res.walltime_seconds:
        requested["duration"] = f"PT{int(res.walltime_seconds)}S"
    if "eb.start" in ext:
        requested["start"] = ext["eb.start"]
    if requested:
        doc["schedule"] = {"requested": requested}
    return doc


# ------------------------------------------------------------------ answers


@dataclass(frozen=True)
class RemoteOffer:
    """One OFFERED session of the remote's offer set."""

    url: str
    platform: str
    description: str
    expires: datetime | None
    start: datetime | None
    resources: Resources
    warnings: tuple[str, ...]


def _instant(value: object) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        return parse_instant(value)
    except ValueError:
        return None


def _granted(compute: object, requested: Resources) -> Resources:
    if not isinstance(compute, dict):
        return requested

    def low(key: str) -> int | None:
        part = compute.get(key)
        if isinstance(part, dict):
            value = part.get("min", part.get("max"))
            return int(value) if isinstance(value, int | float) else None
        return None

    cores = low("cores")
    memory = low("memory")
    gpus = low("gpus")
    return Resources(
        cores=float(cores) if cores is not None else requested.cores,
        memory_bytes=memory * GIB if memory is not None else requested.memory_bytes,
        gpus=gpus if gpus is not None else requested.gpus,
        walltime_seconds=requested.walltime_seconds,
        disk_bytes=requested.disk_bytes,
    )


def _messages(meta: object, levels: frozenset[str]) -> list[str]:
    if not isinstance(meta, dict):
        return []
    out = []
    for item in meta.get("messages") or []:
        if isinstance(item, dict) and str(item.get("level", "INFO")).upper() in levels:
            text = item.get("message")
            if isinstance(text, str) and text:
                out.append(text)
    return out


def read_offerset(
    body: Mapping[str, Any], requested: Resources
) -> tuple[list[RemoteOffer], list[str]]:
    """The remote's OFFERED sessions, and its reasons for what it did not offer."""
    offers: list[RemoteOffer] = []
    for item in body.get("offers") or []:
        if not isinstance(item, dict) or str(item.get("phase", "")).upper() != "OFFERED":
            continue
        meta: dict[str, Any] = item["meta"] if isinstance(item.get("meta"), dict) else {}
        url = meta.get("url")
        if not isinstance(url, str) or "://" not in url:
            continue
        schedule = item.get("schedule") if isinstance(item.get("schedule"), dict) else {}
        available = schedule.get("available") if isinstance(schedule, dict) else None
        start = _instant(available.get("start")) if isinstance(available, dict) else None
        offers.append(
            RemoteOffer(
                url=url,
                platform=str(meta.get("name") or "")[:100],
                description=str(meta.get("description") or "")[:500],
                expires=_instant(item.get("expires")),
                start=start,
                resources=_granted(item.get("compute"), requested),
                warnings=tuple(_messages(meta, frozenset({"WARN", "WARNING"}))),
            )
        )
    return offers, _messages(body.get("meta"), frozenset({"ERROR", "WARN", "WARNING"}))


def uws_job_url(session: Mapping[str, Any]) -> str | None:
    """The UWS view of a session where the remote names one (``uws-job`` message)."""
    meta = session.get("meta")
    if not isinstance(meta, dict):
        return None
    for item in meta.get("messages") or []:
        if isinstance(item, dict) and item.get("template") == "uws-job":
            url = (item.get("values") or {}).get("url")
            if isinstance(url, str) and "://" in url:
                return url
    return None


def session_status(session: Mapping[str, Any]) -> Status:
    """A session document's phase as a Status (for brokers without a UWS view)."""
    native = str(session.get("phase", "UNKNOWN")).upper()
    phase = SESSION_PHASES.get(native, Phase.UNKNOWN)
    errors = _messages(session.get("meta"), frozenset({"ERROR"}))
    return Status(phase=phase, native_state=native, message=errors[0] if errors else None)


@dataclass(frozen=True)
class UwsJob:
    phase: str
    status: Status
    results: tuple[tuple[str, str], ...]  # (id, href)
    execution_duration: int
    start: datetime | None
    creation: datetime | None


def _text(root: ET.Element, name: str) -> str | None:
    found = root.find(UWS_NS + name)
    if found is None or found.text is None:
        return None
    return found.text.strip()


def _int(value: str | None) -> int | None:
    try:
        return int(value) if value is not None else None
    except ValueError:
        return None


def _float(value: str | None) -> float | None:
    try:
        return float(value) if value is not None else None
    except ValueError:
        return None


def parse_uws_job(text: bytes) -> UwsJob:
    """A UWS 1.1 ``uws:job`` document; raises ``ValueError`` if it is not one."""
    try:
        root = ET.fromstring(text)
    except ET.ParseError as exc:
        raise ValueError(f"not XML: {exc}") from None
    if root.tag != UWS_NS + "job":
        raise ValueError(f"not a uws:job document ({root.tag[:80]})")
    native = (_text(root, "phase") or "UNKNOWN").upper()
    info: dict[str, str] = {}
    info_el = root.find(UWS_NS + "jobInfo")
    if info_el is not None:
        for child in info_el:  # <ib:item name="exit_code">3</ib:item>, or <exit_code>3</...>
            tag = child.get("name") or child.tag.rsplit("}", 1)[-1]
            info[tag] = (child.text or "").strip()
    message = None
    summary = root.find(UWS_NS + "errorSummary")
    if summary is not None:
        message = _text(summary, "message")
    reason = None
    if info.get("end_reason"):
        try:
            reason = EndReason(info["end_reason"])
        except ValueError:
            reason = None
    usage = None
    if any(k in info for k in ("usage_cpu_seconds", "usage_elapsed_seconds", "usage_max_rss")):
        usage = Usage(
            cpu_seconds=_float(info.get("usage_cpu_seconds")),
            elapsed_seconds=_float(info.get("usage_elapsed_seconds")),
            max_rss_bytes=_int(info.get("usage_max_rss_bytes")),
        )
    status = Status(
        phase=UWS_PHASES.get(native, Phase.UNKNOWN),
        native_state=native,
        message=message or info.get("message") or None,
        exit_code=_int(info.get("exit_code")),
        signal=_int(info.get("signal")),
        reason=reason,
        usage=usage,
        started_at=_instant(_text(root, "startTime")),
        ended_at=_instant(_text(root, "endTime")),
        endpoint=info.get("endpoint") or None,
    )
    results = []
    res_el = root.find(UWS_NS + "results")
    if res_el is not None:
        for item in res_el:
            rid, href = item.get("id"), item.get(XLINK_HREF)
            if rid and href:
                results.append((rid, href))
    return UwsJob(
        phase=native,
        status=status,
        results=tuple(results),
        execution_duration=_int(_text(root, "executionDuration")) or 0,
        start=_instant(_text(root, "startTime")),
        creation=_instant(_text(root, "creationTime")),
    )


def duration_seconds(text: str) -> int:
    return int(parse_duration(text).total_seconds())
