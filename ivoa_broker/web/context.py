"""What the routes share: the running broker's services, from the app state."""

from __future__ import annotations

import contextlib
from collections import OrderedDict
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass, field
from datetime import datetime

from starlette.requests import Request
from starlette.types import Scope

from ivoa_broker.auth import Authenticator, Identity
from ivoa_broker.auth.limits import Kind, Limits
from ivoa_broker.auth.middleware import IDENTITY, IDENTITY_ERROR
from ivoa_broker.auth.policy import AccessPolicy
from ivoa_broker.availability import AvailabilityService
from ivoa_broker.config import Settings
from ivoa_broker.dispatch import Dispatcher
from ivoa_broker.jobs import JobService
from ivoa_broker.metrics import Metrics
from ivoa_broker.records import Job
from ivoa_broker.registry import InstanceProblem, Plugin
from ivoa_broker.render import job_xml
from ivoa_broker.store import JobStore


class RenderedJobs:
    """Rendered ``uws:job`` documents, reused while the job record is the same object.

    The store's record cache hands out one immutable :class:`Job` per job until a
    write replaces it, so object identity says the document is still current.
    """

    def __init__(self, size: int = 1024) -> None:
        self.size = size
        self._docs: OrderedDict[tuple[str, str], tuple[Job, bytes]] = OrderedDict()

    def xml(self, job: Job, job_url: str) -> bytes:
        key = (job.job_id, job_url)
        entry = self._docs.get(key)
        if entry is not None and entry[0] is job:
            self._docs.move_to_end(key)
            return entry[1]
        body = job_xml(job, job_url)
        self._docs[key] = (job, body)
        self._docs.move_to_end(key)
        if len(self._docs) > self.size:
            self._docs.popitem(last=False)
        return body


class BaseUrls:
    """The broker's base URL as each request sees it, without a public URL configured.

    Starlette's ``request.base_url`` builds a new URL object from the scope on every
    request; the text depends only on the scheme, the first ``Host`` header, the server
    address and the root path (after :class:`~ivoa_broker.web.proxy.ProxyHeaders`
    applied any trusted forwarded headers to them), so it is kept under exactly those.
    At most ``size`` entries (the oldest goes first): a client inventing ``Host`` headers
    cannot grow it.
    """

    def __init__(self, size: int = 256) -> None:
        self.size = size
        self._urls: dict[tuple[object, ...], str] = {}

    def of(self, request: Request) -> str:
        return self.of_scope(request.scope)

    def of_scope(self, scope: Scope) -> str:
        host = None
        for name, value in scope["headers"]:
            if name == b"host":
                host = value
                break
        server = scope.get("server")
        key = (
            scope.get("scheme", "http"),
            host,
            tuple(server) if server is not None else None,
            scope.get("app_root_path", scope.get("root_path", "")),
        )
        found = self._urls.get(key)
        if found is None:
            found = str(Request(scope).base_url).rstrip("/")
            if len(self._urls) >= self.size:
                del self._urls[next(iter(self._urls))]
            self._urls[key] = found
        return found


@dataclass
class Broker:
    settings: Settings
    store: JobStore
    jobs: JobService
    dispatcher: Dispatcher
    auth: Authenticator
    plugins: dict[str, Plugin]
    problems: list[InstanceProblem]
    started: datetime
    notes: list[str] = field(default_factory=list)
    #: per-platform access (ivoa_broker.auth.policy); default: no restrictions
    policy: AccessPolicy = field(default_factory=lambda: AccessPolicy({}))
    #: per-owner limits (ivoa_broker.auth.limits); None: unlimited
    limits: Limits | None = None
    #: this broker's id in federation hop lists (ivoa_broker.hops)
    broker_id: str = ""
    rendered: RenderedJobs = field(default_factory=RenderedJobs)
    metrics: Metrics = field(default_factory=Metrics)
    urls: BaseUrls = field(default_factory=BaseUrls)

    def base_url(self, request: Request) -> str:
        return self.base_url_of(request.scope)

    def base_url_of(self, scope: Scope) -> str:
        """:meth:`base_url` of a request's ASGI scope."""
        configured = self.settings.server.public_url
        return configured.rstrip("/") if configured else self.urls.of_scope(scope)

    def jobs_url(self, request: Request) -> str:
        return self.base_url(request) + "/jobs"

    def job_url(self, request: Request, job_id: str) -> str:
        return f"{self.jobs_url(request)}/{job_id}"

    @property
    def availability(self) -> AvailabilityService:
        """The read service of VOSI availability and readiness (routes use it, not the store)."""
        return AvailabilityService(self.store, self.dispatcher, self.plugins, self.problems)

    def identify(self, request: Request) -> Identity:
        """The caller, as the identity middleware found it (raises its 401/503)."""
        error = request.scope.get(IDENTITY_ERROR)
        if error is not None:
            raise error
        found = request.scope.get(IDENTITY)
        if isinstance(found, Identity):
            return found
        return self.auth.identify_static(request.headers.get("authorization"))

    def admit(self, who: Identity, kind: Kind) -> AbstractAsyncContextManager[None]:
        """The per-owner limit around the insert of a job or offer set (429)."""
        if self.limits is None:
            return contextlib.nullcontext()
        return self.limits.admit(who, kind)


def broker(request: Request) -> Broker:
    found: Broker = request.app.state.broker
    return found
