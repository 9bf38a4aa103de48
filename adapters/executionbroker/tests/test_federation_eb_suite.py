"""The conformance suite's ExecutionBroker checks (``ivoa-broker-conformance``)
against the front broker, whose only platforms are remote brokers."""

from __future__ import annotations

import asyncio
import json

import pytest
from federation_support import FRONT_TOKENS, IMAGE, Federation
from ivoa_broker_conformance.config import Config
from ivoa_broker_conformance.model import Outcome
from ivoa_broker_conformance.runner import Report, run_suite

pytestmark = pytest.mark.slow

REQUEST = {
    "executable": {
        "kind": "https://www.purl.org/ivoa.net/Calycopis-openapi/schema/v1.0/kinds/executable/docker-container.yaml",
        "meta": {"name": "conformance-echo"},
        "image": {"locations": [IMAGE]},
        "command": ["echo", "hello"],
    },
    "compute": {
        "kind": "https://www.purl.org/ivoa.net/Calycopis-openapi/schema/v1.0/kinds/compute/simple-compute-resource.yaml",
        "cores": {"min": 1, "max": 1},
    },
    "schedule": {"requested": {"duration": "PT10M"}},
}


@pytest.fixture(scope="module")
def eb_report(federation: Federation) -> Report:
    config = Config(
        base_url=federation.front.url,
        token=FRONT_TOKENS["alice"],
        other_token=FRONT_TOKENS["bob"],
        eb_request=json.dumps(REQUEST).encode(),
        only=frozenset(f"EB-{i:02d}" for i in range(1, 40)),
        job_timeout=30.0,
    )
    return asyncio.run(run_suite(config))


def test_every_execution_broker_check_passes(eb_report: Report) -> None:
    ran = {r.id: r for r in eb_report.results}
    assert len(ran) >= 16
    failed = {i: r.message for i, r in ran.items() if r.outcome is Outcome.FAIL}
    skipped = {i: r.message for i, r in ran.items() if r.outcome is Outcome.SKIP}
    assert failed == {}
    assert skipped == {}
