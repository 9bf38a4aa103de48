"""The ``[auth]`` section: identity providers, admins, per-owner limits.

```toml
[auth]
anonymous = false
token_file = "tokens.txt"          # lines "TOKEN OWNER [GROUP,GROUP]"
admin_groups = ["broker-admins"]   # may list and abort every job
retry_after = 30                   # seconds, in the Retry-After of a 429

[[auth.oidc]]                      # one table per OpenID provider
issuer = "https://iam.example.org/"
audience = "ivoa-broker"           # the aud a JWT access token must carry
owner_claim = "sub"                # or "preferred_username"
groups_claim = "groups"            # or "wlcg.groups", "eduperson_entitlement"
client_id = "ivoa-broker"          # for RFC 7662 introspection of opaque tokens
client_secret_file = "iam-secret.txt"
login_client_id = "ivoa-broker-web" # "sign in with" on the sign-in page (code flow + PKCE)
login_client_secret = "..."
login_resource = "urn:ivoa-broker"  # RFC 8707 resource of the access token (optional)

[auth.session]                     # the HTML pages' sign-in cookie
lifetime = 28800                   # seconds a sign-in lasts (the token is checked anyway)
secret = "..."                     # signs and encrypts the cookie; give the same to replicas
                                   # (unset: generated once, kept in server.work_dir)

[auth.limits]                      # per owner; unset = unlimited
active_jobs = 10
pending_offersets = 20
[auth.limits.groups.astro]         # members of a group get the group's (highest) limit
active_jobs = 50
```

Per-platform access (``allow_groups``, ``allow_owners``, ``deny``) lives in each
``[adapters.NAME]`` table (:class:`ivoa_broker.config.AdapterInstance`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Self

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator, model_validator

#: asymmetric JWS algorithms accepted by default (never "none", never HMAC)
DEFAULT_ALGORITHMS = ("RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384")


class OIDCSection(BaseModel):
    """One OpenID provider, found by its issuer URL (discovery)."""

    model_config = ConfigDict(extra="forbid")
    issuer: str
    #: the audience a JWT access token must name (``aud``); None: not checked
    audience: str | None = None
    owner_claim: str = "sub"
    groups_claim: str = "groups"
    #: put before every owner from this issuer (keeps two issuers' "sub"s apart)
    owner_prefix: str = ""
    algorithms: list[str] = Field(default_factory=lambda: list(DEFAULT_ALGORITHMS))
    #: seconds of clock skew allowed for exp/nbf/iat
    leeway: float = Field(default=30.0, ge=0, le=300)
    #: an unknown key id refetches the JWKS at most this often (seconds)
    jwks_min_refetch: float = Field(default=10.0, ge=0)
    #: the JWKS is refetched anyway when older than this (seconds)
    jwks_max_age: float = Field(default=3600.0, gt=0)
    #: introspection (RFC 7662) of opaque tokens: this broker's client at the provider
    client_id: str | None = None
    client_secret: SecretStr | None = None
    client_secret_file: Path | None = None
    #: seconds an introspection answer is reused (keyed by the token's hash)
    introspection_cache: float = Field(default=30.0, ge=0)
    #: seconds for one HTTP call to the provider
    timeout: float = Field(default=5.0, gt=0, le=60)
    #: the pages' "sign in with" this provider: the broker's client for the
    #: authorization-code flow (with PKCE); None: not offered. Its redirect URI is
    #: ``<broker>/login/callback``.
    login_client_id: str | None = None
    #: that client's secret (a confidential client); None: a public client
    login_client_secret: SecretStr | None = None
    #: the scopes asked for
    login_scope: str = "openid"
    #: RFC 8707 resource indicator sent in the flow (to get an access token for this
    #: broker's ``audience`` from providers that need it); None: not sent
    login_resource: str | None = None

    @field_validator("issuer")
    @classmethod
    def _url(cls, value: str) -> str:
        if not value.startswith(("https://", "http://")):
            raise ValueError(f"must be the issuer's http(s) URL, not {value!r}")
        return value

    @field_validator("algorithms")
    @classmethod
    def _asymmetric(cls, value: list[str]) -> list[str]:
        bad = [a for a in value if a.lower() == "none" or a.upper().startswith("HS")]
        if bad:
            raise ValueError(f"only asymmetric algorithms may verify tokens, not {bad}")
        if not value:
            raise ValueError("at least one algorithm is needed")
        return value

    @model_validator(mode="after")
    def _one_secret(self) -> Self:
        if self.client_secret is not None and self.client_secret_file is not None:
            raise ValueError("give client_secret or client_secret_file, not both")
        return self

    def secret(self) -> str | None:
        """The introspection client's secret (read from its file when given so)."""
        if self.client_secret is not None:
            return self.client_secret.get_secret_value()
        if self.client_secret_file is not None:
            return self.client_secret_file.read_text().strip()
        return None


class LimitValues(BaseModel):
    model_config = ConfigDict(extra="forbid")
    #: jobs not yet ended (PENDING, QUEUED, EXECUTING, HELD, SUSPENDED) per owner
    active_jobs: int | None = Field(default=None, ge=0)
    #: offer sets with an offer still OFFERED and unexpired, per owner
    pending_offersets: int | None = Field(default=None, ge=0)


class LimitsSection(LimitValues):
    #: a group's values replace the defaults for its members (the highest wins)
    groups: dict[str, LimitValues] = Field(default_factory=dict)


class SessionSection(BaseModel):
    """The HTML pages' sign-in: a signed, encrypted cookie holding the caller's token."""

    model_config = ConfigDict(extra="forbid")
    #: seconds a sign-in lasts; the token itself is checked again on every request
    lifetime: int = Field(default=8 * 3600, ge=60, le=30 * 86400)
    #: key material of the cookie (at least 32 characters); replicas must share it.
    #: None: generated once and kept in ``server.work_dir/session.key``
    secret: SecretStr | None = None

    @field_validator("secret")
    @classmethod
    def _long(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and len(value.get_secret_value()) < 32:
            raise ValueError("must be at least 32 characters")
        return value


class AuthSection(BaseModel):
    model_config = ConfigDict(extra="forbid")
    anonymous: bool | None = None
    token_file: Path | None = None
    oidc: list[OIDCSection] = Field(default_factory=list)
    admin_groups: list[str] = Field(default_factory=list)
    limits: LimitsSection = Field(default_factory=LimitsSection)
    session: SessionSection = Field(default_factory=SessionSection)
    retry_after: int = Field(default=30, ge=1, le=86400)


class AccessSection(BaseModel):
    """Who may see offers from one platform instance and run on it."""

    model_config = ConfigDict(extra="forbid")
    #: only members of these groups (None: everybody, unless denied)
    allow_groups: list[str] | None = None
    #: owners allowed in addition to the groups
    allow_owners: list[str] = Field(default_factory=list)
    #: owners or groups refused, whatever else says
    deny: list[str] = Field(default_factory=list)
