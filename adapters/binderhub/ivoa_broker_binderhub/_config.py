"""Configuration of one BinderHub instance (the ``config:`` block)."""

from __future__ import annotations

from pydantic import Field, SecretStr

from ivoa_broker.protocol import AdapterConfig, Secret

__all__ = ["BinderHubConfig"]

ALL_PROVIDERS = ("gh", "gl", "git", "zenodo", "figshare", "dataverse")


class BinderHubConfig(AdapterConfig):
    """A BinderHub (``url``, optional ``token`` of an authenticated deployment) and the
    JupyterHub behind it (``hub_url`` + ``hub_token``: stop, cleanup, finding servers)."""

    url: str = Field(default="http://127.0.0.1:8585", description="the BinderHub's URL")
    token: SecretStr | None = Field(default=None, description="BinderHub API token")
    hub_url: str = Field(default="http://127.0.0.1:8000", description="the JupyterHub's URL")
    hub_token: SecretStr | None = Field(default=None, description="JupyterHub service token")
    providers: tuple[str, ...] = Field(default=ALL_PROVIDERS, description="enabled providers")
    max_cores: float | None = Field(default=8, description="largest session (cores)")
    max_memory_bytes: int | None = Field(default=16 * 2**30, description="largest session")
    log_lines: int = Field(default=10, ge=1, description="build log lines in an error")
    hub_tag: str | None = Field(
        default=None,
        pattern=r"^[A-Za-z0-9._:/@-]+$",
        description="written on the hub with each session (a token note naming the job) so "
        "that orphans are found after a lost record; instances of brokers sharing one hub "
        "need different tags (default: the instance name)",
    )
    endpoint_token_in_url: bool = Field(
        default=True,
        description="put the session's token (BinderHub's ready event) in the endpoint URL "
        "(?token=); the broker shows endpoints to the job's owner only",
    )

    def binder_token(self) -> Secret | None:
        return Secret(self.token.get_secret_value()) if self.token else None

    def service_token(self) -> Secret:
        return Secret(self.hub_token.get_secret_value() if self.hub_token else "")
