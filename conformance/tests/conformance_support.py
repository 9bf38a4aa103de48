"""Helpers of the conformance tests: loopback server, variant tables, running the suite.

Kept out of conftest.py so that tests import them by a name unique in the repository."""

from __future__ import annotations

import asyncio
import os
import socket
import threading
import time
from pathlib import Path

import uvicorn
from conformance_eb_fixture import FAULTS as EB_FAULTS
from conformance_eb_fixture import MiniEB
from conformance_uws_fixture import FAULTS as UWS_FAULTS
from conformance_uws_fixture import MiniUWS
from ivoa_broker_conformance.config import Config
from ivoa_broker_conformance.runner import Report, run_suite
from starlette.applications import Starlette
from starlette.routing import Mount

#: the official IVOA schemas: $IVOA_XSD_DIR, else ../shared/ivoa-xsd beside the repository
XSD_DIR = Path(
    os.environ.get("IVOA_XSD_DIR", Path(__file__).resolve().parents[3] / "shared" / "ivoa-xsd")
)
ALICE, BOB = "alice-token", "bob-token"

#: variant name -> faults; "ok" is the reference
VARIANTS: dict[str, frozenset[str]] = {
    "ok": frozenset(),
    **{fault: frozenset({fault}) for fault in sorted(UWS_FAULTS)},
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


def fixture_app(base: str) -> Starlette:
    """Every UWS variant under /<variant>, every EB variant under /eb/<variant>."""
    routes = [
        Mount(f"/{name}", app=MiniUWS(f"{base}/{name}", faults).app())
        for name, faults in VARIANTS.items()
    ]
    routes += [
        Mount(f"/eb/{name}", app=MiniEB(f"{base}/eb/{name}", faults).app())
        for name, faults in EB_VARIANTS.items()
    ]
    return Starlette(routes=routes)
