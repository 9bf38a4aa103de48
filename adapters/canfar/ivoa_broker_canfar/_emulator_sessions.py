"""One emulated skaha session and how skaha writes it out.

The formats follow skaha's source (see :mod:`ivoa_broker_canfar.emulator` for
the commit): Gson output omits ``null`` fields; ``startTime`` is a Java
``OffsetDateTime.toString()`` (seconds left out when they are zero);
``expiryTime`` an ``Instant.toString()``; ``requestedRAM`` is
``String.format("%.2f", bytes / 1e9)`` of the memory request (so ``ram=8``,
8 GiB, reads ``"8.59"``) and ``requestedCPUCores`` the Kubernetes quantity
(``"2"``, ``"1.500"`` for 1500m), both only for fixed-resource sessions; the
events view is ``kubectl get event -o custom-columns=...`` (tabwriter columns:
at least 10 wide, 3 spaces of padding).
"""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

__all__ = [
    "EmulatedSession",
    "java_offset_time",
    "java_split",
    "kubectl_columns",
]

NONE = "<none>"
GIB = 1024**3


def digest(image: str) -> str:
    return "sha256:" + hashlib.sha256(image.encode()).hexdigest()


def java_offset_time(moment: datetime) -> str:
    """``OffsetDateTime.toString()`` of a whole-second UTC instant."""
    moment = moment.astimezone(UTC).replace(microsecond=0)
    text = moment.strftime("%Y-%m-%dT%H:%M")
    if moment.second:
        text += moment.strftime(":%S")
    return text + "Z"


def java_instant(moment: datetime) -> str:
    """``Instant.toString()`` of a whole-second instant."""
    return moment.astimezone(UTC).replace(microsecond=0).strftime("%Y-%m-%dT%H:%M:%SZ")


def java_split(text: str, separator: str) -> list[str]:
    """Java's ``String.split`` on a literal: trailing empty strings are dropped."""
    if text == "":
        return [""]
    parts = text.split(separator)
    while parts and parts[-1] == "":
        parts.pop()
    return parts


def kubectl_columns(header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    """What ``kubectl ... -o custom-columns`` prints (Go tabwriter 10/4/3)."""
    table = [list(header), *[list(r) for r in rows]]
    widths = [max(10, max(len(r[i]) for r in table) + 3) for i in range(len(header) - 1)]
    lines = []
    for row in table:
        cells = [cell.ljust(width) for cell, width in zip(row, widths, strict=False)]
        lines.append("".join(cells) + row[-1])
    return "\n".join(lines) + "\n"


def quantity_cores(cores: float) -> str:
    """``ResourceQuantityFormatter.toCoreUnit`` of the Kubernetes cpu quantity."""
    if float(cores).is_integer():
        return str(int(cores))
    return f"{round(cores * 1000) / 1000:.3f}"


def session_gb(ram_gib: float) -> str:
    """``ResourceQuantityFormatter.toSessionMemoryGb`` of ``{ram}Gi``."""
    return f"{int(ram_gib * GIB) / 1e9:.2f}"


@dataclass
class EmulatedSession:
    id: str
    userid: str
    name: str
    type: str
    image: str
    request_cores: float
    limit_cores: float
    request_ram: float
    limit_ram: float
    gpus: int
    appid: str | None = None
    cmd: str | None = None
    args: str | None = None
    env: dict[str, str] = field(default_factory=dict)
    status: str = "Pending"
    created: datetime = field(default_factory=lambda: datetime.now(UTC))
    expiry: datetime = field(default_factory=lambda: datetime.now(UTC))
    connect_url: str = ""
    uid: int = 20021
    log: bytearray = field(default_factory=bytearray)
    events: list[tuple[str, str, str, datetime]] = field(default_factory=list)
    exit_code: int | None = None
    process: asyncio.subprocess.Process | None = None
    workdir: str | None = None
    released: asyncio.Event = field(default_factory=asyncio.Event)
    tasks: list[asyncio.Task[None]] = field(default_factory=list)

    @property
    def key(self) -> str:
        """The emulator's key: the session id, ``{id}/{appid}`` for a desktop-app."""
        return f"{self.id}/{self.appid}" if self.appid else self.id

    @property
    def fixed(self) -> bool:
        """skaha's ``isFixedResources``: memory request equal to its limit."""
        return self.request_ram == self.limit_ram

    @property
    def pod(self) -> str:
        return f"skaha-{self.type}-{self.userid}-{self.id}-abcde".lower()

    def event(self, kind: str, reason: str, message: str) -> None:
        self.events.append((kind, reason, message, datetime.now(UTC)))

    def events_text(self) -> str:
        """``view=events``: the kubectl table, or ``<none>`` when there are none."""
        if not self.events:
            return NONE + "\n"
        rows = [
            (kind, reason, message, java_instant(at), java_instant(at))
            for kind, reason, message, at in self.events
        ]
        header = ("TYPE", "REASON", "MESSAGE", "FIRST-TIME", "LAST-TIME")
        return kubectl_columns(header, rows) + "\n"

    def to_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "id": self.id,
            "userid": self.userid,
            "runAsUID": str(self.uid),
            "runAsGID": str(self.uid),
            "supplementalGroups": [],
        }
        if self.appid is not None:
            data["appid"] = self.appid
        data.update(
            {
                "image": self.image,
                "type": self.type,
                "status": self.status,
                "name": self.name,
                "startTime": java_offset_time(self.created),
                "expiryTime": java_instant(self.expiry),
                "connectURL": self.connect_url,
            }
        )
        if self.fixed:
            data["requestedRAM"] = session_gb(self.request_ram)
            data["requestedCPUCores"] = quantity_cores(self.request_cores)
        data["requestedGPUCores"] = str(self.gpus)
        data["isFixedResources"] = self.fixed
        return data

    def public_json(self) -> dict[str, Any]:
        """``view=all``: skaha's ``PublicSession``."""
        return {
            "userid": self.userid,
            "type": self.type,
            "status": self.status,
            "startTime": java_offset_time(self.created),
        }
