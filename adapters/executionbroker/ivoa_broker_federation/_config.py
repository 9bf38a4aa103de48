"""Settings of one remote ExecutionBroker."""

from __future__ import annotations

from pydantic import Field, SecretStr

from ivoa_broker.protocol import AdapterConfig


class FederationConfig(AdapterConfig):
    """One remote broker: where it is, and how to authenticate to it.

    The token used for a call is, in order: the caller's own token
    (``forward_credentials`` and the core passed ``CallContext.credentials``), the
    token of the owner's account on the remote (``account_tokens``, keyed by the
    account the instance's ``identity`` map gives), else the service ``token``.
    """

    base_url: str = Field(
        default="http://127.0.0.1:8080", description="The remote broker's service root."
    )
    node: str | None = Field(
        default=None, description="Name of the remote node in offers (default: its host)."
    )
    token: SecretStr | None = Field(default=None, description="Service bearer token.")
    account_tokens: dict[str, SecretStr] = Field(
        default_factory=dict,
        description="Remote account -> its bearer token (accounts from `identity`).",
    )
    forward_credentials: bool = Field(
        default=False, description="Send the caller's own token where the core provides it."
    )
    default_image: str | None = Field(
        default=None,
        description="Image named for a bare command (the EB request needs an executable image).",
    )
    max_hops: int = Field(default=4, ge=1, le=8, description="Longest forwarding chain.")
    remote_id: str | None = Field(
        default=None, description="The remote's broker id if known (else learnt from answers)."
    )
    timeout: float = Field(default=10.0, gt=0, description="Seconds one HTTP call may take.")
    offer_timeout: float = Field(
        default=4.0,
        gt=0,
        description="Seconds the remote has to answer offers (below the offer_deadline).",
    )
