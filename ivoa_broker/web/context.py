"""What the routes share: the running broker's services, from the app state."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from starlette.requests import Request

from ivoa_broker.auth import Authenticator, Identity
from ivoa_broker.config import Settings
from ivoa_broker.dispatch import Dispatcher
from ivoa_broker.jobs import JobService
from ivoa_broker.registry import InstanceProblem, Plugin
from ivoa_broker.store import JobStore


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

    def base_url(self, request: Request) -> str:
        configured = self.settings.server.public_url
        return (configured or str(request.base_url)).rstrip("/")

    def jobs_url(self, request: Request) -> str:
        return self.base_url(request) + "/jobs"

    def job_url(self, request: Request, job_id: str) -> str:
        return f"{self.jobs_url(request)}/{job_id}"

    def identify(self, request: Request) -> Identity:
        return self.auth.identify(request.headers.get("authorization"))


def broker(request: Request) -> Broker:
    found: Broker = request.app.state.broker
    return found
