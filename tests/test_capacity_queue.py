"""Capacity is a queue (issue 23): ``local`` filled to three times its slots, over HTTP.

A real broker process with a ``local`` platform of 4 slots gets 12 jobs at once
(``PHASE=RUN``). The ones beyond the slots stay QUEUED in the broker with their
place in jobInfo, and every job reaches COMPLETED without any client action
(no RUN again, no retry): only blocking GETs with WAIT. The jobs wait for a gate
file the test makes once it has looked at them, so the slots are surely full when
it looks, however slow the machine.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from lxml import etree

from tests.server import BrokerProcess, local_platform

SLOTS = 4
JOBS = 3 * SLOTS
UWS = "{http://www.ivoa.net/xml/UWS/v1.0}"
IB = "{urn:ivoa-broker}"
#: a hang guard, not a timed assertion
GUARD_SECONDS = 120.0


def _config(gates: Path) -> str:
    # the sandboxed jobs may read the gates' folder, nothing else of the test's
    return local_platform(max_jobs=SLOTS, sandbox_paths=[gates])


@pytest.fixture(scope="module")
def gates(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("gates")


@pytest.fixture(scope="module")
def small_broker(tmp_path_factory: pytest.TempPathFactory, gates: Path) -> Iterator[BrokerProcess]:
    broker = BrokerProcess(tmp_path_factory.mktemp("capacity"), _config(gates)).start()
    try:
        yield broker
    finally:
        broker.stop()


def _phase_and_info(doc: bytes) -> tuple[str, dict[str, str]]:
    root = etree.fromstring(doc)
    info = {item.get("name"): item.text or "" for item in root.iter(f"{IB}item")}
    return root.findtext(f"{UWS}phase") or "", info


async def _until_terminal(client: httpx.AsyncClient, url: str) -> tuple[str, dict[str, str]]:
    while True:
        r = await client.get(url, params={"WAIT": 30})
        r.raise_for_status()
        phase, info = _phase_and_info(r.content)
        if phase in ("COMPLETED", "ERROR", "ABORTED"):
            return phase, info


async def _fill(base: str, owner_tokens: list[str], gate: Path) -> None:
    wait = f"while [ ! -e {gate} ]; do sleep 0.05; done"
    async with httpx.AsyncClient(base_url=base, timeout=60) as client:
        made = await asyncio.gather(
            *(
                client.post(
                    "/jobs",
                    data={"cmd": "sh", "args": ["-c", wait], "PHASE": "RUN", "RUNID": t},
                )
                for t in owner_tokens
            )
        )
        urls = [str(r.headers["location"]) for r in made]
        assert all(r.status_code == 303 for r in made)
        # a job is QUEUED with no place until the dispatcher has tried its platform, which
        # a busy machine may not have done yet: look again until places show (the gate is
        # shut, so the jobs beyond the slots stay in the broker's queue)
        guard = asyncio.get_running_loop().time() + GUARD_SECONDS
        while True:
            first_look = [_phase_and_info((await client.get(u)).content) for u in urls]
            waiting = [info for phase, info in first_look if "queue_position" in info]
            if waiting or asyncio.get_running_loop().time() > guard:
                break
            await asyncio.sleep(0.2)
        # more jobs than slots: some wait in the broker, QUEUED, with a place
        assert waiting, first_look
        assert all(phase in ("QUEUED", "EXECUTING", "COMPLETED") for phase, _ in first_look)
        assert all(int(info["queue_position"]) >= 1 for info in waiting)
        assert all("waiting in the broker's queue" in info["queue_message"] for info in waiting)
        await asyncio.to_thread(gate.touch)
        ends = await asyncio.wait_for(
            asyncio.gather(*(_until_terminal(client, u) for u in urls)), GUARD_SECONDS
        )
    assert [phase for phase, _ in ends] == ["COMPLETED"] * len(urls)
    # the place is forgotten once a job has left the queue
    assert not any("queue_position" in info for _, info in ends)


def test_three_times_the_slots_all_complete(small_broker: BrokerProcess, gates: Path) -> None:
    asyncio.run(_fill(small_broker.url, [f"job-{i}" for i in range(JOBS)], gates / "first"))


def test_log_has_no_capacity_errors(small_broker: BrokerProcess, gates: Path) -> None:
    asyncio.run(_fill(small_broker.url, [f"again-{i}" for i in range(JOBS)], gates / "second"))
    log = small_broker.log.read_text(errors="replace")
    assert "capacity queue of" not in log  # the pump never failed
    assert "Traceback" not in log
