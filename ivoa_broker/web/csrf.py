"""Cross-site request forgery protection for the HTML pages' forms (and every other write).

Non-browser clients (pyvo, curl, scripts) send neither ``Origin`` nor ``Sec-Fetch-*`` nor
the broker's cookie; their requests pass untouched. A write (POST, PUT, PATCH, DELETE)
that comes from a browser is checked:

1. it must come from this site: ``Sec-Fetch-Site`` is ``same-origin`` or ``none`` (typed by
   the user), or, from a browser that does not send it, ``Origin`` is this broker's own
   origin. An origin listed in ``server.cors_origins`` passes as well (those clients call
   the API with bearer tokens, which a forged request cannot carry);
2. a form (``application/x-www-form-urlencoded``) from this site must carry the
   ``csrf_token`` field equal to the :data:`COOKIE` cookie (the double-submit pattern); the
   field is removed from the body before the route reads it, so it never becomes a job
   parameter. A ``multipart/form-data`` body from a browser is refused (the pages send none).

A write that the pages' sign-in cookie would authenticate (``auth/sessions.py``: the
cookie is there and no ``Authorization`` header) is a browser's whatever else it sends,
and must prove it comes from this site: ``Sec-Fetch-Site: same-origin``, or ``Origin``
equal to this broker's (an origin in ``server.cors_origins`` is not enough: the browser
adds the cookie by itself), and a form needs the token as above. So the cookie never
authenticates a cross-site write.

The pages set the cookie (``SameSite=Strict``, ``HttpOnly``) when they render a form
(:func:`token_for`); :func:`new_token` replaces it at sign-in. Refusals are 403 with a
plain-text reason.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterable
from urllib.parse import parse_qsl, urlencode

from starlette.datastructures import Headers
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ivoa_broker.auth.sessions import SESSION_COOKIE

__all__ = ["COOKIE", "FIELD", "CsrfGuard", "new_token", "secure", "set_token", "token_for"]

COOKIE = "ivoa_broker_csrf"
FIELD = "csrf_token"
MAX_FORM_BYTES = 1024 * 1024
_WRITES = frozenset({"POST", "PUT", "PATCH", "DELETE"})
_FORM = "application/x-www-form-urlencoded"


def token_for(request: Request) -> str:
    """The caller's token: the cookie's, else a new one (set it with :func:`set_token`)."""
    current = request.cookies.get(COOKIE, "")
    return current if 20 <= len(current) <= 100 else secrets.token_urlsafe(32)


def set_token(request: Request, response: Response, token: str) -> None:
    if request.cookies.get(COOKIE) != token:
        response.set_cookie(
            COOKIE, token, httponly=True, samesite="strict", path="/", secure=secure(request)
        )


def new_token(response: Response, *, is_secure: bool) -> None:
    """A fresh token cookie (at sign-in and sign-out: no token survives a change of user)."""
    response.set_cookie(
        COOKIE,
        secrets.token_urlsafe(32),
        httponly=True,
        samesite="strict",
        path="/",
        secure=is_secure,
    )


def secure(request: Request) -> bool:
    """The request came over https (to the broker, or to the trusted proxy in front)."""
    return request.url.scheme == "https"


def _own_origin(scope: Scope, headers: Headers) -> str:
    scheme = str(scope.get("scheme", "http"))
    return f"{scheme}://{headers.get('host', '')}".lower()


class CsrfGuard:
    """ASGI middleware; see the module docstring."""

    def __init__(self, app: ASGIApp, allowed_origins: Iterable[str] = ()) -> None:
        self.app = app
        self.allowed = {o.rstrip("/").lower() for o in allowed_origins}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] not in _WRITES:
            await self.app(scope, receive, send)
            return
        headers = Headers(scope=scope)
        origin = headers.get("origin")
        site = headers.get("sec-fetch-site")
        cookies = Request(scope).cookies
        cookie = cookies.get(COOKIE)
        # the sign-in cookie authenticates this request (no Authorization header)
        signed_in = SESSION_COOKIE in cookies and headers.get("authorization") is None
        if origin is None and site is None and cookie is None and not signed_in:
            await self.app(scope, receive, send)  # not a browser
            return
        own = origin is not None and origin.rstrip("/").lower() == _own_origin(scope, headers)
        if not signed_in and origin is not None and origin.rstrip("/").lower() in self.allowed:
            await self.app(scope, receive, send)  # a CORS client of the API, with a token
            return
        if signed_in:  # the cookie is sent by the browser itself: proof of this site needed
            same = site == "same-origin" or (site is None and own)
        elif site is not None:
            same = site in ("same-origin", "none")
        else:
            same = origin is None or own
        if not same:
            await _refuse("cross-site request refused", scope, receive, send)
            return
        media = headers.get("content-type", "").split(";", 1)[0].strip().lower()
        if media == "multipart/form-data":
            await _refuse("multipart forms from a browser are not accepted", scope, receive, send)
            return
        if media != _FORM:
            await self.app(scope, receive, send)  # a script of this site (JSON/YAML body)
            return
        body = await _read_body(receive)
        if body is None:
            await _refuse("form too large", scope, receive, send, status=413)
            return
        pairs = parse_qsl(body.decode("latin-1"), keep_blank_values=True)
        sent = [v for k, v in pairs if k == FIELD]
        if cookie is None or len(sent) != 1 or not secrets.compare_digest(sent[0], cookie):
            await _refuse("missing or wrong CSRF token; reload the page", scope, receive, send)
            return
        rest = urlencode([(k, v) for k, v in pairs if k != FIELD]).encode("latin-1")
        await self.app(_with_length(scope, len(rest)), _replay(rest, receive), send)


async def _read_body(receive: Receive) -> bytes | None:
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            break
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > MAX_FORM_BYTES:
            return None
        chunks.append(chunk)
        if not message.get("more_body", False):
            break
    return b"".join(chunks)


def _replay(body: bytes, then: Receive) -> Receive:
    """The body once, then whatever the client sends next (its disconnect)."""
    sent = False

    async def receive() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await then()

    return receive


def _with_length(scope: Scope, length: int) -> Scope:
    headers = [(k, v) for k, v in scope["headers"] if k.lower() != b"content-length"]
    headers.append((b"content-length", str(length).encode()))
    return {**scope, "headers": headers}


async def _refuse(
    reason: str, scope: Scope, receive: Receive, send: Send, status: int = 403
) -> None:
    await PlainTextResponse(reason, status_code=status)(scope, receive, send)
