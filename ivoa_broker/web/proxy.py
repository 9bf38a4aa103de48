"""Reverse proxies: believe ``X-Forwarded-*`` only from the addresses configured.

For a request whose peer is trusted (``server.forwarded_allow_ips``), the ASGI scope
takes the client address from ``X-Forwarded-For`` (the right-most untrusted entry),
the scheme from ``X-Forwarded-Proto``, the host from ``X-Forwarded-Host`` and the path
prefix from ``X-Forwarded-Prefix``. ``server.root_path`` sets a fixed prefix for
every request (a proxy that strips ``/broker`` before passing the request on).
Every URL the broker emits is built from the result (``request.base_url``), unless
``server.public_url`` is configured, which wins.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable

from starlette.types import ASGIApp, Receive, Scope, Send

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


class TrustedProxies:
    """A set of addresses/networks, or everything (``*``)."""

    def __init__(self, spec: str | None) -> None:
        parts = [p.strip() for p in (spec or "").split(",") if p.strip()]
        self.everyone = "*" in parts
        self.networks: list[Network] = []
        for part in parts:
            if part != "*":
                try:
                    self.networks.append(ipaddress.ip_network(part, strict=False))
                except ValueError as exc:
                    raise ValueError(
                        f"forwarded_allow_ips: {part!r} is not an IP address or network"
                    ) from exc

    def __bool__(self) -> bool:
        return self.everyone or bool(self.networks)

    def trusts(self, host: str | None) -> bool:
        if self.everyone:
            return True
        if not host:
            return False
        try:
            address = ipaddress.ip_address(host)
        except ValueError:
            return False
        return any(address in net for net in self.networks)


class ProxyHeaders:
    """ASGI middleware applying the trusted forwarding headers and the fixed prefix."""

    def __init__(self, app: ASGIApp, trusted: TrustedProxies, root_path: str = "") -> None:
        self.app = app
        self.trusted = trusted
        self.root_path = root_path.rstrip("/")

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] in ("http", "websocket"):
            forwarded: dict[str, str] = {}
            if self.trusted:
                client = scope.get("client")
                if self.trusted.trusts(client[0] if client else None):
                    forwarded = _forwarded(scope["headers"])
            # a scope of its own only when something in it changes (the usual request,
            # direct and without a prefix, passes as it came)
            if self.root_path or forwarded:
                scope = dict(scope)
                if self.root_path:
                    scope["root_path"] = self.root_path
                if forwarded:
                    self._apply(scope, forwarded)
        await self.app(scope, receive, send)

    def _apply(self, scope: dict[str, object], headers: dict[str, str]) -> None:
        proto = _first(headers.get("x-forwarded-proto"))
        if proto in ("http", "https"):
            scope["scheme"] = proto
        host = _first(headers.get("x-forwarded-host"))
        if host:
            raw = [(k, v) for k, v in scope["headers"] if k != b"host"]  # type: ignore[attr-defined]
            scope["headers"] = [*raw, (b"host", host.encode("latin-1"))]
        prefix = _first(headers.get("x-forwarded-prefix"))
        if prefix is not None:
            scope["root_path"] = "/" + prefix.strip("/") if prefix.strip("/") else ""
        forwarded_for = headers.get("x-forwarded-for")
        if forwarded_for:
            chain = [p.strip() for p in forwarded_for.split(",") if p.strip()]
            client = _client_of(chain, self.trusted)
            if client:
                port = scope["client"][1] if scope.get("client") else 0  # type: ignore[index]
                scope["client"] = (client, port)


def _forwarded(raw: Iterable[tuple[bytes, bytes]]) -> dict[str, str]:
    """The ``X-Forwarded-*`` headers (names in lower case; repeated ones joined by commas)."""
    found: dict[str, str] = {}
    for key, value in raw:
        name = key.decode("latin-1").lower()
        if not name.startswith("x-forwarded-"):
            continue
        text = value.decode("latin-1")
        found[name] = f"{found[name]},{text}" if name in found else text
    return found


def _first(value: str | None) -> str | None:
    if value is None:
        return None
    return value.split(",")[0].strip()


def _client_of(chain: list[str], trusted: TrustedProxies) -> str | None:
    for hop in reversed(chain):
        if not trusted.trusts(hop):
            return hop
    return chain[0] if chain else None
