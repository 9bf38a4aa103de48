"""The read path in process: the broker's ASGI app called directly, no server, no socket.

Each request is a plain call of the app with a fake ``receive``/``send`` (what uvicorn
would hand it), so the time is the framework's and the broker's own, not the HTTP
parser's or the network's. Rows, µs per request (median of ``--rounds`` rounds of
``--requests`` requests each):

* ``GET /jobs/{id}`` hot (the record and its document cached) on the broker;
* the same on a bare Starlette app whose endpoint does the same store read
  (``store.get``) and answers the same bytes (the ceiling of issue 24);
* ``GET /jobs?LAST=100`` with ``--jobs`` jobs stored (one owner, anonymous).

Each row is given as wall-clock and as CPU time of the process (all its threads); on a
shared, loaded machine the CPU column is the steadier one. To compare with another
checkout, run this file with ``PYTHONPATH=<that checkout>`` (its ``ivoa_broker`` is then
imported), alternating with this one.

    python bench/asgi_reads.py [--jobs 1000] [--requests 2000] [--rounds 5]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from ivoa_broker.app import create_app
from ivoa_broker.config import ServerSection, Settings
from ivoa_broker.records import Parameter

ASGI = Callable[[dict[str, Any], Any, Any], Awaitable[None]]


def scope_of(path: str, query: bytes = b"", app: Any = None) -> dict[str, Any]:
    return {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "GET",
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "root_path": "",
        "query_string": query,
        "headers": [(b"host", b"127.0.0.1:8080"), (b"accept", b"*/*")],
        "client": ("127.0.0.1", 50000),
        "server": ("127.0.0.1", 8080),
        "state": {},
        "app": app,
    }


async def call(app: ASGI, scope: dict[str, Any]) -> tuple[int, bytes]:
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    await app(dict(scope), receive, send)
    status = int(sent[0]["status"])
    return status, b"".join(m.get("body", b"") for m in sent[1:])


async def per_request(
    app: ASGI, scope: dict[str, Any], requests: int, rounds: int
) -> tuple[float, float]:
    """Median over rounds of the mean µs per request: wall clock, and CPU time of this
    process (every thread: the store's too), which a loaded machine disturbs less."""
    status, _ = await call(app, scope)
    if status != 200:
        raise RuntimeError(f"{scope['path']} answered {status}")
    walls, cpus = [], []
    for _ in range(rounds):
        start, cpu = time.perf_counter(), time.process_time()
        for _ in range(requests):
            await app(dict(scope), _receive, _send)
        walls.append((time.perf_counter() - start) / requests * 1e6)
        cpus.append((time.process_time() - cpu) / requests * 1e6)
    return statistics.median(walls), statistics.median(cpus)


async def _receive() -> dict[str, Any]:
    return {"type": "http.request", "body": b"", "more_body": False}


async def _send(message: dict[str, Any]) -> None:
    return None


async def main(args: argparse.Namespace) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        settings = Settings(
            server=ServerSection(database=Path(tmp) / "b.db", work_dir=Path(tmp) / "work")
        )
        app = create_app(settings)
        async with app.router.lifespan_context(app):
            b = app.state.broker
            ids = []
            for i in range(args.jobs):
                job = await b.jobs.create(
                    None, [Parameter("cmd", "echo"), Parameter("args", str(i))], run=False
                )
                ids.append(job.job_id)
            job_id = ids[-1]
            _, body = await call(app, scope_of(f"/jobs/{job_id}", app=app))

            async def bare_job(request: Request) -> Response:
                await b.store.get(request.path_params["job_id"])
                return Response(body, media_type="application/xml")

            bare = Starlette(routes=[Route("/jobs/{job_id}", bare_job)])
            rows = []
            for _ in range(2):  # alternate, so background load hits both alike
                rows.append(
                    (
                        await per_request(
                            app, scope_of(f"/jobs/{job_id}", app=app), args.requests, args.rounds
                        ),
                        await per_request(
                            bare, scope_of(f"/jobs/{job_id}", app=bare), args.requests, args.rounds
                        ),
                        await per_request(
                            app,
                            scope_of("/jobs", b"LAST=100", app=app),
                            max(args.requests // 10, 1),
                            args.rounds,
                        ),
                    )
                )
    names = ("GET /jobs/{id} hot, broker", "GET /jobs/{id} hot, bare+store", "GET /jobs?LAST=100")
    best = [(min(r[i][0] for r in rows), min(r[i][1] for r in rows)) for i in range(3)]
    print(f"jobs stored: {args.jobs}; µs per request, best of 2 alternations; wall / CPU")
    for name, (wall, cpu) in zip(names, best, strict=True):
        print(f"{name:32} {wall:8.1f} / {cpu:8.1f}")
    wall_ratio, cpu_ratio = best[1][0] / best[0][0], best[1][1] / best[0][1]
    print(f"bare / broker, hot GET: wall {wall_ratio:.2f}, CPU {cpu_ratio:.2f}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--jobs", type=int, default=1000)
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--rounds", type=int, default=5)
    asyncio.run(main(parser.parse_args()))
