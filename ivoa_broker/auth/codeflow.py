"""Signing in a browser at an OpenID provider: the authorization-code flow with PKCE.

:func:`begin` makes the provider's authorization URL and the flow's state (a random
``state``, a PKCE S256 code verifier, where to go afterwards); the state travels in a
sealed, short-lived cookie (``auth/sessions.py``), never in the URL except ``state`` and the
verifier's challenge. :func:`finish` checks the ``state`` the provider sent back and
exchanges the code (with the verifier and, for a confidential client, its secret) for
the access token, which the caller then checks with the same
:class:`~ivoa_broker.auth.Authenticator` as every bearer token (issuer, audience, expiry)
before it becomes a session. RFC 6749 section 4.1, RFC 7636 (PKCE), RFC 9700 section 2.1.1.
"""

from __future__ import annotations

import base64
import hashlib
import logging
import secrets
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

import httpx

from ivoa_broker.auth.oidc import OIDCProvider
from ivoa_broker.errors import ServiceUnavailable

log = logging.getLogger(__name__)

__all__ = ["FlowError", "Started", "begin", "challenge_of", "finish"]


class FlowError(Exception):
    """The sign-in did not succeed; ``reason`` is safe to show the user."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class Started:
    #: where to send the browser (the provider's authorization endpoint)
    url: str
    #: what the flow cookie keeps until the callback
    state: dict[str, Any]


def challenge_of(verifier: str) -> str:
    """The PKCE S256 code challenge of ``verifier``."""
    digest = hashlib.sha256(verifier.encode("ascii")).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


def _endpoint(metadata: dict[str, Any], name: str, issuer: str) -> str:
    value = metadata.get(name)
    if not isinstance(value, str) or not value.startswith(("https://", "http://")):
        raise ServiceUnavailable(f"the identity provider {issuer} publishes no {name}")
    return value


async def begin(provider: OIDCProvider, index: int, redirect_uri: str, next_path: str) -> Started:
    section = provider.section
    if section.login_client_id is None:
        raise FlowError(f"sign-in with {provider.issuer} is not configured")
    metadata = await provider.metadata()
    endpoint = _endpoint(metadata, "authorization_endpoint", provider.issuer)
    state = secrets.token_urlsafe(32)
    verifier = secrets.token_urlsafe(64)  # 86 characters, within RFC 7636's 43..128
    params = {
        "response_type": "code",
        "client_id": section.login_client_id,
        "redirect_uri": redirect_uri,
        "scope": section.login_scope,
        "state": state,
        "code_challenge": challenge_of(verifier),
        "code_challenge_method": "S256",
    }
    if section.login_resource is not None:
        params["resource"] = section.login_resource
    separator = "&" if "?" in endpoint else "?"
    return Started(
        url=f"{endpoint}{separator}{urlencode(params)}",
        state={"p": index, "s": state, "v": verifier, "n": next_path, "r": redirect_uri},
    )


async def finish(provider: OIDCProvider, flow: dict[str, Any], query: dict[str, str]) -> str:
    """The access token for the code in the callback's ``query`` (checked against the
    ``flow`` that :func:`begin` made)."""
    sent = query.get("state", "")
    expected = flow.get("s")
    if not isinstance(expected, str) or not secrets.compare_digest(sent, expected):
        raise FlowError("the sign-in's state does not match; start again")
    if "error" in query:
        reason = query.get("error_description") or query["error"]
        raise FlowError(f"the identity provider refused the sign-in: {reason[:200]}")
    code = query.get("code")
    if not code:
        raise FlowError("the identity provider sent no code")
    section = provider.section
    assert section.login_client_id is not None
    metadata = await provider.metadata()
    endpoint = _endpoint(metadata, "token_endpoint", provider.issuer)
    data = {
        "grant_type": "authorization_code",
        "code": code,
        "redirect_uri": str(flow.get("r", "")),
        "code_verifier": str(flow.get("v", "")),
    }
    if section.login_resource is not None:
        data["resource"] = section.login_resource
    auth: tuple[str, str] | None = None
    if section.login_client_secret is not None:
        auth = (section.login_client_id, section.login_client_secret.get_secret_value())
    else:
        data["client_id"] = section.login_client_id
    try:
        response = await provider.http.post(
            endpoint, data=data, auth=auth or httpx.USE_CLIENT_DEFAULT, timeout=section.timeout
        )
        answer = response.json()
    except (httpx.HTTPError, ValueError) as exc:
        log.warning("OpenID provider %s: code exchange failed: %s", provider.issuer, exc)
        raise ServiceUnavailable(
            f"the identity provider {provider.issuer} cannot be reached; try again later"
        ) from None
    if response.status_code != 200 or not isinstance(answer, dict):
        error = answer.get("error") if isinstance(answer, dict) else None
        raise FlowError(f"the identity provider refused the code ({str(error)[:80]})")
    token = answer.get("access_token")
    if not isinstance(token, str) or not token:
        raise FlowError("the identity provider sent no access token")
    return token
