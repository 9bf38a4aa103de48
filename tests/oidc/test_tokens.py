"""Bearer tokens from a real OpenID provider, verified by the broker's Authenticator:
valid, expired, wrong audience or issuer, tampered, ``alg=none``, rotated keys, opaque
tokens through introspection."""

from __future__ import annotations

import asyncio
import base64
import json
import time
from collections.abc import AsyncIterator
from typing import Any

import httpx
import jwt
import pytest

from ivoa_broker.auth import Authenticator
from ivoa_broker.auth.oidc import OIDCProvider
from ivoa_broker.auth.settings import OIDCSection
from ivoa_broker.errors import ServiceUnavailable, Unauthorized
from tests.oidc.provider import AUDIENCE, CLIENTS, OpenIDProvider, SigningKey


def section(provider: OpenIDProvider, **changes: Any) -> OIDCSection:
    values: dict[str, Any] = {
        "issuer": provider.issuer,
        "audience": AUDIENCE,
        "client_id": "ivoa-broker",
        "client_secret": CLIENTS["ivoa-broker"],
        "jwks_min_refetch": 0,
        **changes,
    }
    return OIDCSection.model_validate(values)


@pytest.fixture
async def http() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient() as client:
        yield client


def authenticator(
    provider: OpenIDProvider, http: httpx.AsyncClient, **changes: Any
) -> Authenticator:
    return Authenticator(
        None,
        anonymous=False,
        oidc=[OIDCProvider(section(provider, **changes), http)],
        admin_groups=["admins"],
    )


async def refused(auth: Authenticator, token: str) -> str:
    with pytest.raises(Unauthorized) as caught:
        await auth.identify(f"Bearer {token}")
    assert token not in caught.value.message
    assert any('error="invalid_token"' in c for c in caught.value.challenges)
    return caught.value.message


async def test_client_credentials_jwt(provider: OpenIDProvider, http: httpx.AsyncClient) -> None:
    token = await asyncio.to_thread(provider.client_credentials, "broker-cli")
    assert jwt.get_unverified_header(token)["kid"] == provider.keys[0].kid
    who = await authenticator(provider, http).identify(f"Bearer {token}")
    assert who.owner == "broker-cli"
    assert who.via == provider.issuer
    assert not who.admin
    assert token not in repr(who)


async def test_authorization_code_users_and_groups(
    provider: OpenIDProvider, http: httpx.AsyncClient
) -> None:
    auth = authenticator(provider, http)
    alice = await auth.identify(f"Bearer {await asyncio.to_thread(provider.login, 'alice')}")
    assert (alice.owner, alice.groups, alice.admin) == ("alice", frozenset({"astro"}), False)
    bob = await auth.identify(f"Bearer {await asyncio.to_thread(provider.login, 'bob')}")
    assert (bob.owner, bob.groups, bob.admin) == ("bob", frozenset(), False)
    carol = await auth.identify(f"Bearer {await asyncio.to_thread(provider.login, 'carol')}")
    assert carol.groups == {"astro", "admins"}
    assert carol.admin


async def test_owner_and_groups_claims_are_configurable(
    provider: OpenIDProvider, http: httpx.AsyncClient
) -> None:
    token = provider.sign({"sub": "u-123", "preferred_username": "dora", "wlcg.groups": ["/x"]})
    auth = authenticator(
        provider, http, owner_claim="preferred_username", groups_claim="wlcg.groups"
    )
    who = await auth.identify(f"Bearer {token}")
    assert (who.owner, who.groups) == ("dora", frozenset({"/x"}))
    prefixed = authenticator(provider, http, owner_prefix="iam:")
    assert (await prefixed.identify(f"Bearer {token}")).owner == "iam:u-123"
    nameless = provider.sign({"sub": ""})
    assert "'sub' claim" in await refused(authenticator(provider, http), nameless)


async def test_expired_and_not_yet_valid_with_leeway(
    provider: OpenIDProvider, http: httpx.AsyncClient
) -> None:
    auth = authenticator(provider, http, leeway=30)
    now = int(time.time())
    assert "expired" in await refused(auth, provider.sign({"exp": now - 120, "iat": now - 300}))
    assert "not valid yet" in await refused(auth, provider.sign({"nbf": now + 120}))
    within = provider.sign({"exp": now - 10, "nbf": now + 10})
    assert (await auth.identify(f"Bearer {within}")).owner == "alice"
    assert "exp" in await refused(auth, provider.sign({"exp": None}))


async def test_wrong_audience_from_the_provider(
    provider: OpenIDProvider, http: httpx.AsyncClient
) -> None:
    token = await asyncio.to_thread(provider.client_credentials, "broker-cli", "urn:other-service")
    assert jwt.decode(token, options={"verify_signature": False})["aud"] == "urn:other-service"
    assert "not meant for this service" in await refused(authenticator(provider, http), token)


async def test_wrong_issuer(provider: OpenIDProvider, http: httpx.AsyncClient) -> None:
    auth = authenticator(provider, http)
    forged = provider.sign({"iss": "http://127.0.0.1:1/evil"})
    assert "does not trust" in await refused(auth, forged)
    # a provider configured with an issuer the discovery document does not confirm
    lying = authenticator(provider, http, issuer=provider.issuer + "/other")
    with pytest.raises(ServiceUnavailable):
        await lying.identify(f"Bearer {provider.sign({'iss': provider.issuer + '/other'})}")


def _b64(data: dict[str, Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()


async def test_tampered_signature_alg_none_and_hmac(
    provider: OpenIDProvider, http: httpx.AsyncClient
) -> None:
    auth = authenticator(provider, http)
    token = await asyncio.to_thread(provider.login, "bob")
    header, payload, signature = token.split(".")
    claims = jwt.decode(token, options={"verify_signature": False})
    tampered = ".".join([header, _b64({**claims, "sub": "alice"}), signature])
    assert "signature does not verify" in await refused(auth, tampered)
    flipped = signature[:-4] + ("AAAA" if not signature.endswith("AAAA") else "BBBB")
    assert "signature" in await refused(auth, ".".join([header, payload, flipped]))
    unsigned = ".".join([_b64({"alg": "none", "typ": "JWT"}), _b64(claims), ""])
    assert "'none'" in await refused(auth, unsigned)
    # HMAC keyed with the public key (algorithm confusion): refused by its algorithm
    confused = ".".join([_b64({"alg": "HS256", "kid": provider.keys[0].kid}), _b64(claims), "c2ln"])
    assert "'HS256'" in await refused(auth, confused)
    assert "well-formed" in await refused(auth, "a.b.c")


async def test_unknown_kid_after_rotation_refetches_once(
    provider: OpenIDProvider, http: httpx.AsyncClient
) -> None:
    auth = authenticator(provider, http)
    keys = auth.oidc[0].keys
    before = await asyncio.to_thread(provider.client_credentials)
    assert (await auth.identify(f"Bearer {before}")).owner == "broker-cli"
    assert keys.fetches == 1
    new = await asyncio.to_thread(provider.rotate)
    after = await asyncio.to_thread(provider.client_credentials)
    assert jwt.get_unverified_header(after)["kid"] == new.kid
    results = await asyncio.gather(*(auth.identify(f"Bearer {after}") for _ in range(5)))
    assert {r.owner for r in results} == {"broker-cli"}
    assert keys.fetches == 2  # five callers, one refetch
    assert (await auth.identify(f"Bearer {before}")).owner == "broker-cli"  # old key kept
    assert keys.fetches == 2


async def test_unknown_kid_refetch_is_rate_limited(
    provider: OpenIDProvider, http: httpx.AsyncClient
) -> None:
    auth = authenticator(provider, http, jwks_min_refetch=3600)
    keys = auth.oidc[0].keys
    await auth.identify(f"Bearer {provider.sign({})}")
    assert keys.fetches == 1
    stranger = SigningKey()  # never published
    for _ in range(3):
        assert "does not publish" in await refused(auth, provider.sign({}, key=stranger))
    assert keys.fetches == 1


async def test_opaque_token_through_introspection(
    provider: OpenIDProvider, http: httpx.AsyncClient
) -> None:
    auth = authenticator(provider, http)
    token = await asyncio.to_thread(provider.login, "carol", "urn:ivoa-broker:opaque")
    assert token.count(".") == 0
    who = await auth.identify(f"Bearer {token}")
    assert (who.owner, who.groups, who.admin) == ("carol", frozenset({"astro", "admins"}), True)
    assert "not valid" in await refused(auth, "opaque-but-made-up-0123456789")
    no_client = authenticator(provider, http, client_id=None)
    assert "not valid" in await refused(no_client, token)


async def test_challenges_name_the_issuer(
    provider: OpenIDProvider, http: httpx.AsyncClient
) -> None:
    auth = authenticator(provider, http)
    with pytest.raises(Unauthorized) as caught:
        await auth.identify(None)
    challenges = caught.value.challenges
    assert challenges[0] == 'Bearer realm="ivoa-broker"'
    assert challenges[1] == (
        f'ivoa_bearer standard_id="ivo://ivoa.net/sso#OpenID", access_url="{provider.issuer}"'
    )
