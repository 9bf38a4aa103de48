"""Run the selected checks one after the other, each bounded in time."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime

import httpx

from ivoa_broker_conformance import __version__
from ivoa_broker_conformance.config import Config
from ivoa_broker_conformance.errors import CheckBlocked, CheckFailed, CheckSkipped
from ivoa_broker_conformance.jobs import discover_jobs_url
from ivoa_broker_conformance.model import CheckResult, Outcome, Summary
from ivoa_broker_conformance.probe import CheckRun
from ivoa_broker_conformance.registry import CheckSpec, all_checks
from ivoa_broker_conformance.schemas import SchemaSet
from ivoa_broker_conformance.session import Session


@dataclass
class Report:
    target: str
    jobs_url: str
    jobs_url_source: str
    schema_statement: str
    schema_enabled: bool
    started: str
    #: the DAL standard the jobs live in ("TAP"), "" for a plain UWS
    dal: str = ""
    #: how the two identities authenticate (no secrets)
    auth: str = ""
    finished: str = ""
    results: list[CheckResult] = field(default_factory=list)
    tool_version: str = __version__

    @property
    def summary(self) -> Summary:
        return Summary.of(self.results)

    def by_id(self) -> dict[str, CheckResult]:
        return {r.id: r for r in self.results}

    def to_json(self) -> dict[str, object]:
        return {
            "tool": "ivoa-broker-conformance",
            "tool_version": self.tool_version,
            "target": self.target,
            "jobs_url": self.jobs_url,
            "jobs_url_source": self.jobs_url_source,
            "dal": self.dal,
            "auth": self.auth,
            "schema_validation": {
                "enabled": self.schema_enabled,
                "statement": self.schema_statement,
            },
            "started": self.started,
            "finished": self.finished,
            "summary": self.summary.to_json(),
            "summary_line": self.summary.line(),
            "results": [r.to_json() for r in self.results],
        }


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


async def run_suite(config: Config) -> Report:
    schemas = SchemaSet.load(config.schemas)
    limits = httpx.Limits(max_connections=20, max_keepalive_connections=10)
    async with httpx.AsyncClient(
        timeout=config.request_timeout, follow_redirects=False, limits=limits
    ) as client:
        session = Session(config, client, schemas)
        await discover_jobs_url(session)
        report = Report(
            target=config.base,
            jobs_url=session.jobs_url,
            jobs_url_source=session.jobs_url_source,
            schema_statement=schemas.statement(),
            schema_enabled=schemas.enabled,
            started=_now(),
            dal=session.dal,
            auth=_auth_statement(config),
        )
        try:
            for spec in all_checks():
                if config.selected(spec.id):
                    report.results.append(await run_one(spec, session))
        finally:
            await session.cleanup()
        report.finished = _now()
        return report


async def run_one(spec: CheckSpec, session: Session) -> CheckResult:
    run = CheckRun(session, spec.id)
    start = time.monotonic()
    outcome, message = Outcome.PASS, ""
    try:
        await asyncio.wait_for(spec.func(run), timeout=session.config.check_timeout)
    except CheckFailed as exc:
        outcome, message = Outcome.FAIL, str(exc)
    except CheckSkipped as exc:
        outcome, message = Outcome.SKIP, str(exc)
    except CheckBlocked as exc:
        outcome, message = Outcome.BLOCKED, str(exc)
    except TimeoutError:
        outcome = Outcome.FAIL
        message = f"check did not finish within {session.config.check_timeout:.0f} s"
    except Exception as exc:  # a crash of the check against odd answers is a failure
        outcome, message = Outcome.FAIL, f"unexpected {type(exc).__name__}: {exc}"
    if outcome is Outcome.PASS and run.warnings:
        outcome, message = Outcome.WARN, "; ".join(run.warnings)
    result = CheckResult(
        id=spec.id,
        title=spec.title,
        section=spec.section,
        level=spec.level,
        outcome=outcome,
        message=message,
        warnings=run.warnings,
        notes=run.notes,
        evidence=run.evidence,
        duration=time.monotonic() - start,
    )
    session.results.append(result)
    return result


def _auth_statement(config: Config) -> str:
    parts = []
    for who in ("main", "other"):
        credential = config.credential(who)
        parts.append(f"{who}: {credential.describe() if credential else 'anonymous'}")
    return "; ".join(parts)
