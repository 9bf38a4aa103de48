"""The skaha client over real HTTP against the emulator: error translation and retries."""

from __future__ import annotations

import socket
from collections.abc import AsyncIterator

import pytest
from canfar_support import RETRIES, TERMINAL, config_for
from ivoa_broker_canfar._client import SkahaClient
from ivoa_broker_canfar.emulator import EmulatorServer, SkahaEmulator

from ivoa_broker.protocol import (
    AuthError,
    FatalError,
    InvalidRequest,
    NoCapacity,
    NotFound,
    Secret,
    TransientError,
)

SESSION = "/skaha/v1/session"


@pytest.fixture
async def client(skaha: EmulatorServer) -> AsyncIterator[SkahaClient]:
    c = SkahaClient(config_for(skaha.url, "unused", timeout_seconds=1.0))
    yield c
    await c.aclose()


@pytest.fixture
def secret(token: str) -> Secret:
    return Secret(token)


def headless(name: str, **extra: str) -> dict[str, str]:
    return {"name": name, "image": TERMINAL, "cmd": "true", **extra}


async def test_create_returns_the_plain_text_id_and_the_listing_shows_it(
    client: SkahaClient, secret: Secret, emulator: SkahaEmulator, user: tuple[str, str]
) -> None:
    ident = await client.create_session(headless("one"), secret)
    assert ident in emulator.native_ids(user[0])
    listed = await client.list_sessions(secret)
    assert [(s.id, s.name, s.type) for s in listed] == [(ident, "one", "headless")]
    assert listed[0].image == TERMINAL
    assert listed[0].start_time is not None


async def test_missing_token_is_an_auth_error(client: SkahaClient) -> None:
    with pytest.raises(AuthError, match="HTTP 401") as caught:
        await client.list_sessions(None)
    assert "missing, invalid or expired" in caught.value.message


async def test_wrong_token_is_an_auth_error(client: SkahaClient) -> None:
    with pytest.raises(AuthError, match="credentials"):
        await client.context(Secret("not-a-known-token"))


async def test_forbidden_is_an_auth_error(
    client: SkahaClient, secret: Secret, emulator: SkahaEmulator
) -> None:
    emulator.faults.fail_next(403, path="/skaha/v1/image")
    with pytest.raises(AuthError, match="HTTP 403"):
        await client.images(secret)


async def test_unknown_session_is_not_found(client: SkahaClient, secret: Secret) -> None:
    with pytest.raises(NotFound):
        await client.get_session("nosuchid", secret)
    await client.delete_session("nosuchid", secret)  # skaha answers 200 even so


async def test_skaha_refusals_carry_skahas_message(client: SkahaClient, secret: Secret) -> None:
    with pytest.raises(InvalidRequest, match="Invalid value for 'cores': 3"):
        await client.create_session(headless("x", cores="3"), secret)
    with pytest.raises(InvalidRequest, match="alpha-numeric"):
        await client.create_session(headless("bad_name"), secret)


async def test_5xx_is_retried_then_succeeds(
    client: SkahaClient, secret: Secret, emulator: SkahaEmulator
) -> None:
    before = emulator.calls_to("GET", SESSION)
    emulator.faults.fail_next(503, count=RETRIES, path=SESSION)
    assert await client.list_sessions(secret) == []
    assert emulator.calls_to("GET", SESSION) - before == RETRIES + 1


async def test_5xx_beyond_the_retries_is_transient(
    client: SkahaClient, secret: Secret, emulator: SkahaEmulator
) -> None:
    before = emulator.calls_to("GET", SESSION)
    emulator.faults.fail_next(500, count=RETRIES + 5, path=SESSION)
    with pytest.raises(TransientError, match=f"HTTP 500.*after {RETRIES + 1} attempts"):
        await client.list_sessions(secret)
    assert emulator.calls_to("GET", SESSION) - before == RETRIES + 1  # bounded


async def test_create_is_not_repeated_after_a_5xx(
    client: SkahaClient, secret: Secret, emulator: SkahaEmulator, user: tuple[str, str]
) -> None:
    emulator.faults.fail_next(503, count=5, method="POST", path=SESSION)
    with pytest.raises(TransientError):
        await client.create_session(headless("once"), secret)
    assert emulator.faults.pending == 4  # exactly one POST was made
    assert emulator.native_ids(user[0]) == set()


async def test_broken_connection_is_transient(
    client: SkahaClient, secret: Secret, emulator: SkahaEmulator
) -> None:
    emulator.faults.drop_next(count=1, path="/skaha/v1/context")
    assert (await client.context(secret)).cores  # retried through
    emulator.faults.drop_next(count=RETRIES + 1, path="/skaha/v1/context")
    with pytest.raises(TransientError, match="network error"):
        await client.context(secret)


async def test_timeout_is_transient(
    client: SkahaClient, secret: Secret, emulator: SkahaEmulator
) -> None:
    emulator.faults.slow_next(3.0, count=RETRIES + 1, path="/skaha/v1/image")
    with pytest.raises(TransientError, match="did not answer GET /v1/image within 1 s"):
        await client.images(secret)


async def test_refused_connection_is_retried_then_transient(secret: Secret) -> None:
    with socket.socket() as sock:  # a port nobody listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    client = SkahaClient(config_for(f"http://127.0.0.1:{port}/skaha", "t"))
    try:
        with pytest.raises(TransientError, match=f"cannot reach.*after {RETRIES + 1} attempts"):
            await client.create_session(headless("x"), secret)
    finally:
        await client.aclose()


@pytest.mark.parametrize(
    ("call", "path"),
    [
        ("list_sessions", SESSION),
        ("context", "/skaha/v1/context"),
        ("images", "/skaha/v1/image"),
        ("repositories", "/skaha/v1/repository"),
    ],
)
async def test_garbage_bodies_are_fatal_with_a_useful_message(
    client: SkahaClient, secret: Secret, emulator: SkahaEmulator, call: str, path: str
) -> None:
    emulator.faults.garbage_next(path=path)
    with pytest.raises(FatalError, match="unexpected body; is the URL a skaha v1 service") as e:
        await getattr(client, call)(secret)
    assert path.removeprefix("/skaha") in e.value.message
    assert e.value.detail is not None
    assert "not json" in e.value.detail


async def test_garbage_instead_of_a_session_id_is_fatal(
    client: SkahaClient, secret: Secret, emulator: SkahaEmulator
) -> None:
    emulator.faults.garbage_next(method="POST", path=SESSION)
    with pytest.raises(FatalError, match="POST /v1/session"):
        await client.create_session(headless("g"), secret)


async def test_wrong_json_shape_is_fatal(
    client: SkahaClient, secret: Secret, emulator: SkahaEmulator
) -> None:
    # a JSON answer, but a dict where a list of sessions belongs
    emulator.faults.fail_next(200, path=SESSION, body='{"sessions": []}')
    with pytest.raises(FatalError, match="GET /v1/session"):
        await client.list_sessions(secret)


async def test_too_many_interactive_sessions_is_no_capacity(
    client: SkahaClient, secret: Secret, emulator: SkahaEmulator
) -> None:
    nb = "images.canfar.net/skaha/base-notebook:latest"
    limit = emulator.settings.max_interactive_sessions
    for i in range(limit):
        await client.create_session({"name": f"nb{i}", "image": nb, "type": "notebook"}, secret)
    with pytest.raises(NoCapacity, match="maximum"):
        await client.create_session({"name": "nbx", "image": nb, "type": "notebook"}, secret)
