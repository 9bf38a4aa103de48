"""What the suite is pointed at and how it may exercise the service."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import parse_qsl

DEFAULT_JOB_PARAMS = "cmd=echo&args=hello"
DEFAULT_FAILING_JOB_PARAMS = "cmd=false"
DEFAULT_LONG_JOB_PARAMS = "cmd=sleep&args=30"
DEFAULT_BAD_JOB_PARAMS = "cmd="


def parse_params(text: str) -> tuple[tuple[str, str], ...]:
    """``'k=v&k=v'`` -> pairs (order and repeats kept)."""
    return tuple(parse_qsl(text, keep_blank_values=True))


@dataclass(frozen=True)
class Config:
    base_url: str
    token: str | None = None
    other_token: str | None = None
    schemas: Path | None = None
    jobs_path: str = "/jobs"
    job_params: tuple[tuple[str, str], ...] = parse_params(DEFAULT_JOB_PARAMS)
    failing_job_params: tuple[tuple[str, str], ...] = parse_params(DEFAULT_FAILING_JOB_PARAMS)
    long_job_params: tuple[tuple[str, str], ...] = parse_params(DEFAULT_LONG_JOB_PARAMS)
    bad_job_params: tuple[tuple[str, str], ...] = parse_params(DEFAULT_BAD_JOB_PARAMS)
    eb_request: bytes | None = None
    eb_request_type: str = "application/json"
    only: frozenset[str] = field(default_factory=frozenset)
    #: per-request timeout (s) for ordinary requests
    request_timeout: float = 20.0
    #: how long to wait for a job to reach a phase it should reach by itself (s)
    job_timeout: float = 60.0
    #: hard limit for one check, WAIT checks included (s)
    check_timeout: float = 120.0
    #: longest an offer expiry may be in the future for the expiry check to wait for it (s)
    eb_expiry_wait: float = 30.0
    #: slack granted to timing-based WAIT checks (s)
    wait_slack: float = 5.0

    @property
    def base(self) -> str:
        return self.base_url.rstrip("/")

    def selected(self, check_id: str) -> bool:
        return not self.only or check_id in self.only
