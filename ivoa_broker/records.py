"""The job record: the one thing UWS shows as ``uws:job`` and the EB API as a session.

Plain frozen dataclasses; :mod:`ivoa_broker.store` persists them and
:mod:`ivoa_broker.render` writes them out. Nothing here does I/O.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal

from ivoa_broker.protocol import Phase


@dataclass(frozen=True)
class Parameter:
    """One UWS parameter as submitted (name as the client spelled it, lowered)."""

    name: str
    value: str
    by_reference: bool = False


@dataclass(frozen=True)
class JobResult:
    """One result of a job. ``href`` is absolute when the result lives elsewhere;
    ``None`` means the broker serves it at ``{job}/results/{id}``."""

    id: str
    mime_type: str | None = None
    size: int | None = None
    href: str | None = None


@dataclass(frozen=True)
class JobError:
    """Why a job ended in ERROR (or was aborted by the system)."""

    type: Literal["fatal", "transient"]
    message: str
    detail: str | None = None


@dataclass(frozen=True)
class Job:
    job_id: str
    owner: str | None
    phase: Phase
    creation_time: datetime
    run_id: str | None = None
    quote: datetime | None = None
    start_time: datetime | None = None
    end_time: datetime | None = None
    execution_duration: int = 0
    destruction: datetime | None = None
    parameters: tuple[Parameter, ...] = ()
    results: tuple[JobResult, ...] = ()
    error: JobError | None = None
    platform: str | None = None
    job_info: Mapping[str, str] = field(default_factory=dict)
    #: lifecycle of an aborted job (not shown in jobInfo): why it was stopped, and
    #: when its platform confirmed that it let go (until then the EB says RELEASING)
    abort_reason: str | None = None
    released: datetime | None = None

    def parameter_values(self, name: str) -> list[str]:
        return [p.value for p in self.parameters if p.name == name]


@dataclass(frozen=True)
class JobSummary:
    """What a job list entry (``uws:jobref``) shows."""

    job_id: str
    phase: Phase
    creation_time: datetime
    run_id: str | None = None
    owner: str | None = None
