"""Waiting on a broker over HTTP, as a UWS client does: blocking GETs, not sleeps.

For the end-to-end tests that drive a real broker process (the adapter's test through
``ivoa-broker serve``). :func:`wait_phase` waits for a job's phase, :func:`wait_session`
for an ExecutionBroker session (its phase, or anything in its document), and
:func:`accept_offer` accepts an offer as a client does (the session's phase update);
:func:`session_results` and :func:`messages_of` read a session's results and a document's
messages. Between two
looks both block in a UWS 1.1 ``WAIT`` (with ``PHASE`` = the phase just seen), which
the broker answers as soon as the job changes (phase or jobInfo). UWS lets WAIT block
only in PENDING, QUEUED and EXECUTING; in the other phases (HELD, SUSPENDED, or a job
that ended while its session is still RELEASING) they look again after a short pause.

Both take a synchronous ``httpx.Client``; their bounds (``limit``) are hang guards, not
timed assertions.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Collection, Mapping
from typing import Any

import httpx

from ivoa_broker.phases import BLOCKING, can_move
from ivoa_broker.protocol import Phase

__all__ = ["ACCEPT", "accept_offer", "messages_of", "session_results", "wait_phase", "wait_session"]

_JSON = {"Accept": "application/json"}
#: seconds one blocking GET asks for at most (the broker's ``jobs.wait_cap`` may cut it)
_WAIT = 10
#: seconds between looks where WAIT cannot block
_PAUSE = 0.2
_PHASES = frozenset(p.value for p in Phase)
#: the ExecutionBroker update that accepts an offer (``POST /sessions/{uuid}``)
ACCEPT: Mapping[str, str] = {"kind": "uri:enum-value-update", "path": "phase", "value": "ACCEPTED"}


def accept_offer(http: httpx.Client, session: str) -> dict[str, Any]:
    """Accept the offer whose session is ``session`` (its ``meta.uuid``); the session's
    document as the broker answers it. Fails with the broker's answer unless it is 200."""
    answer = http.post(f"/sessions/{session}", json=dict(ACCEPT), headers=_JSON)
    assert answer.status_code == 200, f"accepting {session}: {answer.status_code} {answer.text}"
    document: dict[str, Any] = answer.json()
    return document


def session_results(http: httpx.Client, session: str) -> dict[str, str]:
    """The results of an ExecutionBroker session (``meta.messages`` with the ``result``
    template): result id -> URL."""
    document = http.get(f"/sessions/{session}", headers=_JSON).json()
    return {
        m["values"]["id"]: m["values"]["url"]
        for m in document["meta"].get("messages", [])
        if m.get("template") == "result"
    }


def messages_of(document: Mapping[str, Any]) -> str:
    """The text of a document's ``meta.messages`` (an offer set's reasons, say), joined."""
    return " ".join(m.get("message", "") for m in document.get("meta", {}).get("messages", []))


def wait_phase(
    http: httpx.Client, job_url: str, phases: Collection[str], limit: float = 240.0
) -> str:
    """The job's phase (``GET {job_url}/phase``) once it is one of ``phases``.

    Raises :class:`AssertionError` after ``limit`` seconds, or at once when the job is
    in a phase from which none of ``phases`` can be reached (it ended otherwise).
    """
    deadline = time.monotonic() + limit
    while True:
        phase = http.get(f"{job_url}/phase").text
        if phase in phases:
            return phase
        if not _reachable(phase, phases):
            raise AssertionError(f"{job_url} is {phase}; it cannot become {sorted(phases)}")
        remaining = deadline - time.monotonic()
        assert remaining > 0, f"{job_url} stuck in {phase}"
        _block(http, job_url, phase, remaining)


def wait_session(
    http: httpx.Client,
    session_id: str,
    phases: Collection[str] = (),
    *,
    until: Callable[[Mapping[str, Any]], bool] | None = None,
    limit: float = 120.0,
) -> dict[str, Any]:
    """The ExecutionBroker session document (``GET /sessions/{id}``, JSON) once its
    phase is one of ``phases`` or ``until(document)`` is true.

    ``http`` has the broker as its ``base_url``; the session's job (``/jobs/{id}``,
    the same id) is where it blocks. Raises :class:`AssertionError` after ``limit``
    seconds.
    """
    if not phases and until is None:
        raise ValueError("wait_session needs phases or until")
    deadline = time.monotonic() + limit
    job_url = f"/jobs/{session_id}"
    while True:
        doc: dict[str, Any] = http.get(f"/sessions/{session_id}", headers=_JSON).json()
        if doc.get("phase") in phases or (until is not None and until(doc)):
            return doc
        remaining = deadline - time.monotonic()
        assert remaining > 0, f"session {session_id} stuck: {doc}"
        _block(http, job_url, http.get(f"{job_url}/phase").text, remaining)


def _reachable(phase: str, wanted: Collection[str]) -> bool:
    if phase not in _PHASES:  # not a UWS phase (an error page?): let the deadline decide
        return True
    return any(w in _PHASES and can_move(Phase(phase), Phase(w)) for w in wanted)


def _block(http: httpx.Client, job_url: str, phase: str, remaining: float) -> None:
    """One blocking GET of the job in ``phase``; a short pause where WAIT cannot block."""
    if phase not in BLOCKING:
        time.sleep(min(_PAUSE, remaining))
        return
    seconds = max(1, min(_WAIT, int(remaining) + 1))
    http.get(job_url, params={"WAIT": seconds, "PHASE": phase}, timeout=seconds + 30)
