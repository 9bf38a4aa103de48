from __future__ import annotations

import json
import time

import pytest

from ivoa_broker.eb import formats
from ivoa_broker.eb.convert import to_execution_request
from ivoa_broker.eb.errors import DocumentError
from ivoa_broker.eb.formats import Format
from ivoa_broker.eb.model import Meta, OfferSetList, SessionList
from ivoa_broker.eb.xmlbind import NAMESPACE
from tests.eb.samples import (
    SPEC_OFFERSET_YAML,
    SPEC_REQUEST_JSON,
    SPEC_REQUEST_XML,
    SPEC_REQUEST_YAML,
)

# ----------------------------------------------------------------- negotiation


@pytest.mark.parametrize(
    ("ctype", "fmt"),
    [
        (None, Format.YAML),
        ("", Format.YAML),
        ("application/json", Format.JSON),
        ("application/json; charset=utf-8", Format.JSON),
        ("Application/JSON", Format.JSON),
        ("application/yaml", Format.YAML),
        ("application/x-yaml", Format.YAML),
        ("text/yaml", Format.YAML),
        ("application/xml", Format.XML),
        ("text/xml; charset=UTF-8", Format.XML),
        ("application/vnd.example+json", Format.JSON),
    ],
)
def test_request_format(ctype: str | None, fmt: Format) -> None:
    assert formats.request_format(ctype) is fmt


@pytest.mark.parametrize("ctype", ["text/plain", "application/x-www-form-urlencoded", "*/*"])
def test_unreadable_media_type_is_415(ctype: str) -> None:
    with pytest.raises(DocumentError) as info:
        formats.request_format(ctype)
    assert info.value.status == 415


@pytest.mark.parametrize(
    ("accept", "fmt"),
    [
        (None, Format.YAML),
        ("", Format.YAML),
        ("*/*", Format.YAML),
        ("application/json", Format.JSON),
        ("application/json, application/yaml", Format.YAML),  # both given: YAML
        ("application/json, application/xml", Format.JSON),
        ("application/yaml;q=0.5, application/json", Format.JSON),
        ("application/xml, */*;q=0.1", Format.XML),
        ("text/*", Format.YAML),
        ("text/html, text/xml;q=0.9", Format.XML),
        ("application/*;q=0.2, application/json;q=0", Format.YAML),
        ("*/*;q=0.1, text/*;q=0.5", Format.YAML),
        ("text/*;q=0.5, */*;q=0.9", Format.JSON),
        ("application/json;q=0, */*", Format.YAML),
        ("application/xml;q=0.9, application/yaml;q=0.1, */*;q=0.5", Format.XML),
    ],
)
def test_response_format(accept: str | None, fmt: Format) -> None:
    assert formats.response_format(accept) is fmt


@pytest.mark.parametrize(
    "accept",
    [
        "text/html",
        "image/png, text/csv",
        "application/json;q=0",
        "*/*;q=0",
        "text/*;q=0, text/html",
    ],
)
def test_unacceptable_is_406(accept: str) -> None:
    with pytest.raises(DocumentError) as info:
        formats.response_format(accept)
    assert info.value.status == 406


# --------------------------------------------------------------- three formats


def test_same_request_from_json_yaml_and_xml_is_identical() -> None:
    from_json = formats.load_request(SPEC_REQUEST_JSON, "application/json")
    from_yaml = formats.load_request(SPEC_REQUEST_YAML, "application/yaml")
    from_xml = formats.load_request(SPEC_REQUEST_XML, "application/xml")
    assert from_json == from_yaml == from_xml
    a, b, c = (
        to_execution_request(doc, job_id="j", owner="o") for doc in (from_json, from_yaml, from_xml)
    )
    assert a == b == c


@pytest.mark.parametrize("fmt", list(Format))
def test_request_round_trip(fmt: Format) -> None:
    doc = formats.load_request(SPEC_REQUEST_JSON, "application/json")
    body = formats.dump(doc, fmt)
    assert formats.load_request(body, formats.CONTENT_TYPES[fmt]) == doc


def test_emitted_documents_use_canonical_kinds_only() -> None:
    doc = formats.load_request(SPEC_REQUEST_YAML, None)
    for fmt in Format:
        text = formats.dump(doc, fmt).decode()
        assert "uri:docker" not in text
        assert "/computer/" not in text
        assert "/EB/schema/" not in text
        assert "Calycopis-openapi/schema/v1.0/kinds/executable/docker-container.yaml" in text


def test_spec_offerset_example_parses_and_round_trips() -> None:
    oset = formats.load_offerset(SPEC_OFFERSET_YAML, "application/yaml")
    assert oset.result.value == "YES"
    offer = oset.offers[0]
    assert offer.phase.value == "OFFERED"
    assert offer.compute is not None
    assert offer.compute.cores is not None
    assert offer.compute.cores.min == 10
    for fmt in Format:
        assert formats.load_offerset(formats.dump(oset, fmt), formats.CONTENT_TYPES[fmt]) == oset


def test_lists_round_trip() -> None:
    oset = formats.load_offerset(SPEC_OFFERSET_YAML, None)
    sessions = SessionList(sessions=list(oset.offers), next="https://eb.example.org/sessions?p=2")
    sets = OfferSetList(offersets=[oset, oset])
    for fmt in Format:
        ctype = formats.CONTENT_TYPES[fmt]
        assert formats.load(formats.dump(sessions, fmt), ctype, formats.SESSIONS) == sessions
        assert formats.load(formats.dump(sets, fmt), ctype, formats.OFFERSETS) == sets


def test_dump_refuses_non_documents() -> None:
    with pytest.raises(TypeError):
        formats.dump(Meta(), Format.XML)


def test_render_negotiates() -> None:
    doc = formats.load_request(SPEC_REQUEST_JSON, "application/json")
    body, ctype = formats.render(doc, None)
    assert ctype == "application/yaml"
    assert body.startswith(b"executable:")
    body, ctype = formats.render(doc, "application/xml")
    assert ctype == "application/xml"
    assert NAMESPACE.encode() in body
    body, ctype = formats.render(doc, "application/json")
    assert json.loads(body)["executable"]["meta"]["name"] == "checksum"


def test_same_error_path_in_every_format() -> None:
    bad_json = SPEC_REQUEST_JSON.replace(b'"min": 1, "max": 2', b'"min": 0, "max": 2')
    bad_yaml = SPEC_REQUEST_YAML.replace(b"cores: {min: 1", b"cores: {min: 0")
    bad_xml = SPEC_REQUEST_XML.replace(b"<cores><min>1</min>", b"<cores><min>0</min>")
    for body, ctype in (
        (bad_json, "application/json"),
        (bad_yaml, None),
        (bad_xml, "application/xml"),
    ):
        with pytest.raises(DocumentError) as info:
            formats.load_request(body, ctype)
        assert (info.value.status, info.value.path) == (400, "compute.cores.min"), ctype


# ------------------------------------------------------------------- XML rules


def test_xml_in_the_project_namespace_and_type_attribute_accepted() -> None:
    body = SPEC_REQUEST_XML.replace(
        b"<offers-request>", f'<offers-request xmlns="{NAMESPACE}">'.encode()
    )
    assert formats.load_request(body, "text/xml") == formats.load_request(
        SPEC_REQUEST_XML, "text/xml"
    )


@pytest.mark.parametrize(
    ("body", "detail"),
    [
        (b'<offers-request xmlns="urn:other"/>', "namespace"),
        (b"<execution><phase>OFFERED</phase></execution>", "expected an <offers-request>"),
        (
            b"<offers-request><executable kind='uri:docker-container-1.0'>x<image/></executable>"
            b"</offers-request>",
            "text",
        ),
        (b"<offers-request><name>a</name><name>b</name></offers-request>", "more than once"),
        (
            b"<offers-request><executable kind='uri:docker-container-1.0'><environment>"
            b"<var>x</var></environment></executable></offers-request>",
            "entry",
        ),
        (b"<offers-request><unclosed></offers-request>", "well-formed"),
    ],
)
def test_malformed_xml(body: bytes, detail: str) -> None:
    with pytest.raises(DocumentError) as info:
        formats.load_request(body, "application/xml")
    assert info.value.status == 400
    assert detail in info.value.detail


def test_unknown_xml_element_is_reported_with_its_path() -> None:
    body = SPEC_REQUEST_XML.replace(b"<privileged", b"<x").replace(
        b"<meta><name>checksum</name></meta>",
        b"<meta><name>checksum</name><colour>red</colour></meta>",
    )
    with pytest.raises(DocumentError) as info:
        formats.load_request(body, "application/xml")
    assert info.value.path == "executable.meta.colour"


# ------------------------------------------------------------------ safety

BILLION_LAUGHS = b"""<?xml version="1.0"?>
<!DOCTYPE lolz [
 <!ENTITY lol "lol">
 <!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
 <!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
 <!ENTITY lol4 "&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;">
 <!ENTITY lol5 "&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;">
 <!ENTITY lol6 "&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;">
 <!ENTITY lol7 "&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;">
 <!ENTITY lol8 "&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;">
 <!ENTITY lol9 "&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;">
]>
<offers-request><name>&lol9;</name></offers-request>
"""


def test_entity_expansion_is_refused_quickly() -> None:
    started = time.monotonic()
    with pytest.raises(DocumentError) as info:
        formats.load_request(BILLION_LAUGHS, "application/xml")
    assert time.monotonic() - started < 1.0
    assert info.value.status == 400
    assert "DOCTYPE" in info.value.detail


@pytest.mark.parametrize(
    "body",
    [
        b'<?xml version="1.0"?><!DOCTYPE r [<!ENTITY x SYSTEM "file:///etc/passwd">]>'
        b"<offers-request><name>&x;</name></offers-request>",
        b'<?xml version="1.0"?><!DOCTYPE r SYSTEM "http://127.0.0.1:9/evil.dtd"><offers-request/>',
        b'<?xml version="1.0"?><!DOCTYPE offers-request><offers-request/>',
    ],
)
def test_doctype_and_external_entities_are_refused(body: bytes) -> None:
    with pytest.raises(DocumentError) as info:
        formats.load_request(body, "application/xml")
    assert info.value.status == 400
    assert "DOCTYPE" in info.value.detail
    assert "root:" not in str(info.value)


def test_utf16_doctype_is_refused_too() -> None:
    body = BILLION_LAUGHS.replace(b'<?xml version="1.0"?>', b"").decode().encode("utf-16")
    with pytest.raises(DocumentError) as info:
        formats.load_request(body, "application/xml")
    assert "DOCTYPE" in info.value.detail


def test_utf16_document_without_doctype_is_read() -> None:
    body = SPEC_REQUEST_XML.replace(b'<?xml version="1.0" encoding="UTF-8"?>', b"")
    doc = formats.load_request(body.decode().encode("utf-16"), "application/xml")
    assert doc == formats.load_request(SPEC_REQUEST_XML, "application/xml")


def test_xinclude_is_not_processed() -> None:
    body = (
        b'<offers-request xmlns:xi="http://www.w3.org/2001/XInclude">'
        b'<name><xi:include href="file:///etc/hostname" parse="text"/></name></offers-request>'
    )
    with pytest.raises(DocumentError) as info:
        formats.load_request(body, "application/xml")
    assert "namespace" in info.value.detail


def test_size_and_depth_limits() -> None:
    with pytest.raises(DocumentError) as info:
        formats.load_request(b" " * (formats.MAX_BYTES + 1), "application/json")
    assert info.value.status == 413
    deep_json = b'{"a":' * 40 + b"1" + b"}" * 40
    deep_yaml = b"a:\n" + b"".join(b"  " * i + b"a:\n" for i in range(1, 40)) + b"  " * 40 + b"1\n"
    deep_xml = b"<offers-request>" + b"<a>" * 40 + b"</a>" * 40 + b"</offers-request>"
    for body, ctype in (
        (deep_json, "application/json"),
        (deep_yaml, "application/yaml"),
        (deep_xml, "application/xml"),
    ):
        with pytest.raises(DocumentError) as info:
            formats.load_request(body, ctype)
        assert "nested deeper" in info.value.detail, ctype
    wide = json.dumps({"name": "x", "executable": {"values": list(range(30_000))}}).encode()
    with pytest.raises(DocumentError) as info:
        formats.load_request(wide, "application/json")
    assert "more than" in info.value.detail


@pytest.mark.parametrize(
    ("body", "detail"),
    [
        (b"a: &x [1, 2]\nb: *x\n", "aliases"),
        (b"name: a\nname: b\n", "duplicate key"),
        (b"!!python/object/apply:os.system ['true']\n", "not valid YAML"),
        (b"- just\n- a list\n", "must be a mapping"),
        (b"a: 1\n---\nb: 2\n", "not valid YAML"),
        (b"? [1, 2]\n: x\n", "not a string"),
    ],
)
def test_yaml_safety(body: bytes, detail: str) -> None:
    with pytest.raises(DocumentError) as info:
        formats.load_request(body, "application/yaml")
    assert info.value.status == 400
    assert detail in info.value.detail


def test_yaml_one_one_booleans_stay_strings() -> None:
    body = SPEC_REQUEST_YAML.replace(b"INPUT: /input", b"INPUT: /input\n    VERBOSE: yes")
    doc = formats.load_request(body, None)
    assert doc.executable.environment["VERBOSE"] == "yes"  # type: ignore[union-attr]


@pytest.mark.parametrize(
    ("body", "detail"),
    [
        (b'{"name": "a", "name": "b"}', "duplicate key"),
        (b'{"executable": {"x": NaN}}', "NaN"),
        (b"[1, 2]", "must be a mapping"),
        (b"{bad json", "not valid JSON"),
    ],
)
def test_json_safety(body: bytes, detail: str) -> None:
    with pytest.raises(DocumentError) as info:
        formats.load_request(body, "application/json")
    assert info.value.status == 400
    assert detail in info.value.detail


def test_problem_json_of_a_format_error() -> None:
    with pytest.raises(DocumentError) as info:
        formats.load_request(b"{bad", "application/json")
    body = info.value.to_problem()
    assert body["status"] == 400
    assert body["title"] == "Malformed document"
    assert "path" not in body


# ------------------------------------------------- YAML scalars YAML cannot construct


@pytest.mark.parametrize(
    ("text", "path"),
    [
        ("name: 2001-02-30\n", "name"),
        ("meta:\n  created: 2001-13-01T00:00:00Z\n", "meta.created"),
        ("a:\n  - 1\n  - " + "9" * 5000 + "\n", "a[1]"),
        ("name: " + "9" * 401 + "\n", "name"),
    ],
)
def test_yaml_scalars_that_cannot_be_built_name_their_field(text: str, path: str) -> None:
    from ivoa_broker.eb.errors import DocumentError
    from ivoa_broker.eb.formats import Format, parse_data

    with pytest.raises(DocumentError) as caught:
        parse_data(text.encode(), Format.YAML)
    assert caught.value.status == 400
    assert caught.value.path == path


def test_yaml_good_dates_and_numbers_still_load() -> None:
    from ivoa_broker.eb.formats import Format, parse_data

    data = parse_data(b"a: 2001-02-28\nb: " + b"9" * 400 + b"\nc: [1, 2]\n", Format.YAML)
    assert data["b"] == int("9" * 400) and data["c"] == [1, 2]
    assert str(data["a"]) == "2001-02-28"
