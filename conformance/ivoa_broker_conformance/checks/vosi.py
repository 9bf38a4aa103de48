"""Checklist items 63-71: VOSI availability and capabilities."""

from __future__ import annotations

import io

import httpx
from lxml import etree

from ivoa_broker_conformance.model import Level
from ivoa_broker_conformance.prereqs import require
from ivoa_broker_conformance.probe import CheckRun
from ivoa_broker_conformance.pyvo_support import caught, import_pyvo
from ivoa_broker_conformance.registry import check
from ivoa_broker_conformance.urls import as_directory, resolve
from ivoa_broker_conformance.urls import child as child_url
from ivoa_broker_conformance.xmlutil import VOSI_AVAIL, VOSI_CAPS, XSI, name_of, q

STD_CAPS = "ivo://ivoa.net/std/VOSI#capabilities"
STD_AVAIL = "ivo://ivoa.net/std/VOSI#availability"
STD_UWS = "ivo://ivoa.net/std/UWS#rest-1.1"
STD_TAP = "ivo://ivoa.net/std/TAP"


async def _doc(t: CheckRun, path: str) -> tuple[httpx.Response, etree._Element]:
    await require(t, path.strip("/"))
    r = await t.get(t.config.vosi(path.lstrip("/")))
    t.expect_status(r, 200)
    t.expect_xml_type(r)
    return r, t.xml(r, path)


def _job_capability(t: CheckRun, caps: dict[str, etree._Element]) -> tuple[str, etree._Element]:
    """The capability declaring the job interface: UWS rest-1.1, or, for UWS inside TAP, the
    TAP capability (whose accessURL + /async is the job list; TAP 1.1 §2)."""
    if STD_UWS in caps:
        return STD_UWS, caps[STD_UWS]
    tap = sorted(std for std in caps if std.startswith(STD_TAP))
    if tap:
        t.note(f"no {STD_UWS} capability; the jobs are declared by the TAP capability {tap[0]}")
        return tap[0], caps[tap[0]]
    t.fail(f"no capability with standardID {STD_UWS} or {STD_TAP} (have {sorted(caps)})")


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
    "pyvo.io.vosi",
    Level.SHOULD,
)
async def pyvo_availability(t: CheckRun) -> None:
    import_pyvo(t)
    from pyvo.io.vosi import parse_availability

    await require(t, "availability")
    r = await t.get(t.config.vosi("availability"))
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
        t.expect_at(
            qn.localname == "capability" and qn.namespace is None,
            c,
            f"child {c.tag} must be an unqualified <capability> (form=unqualified)",
        )
    t.expect_valid("capabilities", root, "capabilities")


@check(
    "UWS-67",
    "Capabilities declare VOSI capabilities, availability and UWS rest-1.1 (or TAP)",
    "VOSI 1.1 §3.2; UWS 1.1 §2.2.1.1; TAP 1.1 §2 (UWS inside TAP)",
    Level.MUST,
)
async def standard_ids(t: CheckRun) -> None:
    _, root = await _doc(t, "/capabilities")
    caps = _capabilities(root)
    for std in (STD_CAPS, STD_AVAIL):
        t.expect(std in caps, f"no capability with standardID {std} (have {sorted(caps)})")
    jobs_std, _ = _job_capability(t, caps)
    for std in (STD_CAPS, STD_AVAIL, jobs_std):
        interfaces = caps[std].findall("interface")
        t.expect_at(interfaces, caps[std], f"{std} has no interface")
        for i in interfaces:
            t.expect_at(i.get(q(XSI, "type")), i, f"{std} interface without xsi:type")
            t.expect_at(i.findall("accessURL"), i, f"{std} interface without accessURL")


@check(
    "UWS-68",
    "VOSI accessURLs use=full and answer 200; UWS (or TAP + /async) accessURL is the list",
    "VOSI 1.1 §3.2; UWS 1.1 §2.2.1.1; TAP 1.1 §2",
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
            r = await t.get(resolve(as_directory(t.config.base_url), (access.text or "").strip()))
            t.expect(r.status_code == 200, f"{std} accessURL answered {r.status_code}")
    jobs_std, cap = _job_capability(t, caps)
    found = [a for a in cap.iter("accessURL")]
    t.expect(found, f"{jobs_std} capability has no accessURL")
    t.should(
        found[0].get("use") == "base",
        f"{jobs_std} accessURL use={found[0].get('use')!r}, expected base",
    )
    got = resolve(as_directory(t.config.base_url), (found[0].text or "").strip())
    if jobs_std != STD_UWS:
        got = child_url(got, "async")
    r = await t.get(got, headers={"Accept": "application/xml, */*"})
    if r.status_code in (301, 302, 307, 308) and r.headers.get("location"):
        t.note(f"{got} redirects to {r.headers['location']}")
        r = await t.get(resolve(got, r.headers["location"]))
    t.expect(
        r.status_code == 200 and b"jobs" in r.content,
        f"{'UWS accessURL' if jobs_std == STD_UWS else 'TAP accessURL + /async'} {got} "
        f"does not serve the job list ({r.status_code})",
    )


@check(
    "UWS-69",
    "pyvo parses /capabilities without warnings; TAPService(base).capabilities",
    "pyvo.io.vosi",
    Level.SHOULD,
)
async def pyvo_capabilities(t: CheckRun) -> None:
    pyvo = import_pyvo(t)
    from pyvo.io.vosi import parse_capabilities

    await require(t, "capabilities")
    r = await t.get(t.config.vosi("capabilities"))
    t.expect_status(r, 200)
    parsed = caught(t, "parse_capabilities", lambda: parse_capabilities(io.BytesIO(r.content)))
    ids = {c.standardid for c in parsed}
    t.expect({STD_CAPS, STD_AVAIL} <= ids, f"pyvo sees standardIDs {sorted(ids)}")
    t.expect(
        STD_UWS in ids or any(str(i).startswith(STD_TAP) for i in ids),
        f"pyvo sees neither {STD_UWS} nor a TAP capability in {sorted(ids)}",
    )
    from ivoa_broker_conformance.pyvo_flow_support import in_thread, pyvo_session

    def remote() -> object:
        service = pyvo.dal.TAPService(t.config.base, session=pyvo_session(t))
        return service.capabilities

    caps = await in_thread(t, "TAPService(base).capabilities", remote)
    t.expect(caps, "TAPService(base).capabilities is empty")


@check(
    "UWS-70",
    "POST/PUT/DELETE on /capabilities and /availability change nothing (405 noted)",
    "VOSI 1.1 §2 (resources are read with HTTP GET; other methods are not ruled on)",
    Level.SHOULD,
)
async def vosi_methods(t: CheckRun) -> None:
    """VOSI names GET and says nothing of other methods: 405 is the HTTP answer (RFC 9110
    §15.5.6), but a 200 carrying the same document (DALI services treat POST like GET) is
    not a fault. What fails is a 5xx, or a document that changed or went away."""
    await require(t, "capabilities")
    await require(t, "availability")
    answers: list[str] = []
    for path in ("capabilities", "availability"):
        url = t.config.vosi(path)
        before = await t.get(url)
        for method in ("POST", "PUT", "DELETE"):
            r = await t.request(method, url)
            answers.append(f"{method} /{path}: {r.status_code}")
            t.expect(r.status_code < 500, f"{method} /{path} answered {r.status_code}")
            if 200 <= r.status_code < 300 and r.content:
                t.expect(
                    _same_document(r.content, before.content, path),
                    f"{method} /{path} answered {r.status_code} with another document",
                )
        after = await t.get(url)
        t.expect(after.status_code == 200, f"/{path} answers {after.status_code} after them")
        t.expect(
            _same_document(after.content, before.content, path),
            f"/{path} changed after POST/PUT/DELETE",
        )
    t.note("; ".join(answers) + " (405 is what HTTP suggests; VOSI does not require it)")


def _same_document(a: bytes, b: bytes, path: str) -> bool:
    """Same root element and, for capabilities, the same standardIDs (availability notes and
    timestamps may change between two GETs)."""
    try:
        ra, rb = etree.fromstring(a), etree.fromstring(b)
    except etree.XMLSyntaxError:
        return a == b
    if ra.tag != rb.tag:
        return False
    if path == "capabilities":
        return sorted(_capabilities(ra)) == sorted(_capabilities(rb))
    return True


@check(
    "UWS-71",
    "GET /capabilities sends Last-Modified; HEAD /capabilities is 200",
    "VOSI 1.1 §3.2 (Last-Modified)",
    Level.SHOULD,
)
async def last_modified(t: CheckRun) -> None:
    await require(t, "capabilities")
    r = await t.get(t.config.vosi("capabilities"))
    t.expect_status(r, 200)
    t.expect(r.headers.get("last-modified"), "no Last-Modified header on the 200 of /capabilities")
    r = await t.request("HEAD", t.config.vosi("capabilities"))
    t.expect(r.status_code == 200, f"HEAD /capabilities answered {r.status_code}")
