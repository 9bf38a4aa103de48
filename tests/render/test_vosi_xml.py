from __future__ import annotations

import io
import re
import warnings
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest
import pyvo.io.vosi
import xmlschema

from ivoa_broker.render import (
    CapabilitySpec,
    availability_xml,
    capabilities_xml,
    format_instant,
    standard_capabilities,
)

from . import xmlread
from .samples import JOBS_URL, NASTY, T0
from .xmlread import AVAIL, INSTANT_RE, XSI

BASE_URL = "https://broker.example.org/svc"
CAPS_NS = "{http://www.ivoa.net/xml/VOSICapabilities/v1.0}"


def _strict_parse(parser: Any, doc: bytes) -> Any:
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        return parser(io.BytesIO(doc))


# -------------------------------------------------------------- availability

AVAILABILITY_CASES = [
    pytest.param(True, [], None, id="up-bare"),
    pytest.param(True, ["service is accepting jobs"], T0, id="up-since"),
    pytest.param(False, ["database unreachable", NASTY], None, id="down-notes"),
]


@pytest.mark.parametrize(("available", "notes", "up_since"), AVAILABILITY_CASES)
def test_availability_validates_and_pyvo_reads_it(
    available: bool,
    notes: list[str],
    up_since: datetime | None,
    availability_schema: xmlschema.XMLSchema,
) -> None:
    doc = availability_xml(available, notes, up_since)
    root = xmlread.parse(doc)
    availability_schema.validate(root)
    assert root.tag == f"{AVAIL}availability"
    expected = ["available"] + ["upSince"] * (up_since is not None) + ["note"] * len(notes)
    assert [c.tag.removeprefix(AVAIL) for c in root] == expected

    parsed = _strict_parse(pyvo.io.vosi.parse_availability, doc)
    assert parsed.available is available
    assert parsed.notes == notes
    if up_since is None:
        assert parsed.upsince is None
    else:
        assert parsed.upsince == format_instant(up_since)
        assert re.match(INSTANT_RE, parsed.upsince)


def test_availability_up_since_is_converted_to_utc() -> None:
    up = datetime(2026, 11, 24, 16, 0, tzinfo=timezone(timedelta(hours=2)))
    root = xmlread.parse(availability_xml(True, [], up))
    assert root.find(f"{AVAIL}upSince").text == "2026-11-24T14:00:00.000Z"


def test_availability_schema_can_fail(availability_schema: xmlschema.XMLSchema) -> None:
    root = xmlread.parse(availability_xml(True, ["n"], T0))
    root.insert(0, root[2])  # note before available
    assert not availability_schema.is_valid(root)


# -------------------------------------------------------------- capabilities


def test_standard_capabilities() -> None:
    specs = standard_capabilities(BASE_URL + "/", JOBS_URL)
    assert [(s.standard_id, s.access_url, s.use, s.role, s.interface_type) for s in specs] == [
        (
            "ivo://ivoa.net/std/VOSI#capabilities",
            f"{BASE_URL}/capabilities",
            "full",
            None,
            "vs:ParamHTTP",
        ),
        (
            "ivo://ivoa.net/std/VOSI#availability",
            f"{BASE_URL}/availability",
            "full",
            None,
            "vs:ParamHTTP",
        ),
        ("ivo://ivoa.net/std/UWS#rest-1.1", JOBS_URL, "base", "std", "vs:ParamHTTP"),
        *(
            (
                f"ivo://ivoa.net/std/ExecutionBroker#{name}-1.0",
                f"{BASE_URL}{path}",
                use,
                None,
                "vs:ParamHTTP",
            )
            for name, path, use in (
                ("requests", "/requests", "full"),
                ("offersets", "/offersets", "base"),
                ("sessions", "/sessions", "base"),
                ("direct", "/direct", "full"),
                ("openapi", "/openapi.yaml", "full"),
            )
        ),
    ]


SPEC_LISTS = [
    pytest.param(standard_capabilities(BASE_URL, JOBS_URL), id="standard"),
    pytest.param(
        [
            *standard_capabilities(BASE_URL, JOBS_URL),
            CapabilitySpec(
                "ivo://ivoa.net/std/ExecutionBroker",
                f"{BASE_URL}/eb?a=1&b=2",
                use="base",
                description=f"Execution broker {NASTY}",
                interface_type="vr:WebService",
            ),
            CapabilitySpec(
                "ivo://example.org/ui", f"{BASE_URL}/ui", interface_type="vr:WebBrowser"
            ),
        ],
        id="extended",
    ),
    pytest.param([], id="empty"),
]


@pytest.mark.parametrize("specs", SPEC_LISTS)
def test_capabilities_validate(
    specs: list[CapabilitySpec], capabilities_schema: xmlschema.XMLSchema
) -> None:
    root = xmlread.parse(capabilities_xml(specs))
    assert list(capabilities_schema.iter_errors(root)) == []
    assert root.tag == f"{CAPS_NS}capabilities"
    # unqualified children, no default namespace in scope
    assert [c.tag for c in root] == ["capability"] * len(specs)
    assert None not in root.nsmap
    for interface in root.iter("interface"):
        assert interface.get(f"{XSI}type") in {"vs:ParamHTTP", "vr:WebService", "vr:WebBrowser"}


def test_capabilities_schema_rejects_qualified_capability(
    capabilities_schema: xmlschema.XMLSchema,
) -> None:
    doc = capabilities_xml(standard_capabilities(BASE_URL, JOBS_URL))
    qualified = doc.replace(b"<capability ", b"<vosi:capability ").replace(
        b"</capability>", b"</vosi:capability>"
    )
    assert list(capabilities_schema.iter_errors(xmlread.parse(qualified)))


def test_description_precedes_interface() -> None:
    spec = CapabilitySpec("ivo://x/y", "https://h/y", description="d")
    (capability,) = xmlread.parse(capabilities_xml([spec]))
    assert [c.tag for c in capability] == ["description", "interface"]


@pytest.mark.parametrize("specs", SPEC_LISTS)
def test_pyvo_parses_capabilities(specs: list[CapabilitySpec]) -> None:
    parsed = _strict_parse(pyvo.io.vosi.parse_capabilities, capabilities_xml(specs))
    got = []
    for capability in parsed:
        (interface,) = capability.interfaces
        (access_url,) = interface.accessurls
        got.append(
            (
                capability.standardid,
                access_url.content,
                access_url.use,
                interface.role,
                type(interface).__name__,
                capability.description,
            )
        )
    assert got == [
        (
            s.standard_id,
            s.access_url,
            s.use,
            s.role,
            s.interface_type.split(":")[1],
            s.description,
        )
        for s in specs
    ]


@pytest.mark.parametrize("bad", ["ParamHTTP", "tr:TableAccess", "vs:", ""])
def test_capability_spec_refuses_undeclared_type_prefix(bad: str) -> None:
    with pytest.raises(ValueError, match="interface_type"):
        CapabilitySpec("ivo://x", "https://h", interface_type=bad)
