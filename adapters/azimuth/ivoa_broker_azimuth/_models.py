"""What the Azimuth API sends back, parsed into frozen dataclasses.

Field names are those of ``api/azimuth/serializers.py``. Anything without the documented
shape is a :class:`FatalError` naming what was asked for.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from ivoa_broker.protocol import FatalError

__all__ = [
    "AppInfo",
    "ClusterInfo",
    "ImageInfo",
    "MachineInfo",
    "QuotaInfo",
    "ServiceInfo",
    "SizeInfo",
    "TenancyInfo",
    "garbage",
    "parse_list",
]


def garbage(what: str, body: object) -> FatalError:
    sample = repr(body)
    if len(sample) > 120:
        sample = sample[:117] + "..."
    return FatalError(
        f"Azimuth answered {what} with an unexpected body; is the URL an Azimuth portal?",
        detail=f"body starts {sample}",
    )


def _instant(value: Any) -> datetime | None:
    if not isinstance(value, str) or not value:
        return None
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None


def _opt(value: Any) -> str | None:
    return None if value is None or value == "" else str(value)


def parse_list(what: str, body: Any) -> list[dict[str, Any]]:
    if not isinstance(body, list) or not all(isinstance(x, dict) for x in body):
        raise garbage(what, body)
    return body


@dataclass(frozen=True)
class TenancyInfo:
    id: str
    name: str

    @classmethod
    def parse(cls, data: dict[str, Any]) -> TenancyInfo:
        return cls(str(data["id"]), str(data["name"]))


@dataclass(frozen=True)
class QuotaInfo:
    """``QuotaSerializer``: ``allocated`` < 0 means unlimited."""

    resource: str
    label: str
    units: str | None
    allocated: int
    used: int

    @property
    def free(self) -> int | None:
        return None if self.allocated < 0 else max(0, self.allocated - self.used)

    @classmethod
    def parse(cls, data: dict[str, Any]) -> QuotaInfo:
        return cls(
            str(data["resource"]),
            str(data.get("label") or data["resource"]),
            _opt(data.get("units")),
            int(data["allocated"]),
            int(data["used"]),
        )


_GPU_SPECS = ("resources:VGPU", "resources:PGPU", "resources:GPU")


@dataclass(frozen=True)
class SizeInfo:
    """``SizeSerializer``: ``ram`` in MB, ``disk`` in GB; GPUs from the flavour's extra
    specs (``resources:VGPU``/``PGPU`` counts, ``pci_passthrough:alias`` ``name:count``)."""

    id: str
    name: str
    cpus: int
    ram_mb: int
    disk_gb: int
    gpus: int

    @classmethod
    def parse(cls, data: dict[str, Any]) -> SizeInfo:
        props = data.get("additional_properties") or {}
        gpus = 0
        if isinstance(props, dict):
            for key in _GPU_SPECS:
                if str(props.get(key, "")).isdigit():
                    gpus += int(props[key])
            alias = str(props.get("pci_passthrough:alias", ""))
            for part in alias.split(","):
                match = re.fullmatch(r"\s*[^:]+:(\d+)\s*", part)
                if match:
                    gpus += int(match.group(1))
        return cls(
            str(data["id"]),
            str(data["name"]),
            int(data["cpus"]),
            int(data["ram"]),
            int(data.get("disk") or 0),
            gpus,
        )


@dataclass(frozen=True)
class ImageInfo:
    id: str
    name: str

    @classmethod
    def parse(cls, data: dict[str, Any]) -> ImageInfo:
        return cls(str(data["id"]), str(data["name"]))


@dataclass(frozen=True)
class MachineInfo:
    """``MachineSerializer``: ``status`` is ``{"type", "name", "details"}``."""

    id: str
    name: str
    status: str
    status_type: str
    details: str | None
    power_state: str | None
    task: str | None
    created: datetime | None

    @property
    def deleting(self) -> bool:
        return (self.task or "").lower() == "deleting" or self.status in ("DELETED", "SOFT_DELETED")

    @classmethod
    def parse(cls, data: dict[str, Any]) -> MachineInfo:
        status = data.get("status") or {}
        if not isinstance(status, dict):
            raise garbage("a machine", data)
        return cls(
            str(data["id"]),
            str(data["name"]),
            str(status.get("name") or "UNKNOWN"),
            str(status.get("type") or "OTHER"),
            _opt(status.get("details")),
            _opt(data.get("power_state")),
            _opt(data.get("task")),
            _instant(data.get("created")),
        )


@dataclass(frozen=True)
class ServiceInfo:
    """A Zenith service of an app or cluster: ``url`` is the portal's redirect to it."""

    name: str
    label: str
    fqdn: str | None
    url: str | None

    @classmethod
    def parse_all(cls, value: Any) -> tuple[ServiceInfo, ...]:
        if not isinstance(value, list):
            return ()
        return tuple(
            cls(
                str(s.get("name")),
                str(s.get("label") or s.get("name")),
                _opt(s.get("fqdn")),
                _opt(s.get("url")),
            )
            for s in value
            if isinstance(s, dict) and s.get("name")
        )


@dataclass(frozen=True)
class AppInfo:
    """``KubernetesAppSerializer``."""

    id: str
    name: str
    status: str
    failure_message: str | None
    services: tuple[ServiceInfo, ...]
    created_at: datetime | None

    @classmethod
    def parse(cls, data: dict[str, Any]) -> AppInfo:
        return cls(
            str(data["id"]),
            str(data.get("name") or data["id"]),
            str(data.get("status") or "Unknown"),
            _opt(data.get("failure_message")),
            ServiceInfo.parse_all(data.get("services")),
            _instant(data.get("created_at")),
        )


@dataclass(frozen=True)
class ClusterInfo:
    """``ClusterSerializer``: ``status`` is CONFIGURING, READY, DELETING or ERROR."""

    id: str
    name: str
    status: str
    task: str | None
    error_message: str | None
    services: tuple[ServiceInfo, ...]
    created: datetime | None
    end_time: datetime | None

    @classmethod
    def parse(cls, data: dict[str, Any]) -> ClusterInfo:
        schedule = data.get("schedule")
        end = _instant(schedule.get("end_time")) if isinstance(schedule, dict) else None
        return cls(
            str(data["id"]),
            str(data["name"]),
            str(data.get("status") or "UNKNOWN"),
            _opt(data.get("task")),
            _opt(data.get("error_message")),
            ServiceInfo.parse_all(data.get("services")),
            _instant(data.get("created")),
            end,
        )
