"""What skaha v1 sends back, parsed into frozen dataclasses.

skaha serialises with Gson: unknown values are the string ``"<none>"``,
numbers come as strings (``"2G"``) and times as ISO instants. Anything that
does not have the documented shape is a :class:`FatalError` naming the call.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from ivoa_broker.protocol import FatalError

NONE = "<none>"


def _text(value: Any) -> str | None:
    if value is None or value == NONE or value == "":
        return None
    return str(value)


def _instant(value: Any) -> datetime | None:
    text = _text(value)
    if text is None:
        return None
    try:
        return datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None


def garbage(what: str, body: object) -> FatalError:
    sample = repr(body)
    if len(sample) > 120:
        sample = sample[:117] + "..."
    return FatalError(
        f"CANFAR answered {what} with an unexpected body; is the URL a skaha v1 service?",
        detail=f"body starts {sample}",
    )


@dataclass(frozen=True)
class SessionInfo:
    """One entry of ``GET /v1/session`` (or ``GET /v1/session/{id}``)."""

    id: str
    name: str
    status: str
    type: str
    image: str | None = None
    userid: str | None = None
    start_time: datetime | None = None
    expiry_time: datetime | None = None
    connect_url: str | None = None

    @classmethod
    def parse(cls, data: Any, what: str) -> SessionInfo:
        if not isinstance(data, dict):
            raise garbage(what, data)
        ident, status = data.get("id"), data.get("status")
        if not isinstance(ident, str) or not ident or not isinstance(status, str):
            raise garbage(what, data)
        return cls(
            id=ident,
            name=_text(data.get("name")) or "",
            status=status,
            type=_text(data.get("type")) or "headless",
            image=_text(data.get("image")),
            userid=_text(data.get("userid")),
            start_time=_instant(data.get("startTime")),
            expiry_time=_instant(data.get("expiryTime")),
            connect_url=_text(data.get("connectURL")),
        )

    @classmethod
    def parse_list(cls, data: Any, what: str) -> list[SessionInfo]:
        if not isinstance(data, list):
            raise garbage(what, data)
        return [cls.parse(item, what) for item in data]


@dataclass(frozen=True)
class ImageInfo:
    """One entry of ``GET /v1/image``."""

    id: str
    types: tuple[str, ...]

    @classmethod
    def parse_list(cls, data: Any, what: str) -> list[ImageInfo]:
        if not isinstance(data, list):
            raise garbage(what, data)
        images = []
        for item in data:
            if not isinstance(item, dict) or not isinstance(item.get("id"), str):
                raise garbage(what, item)
            types = item.get("types") or []
            if not isinstance(types, list):
                raise garbage(what, item)
            images.append(cls(id=item["id"], types=tuple(str(t) for t in types)))
        return images


def _options(data: Any, key: str, what: str) -> tuple[int, ...]:
    block = data.get(key)
    if block is None:
        return ()
    if not isinstance(block, dict):
        raise garbage(what, data)
    raw = block.get("options") or []
    if not isinstance(raw, Sequence) or isinstance(raw, str):
        raise garbage(what, data)
    try:
        return tuple(sorted({int(v) for v in raw}))
    except (TypeError, ValueError):
        raise garbage(what, data) from None


@dataclass(frozen=True)
class ContextInfo:
    """``GET /v1/context``: the resource values a session may ask for."""

    cores: tuple[int, ...]
    memory_gb: tuple[int, ...]
    gpus: tuple[int, ...]
    max_interactive_sessions: int | None = None

    @classmethod
    def parse(cls, data: Any, what: str) -> ContextInfo:
        if not isinstance(data, dict) or "cores" not in data or "memoryGB" not in data:
            raise garbage(what, data)
        limit = data.get("maxInteractiveSessions")
        try:
            max_sessions = int(limit) if isinstance(limit, int | str) else None
        except ValueError:
            raise garbage(what, data) from None
        return cls(
            cores=_options(data, "cores", what),
            memory_gb=_options(data, "memoryGB", what),
            gpus=_options(data, "gpus", what),
            max_interactive_sessions=max_sessions,
        )
