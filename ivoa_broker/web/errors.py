"""One place where exceptions become HTTP answers (text/plain, or JSON on Accept)."""

from __future__ import annotations

import json
import logging

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response

from ivoa_broker.errors import BrokerError, Unauthorized
from ivoa_broker.protocol import AdapterError
from ivoa_broker.web.negotiate import json_response, text, wants_json

log = logging.getLogger(__name__)


#: the ExecutionBroker's resources: their errors are problem+json, whatever answers
EB_PREFIXES = ("/requests", "/offersets", "/sessions", "/direct")
_TITLES = {404: "Not found", 405: "Method not allowed", 500: "Internal error"}


def _is_eb(request: Request) -> bool:
    path = request.url.path.removeprefix(request.scope.get("root_path", "") or "")
    return any(path == p or path.startswith(p + "/") for p in EB_PREFIXES)


def _answer(request: Request, status: int, message: str) -> Response:
    if _is_eb(request):  # routing (404/405) and crashes of EB paths: RFC 9457 too
        body = {
            "type": "about:blank",
            "title": _TITLES.get(status, "Error"),
            "status": status,
            "detail": message,
            "instance": request.url.path,
        }
        response: Response = Response(
            json.dumps(body), status, media_type="application/problem+json"
        )
    elif wants_json(request):
        response = json_response({"status": status, "message": message}, status)
    else:
        response = text(message + "\n", status)
    if status == 401:
        response.headers["WWW-Authenticate"] = 'Bearer realm="ivoa-broker"'
    return response


async def broker_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, BrokerError)
    if isinstance(exc, Unauthorized):
        return _answer(request, 401, exc.message)
    return _answer(request, exc.status, exc.message)


async def adapter_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, AdapterError)
    return _answer(request, exc.http_status, exc.message)


async def http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    messages = {404: "no such resource", 405: f"method {request.method} not allowed here"}
    response = _answer(request, exc.status_code, messages.get(exc.status_code, str(exc.detail)))
    if exc.headers:
        response.headers.update(exc.headers)
    return response


async def unexpected(request: Request, exc: Exception) -> Response:
    log.exception("unexpected error on %s %s", request.method, request.url.path)
    return _answer(request, 500, "internal error; the broker log has the details")


HANDLERS = {
    BrokerError: broker_error,
    AdapterError: adapter_error,
    HTTPException: http_error,
    Exception: unexpected,
}
