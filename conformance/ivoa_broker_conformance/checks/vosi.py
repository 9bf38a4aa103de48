"""Checklist items 63-71: VOSI availability and capabilities."""

from __future__ import annotations

import io
from urllib.parse import urljoin

import httpx
from lxml import etree

from ivoa_broker_conformance.model import Level
from ivoa_broker_conformance.probe import CheckRun
from ivoa_broker_conformance.pyvo_support import caught, import_pyvo
from ivoa_broker_conformance.registry import check
from ivoa_broker_conformance.xmlutil import VOSI_AVAIL, VOSI_CAPS, XSI, name_of, q

STD_CAPS = "ivo://ivoa.net/std/VOSI#capabilities"
STD_AVAIL = "ivo://ivoa.net/std/VOSI#availability"
STD_UWS = "ivo://ivoa.net/std/UWS#rest-1.1"


async def _doc(t: CheckRun, path: str) -> tuple[httpx.Response, etree._Element]:
    r = await t.get(t.config.base + path)
    t.expect_status(r, 200)
    t.expect_xml_type(r)
    return r, t.xml(r, path)


def _capabilities(root: etree._Element) -> dict[str, etree._Element]:
    return {
        c.get("standardID") or "": c
        for c in root
        if isinstance(c.tag, str) and etree.QName(c).localname == "capability"
    }


@check(
    "UWS-63",
    "GET /availability: VOSIAvailability document, available is a boolean",
    "VOSI 1.1 §3.3",
    Level.MUST,
)
async def availability(t: CheckRun) -> None:
    _, root = await _doc(t, "/availability")
    t.expect(
        name_of(root) == q(VOSI_AVAIL, "availability"),
        f"root is {name_of(root)}, expected {{{VOSI_AVAIL}}}availability",
    )
    first = next((c for c in root if isinstance(c.tag, str)), None)
    t.expect(
        first is not None and name_of(first) == q(VOSI_AVAIL, "available"),
        "first child is not vosi:available",
    )
    assert first is not None
    t.expect(
        (first.text or "").strip() in ("true", "false", "1", "0"), f"available is {first.text!r}"
    )
    t.expect_valid("availability", root, "availability")


@check("UWS-64", "available=false when a back-end is down", "VOSI 1.1 §3.3", Level.SHOULD)
async def availability_down(t: CheckRun) -> None:
    t.skip("needs a back-end taken down on purpose; not testable from outside")


@check(
    "UWS-65",
    "pyvo parse_availability(...).available is True",
    "uws-vosi.md §2.3 (pyvo.io.vosi)",
    Level.SHOULD,
)
async def pyvo_availability(t: CheckRun) -> None:
    import_pyvo(t)
    from pyvo.io.vosi import parse_availability

    r = await t.get(t.config.base + "/availability")
    t.expect_status(r, 200)
    parsed = caught(t, "parse_availability", lambda: parse_availability(io.BytesIO(r.content)))
    t.expect(parsed.available is True, f"pyvo sees available={parsed.available!r}")


@check(
    "UWS-66",
    "GET /capabilities: VOSICapabilities root, unqualified capability, valid",
    "VOSI 1.1 §3.2",
    Level.MUST,
)
async def capabilities(t: CheckRun) -> None:
    _, root = await _doc(t, "/capabilities")
    t.expect(
        name_of(root) == q(VOSI_CAPS, "capabilities"),
        f"root is {name_of(root)}, expected {{{VOSI_CAPS}}}capabilities",
    )
    children = [c for c in root if isinstance(c.tag, str)]
    t.expect(children, "no capability children")
    for c in children:
        qn = etree.QName(c)
        t.expect(
            qn.localname == "capability" and qn.namespace is None,
            f"child {c.tag} must be an unqualified <capability> (form=unqualified)",
        )
    t.expect_valid("capabilities", root, "capabilities")


@check(
    "UWS-67",
    "Capabilities declare VOSI capabilities, availability and UWS rest-1.1",
    "VOSI 1.1 §3.2; UWS 1.1 §2.2.1.1",
    Level.MUST,
)
async def standard_ids(t: CheckRun) -> None:
    _, root = await _doc(t, "/capabilities")
    caps = _capabilities(root)
    for std in (STD_CAPS, STD_AVAIL, STD_UWS):
        t.expect(std in caps, f"no capability with standardID {std} (have {sorted(caps)})")
        interfaces = caps[std].findall("interface")
        t.expect(interfaces, f"{std} has no interface")
        for i in interfaces:
            t.expect(i.get(q(XSI, "type")), f"{std} interface without xsi:type")
            t.expect(i.findall("accessURL"), f"{std} interface without accessURL")


@check(
    "UWS-68",
    "VOSI accessURLs use=full and answer 200; UWS accessURL use=base is the list",
    "VOSI 1.1 §3.2; UWS 1.1 §2.2.1.1",
    Level.SHOULD,
)
async def access_urls(t: CheckRun) -> None:
    _, root = await _doc(t, "/capabilities")
    caps = _capabilities(root)
    for std in (STD_CAPS, STD_AVAIL):
        if std not in caps:
            t.fail(f"no {std} capability")
        for access in caps[std].iter("accessURL"):
            t.should(access.get("use") == "full", f"{std} accessURL use={access.get('use')!r}")
            r = await t.get(urljoin(t.config.base + "/", (access.text or "").strip()))
            t.expect(r.status_code == 200, f"{std} accessURL answered {r.status_code}")
    t.expect(STD_UWS in caps, f"no {STD_UWS} capability")
    urls = [a for a in caps[STD_UWS].iter("accessURL")]
    t.expect(urls, "UWS capability has no accessURL")
    t.should(
        urls[0].get("use") == "base", f"UWS accessURL use={urls[0].get('use')!r}, expected base"
    )
    got = urljoin(t.config.base + "/", (urls[0].text or "").strip()).rstrip("/")
    r = await t.get(got)
    t.expect(
        r.status_code == 200 and b"jobs" in r.content,
        f"UWS accessURL {got} does not serve the job list ({r.status_code})",
    )


@check(
    "UWS-69",
    "pyvo parses /capabilities without warnings; TAPService(base).capabilities",
    "uws-vosi.md §2.3 (pyvo.io.vosi)",
    Level.SHOULD,
)
async def pyvo_capabilities(t: CheckRun) -> None:
    pyvo = import_pyvo(t)
    from pyvo.io.vosi import parse_capabilities

    r = await t.get(t.config.base + "/capabilities")
    t.expect_status(r, 200)
    parsed = caught(t, "parse_capabilities", lambda: parse_capabilities(io.BytesIO(r.content)))
    ids = {c.standardid for c in parsed}
    t.expect({STD_CAPS, STD_AVAIL, STD_UWS} <= ids, f"pyvo sees standardIDs {sorted(ids)}")
    from ivoa_broker_conformance.pyvo_flow_support import in_thread, pyvo_session

    def remote() -> object:
        service = pyvo.dal.TAPService(t.config.base, session=pyvo_session(t))
        return service.capabilities

    caps = await in_thread(t, "TAPService(base).capabilities", remote)
    t.expect(caps, "TAPService(base).capabilities is empty")


@check(
    "UWS-70",
    "POST/PUT/DELETE on /capabilities and /availability give 405",
    "VOSI 1.1 §3 (GET only)",
    Level.SHOULD,
)
async def vosi_methods(t: CheckRun) -> None:
    for path in ("/capabilities", "/availability"):
        for method in ("POST", "PUT", "DELETE"):
            r = await t.request(method, t.config.base + path)
            t.expect(r.status_code == 405, f"{method} {path} answered {r.status_code}")


@check(
    "UWS-71",
    "GET /capabilities sends Last-Modified; HEAD /capabilities is 200",
    "VOSI 1.1 §3.2 (Last-Modified)",
    Level.SHOULD,
)
async def last_modified(t: CheckRun) -> None:
    r = await t.get(t.config.base + "/capabilities")
    t.expect(r.headers.get("last-modified"), "no Last-Modified header")
    r = await t.request("HEAD", t.config.base + "/capabilities")
    t.expect(r.status_code == 200, f"HEAD /capabilities answered {r.status_code}")
