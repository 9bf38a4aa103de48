"""The caller's own token on adapter calls: only for instances that ask for it.

The web layer puts the request's bearer token (a :class:`Secret`) into the
:class:`CallContext` of the calls made while that request is served; every
instance gets the context through :func:`context_for`, which keeps the token
only where the instance's config has ``forward_credentials = true`` (the
federation adapter, whose remote trusts the same issuer). It is never stored.
"""

from __future__ import annotations

from dataclasses import replace

from ivoa_broker.protocol import Adapter, CallContext, Secret

__all__ = ["caller_credentials", "context_for", "forwards_credentials"]


def forwards_credentials(adapter: Adapter) -> bool:
    """Does this instance's config ask for the caller's own token?"""
    return getattr(adapter.config, "forward_credentials", False) is True


def context_for(adapter: Adapter, ctx: CallContext) -> CallContext:
    """``ctx`` as ``adapter`` may see it: without the caller's token unless it asks."""
    if ctx.credentials is None or forwards_credentials(adapter):
        return ctx
    return replace(ctx, credentials=None)


def caller_credentials(authorization: str | None) -> Secret | None:
    """The caller's bearer token (from its ``Authorization`` header, already verified
    by the identity layer) as a :class:`Secret`; ``None`` when there is none."""
    scheme, _, token = (authorization or "").partition(" ")
    token = token.strip()
    return Secret(token) if scheme.lower() == "bearer" and token else None
