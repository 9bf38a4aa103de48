"""The identity middleware (``auth/middleware.py``): which paths, and its 401/429 headers."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ivoa_broker.auth.identity import Identity
from ivoa_broker.auth.middleware import PROTECTED, IdentityMiddleware, protected


def _as_before(path: str) -> bool:
    """The rule as first written."""
    return any(path == p or path.startswith(p + "/") for p in PROTECTED)


PIECES = st.sampled_from([*PROTECTED, "/", "/jobsx", "x", "/job", "/capabilities", "//", ""])


@given(st.lists(PIECES, max_size=4).map("".join))
def test_protected_is_the_rule_as_first_written(path: str) -> None:
    assert protected(path) == _as_before(path)


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        ("/jobs", True),
        ("/jobs/", True),
        ("/jobs/x/phase", True),
        ("/sessions/x", True),
        ("/jobsx", False),
        ("/job", False),
        ("/capabilities", False),
        ("/", False),
    ],
)
def test_protected_paths(path: str, expected: bool) -> None:
    assert protected(path) is expected


class _Auth:
    def __init__(self) -> None:
        self.challenged = 0
        self.sessions = None

    async def identify(self, authorization: str | None) -> Identity:
        return Identity(owner=None)

    def challenges(self, error: str | None = None) -> list[str]:
        self.challenged += 1
        return ['Bearer realm="test"']


async def _answer(status: int, auth: _Auth) -> list[dict[str, Any]]:
    broker = SimpleNamespace(
        auth=auth,
        policy=SimpleNamespace(remember=lambda identity: None),
        settings=SimpleNamespace(auth=SimpleNamespace(retry_after=7)),
    )
    app = SimpleNamespace(state=SimpleNamespace(broker=broker))

    async def inner(scope: Any, receive: Any, send: Any) -> None:
        await send({"type": "http.response.start", "status": status, "headers": []})
        await send({"type": "http.response.body", "body": b""})

    sent: list[dict[str, Any]] = []

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    scope = {"type": "http", "method": "GET", "path": "/jobs", "headers": [], "app": app}
    await IdentityMiddleware(inner)(scope, None, send)  # type: ignore[arg-type]
    return sent


async def test_the_challenges_are_built_for_a_401_only() -> None:
    auth = _Auth()
    ok = await _answer(200, auth)
    assert ok[0]["headers"] == [] and auth.challenged == 0
    refused = await _answer(401, auth)
    assert refused[0]["headers"] == [(b"www-authenticate", b'Bearer realm="test"')]
    assert auth.challenged == 1
    limited = await _answer(429, auth)
    assert limited[0]["headers"] == [(b"retry-after", b"7")] and auth.challenged == 1
