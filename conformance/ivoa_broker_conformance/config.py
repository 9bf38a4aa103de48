"""What the suite is pointed at and how it may exercise the service."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import parse_qsl

from ivoa_broker_conformance.auth import Credential, bearer
from ivoa_broker_conformance.urls import child

DEFAULT_JOB_PARAMS = "cmd=echo&args=hello"
DEFAULT_FAILING_JOB_PARAMS = "cmd=false"
DEFAULT_LONG_JOB_PARAMS = "cmd=sleep&args=30"
DEFAULT_BAD_JOB_PARAMS = "cmd="

Params = tuple[tuple[str, str], ...]


def parse_params(text: str) -> Params:
    """``'k=v&k=v'`` -> pairs (order and repeats kept)."""
    return tuple(parse_qsl(text, keep_blank_values=True))


@dataclass(frozen=True)
class Profile:
    """The four creation forms a kind of service understands."""

    name: str
    quick: str
    failing: str
    long: str
    bad: str
    about: str


PROFILES: dict[str, Profile] = {
    "uws": Profile(
        "uws",
        DEFAULT_JOB_PARAMS,
        DEFAULT_FAILING_JOB_PARAMS,
        DEFAULT_LONG_JOB_PARAMS,
        DEFAULT_BAD_JOB_PARAMS,
        "ivoa-broker's local adapter and the suite's own fixtures (cmd/args)",
    ),
    "tap": Profile(
        "tap",
        "REQUEST=doQuery&LANG=ADQL&QUERY=SELECT TOP 1 table_name FROM tap_schema.tables",
        "REQUEST=doQuery&LANG=ADQL&QUERY=SELECT no_such_column FROM no_such_schema.no_such_table",
        "REQUEST=doQuery&LANG=ADQL&QUERY=SELECT COUNT(*) FROM tap_schema.columns AS a, "
        "tap_schema.columns AS b, tap_schema.columns AS c, tap_schema.columns AS d",
        "REQUEST=doQuery&LANG=NO-SUCH-LANGUAGE&QUERY=SELECT 1",
        "a TAP 1.0/1.1 service's /async endpoint (LANG, QUERY on TAP_SCHEMA)",
    ),
}

#: how long UWS-44 watches a job after its destruction time when no tolerance is given (s).
#: UWS 1.1 §2.1.7 gives destruction no precision and services sweep on a timer (DaCHS every
#: 12 h), so a job still there then is inconclusive, not a failure.
DEFAULT_DESTRUCTION_WAIT = 15.0
#: how much longer than its executionDuration a job may run before UWS-43 fails (s)
DEFAULT_DURATION_TOLERANCE = 15.0


@dataclass(frozen=True)
class Config:
    base_url: str
    token: str | None = None
    other_token: str | None = None
    #: credentials other than a bearer token (Basic, a named header, a cookie); win over token
    auth: Credential | None = None
    other_auth: Credential | None = None
    schemas: Path | None = None
    jobs_path: str = "/jobs"
    job_params: tuple[tuple[str, str], ...] = parse_params(DEFAULT_JOB_PARAMS)
    failing_job_params: tuple[tuple[str, str], ...] = parse_params(DEFAULT_FAILING_JOB_PARAMS)
    long_job_params: tuple[tuple[str, str], ...] = parse_params(DEFAULT_LONG_JOB_PARAMS)
    bad_job_params: tuple[tuple[str, str], ...] = parse_params(DEFAULT_BAD_JOB_PARAMS)
    #: added to every job the suite creates (``--param KEY=VALUE``)
    extra_params: Params = ()
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
    #: seconds a job may outlive its destruction time before UWS-44 fails; None: watch
    #: DEFAULT_DESTRUCTION_WAIT seconds and call a job still there inconclusive
    destruction_tolerance: float | None = None
    duration_tolerance: float = DEFAULT_DURATION_TOLERANCE

    @property
    def base(self) -> str:
        return self.base_url.rstrip("/")

    def vosi(self, name: str) -> str:
        """A VOSI resource (``capabilities``, ``availability``) below the base URL."""
        return child(self.base_url, name)

    def credential(self, who: str) -> Credential | None:
        """The credential of ``main`` or ``other`` (``none``: anonymous)."""
        if who == "main":
            return self.auth or (bearer(self.token) if self.token else None)
        if who == "other":
            return self.other_auth or (bearer(self.other_token) if self.other_token else None)
        return None

    @property
    def has_main(self) -> bool:
        return self.credential("main") is not None

    @property
    def has_other(self) -> bool:
        return self.credential("other") is not None

    def selected(self, check_id: str) -> bool:
        return not self.only or check_id in self.only
