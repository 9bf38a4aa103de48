"""Trusted forwarding headers and the fixed prefix, at the ASGI level."""

from __future__ import annotations

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from ivoa_broker.web.proxy import ProxyHeaders, TrustedProxies


async def _where(request: Request) -> JSONResponse:
    client = request.client.host if request.client else None
    return JSONResponse({"base": str(request.base_url), "client": client})


async def _get(trusted: str | None, root_path: str = "", **kwargs: object) -> dict[str, str]:
    app = ProxyHeaders(
        Starlette(routes=[Route("/where", _where)]), TrustedProxies(trusted), root_path
    )
    transport = httpx.ASGITransport(app=app, client=("192.0.2.7", 5000))
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
        response = await client.get("/where", **kwargs)  # type: ignore[arg-type]
        data: dict[str, str] = response.json()
        return data


HEADERS = {
    "X-Forwarded-Proto": "https",
    "X-Forwarded-Host": "broker.example.org",
    "X-Forwarded-Prefix": "/eb/",
    "X-Forwarded-For": "203.0.113.9, 192.0.2.7",
}


async def test_untrusted_peer_headers_are_ignored() -> None:
    body = await _get(None, headers=HEADERS)
    assert body["base"] == "http://testserver/"


async def test_trusted_peer_headers_build_the_public_base() -> None:
    body = await _get("192.0.2.0/24", headers=HEADERS)
    assert body["base"] == "https://broker.example.org/eb/"
    assert body["client"] == "203.0.113.9"


async def test_fixed_root_path() -> None:
    body = await _get(None, "/broker")
    assert body["base"] == "http://testserver/broker/"


def test_networks_and_bad_entries() -> None:
    trusted = TrustedProxies("127.0.0.1, 10.0.0.0/8")
    assert trusted.trusts("10.1.2.3") and trusted.trusts("127.0.0.1")
    assert not trusted.trusts("192.0.2.1") and not trusted.trusts(None)
    with pytest.raises(ValueError, match="not an IP"):
        TrustedProxies("proxy.example.org")


class _Seen:
    """The inner app: keeps the scope it was given."""

    def __init__(self) -> None:
        self.scope: dict[str, object] | None = None

    async def __call__(self, scope: dict[str, object], receive: object, send: object) -> None:
        self.scope = scope


def _scope(headers: list[tuple[bytes, bytes]]) -> dict[str, object]:
    return {
        "type": "http",
        "scheme": "http",
        "root_path": "",
        "headers": headers,
        "client": ("192.0.2.7", 5000),
    }


@pytest.mark.parametrize(
    ("trusted", "headers"),
    [
        (None, [(b"host", b"b"), (b"x-forwarded-proto", b"https")]),  # not believed
        ("192.0.2.0/24", [(b"host", b"b"), (b"accept", b"*/*")]),  # trusted, none sent
        ("198.51.100.0/24", [(b"x-forwarded-host", b"evil.example")]),  # another proxy
    ],
)
async def test_a_request_with_nothing_to_apply_passes_as_it_came(
    trusted: str | None, headers: list[tuple[bytes, bytes]]
) -> None:
    inner = _Seen()
    scope = _scope(headers)
    await ProxyHeaders(inner, TrustedProxies(trusted))(scope, None, None)  # type: ignore[arg-type]
    assert inner.scope is scope
    assert scope == _scope(headers)


async def test_what_is_applied_goes_to_a_copy_of_the_scope() -> None:
    inner = _Seen()
    scope = _scope([(b"host", b"b"), (b"X-Forwarded-Proto", b"https")])
    await ProxyHeaders(inner, TrustedProxies("192.0.2.0/24"), "/p")(scope, None, None)  # type: ignore[arg-type]
    assert inner.scope is not None and inner.scope is not scope
    assert inner.scope["scheme"] == "https" and inner.scope["root_path"] == "/p"
    assert scope["scheme"] == "http" and scope["root_path"] == ""
