"""One OpenID provider: discovery, JWT access tokens, RFC 7662 introspection.

JWT access tokens are verified with PyJWT: the signature with a key from the
provider's JWKS (:mod:`ivoa_broker.auth.jwks`), only the configured asymmetric
algorithms (``alg=none`` and HMAC never), ``iss`` equal to the discovered issuer,
``aud`` naming the configured audience, ``exp``/``nbf``/``iat`` with a small leeway.
Opaque tokens go to the provider's introspection endpoint with this broker's client
credentials; an active answer is cached briefly under the token's SHA-256 digest.
Tokens themselves are never logged, stored or kept.
"""

from __future__ import annotations

import hashlib
import logging
import time
from collections import OrderedDict
from typing import Any

import httpx
import jwt

from ivoa_broker.auth.identity import Identity, clean_groups, clean_owner
from ivoa_broker.auth.jwks import KeyCache
from ivoa_broker.auth.settings import OIDCSection
from ivoa_broker.errors import ServiceUnavailable

log = logging.getLogger(__name__)

DISCOVERY = "/.well-known/openid-configuration"
_INTROSPECTION_CACHE = 4096


class InvalidToken(Exception):
    """The token does not prove an identity; ``reason`` is safe to show the caller."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def looks_like_jwt(token: str) -> bool:
    return token.count(".") == 2


def unverified_issuer(token: str) -> str | None:
    """The ``iss`` a JWT claims, before anything is verified (to pick the provider);
    :class:`InvalidToken` if it is no JWT at all."""
    try:
        claims = jwt.decode(token, options={"verify_signature": False})
    except jwt.PyJWTError:
        raise InvalidToken("the bearer token is not a well-formed JWT") from None
    iss = claims.get("iss")
    return iss if isinstance(iss, str) else None


def claim(claims: dict[str, Any], name: str) -> Any:
    """A claim by its name; a dotted name not present as such walks nested objects."""
    if name in claims:
        return claims[name]
    value: Any = claims
    for part in name.split("."):
        if not isinstance(value, dict) or part not in value:
            return None
        value = value[part]
    return value


class OIDCProvider:
    def __init__(self, section: OIDCSection, http: httpx.AsyncClient) -> None:
        self.section = section
        self.issuer = section.issuer
        self._http = http
        self._metadata: dict[str, Any] | None = None
        self.keys = KeyCache(
            self._fetch_jwks, min_refetch=section.jwks_min_refetch, max_age=section.jwks_max_age
        )
        self._introspected: OrderedDict[bytes, tuple[float, Identity]] = OrderedDict()

    def __repr__(self) -> str:
        return f"OIDCProvider({self.issuer!r})"

    @property
    def http(self) -> httpx.AsyncClient:
        """The HTTP client this provider is reached with (the sign-in flow uses it too)."""
        return self._http

    @property
    def discovery_url(self) -> str:
        return self.issuer.rstrip("/") + DISCOVERY

    # ------------------------------------------------------------ provider metadata

    async def metadata(self) -> dict[str, Any]:
        """The discovery document (fetched once; its issuer must be ours exactly)."""
        if self._metadata is None:
            data = await self._get_json(self.discovery_url, "discovery document")
            if data.get("issuer") != self.issuer:
                raise ServiceUnavailable(
                    f"the OpenID provider at {self.discovery_url} names issuer "
                    f"{str(data.get('issuer'))[:200]!r}, not the configured {self.issuer!r}"
                )
            if not isinstance(data.get("jwks_uri"), str):
                raise ServiceUnavailable(f"{self.discovery_url} has no jwks_uri")
            self._metadata = data
        return self._metadata

    async def _fetch_jwks(self) -> dict[str, Any]:
        uri = (await self.metadata())["jwks_uri"]
        return await self._get_json(str(uri), "key set")

    async def _get_json(self, url: str, what: str) -> dict[str, Any]:
        try:
            response = await self._http.get(url, timeout=self.section.timeout)
            response.raise_for_status()
            data = response.json()
        except (httpx.HTTPError, ValueError) as exc:
            log.warning("OpenID provider %s: %s unavailable: %s", self.issuer, what, exc)
            raise ServiceUnavailable(
                f"the identity provider {self.issuer} cannot be reached; try again later"
            ) from None
        if not isinstance(data, dict):
            raise ServiceUnavailable(f"the identity provider's {what} is not a JSON object")
        return data

    # ------------------------------------------------------------ JWT access tokens

    async def verify_jwt(self, token: str) -> dict[str, Any]:
        """The verified claims of a JWT access token; :class:`InvalidToken` if not valid."""
        try:
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError:
            raise InvalidToken("the bearer token is not a well-formed JWT") from None
        alg = header.get("alg")
        if not isinstance(alg, str) or alg not in self.section.algorithms:
            raise InvalidToken(f"tokens signed with {str(alg)[:20]!r} are not accepted")
        kid = header.get("kid")
        await self.metadata()
        key = await self.keys.key(kid if isinstance(kid, str) else None)
        if key is None:
            raise InvalidToken("the token is signed with a key the issuer does not publish")
        if key.alg is not None and key.alg != alg:
            raise InvalidToken("the token's algorithm does not match its key")
        audience = self.section.audience
        try:
            claims: dict[str, Any] = jwt.decode(
                token,
                key=key.key,
                algorithms=[alg],
                audience=audience,
                issuer=self.issuer,
                leeway=self.section.leeway,
                options={"require": ["exp", "iss"], "verify_aud": audience is not None},
            )
        except jwt.ExpiredSignatureError:
            raise InvalidToken("the token has expired") from None
        except jwt.ImmatureSignatureError:
            raise InvalidToken("the token is not valid yet") from None
        except jwt.InvalidAudienceError:
            raise InvalidToken(f"the token is not meant for this service ({audience})") from None
        except jwt.InvalidIssuerError:
            raise InvalidToken("the token is from another issuer") from None
        except jwt.MissingRequiredClaimError as exc:
            raise InvalidToken(f"the token has no {exc.claim!r} claim") from None
        except jwt.InvalidSignatureError:
            raise InvalidToken("the token's signature does not verify") from None
        except jwt.PyJWTError as exc:
            raise InvalidToken(f"the token is not valid ({type(exc).__name__})") from None
        return claims

    # ------------------------------------------------------------ opaque tokens

    @property
    def can_introspect(self) -> bool:
        return self.section.client_id is not None

    async def introspect(self, token: str) -> dict[str, Any]:
        """RFC 7662: the provider's answer for an active token; InvalidToken otherwise."""
        endpoint = (await self.metadata()).get("introspection_endpoint")
        client_id = self.section.client_id
        if not isinstance(endpoint, str) or client_id is None:
            raise InvalidToken("opaque tokens cannot be checked with this issuer")
        secret = self.section.secret() or ""
        try:
            response = await self._http.post(
                endpoint,
                data={"token": token, "token_type_hint": "access_token"},
                auth=(client_id, secret),
                timeout=self.section.timeout,
            )
            response.raise_for_status()
            answer = response.json()
        except (httpx.HTTPError, ValueError) as exc:
            log.warning("OpenID provider %s: introspection failed: %s", self.issuer, exc)
            raise ServiceUnavailable(
                f"the identity provider {self.issuer} cannot check the token; try again later"
            ) from None
        if not isinstance(answer, dict) or answer.get("active") is not True:
            raise InvalidToken("the bearer token is not valid")
        if answer.get("iss", self.issuer) != self.issuer:
            raise InvalidToken("the token is from another issuer")
        now = time.time()
        exp = answer.get("exp")
        if isinstance(exp, int | float) and exp + self.section.leeway < now:
            raise InvalidToken("the token has expired")
        nbf = answer.get("nbf")
        if isinstance(nbf, int | float) and nbf - self.section.leeway > now:
            raise InvalidToken("the token is not valid yet")
        audience = self.section.audience
        aud = answer.get("aud")
        if audience is not None and aud is not None:
            auds = [aud] if isinstance(aud, str) else aud if isinstance(aud, list) else []
            if audience not in auds:
                raise InvalidToken(f"the token is not meant for this service ({audience})")
        return answer

    async def identify_opaque(self, token: str, admin_groups: frozenset[str]) -> Identity:
        key = hashlib.sha256(token.encode()).digest()
        cached = self._introspected.get(key)
        now = time.monotonic()
        if cached is not None and cached[0] > now:
            return cached[1]
        answer = await self.introspect(token)
        identity = self.identity(answer, admin_groups)
        ttl = self.section.introspection_cache
        exp = answer.get("exp")
        if isinstance(exp, int | float):
            ttl = min(ttl, exp - time.time())
        if ttl > 0:
            self._introspected[key] = (now + ttl, identity)
            while len(self._introspected) > _INTROSPECTION_CACHE:
                self._introspected.popitem(last=False)
        return identity

    # ------------------------------------------------------------ claims -> identity

    def identity(self, claims: dict[str, Any], admin_groups: frozenset[str]) -> Identity:
        name = self.section.owner_claim
        owner = clean_owner(claim(claims, name))
        if owner is None:
            raise InvalidToken(f"the token has no usable {name!r} claim")
        groups = clean_groups(claim(claims, self.section.groups_claim))
        return Identity(
            owner=self.section.owner_prefix + owner,
            groups=groups,
            admin=bool(groups & admin_groups),
            via=self.issuer,
        )
