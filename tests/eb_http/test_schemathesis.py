"""A bounded property-based run of schemathesis against ``/openapi.yaml`` of a live
broker (the default local platform only, so no generated request really runs):
no 5xx, and every answer conforms to the document (status, media type, schema)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import (
    content_type_conformance,
    not_a_server_error,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)
from schemathesis.config import SchemathesisConfig

from tests.server import BrokerProcess


@pytest.fixture(scope="module")
def st_broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[BrokerProcess]:
    workdir: Path = tmp_path_factory.mktemp("st-broker")
    process = BrokerProcess(workdir, config="[jobs]\noffer_deadline = 2.0\n").start()
    yield process
    process.stop()


@pytest.fixture(scope="module")
def eb_schema(st_broker: BrokerProcess) -> Any:
    # examples and fuzzing (bounded by max_examples); the unbounded coverage
    # phase is left to manual runs of the schemathesis CLI
    config = SchemathesisConfig.from_dict({"phases": {"coverage": {"enabled": False}}})
    # every operation of the document: ExecutionBroker, UWS, VOSI and the probes
    return schemathesis.openapi.from_url(f"{st_broker.url}/openapi.yaml", config=config)


schema = schemathesis.pytest.from_fixture("eb_schema")


@schema.parametrize()
@settings(
    max_examples=10,
    deadline=None,
    suppress_health_check=list(HealthCheck),
    derandomize=True,
)
def test_the_api_keeps_its_document(case: Any, st_broker: BrokerProcess) -> None:
    # what the document promises: no 5xx, documented statuses, media types,
    # headers and bodies (not schemathesis' guesses about which invalid inputs
    # must be refused with which code: a too-large body is 413, for instance)
    case.call_and_validate(
        base_url=st_broker.url,
        checks=[
            not_a_server_error,
            status_code_conformance,
            content_type_conformance,
            response_headers_conformance,
            response_schema_conformance,
        ],
    )
