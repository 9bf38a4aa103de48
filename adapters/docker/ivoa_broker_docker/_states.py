"""Container state -> UWS phase, and a Status from ``/containers/{id}/json``."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from ivoa_broker.protocol import EndReason, Phase, Status, Usage
from ivoa_broker_docker._engine import EngineFacts

__all__ = ["STATE_MAP", "status_from"]

#: Docker's names plus Podman's own (configured, initialized, stopping, stopped).
#: "exited"/"stopped"/"dead" are refined by exit code and OOM in :func:`status_from`.
STATE_MAP: Mapping[str, Phase] = {
    "created": Phase.QUEUED,
    "configured": Phase.QUEUED,
    "initialized": Phase.QUEUED,
    "running": Phase.EXECUTING,
    "restarting": Phase.EXECUTING,
    "removing": Phase.EXECUTING,
    "stopping": Phase.EXECUTING,
    "paused": Phase.SUSPENDED,
    "exited": Phase.COMPLETED,
    "stopped": Phase.COMPLETED,
    "dead": Phase.ERROR,
}
_ENDED = frozenset({"exited", "stopped", "dead"})
_ZERO = "0001-01-01"


def _when(text: Any) -> datetime | None:
    if not isinstance(text, str) or not text or text.startswith(_ZERO):
        return None
    head, _, frac = text.rstrip("Z").partition(".")
    zone = ""
    for sign in ("+", "-"):
        if sign in frac:
            frac, _, rest = frac.partition(sign)
            zone = sign + rest
    micro = ("." + frac[:6]) if frac else ""
    try:
        return datetime.fromisoformat(head + micro + (zone or "+00:00"))
    except ValueError:
        return None


def status_from(
    attrs: Mapping[str, Any],
    facts: EngineFacts,
    *,
    stopped: bool,
    memory_limit: int | None,
    endpoint: str | None = None,
) -> Status:
    state = attrs.get("State") or {}
    native = str(state.get("Status") or "unknown").lower()
    phase = STATE_MAP.get(native, Phase.UNKNOWN)
    started = _when(state.get("StartedAt"))
    ended = _when(state.get("FinishedAt"))
    if native not in _ENDED:
        return Status(
            phase=phase,
            native_state=native,
            started_at=started,
            endpoint=endpoint if phase == Phase.EXECUTING else None,
            message=str(state.get("Error") or "") or None,
        )
    code = int(state.get("ExitCode") or 0)
    signal = code - 128 if code > 128 else None
    elapsed = (ended - started).total_seconds() if started and ended else None
    usage = Usage(elapsed_seconds=elapsed) if elapsed is not None and elapsed >= 0 else None
    common: dict[str, Any] = {
        "native_state": native,
        "exit_code": code,
        "signal": signal,
        "started_at": started,
        "ended_at": ended,
        "usage": usage,
    }
    if stopped:
        return Status(phase=Phase.ABORTED, message="stopped at the broker's request", **common)
    if facts.oom_killed(state, memory_limit is not None, stopped=stopped):
        limit = f" (memory limit {memory_limit} bytes)" if memory_limit else ""
        return Status(
            phase=Phase.ERROR,
            reason=EndReason.OUT_OF_MEMORY,
            message=f"container killed: out of memory{limit}",
            **common,
        )
    if native == "dead":
        return Status(
            phase=Phase.ERROR,
            reason=EndReason.NODE_FAILURE,
            message=str(state.get("Error") or "container is dead"),
            **common,
        )
    if code == 0:
        return Status(phase=Phase.COMPLETED, **common)
    error = str(state.get("Error") or "")
    return Status(
        phase=Phase.ERROR,
        reason=EndReason.EXIT_NONZERO,
        message=error or f"exit code {code}",
        **common,
    )
