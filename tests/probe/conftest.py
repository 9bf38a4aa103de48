"""The probe's broker: two owners (alice, bob), the local platform with few slots,
short WAIT cap and short slow-client limits, debug logging to a file we can read.

One broker per test run (session scope), on a free port with its own folder."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from tests.server import BrokerProcess

ALICE = "alice-probe-token-0123456789abcdef"
BOB = "bob-probe-token-0123456789abcdefgh"
#: a credential-looking value that must never reach a log or a document
SECRET = "s3cr3t-probe-value-7f9d2c"

CONFIG = """
[server]
timeout_request_head = 1.5
timeout_body = 1.5
timeout_keep_alive = 2

[auth]
anonymous = false
token_file = "tokens.txt"

[jobs]
wait_cap = 20

[adapters.local]
plugin = "local"
[adapters.local.config]
max_jobs = 256
"""


@dataclass
class Probe:
    broker: BrokerProcess
    alice: httpx.Client
    bob: httpx.Client

    @property
    def url(self) -> str:
        return self.broker.url

    @property
    def log(self) -> Path:
        return self.broker.log


def headers(token: str) -> dict[str, str]:
    """The Authorization header of ``token`` (none for an anonymous caller, ``""``)."""
    return {"Authorization": f"Bearer {token}"} if token else {}


@pytest.fixture(scope="session")
def probe(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Probe]:
    workdir = tmp_path_factory.mktemp("probe")
    (workdir / "tokens.txt").write_text(f"{ALICE} alice\n{BOB} bob\n")
    broker = BrokerProcess(workdir, config=CONFIG, extra_args=("--log-level", "debug"))
    broker.start()
    with (
        httpx.Client(base_url=broker.url, headers=headers(ALICE), timeout=30) as alice,
        httpx.Client(base_url=broker.url, headers=headers(BOB), timeout=30) as bob,
    ):
        yield Probe(broker, alice, bob)
    broker.stop()


def create(client: httpx.Client, data: object, **kw: object) -> str:
    """POST /jobs; the new job's id (asserts the 303)."""
    response = client.post("/jobs", data=data, follow_redirects=False, **kw)  # type: ignore[arg-type]
    assert response.status_code == 303, response.text
    return str(response.headers["location"]).rsplit("/", 1)[1]


def settle(client: httpx.Client, job_id: str, limit: float = 60) -> str:
    """Wait (with WAIT) until the job is terminal; its phase."""
    import time

    deadline = time.monotonic() + limit
    while True:
        phase = client.get(f"/jobs/{job_id}/phase").text
        if phase in ("COMPLETED", "ERROR", "ABORTED", "ARCHIVED"):
            return phase
        assert time.monotonic() < deadline, f"job {job_id} stuck in {phase}"
        client.get(f"/jobs/{job_id}", params={"WAIT": 5, "PHASE": phase})


def raw_request(probe: Probe, data: bytes, timeout: float = 10) -> tuple[int, bytes]:
    """Send bytes as they are (no client normalises them); the status and the body."""
    import socket

    with socket.create_connection(("127.0.0.1", probe.broker.port), timeout=timeout) as sock:
        sock.sendall(data)
        chunks = []
        while chunk := sock.recv(65536):
            chunks.append(chunk)
    reply = b"".join(chunks)
    head, _, body = reply.partition(b"\r\n\r\n")
    status = int(head.split(b" ", 2)[1]) if head.startswith(b"HTTP/") else 0
    return status, body
