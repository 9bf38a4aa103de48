"""Waiting on a broker over HTTP: blocking GETs carry the phase seen, no WAIT where UWS
cannot block, a job that ended otherwise fails at once (a scripted broker on
``httpx.MockTransport``)."""

from __future__ import annotations

import json
from collections.abc import Iterator

import httpx
import pytest

from ivoa_broker.testing.broker_http import (
    accept_offer,
    messages_of,
    session_results,
    wait_phase,
    wait_session,
)

SESSION = {"Accept": "application/json"}


class ScriptedJob:
    """Job ``j``: each blocking GET moves it to the next of ``phases`` (a look at it
    HELD does, as the platform would during the helper's pause); records the blocking
    GETs' parameters."""

    def __init__(self, *phases: str, connectors_at: str | None = None) -> None:
        self.phases: Iterator[str] = iter(phases)
        self.phase = next(self.phases)
        self.connectors_at = connectors_at
        self.waits: list[dict[str, str]] = []

    def advance(self) -> None:
        self.phase = next(self.phases, self.phase)

    def handle(self, request: httpx.Request) -> httpx.Response:
        path = request.url.path
        if path == "/jobs/j/phase":
            seen = self.phase
            if seen == "HELD":
                self.advance()
            return httpx.Response(200, text=seen)
        if path == "/jobs/j" and "WAIT" in request.url.params:
            self.waits.append(dict(request.url.params))
            self.advance()
            return httpx.Response(200, text="<uws:job/>")
        if path == "/sessions/j":
            eb = {"EXECUTING": "RUNNING", "COMPLETED": "COMPLETED"}.get(self.phase, "WAITING")
            doc: dict[str, object] = {"phase": eb}
            if self.connectors_at is not None and self.phase == self.connectors_at:
                doc["connectors"] = [{"location": "http://x"}]
            return httpx.Response(200, json=doc)
        return httpx.Response(404)

    def client(self) -> httpx.Client:
        return httpx.Client(base_url="http://broker", transport=httpx.MockTransport(self.handle))


def test_each_wait_blocks_on_the_phase_just_seen() -> None:
    job = ScriptedJob("PENDING", "QUEUED", "EXECUTING", "COMPLETED")
    with job.client() as http:
        assert wait_phase(http, "/jobs/j", {"COMPLETED", "ERROR"}) == "COMPLETED"
    assert [w["PHASE"] for w in job.waits] == ["PENDING", "QUEUED", "EXECUTING"]
    assert all(1 <= int(w["WAIT"]) <= 10 for w in job.waits)


def test_no_wait_where_uws_cannot_block() -> None:
    job = ScriptedJob("HELD", "QUEUED", "COMPLETED")
    with job.client() as http:
        assert wait_phase(http, "/jobs/j", {"COMPLETED"}) == "COMPLETED"
    assert [w["PHASE"] for w in job.waits] == ["QUEUED"]


def test_a_job_that_ended_otherwise_fails_at_once() -> None:
    job = ScriptedJob("EXECUTING", "ERROR")
    with job.client() as http, pytest.raises(AssertionError, match="ERROR; it cannot become"):
        wait_phase(http, "/jobs/j", {"COMPLETED"}, limit=600)
    assert len(job.waits) == 1


def test_an_ended_job_may_still_be_archived() -> None:
    job = ScriptedJob("COMPLETED")
    with job.client() as http, pytest.raises(AssertionError, match="stuck in COMPLETED"):
        wait_phase(http, "/jobs/j", {"ARCHIVED"}, limit=0.3)
    assert job.waits == []


def test_session_waits_on_its_job_until_the_document_matches() -> None:
    job = ScriptedJob("QUEUED", "EXECUTING", "COMPLETED")
    with job.client() as http:
        assert wait_session(http, "j", {"COMPLETED"})["phase"] == "COMPLETED"
    assert [w["PHASE"] for w in job.waits] == ["QUEUED", "EXECUTING"]


def test_session_until_a_predicate_holds() -> None:
    job = ScriptedJob("QUEUED", "EXECUTING", connectors_at="EXECUTING")
    with job.client() as http:
        doc = wait_session(http, "j", until=lambda d: bool(d.get("connectors")))
    assert doc["connectors"] == [{"location": "http://x"}]


def test_session_needs_something_to_wait_for() -> None:
    with ScriptedJob("QUEUED").client() as http, pytest.raises(ValueError, match="phases or until"):
        wait_session(http, "j")


def test_accept_offer_posts_the_phase_update_and_fails_with_the_brokers_answer() -> None:
    seen: list[tuple[str, bytes]] = []

    def handle(request: httpx.Request) -> httpx.Response:
        seen.append((request.url.path, request.content))
        if request.url.path == "/sessions/s1":
            return httpx.Response(200, json={"phase": "ACCEPTED"})
        return httpx.Response(409, text="offer s2 expired")

    with httpx.Client(base_url="http://b", transport=httpx.MockTransport(handle)) as http:
        assert accept_offer(http, "s1") == {"phase": "ACCEPTED"}
        with pytest.raises(AssertionError, match="409 offer s2 expired"):
            accept_offer(http, "s2")
    assert json.loads(seen[0][1]) == {
        "kind": "uri:enum-value-update",
        "path": "phase",
        "value": "ACCEPTED",
    }


def test_session_results_and_messages_read_the_documents_meta() -> None:
    session = {
        "meta": {
            "messages": [
                {"template": "result", "values": {"id": "stdout", "url": "http://b/r/stdout"}},
                {"level": "INFO", "message": "started"},
            ]
        }
    }

    def handle(request: httpx.Request) -> httpx.Response:
        assert request.url.path == "/sessions/s1"
        return httpx.Response(200, json=session)

    with httpx.Client(base_url="http://b", transport=httpx.MockTransport(handle)) as http:
        assert session_results(http, "s1") == {"stdout": "http://b/r/stdout"}
    offerset = {"meta": {"messages": [{"message": "no engine"}, {"message": "off"}]}}
    assert messages_of(offerset) == "no engine off"
    assert messages_of({}) == ""
