"""Session-scoped loopback server hosting the mini UWS and its broken variants."""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import uvicorn
from eb_fixture import FAULTS as EB_FAULTS
from eb_fixture import MiniEB
from ivoa_broker_conformance.config import Config
from ivoa_broker_conformance.runner import Report, run_suite
from starlette.applications import Starlette
from starlette.routing import Mount
from uws_fixture import MiniUWS

XSD_DIR = Path("/work/shared/ivoa-xsd")
ALICE, BOB = "alice-token", "bob-token"

#: variant name -> faults; "ok" is the reference
VARIANTS: dict[str, frozenset[str]] = {
    "ok": frozenset(),
    **{fault: frozenset({fault}) for fault in sorted(__import__("uws_fixture").FAULTS)},
}


#: ExecutionBroker variants (mounted under /eb/); "ok" is the reference
EB_VARIANTS: dict[str, frozenset[str]] = {
    "ok": frozenset(),
    **{fault: frozenset({fault}) for fault in sorted(EB_FAULTS)},
}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


class LoopbackServer:
    def __init__(self, app: Starlette, port: int) -> None:
        config = uvicorn.Config(
            app,
            host="127.0.0.1",
            port=port,
            log_level="warning",
            access_log=False,
            lifespan="off",
            ws="none",
        )
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def __enter__(self) -> LoopbackServer:
        self.thread.start()
        deadline = time.monotonic() + 10
        while not self.server.started:
            if time.monotonic() > deadline or not self.thread.is_alive():
                raise RuntimeError("fixture server did not start")
            time.sleep(0.02)
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)


@pytest.fixture(scope="session")
def fixture_base() -> Iterator[str]:
    """Base URL of the fixture server; append '/<variant>'."""
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    routes = [
        Mount(f"/{name}", app=MiniUWS(f"{base}/{name}", faults).app())
        for name, faults in VARIANTS.items()
    ]
    routes += [
        Mount(f"/eb/{name}", app=MiniEB(f"{base}/eb/{name}", faults).app())
        for name, faults in EB_VARIANTS.items()
    ]
    app = Starlette(routes=routes)
    with LoopbackServer(app, port):
        yield base


def run(
    base: str,
    variant: str,
    only: set[str] | None = None,
    *,
    schemas: bool = True,
    other: bool = True,
) -> Report:
    config = Config(
        base_url=f"{base}/{variant}",
        token=ALICE,
        other_token=BOB if other else None,
        schemas=XSD_DIR if schemas else None,
        only=frozenset(only or ()),
        job_timeout=20.0,
        check_timeout=60.0,
    )
    return asyncio.run(run_suite(config))


@pytest.fixture(scope="session")
def reference_report(fixture_base: str) -> Report:
    """The whole suite once against the reference variant."""
    return run(fixture_base, "ok")
