"""Configuration of one CANFAR (skaha) platform instance."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr, model_validator

from ivoa_broker.protocol import AdapterConfig

#: skaha session types the adapter can start (``SessionType`` in skaha).
INTERACTIVE_TYPES = ("notebook", "desktop", "carta", "contributed", "firefly")
SessionType = Literal["headless", "notebook", "desktop", "carta", "contributed", "firefly"]

#: The production skaha service (``opencadc/canfar`` client default).
DEFAULT_URL = "https://ws-uv.canfar.net/skaha"


class CanfarConfig(AdapterConfig):
    """The ``config:`` block of a ``plugin: canfar`` instance.

    Credentials: ``credentials`` says whose token is sent. ``service`` uses
    ``token`` (a service account); ``delegated`` uses the caller's own token
    from ``CallContext.credentials`` and refuses calls without one;
    ``delegated-or-service`` prefers the caller's and falls back to ``token``.
    ``x509_proxy`` (a PEM holding certificate and key, as written by
    ``cadc-get-cert``) is presented as a TLS client certificate; with it no
    bearer token is needed.
    """

    url: str = Field(default=DEFAULT_URL, description="skaha base URL, without the /v1 suffix")
    api_version: Literal["v1"] = "v1"
    token: SecretStr | None = Field(default=None, description="service bearer token")
    credentials: Literal["service", "delegated", "delegated-or-service"] = "service"
    x509_proxy: Path | None = Field(default=None, description="client certificate + key (PEM)")
    auth_type_header: str | None = Field(
        default="auto",
        description="X-Skaha-Authentication-Type sent with every call: 'auto' (as the canfar "
        "client sends it: RUNTIME-TOKEN with a token, RUNTIME-X509 with a certificate), "
        "another value to send as it is, or null/'' to send none",
    )
    registry_auth: SecretStr | None = Field(
        default=None, description="base64 'user:secret' sent as X-Skaha-Registry-Auth"
    )
    verify_tls: bool = True
    ca_file: Path | None = None
    timeout_seconds: float = Field(default=30.0, gt=0)
    retries: int = Field(default=3, ge=0, le=10, description="extra attempts on 5xx/timeouts")
    backoff_seconds: float = Field(default=0.5, ge=0)
    backoff_max_seconds: float = Field(default=8.0, ge=0)
    cache_seconds: float = Field(
        default=60.0, ge=0, description="how long /context and /image are kept"
    )
    offer_seconds: float = Field(default=300.0, gt=0, description="offer validity")
    name_prefix: str = Field(default="ivb", pattern=r"^[a-z][a-z0-9]{0,7}$")
    default_image: str | None = Field(
        default=None,
        description="image for batch requests that name none (interactive requests that "
        "name none get the first image skaha lists for their session type)",
    )
    default_interactive_type: Literal["notebook", "desktop", "carta", "contributed", "firefly"] = (
        "notebook"
    )

    @model_validator(mode="after")
    def _check_credentials(self) -> CanfarConfig:
        if self.credentials == "service" and self.token is None and self.x509_proxy is None:
            raise ValueError("credentials='service' needs 'token' or 'x509_proxy'")
        return self

    @property
    def api_url(self) -> str:
        return f"{self.url.rstrip('/')}/{self.api_version}"
