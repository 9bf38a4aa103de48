"""Checklist items 45-51: blocking GET with WAIT."""

from __future__ import annotations

import asyncio
import time

from ivoa_broker_conformance.jobs import JobDoc, finished_job, get_job, pending_job, post_phase
from ivoa_broker_conformance.model import Level
from ivoa_broker_conformance.probe import CheckRun
from ivoa_broker_conformance.registry import check

#: a request that should return "immediately" must do so within this many seconds
IMMEDIATE = 1.5
#: WAIT=-1 must return within this server cap (s)
WAIT_FOREVER_CAP = 60.0


async def _timed_wait(
    t: CheckRun, url: str, params: list[tuple[str, str]], timeout: float
) -> tuple[JobDoc, float]:
    start = time.monotonic()
    doc = await get_job(t, url, params=params, timeout=timeout)
    return doc, time.monotonic() - start


@check("UWS-45", "WAIT=2 on an idle PENDING job blocks about 2 s", "UWS 1.1 §2.2.1.2", Level.SHOULD)
async def wait_blocks(t: CheckRun) -> None:
    doc = await pending_job(t)
    _, elapsed = await _timed_wait(t, doc.url, [("WAIT", "2")], 2 + t.config.wait_slack + 10)
    t.note(f"WAIT=2 returned after {elapsed:.2f} s")
    t.expect(elapsed >= 1.9, f"WAIT=2 returned after {elapsed:.2f} s: WAIT is ignored")
    t.expect(elapsed < 2 + t.config.wait_slack, f"WAIT=2 took {elapsed:.2f} s")


@check(
    "UWS-46",
    "WAIT=10 returns soon after a phase change, showing the new phase",
    "UWS 1.1 §2.2.1.2",
    Level.SHOULD,
)
async def wait_wakes(t: CheckRun) -> None:
    doc = await pending_job(t)

    async def change() -> None:
        await asyncio.sleep(0.5)
        await post_phase(t, doc.url, "RUN")

    start = time.monotonic()
    waited, _ = await asyncio.gather(
        get_job(t, doc.url, params=[("WAIT", "10")], timeout=10 + t.config.request_timeout),
        change(),
    )
    elapsed = time.monotonic() - start
    t.note(f"WAIT=10 returned after {elapsed:.2f} s with phase {waited.phase}")
    t.expect(
        waited.phase != "PENDING",
        f"WAIT=10 returned PENDING after {elapsed:.2f} s although RUN was posted at 0.5 s",
    )
    t.expect(elapsed < 10 - 2, f"WAIT=10 returned only after {elapsed:.2f} s")


@check(
    "UWS-47",
    "WAIT=10&PHASE=QUEUED on a job not QUEUED returns immediately",
    "UWS 1.1 §2.2.1.2 (must support the PHASE mechanism)",
    Level.MUST,
)
async def wait_phase_guard(t: CheckRun) -> None:
    doc = await pending_job(t)
    _, elapsed = await _timed_wait(
        t, doc.url, [("WAIT", "10"), ("PHASE", "QUEUED")], 10 + t.config.request_timeout
    )
    t.note(f"returned after {elapsed:.2f} s")
    t.expect(elapsed < IMMEDIATE, f"WAIT=10&PHASE=QUEUED on a PENDING job blocked {elapsed:.2f} s")


@check(
    "UWS-48",
    "WAIT=10 on a finished job returns immediately",
    "UWS 1.1 §2.2.1.2 (block only in active phases)",
    Level.MUST,
)
async def wait_finished(t: CheckRun) -> None:
    doc = await finished_job(t, "quick")
    _, elapsed = await _timed_wait(t, doc.url, [("WAIT", "10")], 10 + t.config.request_timeout)
    t.expect(elapsed < IMMEDIATE, f"WAIT=10 on a {doc.phase} job blocked {elapsed:.2f} s")


@check(
    "UWS-49",
    "WAIT=-1 returns within the server's cap (< 60 s)",
    "UWS 1.1 §2.2.1.2; pyvo #784",
    Level.SHOULD,
)
async def wait_forever(t: CheckRun) -> None:
    doc = await pending_job(t)
    try:
        _, elapsed = await _timed_wait(t, doc.url, [("WAIT", "-1")], WAIT_FOREVER_CAP + 5)
    except Exception as exc:
        t.fail(f"WAIT=-1 did not return a job within {WAIT_FOREVER_CAP:.0f} s: {exc}")
    t.note(f"WAIT=-1 on an idle PENDING job returned after {elapsed:.2f} s")
    t.expect(elapsed < WAIT_FOREVER_CAP, f"WAIT=-1 blocked {elapsed:.2f} s")


@check("UWS-50", "WAIT=abc gives 4xx; WAIT=0 returns immediately", "UWS 1.1 §2.2.1.2", Level.SHOULD)
async def wait_values(t: CheckRun) -> None:
    doc = await pending_job(t)
    r = await t.get(doc.url, params=[("WAIT", "abc")])
    t.expect(400 <= r.status_code < 500, f"WAIT=abc answered {r.status_code}, expected 4xx")
    _, elapsed = await _timed_wait(t, doc.url, [("WAIT", "0")], t.config.request_timeout)
    t.expect(elapsed < IMMEDIATE, f"WAIT=0 took {elapsed:.2f} s")


@check(
    "UWS-51",
    "Two concurrent WAITs on one job both return on the phase change",
    "UWS 1.1 §2.2.1.2",
    Level.SHOULD,
)
async def wait_concurrent(t: CheckRun) -> None:
    doc = await pending_job(t)

    async def change() -> None:
        await asyncio.sleep(0.5)
        await post_phase(t, doc.url, "RUN")

    start = time.monotonic()
    a, b, _ = await asyncio.gather(
        get_job(t, doc.url, params=[("WAIT", "10")], timeout=10 + t.config.request_timeout),
        get_job(t, doc.url, params=[("WAIT", "10")], timeout=10 + t.config.request_timeout),
        change(),
    )
    elapsed = time.monotonic() - start
    t.expect(
        a.phase != "PENDING" and b.phase != "PENDING",
        f"waiters saw {a.phase} and {b.phase} after RUN",
    )
    t.expect(elapsed < 8, f"both waiters needed {elapsed:.2f} s")
    t.note("task leaks on client disconnect cannot be observed from outside; not checked")
