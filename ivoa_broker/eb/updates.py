"""Session update documents: what a client may ask, as actions for the lifecycle layer.

``POST /sessions/{uuid}`` carries one ``AbstractUpdate`` (or, before 2025-11,
``{update: {...}}``). This module turns it into one of two actions, or a
:class:`DocumentError` (422) naming the path:

* ``{kind: uri:enum-value-update, path: phase, value: ACCEPTED|REJECTED|CANCELLED}``
  -> :class:`PhaseChange` (``/phase`` and ``state`` are accepted for ``phase``);
* ``{kind: uri:integer-delta-update, path: schedule.available.duration, delta: N,
  units: seconds}`` -> :class:`RuntimeExtension` of N seconds (``minutes``/``hours``
  are converted; ``/schedule/available/duration`` and ``duration`` also accepted).

Whether the action is allowed *now* is the lifecycle layer's decision.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError

from ivoa_broker.eb.errors import DocumentError, from_validation_error
from ivoa_broker.eb.kinds import UpdateKind
from ivoa_broker.eb.model import (
    MAX_DURATION,
    AnyUpdate,
    EnumValueUpdate,
    IntegerDeltaUpdate,
    SessionPhase,
    update_adapter,
)

__all__ = [
    "CLIENT_PHASES",
    "PhaseChange",
    "RuntimeExtension",
    "UpdateAction",
    "accept",
    "cancel",
    "extend",
    "interpret_update",
    "parse_update",
    "reject",
]

#: The phases a client may ask for.
CLIENT_PHASES = frozenset({SessionPhase.ACCEPTED, SessionPhase.REJECTED, SessionPhase.CANCELLED})

_PHASE_PATHS = frozenset({"phase", "/phase", "state", "/state"})
_RUNTIME_PATHS = frozenset(
    {
        "schedule.available.duration",
        "/schedule/available/duration",
        "duration",
        "/duration",
    }
)
_UNITS = {
    None: 1,
    "s": 1,
    "sec": 1,
    "second": 1,
    "seconds": 1,
    "min": 60,
    "minute": 60,
    "minutes": 60,
    "h": 3600,
    "hour": 3600,
    "hours": 3600,
}


@dataclass(frozen=True)
class PhaseChange:
    """Move the session to ``target`` (accept, reject or cancel)."""

    target: SessionPhase


@dataclass(frozen=True)
class RuntimeExtension:
    """Lengthen (or, negative, shorten) the run time by ``seconds``."""

    seconds: int


#: What an update asks the lifecycle layer to do.
UpdateAction = PhaseChange | RuntimeExtension


def _unsupported(detail: str, path: str) -> DocumentError:
    return DocumentError(422, "Unsupported update", detail, path)


def parse_update(data: Any) -> AnyUpdate:
    """Validate a raw update mapping (legacy wrapper and ``type`` accepted)."""
    try:
        result: AnyUpdate = update_adapter().validate_python(data)
        return result
    except ValidationError as exc:
        raise from_validation_error(exc, title="Invalid update") from None


def interpret_update(update: AnyUpdate | Mapping[str, Any]) -> UpdateAction:
    """A validated update (or raw mapping) -> the action it asks for."""
    if not isinstance(update, AnyUpdate):
        update = parse_update(update)
    path = update.path
    if isinstance(update, EnumValueUpdate) and path in _PHASE_PATHS:
        try:
            target = SessionPhase(update.value.upper())
        except ValueError:
            target = None
        if target is None or target not in CLIENT_PHASES:
            allowed = ", ".join(sorted(p.value for p in CLIENT_PHASES))
            raise _unsupported(f"phase {update.value!r} cannot be set (one of {allowed})", "value")
        return PhaseChange(target)
    if isinstance(update, IntegerDeltaUpdate) and path in _RUNTIME_PATHS:
        units = update.units.lower() if update.units else None
        if units not in _UNITS:
            raise _unsupported(f"units {update.units!r} not understood (seconds)", "units")
        seconds = update.delta * _UNITS[units]
        if abs(seconds) > MAX_DURATION.total_seconds():
            raise _unsupported("delta out of range", "delta")
        return RuntimeExtension(seconds)
    return _refuse(update, path)


def _refuse(update: AnyUpdate, path: str) -> UpdateAction:
    raise _unsupported(f"{update.kind} on path {path!r} is not a supported update", "path")


def accept() -> EnumValueUpdate:
    return EnumValueUpdate(kind=UpdateKind.ENUM_VALUE, path="phase", value="ACCEPTED")


def reject() -> EnumValueUpdate:
    return EnumValueUpdate(kind=UpdateKind.ENUM_VALUE, path="phase", value="REJECTED")


def cancel() -> EnumValueUpdate:
    return EnumValueUpdate(kind=UpdateKind.ENUM_VALUE, path="phase", value="CANCELLED")


def extend(seconds: int) -> IntegerDeltaUpdate:
    """A run-time extension of ``seconds``."""
    return IntegerDeltaUpdate(
        kind=UpdateKind.INTEGER_DELTA,
        path="schedule.available.duration",
        delta=seconds,
        units="seconds",
    )
