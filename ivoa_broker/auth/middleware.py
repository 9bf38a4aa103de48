"""The identity middleware: authenticates requests to the protected paths once, before
routing, so routes read the caller from the request (``Broker.identify``).

It does the asynchronous work (JWKS, introspection, the admin's job look-up) that a
route's synchronous ``identify`` cannot, and stores either the :class:`Identity` or the
error in the ASGI scope; a route that asks for the identity gets the one or raises the
other. On the way out a 401 gets the configured ``WWW-Authenticate`` challenges
(RFC 6750 ``Bearer`` and IVOA SSO ``ivoa_bearer``) and a 429 its ``Retry-After``.
VOSI, health, metrics and callbacks are never authenticated here.
"""

from __future__ import annotations

import logging
import re
from dataclasses import replace
from typing import Any

from starlette.datastructures import Headers
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ivoa_broker.auth.identity import Identity
from ivoa_broker.errors import BrokerError, Unauthorized

log = logging.getLogger(__name__)

IDENTITY = "ivoa_broker.identity"
IDENTITY_ERROR = "ivoa_broker.identity_error"
PROTECTED = ("/jobs", "/requests", "/offersets", "/sessions")
_JOB_PATH = re.compile(r"^/jobs/([^/]+)(/.*)?$")


def route_path(scope: Scope) -> str:
    path: str = scope["path"]
    root: str = scope.get("root_path", "")
    return path[len(root) :] if root and path.startswith(root) else path


def protected(path: str) -> bool:
    return any(path == p or path.startswith(p + "/") for p in PROTECTED)


def admin_may_act(method: str, rest: str) -> bool:
    """What an admin may do with another owner's job: read it, change its phase
    (ABORT), delete it."""
    return (
        method in ("GET", "HEAD")
        or (method == "POST" and rest == "/phase")
        or (method == "DELETE" and rest == "")
    )


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
        try:
            identity = await auth.identify(Headers(scope=scope).get("authorization"))
            broker.policy.remember(identity)
            scope[IDENTITY] = await self._acting(broker, scope, identity)
        except BrokerError as exc:
            scope[IDENTITY_ERROR] = exc
        error = scope.get(IDENTITY_ERROR)
        values = error.challenges if isinstance(error, Unauthorized) else auth.challenges()
        retry_after = str(broker.settings.auth.retry_after)

        async def sending(message: Message) -> None:
            if message["type"] == "http.response.start" and message["status"] in (401, 429):
                headers = [
                    (k, v) for k, v in message.get("headers", []) if k != b"www-authenticate"
                ]
                if message["status"] == 401:
                    headers += [(b"www-authenticate", v.encode("latin-1")) for v in values]
                elif not any(k == b"retry-after" for k, _ in headers):
                    headers.append((b"retry-after", retry_after.encode()))
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, sending)

    @staticmethod
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
