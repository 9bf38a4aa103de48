"""The hot read: ``GET /jobs/{id}`` answered without the route machinery.

A UWS client polls its job's document, and nearly every such request is the same:
no query string, an ``Accept`` that asks for XML or JSON, a caller the broker
knows, a job it owns. :class:`HotJobReads` answers exactly that request itself, just
after the proxy headers are applied, with the same bytes and headers the route
(``web/uws.py`` ``get_job``, wrapped by ``web/pages.py``) would send: the record from
the store's cache, the document from :class:`~ivoa_broker.web.context.RenderedJobs`.
It skips what cannot change such an answer: the sign-in redirect and the identity
middleware's challenges act only on a 401 or 429, the CSRF guard only on writes,
routing and the exception handlers only on their way to an error.

Anything else goes on down the stack untouched: another method or path, a query
(``WAIT``, ``PHASE``), a browser that prefers the HTML page, a caller whose
credentials fail, a job that is missing or not the caller's, or any error on the way;
and every request when CORS is configured (its middleware adds ``Vary: Origin`` to
every answer, and its headers to a cross-origin one). The identity found here stays
in the scope, so the rest of the stack does not verify the token again; nothing else
has happened, so the route answers as if this class were not there.
"""

from __future__ import annotations

from typing import Any

from starlette.types import ASGIApp, Receive, Scope, Send

from ivoa_broker.auth.identity import Identity
from ivoa_broker.auth.middleware import IDENTITY, resolve_identity, route_path
from ivoa_broker.render import job_json
from ivoa_broker.web.negotiate import HTML, JSON, json_body, preferred_media

_PREFIX = "/jobs/"
_XML_TYPE = b"application/xml"
_JSON_TYPE = b"application/json"


def job_id_of(path: str) -> str | None:
    """The job id of a ``/jobs/{id}`` path (Starlette's ``[^/]+``), else None."""
    if not path.startswith(_PREFIX):
        return None
    job_id = path[len(_PREFIX) :]
    return job_id if job_id and "/" not in job_id else None


class HotJobReads:
    """ASGI middleware; see the module docstring. ``cors``: CORS is configured, so the
    lane stands aside."""

    def __init__(self, app: ASGIApp, cors: bool = False) -> None:
        self.app = app
        self.cors = cors

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (
            scope["type"] == "http"
            and scope["method"] == "GET"
            and not scope["query_string"]
            and not self.cors
        ):
            job_id = job_id_of(route_path(scope))
            broker: Any = getattr(scope["app"].state, "broker", None)
            if job_id is not None and broker is not None:
                answer = await self._answer(broker, scope, job_id)
                if answer is not None:
                    media, body = answer
                    await send(
                        {
                            "type": "http.response.start",
                            "status": 200,
                            "headers": [
                                (b"content-length", str(len(body)).encode()),
                                (b"content-type", media),
                                (b"vary", b"Accept"),
                            ],
                        }
                    )
                    await send({"type": "http.response.body", "body": body})
                    return
        await self.app(scope, receive, send)

    async def _answer(self, broker: Any, scope: Scope, job_id: str) -> tuple[bytes, bytes] | None:
        """(content type, body) of the job's document, or None: the stack answers."""
        accept: str | None = None
        for name, value in scope["headers"]:
            if name == b"accept":
                accept = value.decode("latin-1")
                break
        if preferred_media(accept, True) == HTML:  # a browser: the page
            return None
        await resolve_identity(broker, scope)
        identity = scope.get(IDENTITY)
        if not isinstance(identity, Identity):  # refused: the stack says why
            return None
        try:
            jobs = broker.jobs
            job = jobs.cached(job_id, identity.owner) or await jobs.get(job_id, identity.owner)
            url = f"{broker.base_url_of(scope)}/jobs/{job_id}"
            if preferred_media(accept, False) == JSON:
                return _JSON_TYPE, json_body(job_json(job, url))
            body: bytes = broker.rendered.xml(job, url)
        except Exception:  # not found, or any failure: the route answers (and says why)
            return None
        return _XML_TYPE, body
