"""Probe: 200 jobs created at once all complete; 300 long-polls on one job all wake when
it ends; a broker SIGKILLed under load loses no job it answered for; jobs beyond the
platform's capacity (engineer perf's queue) eventually run."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import httpx

from tests.probe.conftest import ALICE, BOB, Probe, async_client, client, create, settle
from tests.server import BrokerProcess, local_platform

TERMINAL = {"COMPLETED", "ERROR", "ABORTED"}


async def _create_many(url: str, token: str, count: int, form: dict[str, str]) -> list[str]:
    async with async_client(url, token, 50) as client:

        async def one(i: int) -> str:
            response = await client.post("/jobs", data={**form, "RUNID": f"load-{i}"})
            assert response.status_code == 303, response.text
            return str(response.headers["location"]).rsplit("/", 1)[1]

        return list(await asyncio.gather(*(one(i) for i in range(count))))


async def _settle_all(url: str, token: str, jobs: list[str], limit: float) -> dict[str, str]:
    deadline = time.monotonic() + limit
    async with async_client(url, token) as client:

        async def one(job: str) -> tuple[str, str]:
            while True:
                phase = (await client.get(f"/jobs/{job}/phase")).text
                if phase in TERMINAL or time.monotonic() > deadline:
                    return job, phase
                await client.get(f"/jobs/{job}", params={"WAIT": 10, "PHASE": phase})

        return dict(await asyncio.gather(*(one(j) for j in jobs)))


def test_200_concurrent_jobs_all_complete(probe: Probe) -> None:
    jobs = asyncio.run(_create_many(probe.url, BOB, 200, {"cmd": "true", "PHASE": "RUN"}))
    assert len(set(jobs)) == 200
    phases = asyncio.run(_settle_all(probe.url, BOB, jobs, 120))
    stuck = {j: p for j, p in phases.items() if p != "COMPLETED"}
    assert not stuck, f"{len(stuck)} of 200 not COMPLETED: {list(stuck.items())[:5]}"


def test_300_long_polls_all_wake_at_the_end(probe: Probe) -> None:
    job = create(probe.alice, {"cmd": "sleep", "args": "3", "PHASE": "RUN"})
    while probe.alice.get(f"/jobs/{job}/phase").text in ("PENDING", "QUEUED"):
        probe.alice.get(f"/jobs/{job}", params={"WAIT": 2, "PHASE": "QUEUED"})

    async def polls() -> list[str]:
        async with async_client(probe.url, ALICE, 320) as client:

            async def one() -> str:
                response = await client.get(
                    f"/jobs/{job}", params={"WAIT": -1, "PHASE": "EXECUTING"}
                )
                assert response.status_code == 200
                text = response.text
                return text.split("<uws:phase>", 1)[1].split("<", 1)[0]

            return list(await asyncio.gather(*(one() for _ in range(300))))

    phases = asyncio.run(polls())
    assert len(phases) == 300
    # every poll returned on a change (the end) or the cap; at least the end was seen
    assert all(p in ("EXECUTING", "COMPLETED") for p in phases), set(phases)
    assert settle(probe.alice, job) == "COMPLETED"


def test_sigkill_under_load_loses_no_answered_job(tmp_path: Path) -> None:
    (tmp_path / "tokens.txt").write_text(f"{ALICE} alice\n")
    config = '[auth]\nanonymous = false\ntoken_file = "tokens.txt"\n'
    broker = BrokerProcess(tmp_path, config=config).start()
    answered: list[str] = []
    try:

        async def load() -> None:
            async with async_client(broker.url, ALICE) as client:
                enough = asyncio.Event()

                async def one(i: int) -> None:
                    try:
                        response = await client.post("/jobs", data={"cmd": "true", "PHASE": "RUN"})
                    except httpx.TransportError:
                        return  # killed before it answered: the client knows nothing
                    if response.status_code == 303:
                        answered.append(str(response.headers["location"]).rsplit("/", 1)[1])
                        if len(answered) >= 10:
                            enough.set()

                async def killer() -> None:
                    await enough.wait()
                    broker.kill()

                await asyncio.gather(killer(), *(one(i) for i in range(40)))

        asyncio.run(load())
        assert len(answered) >= 10
        broker.start()
        with client(broker.url, ALICE) as http:
            listed = http.get("/jobs").text
            missing = [j for j in answered if j not in listed]
            assert not missing, f"{len(missing)} answered jobs lost: {missing[:3]}"
        phases = asyncio.run(_settle_all(broker.url, ALICE, answered, 60))
        assert all(p in TERMINAL for p in phases.values()), phases
    finally:
        broker.stop()


def test_jobs_beyond_capacity_start_when_room_frees(tmp_path: Path) -> None:
    config = local_platform(max_jobs=2)
    broker = BrokerProcess(tmp_path, config=config).start()
    try:
        jobs = asyncio.run(
            _create_many(broker.url, "", 6, {"cmd": "sleep", "args": "1", "PHASE": "RUN"})
        )
        phases = asyncio.run(_settle_all(broker.url, "", jobs, 10))
        assert all(p == "COMPLETED" for p in phases.values()), phases
    finally:
        broker.stop()
