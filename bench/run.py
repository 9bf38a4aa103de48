"""Benchmarks of the broker, measured in one run beside a bare Starlette endpoint.

Prints a table: job creation/s, GET job/s (and its ratio to the bare endpoint served the same
way), GET /jobs?LAST=100 with 1k and 100k jobs stored, WAIT wake-up latency after a phase change
(p50/p99), and the server's resident memory with 1k and 100k jobs stored. Every server is a
separate uvicorn process on loopback. Throughput comes from `wrk` (Debian package `wrk`; a C
load generator, so the client is not the bottleneck), in alternating rounds of broker and bare
endpoint so that background load hits both alike; the best round of each is reported.
WAIT latency is measured with httpx. Numbers depend on the machine; compare the ratios.

    python bench/run.py [--seconds 3] [--rounds 3] [--connections 16] [--big 100000]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import shutil
import socket
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


POST_LUA = """
wrk.method = "POST"
wrk.body = "cmd=echo&args=x"
wrk.headers["Content-Type"] = "application/x-www-form-urlencoded"
"""


def wrk(url: str, seconds: float, connections: int, script: Path | None = None) -> float:
    """Requests per second that wrk measured (non-2xx/3xx answers make it fail)."""
    args = ["wrk", "-t2", f"-c{connections}", f"-d{max(int(seconds), 1)}s", "--latency"]
    if script is not None:
        args += ["-s", str(script)]
    out = subprocess.run([*args, url], capture_output=True, text=True, check=True).stdout
    if "Non-2xx or 3xx responses" in out:
        raise RuntimeError(f"wrk saw error answers from {url}:\n{out}")
    match = re.search(r"Requests/sec:\s+([0-9.]+)", out)
    if not match:
        raise RuntimeError(f"cannot read wrk output:\n{out}")
    return float(match.group(1))


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


def _create_many(url: str, count: int) -> list[str]:
    """Job ids of ``count`` new jobs (more than the record cache holds)."""
    async def make() -> list[str]:
        async with httpx.AsyncClient(base_url=url, timeout=60) as c:
            gate = asyncio.Semaphore(16)

            async def one(_: int) -> str:
                async with gate:
                    r = await c.post("/jobs", data={"cmd": "echo", "args": "x"})
                    return str(r.headers["location"]).rsplit("/", 1)[1]

            return list(await asyncio.gather(*(one(i) for i in range(count))))

    return asyncio.run(make())


def bench_service(seconds: float, rounds: int, conns: int) -> dict[str, float]:
    out: dict[str, float] = {}
    with tempfile.TemporaryDirectory() as tmp:
        srv = broker(Path(tmp))
        base = bare(Path(tmp))
        try:
            script = Path(tmp) / "post.lua"
            script.write_text(POST_LUA)
            out["create/s"] = max(
                wrk(srv.url + "/jobs", seconds, conns, script) for _ in range(rounds)
            )
            job = httpx.post(srv.url + "/jobs", data={"cmd": "echo", "args": "x"})
            job_url = job.headers["location"]
            ids = _create_many(srv.url, 5000)
            cold = Path(tmp) / "cold.lua"
            cold.write_text(
                "local ids = {" + ",".join(f'"{i}"' for i in ids) + "}\n"
                "request = function()\n"
                "  return wrk.format('GET', '/jobs/' .. ids[math.random(#ids)])\n"
                "end\n"
            )
            out["GET cold/s"] = max(
                wrk(srv.url + "/jobs", seconds, conns, cold) for _ in range(rounds)
            )
            broker_rates, bare_rates = [], []
            for _ in range(rounds):  # alternate, so background load hits both alike
                broker_rates.append(wrk(job_url, seconds, conns))
                bare_rates.append(wrk(base.url + "/jobs/x", seconds, conns))
            out["GET job/s"] = max(broker_rates)
            out["bare GET/s"] = max(bare_rates)
            out["wake p50 ms"], out["wake p99 ms"] = asyncio.run(wake_latency(srv.url, 200))
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


def bench_listing(count: int, seconds: float, rounds: int, conns: int) -> dict[str, float]:
    with tempfile.TemporaryDirectory() as tmp:
        first = broker(Path(tmp))  # creates the schema
        first.stop()
        populate(Path(tmp) / "broker.db", count)
        srv = broker(Path(tmp))
        try:
            sample = httpx.get(srv.url + "/jobs", params={"LAST": 100}).content
            assert sample.count(b"<uws:jobref") == 100
            per_s = max(wrk(srv.url + "/jobs?LAST=100", seconds, conns) for _ in range(rounds))
            return {"list/s": per_s, "rss MiB": srv.rss_mib()}
        finally:
            srv.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=int, default=3, help="length of one wrk round")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--big", type=int, default=100_000, help="jobs stored, large case")
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        raise SystemExit("bench: needs wrk (apt-get install wrk)")
    svc = bench_service(args.seconds, args.rounds, args.connections)
    small = bench_listing(1000, args.seconds, args.rounds, args.connections)
    big = bench_listing(args.big, args.seconds, args.rounds, args.connections)
    rows = [
        ("POST /jobs (create)", f"{svc['create/s']:.0f} /s", ""),
        ("GET /jobs/{id}, same job (hot)", f"{svc['GET job/s']:.0f} /s",
         f"{svc['GET job/s'] / svc['bare GET/s']:.2f} x bare (aim >= 0.50)"),
        ("GET /jobs/{id}, 5000 jobs cycled (cold)", f"{svc['GET cold/s']:.0f} /s",
         f"{svc['GET cold/s'] / svc['bare GET/s']:.2f} x bare"),
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
    print(f"ivoa-broker benchmark: wrk, {args.rounds} rounds of {args.seconds:g} s, "
          f"{args.connections} connections, {os.cpu_count()} CPUs")
    print(f"{'measure'.ljust(width)} | {'value':>12} | ratio")
    print(f"{'-' * width}-|-{'-' * 12}-|------")
    for name, value, ratio in rows:
        print(f"{name.ljust(width)} | {value:>12} | {ratio}")


if __name__ == "__main__":
    main()
