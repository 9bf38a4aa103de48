"""Benchmarks of the broker, measured in one run beside a bare Starlette endpoint.

Prints a table: job creation/s, GET job/s (and its ratio to the bare endpoint served the same
way), GET /jobs?LAST=100 with 1k and 100k jobs stored, WAIT wake-up latency after a phase change
(p50/p99), and the server's resident memory with 1k and 100k jobs stored. Both servers run as
separate uvicorn processes on loopback; the load comes from this process (httpx, keep-alive).
Numbers depend on the machine; the ratios are what to compare.

    python bench/run.py [--requests 3000] [--concurrency 16]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import socket
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Server:
    def __init__(self, args: list[str], cwd: Path, probe: str) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.proc = subprocess.Popen(
            [*args, "--port", str(self.port)], cwd=cwd, stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL, env={**os.environ, "PYTHONPATH": str(ROOT)},
        )
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                httpx.get(self.url + probe, timeout=1)
                return
            except httpx.TransportError:
                time.sleep(0.1)
        raise RuntimeError(f"server {args} did not start")

    def rss_mib(self) -> float:
        with open(f"/proc/{self.proc.pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024
        return float("nan")

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(10)


def broker(workdir: Path) -> Server:
    return Server([sys.executable, "-m", "ivoa_broker.cli", "serve", "--log-level", "warning"],
                  workdir, "/availability")


def bare(workdir: Path) -> Server:
    return Server([sys.executable, "-m", "uvicorn", "bench.bare_app:app", "--log-level",
                   "warning"], workdir, "/jobs/x")


async def rate(n: int, concurrency: int, call: Callable[[int], Awaitable[None]]) -> float:
    """Requests per second for n calls spread over `concurrency` workers."""
    counter = iter(range(n))

    async def worker() -> None:
        for i in counter:
            await call(i)

    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return n / (time.perf_counter() - started)


def populate(db: Path, count: int) -> None:
    """Fill a job store directly (creating 100k jobs over HTTP would take minutes)."""
    con = sqlite3.connect(db)
    now = datetime.now(UTC)
    rows = []
    for i in range(count):
        t = (now - timedelta(seconds=count - i)).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
        rows.append((str(uuid.uuid4()), None, "COMPLETED", t, t, t, 3600,
                     (now + timedelta(days=6)).strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
                     '[["cmd","echo",false],["args","x",false]]'))
    con.executemany(
        "INSERT INTO jobs (job_id, owner, phase, creation_time, start_time, end_time, "
        "execution_duration, destruction, parameters) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)", rows)
    con.commit()
    con.close()


async def bench_service(n: int, conc: int) -> dict[str, float]:
    out: dict[str, float] = {}
    with tempfile.TemporaryDirectory() as tmp:
        srv = broker(Path(tmp))
        base = bare(Path(tmp))
        try:
            limits = httpx.Limits(max_connections=conc, max_keepalive_connections=conc)
            async with httpx.AsyncClient(base_url=srv.url, limits=limits, timeout=60) as c:
                created: list[str] = []

                async def create(_: int) -> None:
                    r = await c.post("/jobs", data={"cmd": "echo", "args": "x"})
                    created.append(r.headers["location"])

                out["create/s"] = await rate(n, conc, create)

                async def get_job(i: int) -> None:
                    r = await c.get(created[i % len(created)])
                    assert r.status_code == 200

                await rate(200, conc, get_job)  # warm-up
                out["GET job/s"] = await rate(n, conc, get_job)
            async with httpx.AsyncClient(base_url=base.url, limits=limits, timeout=60) as c:

                async def get_bare(_: int) -> None:
                    r = await c.get("/jobs/x")
                    assert r.status_code == 200

                await rate(200, conc, get_bare)
                out["bare GET/s"] = await rate(n, conc, get_bare)
            out["wake p50 ms"], out["wake p99 ms"] = await wake_latency(srv.url, 200)
        finally:
            srv.stop()
            base.stop()
    return out


async def wake_latency(url: str, rounds: int) -> tuple[float, float]:
    """Time from sending PHASE=ABORT to the blocked WAIT request returning."""
    samples: list[float] = []
    async with httpx.AsyncClient(base_url=url, timeout=60) as waiter, \
            httpx.AsyncClient(base_url=url, timeout=60) as actor:
        for _ in range(rounds):
            r = await actor.post("/jobs", data={"cmd": "echo"})
            job = r.headers["location"]
            blocked = asyncio.create_task(waiter.get(job, params={"WAIT": 20}))
            await asyncio.sleep(0.02)  # let the waiter block
            sent = time.perf_counter()
            await actor.post(job + "/phase", data={"PHASE": "ABORT"})
            await blocked
            samples.append((time.perf_counter() - sent) * 1000)
    samples.sort()
    return statistics.median(samples), samples[int(len(samples) * 0.99) - 1]


async def bench_listing(count: int, n: int, conc: int) -> dict[str, float]:
    with tempfile.TemporaryDirectory() as tmp:
        first = broker(Path(tmp))  # creates the schema
        first.stop()
        populate(Path(tmp) / "broker.db", count)
        srv = broker(Path(tmp))
        try:
            limits = httpx.Limits(max_connections=conc)
            async with httpx.AsyncClient(base_url=srv.url, limits=limits, timeout=60) as c:

                async def listing(_: int) -> None:
                    r = await c.get("/jobs", params={"LAST": 100})
                    assert r.status_code == 200 and r.content.count(b"<uws:jobref") == 100

                await rate(50, conc, listing)
                per_s = await rate(max(n // 10, 100), conc, listing)
            return {"list/s": per_s, "rss MiB": srv.rss_mib()}
        finally:
            srv.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--requests", type=int, default=3000)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--big", type=int, default=100_000, help="jobs stored, large case")
    args = parser.parse_args()
    svc = asyncio.run(bench_service(args.requests, args.concurrency))
    small = asyncio.run(bench_listing(1000, args.requests, args.concurrency))
    big = asyncio.run(bench_listing(args.big, args.requests, args.concurrency))
    rows = [
        ("POST /jobs (create)", f"{svc['create/s']:.0f} /s", ""),
        ("GET /jobs/{id}", f"{svc['GET job/s']:.0f} /s",
         f"{svc['GET job/s'] / svc['bare GET/s']:.2f} x bare (aim >= 0.50)"),
        ("bare Starlette GET", f"{svc['bare GET/s']:.0f} /s", "1.00 x bare"),
        ("GET /jobs?LAST=100, 1k stored", f"{small['list/s']:.0f} /s", ""),
        (f"GET /jobs?LAST=100, {args.big // 1000}k stored", f"{big['list/s']:.0f} /s",
         f"{small['list/s'] / big['list/s']:.2f} x slower than 1k (aim <= 2)"),
        ("WAIT wake-up p50", f"{svc['wake p50 ms']:.1f} ms", "aim < 20 ms"),
        ("WAIT wake-up p99", f"{svc['wake p99 ms']:.1f} ms", ""),
        ("server RSS, 1k stored", f"{small['rss MiB']:.0f} MiB", ""),
        (f"server RSS, {args.big // 1000}k stored", f"{big['rss MiB']:.0f} MiB",
         f"{big['rss MiB'] / small['rss MiB']:.2f} x the 1k case"),
    ]
    width = max(len(r[0]) for r in rows)
    print(f"ivoa-broker benchmark: {args.requests} requests, concurrency {args.concurrency}, "
          f"{os.cpu_count()} CPUs")
    print(f"{'measure'.ljust(width)} | {'value':>12} | ratio")
    print(f"{'-' * width}-|-{'-' * 12}-|------")
    for name, value, ratio in rows:
        print(f"{name.ljust(width)} | {value:>12} | {ratio}")


if __name__ == "__main__":
    main()
