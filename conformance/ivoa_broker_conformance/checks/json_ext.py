"""Checklist item 81: JSON on explicit request only (project extension)."""

from __future__ import annotations

import json

from ivoa_broker_conformance.jobs import jobs_url, pending_job
from ivoa_broker_conformance.model import Level
from ivoa_broker_conformance.probe import CheckRun
from ivoa_broker_conformance.registry import check
from ivoa_broker_conformance.urls import child as child_url

JSON_ACCEPT = {"Accept": "application/json"}


def _json_type(ctype: str) -> bool:
    return ctype.split(";")[0].strip().lower() == "application/json"


def _values(data: object) -> set[str]:
    """Every scalar of a JSON document, as text."""
    found: set[str] = set()
    if isinstance(data, dict):
        for v in data.values():
            found |= _values(v)
    elif isinstance(data, list):
        for v in data:
            found |= _values(v)
    elif data is not None:
        found.add(str(data))
    return found


@check(
    "JSON-81",
    "Accept: application/json gives JSON with the XML's values; default is XML",
    "project extension; no IVOA JSON binding",
    Level.MAY,
)
async def json_opt_in(t: CheckRun) -> None:
    doc = await pending_job(t)
    r = await t.get(doc.url, headers=JSON_ACCEPT)
    if not _json_type(r.headers.get("content-type", "")):
        t.skip(
            f"JSON not offered (Accept: application/json gave {r.headers.get('content-type', '?')})"
        )
    t.expect_status(r, 200)
    try:
        data = json.loads(r.content)
    except ValueError as exc:
        t.fail(f"job JSON does not parse: {exc}")
    values = _values(data)
    for name in ("jobId", "phase", "creationTime"):
        xml_value = doc.get(name)
        t.expect(xml_value in values, f"{name} {xml_value!r} of the XML is not in the JSON")
    plain = await t.get(doc.url)
    t.expect_xml_type(plain)
    for url in (
        await jobs_url(t),
        child_url(doc.url, "results"),
        child_url(doc.url, "parameters"),
        t.config.vosi("capabilities"),
        t.config.vosi("availability"),
    ):
        r = await t.get(url, headers=JSON_ACCEPT)
        t.expect_status(r, 200)
        if not t.should(
            _json_type(r.headers.get("content-type", "")), f"{url} does not offer JSON"
        ):
            continue
        try:
            json.loads(r.content)
        except ValueError as exc:
            t.fail(f"{url} JSON does not parse: {exc}")
        plain = await t.get(url)
        t.expect_xml_type(plain)
