from __future__ import annotations

import pytest

from ivoa_broker.phases import ALLOWED_ACTIONS, TERMINAL, Action, actions_in, allowed, can_move
from ivoa_broker.protocol import Phase

P = Phase


@pytest.mark.parametrize(
    ("a", "b"),
    [
        (P.PENDING, P.QUEUED),
        (P.QUEUED, P.EXECUTING),
        (P.EXECUTING, P.COMPLETED),
        (P.QUEUED, P.HELD),
        (P.HELD, P.QUEUED),
        (P.EXECUTING, P.SUSPENDED),
        (P.SUSPENDED, P.EXECUTING),
        (P.PENDING, P.ABORTED),
        (P.ERROR, P.ARCHIVED),
        (P.QUEUED, P.ERROR),
    ],
)
def test_forward_moves_allowed(a: Phase, b: Phase) -> None:
    assert can_move(a, b)


@pytest.mark.parametrize(
    ("a", "b"),
    [
        (P.EXECUTING, P.QUEUED),
        (P.COMPLETED, P.ERROR),
        (P.ABORTED, P.COMPLETED),
        (P.ARCHIVED, P.PENDING),
        (P.QUEUED, P.PENDING),
        (P.EXECUTING, P.EXECUTING),
        (P.QUEUED, P.UNKNOWN),
        (P.COMPLETED, P.EXECUTING),
    ],
)
def test_backward_and_terminal_moves_refused(a: Phase, b: Phase) -> None:
    assert not can_move(a, b)


def test_terminal_only_archives() -> None:
    for t in TERMINAL:
        assert [p for p in Phase if can_move(t, p)] == [P.ARCHIVED]


def test_action_table() -> None:
    assert allowed(Action.RUN, P.PENDING)
    assert allowed(Action.RUN, P.HELD)
    assert not allowed(Action.RUN, P.COMPLETED)
    assert not allowed(Action.ABORT, P.COMPLETED)
    assert not allowed(Action.SET_PARAMETERS, P.QUEUED)
    assert actions_in(P.ARCHIVED) == [Action.DELETE]
    assert set(ALLOWED_ACTIONS) == set(Action)
