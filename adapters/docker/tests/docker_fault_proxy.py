"""A unix-socket HTTP proxy in front of a real engine that can make the next request
fail (401, 404, 503, a body that does not parse, a dropped connection, no answer).

The adapter talks to the proxy as it would to the engine; the conformance kit's
``fail_next(op, fault)`` arms one fault for the next request that arrives.
Responses are relayed as they come (chunked streams such as ``/events`` too).
"""

from __future__ import annotations

import contextlib
import json
import shutil
import socket
import socketserver
import tempfile
import threading
from pathlib import Path

from ivoa_broker.testing import Fault

_STATUS = {
    Fault.AUTH: (401, "Unauthorized"),
    Fault.NOT_FOUND: (404, "Not Found"),
    Fault.UNAVAILABLE: (503, "Service Unavailable"),
}


def _read_head(sock: socket.socket, buf: bytearray) -> bytes | None:
    while b"\r\n\r\n" not in buf:
        chunk = sock.recv(65536)
        if not chunk:
            return None
        buf += chunk
    head, _, rest = bytes(buf).partition(b"\r\n\r\n")
    buf[:] = rest
    return head + b"\r\n\r\n"


def _headers(head: bytes) -> dict[str, str]:
    lines = head.decode("latin-1").split("\r\n")[1:]
    return {k.strip().lower(): v.strip() for k, _, v in (ln.partition(":") for ln in lines if ln)}


def _read_exact(sock: socket.socket, buf: bytearray, size: int) -> bytes:
    while len(buf) < size:
        chunk = sock.recv(65536)
        if not chunk:
            raise ConnectionError("short body")
        buf += chunk
    out = bytes(buf[:size])
    del buf[:size]
    return out


def _read_line(sock: socket.socket, buf: bytearray) -> bytes:
    while b"\r\n" not in buf:
        chunk = sock.recv(65536)
        if not chunk:
            raise ConnectionError("short chunk")
        buf += chunk
    line, _, rest = bytes(buf).partition(b"\r\n")
    buf[:] = rest
    return line + b"\r\n"


def _relay_body(src: socket.socket, buf: bytearray, dst: socket.socket, head: bytes) -> None:
    headers = _headers(head)
    if headers.get("transfer-encoding", "").lower() == "chunked":
        while True:
            line = _read_line(src, buf)
            size = int(line.split(b";")[0], 16)
            dst.sendall(line + _read_exact(src, buf, size + 2))
            if size == 0:
                return
    length = int(headers.get("content-length", "0") or 0)
    if length:
        dst.sendall(_read_exact(src, buf, length))


class FaultProxy:
    def __init__(self, upstream: Path) -> None:
        self.upstream = upstream
        self.dir = Path(tempfile.mkdtemp(prefix="ivbf-", dir="/tmp"))
        self.socket = self.dir / "proxy.sock"
        self._armed: Fault | None = None
        self._lock = threading.Lock()
        self._closing = threading.Event()
        proxy = self

        class Handler(socketserver.BaseRequestHandler):
            def handle(self) -> None:
                proxy._serve(self.request)

        self._server = socketserver.ThreadingUnixStreamServer(str(self.socket), Handler)
        self._server.daemon_threads = True
        threading.Thread(target=self._server.serve_forever, daemon=True).start()

    @property
    def host(self) -> str:
        return f"unix://{self.socket}"

    def fail_next(self, fault: Fault) -> None:
        with self._lock:
            self._armed = fault

    def _take(self) -> Fault | None:
        with self._lock:
            fault, self._armed = self._armed, None
            return fault

    def _serve(self, client: socket.socket) -> None:
        upstream: socket.socket | None = None
        cbuf, ubuf = bytearray(), bytearray()
        try:
            while True:
                head = _read_head(client, cbuf)
                if head is None:
                    return
                length = int(_headers(head).get("content-length", "0") or 0)
                body = _read_exact(client, cbuf, length) if length else b""
                # the adapter's background event stream never takes a fault meant for a call
                background = b"/events" in head.split(b"\r\n", 1)[0]
                fault = None if background else self._take()
                if fault is not None:
                    if not self._answer(client, fault):
                        return
                    continue
                if upstream is None:
                    upstream = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
                    upstream.connect(str(self.upstream))
                upstream.sendall(head + body)
                answer = _read_head(upstream, ubuf)
                if answer is None:
                    return
                client.sendall(answer)
                _relay_body(upstream, ubuf, client, answer)
        except OSError:
            return
        finally:
            if upstream is not None:
                upstream.close()
            with contextlib.suppress(OSError):
                client.close()

    def _answer(self, client: socket.socket, fault: Fault) -> bool:
        """Answer with ``fault``; False when the connection is to be dropped."""
        if fault == Fault.CONNECTION:
            return False
        if fault == Fault.TIMEOUT:
            self._closing.wait(30)  # say nothing until the client gives up
            return False
        if fault == Fault.GARBAGE:
            status, text, body = 200, "OK", b"}{ this is not json"
        else:
            status, text = _STATUS[fault]
            body = json.dumps({"message": f"injected {fault.value}"}).encode()
        client.sendall(
            f"HTTP/1.1 {status} {text}\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(body)}\r\n\r\n".encode()
            + body
        )
        return True

    def close(self) -> None:
        self._closing.set()
        self._server.shutdown()
        self._server.server_close()
        shutil.rmtree(self.dir, ignore_errors=True)
