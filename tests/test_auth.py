"""Bearer tokens map to owners; jobs are invisible to everyone else (404)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from ivoa_broker.auth import Authenticator, TokenError, TokenFile, read_token_file
from ivoa_broker.errors import Unauthorized
from ivoa_broker.testing.broker_http import wait_phase
from tests.server import BrokerProcess
from tests.web.helpers import UWS, create, doc

ALICE = "alice-token-0123456789abcdef"
BOB = "bob-token-0123456789abcdefgh"


async def test_token_file(tmp_path: Path) -> None:
    path = tmp_path / "tokens"
    path.write_text(f"# comment\n\n{ALICE} alice astro,radio\n{BOB} bob@example.org\n")
    auth = Authenticator(TokenFile(path), anonymous=False, admin_groups=["radio"])
    alice = await auth.identify(f"Bearer {ALICE}")
    assert (alice.owner, alice.groups, alice.admin) == ("alice", {"astro", "radio"}, True)
    assert (await auth.identify(f"bearer {BOB}")).owner == "bob@example.org"
    assert auth.identify_static(f"Bearer {BOB}").owner == "bob@example.org"
    for header in (None, "Bearer nope", "Basic xyz", "Bearer "):
        with pytest.raises(Unauthorized):
            await auth.identify(header)
    assert ALICE not in repr(auth)
    assert ALICE not in repr(alice)
    assert ALICE not in repr(auth.tokens)
    path.write_text("short alice\n")
    with pytest.raises(TokenError, match="line 1"):
        read_token_file(path)


async def test_token_file_keeps_digests_and_reloads_on_change(tmp_path: Path) -> None:
    path = tmp_path / "tokens"
    path.write_text(f"{ALICE} alice\n")
    tokens = TokenFile(path)
    assert ALICE.encode() not in repr(vars(tokens)).encode()
    assert all(ALICE not in repr(e) for e in read_token_file(path).values())
    assert tokens.lookup(ALICE) is not None
    path.write_text(f"{BOB} bob\n")
    assert tokens.lookup(ALICE) is None
    found = tokens.lookup(BOB)
    assert found is not None and found.owner == "bob"
    path.write_text("broken\n")  # a file that no longer parses keeps the previous tokens
    assert tokens.lookup(BOB) is not None
    path.unlink()
    assert tokens.lookup(BOB) is not None


async def test_anonymous_and_static_tokens() -> None:
    auth = Authenticator({ALICE: "alice"}, True)
    assert (await auth.identify(None)).owner is None
    assert (await auth.identify(f"Bearer {ALICE}")).owner == "alice"
    with pytest.raises(Unauthorized) as caught:
        await auth.identify("Bearer unknown-token-0123456789")
    assert 'error="invalid_token"' in caught.value.challenges[0]


@pytest.fixture(scope="module")
def secured(tmp_path_factory: pytest.TempPathFactory) -> Iterator[BrokerProcess]:
    workdir = tmp_path_factory.mktemp("secured")
    (workdir / "tokens.txt").write_text(f"{ALICE} alice\n{BOB} bob\n")
    process = BrokerProcess(
        workdir, config='[auth]\nanonymous = false\ntoken_file = "tokens.txt"\n'
    ).start()
    yield process
    process.stop()


def client(broker: BrokerProcess, token: str | None) -> httpx.Client:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return httpx.Client(base_url=broker.url, headers=headers, timeout=30)


def test_59_to_62_owner_isolation(secured: BrokerProcess) -> None:
    with (
        client(secured, ALICE) as alice,
        client(secured, BOB) as bob,
        client(secured, None) as anon,
    ):
        assert doc(alice.get("/jobs")).findall(UWS + "jobref") == []
        url = create(alice, {"cmd": "sh", "args": ["-c", "echo x; exit 2"], "PHASE": "RUN"})
        assert doc(alice.get(url)).find(UWS + "ownerId").text == "alice"
        assert alice.get(url + "/owner").text == "alice"
        assert wait_phase(alice, url, {"ERROR", "COMPLETED"}, 60) == "ERROR"
        for path in (
            "",
            "/phase",
            "/results",
            "/results/stdout",
            "/error",
            "/parameters",
            "/owner",
        ):
            assert bob.get(url + path).status_code == 404, path
        assert bob.delete(url).status_code == 404
        assert bob.post(url + "/phase", data={"PHASE": "ABORT"}).status_code == 404
        assert doc(bob.get("/jobs")).findall(UWS + "jobref") == []
        assert alice.get(url + "/results/stdout").text == "x\n"
        assert alice.get(url + "/error").status_code == 200
        r = anon.get("/jobs")
        assert r.status_code == 401
        assert r.headers["www-authenticate"].startswith("Bearer")
        assert anon.post("/jobs", data={"cmd": "true"}).status_code == 401
        with client(secured, "wrong-token-xxxxxxxxxx") as stranger:
            assert stranger.get("/jobs").status_code == 401
        assert anon.get("/capabilities").status_code == 200
        assert anon.get("/availability").status_code == 200
        log = (secured.workdir / "broker.log").read_text()
        assert ALICE not in log
        assert BOB not in log
