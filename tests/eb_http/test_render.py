"""The session view helpers of ivoa_broker.web.eb (pure functions)."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime

from ivoa_broker.eb.model import ConnectorProtocol, ConnectorStatus
from ivoa_broker.protocol import Phase
from ivoa_broker.records import Job
from ivoa_broker.web.eb import connectors, releasing

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def job(phase: Phase, platform: str | None = "box", **info: str) -> Job:
    return Job("j", "alice", phase, T0, platform=platform, job_info=info)


def test_connector_follows_the_job() -> None:
    url = "https://nb.example.org/session/1?token=x"
    (running,) = connectors(job(Phase.EXECUTING, endpoint=url))
    assert running.status is ConnectorStatus.AVAILABLE
    assert running.protocol is ConnectorProtocol.HTTPS
    assert running.location == url
    assert connectors(job(Phase.QUEUED, endpoint=url))[0].status is ConnectorStatus.PREPARING
    assert connectors(job(Phase.COMPLETED, endpoint=url))[0].status is ConnectorStatus.FINISHED
    assert connectors(job(Phase.EXECUTING, endpoint="tcp://h:22"))[0].protocol is (
        ConnectorProtocol.TCP
    )
    assert connectors(job(Phase.EXECUTING)) == []
    assert connectors(job(Phase.EXECUTING, endpoint="not a url")) == []
    assert connectors(job(Phase.EXECUTING, endpoint="https://\x00bad")) == []


def test_releasing_until_the_platform_confirms() -> None:
    why = "aborted at the owner's request"

    def aborted(phase: Phase = Phase.ABORTED, **changes: object) -> Job:
        return replace(job(phase), abort_reason=why, **changes)  # type: ignore[arg-type]

    assert releasing(aborted())
    assert not releasing(aborted(released=T0))
    assert not releasing(aborted(platform=None))  # never submitted
    assert not releasing(job(Phase.ABORTED))  # the platform ended it first
    assert not releasing(aborted(Phase.EXECUTING))
