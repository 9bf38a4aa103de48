"""The hot read (``web/hot.py``): the answers it gives are byte for byte the route's, and
every request it must not answer reaches the route untouched.

Each request goes to the app twice: as served (with :class:`HotJobReads`) and through a
second middleware stack of the same app built without it; status, headers and body
must be equal. A spy under the lane says whether it answered.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette
from starlette.types import ASGIApp, Receive, Scope, Send

from ivoa_broker.app import create_app
from ivoa_broker.auth.settings import AuthSection
from ivoa_broker.config import ServerSection, Settings
from ivoa_broker.web.hot import HotJobReads, job_id_of

ALICE = "alice-token-0123456789abcdef"
BOB = "bob-token-0123456789abcdefgh"
ROOT = "root-token-0123456789abcdefg"
BROWSER = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"


@dataclass
class Rig:
    served: httpx.AsyncClient
    plain: httpx.AsyncClient
    passed: list[str]  # paths the lane handed on to the stack

    async def both(self, method: str, url: str, **kw: Any) -> tuple[httpx.Response, bool]:
        """The served answer (checked equal to the one without the lane) and whether the
        lane answered it itself."""
        before = len(self.passed)
        served = await self.served.request(method, url, **kw)
        answered = len(self.passed) == before
        plain = await self.plain.request(method, url, **kw)
        assert served.status_code == plain.status_code, (url, kw)
        assert _headers(served) == _headers(plain), (url, kw)
        assert _masked(served.content) == _masked(plain.content), (url, kw)
        return served, answered


def _masked(body: bytes) -> bytes:
    """A page's CSRF token is new on every answer; nothing else may differ."""
    return re.sub(rb'(name="csrf_token" value=")[^"]*', rb"\1", body)


def _headers(response: httpx.Response) -> list[tuple[str, str]]:
    # a page's CSRF cookie is new on every answer; nothing else may differ
    return [(k, v) for k, v in response.headers.multi_items() if k != "set-cookie"]


def _spy(app: ASGIApp, passed: list[str]) -> Callable[[Scope, Receive, Send], Awaitable[None]]:
    async def spy(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            passed.append(scope["path"])
        await app(scope, receive, send)

    return spy


def _stacks(app: Starlette, passed: list[str]) -> ASGIApp:
    """Spy under the app's lane; return the app's stack built without the lane."""
    stack: Any = app.build_middleware_stack()
    app.middleware_stack = stack
    layer = stack
    while not isinstance(layer, HotJobReads):
        layer = layer.app
    layer.app = _spy(layer.app, passed)
    kept = [m for m in app.user_middleware if m.cls is not HotJobReads]
    assert len(kept) == len(app.user_middleware) - 1
    every = app.user_middleware
    app.user_middleware = kept
    try:
        without: ASGIApp = app.build_middleware_stack()
    finally:
        app.user_middleware = every

    async def plain(scope: Scope, receive: Receive, send: Send) -> None:
        scope["app"] = app
        await without(scope, receive, send)

    return plain


def _settings(tmp_path: Path, **server: Any) -> Settings:
    tokens = tmp_path / "tokens.txt"
    tokens.write_text(f"{ALICE} alice\n{BOB} bob\n{ROOT} root admins\n")
    return Settings(
        server=ServerSection(database=tmp_path / "b.db", work_dir=tmp_path / "w", **server),
        auth=AuthSection(anonymous=True, token_file=tokens, admin_groups=["admins"]),
    )


@pytest.fixture
async def rig(tmp_path: Path, request: pytest.FixtureRequest) -> AsyncIterator[Rig]:
    server = getattr(request, "param", {})
    app = create_app(_settings(tmp_path, **server))
    passed: list[str] = []
    async with app.router.lifespan_context(app):
        plain = _stacks(app, passed)
        base = "http://testserver"
        async with (
            httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=base) as a,
            httpx.AsyncClient(transport=httpx.ASGITransport(app=plain), base_url=base) as b,
        ):
            yield Rig(a, b, passed)


async def _create(rig: Rig, token: str | None = None) -> str:
    response = await rig.served.post(
        "/jobs", data={"cmd": "echo", "args": "x<&>\"'"}, headers=_auth(token) if token else {}
    )
    assert response.status_code == 303, response.text
    path: str = httpx.URL(response.headers["location"]).path
    return path


def _auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def test_the_path_rule_is_starlettes() -> None:
    assert job_id_of("/jobs/abc") == "abc"
    assert job_id_of("/jobs/a b%") == "a b%"
    for path in ("/jobs", "/jobs/", "/jobs/abc/", "/jobs/abc/phase", "/jobsx/a", "/x/jobs/a"):
        assert job_id_of(path) is None, path


@pytest.mark.parametrize(
    "accept",
    [
        None,
        "*/*",
        "application/xml",
        "text/xml",
        "application/json",
        "application/*",
        "application/json;q=0.5, application/xml",
        "text/plain",
    ],
)
async def test_an_api_client_gets_the_routes_document_from_the_lane(
    rig: Rig, accept: str | None, uws_xsd: Any
) -> None:
    job = await _create(rig)
    headers = {"Accept": accept} if accept else {}
    for _ in range(2):  # the first read fills the caches, the second is served from them
        response, answered = await rig.both("GET", job, headers=headers)
        assert response.status_code == 200 and answered, rig.passed
        assert response.headers["vary"] == "Accept"
    if response.headers["content-type"] == "application/xml":
        uws_xsd.validate(response.content.decode())
    else:
        assert response.json()["jobId"] == job.rsplit("/", 1)[1]


async def test_owners_tokens_and_admins(rig: Rig) -> None:
    mine = await _create(rig, ALICE)
    response, answered = await rig.both("GET", mine, headers=_auth(ALICE))
    assert response.status_code == 200 and answered
    assert b"<uws:ownerId>alice</uws:ownerId>" in response.content
    # an admin reads another owner's job as that owner (the lane takes that too)
    response, answered = await rig.both("GET", mine, headers=_auth(ROOT))
    assert response.status_code == 200 and answered
    # a stranger, an anonymous caller and a bad token are the route's to answer
    for headers in (_auth(BOB), {}, _auth("not-a-known-token-000000")):
        response, answered = await rig.both("GET", mine, headers=headers)
        assert response.status_code in (401, 404) and not answered, headers
    assert response.status_code == 401 and "www-authenticate" in response.headers
    response, answered = await rig.both("GET", mine, headers={"Authorization": "Basic eDp5"})
    assert response.status_code == 401 and not answered


async def test_what_the_lane_leaves_to_the_route(rig: Rig) -> None:
    job = await _create(rig)
    for method, url, headers in (
        ("GET", job, {"Accept": BROWSER}),  # the HTML page
        ("GET", job + "?WAIT=0", {}),
        ("GET", job + "?PHASE=EXECUTING&WAIT=0", {}),
        ("HEAD", job, {}),
        ("GET", job + "/", {}),
        ("GET", job + "/phase", {}),
        ("GET", "/jobs/no-such-job", {}),
        ("GET", "/jobs/no-such-job", {"Accept": "application/json"}),
        ("POST", job, {}),
    ):
        response, answered = await rig.both(method, url, headers=headers)
        assert not answered, (method, url, headers, response.status_code)
    response, _ = await rig.both("GET", "/jobs/no-such-job")
    assert response.status_code == 404


async def test_a_write_is_seen_by_the_next_read(rig: Rig) -> None:
    job = await _create(rig)
    first, answered = await rig.both("GET", job)
    assert answered
    when = (datetime.now(UTC) + timedelta(days=2)).replace(microsecond=0)
    text = when.strftime("%Y-%m-%dT%H:%M:%S")
    assert text.encode() not in first.content
    changed = await rig.served.post(job + "/destruction", data={"DESTRUCTION": text + "Z"})
    assert changed.status_code == 303
    second, answered = await rig.both("GET", job)
    assert answered and f"<uws:destruction>{text}".encode() in second.content


@pytest.mark.parametrize("rig", [{"root_path": "/broker"}], indirect=True)
async def test_behind_a_prefix_the_urls_carry_it(rig: Rig) -> None:
    job = await _create(rig)
    assert job.startswith("/broker/jobs/")
    for path in (job, job.removeprefix("/broker")):  # as a proxy passes it, or strips it
        response, answered = await rig.both("GET", path, headers={"Accept": "application/json"})
        assert response.status_code == 200 and answered, path


@pytest.mark.parametrize("rig", [{"cors_origins": ["https://app.example.org"]}], indirect=True)
async def test_with_cors_configured_every_read_is_the_stacks(rig: Rig) -> None:
    job = await _create(rig)
    origin = {"Origin": "https://app.example.org"}
    response, answered = await rig.both("GET", job, headers=origin)
    assert not answered
    assert response.headers["access-control-allow-origin"] == "https://app.example.org"
    response, answered = await rig.both("GET", job)  # Vary: Origin on every answer
    assert not answered and response.headers["vary"] == "Accept, Origin"


async def test_a_failing_store_read_is_the_routes_to_answer(
    rig: Rig, monkeypatch: pytest.MonkeyPatch
) -> None:
    job = await _create(rig)
    await rig.both("GET", job)
    app: Any = rig.served._transport.app  # type: ignore[attr-defined]
    broker = app.state.broker
    broker.store.cache.clear()
    calls = 0

    async def broken(job_id: str) -> None:
        nonlocal calls
        calls += 1
        raise OSError("disk on fire")

    monkeypatch.setattr(broker.store, "get", broken)
    with pytest.raises(OSError, match="disk on fire"):
        await rig.served.get(job)  # the route's own answer to it: the server error
    assert calls == 2  # the lane's attempt, then the route's
