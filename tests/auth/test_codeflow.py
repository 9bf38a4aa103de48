"""The authorization-code flow's pure parts (auth/codeflow.py); the flow against the real
provider is tests/oidc/test_pages_oidc.py."""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from ivoa_broker.auth.codeflow import FlowError, begin, challenge_of, finish
from ivoa_broker.auth.oidc import OIDCProvider
from ivoa_broker.auth.settings import OIDCSection


def test_pkce_challenge_is_rfc_7636s() -> None:
    # RFC 7636, appendix B
    verifier = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"
    assert challenge_of(verifier) == "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"


class Provider(OIDCProvider):
    """A provider whose discovery document is given (no HTTP for begin)."""

    def __init__(self, section: OIDCSection, http: httpx.AsyncClient) -> None:
        super().__init__(section, http)
        self._metadata = {
            "issuer": section.issuer,
            "jwks_uri": "https://idp.example/jwks",
            "authorization_endpoint": "https://idp.example/auth",
            "token_endpoint": "https://idp.example/token",
        }


def _section(**extra: Any) -> OIDCSection:
    return OIDCSection(issuer="https://idp.example", login_client_id="web", **extra)


async def test_begin_asks_for_a_code_with_pkce_and_state() -> None:
    async with httpx.AsyncClient() as http:
        provider = Provider(_section(login_resource="urn:b"), http)
        started = await begin(provider, 0, "https://b.example/login/callback", "/jobs/x")
    url = urlsplit(started.url)
    assert f"{url.scheme}://{url.netloc}{url.path}" == "https://idp.example/auth"
    query = {k: v[0] for k, v in parse_qs(url.query).items()}
    assert query["response_type"] == "code"
    assert query["client_id"] == "web"
    assert query["redirect_uri"] == "https://b.example/login/callback"
    assert query["code_challenge_method"] == "S256"
    assert query["code_challenge"] == challenge_of(started.state["v"])
    assert query["state"] == started.state["s"]
    assert query["resource"] == "urn:b"
    assert started.state["v"] not in started.url  # the verifier stays in the sealed cookie
    assert started.state["n"] == "/jobs/x"


async def test_begin_without_a_login_client_is_refused() -> None:
    async with httpx.AsyncClient() as http:
        provider = Provider(OIDCSection(issuer="https://idp.example"), http)
        with pytest.raises(FlowError):
            await begin(provider, 0, "https://b.example/login/callback", "/jobs")


async def test_finish_checks_state_before_anything_else() -> None:
    calls: list[httpx.Request] = []

    def answer(request: httpx.Request) -> httpx.Response:
        calls.append(request)
        return httpx.Response(200, json={"access_token": "t"})

    async with httpx.AsyncClient(transport=httpx.MockTransport(answer)) as http:
        provider = Provider(_section(), http)
        flow = {"s": "right", "v": "v" * 50, "n": "/jobs", "r": "https://b/login/callback"}
        with pytest.raises(FlowError, match="state"):
            await finish(provider, flow, {"state": "wrong", "code": "c"})
        with pytest.raises(FlowError, match="refused"):
            await finish(provider, flow, {"state": "right", "error": "access_denied"})
        assert calls == []
        token = await finish(provider, flow, {"state": "right", "code": "c"})
    assert token == "t"
    sent = parse_qs(calls[0].content.decode())
    assert sent["code_verifier"] == ["v" * 50]
    assert sent["client_id"] == ["web"]  # a public client names itself


async def test_finish_reports_a_refused_code() -> None:
    def answer(request: httpx.Request) -> httpx.Response:
        assert request.headers["authorization"].startswith("Basic ")  # confidential client
        return httpx.Response(400, json={"error": "invalid_grant"})

    async with httpx.AsyncClient(transport=httpx.MockTransport(answer)) as http:
        provider = Provider(_section(login_client_secret="s3cret"), http)
        flow = {"s": "st", "v": "v" * 50, "n": "/jobs", "r": "https://b/login/callback"}
        with pytest.raises(FlowError, match="invalid_grant"):
            await finish(provider, flow, {"state": "st", "code": "c"})
