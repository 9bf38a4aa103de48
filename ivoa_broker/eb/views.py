"""The ExecutionBroker view of a job: session phase and ``meta.options``.

docs/architecture.md: a job is one record with two views. This module derives the
EB session phase from the job's UWS phase and the EB options from the core's one
transition table (:mod:`ivoa_broker.phases`), so the UWS 4xx answers and the EB
``options`` list cannot disagree.

UWS phase -> session phase:

=========== =========================================================
PENDING     ACCEPTED (the offer was accepted; the job has not started)
QUEUED      WAITING
HELD        WAITING   (extension: held by the platform)
EXECUTING   RUNNING   (RELEASING while a cancel is being carried out)
SUSPENDED   WAITING   (extension: paused by the platform)
COMPLETED   COMPLETED
ERROR       FAILED
ABORTED     CANCELLED (RELEASING until the platform confirms the task has ended)
ARCHIVED    COMPLETED (extension: the job ended and its results were removed;
            the UWS view keeps the outcome)
UNKNOWN     never stored for a job (see ``ivoa_broker.phases``); shown as WAITING
=========== =========================================================

Offers that are not (yet) jobs are OFFERED, REJECTED or EXPIRED; their phase is
the offer's own state, and :func:`offer_options` lists what may be set then.
"""

from __future__ import annotations

from collections.abc import Mapping

from ivoa_broker.eb.convert import phase_options
from ivoa_broker.eb.model import Option, SessionPhase
from ivoa_broker.phases import Action, actions_in
from ivoa_broker.protocol import Phase

__all__ = ["SESSION_PHASE", "job_options", "job_session_phase", "offer_options"]

SESSION_PHASE: Mapping[Phase, SessionPhase] = {
    Phase.PENDING: SessionPhase.ACCEPTED,
    Phase.QUEUED: SessionPhase.WAITING,
    Phase.HELD: SessionPhase.WAITING,
    Phase.EXECUTING: SessionPhase.RUNNING,
    Phase.SUSPENDED: SessionPhase.WAITING,
    Phase.COMPLETED: SessionPhase.COMPLETED,
    Phase.ERROR: SessionPhase.FAILED,
    Phase.ABORTED: SessionPhase.CANCELLED,
    Phase.ARCHIVED: SessionPhase.COMPLETED,
    Phase.UNKNOWN: SessionPhase.WAITING,
}


def job_session_phase(phase: Phase, *, cancelling: bool = False) -> SessionPhase:
    """The session phase of a job.

    ``cancelling`` (an abort was asked and the platform is still busy) gives RELEASING,
    also once the job is ABORTED in UWS (ABORT answers at once) until the platform
    has confirmed the end.
    """
    if cancelling and phase in (
        Phase.QUEUED,
        Phase.EXECUTING,
        Phase.HELD,
        Phase.SUSPENDED,
        Phase.ABORTED,
    ):
        return SessionPhase.RELEASING
    return SESSION_PHASE[phase]


def offer_options(phase: SessionPhase = SessionPhase.OFFERED) -> list[Option]:
    """While OFFERED a client may accept or reject; afterwards an unaccepted offer has none."""
    if phase is SessionPhase.OFFERED:
        return phase_options([SessionPhase.ACCEPTED, SessionPhase.REJECTED])
    return []


def job_options(phase: Phase, *, extend_max_seconds: int | None = None) -> list[Option]:
    """``meta.options`` of a job's session, from :data:`ivoa_broker.phases.ALLOWED_ACTIONS`.

    ABORT allowed -> ``phase`` may be set to CANCELLED; SET_DURATION allowed and
    ``extend_max_seconds`` given -> the run time may be extended by up to that.
    """
    actions = actions_in(phase)
    cancel = [SessionPhase.CANCELLED] if Action.ABORT in actions else []
    extend = extend_max_seconds if Action.SET_DURATION in actions else None
    return phase_options(cancel, extend_max_seconds=extend)
