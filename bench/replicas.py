"""Several broker replicas on one PostgreSQL, beside the single-process SQLite broker.

For SQLite (one process) and for 1, 2 and 3 replicas on a throw-away PostgreSQL
(``ivoa_broker.testing.postgres``), each replica a separate ``ivoa-broker serve``
process on loopback, the client spreading requests round-robin over them:

- job creations/s (``POST /jobs``, 16 concurrent clients),
- GET job/s (the same job document, 16 concurrent clients),
- WAIT wake-up: a job created on replica 0, a WAIT blocked on replica 1 (on the same
  one when there is one), RUN posted to replica 0; time from the POST to the WAIT's
  answer, p50/p99 over the samples,
- take-over after SIGKILL of the lease holder: time until another replica holds the
  dispatcher lease (PostgreSQL with 2 or more replicas).

    python bench/replicas.py [--seconds 3] [--samples 40]

Numbers depend on the machine (and on what else runs on it); compare the columns.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from ivoa_broker.testing.postgres import PostgresServer  # noqa: E402

CLIENTS = 16
JOB = {"cmd": "sh", "args": ["-c", "sleep 600"]}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start_replica(folder: Path, config: str) -> tuple[subprocess.Popen[bytes], str]:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "broker.toml").write_text(config)
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "ivoa_broker.cli", "serve", "--port", str(port),
         "--config", str(folder / "broker.toml"), "--log-level", "warning"],
        cwd=folder, stdout=subprocess.DEVNULL, stderr=(folder / "log").open("wb"),
    )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline and proc.poll() is None:
        try:
            if httpx.get(f"{url}/availability", timeout=1).status_code == 200:
                return proc, url
        except httpx.TransportError:
            time.sleep(0.1)
    raise RuntimeError((folder / "log").read_text()[-2000:])


async def rate(urls: list[str], seconds: float, one: object) -> float:
    done = 0
    stop = time.monotonic() + seconds

    async def client(i: int) -> None:
        nonlocal done
        async with httpx.AsyncClient(timeout=30) as http:
            n = i
            while time.monotonic() < stop:
                await one(http, urls[n % len(urls)])  # type: ignore[operator]
                n += 1
                done += 1

    started = time.monotonic()
    await asyncio.gather(*(client(i) for i in range(CLIENTS)))
    return done / (time.monotonic() - started)


async def measure(urls: list[str], seconds: float, samples: int) -> dict[str, float]:
    async def create(http: httpx.AsyncClient, url: str) -> None:
        r = await http.post(f"{url}/jobs", data=JOB)
        assert r.status_code in (200, 303), r.text

    async with httpx.AsyncClient(timeout=30) as http:
        r = await http.post(f"{urls[0]}/jobs", data=JOB, follow_redirects=False)
        job_path = r.headers["location"].split("/jobs/", 1)[1]

    async def get(http: httpx.AsyncClient, url: str) -> None:
        r = await http.get(f"{url}/jobs/{job_path}")
        assert r.status_code == 200

    out = {"create/s": await rate(urls, seconds, create), "GET/s": await rate(urls, seconds, get)}
    waits: list[float] = []
    here, there = urls[0], urls[min(1, len(urls) - 1)]
    async with httpx.AsyncClient(timeout=60) as http:
        for _ in range(samples):
            r = await http.post(
                f"{here}/jobs", data={"cmd": "true", "EXECUTIONDURATION": "5"},
                follow_redirects=False,
            )  # fmt: skip
            job = r.headers["location"].split("/jobs/", 1)[1]
            waiter = asyncio.create_task(http.get(f"{there}/jobs/{job}?WAIT=30"))
            await asyncio.sleep(0.2)  # the WAIT is blocked on the other replica
            started = time.monotonic()
            await http.post(f"{here}/jobs/{job}/phase", data={"PHASE": "RUN"})
            await waiter
            waits.append(time.monotonic() - started)
    waits.sort()
    out["WAIT p50 ms"] = 1000 * statistics.median(waits)
    out["WAIT p99 ms"] = 1000 * waits[min(len(waits) - 1, int(len(waits) * 0.99))]
    return out


def takeover(server: PostgresServer, schema: str, procs: list[subprocess.Popen[bytes]]) -> float:
    def holder() -> str:
        return server.psql(
            f"SELECT holder FROM {schema}.leases WHERE name = 'dispatcher'", "broker"
        )

    first = holder()
    pid = int(first.split(":")[1])
    victim = next(p for p in procs if p.pid == pid)
    started = time.monotonic()
    victim.send_signal(signal.SIGKILL)
    victim.wait()
    while holder() in ("", first):
        time.sleep(0.02)
    return time.monotonic() - started


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=3.0)
    parser.add_argument("--samples", type=int, default=40)
    args = parser.parse_args()
    rows: list[tuple[str, dict[str, float]]] = []
    top = Path(tempfile.mkdtemp(prefix="ivoa-bench-replicas-"))
    proc, url = start_replica(top / "sqlite", "[jobs]\nwait_cap = 60\n")
    try:
        rows.append(("SQLite, 1 process", asyncio.run(measure([url], args.seconds, args.samples))))
    finally:
        proc.terminate()
        proc.wait()
    server = PostgresServer.start()
    try:
        server.create_database("broker")
        for n in (1, 2, 3):
            schema = f"bench{n}"
            server.psql(f"CREATE SCHEMA {schema}", "broker")
            config = (
                f'[server]\nwork_dir = "{top / schema / "work"}"\n'
                f'[store]\nurl = "{server.url("broker")}?search_path={schema}"\n'
                "[jobs]\nwait_cap = 60\n"
            )
            try:
                started = [start_replica(top / schema / str(i), config) for i in range(n)]
            except RuntimeError:
                print((server.folder / "server.log").read_text()[-3000:], file=sys.stderr)
                raise
            procs = [p for p, _ in started]
            try:
                result = asyncio.run(measure([u for _, u in started], args.seconds, args.samples))
                if n > 1:
                    result["take-over s"] = takeover(server, schema, procs)
                rows.append((f"PostgreSQL, {n} replica{'s' if n > 1 else ''}", result))
            finally:
                for p in procs:
                    if p.poll() is None:
                        p.terminate()
                        p.wait()
    finally:
        server.stop()
    columns = ["create/s", "GET/s", "WAIT p50 ms", "WAIT p99 ms", "take-over s"]
    print(f"| store | {' | '.join(columns)} |")
    print(f"|---|{'---|' * len(columns)}")
    for name, result in rows:
        cells = [f"{result[c]:.1f}" if c in result else "-" for c in columns]
        print(f"| {name} | {' | '.join(cells)} |")
    print(f"(machine: {os.cpu_count()} cores; {args.seconds} s per rate, {args.samples} WAITs)")


if __name__ == "__main__":
    main()
