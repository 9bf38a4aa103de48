"""From an ``Authorization`` header to an :class:`Identity`, through the configured
identity providers (the token file, OpenID providers), or to a 401 with the IVOA SSO
challenges that tell a client where to get a token."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path

import httpx

from ivoa_broker.auth.identity import ANONYMOUS, Identity
from ivoa_broker.auth.oidc import InvalidToken, OIDCProvider, looks_like_jwt, unverified_issuer
from ivoa_broker.auth.sessions import SessionCookies
from ivoa_broker.auth.settings import AuthSection
from ivoa_broker.auth.tokenfile import VIA, TokenEntry, TokenFile, digest
from ivoa_broker.errors import Unauthorized

#: IVOA SSO: the standard id of "get a token from this OpenID provider"
SSO_OPENID = "ivo://ivoa.net/sso#OpenID"
REALM = "ivoa-broker"
#: longest Authorization header value looked at
MAX_TOKEN = 16384


class StaticTokens:
    """Tokens given in code (tests, embedding): digests only, like the token file."""

    def __init__(self, tokens: Mapping[str, str]) -> None:
        self._entries: dict[bytes, TokenEntry] = {}
        for token, owner in tokens.items():
            key = digest(token)
            self._entries[key] = TokenEntry(key, owner, frozenset())

    def __len__(self) -> int:
        return len(self._entries)

    def lookup(self, token: str) -> Identity | None:
        found = self._entries.get(digest(token))
        return None if found is None else Identity(found.owner, found.groups, via=VIA)


class Authenticator:
    """The broker's identity providers, tried in order: static tokens, then OIDC."""

    def __init__(
        self,
        tokens: Mapping[str, str] | TokenFile | StaticTokens | None = None,
        anonymous: bool = False,
        *,
        oidc: Sequence[OIDCProvider] = (),
        admin_groups: Iterable[str] = (),
        http: httpx.AsyncClient | None = None,
    ) -> None:
        self.tokens: TokenFile | StaticTokens | None = (
            StaticTokens(tokens) if isinstance(tokens, Mapping) else tokens
        )
        self.anonymous = anonymous
        self.oidc = list(oidc)
        self.admin_groups = frozenset(admin_groups)
        self._http = http
        #: the HTML pages' sign-in cookies (set at start-up when a provider is configured)
        self.sessions: SessionCookies | None = None

    @classmethod
    def from_settings(cls, section: AuthSection, anonymous: bool) -> Authenticator:
        http = httpx.AsyncClient(follow_redirects=False) if section.oidc else None
        return cls(
            TokenFile(Path(section.token_file)) if section.token_file else None,
            anonymous,
            oidc=[OIDCProvider(s, http) for s in section.oidc] if http is not None else [],
            admin_groups=section.admin_groups,
            http=http,
        )

    async def aclose(self) -> None:
        if self._http is not None:
            await self._http.aclose()

    def __repr__(self) -> str:
        tokens = len(self.tokens) if self.tokens is not None else 0
        return (
            f"Authenticator(tokens={tokens}, oidc={[p.issuer for p in self.oidc]}, "
            f"anonymous={self.anonymous})"
        )

    @property
    def configured(self) -> bool:
        """Any identity provider at all (else only anonymous use makes sense)."""
        return bool(self.oidc) or (self.tokens is not None and len(self.tokens) > 0)

    # ------------------------------------------------------------ identification

    async def identify(self, authorization: str | None) -> Identity:
        """The caller's identity from an Authorization header; raises Unauthorized."""
        token = self._token(authorization)
        if token is None:
            return ANONYMOUS
        return self._with_admin(await self._verify(token))

    def identify_static(self, authorization: str | None) -> Identity:
        """Like :meth:`identify`, for static tokens only (no I/O): the fallback of a
        request the identity middleware did not see."""
        token = self._token(authorization)
        if token is None:
            return ANONYMOUS
        found = self.tokens.lookup(token) if self.tokens is not None else None
        if found is None:
            raise self.unauthorized("the bearer token is not valid", presented=True)
        return self._with_admin(found)

    def _token(self, authorization: str | None) -> str | None:
        if not authorization:
            if self.anonymous:
                return None
            raise self.unauthorized(
                "authentication required: send 'Authorization: Bearer <token>'", presented=False
            )
        scheme, _, token = authorization.partition(" ")
        token = token.strip()
        if scheme.lower() != "bearer" or not token or len(token) > MAX_TOKEN:
            raise self.unauthorized(
                "unsupported Authorization header; use 'Bearer <token>'", presented=True
            )
        return token

    async def _verify(self, token: str) -> Identity:
        if self.tokens is not None:
            found = self.tokens.lookup(token)
            if found is not None:
                return found
        if not self.oidc:
            raise self.unauthorized("the bearer token is not valid", presented=True)
        try:
            if looks_like_jwt(token):
                return await self._verify_jwt(token)
            return await self._verify_opaque(token)
        except InvalidToken as exc:
            raise self.unauthorized(exc.reason, presented=True) from None

    async def _verify_jwt(self, token: str) -> Identity:
        iss = unverified_issuer(token)
        provider = next((p for p in self.oidc if p.issuer == iss), None)
        if provider is None:
            raise InvalidToken("the token is from an issuer this service does not trust")
        claims = await provider.verify_jwt(token)
        return provider.identity(claims, self.admin_groups)

    async def _verify_opaque(self, token: str) -> Identity:
        last = InvalidToken("the bearer token is not valid")
        for provider in self.oidc:
            if not provider.can_introspect:
                continue
            try:
                return await provider.identify_opaque(token, self.admin_groups)
            except InvalidToken as exc:
                last = exc
        raise last

    def _with_admin(self, identity: Identity) -> Identity:
        if identity.admin or not (identity.groups & self.admin_groups):
            return identity
        return Identity(identity.owner, identity.groups, admin=True, via=identity.via)

    # ------------------------------------------------------------ challenges

    def unauthorized(self, message: str, *, presented: bool) -> Unauthorized:
        error = Unauthorized(message)
        error.challenges = self.challenges(message if presented else None)
        return error

    def challenges(self, error: str | None = None) -> list[str]:
        """``WWW-Authenticate`` values: RFC 6750 ``Bearer`` (with ``invalid_token`` when
        a token was refused) and one IVOA SSO ``ivoa_bearer`` per OpenID provider."""
        bearer = f'Bearer realm="{REALM}"'
        if error is not None:
            bearer += f', error="invalid_token", error_description="{_quoted(error)}"'
        return [
            bearer,
            *(
                f'ivoa_bearer standard_id="{SSO_OPENID}", access_url="{_quoted(p.issuer)}"'
                for p in self.oidc
            ),
        ]


def _quoted(text: str) -> str:
    return "".join(c for c in text if c not in '"\\' and 32 <= ord(c) < 127)
