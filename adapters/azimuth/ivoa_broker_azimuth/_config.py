"""Configuration of one Azimuth platform instance (one portal, one tenancy)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field, SecretStr, model_validator

from ivoa_broker.protocol import AdapterConfig

__all__ = ["AzimuthConfig"]


class AzimuthConfig(AdapterConfig):
    """The ``config:`` block of a ``plugin: azimuth`` instance.

    Authentication: an application credential (``application_credential_id`` +
    ``application_credential_secret``, exchanged for a token at
    ``/auth/<authenticator>/token/``, renewed once when the portal says the token expired),
    or a ready ``token`` (no renewal: its expiry is an ``AuthError``).
    """

    url: str = Field(description="portal base URL, e.g. https://portal.apps.example.org")
    application_credential_id: str | None = None
    application_credential_secret: SecretStr | None = None
    token: SecretStr | None = Field(default=None, description="an Azimuth token instead")
    authenticator: str = Field(default="appcred", pattern=r"^[-a-zA-Z0-9_]+$")
    tenancy: str | None = Field(
        default=None, description="tenancy id or name; default: the only one the credential sees"
    )
    verify_tls: bool = True
    timeout_seconds: float = Field(default=30.0, gt=0)
    retries: int = Field(default=3, ge=0, le=10, description="extra attempts of reads on 5xx")
    backoff_seconds: float = Field(default=0.5, ge=0)
    backoff_max_seconds: float = Field(default=8.0, ge=0)
    cache_seconds: float = Field(default=60.0, ge=0, description="sizes/images/templates cache")
    offer_seconds: float = Field(default=300.0, gt=0, description="offer validity")
    name_prefix: str = Field(
        default="ivoa-", pattern=r"^[a-z][a-z0-9-]{0,15}$", description="names of what it makes"
    )

    # batch: machines
    image: str | None = Field(
        default=None, description="machine image (id or name) for batch jobs; default the first"
    )
    sizes: list[str] = Field(default_factory=list, description="allowed sizes (ids or names)")
    callback_base_url: str | None = Field(
        default=None, description="the broker's public base URL, if deps.callback_url is unset"
    )
    container_runtime: Literal["auto", "docker", "podman"] = "auto"
    max_walltime_seconds: int | None = Field(default=None, gt=0)

    # interactive: a Kubernetes app or a CaaS cluster
    interactive: Literal["app", "cluster", "none"] = "app"
    app_template: str = "jupyterhub"
    app_values: dict[str, Any] = Field(default_factory=dict)
    kubernetes_cluster: str | None = Field(
        default=None, description="Kubernetes cluster for apps, where the apps driver needs one"
    )
    cluster_type: str = "workstation"
    cluster_size_parameter: str = "cluster_flavor"
    cluster_parameters: dict[str, Any] = Field(default_factory=dict)
    service: str | None = Field(
        default=None, description="the app's/cluster's service that is the endpoint (first)"
    )
    lease_seconds: int = Field(
        default=8 * 3600, gt=0, description="schedule end of a cluster when a request has none"
    )

    @model_validator(mode="after")
    def _check_credentials(self) -> AzimuthConfig:
        appcred = (self.application_credential_id, self.application_credential_secret)
        if self.token is None and None in appcred:
            raise ValueError(
                "give application_credential_id and application_credential_secret, or token"
            )
        return self
