"""Benchmarks of the broker, measured in one run beside its ceilings.

Rows (every server a separate uvicorn process on loopback, started the same way):

* throughput from ``wrk`` (Debian ``wrk``; a C load generator, so the client is
  not the bottleneck), in alternating rounds of broker and ceiling so background
  load hits both alike, best round reported: create, GET job hot and cold,
  ``GET /jobs?LAST=100`` with 1k and ``--big`` stored (and a cold GET there);
  the ceiling is a bare Starlette endpoint serving **the broker's own job
  document** (the same bytes);
* latencies with a lean asyncio HTTP client (:mod:`lean_client`; httpx costs
  ~0.5 ms a request here): WAIT wake-up after a real job end (the job prints the
  instant it ends; the blocked ``GET ?WAIT`` returns), after an ABORT, and a
  ``true`` through the broker (POST with ``PHASE=RUN`` until a WAIT returns
  COMPLETED) against running ``true`` directly, p50/p99;
* 200 ``true`` jobs at once (``max_jobs`` 200): makespan against a pool of 200
  direct ``true``, with the broker's and the client's CPU (a lean asyncio client,
  :mod:`lean_client`: httpx alone used more CPU than the broker and its jobs);
* broker CPU while 30 and 300 jobs ``sleep`` (``/proc/<pid>/stat`` over a window);
* side by side with GAVO DaCHS (its TAP ``/async`` UWS) when it is installed:
  GET job, list, create, WAIT wake-up (ABORT), each as a ratio.

Numbers depend on the machine and its load (printed with the table); compare
ratios from one run. ``--code DIR`` measures another checkout (``git worktree add
/tmp/before <commit>``) with this script, ``--plain-http`` hides httptools and
uvloop from it (uvicorn then runs h11 on asyncio, as before they were declared).

    python bench/run.py [--seconds 3] [--rounds 3] [--big 1000000] [--code DIR]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import re
import shutil
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
from lean_client import LeanConnection, path_of

ROOT = Path(__file__).resolve().parent.parent
UWS_PHASE = re.compile(rb"<uws:phase>([A-Z]+)</uws:phase>")
TERMINAL = {b"COMPLETED", b"ERROR", b"ABORTED"}
SHIM = "raise ImportError('hidden by bench/run.py --plain-http')\n"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


POST_LUA = """
wrk.method = "POST"
wrk.body = "{body}"
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


def pct(samples: list[float], q: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, max(0, round(q * len(ordered)) - 1))]


class Code:
    """Which checkout runs, and how (the PYTHONPATH of every server)."""

    def __init__(
        self, root: Path, plain_http: bool, shim_dir: Path, http: str | None = None
    ) -> None:
        self.root = root
        self.plain_http = plain_http
        self.shim_dir = shim_dir
        self.http = http  # serve --http (None: the checkout's default)
        if plain_http:
            shim_dir.mkdir(parents=True, exist_ok=True)
            for name in ("httptools", "uvloop"):
                (shim_dir / f"{name}.py").write_text(SHIM)

    def pythonpath(self, root: Path | None = None) -> str:
        root = root or self.root
        paths = [str(root), str(root / "adapters" / "local")]
        if self.plain_http:
            paths.insert(0, str(self.shim_dir))
        return os.pathsep.join(paths)


class Server:
    def __init__(self, args: list[str], cwd: Path, probe: str, pythonpath: str,
                 env: dict[str, str] | None = None) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.proc = subprocess.Popen(
            [*args, "--port", str(self.port)],
            cwd=cwd,
            stdout=subprocess.DEVNULL,
            stderr=(cwd / f"server-{self.port}.log").open("wb"),
            env={**os.environ, **(env or {}), "PYTHONPATH": pythonpath},
        )
        began = time.monotonic()
        deadline = began + 600
        while time.monotonic() < deadline:
            try:
                httpx.get(self.url + probe, timeout=1)
                self.start_s = time.monotonic() - began  # until the first answer
                return
            except httpx.TransportError:
                time.sleep(0.02)
        raise RuntimeError(f"server {args} did not start")

    def rss_mib(self) -> float:
        with open(f"/proc/{self.proc.pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024
        return float("nan")

    def cpu_seconds(self) -> float:
        with open(f"/proc/{self.proc.pid}/stat", "rb") as f:
            fields = f.read().rsplit(b")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(20)


def broker(
    workdir: Path, code: Code, max_jobs: int | None = None, sandbox: str | None = None
) -> Server:
    args = [sys.executable, "-m", "ivoa_broker.cli", "serve", "--log-level", "warning"]
    if code.http is not None:
        args += ["--http", code.http]
    if max_jobs is not None:
        config = workdir / "broker.toml"
        local = f"max_jobs = {max_jobs}\n" + (f'sandbox = "{sandbox}"\n' if sandbox else "")
        config.write_text(f'[adapters.local]\nplugin = "local"\n[adapters.local.config]\n{local}')
        args += ["--config", str(config)]
    return Server(args, workdir, "/availability", code.pythonpath())


def bare(workdir: Path, code: Code, body: bytes) -> Server:
    body_file = workdir / "bare-body.xml"
    body_file.write_bytes(body)
    return Server(
        [sys.executable, "-m", "uvicorn", "bench.bare_app:app", "--log-level", "warning"],
        workdir,
        "/jobs/x",
        code.pythonpath(ROOT),  # this bench's endpoint, served like the broker
        env={"BENCH_BODY_FILE": str(body_file)},
    )


def populate(db: Path, count: int, samples: int = 50_000) -> list[str]:
    """Fill a job store directly (creating 1M jobs over HTTP would take hours);
    returns ``samples`` of the ids, spread over the whole table (far more than the
    record cache holds, so a GET cycling over them is a cold read)."""
    con = sqlite3.connect(db)
    now = datetime.now(UTC)
    destruction = (now + timedelta(days=6)).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    sample: list[str] = []
    samples = min(samples, count)
    step = max(count // samples, 1)
    batch = []
    for i in range(count):
        job_id = str(uuid.uuid4())
        if i % step == 0 and len(sample) < samples:
            sample.append(job_id)
        t = (now - timedelta(seconds=count - i)).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
        batch.append((job_id, None, "COMPLETED", t, t, t, 3600, destruction,
                      '[["cmd","echo",false],["args","x",false]]'))
        if len(batch) == 50_000:
            _insert(con, batch)
            batch = []
    _insert(con, batch)
    con.commit()
    con.close()
    return sample


def _insert(con: sqlite3.Connection, rows: Sequence[tuple[object, ...]]) -> None:
    con.executemany(
        "INSERT INTO jobs (job_id, owner, phase, creation_time, start_time, end_time, "
        "execution_duration, destruction, parameters) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)", rows)


def _cycle_script(path: Path, ids: list[str], prefix: str) -> Path:
    path.write_text(
        "local ids = {" + ",".join(f'"{i}"' for i in ids) + "}\n"
        "request = function()\n"
        f"  return wrk.format('GET', '{prefix}' .. ids[math.random(#ids)])\n"
        "end\n"
    )
    return path


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


# ------------------------------------------------------------------ reads and writes


def bench_service(
    code: Code, seconds: float, rounds: int, conns: int, samples: int = 60, cold_jobs: int = 5000
) -> dict[str, float]:
    out: dict[str, float] = {}
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        srv = broker(work, code)
        try:
            job = httpx.post(srv.url + "/jobs", data={"cmd": "echo", "args": "x"})
            job_url = job.headers["location"]
            document = httpx.get(job_url).content
            out["doc bytes"] = len(document)
            base = bare(work, code, document)
            try:
                script = work / "post.lua"
                script.write_text(POST_LUA.format(body="cmd=echo&args=x"))
                out["create/s"] = max(
                    wrk(srv.url + "/jobs", seconds, conns, script) for _ in range(rounds)
                )
                ids = _create_many(srv.url, cold_jobs)
                cold = _cycle_script(work / "cold.lua", ids, "/jobs/")
                broker_hot, broker_cold, bare_rates = [], [], []
                for _ in range(rounds):  # alternate, so background load hits all alike
                    broker_hot.append(wrk(job_url, seconds, conns))
                    bare_rates.append(wrk(base.url + "/jobs/x", seconds, conns))
                    broker_cold.append(wrk(srv.url + "/jobs", seconds, conns, cold))
                out["GET job/s"] = max(broker_hot)
                out["GET cold/s"] = max(broker_cold)
                out["bare GET/s"] = max(bare_rates)
            finally:
                base.stop()
            out["abort p50"], out["abort p99"] = asyncio.run(abort_latency(srv.url, samples))
            out["end p50"], out["end p99"] = asyncio.run(end_latency(srv.url, samples))
            true = asyncio.run(true_latency(srv.url, samples))
            out["true p50"], out["true p99"] = pct(true, 0.5), pct(true, 0.99)
            direct = direct_true(samples)
            out["direct p50"], out["direct p99"] = pct(direct, 0.5), pct(direct, 0.99)
        finally:
            srv.stop()
    return out


async def abort_latency(url: str, rounds: int) -> tuple[float, float]:
    """Time from sending PHASE=ABORT to the blocked WAIT request returning."""
    samples: list[float] = []
    waiter, actor = await LeanConnection.open(url), await LeanConnection.open(url)
    for _ in range(rounds):
        _, headers, _ = await actor.request("POST", "/jobs", {"cmd": "echo"})
        job = path_of(headers["location"])
        blocked = asyncio.create_task(waiter.request("GET", f"{job}?WAIT=20"))
        await asyncio.sleep(0.02)  # let the waiter block
        sent = time.perf_counter()
        await actor.request("POST", f"{job}/phase", {"PHASE": "ABORT"})
        await blocked
        samples.append((time.perf_counter() - sent) * 1000)
    await waiter.close()
    await actor.close()
    return pct(samples, 0.5), pct(samples, 0.99)


async def _wait_terminal(conn: LeanConnection, job: str) -> bytes:
    """Block with WAIT until the job is in a terminal phase (a WAIT may return
    at EXECUTING first); its document."""
    while True:
        _, _, doc = await conn.request("GET", f"{job}?WAIT=30")
        found = UWS_PHASE.search(doc)
        if found and found.group(1) in TERMINAL:
            return doc


async def end_latency(url: str, rounds: int) -> tuple[float, float]:
    """A real job end: the job prints the wall clock as its last act; the time
    until the blocked WAIT returns COMPLETED is the broker's share."""
    samples: list[float] = []
    command = [("cmd", "sh"), ("args", "-c"), ("args", "sleep 0.1; date +%s.%N"),
               ("PHASE", "RUN")]
    conn = await LeanConnection.open(url)
    for _ in range(rounds):
        _, headers, _ = await conn.request("POST", "/jobs", command)
        job = path_of(headers["location"])
        doc = await _wait_terminal(conn, job)
        returned = time.time()
        assert b"<uws:phase>COMPLETED</uws:phase>" in doc, doc
        _, _, printed = await conn.request("GET", f"{job}/results/stdout")
        samples.append((returned - float(printed.strip())) * 1000)
    await conn.close()
    return pct(samples, 0.5), pct(samples, 0.99)


async def true_latency(url: str, rounds: int) -> list[float]:
    """``true`` through the broker: POST with PHASE=RUN until WAIT says COMPLETED."""
    samples: list[float] = []
    conn = await LeanConnection.open(url)
    for _ in range(rounds):
        began = time.perf_counter()
        _, headers, _ = await conn.request("POST", "/jobs", {"cmd": "true", "PHASE": "RUN"})
        doc = await _wait_terminal(conn, path_of(headers["location"]))
        samples.append((time.perf_counter() - began) * 1000)
        assert b"<uws:phase>COMPLETED</uws:phase>" in doc, doc
    await conn.close()
    return samples


def direct_true(rounds: int) -> list[float]:
    samples = []
    for _ in range(rounds):
        began = time.perf_counter()
        subprocess.run(["true"], check=True)
        samples.append((time.perf_counter() - began) * 1000)
    return samples


# ----------------------------------------------------------------- many jobs at once


def bench_many(code: Code, count: int) -> dict[str, float]:
    """The makespan of ``count`` jobs at once, with the local platform's default
    sandbox (bubblewrap: about 5.6 ms of CPU a job here) and without it."""
    out: dict[str, float] = {}
    for sandbox, label in ((None, ""), ("none", "unsandboxed ")):
        with tempfile.TemporaryDirectory() as tmp:
            srv = broker(Path(tmp), code, max_jobs=count, sandbox=sandbox)
            try:
                asyncio.run(_makespan(srv.url, 5))  # the spawner and first imports, not timed
                began = srv.cpu_seconds()
                makespan, client_cpu = asyncio.run(_makespan(srv.url, count))
                out[f"{label}makespan s"] = makespan
                out[f"{label}broker cpu s"] = srv.cpu_seconds() - began
                out[f"{label}client cpu s"] = client_cpu
            finally:
                srv.stop()
    out["pool s"] = asyncio.run(_pool(count))
    return out


async def _makespan(url: str, count: int) -> tuple[float, float]:
    """Wall time until every one of ``count`` jobs, each POSTed with PHASE=RUN
    on its own connection, has been seen COMPLETED by a WAIT; and the client's
    own CPU seconds (the lean client keeps that small: see lean_client)."""
    conns = [await LeanConnection.open(url) for _ in range(count)]
    cpu = time.process_time()
    began = time.perf_counter()

    async def one(conn: LeanConnection) -> bytes:
        status, headers, _ = await conn.request("POST", "/jobs", {"cmd": "true", "PHASE": "RUN"})
        assert status == 303, status
        return await _wait_terminal(conn, path_of(headers["location"]))

    docs = await asyncio.gather(*(one(c) for c in conns))
    took = time.perf_counter() - began
    cpu = time.process_time() - cpu
    for conn in conns:
        await conn.close()
    assert all(b"<uws:phase>COMPLETED</uws:phase>" in d for d in docs)
    return took, cpu


async def _pool(count: int) -> float:
    began = time.perf_counter()
    procs = [await asyncio.create_subprocess_exec("true") for _ in range(count)]
    await asyncio.gather(*(p.wait() for p in procs))
    return time.perf_counter() - began


def bench_idle(code: Code, counts: tuple[int, ...], window: float) -> dict[str, float]:
    """Broker CPU (percent of one core) while ``n`` jobs sleep, for each n."""
    out: dict[str, float] = {}
    with tempfile.TemporaryDirectory() as tmp:
        srv = broker(Path(tmp), code, max_jobs=max(counts))
        try:
            out.update(asyncio.run(_idle(srv, counts, window)))
        finally:
            srv.stop()
    return out


async def _idle(srv: Server, counts: tuple[int, ...], window: float) -> dict[str, float]:
    out: dict[str, float] = {}
    jobs: list[str] = []
    async with httpx.AsyncClient(base_url=srv.url, timeout=120) as c:
        try:
            for n in counts:
                while len(jobs) < n:
                    r = await c.post("/jobs", data={"cmd": "sleep", "args": "3600",
                                                    "PHASE": "RUN"})
                    jobs.append(r.headers["location"])
                for job in jobs:  # every one running (WAIT on the phase it is leaving)
                    while (phase := (await c.get(job + "/phase")).text) != "EXECUTING":
                        assert phase in ("PENDING", "QUEUED"), f"{job}: {phase}"
                        await c.get(job, params={"WAIT": 5, "PHASE": phase})
                await asyncio.sleep(2.0)  # let the start-up work settle
                before = srv.cpu_seconds()
                await asyncio.sleep(window)
                out[f"idle {n} %"] = (srv.cpu_seconds() - before) / window * 100
        finally:
            await asyncio.gather(*(c.delete(j) for j in jobs))
    return out


# ------------------------------------------------------------------------- listing


_POPULATED: dict[int, tuple[Path, list[str]]] = {}


def populated(code: Code, count: int, cache: Path) -> tuple[Path, list[str]]:
    """A store file holding ``count`` jobs (made once per run, then copied)."""
    if count not in _POPULATED:
        work = cache / f"store-{count}"
        work.mkdir(parents=True)
        first = broker(work, code)  # creates the schema
        first.stop()
        _POPULATED[count] = (work / "broker.db", populate(work / "broker.db", count))
    return _POPULATED[count]


def bench_listing(
    code: Code, count: int, seconds: float, rounds: int, conns: int, cold: bool, cache: Path
) -> dict[str, float]:
    template, ids = populated(code, count, cache)
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        shutil.copy(template, work / "broker.db")
        srv = broker(work, code)
        try:
            sample = httpx.get(srv.url + "/jobs", params={"LAST": 100}).content
            assert sample.count(b"<uws:jobref") == 100
            out = {"list/s": max(
                wrk(srv.url + "/jobs?LAST=100", seconds, conns) for _ in range(rounds)
            )}
            if cold:  # cycled over far more jobs than the cache holds, beside the ceiling
                script = _cycle_script(work / "cold.lua", ids, "/jobs/")
                base = bare(work, code, httpx.get(f"{srv.url}/jobs/{ids[0]}").content)
                try:
                    cold_rates, bare_rates = [], []
                    for _ in range(rounds):
                        cold_rates.append(wrk(srv.url + "/jobs", seconds, conns, script))
                        bare_rates.append(wrk(base.url + "/jobs/x", seconds, conns))
                finally:
                    base.stop()
                out["GET cold/s"], out["bare GET/s"] = max(cold_rates), max(bare_rates)
            out["rss MiB"] = srv.rss_mib()
            out["start s"] = srv.start_s
            return out
        finally:
            srv.stop()


# ---------------------------------------------------------------------------- DaCHS


@contextmanager
def dachs_server() -> Iterator[str | None]:
    """A private DaCHS (the conformance tests' fixture); its TAP URL, or None."""
    sys.path.insert(0, str(ROOT / "conformance" / "tests"))
    try:
        import conformance_dachs  # type: ignore[import-not-found]
    except ImportError:
        yield None
        return
    if conformance_dachs.missing() is not None:
        yield None
        return
    with conformance_dachs.DaCHS() as server:
        yield server.tap


DACHS_QUERY = {
    "LANG": "ADQL", "REQUEST": "doQuery", "QUERY": "SELECT TOP 1 * FROM tap_schema.tables"
}
DACHS_BODY = "LANG=ADQL&REQUEST=doQuery&QUERY=SELECT%20TOP%201%20*%20FROM%20tap_schema.tables"


def bench_dachs(
    code: Code, tap: str, seconds: float, rounds: int, conns: int, samples: int
) -> dict[str, float]:
    """The broker and DaCHS side by side, each measure in alternating rounds (so the
    background load hits both alike): GET of one job, the list with 100 jobs stored
    (both start from none), create, and ABORT -> WAIT returns (DaCHS has no job of its
    own to end quickly; both are timed on the same action)."""
    out: dict[str, float] = {}
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        srv = broker(work, code)
        try:
            mine = srv.url + "/jobs"
            theirs = tap + "/async"
            for _ in range(100):  # the lists hold 100 jobs each
                httpx.post(mine, data={"cmd": "echo", "args": "x"})
                httpx.post(theirs, data=DACHS_QUERY)
            urls = {
                "broker": _created(mine, {"cmd": "echo"}),
                "dachs": _created(theirs, DACHS_QUERY),
            }
            posts = {"broker": work / "post-broker.lua", "dachs": work / "post-dachs.lua"}
            posts["broker"].write_text(POST_LUA.format(body="cmd=echo&args=x"))
            posts["dachs"].write_text(POST_LUA.format(body=DACHS_BODY))
            runs: dict[str, list[float]] = {}
            for _ in range(rounds):
                for who in ("broker", "dachs"):
                    runs.setdefault(f"{who} GET job/s", []).append(wrk(urls[who], seconds, conns))
            for _ in range(rounds):
                for who, base in (("broker", mine), ("dachs", theirs)):
                    runs.setdefault(f"{who} list/s", []).append(
                        wrk(base + "?LAST=100", seconds, conns)
                    )
            for _ in range(rounds):
                for who, base in (("broker", mine), ("dachs", theirs)):
                    runs.setdefault(f"{who} create/s", []).append(
                        wrk(base, seconds, conns, posts[who])
                    )
            out.update({k: max(v) for k, v in runs.items()})
            mine_abort, theirs_abort = asyncio.run(_side_by_side_abort(mine, theirs, samples))
            out["broker abort p50"] = pct(mine_abort, 0.5)
            out["dachs abort p50"] = pct(theirs_abort, 0.5)
            out["broker abort p99"] = pct(mine_abort, 0.99)
            out["dachs abort p99"] = pct(theirs_abort, 0.99)
        finally:
            srv.stop()
    return out


def _absolute(base: str, location: str) -> str:
    return str(httpx.URL(base).join(location))


def _created(base: str, data: dict[str, str]) -> str:
    """POST a new job; its absolute URL."""
    return _absolute(base, httpx.post(base, data=data).headers["location"])


async def _side_by_side_abort(
    mine: str, theirs: str, rounds: int
) -> tuple[list[float], list[float]]:
    """ABORT -> WAIT returns, one sample of each server in turn."""
    found: dict[str, list[float]] = {mine: [], theirs: []}
    async with httpx.AsyncClient(timeout=60) as waiter, httpx.AsyncClient(timeout=60) as actor:
        for _ in range(rounds):
            for base, data in ((mine, {"cmd": "echo"}), (theirs, DACHS_QUERY)):
                job = _absolute(base, (await actor.post(base, data=data)).headers["location"])
                blocked = asyncio.create_task(waiter.get(job, params={"WAIT": 20}))
                await asyncio.sleep(0.05)  # let the waiter block
                sent = time.perf_counter()
                await actor.post(job + "/phase", data={"PHASE": "ABORT"})
                await blocked
                found[base].append((time.perf_counter() - sent) * 1000)
    return found[mine], found[theirs]


# ----------------------------------------------------------------------------- main


def load() -> str:
    one, five, fifteen = os.getloadavg()
    return f"load average {one:.2f} {five:.2f} {fifteen:.2f} on {os.cpu_count()} CPUs"


SECTIONS = ("svc", "many", "idle", "small", "big", "dachs")


def sections(
    args: argparse.Namespace, cache: Path
) -> list[tuple[str, Callable[[Code], dict[str, float]]]]:
    idle_counts = tuple(int(n) for n in args.idle.split(","))
    s, r, c = args.seconds, args.rounds, args.connections
    every = [
        ("svc", lambda code: bench_service(code, s, r, c, args.samples, args.cold_jobs)),
        ("many", lambda code: bench_many(code, args.many)),
        ("idle", lambda code: bench_idle(code, idle_counts, args.idle_window)),
        ("small", lambda code: bench_listing(code, 1000, s, r, c, False, cache)),
        ("big", lambda code: bench_listing(code, args.big, s, r, c, True, cache)),
    ]
    wanted = set(args.only.split(",")) if args.only else set(SECTIONS)
    return [(name, run) for name, run in every if name in wanted]


Row = tuple[str, str, str]


def rows_of(m: dict[str, dict[str, float]], args: argparse.Namespace) -> list[Row]:
    """The table's rows for the sections that ran (a row needing one that did not is
    left out)."""
    svc, many, idle = m.get("svc"), m.get("many"), m.get("idle")
    small, big = m.get("small"), m.get("big")
    bare_rate = svc["bare GET/s"] if svc else None
    big_k = f"{args.big // 1000}k" if args.big < 1_000_000 else f"{args.big / 1e6:g}M"

    def of_bare(rate: float) -> str:
        return f"{rate / bare_rate:.2f} x bare" if bare_rate else ""

    rows: list[Row] = []
    if svc:
        rows += [
            ("POST /jobs (create)", f"{svc['create/s']:.0f} /s", ""),
            ("GET /jobs/{id}, same job (hot)", f"{svc['GET job/s']:.0f} /s",
             of_bare(svc["GET job/s"])),
            (f"GET /jobs/{{id}}, {args.cold_jobs} jobs cycled (cold)",
             f"{svc['GET cold/s']:.0f} /s", of_bare(svc["GET cold/s"])),
        ]
    if big:
        rows.append((f"GET /jobs/{{id}}, cold, {big_k} stored", f"{big['GET cold/s']:.0f} /s",
                     f"{big['GET cold/s'] / big['bare GET/s']:.2f} x bare "
                     f"({big['bare GET/s']:.0f} /s, same section)"))
    if svc:
        rows.append((f"bare Starlette GET ({svc['doc bytes']:.0f} B, same doc)",
                     f"{svc['bare GET/s']:.0f} /s", "1.00 x bare"))
    if small:
        rows.append(("GET /jobs?LAST=100, 1k stored", f"{small['list/s']:.0f} /s", ""))
    if big:
        rows.append((f"GET /jobs?LAST=100, {big_k} stored", f"{big['list/s']:.0f} /s",
                     f"{small['list/s'] / big['list/s']:.2f} x slower than 1k" if small else ""))
    if svc:
        rows += [
            ("job end -> WAIT returns, p50", f"{svc['end p50']:.1f} ms", ""),
            ("job end -> WAIT returns, p99", f"{svc['end p99']:.1f} ms", ""),
            ("ABORT -> WAIT returns, p50", f"{svc['abort p50']:.1f} ms", ""),
            ("ABORT -> WAIT returns, p99", f"{svc['abort p99']:.1f} ms", ""),
            ("`true` via broker, p50", f"{svc['true p50']:.1f} ms",
             f"+{svc['true p50'] - svc['direct p50']:.1f} ms over direct "
             f"({svc['direct p50']:.1f} ms)"),
            ("`true` via broker, p99", f"{svc['true p99']:.1f} ms",
             f"+{svc['true p99'] - svc['direct p99']:.1f} ms over direct "
             f"({svc['direct p99']:.1f} ms)"),
        ]
    if many:
        rows.append((f"{args.many} `true` at once, makespan", f"{many['makespan s']:.2f} s",
                     f"{many['makespan s'] / many['pool s']:.0f} x a pool of {args.many} "
                     f"({many['pool s']:.2f} s)"))
        rows.append((f"{args.many} at once: broker CPU, client CPU",
                     f"{many['broker cpu s']:.2f} s", f"client {many['client cpu s']:.2f} s "
                     "(the jobs' own CPU is not in either)"))
        if "unsandboxed makespan s" in many:
            rows.append((f"{args.many} at once, `sandbox = \"none\"`",
                         f"{many['unsandboxed makespan s']:.2f} s",
                         f"{many['unsandboxed makespan s'] / many['pool s']:.0f} x the pool; "
                         f"broker CPU {many['unsandboxed broker cpu s']:.2f} s"))
    if idle:
        rows += [(f"broker CPU, {k.split()[1]} jobs sleeping ({args.idle_window:g} s)",
                  f"{v:.2f} %", "of one core") for k, v in idle.items()]
    if small:
        rows += [
            ("server RSS, 1k stored", f"{small['rss MiB']:.0f} MiB", ""),
            ("start-up until it answers, 1k stored", f"{small['start s']:.2f} s", ""),
        ]
    if big:
        rows += [
            (f"server RSS, {big_k} stored", f"{big['rss MiB']:.0f} MiB",
             f"{big['rss MiB'] / small['rss MiB']:.2f} x the 1k case" if small else ""),
            (f"start-up until it answers, {big_k} stored", f"{big['start s']:.2f} s",
             f"{big['start s'] / small['start s']:.2f} x the 1k case" if small else ""),
        ]
    return rows


def dachs_rows(d: dict[str, float]) -> list[Row]:
    """Side by side with DaCHS (same run, alternating rounds): the broker's figure,
    DaCHS's, and how many times better the broker is."""
    return [
        ("GET job: broker / DaCHS", f"{d['broker GET job/s']:.0f} / {d['dachs GET job/s']:.0f} /s",
         f"broker {d['broker GET job/s'] / d['dachs GET job/s']:.1f} x"),
        ("list, 100 jobs (LAST=100): broker / DaCHS",
         f"{d['broker list/s']:.0f} / {d['dachs list/s']:.0f} /s",
         f"broker {d['broker list/s'] / d['dachs list/s']:.1f} x"),
        ("create: broker / DaCHS", f"{d['broker create/s']:.0f} / {d['dachs create/s']:.0f} /s",
         f"broker {d['broker create/s'] / d['dachs create/s']:.1f} x"),
        ("ABORT -> WAIT returns, p50: broker / DaCHS",
         f"{d['broker abort p50']:.1f} / {d['dachs abort p50']:.1f} ms",
         f"broker {d['dachs abort p50'] / d['broker abort p50']:.0f} x faster"),
        ("ABORT -> WAIT returns, p99: broker / DaCHS",
         f"{d['broker abort p99']:.1f} / {d['dachs abort p99']:.1f} ms",
         f"broker {d['dachs abort p99'] / d['broker abort p99']:.0f} x faster"),
    ]


def table(rows: list[tuple[str, ...]], head: tuple[str, ...]) -> str:
    width = max(len(r[0]) for r in [*rows, head])
    cells = [max(len(r[i]) for r in [*rows, head]) for i in range(1, len(head) - 1)]
    lines = []
    for n, row in enumerate([head, *rows]):
        mid = " | ".join(v.rjust(w) for v, w in zip(row[1:-1], cells, strict=True))
        lines.append(f"{row[0].ljust(width)} | {mid} | {row[-1]}".rstrip())
        if n == 0:
            lines.append(f"{'-' * width}-|-" + "-|-".join("-" * w for w in cells) + "-|------")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=int, default=3, help="length of one wrk round")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--big", type=int, default=1_000_000, help="jobs stored, large case")
    parser.add_argument("--many", type=int, default=200, help="jobs at once (makespan)")
    parser.add_argument("--idle", default="30,300", help="running jobs for the idle CPU rows")
    parser.add_argument("--idle-window", type=float, default=10.0)
    parser.add_argument("--code", type=Path, default=ROOT, help="the checkout to measure")
    parser.add_argument("--plain-http", action="store_true", help="hide httptools and uvloop")
    parser.add_argument("--http", choices=["h11", "httptools"], default=None,
                        help="serve --http of the measured checkout (default: its own)")
    parser.add_argument("--before", type=Path, default=None,
                        help="also measure this older checkout (h11, asyncio), section by "
                             "section alternating with --code, and print both")
    parser.add_argument("--compare-http", action="store_true",
                        help="measure --code twice, serve --http h11 and httptools, section "
                             "by section alternating, and print both")
    parser.add_argument("--only", default="",
                        help=f"comma-separated sections to run (of {','.join(SECTIONS)})")
    parser.add_argument("--samples", type=int, default=60, help="jobs per latency row")
    parser.add_argument("--cold-jobs", type=int, default=5000,
                        help="jobs cycled, cold GET (more than the record cache's 2048, or "
                             "the reads are hot after the first pass)")
    parser.add_argument("--no-dachs", action="store_true")
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        raise SystemExit("bench: needs wrk (apt-get install wrk)")
    if args.cold_jobs <= 2048:
        print(f"# warning: --cold-jobs {args.cold_jobs} fits in the record cache (2048): "
              "the 'cold' row measures cached reads", flush=True)
    random.seed(1)
    with tempfile.TemporaryDirectory() as scratch:
        cache = Path(scratch)
        root = args.code.resolve()
        code = Code(root, args.plain_http, cache / "shim", args.http)
        codes = {"after": code}
        if args.before is not None:
            codes = {"before": Code(args.before.resolve(), True, cache / "shim-before"), **codes}
        elif args.compare_http:
            codes = {"h11": Code(root, args.plain_http, cache / "shim", "h11"),
                     "httptools": Code(root, args.plain_http, cache / "shim", "httptools")}
        primary = list(codes)[-1]
        found: dict[str, dict[str, dict[str, float]]] = {label: {} for label in codes}
        loads = [load()]
        for name, run in sections(args, cache):
            for label, c in codes.items():  # alternate: background load hits both alike
                found[label][name] = run(c)
                print(f"# {label} {name}: {found[label][name]} ({load()})", flush=True)
        loads.append(load())
        dachs: dict[str, float] | None = None
        wanted = not args.only or "dachs" in args.only.split(",")
        if wanted and not args.no_dachs:
            with dachs_server() as tap:
                if tap is None:
                    print("# dachs: not installed, no side-by-side rows", flush=True)
                else:
                    dachs = bench_dachs(codes[primary], tap, args.seconds, args.rounds,
                                        args.connections, min(args.samples, 30))
                    print(f"# {primary} dachs: {dachs} ({load()})", flush=True)
        loads.append(load())
    rows = rows_of(found[primary], args)
    if dachs is not None:
        rows += dachs_rows(dachs)
    how = f" (serve --http {code.http})" if code.http else ""
    how = " (h11, asyncio)" if args.plain_http else how
    print(f"ivoa-broker benchmark of {code.root}{how}: wrk, {args.rounds} rounds of "
          f"{args.seconds:g} s, {args.connections} connections")
    print("machine: " + "; ".join(loads) + " (start; after the broker rows; end)")
    print(table(list(rows), ("measure", "value", "ratio")))
    if len(codes) == 2:
        first, second = codes
        old = {r[0]: r for r in rows_of(found[first], args)}
        both = [(r[0], old[r[0]][1], r[1], f"{old[r[0]][2] or '-'} -> {r[2] or '-'}")
                for r in rows_of(found[second], args) if r[0] in old]
        print(f"\n{first} and {second}, same run, each section alternating:")
        print(table(list(both), ("measure", first, second, f"ratio {first} -> {second}")))


if __name__ == "__main__":
    main()
