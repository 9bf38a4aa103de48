"""The probe's broker: two owners (alice, bob), the local platform, the default
connection limits (the keep-alive of 5 s is above the probe clients' 1 s keep-alive
expiry, so no request meets a connection the broker is closing), debug logging to a
file we can read (test_connections.py has a broker of its own with short limits).

One broker per test run (session scope), on a free port with its own folder."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from ivoa_broker.testing.broker_http import wait_phase
from tests.server import BrokerProcess

ALICE = "alice-probe-token-0123456789abcdef"
BOB = "bob-probe-token-0123456789abcdefgh"
#: a credential-looking value that must never reach a log or a document
SECRET = "s3cr3t-probe-value-7f9d2c"

CONFIG = """
[auth]
anonymous = false
token_file = "tokens.txt"

[jobs]
wait_cap = 20

[adapters.local]
plugin = "local"
[adapters.local.config]
max_jobs = 256
containers = "off"
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


#: clients let idle connections go before the broker does (keep-alive 5 s)
LIMITS = httpx.Limits(max_connections=100, keepalive_expiry=1.0)


def client(url: str, token: str) -> httpx.Client:
    """An API client: it keeps no cookies (a page's CSRF cookie would make its form
    POSTs look like a browser's to ivoa_broker.web.csrf)."""
    http = httpx.Client(base_url=url, headers=headers(token), timeout=60, limits=LIMITS)
    http.event_hooks["response"] = [lambda response: http.cookies.clear()]
    return http


def async_client(url: str, token: str, connections: int = 100) -> httpx.AsyncClient:
    limits = httpx.Limits(
        max_connections=connections, max_keepalive_connections=connections, keepalive_expiry=1.0
    )
    return httpx.AsyncClient(base_url=url, headers=headers(token), timeout=60, limits=limits)


def headers(token: str) -> dict[str, str]:
    """The Authorization header of ``token`` (none for an anonymous caller, ``""``)."""
    return {"Authorization": f"Bearer {token}"} if token else {}


@pytest.fixture(scope="session")
def probe(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Probe]:
    workdir = tmp_path_factory.mktemp("probe")
    (workdir / "tokens.txt").write_text(f"{ALICE} alice\n{BOB} bob\n")
    broker = BrokerProcess(workdir, config=CONFIG, args=("--log-level", "debug"))
    broker.start()
    with (
        client(broker.url, ALICE) as alice,
        client(broker.url, BOB) as bob,
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
    return wait_phase(
        client, f"/jobs/{job_id}", {"COMPLETED", "ERROR", "ABORTED", "ARCHIVED"}, limit
    )


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
