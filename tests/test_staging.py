"""Core-side input staging against a real local HTTP server, and end to end."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
import pytest

from ivoa_broker.staging import StagingError, fetchable, stage_inputs
from tests.server import BrokerProcess
from tests.web.helpers import create, wait_until

DATA = b"ra,dec\n10.5,-3.25\n"
BIG = 4096


class _Handler(BaseHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:  # quiet
        return

    def do_GET(self) -> None:
        if self.path == "/cat/data.csv":
            self._send(200, DATA)
        elif self.path == "/declared-big":
            self._send(200, b"x" * BIG)
        elif self.path == "/undeclared-big":  # no Content-Length: cut off while reading
            self.send_response(200)
            self.send_header("Connection", "close")
            self.end_headers()
            self.wfile.write(b"y" * BIG)
        elif self.path == "/to-file":
            self.send_response(302)
            self.send_header("Location", "file:///etc/passwd")
            self.send_header("Content-Length", "0")
            self.end_headers()
        elif self.path == "/loop":
            self.send_response(302)
            self.send_header("Location", "/loop")
            self.send_header("Content-Length", "0")
            self.end_headers()
        elif self.path == "/moved":
            self.send_response(301)
            self.send_header("Location", "/cat/data.csv")
            self.send_header("Content-Length", "0")
            self.end_headers()
        else:
            self._send(404, b"no such file")

    def _send(self, status: int, body: bytes) -> None:
        self.send_response(status)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


@pytest.fixture(scope="module")
def files() -> Iterator[str]:
    """A real HTTP server on a free loopback port; its base URL."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def test_only_http_and_https_are_fetched() -> None:
    assert fetchable("http://x/a") and fetchable("HTTPS://x/a")
    for url in ("file:///etc/passwd", "s3://bucket/key", "ivo://org/data", "ftp://x/a"):
        assert not fetchable(url)


async def test_inputs_are_downloaded_in_order_and_removed_afterwards(files: str) -> None:
    urls = [f"{files}/cat/data.csv", "s3://bucket/key", f"{files}/moved"]
    async with stage_inputs(urls, max_bytes=1000, timeout=10) as staged:
        assert [s.url for s in staged] == [urls[0], urls[2]]
        paths = [Path(s.path) for s in staged]
        assert [p.name for p in paths] == ["000-data.csv", "001-moved"]
        assert all(p.read_bytes() == DATA for p in paths)
        assert [s.size_bytes for s in staged] == [len(DATA), len(DATA)]
        assert (paths[0].parent.stat().st_mode & 0o777) == 0o700
    assert not paths[0].parent.exists()


async def test_nothing_to_fetch_makes_no_folder() -> None:
    async with stage_inputs(["ivo://org/x"], max_bytes=10, timeout=1) as staged:
        assert staged == ()


@pytest.mark.parametrize(
    ("path", "reason"),
    [
        ("/declared-big", f"{BIG} bytes is more than the {1000 - len(DATA)} left"),
        ("/undeclared-big", f"more than the {1000 - len(DATA)} bytes left"),
        ("/to-file", "redirected away from http(s)"),
        ("/loop", "more than 5 redirects"),
        ("/missing", "HTTP 404"),
    ],
)
async def test_refusals_name_the_url_and_leave_nothing(files: str, path: str, reason: str) -> None:
    url = f"{files}{path}"
    with pytest.raises(StagingError) as caught:
        async with stage_inputs([f"{files}/cat/data.csv", url], max_bytes=1000, timeout=10):
            pytest.fail("staging should have failed")
    assert url in str(caught.value)
    assert reason in str(caught.value)


async def test_the_size_bound_covers_all_inputs_of_a_job(files: str) -> None:
    urls = [f"{files}/cat/data.csv"] * 3
    with pytest.raises(StagingError, match="left for this job"):
        async with stage_inputs(urls, max_bytes=2 * len(DATA) + 1, timeout=10):
            pytest.fail("staging should have failed")


async def test_a_server_that_does_not_answer_is_a_timeout() -> None:
    async def hang(request: httpx.Request) -> httpx.Response:
        raise httpx.ReadTimeout("no answer", request=request)

    with pytest.raises(StagingError, match=r"no answer within 0\.5 s"):
        async with stage_inputs(
            ["http://example.invalid/x"],
            max_bytes=10,
            timeout=0.5,
            transport=httpx.MockTransport(hang),
        ):
            pytest.fail("staging should have failed")


def test_a_local_job_reads_its_staged_input_through_the_broker(
    broker: BrokerProcess, files: str
) -> None:
    with httpx.Client(base_url=broker.url, timeout=30) as http:
        script = 'ls "$IVOA_BROKER_INPUT_DIR"; cat "$IVOA_BROKER_INPUT_DIR"/000-data.csv'
        url = create(
            http,
            {
                "cmd": "sh",
                "args": ["-c", script],
                "input": f"{files}/cat/data.csv",
                "PHASE": "RUN",
            },
        )
        assert wait_until(http, url, {"COMPLETED", "ERROR"}) == "COMPLETED"
        stdout = http.get(url + "/results/stdout").text
        assert stdout == "000-data.csv\n" + DATA.decode()


def test_a_failed_download_is_the_jobs_error(broker: BrokerProcess, files: str) -> None:
    with httpx.Client(base_url=broker.url, timeout=30) as http:
        url = create(http, {"cmd": "true", "input": f"{files}/missing", "PHASE": "RUN"})
        assert wait_until(http, url, {"COMPLETED", "ERROR"}) == "ERROR"
        error = http.get(url + "/error").text
        assert f"{files}/missing" in error
        assert "HTTP 404" in error
