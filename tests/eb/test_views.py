from __future__ import annotations

from datetime import datetime, timedelta
from uuid import uuid4

import pytest

from ivoa_broker.eb.convert import offer_session
from ivoa_broker.eb.model import (
    EnumValueOption,
    ExecutionRequestDocument,
    IntegerDeltaOption,
    SessionPhase,
)
from ivoa_broker.eb.updates import CLIENT_PHASES
from ivoa_broker.eb.views import (
    SESSION_PHASE,
    job_options,
    job_session_phase,
    offer_options,
)
from ivoa_broker.phases import TERMINAL, Action, allowed
from ivoa_broker.protocol import Offer, Phase, Resources


def test_every_uws_phase_has_a_session_phase() -> None:
    assert set(SESSION_PHASE) == set(Phase)
    assert job_session_phase(Phase.PENDING) is SessionPhase.ACCEPTED
    assert job_session_phase(Phase.QUEUED) is SessionPhase.WAITING
    assert job_session_phase(Phase.EXECUTING) is SessionPhase.RUNNING
    assert job_session_phase(Phase.ERROR) is SessionPhase.FAILED
    assert job_session_phase(Phase.ABORTED) is SessionPhase.CANCELLED
    assert job_session_phase(Phase.EXECUTING, cancelling=True) is SessionPhase.RELEASING
    assert job_session_phase(Phase.COMPLETED, cancelling=True) is SessionPhase.COMPLETED


def test_offer_options() -> None:
    (only,) = offer_options()
    assert isinstance(only, EnumValueOption)
    assert only.values == ["ACCEPTED", "REJECTED"]
    assert set(only.values) <= {p.value for p in CLIENT_PHASES}
    assert offer_options(SessionPhase.EXPIRED) == []


@pytest.mark.parametrize("phase", list(Phase))
def test_job_options_follow_the_core_transition_table(phase: Phase) -> None:
    options = job_options(phase, extend_max_seconds=3600)
    cancel = [o for o in options if isinstance(o, EnumValueOption)]
    extend = [o for o in options if isinstance(o, IntegerDeltaOption)]
    assert bool(cancel) == allowed(Action.ABORT, phase)
    assert bool(extend) == allowed(Action.SET_DURATION, phase)
    if cancel:
        assert cancel[0].values == ["CANCELLED"]
    if phase in TERMINAL:
        assert options == []
    assert not [o for o in job_options(phase) if isinstance(o, IntegerDeltaOption)]


def test_naive_offer_times_are_taken_as_utc() -> None:
    doc = ExecutionRequestDocument.model_validate(
        {"executable": {"kind": "uri:jupyter-notebook-1.0", "location": "https://x.org/n"}}
    )
    naive = datetime(2026, 1, 1, 12, 0)
    offer = Offer("a", "o", "s", Resources(), start=naive, expires_at=naive + timedelta(hours=1))
    session = offer_session(
        offer, doc, session_id=uuid4(), base_url="https://x.org", created=naive.astimezone()
    )
    assert session.expires is not None
    assert session.expires.utcoffset() == timedelta(0)
