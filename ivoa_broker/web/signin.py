"""Sign-in for the HTML pages on a broker that requires it.

A browser cannot send ``Authorization: Bearer``. So the pages have a sign-in page:

* ``GET /login`` shows a form for a token (when the broker has a token file) and, for each
  OpenID provider with a ``login_client_id``, a "sign in with" button;
* ``POST /login`` (a form, CSRF-protected like every page form) checks the token with the
  broker's :class:`~ivoa_broker.auth.Authenticator`, exactly as a bearer token, and sets
  the session cookie (:mod:`ivoa_broker.auth.sessions`: the token sealed, never readable);
* ``POST /login/oidc`` starts the authorization-code flow with PKCE at that provider
  (:mod:`ivoa_broker.auth.codeflow`) and ``GET /login/callback`` finishes it: the access
  token the provider issues becomes the same session;
* ``POST /logout`` clears it.

The cookie is ``HttpOnly``, ``SameSite=Lax`` (sent when a browser follows a link to a job
page, and on the provider's redirect back; never on a cross-site write, which
:mod:`ivoa_broker.web.csrf` refuses anyway), ``Secure`` when the request came over https
(directly, or through a trusted proxy's ``X-Forwarded-Proto``, or ``server.public_url`` is
https), ``Path=/``, ``Max-Age`` = ``[auth.session] lifetime``.

:class:`SignInRedirect` turns a 401 on a protected path into a redirect to
``/login?next=...`` for a browser's page or form (it prefers ``text/html`` and sends no
``Authorization``); every other client keeps the 401 with its ``WWW-Authenticate``
challenges untouched. ``next`` is only ever a path on this broker (:func:`safe_next`).
Tokens never appear in a page, a URL or a log line.
"""

from __future__ import annotations

import logging
from typing import Any
from urllib.parse import urlencode, urlsplit

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ivoa_broker.auth.codeflow import FlowError, begin, finish
from ivoa_broker.auth.identity import Identity
from ivoa_broker.auth.middleware import SESSION_DROPPED, SESSION_USED, protected, route_path
from ivoa_broker.auth.oidc import OIDCProvider
from ivoa_broker.auth.sessions import FLOW_COOKIE, FLOW_LIFETIME, MAX_COOKIE, SESSION_COOKIE
from ivoa_broker.errors import BrokerError, Unauthorized
from ivoa_broker.web.context import Broker, broker
from ivoa_broker.web.csrf import new_token
from ivoa_broker.web.negotiate import wants_html
from ivoa_broker.web.pages import render

log = logging.getLogger(__name__)

__all__ = ["ROUTES", "SignInRedirect", "safe_next"]

DEFAULT_NEXT = "/jobs"
_FORM = "application/x-www-form-urlencoded"
_SIGN_IN_PATHS = ("/login", "/logout")


def safe_next(value: str | None) -> str:
    """Where to go after sign-in: ``value`` when it is a path on this broker (``/jobs/x``),
    else the job list. Never a URL of another site (``//evil``, ``https://``, ``/\\evil``)."""
    if not value or len(value) > 2000 or not value.startswith("/"):
        return DEFAULT_NEXT
    if value.startswith("//") or "\\" in value or any(ord(c) < 33 or ord(c) == 127 for c in value):
        return DEFAULT_NEXT
    parts = urlsplit(value)
    if parts.scheme or parts.netloc or parts.path.startswith(_SIGN_IN_PATHS):
        return DEFAULT_NEXT
    return value


def _secure(b: Broker, request: Request) -> bool:
    public = b.settings.server.public_url or ""
    return request.url.scheme == "https" or public.startswith("https://")


def _providers(b: Broker) -> list[tuple[int, OIDCProvider]]:
    """The OpenID providers one can sign in with, by their index in ``[[auth.oidc]]``."""
    return [(i, p) for i, p in enumerate(b.auth.oidc) if p.section.login_client_id is not None]


def _login_page(
    request: Request, next_path: str, *, status: int = 200, error: str | None = None
) -> Response:
    b = broker(request)
    response = render(
        request,
        "login.html",
        status=status,
        next=next_path,
        error=error,
        providers=[(i, p.issuer) for i, p in _providers(b)],
        anonymous=b.auth.anonymous,
        configured=b.auth.sessions is not None,
    )
    if status == 401:
        for value in b.auth.challenges(error):
            response.headers.append("WWW-Authenticate", value)
    return response


def _signed_in(
    request: Request, token: str, identity: Identity, next_path: str, how: str
) -> Response:
    b = broker(request)
    assert b.auth.sessions is not None
    value = b.auth.sessions.session(token)
    if len(value) > MAX_COOKIE:
        return _login_page(
            request, next_path, status=400, error="this token is too long to keep in a browser"
        )
    secure = _secure(b, request)
    response = RedirectResponse(b.base_url(request) + next_path, status_code=303)
    response.set_cookie(
        SESSION_COOKIE,
        value,
        max_age=b.auth.sessions.lifetime,
        path="/",
        secure=secure,
        httponly=True,
        samesite="lax",
    )
    new_token(response, is_secure=secure)
    log.info("signed in: owner=%s via=%s (%s)", identity.owner, identity.via, how)
    return response


def _forget(response: Response, name: str, secure: bool) -> None:
    response.delete_cookie(name, path="/", secure=secure, httponly=True, samesite="lax")


# ------------------------------------------------------------------ routes


async def login_page(request: Request) -> Response:
    return _login_page(request, safe_next(request.query_params.get("next")))


async def login_form(request: Request) -> Response:
    """The token form: the token is checked like a bearer token, then kept in the cookie."""
    b = broker(request)
    form = await request.form()
    next_path = safe_next(str(form.get("next", "")))
    if b.auth.sessions is None:
        return _login_page(request, next_path, status=400, error="this broker has no sign-in")
    token = str(form.get("token", "")).strip()
    if token[:7].lower() == "bearer ":
        token = token[7:].strip()
    if not token:
        return _login_page(request, next_path, status=400, error="enter a token")
    try:
        identity = await b.auth.identify(f"Bearer {token}")
    except Unauthorized as exc:
        log.info("sign-in refused: %s", exc.message)
        return _login_page(request, next_path, status=401, error=exc.message)
    except BrokerError as exc:
        return _login_page(request, next_path, status=exc.status, error=exc.message)
    if identity.owner is None:
        return _login_page(request, next_path, status=401, error="the token names no owner")
    b.policy.remember(identity)
    return _signed_in(request, token, identity, next_path, "token")


async def logout(request: Request) -> Response:
    b = broker(request)
    secure = _secure(b, request)
    response = RedirectResponse(f"{b.base_url(request)}/login", status_code=303)
    _forget(response, SESSION_COOKIE, secure)
    new_token(response, is_secure=secure)
    return response


async def oidc_start(request: Request) -> Response:
    """``provider=N``: off to the N-th OpenID provider's authorization endpoint."""
    b = broker(request)
    form = await request.form()
    next_path = safe_next(str(form.get("next", "")))
    providers = dict(_providers(b))
    try:
        index = int(str(form.get("provider", "")))
        provider = providers[index]
    except (ValueError, KeyError):
        return _login_page(request, next_path, status=400, error="no such identity provider")
    if b.auth.sessions is None:
        return _login_page(request, next_path, status=400, error="this broker has no sign-in")
    try:
        started = await begin(provider, index, f"{b.base_url(request)}/login/callback", next_path)
    except FlowError as exc:
        return _login_page(request, next_path, status=400, error=exc.reason)
    except BrokerError as exc:
        return _login_page(request, next_path, status=exc.status, error=exc.message)
    response = RedirectResponse(started.url, status_code=303)
    response.set_cookie(
        FLOW_COOKIE,
        b.auth.sessions.flow(started.state),
        max_age=FLOW_LIFETIME,
        path="/",
        secure=_secure(b, request),
        httponly=True,
        samesite="lax",  # it must come back with the provider's (cross-site) redirect
    )
    return response


async def oidc_callback(request: Request) -> Response:
    """The provider sends the browser back here with ``code`` and ``state``."""
    b = broker(request)
    sessions = b.auth.sessions
    flow = sessions.open_flow(request.cookies.get(FLOW_COOKIE)) if sessions else None
    if flow is None:
        return _login_page(
            request,
            DEFAULT_NEXT,
            status=400,
            error="this sign-in was not started here or took too long; start again",
        )
    next_path = safe_next(str(flow.get("n", "")))
    provider = dict(_providers(b)).get(flow.get("p", -1))
    try:
        if provider is None:
            raise FlowError("that identity provider is no longer configured")
        query = dict(request.query_params.items())
        token = await finish(provider, flow, query)
        identity = await b.auth.identify(f"Bearer {token}")
    except FlowError as exc:
        response = _login_page(request, next_path, status=400, error=exc.reason)
    except Unauthorized as exc:
        log.info("sign-in refused: %s", exc.message)
        response = _login_page(request, next_path, status=401, error=exc.message)
    except BrokerError as exc:
        response = _login_page(request, next_path, status=exc.status, error=exc.message)
    else:
        if identity.owner is None:
            response = _login_page(request, next_path, status=401, error="no owner in the token")
        else:
            b.policy.remember(identity)
            response = _signed_in(request, token, identity, next_path, provider.issuer)
    _forget(response, FLOW_COOKIE, _secure(b, request))  # a flow is used once
    return response


ROUTES = [
    Route("/login", login_page, methods=["GET"]),
    Route("/login", login_form, methods=["POST"]),
    Route("/logout", logout, methods=["POST"]),
    Route("/login/oidc", oidc_start, methods=["POST"]),
    Route("/login/callback", oidc_callback, methods=["GET"]),
]


# ------------------------------------------------------------ 401 -> sign-in


def _next_of(request: Request, scope: Scope) -> str:
    """The page to come back to: this one for a GET, the form's page for a POST."""
    if request.method in ("GET", "HEAD"):
        path = route_path(scope)
        query = scope.get("query_string", b"").decode("latin-1")
        return safe_next(f"{path}?{query}" if query else path)
    referer = request.headers.get("referer")
    if referer is None:
        return DEFAULT_NEXT
    base = broker(request).base_url(request)
    if not referer.startswith(base + "/"):
        return DEFAULT_NEXT
    return safe_next(referer[len(base) :])


def _browser(request: Request) -> bool:
    """A browser's page or form: it prefers HTML and sends no ``Authorization`` (a
    program that sends a token gets the 401 with its challenges, whatever it accepts)."""
    if "authorization" in request.headers:
        return False
    if request.method in ("GET", "HEAD"):
        return wants_html(request)
    media = request.headers.get("content-type", "").split(";", 1)[0].strip().lower()
    return request.method == "POST" and media == _FORM and wants_html(request)


class SignInRedirect:
    """ASGI middleware: a browser's 401 on a protected path becomes ``303 /login?next=``
    (and a sign-in cookie that no longer works is cleared); every other answer, and every
    answer to any other client, passes untouched."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not protected(route_path(scope)):
            await self.app(scope, receive, send)
            return
        found: Any = getattr(scope["app"].state, "broker", None)
        if found is None or found.auth.sessions is None:  # no sign-in: nothing to redirect
            await self.app(scope, receive, send)
            return
        request = Request(scope)
        if not _browser(request):
            await self.app(scope, receive, send)
            return
        b: Broker = found
        replaced = False

        async def sending(message: Message) -> None:
            nonlocal replaced
            if message["type"] == "http.response.start" and message["status"] == 401:
                replaced = True
                query = urlencode({"next": _next_of(request, scope)})
                target = f"{b.base_url(request)}/login?{query}"
                response = RedirectResponse(target, status_code=303)
                response.headers["Cache-Control"] = "no-store"
                if scope.get(SESSION_USED) or scope.get(SESSION_DROPPED):
                    _forget(response, SESSION_COOKIE, _secure(b, request))
                await response(scope, receive, send)
                return
            if not replaced:
                await send(message)

        await self.app(scope, receive, sending)
