"""The JWKS cache: refetch on an unknown kid (rate-limited, shared), on age; a failed
periodic refresh keeps the cached keys."""

from __future__ import annotations

import asyncio
from typing import Any

from cryptography.hazmat.primitives.asymmetric import rsa
from jwt.algorithms import RSAAlgorithm

from ivoa_broker.auth.jwks import KeyCache
from ivoa_broker.errors import ServiceUnavailable


def _jwk(kid: str, **extra: Any) -> dict[str, Any]:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048).public_key()
    return {**RSAAlgorithm.to_jwk(key, as_dict=True), "kid": kid, **extra}


class Source:
    def __init__(self) -> None:
        self.keys = [_jwk("one", alg="RS256"), _jwk("enc", use="enc")]
        self.fail = False

    async def __call__(self) -> dict[str, Any]:
        await asyncio.sleep(0)
        if self.fail:
            raise ServiceUnavailable("down")
        return {"keys": list(self.keys)}


async def test_unknown_kid_refetches_once_and_rate_limits() -> None:
    now = [0.0]
    source = Source()
    cache = KeyCache(source, min_refetch=10, max_age=3600, clock=lambda: now[0])
    one = await cache.key("one")
    assert one is not None and one.alg == "RS256"
    assert await cache.key("enc") is None  # encryption keys never verify
    assert cache.fetches == 1
    source.keys.append(_jwk("two"))
    assert await cache.key("two") is None  # within min_refetch: no refetch
    assert cache.fetches == 1
    now[0] = 11
    found = await asyncio.gather(*(cache.key("two") for _ in range(5)))
    assert all(k is not None and k.alg is None for k in found)
    assert cache.fetches == 2  # five callers, one fetch


async def test_age_refresh_and_failure_keeps_keys() -> None:
    now = [0.0]
    source = Source()
    cache = KeyCache(source, min_refetch=0, max_age=100, clock=lambda: now[0])
    assert await cache.key("one") is not None
    now[0] = 101
    source.fail = True
    assert await cache.key("one") is not None  # the provider is down: cached keys stay
    source.fail = False
    source.keys = [_jwk("new")]
    now[0] = 102  # the next try, min_refetch later
    assert await cache.key("one") is None  # refreshed: the old key is gone
    assert await cache.key(None) is not None  # one key: a token without kid may use it
