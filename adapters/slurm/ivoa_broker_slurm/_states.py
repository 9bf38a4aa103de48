"""Slurm job states -> UWS phases, and why a job ended (``man squeue``, JOB STATE CODES)."""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType

from ivoa_broker.protocol import EndReason, Phase

STATE_MAP: Mapping[str, Phase] = MappingProxyType(
    {
        "PENDING": Phase.QUEUED,
        "CONFIGURING": Phase.QUEUED,
        "REQUEUED": Phase.QUEUED,
        "REQUEUE_FED": Phase.QUEUED,
        "RESV_DEL_HOLD": Phase.HELD,
        "REQUEUE_HOLD": Phase.HELD,
        "RUNNING": Phase.EXECUTING,
        "COMPLETING": Phase.EXECUTING,
        "RESIZING": Phase.EXECUTING,
        "SIGNALING": Phase.EXECUTING,
        "STAGE_OUT": Phase.EXECUTING,
        "SUSPENDED": Phase.SUSPENDED,
        "STOPPED": Phase.SUSPENDED,
        "COMPLETED": Phase.COMPLETED,
        "CANCELLED": Phase.ABORTED,
        "FAILED": Phase.ERROR,
        "TIMEOUT": Phase.ERROR,
        "OUT_OF_MEMORY": Phase.ERROR,
        "NODE_FAIL": Phase.ERROR,
        "BOOT_FAIL": Phase.ERROR,
        "DEADLINE": Phase.ERROR,
        "PREEMPTED": Phase.ERROR,
        "REVOKED": Phase.ERROR,
        "SPECIAL_EXIT": Phase.ERROR,
    }
)

#: the Reason of a pending job that a user or an administrator holds it
HELD_REASONS = frozenset({"JobHeldUser", "JobHeldAdmin"})

END_REASONS: Mapping[str, EndReason] = MappingProxyType(
    {
        "FAILED": EndReason.EXIT_NONZERO,
        "TIMEOUT": EndReason.TIMEOUT,
        "OUT_OF_MEMORY": EndReason.OUT_OF_MEMORY,
        "NODE_FAIL": EndReason.NODE_FAILURE,
        "BOOT_FAIL": EndReason.BOOT_FAILURE,
        "DEADLINE": EndReason.DEADLINE,
        "PREEMPTED": EndReason.PREEMPTED,
        "REVOKED": EndReason.CANCELLED_BY_PLATFORM,
        "SPECIAL_EXIT": EndReason.EXIT_NONZERO,
    }
)

#: words for the error message of a job that did not complete
END_WORDS: Mapping[str, str] = MappingProxyType(
    {
        "FAILED": "the job exited with a non-zero code",
        "TIMEOUT": "the job reached its time limit (TIMEOUT)",
        "OUT_OF_MEMORY": "the job used more memory than it asked for (OUT_OF_MEMORY)",
        "NODE_FAIL": "a node of the job failed (NODE_FAIL)",
        "BOOT_FAIL": "a node of the job failed to boot (BOOT_FAIL)",
        "DEADLINE": "the job reached its deadline (DEADLINE)",
        "PREEMPTED": "the job was preempted (PREEMPTED)",
        "REVOKED": "the job was revoked by a federated cluster (REVOKED)",
        "SPECIAL_EXIT": "the job ended in SPECIAL_EXIT",
        "CANCELLED": "the job was cancelled on the cluster (CANCELLED)",
    }
)


def base_state(text: str) -> str:
    """``CANCELLED by 0`` -> ``CANCELLED``; ``RUNNING+`` or flags -> the state word."""
    word = text.strip().split(" ", 1)[0].rstrip("+")
    return word.upper()


def phase_of(state: str, reason: str | None) -> Phase:
    phase = STATE_MAP.get(state, Phase.UNKNOWN)
    if phase is Phase.QUEUED and reason in HELD_REASONS:
        return Phase.HELD
    return phase


def end_reason(state: str, cancel_requested: bool) -> EndReason | None:
    if state == "CANCELLED":
        return None if cancel_requested else EndReason.CANCELLED_BY_PLATFORM
    return END_REASONS.get(state)
