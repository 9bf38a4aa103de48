"""Client input at the HTTP edge: strict parsers and the one boundary per API.

Every parser here raises :class:`~ivoa_broker.errors.BadRequest` and nothing else,
whatever the text (``inf``, ``nan``, a superscript digit, 400 nines, an instant at
the end of the calendar with an offset). :func:`uws_boundary` wraps each UWS route:
an input error that still escapes a parser deeper down (``ValueError``,
``OverflowError``, a pydantic ``ValidationError``, ``RecursionError``) becomes the
usual UWS 400 text instead of a 500; the EB routes have the same boundary in
``web/eb.py`` (problem+json). Such an escape is logged with its traceback at warning
level, since it names a parser that should have said so itself.
"""

from __future__ import annotations

import logging
import math
import re
from collections.abc import Awaitable, Callable
from datetime import datetime
from functools import wraps

from starlette.requests import Request
from starlette.responses import Response

from ivoa_broker.errors import BadRequest
from ivoa_broker.protocol import Phase
from ivoa_broker.units import parse_instant

log = logging.getLogger(__name__)

Handler = Callable[[Request], Awaitable[Response]]

#: what a parser of client text may raise when it was not written to say BadRequest
INPUT_ERRORS: tuple[type[BaseException], ...] = (ValueError, OverflowError, RecursionError)

INT32 = 2**31 - 1
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")


def shown(value: str, limit: int = 40) -> str:
    """A client's value quoted for an error message: cut, control characters escaped."""
    return repr(value[:limit])


def whole_number(value: str, name: str, *, low: int = -INT32, high: int = INT32) -> int:
    """A whole number (``3600``, ``3600.0``, ``1e3``) in ``low..high``."""
    text = value.strip()
    try:
        number = float(text) if len(text) <= 40 else math.nan
    except ValueError:
        number = math.nan
    if not math.isfinite(number) or number != math.floor(number):
        raise BadRequest(f"{name} must be a whole number; got {shown(value)}")
    if not low <= number <= high:
        raise BadRequest(f"{name} must be a whole number in {low}..{high}; got {shown(value)}")
    return int(number)


def instant(value: str, name: str) -> datetime:
    """An ISO 8601 instant (UTC if no zone) inside the calendar."""
    try:
        return parse_instant(value)
    except ValueError as exc:
        raise BadRequest(f"{name}: {_CONTROL.sub('?', str(exc))}") from None


def phase(value: str, name: str = "PHASE") -> Phase:
    try:
        return Phase(value.strip().upper())
    except ValueError:
        raise BadRequest(
            f"{name}={shown(value)} is not a UWS phase; use one of "
            f"{', '.join(p.value for p in Phase)}"
        ) from None


def uws_boundary(handler: Handler) -> Handler:
    """The UWS routes' input boundary: any residual parse error is a 400, never a 500."""

    @wraps(handler)
    async def run(request: Request) -> Response:
        try:
            return await handler(request)
        except INPUT_ERRORS as exc:
            log.warning(
                "client input escaped a parser on %s %s",
                request.method,
                request.url.path,
                exc_info=True,
            )
            detail = _CONTROL.sub("?", str(exc))[:200] or type(exc).__name__
            raise BadRequest(f"the request cannot be read: {detail}") from None

    return run
