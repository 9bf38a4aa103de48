"""The XML the broker emits validates against xml_schemas/execution-broker.xsd (XSD 1.1)."""

from __future__ import annotations

import functools
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from uuid import UUID

import pytest
import xmlschema
from hypothesis import HealthCheck, given, settings

from ivoa_broker.eb import formats, updates
from ivoa_broker.eb.convert import offer_session, offer_set, phase_options, refusal
from ivoa_broker.eb.formats import Format
from ivoa_broker.eb.model import (
    ExecutionRequestDocument,
    OfferSetList,
    SessionList,
    SessionPhase,
)
from ivoa_broker.protocol import Offer, Resources
from tests.eb.samples import SPEC_OFFERSET_YAML, SPEC_REQUEST_JSON
from tests.eb.test_roundtrip_hypothesis import requests

XSD = Path(__file__).resolve().parents[2] / "xml_schemas" / "execution-broker.xsd"
NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
SID = UUID("5ec7aa00-1111-4222-8333-444455556666")


@functools.cache
def compiled() -> Any:
    return xmlschema.XMLSchema11(str(XSD))


@pytest.fixture
def schema() -> Any:
    return compiled()


def xml(model: Any) -> str:
    return formats.dump(model, Format.XML).decode()


def test_spec_request_and_offerset_validate(schema: Any) -> None:
    schema.validate(xml(formats.load_request(SPEC_REQUEST_JSON, "application/json")))
    schema.validate(xml(formats.load_offerset(SPEC_OFFERSET_YAML, None)))


def test_rendered_offers_no_answer_and_updates_validate(schema: Any) -> None:
    doc = formats.load_request(SPEC_REQUEST_JSON, "application/json")
    offer = Offer(
        "local",
        "o1",
        "two cores",
        Resources(cores=2, memory_bytes=2**31, gpus=1, walltime_seconds=5400),
        start=NOW,
        expires_at=NOW + timedelta(minutes=5),
        cost={"energy": 2.5},
        warnings=("rounded",),
    )
    session = offer_session(
        offer,
        doc,
        session_id=SID,
        base_url="https://eb.example.org",
        created=NOW,
        options=phase_options(
            [SessionPhase.ACCEPTED, SessionPhase.REJECTED], extend_max_seconds=3600
        ),
    )
    schema.validate(xml(session))
    schema.validate(
        xml(offer_set([session], offerset_id=SID, base_url="https://x.org", created=NOW))
    )
    no = offer_set(
        [],
        offerset_id=SID,
        base_url="https://x.org",
        created=NOW,
        messages=refusal([("compute.cores.min", "too many")]),
    )
    schema.validate(xml(no))
    for update in (updates.accept(), updates.cancel(), updates.extend(600)):
        schema.validate(xml(update))
    schema.validate(xml(SessionList(sessions=[session], next="https://x.org/sessions?p=2")))
    schema.validate(xml(OfferSetList(offersets=[no])))


@pytest.mark.parametrize(
    ("old", "new"),
    [
        ("kinds/executable/docker-container.yaml", "kinds/executable/podman.yaml"),
        ("<min>1</min>", "<min>0</min>"),
        ("<duration>PT1H</duration>", "<duration>P1M</duration>"),
        ("<mode>READONLY</mode>", "<mode>WRITEONLY</mode>"),
        ("<arg>json</arg>", "<arg>json</arg><colour/>"),
    ],
)
def test_schema_is_not_vacuous(schema: Any, old: str, new: str) -> None:
    text = xml(formats.load_request(SPEC_REQUEST_JSON, "application/json"))
    assert old in text
    assert schema.is_valid(text)
    assert not schema.is_valid(text.replace(old, new, 1))


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(requests())
def test_generated_requests_validate(raw: dict[str, Any]) -> None:
    compiled().validate(xml(ExecutionRequestDocument.model_validate(raw)))
