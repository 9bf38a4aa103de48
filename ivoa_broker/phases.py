"""The one phase state machine, shared by the UWS and ExecutionBroker views.

Phases move forward only: PENDING < {QUEUED, HELD} < {EXECUTING, SUSPENDED} <
{COMPLETED, ERROR, ABORTED} < ARCHIVED. HELD<->QUEUED and EXECUTING<->SUSPENDED
may go either way. UNKNOWN is never stored as a job phase: it is how an adapter
says "cannot tell right now", handled by the dispatcher as a retry counter.
"""

from __future__ import annotations

from collections.abc import Mapping
from enum import StrEnum

from ivoa_broker.protocol import Phase

TERMINAL: frozenset[Phase] = frozenset({Phase.COMPLETED, Phase.ERROR, Phase.ABORTED})
#: phases in which a GET with WAIT may block (UWS 1.1 §2.2.1.2)
BLOCKING: frozenset[Phase] = frozenset({Phase.PENDING, Phase.QUEUED, Phase.EXECUTING})
#: phases in which the platform holds (or may hold) resources for the job
RUNNING: frozenset[Phase] = frozenset({Phase.QUEUED, Phase.EXECUTING, Phase.HELD, Phase.SUSPENDED})

_RANK: Mapping[Phase, int] = {
    Phase.PENDING: 0,
    Phase.QUEUED: 1,
    Phase.HELD: 1,
    Phase.EXECUTING: 2,
    Phase.SUSPENDED: 2,
    Phase.COMPLETED: 3,
    Phase.ERROR: 3,
    Phase.ABORTED: 3,
    Phase.ARCHIVED: 4,
}


def can_move(current: Phase, new: Phase) -> bool:
    """True if a job in ``current`` may move to ``new`` (a no-op move is not a move)."""
    if current == new or Phase.UNKNOWN in (current, new):
        return False
    if current in TERMINAL:
        return new is Phase.ARCHIVED
    if current is Phase.ARCHIVED:
        return False
    return _RANK[new] >= _RANK[current]


class Action(StrEnum):
    """What a client may ask of a job (UWS PHASE values, DELETE, EB updates)."""

    RUN = "RUN"
    ABORT = "ABORT"
    DELETE = "DELETE"
    SET_PARAMETERS = "SET_PARAMETERS"
    SET_DURATION = "SET_DURATION"
    SET_DESTRUCTION = "SET_DESTRUCTION"


#: The phases each client action is legal in. The 4xx answers, the EB
#: ``meta.options`` list and the docs are all generated from this table.
ALLOWED_ACTIONS: Mapping[Action, frozenset[Phase]] = {
    Action.RUN: frozenset({Phase.PENDING, Phase.HELD}),
    Action.ABORT: frozenset(
        {Phase.PENDING, Phase.QUEUED, Phase.EXECUTING, Phase.HELD, Phase.SUSPENDED}
    ),
    Action.DELETE: frozenset(Phase),
    Action.SET_PARAMETERS: frozenset({Phase.PENDING}),
    Action.SET_DURATION: frozenset(
        {Phase.PENDING, Phase.QUEUED, Phase.EXECUTING, Phase.HELD, Phase.SUSPENDED}
    ),
    Action.SET_DESTRUCTION: frozenset(Phase) - {Phase.ARCHIVED},
}


def allowed(action: Action, phase: Phase) -> bool:
    return phase in ALLOWED_ACTIONS[action]


def actions_in(phase: Phase) -> list[Action]:
    """The client actions legal in ``phase``, in table order."""
    return [a for a, phases in ALLOWED_ACTIONS.items() if phase in phases]
