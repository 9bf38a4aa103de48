"""Configuration of one OpenStack adapter instance (the ``config:`` block)."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr, model_validator

from ivoa_broker.protocol import AdapterConfig

__all__ = ["OpenStackConfig"]


class OpenStackConfig(AdapterConfig):
    """Where the cloud is, how to log in, and what servers to make.

    Either ``cloud`` (a clouds.yaml entry; ``clouds_yaml`` points at the file, else the
    standard search path and ``OS_CLIENT_CONFIG_FILE`` apply) or explicit auth with
    ``auth_url`` and a password or an application credential. Secrets are ``SecretStr``:
    they never show in reprs, errors or logs.
    """

    cloud: str | None = None
    clouds_yaml: Path | None = None

    auth_url: str | None = None
    auth_type: Literal["password", "v3applicationcredential"] = "password"
    username: str | None = None
    password: SecretStr | None = None
    user_domain_name: str = "Default"
    project_name: str | None = None
    project_id: str | None = None
    project_domain_name: str = "Default"
    application_credential_id: str | None = None
    application_credential_secret: SecretStr | None = None
    region_name: str | None = None
    interface: str = "public"
    verify_tls: bool = True

    #: glance image (name or id) the servers boot from
    image: str
    #: neutron network (name or id) for the servers' NIC; None = no NIC (``networks="none"``)
    network: str | None = None
    #: flavors that may be offered (names or ids); empty = every flavor the project sees
    flavors: tuple[str, ...] = ()
    #: base URL the guests call back to (``{base}/callbacks/{instance}/{job_id}``);
    #: default: ``AdapterDeps.callback_url`` (the broker gives each instance its prefix)
    callback_base_url: str | None = None
    #: how a job's OCI image is run on the guest
    container_runtime: Literal["auto", "docker", "podman"] = "auto"
    #: servers are named ``{prefix}{job_id}``; list/sweep look only at this prefix
    server_name_prefix: str = "ivoa-broker-"
    #: how long submit waits for Nova's scheduler (NoValidHost becomes NoCapacity)
    schedule_wait_seconds: float = Field(default=60.0, ge=0)
    #: after a callback, how long an ACTIVE server may take to power off before the job ends anyway
    poweroff_grace_seconds: float = Field(default=300.0, ge=0)
    #: retries of idempotent API calls on transient errors (bounded exponential backoff)
    api_retries: int = Field(default=3, ge=0, le=10)
    api_backoff_seconds: float = Field(default=0.5, ge=0)
    #: at most this many SDK calls run in worker threads at once
    max_concurrent_calls: int = Field(default=4, ge=1, le=64)
    max_walltime_seconds: int | None = None

    @model_validator(mode="after")
    def _one_way_to_log_in(self) -> OpenStackConfig:
        if (self.cloud is None) == (self.auth_url is None):
            raise ValueError("give exactly one of 'cloud' (clouds.yaml) and 'auth_url'")
        if self.auth_url is not None:
            if self.auth_type == "password":
                if not (self.username and self.password and (self.project_name or self.project_id)):
                    raise ValueError("password auth needs username, password and a project")
            elif not (self.application_credential_id and self.application_credential_secret):
                raise ValueError(
                    "application credential auth needs application_credential_id and _secret"
                )
        return self

    def secrets(self) -> tuple[str, ...]:
        """The secret values of this config (for redacting foreign error texts)."""
        return tuple(
            s.get_secret_value()
            for s in (self.password, self.application_credential_secret)
            if s is not None and s.get_secret_value()
        )
