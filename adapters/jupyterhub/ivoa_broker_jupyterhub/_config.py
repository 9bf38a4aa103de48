"""Configuration of one JupyterHub platform instance (the ``config:`` block)."""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, SecretStr, model_validator

from ivoa_broker.protocol import AdapterConfig, Secret

__all__ = ["JupyterHubConfig", "Profile"]


class Profile(BaseModel):
    """One server profile of the hub (KubeSpawner ``profile_list`` style).

    ``user_options`` is sent as the body of the server-start call when the
    profile is chosen (``{"profile": slug}`` unless given); ``cores`` and
    ``memory_bytes`` are what a server of this profile gets (the offer's
    resources; requests asking more do not get this profile).
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    slug: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$")
    description: str = ""
    cores: float | None = Field(default=None, gt=0)
    memory_bytes: int | None = Field(default=None, gt=0)
    gpus: int = Field(default=0, ge=0)
    user_options: dict[str, str | int | float | bool] | None = None

    def options(self) -> dict[str, str | int | float | bool]:
        return dict(self.user_options) if self.user_options is not None else {"profile": self.slug}


class JupyterHubConfig(AdapterConfig):
    """The ``config:`` block of a ``plugin: jupyterhub`` instance.

    The service token (``token`` or ``token_file``) needs the scopes
    ``admin:users admin:servers tokens access:servers read:hub list:users``.
    Users: ``ExecutionRequest.account`` (from ``identity``) when set, else
    ``user_template`` applied to the owner, else ``default_user``.
    ``allow_named_servers``, ``named_server_limit_per_user`` and ``profiles``
    mirror the hub's own configuration (the hub's API does not publish
    them); offers are made from them.
    """

    url: str = Field(default="http://127.0.0.1:8000", description="the hub's public URL")
    public_url: str | None = Field(
        default=None, description="URL users reach the hub at, if not 'url' (endpoints)"
    )
    token: SecretStr | None = Field(default=None, description="the service's API token")
    token_file: Path | None = Field(default=None, description="file holding the token")
    user_template: str | None = Field(
        default="{owner}", description="hub user for an owner without an identity mapping"
    )
    default_user: str = Field(default="ivoa-broker", description="hub user for jobs of no owner")
    create_users: bool = Field(default=True, description="create missing hub users")
    allow_named_servers: bool = Field(
        default=True, description="the hub's JupyterHub.allow_named_servers (needed)"
    )
    named_server_limit_per_user: int = Field(
        default=0, ge=0, description="the hub's named_server_limit_per_user (0: no limit)"
    )
    profiles: tuple[Profile, ...] = Field(
        default=(), description="server profiles: slug, cores, memory_bytes, gpus, user_options"
    )
    default_profile: str | None = Field(default=None, description="profile slug used by default")
    accepts_image: bool = Field(
        default=False, description="the spawner takes an 'image' user option (KubeSpawner, ...)"
    )
    server_prefix: str = Field(
        default="ivb", pattern=r"^[a-z]{1,3}$", description="server names start with it"
    )
    kernel: str = Field(default="python3", description="kernel of command jobs")
    max_walltime_seconds: int | None = Field(
        default=None, gt=0, description="longest run time offered (the hub's culler limit)"
    )
    endpoint_token_in_url: bool = Field(
        default=True,
        description="put the per-server token in the endpoint URL (?token=); the hub's "
        "single-user servers must allow it (JUPYTERHUB_ALLOW_TOKEN_IN_URL=1)",
    )
    timeout_seconds: float = Field(default=30.0, gt=0, description="per hub API request")
    offer_seconds: float = Field(default=300.0, gt=0, description="offer validity")
    download_limit_bytes: int = Field(
        default=64 * 2**20, gt=0, description="largest notebook or input staged"
    )

    @model_validator(mode="after")
    def _check(self) -> JupyterHubConfig:
        if self.token is not None and self.token_file is not None:
            raise ValueError("give 'token' or 'token_file', not both")
        slugs = [p.slug for p in self.profiles]
        if len(set(slugs)) != len(slugs):
            raise ValueError("profile slugs must be unique")
        if self.default_profile is not None and self.default_profile not in slugs:
            raise ValueError(f"default_profile {self.default_profile!r} is not a profile")
        return self

    def service_token(self) -> Secret:
        """The service token (read from ``token_file`` each time it is asked for)."""
        if self.token is not None:
            return Secret(self.token.get_secret_value())
        if self.token_file is not None:
            return Secret(self.token_file.read_text().strip())
        return Secret("")

    @property
    def endpoint_base(self) -> str:
        return (self.public_url or self.url).rstrip("/")
