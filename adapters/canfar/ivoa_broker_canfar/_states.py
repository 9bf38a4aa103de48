"""skaha session status -> UWS phase: the declared table and the few rules around it.

skaha derives a session's ``status`` from its Kubernetes Job
(``SessionBuilder.withStatus``): ``Pending``, ``Running``, ``Terminating``, and
at the end ``Completed`` (``Succeeded`` in older servers) or ``Failed``
(``Error`` in older clients' vocabulary).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from types import MappingProxyType

from ivoa_broker.protocol import Phase

STATE_MAP: Mapping[str, Phase] = MappingProxyType(
    {
        "Pending": Phase.QUEUED,
        "Running": Phase.EXECUTING,
        # being deleted: still running until gone; ABORTED when the broker asked
        "Terminating": Phase.EXECUTING,
        "Succeeded": Phase.COMPLETED,
        "Completed": Phase.COMPLETED,
        "Failed": Phase.ERROR,
        "Error": Phase.ERROR,
        "Unknown": Phase.UNKNOWN,
    }
)

#: native state reported for a session that is no longer listed after a cancel
GONE = "Deleted"

_EXIT = re.compile(r"exit(?:ed with)? code[: ]+(-?\d+)", re.IGNORECASE)
_INSTANT = re.compile(r"\s*\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d+)?Z?")
_DEADLINE = re.compile(r"DeadlineExceeded", re.IGNORECASE)


def phase_for(native: str, *, cancel_requested: bool, interactive: bool, expired: bool) -> Phase:
    """The UWS phase of a listed session.

    * ``Terminating`` is ABORTED when the broker asked for the cancel, else
      still EXECUTING (it becomes COMPLETED/gone later).
    * An interactive session that ``Failed`` because it reached its expiry
      time (Kubernetes ``DeadlineExceeded``) ended normally: COMPLETED.
    """
    phase = STATE_MAP.get(native, Phase.UNKNOWN)
    if native == "Terminating" and cancel_requested:
        return Phase.ABORTED
    if phase is Phase.ERROR and interactive and expired:
        return Phase.COMPLETED
    return phase


def failure_reason(events: str) -> tuple[str | None, int | None, bool]:
    """``(message, exit_code, deadline_exceeded)`` read from ``view=events`` text.

    The message joins the ``Warning`` lines (Kubernetes event table); the exit
    code is taken from a line saying ``exit code N``/``exited with code N``
    when there is one.
    """
    lines = [" ".join(_INSTANT.sub("", line).split()) for line in events.splitlines()]
    warnings = [line for line in lines if line.startswith("Warning")]
    match = None
    for match in _EXIT.finditer(events):  # noqa: B007 - keep the last one
        pass
    exit_code = int(match.group(1)) if match else None
    message = "; ".join(warnings) if warnings else None
    return message, exit_code, bool(_DEADLINE.search(events))
