"""The whole suite against the real ivoa-broker server: every MUST check passes."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import pytest
from conformance_broker_process import TOKENS, BrokerProcess, broker_command
from conformance_support import XSD_DIR, free_port
from ivoa_broker_conformance.config import Config
from ivoa_broker_conformance.model import Level, Outcome
from ivoa_broker_conformance.runner import Report, run_suite

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(broker_command() is None, reason="ivoa-broker is not installed"),
]


@pytest.fixture(scope="module")
def broker_report(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Report]:
    workdir: Path = tmp_path_factory.mktemp("broker")
    with BrokerProcess(workdir, free_port()) as broker:
        config = Config(
            base_url=broker.base,
            token=TOKENS["alice"],
            other_token=TOKENS["bob"],
            schemas=XSD_DIR,
            job_timeout=30.0,
        )
        yield asyncio.run(run_suite(config))


def test_every_must_check_passes(broker_report: Report) -> None:
    failed = {
        r.id: r.message
        for r in broker_report.results
        if r.level is Level.MUST and r.outcome is Outcome.FAIL
    }
    assert failed == {}


def test_uws_and_vosi_checks_ran(broker_report: Report) -> None:
    """Skips are only the untestable item and, while it has none, the EB API."""
    skipped = {r.id for r in broker_report.results if r.outcome is Outcome.SKIP}
    assert {i for i in skipped if not i.startswith("EB-")} <= {"UWS-64"}
    assert broker_report.schema_enabled


def test_jobs_url_discovered_from_capabilities(broker_report: Report) -> None:
    assert broker_report.jobs_url_source == "UWS accessURL in /capabilities"
    assert broker_report.jobs_url.endswith("/jobs")
