"""The identity middleware: authenticates requests to the protected paths once, before
routing, so routes read the caller from the request (``Broker.identify``).

It does the asynchronous work (JWKS, introspection, the admin's job look-up) that a
route's synchronous ``identify`` cannot, and stores either the :class:`Identity` or the
error in the ASGI scope; a route that asks for the identity gets the one or raises the
other. On the way out a 401 gets the configured ``WWW-Authenticate`` challenges
(RFC 6750 ``Bearer`` and IVOA SSO ``ivoa_bearer``) and a 429 its ``Retry-After``.
VOSI, health, metrics and callbacks are never authenticated here. A browser signed in
through the pages (``web/signin.py``) sends its token in the sealed session cookie
instead of ``Authorization`` (:func:`session_authorization`); the token is checked the
same way.
"""

from __future__ import annotations

import logging
import re
from dataclasses import replace
from typing import Any

from starlette.datastructures import Headers
from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ivoa_broker.auth.authenticator import Authenticator
from ivoa_broker.auth.identity import Identity
from ivoa_broker.auth.sessions import SESSION_COOKIE
from ivoa_broker.errors import BrokerError, Unauthorized

log = logging.getLogger(__name__)

IDENTITY = "ivoa_broker.identity"
IDENTITY_ERROR = "ivoa_broker.identity_error"
#: the request was authenticated by the pages' sign-in cookie
SESSION_USED = "ivoa_broker.session_used"
#: the request's sign-in cookie did not open (expired, tampered, another key)
SESSION_DROPPED = "ivoa_broker.session_dropped"
PROTECTED = ("/jobs", "/requests", "/offersets", "/sessions")
_UNDER_PROTECTED = tuple(p + "/" for p in PROTECTED)
_JOB_PATH = re.compile(r"^/jobs/([^/]+)(/.*)?$")


def route_path(scope: Scope) -> str:
    path: str = scope["path"]
    root: str = scope.get("root_path", "")
    return path[len(root) :] if root and path.startswith(root) else path


def protected(path: str) -> bool:
    """``path`` is one of :data:`PROTECTED` or under one of them."""
    return path in PROTECTED or path.startswith(_UNDER_PROTECTED)


def admin_may_act(method: str, rest: str) -> bool:
    """What an admin may do with another owner's job: read it, change its phase
    (ABORT), delete it."""
    return (
        method in ("GET", "HEAD")
        or (method == "POST" and rest == "/phase")
        or (method == "DELETE" and rest == "")
    )


def session_authorization(auth: Authenticator, scope: Scope, headers: Headers) -> str | None:
    """The request's ``Authorization``; without one, the bearer token of a valid sign-in
    cookie (``auth/sessions.py``). A cookie that does not open is no cookie: the request
    is anonymous (401 where that is not allowed) and :data:`SESSION_DROPPED` marks it, so
    the answer can clear the cookie."""
    authorization = headers.get("authorization")
    cookies = auth.sessions
    if authorization is not None or cookies is None:
        return authorization
    value = Request(scope).cookies.get(SESSION_COOKIE)
    if value is None:
        return None
    token = cookies.token(value)
    if token is None:
        scope[SESSION_DROPPED] = True
        return None
    scope[SESSION_USED] = True
    return f"Bearer {token}"


class IdentityMiddleware:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not protected(route_path(scope)):
            await self.app(scope, receive, send)
            return
        broker: Any = getattr(scope["app"].state, "broker", None)
        if broker is None:
            await self.app(scope, receive, send)
            return
        auth = broker.auth
        await resolve_identity(broker, scope)
        error = scope.get(IDENTITY_ERROR)

        async def sending(message: Message) -> None:
            if message["type"] == "http.response.start" and message["status"] in (401, 429):
                headers = [
                    (k, v) for k, v in message.get("headers", []) if k != b"www-authenticate"
                ]
                if message["status"] == 401:  # the challenges are built only for a 401
                    values = (
                        error.challenges if isinstance(error, Unauthorized) else auth.challenges()
                    )
                    headers += [(b"www-authenticate", v.encode("latin-1")) for v in values]
                elif not any(k == b"retry-after" for k, _ in headers):
                    retry_after = str(broker.settings.auth.retry_after)
                    headers.append((b"retry-after", retry_after.encode()))
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, sending)


async def resolve_identity(broker: Any, scope: Scope) -> None:
    """Authenticate the request once: :data:`IDENTITY` or :data:`IDENTITY_ERROR` set in
    the scope. A request already resolved (by :class:`~ivoa_broker.web.hot.HotJobReads`,
    which then handed it on) is left as it is: a token is verified once per request."""
    if IDENTITY in scope or IDENTITY_ERROR in scope:
        return
    auth = broker.auth
    try:
        identity = await auth.identify(session_authorization(auth, scope, Headers(scope=scope)))
        broker.policy.remember(identity)
        scope[IDENTITY] = await _acting(broker, scope, identity)
    except BrokerError as exc:
        scope[IDENTITY_ERROR] = exc


async def _acting(broker: Any, scope: Scope, identity: Identity) -> Identity:
    """An admin addressing another owner's job acts as that owner for this request."""
    if not identity.admin:
        return identity
    match = _JOB_PATH.match(route_path(scope))
    if match is None or not admin_may_act(scope["method"], match.group(2) or ""):
        return identity
    exists, owner = await broker.store.owner_of(match.group(1))
    if not exists or owner == identity.owner:
        return identity
    log.info(
        "admin %s: %s %s of owner %s",
        identity.owner,
        scope["method"],
        route_path(scope)[:200],
        owner,
    )
    return replace(identity, owner=owner, acting_admin=identity.owner)
