"""What the routes share: the running broker's services, from the app state."""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass, field
from datetime import datetime

from starlette.requests import Request

from ivoa_broker.auth import Authenticator, Identity
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
    #: this broker's id in federation hop lists (ivoa_broker.hops)
    broker_id: str = ""
    rendered: RenderedJobs = field(default_factory=RenderedJobs)
    metrics: Metrics = field(default_factory=Metrics)

    def base_url(self, request: Request) -> str:
        configured = self.settings.server.public_url
        return (configured or str(request.base_url)).rstrip("/")

    def jobs_url(self, request: Request) -> str:
        return self.base_url(request) + "/jobs"

    def job_url(self, request: Request, job_id: str) -> str:
        return f"{self.jobs_url(request)}/{job_id}"

    @property
    def availability(self) -> AvailabilityService:
        """The read service of VOSI availability and readiness (routes use it, not the store)."""
        return AvailabilityService(self.store, self.dispatcher, self.plugins, self.problems)

    def identify(self, request: Request) -> Identity:
        return self.auth.identify(request.headers.get("authorization"))


def broker(request: Request) -> Broker:
    found: Broker = request.app.state.broker
    return found
