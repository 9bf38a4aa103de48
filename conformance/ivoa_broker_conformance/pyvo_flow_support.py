"""Running pyvo (blocking, requests-based) from the async suite, with evidence."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any, TypeVar

from ivoa_broker_conformance.model import Exchange
from ivoa_broker_conformance.probe import EXCERPT, CheckRun

T = TypeVar("T")
#: timeout for pyvo requests that pyvo sends without one (s)
DEFAULT_TIMEOUT = 30.0


def pyvo_session(t: CheckRun) -> Any:
    """A requests session carrying the token, recording every exchange and its time."""
    import requests

    class BoundedSession(requests.Session):
        def request(self, method: str | bytes, url: Any, *args: Any, **kwargs: Any) -> Any:
            if kwargs.get("timeout") is None:
                kwargs["timeout"] = DEFAULT_TIMEOUT
            verb = method if isinstance(method, str) else method.decode()
            return super().request(verb, url, *args, **kwargs)

    session = BoundedSession()
    session.headers.update(t.session.auth_headers("main"))

    def record(response: Any, *args: Any, **kwargs: Any) -> None:
        request = response.request
        elapsed = response.elapsed.total_seconds()
        line = f"{request.method} {request.url}  (by pyvo)"
        sent: object = request.body
        if request.method in ("POST", "PUT") and isinstance(sent, str | bytes):
            text = sent if isinstance(sent, str) else sent.decode("utf-8", "replace")
            line += f"  [{text[:200]}]"
        kept = {
            k: v for k, v in response.headers.items() if k.lower() in ("content-type", "location")
        }
        body = getattr(response, "_content", None)  # never consume a streamed body
        excerpt = body[:EXCERPT].decode("utf-8", "replace") if isinstance(body, bytes) else ""
        t.evidence.append(Exchange(line, response.status_code, kept, excerpt, elapsed))
        if "WAIT=" not in str(request.url):
            t.session.pyvo_timings.append((f"{request.method} {request.url}", elapsed))

    session.hooks["response"].append(record)
    return session


async def in_thread(t: CheckRun, what: str, func: Callable[[], T]) -> T:
    """Run blocking pyvo code in a thread; its exceptions fail the check."""
    try:
        return await asyncio.to_thread(func)
    except Exception as exc:
        t.fail(f"{what} raised {type(exc).__name__}: {exc}")
