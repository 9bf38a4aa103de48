"""Probe: idle and slow clients are cut off (this module's broker gives a request head
2 s, a stalled body 2 s, an idle kept-alive connection 1 s), oversized request heads
get 431, while others are served; ambiguous framing and form bodies that are not UTF-8
are refused with 400. Every test runs on both of uvicorn's protocols (``server.http``):
the limits are ivoa_broker.web.connections' own, not the parser's."""

from __future__ import annotations

import select
import socket
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.probe.conftest import ALICE, BOB, Probe, client, raw_request
from tests.server import BrokerProcess

#: generous bound for "the broker closed it" (the configured limits are 1-2 s)
CLOSED_WITHIN = 30.0
MAX_HEAD = 4096
EDGE_CONFIG = """
[server]
http = "{http}"
timeout_request_head = 2
timeout_body = 2
timeout_keep_alive = 1
max_header_bytes = {max_head}

[auth]
anonymous = false
token_file = "tokens.txt"
"""


@pytest.fixture(scope="module", params=["h11", "httptools"])
def probe(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Probe]:
    """A broker of this module's own, with short slow-client limits, on each protocol."""
    http = str(request.param)
    workdir: Path = tmp_path_factory.mktemp(f"edge-{http}")
    (workdir / "tokens.txt").write_text(f"{ALICE} alice\n{BOB} bob\n")
    config = EDGE_CONFIG.format(http=http, max_head=MAX_HEAD)
    broker = BrokerProcess(workdir, config=config).start()
    with client(broker.url, ALICE) as alice, client(broker.url, BOB) as bob:
        yield Probe(broker, alice, bob)
    broker.stop()


def test_the_broker_runs_the_protocol_asked_for(probe: Probe) -> None:
    asked = "httptools" if 'http = "httptools"' in (probe.broker.config or "") else "h11"
    assert f"http={asked}" in probe.broker.log_text(), probe.broker.log_text()[-2000:]


def _connect(probe: Probe) -> socket.socket:
    return socket.create_connection(("127.0.0.1", probe.broker.port), timeout=CLOSED_WITHIN)


def _closed_by_peer(sock: socket.socket) -> bytes:
    """Read until the broker closes the connection; what it sent before closing."""
    chunks = []
    try:
        while chunk := sock.recv(65536):
            chunks.append(chunk)
    except ConnectionResetError:  # closed with bytes of ours unread: what came before counts
        pass
    return b"".join(chunks)


def test_idle_connection_is_closed(probe: Probe) -> None:
    with _connect(probe) as sock:
        assert _closed_by_peer(sock) == b""


def test_idle_kept_alive_connection_is_closed(probe: Probe) -> None:
    with _connect(probe) as sock:
        sock.sendall(b"GET /availability HTTP/1.1\r\nHost: x\r\n\r\n")
        reply = _closed_by_peer(sock)  # the answer, then the close at the keep-alive limit
    assert reply.startswith(b"HTTP/1.1 200"), reply[:200]
    assert reply.count(b"HTTP/1.1 ") == 1  # one answer, then the close


def _head(padding: int) -> bytes:
    return (
        b"GET /availability HTTP/1.1\r\nHost: x\r\nX-Padding: "
        + b"p" * padding
        + b"\r\nConnection: close\r\n\r\n"
    )


def test_head_within_the_limit_is_served(probe: Probe) -> None:
    request = _head(MAX_HEAD - 200)
    assert len(request) < MAX_HEAD
    status, _ = raw_request(probe, request)
    assert status == 200


@pytest.mark.parametrize("pieces", [1, 64], ids=["whole", "in-pieces"])
def test_oversized_head_gets_431(probe: Probe, pieces: int) -> None:
    request = _head(4 * MAX_HEAD)
    step = -(-len(request) // pieces)
    with _connect(probe) as sock:
        for at in range(0, len(request), step):
            if select.select([sock], [], [], 0.01)[0]:
                break  # it answered: stop sending (more would only meet a closed socket)
            try:
                sock.sendall(request[at : at + step])
            except OSError:
                break
        reply = _closed_by_peer(sock)
    assert reply.startswith(b"HTTP/1.1 431"), reply[:200]
    assert f"larger than {MAX_HEAD} bytes".encode() in reply


def test_slow_head_is_cut_off_while_others_are_served(probe: Probe) -> None:
    with _connect(probe) as sock:
        sock.sendall(b"GET /availability HTTP/1.1\r\nHost: x\r\n")
        deadline = time.monotonic() + CLOSED_WITHIN
        cut = False
        while time.monotonic() < deadline:
            try:
                sock.sendall(b"X")  # a header that never ends, a byte at a time
            except OSError:
                cut = True
                break
            sock.settimeout(0.3)
            try:
                if sock.recv(65536) == b"":
                    cut = True
                    break
            except TimeoutError:
                pass
            assert probe.alice.get("/availability").status_code == 200
        assert cut, "a slow request head kept its connection"


def test_stalled_body_gets_408(probe: Probe) -> None:
    with _connect(probe) as sock:
        sock.sendall(
            b"POST /jobs HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer "
            + ALICE.encode()
            + b"\r\nContent-Type: application/x-www-form-urlencoded\r\n"
            b"Content-Length: 100\r\n\r\ncmd=tr"
        )
        sock.settimeout(CLOSED_WITHIN)
        reply = sock.recv(65536)
    assert reply.startswith(b"HTTP/1.1 408"), reply[:200]


def test_content_length_with_transfer_encoding_is_refused(probe: Probe) -> None:
    body = b"7\r\ncmd=tru\r\n0\r\n\r\n"
    status, text = raw_request(
        probe,
        b"POST /jobs HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer "
        + ALICE.encode()
        + b"\r\nContent-Type: application/x-www-form-urlencoded\r\n"
        b"Content-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n" + body,
    )
    assert status == 400, text
    assert b"Transfer-Encoding" in text


def test_conflicting_lengths_are_refused(probe: Probe) -> None:
    status, _ = raw_request(
        probe,
        b"POST /jobs HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\nContent-Length: 5\r\n\r\ncmd=",
    )
    assert status == 400


@pytest.mark.parametrize(
    "body", [b"cmd=\xff\xfe", b"cmd=%FF", b"cmd=true&RUNID=%C3%28", b"cmd=\xc3\x28"]
)
def test_form_body_that_is_not_utf8_is_refused(probe: Probe, body: bytes) -> None:
    response = probe.alice.post(
        "/jobs",
        content=body,
        headers={"Content-Type": "application/x-www-form-urlencoded"},
        follow_redirects=False,
    )
    assert response.status_code == 400, response.text
    assert "UTF-8" in response.text


def test_utf8_form_body_is_accepted(probe: Probe) -> None:
    response = probe.alice.post(
        "/jobs",
        content="cmd=true&RUNID=%C3%A9t%C3%A9 ☀".encode(),
        headers={"Content-Type": "application/x-www-form-urlencoded"},
        follow_redirects=False,
    )
    assert response.status_code == 303, response.text
    job = probe.alice.get(str(response.headers["location"]), headers={"Accept": "application/json"})
    assert job.json()["runId"] == "été ☀"


def test_chunked_body_past_the_limit_is_refused(probe: Probe) -> None:
    def chunks():  # type: ignore[no-untyped-def]
        yield b"cmd=true&args="
        for _ in range(40):
            yield b"x" * 65536

    response = probe.alice.post(
        "/jobs", content=chunks(), headers={"Content-Type": "application/x-www-form-urlencoded"}
    )
    assert response.status_code == 413


def test_multipart_field_that_is_not_utf8_is_refused(probe: Probe) -> None:
    body = b'--b\r\nContent-Disposition: form-data; name="cmd"\r\n\r\n\xff\xfe\r\n--b--\r\n'
    response = probe.alice.post(
        "/jobs", content=body, headers={"Content-Type": "multipart/form-data; boundary=b"}
    )
    assert response.status_code == 400, response.text


def test_the_broker_still_answers(probe: Probe) -> None:
    assert httpx.get(f"{probe.url}/availability", timeout=10).status_code == 200
