"""Ambiguous framing is named; the body timeout only applies while a body is due."""

from __future__ import annotations

import asyncio

import pytest

from ivoa_broker.errors import RequestTimeout
from ivoa_broker.web.framing import EdgeLimits, ambiguous


@pytest.mark.parametrize(
    ("headers", "problem"),
    [
        ([(b"content-length", b"4"), (b"transfer-encoding", b"chunked")], "both"),
        ([(b"Content-Length", b"4"), (b"content-length", b"5")], "conflicting"),
        ([(b"transfer-encoding", b"chunked"), (b"transfer-encoding", b"chunked")], "more than"),
    ],
)
def test_ambiguous(headers: list[tuple[bytes, bytes]], problem: str) -> None:
    found = ambiguous(headers)
    assert found is not None and problem in found


def test_plain_framing_passes() -> None:
    assert ambiguous([(b"content-length", b"4"), (b"content-length", b"4")]) is None
    assert ambiguous([(b"transfer-encoding", b"chunked")]) is None
    assert ambiguous([]) is None


async def test_stalled_body_times_out_and_finished_body_does_not() -> None:
    seen: list[str] = []

    async def app(scope, receive, send):  # type: ignore[no-untyped-def]
        first = await receive()
        seen.append(first["type"])
        if first.get("more_body"):
            await receive()  # stalls
        else:
            await receive()  # waits for the disconnect: no timeout here

    middleware = EdgeLimits(app, body_timeout=0.05)
    gate = asyncio.Event()

    def receiver(messages: list[dict[str, object]]):  # type: ignore[no-untyped-def]
        async def receive() -> dict[str, object]:
            if messages:
                return messages.pop(0)
            await gate.wait()
            return {"type": "http.disconnect"}

        return receive

    async def send(message):  # type: ignore[no-untyped-def]
        pass

    scope = {"type": "http", "headers": []}
    with pytest.raises(RequestTimeout):
        await middleware(
            scope, receiver([{"type": "http.request", "body": b"a", "more_body": True}]), send
        )
    done = asyncio.create_task(
        middleware(scope, receiver([{"type": "http.request", "body": b"a"}]), send)
    )
    await asyncio.sleep(0.2)
    assert not done.done()  # still waiting for the disconnect, no timeout
    gate.set()
    await done
