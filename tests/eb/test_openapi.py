"""The packaged OpenAPI document: valid, current, and describing what the broker emits."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from jsonschema import Draft202012Validator, FormatChecker
from openapi_spec_validator import validate as validate_spec
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

from ivoa_broker.eb import formats, updates
from ivoa_broker.eb.convert import offer_session, offer_set, phase_options, refusal
from ivoa_broker.eb.errors import DocumentError
from ivoa_broker.eb.kinds import ALIASES
from ivoa_broker.eb.model import ExecutionRequestDocument, SessionList, SessionPhase
from ivoa_broker.eb.openapi import build_openapi, dump_openapi, load_openapi
from ivoa_broker.protocol import Offer, Resources
from tests.eb.samples import (
    ACCEPT_JSON,
    CANCEL_LEGACY_JSON,
    REJECT_YAML,
    SPEC_OFFERSET_YAML,
    SPEC_REQUEST_JSON,
)
from tests.eb.test_roundtrip_hypothesis import requests

DOC_URI = "urn:ivoa-broker:eb:openapi"
NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
SID = UUID("5ec7aa00-1111-4222-8333-444455556666")


def validator(name: str) -> Draft202012Validator:
    resource = Resource.from_contents(load_openapi(), default_specification=DRAFT202012)
    registry: Registry[Any] = Registry().with_resource(DOC_URI, resource)
    return Draft202012Validator(
        {"$ref": f"{DOC_URI}#/components/schemas/{name}"},
        registry=registry,
        format_checker=FormatChecker(),
    )


def check(name: str, data: Any) -> None:
    errors = sorted(validator(name).iter_errors(data), key=lambda e: list(e.path))
    assert not errors, [(list(e.path), e.message[:200]) for e in errors[:5]]


def test_packaged_document_is_current_and_valid_openapi_31() -> None:
    assert load_openapi() == yaml.safe_load(dump_openapi()) == build_openapi(), (
        "regenerate: python -m ivoa_broker.eb.openapi > ivoa_broker/eb/openapi.yaml"
    )
    validate_spec(load_openapi())
    assert load_openapi()["openapi"] == "3.1.0"


@pytest.mark.parametrize(
    ("path", "method", "codes"),
    [
        ("/requests", "post", {"303", "200", "400", "413", "415", "422", "406"}),
        ("/offersets/{uuid}", "get", {"200", "404"}),
        ("/offersets", "get", {"200", "400"}),
        ("/sessions/{uuid}", "get", {"200", "404"}),
        ("/sessions/{uuid}", "post", {"200", "400", "403", "404", "409", "410", "422"}),
        ("/sessions", "get", {"200", "400"}),
        ("/direct", "post", {"303", "200", "400", "422"}),
    ],
)
def test_endpoints_and_status_codes(path: str, method: str, codes: set[str]) -> None:
    op = load_openapi()["paths"][path][method]
    assert codes <= set(op["responses"])
    for code, response in op["responses"].items():
        content = response.get("content", {})
        if code.startswith(("4", "5")):
            assert set(content) == {"application/problem+json"}
        else:
            assert set(content) == {"application/json", "application/yaml", "application/xml"}
    if "303" in op["responses"]:
        assert op["responses"]["303"]["headers"]["Location"]["required"] is True


def test_list_filters() -> None:
    for path in ("/sessions", "/offersets"):
        names = {p["name"] for p in load_openapi()["paths"][path]["get"]["parameters"]}
        assert names == {"phase", "after", "before", "last"}


def test_every_alias_is_published() -> None:
    published = {a for aliases in load_openapi()["x-kind-aliases"].values() for a in aliases}
    published |= {k.casefold() for k in load_openapi()["x-kind-aliases"]}
    assert published == set(ALIASES)


def test_spec_example_flow_documents_validate_as_sent() -> None:
    """The EB draft's walk-through: the request, the accept and the cancel, as sent."""
    check("ExecutionRequest", json.loads(SPEC_REQUEST_JSON))
    check("Update", json.loads(ACCEPT_JSON))
    check("Update", yaml.safe_load(REJECT_YAML))
    # the legacy wrapper is accepted by the broker but is not the documented form
    assert list(validator("Update").iter_errors(json.loads(CANCEL_LEGACY_JSON)))


def test_schema_is_not_vacuous() -> None:
    doc = json.loads(SPEC_REQUEST_JSON)
    doc["compute"]["cores"]["min"] = 0
    assert list(validator("ExecutionRequest").iter_errors(doc))
    doc = json.loads(SPEC_REQUEST_JSON)
    doc["executable"]["colour"] = "red"
    assert list(validator("ExecutionRequest").iter_errors(doc))
    assert list(validator("ExecutionSession").iter_errors({"phase": "SLEEPING"}))


def json_of(model: Any) -> Any:
    return json.loads(formats.dump(model, formats.Format.JSON))


def test_emitted_json_validates() -> None:
    doc = formats.load_request(SPEC_REQUEST_JSON, "application/json")
    check("ExecutionRequest", json_of(doc))
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
        options=phase_options([SessionPhase.ACCEPTED], extend_max_seconds=60),
    )
    check("ExecutionSession", json_of(session))
    yes = offer_set([session], offerset_id=SID, base_url="https://eb.example.org", created=NOW)
    check("OfferSetResponse", json_of(yes))
    no = offer_set(
        [],
        offerset_id=SID,
        base_url="https://x.org",
        created=NOW,
        messages=refusal([("compute", "no")]),
    )
    check("OfferSetResponse", json_of(no))
    check("SessionList", json_of(SessionList(sessions=[session], next="https://x.org/s?p=2")))
    check("OfferSetResponse", json_of(formats.load_offerset(SPEC_OFFERSET_YAML, None)))
    for update in (updates.accept(), updates.reject(), updates.cancel(), updates.extend(60)):
        check("Update", json_of(update))


def test_problem_bodies_validate() -> None:
    with pytest.raises(DocumentError) as info:
        formats.load_request(
            SPEC_REQUEST_JSON.replace(b'"min": 1', b'"min": 0'), "application/json"
        )
    check("Problem", info.value.to_problem())


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(requests())
def test_generated_requests_validate(raw: dict[str, Any]) -> None:
    check("ExecutionRequest", json_of(ExecutionRequestDocument.model_validate(raw)))
