"""skaha status -> UWS phase, and failure reasons read from Kubernetes events."""

from __future__ import annotations

import pytest
from ivoa_broker_canfar import CanfarAdapter
from ivoa_broker_canfar._states import STATE_MAP, failure_reason, phase_for

from ivoa_broker.protocol import Phase

EVENTS = """\
TYPE     REASON                 MESSAGE                                  FIRST-TIME           LAST-TIME
Normal   Scheduled              Successfully assigned x to node-1        2026-01-01T00:00:00Z 2026-01-01T00:00:00Z
Warning  Failed                 container exited with code 3             2026-01-01T00:00:05Z 2026-01-01T00:00:05Z
Warning  BackoffLimitExceeded   Job has reached the specified backoff limit 2026-01-01T00:00:06Z 2026-01-01T00:00:06Z
"""  # noqa: E501


@pytest.mark.parametrize(
    ("native", "phase"),
    [
        ("Pending", Phase.QUEUED),
        ("Running", Phase.EXECUTING),
        ("Terminating", Phase.EXECUTING),
        ("Succeeded", Phase.COMPLETED),
        ("Completed", Phase.COMPLETED),
        ("Failed", Phase.ERROR),
        ("Error", Phase.ERROR),
        ("Evicted?", Phase.UNKNOWN),
    ],
)
def test_table(native: str, phase: Phase) -> None:
    assert phase_for(native, cancel_requested=False, interactive=False, expired=False) == phase


def test_the_declared_table_is_the_adapters() -> None:
    assert CanfarAdapter.state_map is STATE_MAP
    assert Phase.PENDING not in STATE_MAP.values()


def test_terminating_after_a_cancel_is_aborted() -> None:
    assert (
        phase_for("Terminating", cancel_requested=True, interactive=False, expired=False)
        == Phase.ABORTED
    )


def test_a_finished_job_stays_finished_even_if_cancel_was_asked() -> None:
    assert (
        phase_for("Succeeded", cancel_requested=True, interactive=False, expired=False)
        == Phase.COMPLETED
    )


def test_an_expired_interactive_session_completed() -> None:
    assert phase_for("Failed", cancel_requested=False, interactive=True, expired=True) == (
        Phase.COMPLETED
    )
    # a headless job killed by its deadline did fail
    assert phase_for("Failed", cancel_requested=False, interactive=False, expired=True) == (
        Phase.ERROR
    )


def test_failure_reason_reads_warnings_and_exit_code() -> None:
    message, code, deadline = failure_reason(EVENTS)
    assert code == 3
    assert not deadline
    assert message == (
        "Warning Failed container exited with code 3; "
        "Warning BackoffLimitExceeded Job has reached the specified backoff limit"
    )


def test_failure_reason_without_warnings_or_code() -> None:
    assert failure_reason("TYPE REASON MESSAGE\nNormal Started ok\n") == (None, None, False)


def test_failure_reason_sees_deadline() -> None:
    text = "Warning DeadlineExceeded Job was active longer than specified deadline\n"
    assert failure_reason(text) == (
        "Warning DeadlineExceeded Job was active longer than specified deadline",
        None,
        True,
    )
