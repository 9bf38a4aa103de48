"""ExecutionBroker checks (EB-xx): offer sets, formats, options, accept, expiry, owners.

All skip with a reason when the service has no EB API (no POST /requests).
"""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime

from ivoa_broker_conformance.eb_client import (
    JSON,
    SESSION_ACTIVE,
    get_session,
    offer_set,
    phase_options,
    post_request,
    request_body,
    session_url,
    update_phase,
)
from ivoa_broker_conformance.model import Level
from ivoa_broker_conformance.probe import CheckRun
from ivoa_broker_conformance.registry import check
from ivoa_broker_conformance.xmlutil import INSTANT, NotXML, parse

OAS = "Calycopis OpenAPI v1.0 execution-broker.yaml"
WD = "ExecutionBroker WD (LaTeX)"
LESSONS = "docs/lessons-learnt.md"
YAML_TYPES = frozenset({"application/yaml", "application/x-yaml", "text/yaml", "text/x-yaml"})


def _instant(value: object) -> datetime | None:
    if not isinstance(value, str) or not INSTANT.match(value):
        return None
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


@check(
    "EB-01",
    "POST /requests: 303 to the offer set (or 200), which reads as JSON",
    f"{OAS} POST /requests",
    Level.MUST,
)
async def post_requests(t: CheckRun) -> None:
    found = await post_request(t)
    t.expect(
        found.data.get("result") in ("YES", "NO"),
        f"offer set result is {found.data.get('result')!r}, expected YES or NO",
    )
    t.expect(found.url, "offer set has no URL (no Location, no meta.url)")


@check(
    "EB-02",
    "Offer set YES: every offer OFFERED, with kind, meta.uuid/url, future expires",
    f"{OAS} OfferSetResponse, SimpleExecutionSession",
    Level.MUST,
)
async def offers_shape(t: CheckRun) -> None:
    found = await offer_set(t)
    now = datetime.now(UTC)
    uuids = set()
    for offer in found.offers:
        meta = offer.get("meta") or {}
        t.expect(offer.get("kind"), f"offer without kind: {offer}")
        t.expect(meta.get("uuid") and meta.get("url"), f"offer without meta.uuid/url: {meta}")
        uuids.add(meta.get("uuid"))
        t.expect(offer.get("phase") == "OFFERED", f"offer phase {offer.get('phase')!r}")
        expires = _instant(offer.get("expires"))
        t.expect(expires is not None, f"offer expires {offer.get('expires')!r} is not a Z instant")
        assert expires is not None
        t.expect(expires > now, f"offer already expired at {expires}")
    t.expect(len(uuids) == len(found.offers), "offers share a uuid")


@check(
    "EB-03",
    "Offer set is served as JSON, YAML and XML on Accept",
    f"{WD} §Formats (MUST JSON and YAML); {OAS} (all three media types)",
    Level.MUST,
)
async def formats(t: CheckRun) -> None:
    found = await offer_set(t)
    for media in ("application/json", "application/yaml", "application/xml"):
        r = await t.get(found.url, headers={"Accept": media})
        ctype = r.headers.get("content-type", "").split(";")[0].strip()
        if media == "application/xml":
            if not t.should(
                r.status_code == 200 and ctype == media,
                f"XML not offered ({r.status_code} {ctype})",
            ):
                continue
            try:
                parse(r.content)
            except NotXML as exc:
                t.fail(f"XML offer set: {exc}")
            continue
        allowed = YAML_TYPES if media == "application/yaml" else {media}
        t.expect(
            r.status_code == 200 and ctype in allowed,
            f"Accept {media} answered {r.status_code} {ctype}",
        )
        if media == "application/yaml":
            _check_yaml(t, r.content, found.data)


def _check_yaml(t: CheckRun, body: bytes, data: dict[str, object]) -> None:
    try:
        import yaml
    except ImportError:
        t.note("PyYAML not installed: YAML body not parsed, only its content type checked")
        return
    try:
        parsed = yaml.safe_load(body)
    except yaml.YAMLError as exc:
        t.fail(f"YAML offer set does not parse: {exc}")
    t.expect(
        isinstance(parsed, dict) and parsed.get("result") == data.get("result"),
        "YAML offer set differs from the JSON one",
    )


@check(
    "EB-04",
    "A request sent as YAML is accepted like JSON",
    f"{WD} §Formats (MUST accept YAML and JSON)",
    Level.MUST,
)
async def yaml_request(t: CheckRun) -> None:
    body, ctype = request_body(t)
    if ctype != "application/json":
        t.skip("--eb-request is not JSON; cannot derive a YAML body")
    found = await post_request(t, content_type="application/yaml", body=body)  # JSON is YAML
    t.expect(found.data.get("result") in ("YES", "NO"), "YAML request not understood")


@check(
    "EB-05",
    "Without Accept the offer set is YAML (WD default)",
    f"{WD} §Formats (YAML default)",
    Level.SHOULD,
)
async def default_format(t: CheckRun) -> None:
    found = await offer_set(t)
    r = await t.get(found.url, headers={"Accept": None})
    t.expect_status(r, 200)
    ctype = r.headers.get("content-type", "").split(";")[0].strip()
    t.note(f"default content type: {ctype}")
    t.expect(
        ctype in YAML_TYPES,
        f"default content type is {ctype}; the WD says YAML (see {LESSONS})",
    )


@check(
    "EB-06",
    "An OFFERED session lists options: phase -> ACCEPTED, REJECTED",
    f"{WD} §Options",
    Level.SHOULD,
)
async def offered_options(t: CheckRun) -> None:
    found = await offer_set(t)
    session = await get_session(t, session_url(t, found.offers[0]))
    values = phase_options(session)
    t.expect(values is not None, "session has no meta.options (Calycopis returns null too)")
    t.expect(
        {"ACCEPTED", "REJECTED"} <= (values or set()),
        f"phase options while OFFERED are {sorted(values or [])}",
    )


@check(
    "EB-07",
    "Accept: 200, session leaves OFFERED; siblings become REJECTED",
    f"{WD} §Session lifecycle; {OAS} POST /sessions/{{uuid}}",
    Level.MUST,
)
async def accept(t: CheckRun) -> None:
    found = await offer_set(t, fresh=True)
    first = session_url(t, found.offers[0])
    r = await update_phase(t, first, "ACCEPTED")
    t.expect(r.status_code in (200, 303), f"accept answered {r.status_code}")
    session = await get_session(t, first)
    t.expect(session.get("phase") in SESSION_ACTIVE, f"accepted session is {session.get('phase')}")
    for sibling in found.offers[1:]:
        other = await get_session(t, session_url(t, sibling))
        t.should(
            other.get("phase") == "REJECTED",
            f"sibling offer is {other.get('phase')} after accept (SHOULD be REJECTED)",
        )
    t.session.remember_job(first, "main")


@check(
    "EB-08",
    "Accept is atomic: two siblings accepted concurrently, exactly one wins",
    f"{WD} §Session lifecycle",
    Level.SHOULD,
)
async def accept_race(t: CheckRun) -> None:
    found = await offer_set(t, fresh=True, need=2)
    a, b = (session_url(t, o) for o in found.offers[:2])
    await asyncio.gather(update_phase(t, a, "ACCEPTED"), update_phase(t, b, "ACCEPTED"))
    phases = [(await get_session(t, u)).get("phase") for u in (a, b)]
    winners = [p for p in phases if p in SESSION_ACTIVE]
    t.expect(len(winners) == 1, f"after concurrent accepts the siblings are {phases}")


@check(
    "EB-09",
    "Illegal transition (accept a REJECTED offer) gives 4xx, not 200 unchanged",
    f"{WD} ('TBD')",
    Level.SHOULD,
)
async def illegal_transition(t: CheckRun) -> None:
    found = await offer_set(t, fresh=True)
    url = session_url(t, found.offers[0])
    r = await update_phase(t, url, "REJECTED")
    t.expect(r.status_code in (200, 303), f"reject answered {r.status_code}")
    r = await update_phase(t, url, "ACCEPTED")
    t.expect(400 <= r.status_code < 500, f"accepting a REJECTED offer answered {r.status_code}")
    t.should(r.status_code == 409, f"answered {r.status_code}; 409 Conflict proposed")
    session = await get_session(t, url)
    t.expect(session.get("phase") == "REJECTED", f"phase became {session.get('phase')}")
    r = await update_phase(t, url, "NOT-A-PHASE")
    t.expect(400 <= r.status_code < 500, f"unknown phase value answered {r.status_code}")


@check(
    "EB-10",
    "Repeating ACCEPTED on an accepted session is idempotent (200)",
    "ivoa-broker behaviour (docs/lessons-learnt.md)",
    Level.SHOULD,
)
async def accept_idempotent(t: CheckRun) -> None:
    found = await offer_set(t, fresh=True)
    url = session_url(t, found.offers[0])
    t.session.remember_job(url, "main")
    r = await update_phase(t, url, "ACCEPTED")
    t.expect(r.status_code in (200, 303), f"accept answered {r.status_code}")
    r = await update_phase(t, url, "ACCEPTED")
    t.expect(r.status_code in (200, 303), f"second accept answered {r.status_code}")


@check(
    "EB-11",
    "After accept the options offer CANCELLED and no longer ACCEPTED",
    f"{WD} §Options",
    Level.SHOULD,
)
async def accepted_options(t: CheckRun) -> None:
    found = await offer_set(t, fresh=True)
    url = session_url(t, found.offers[0])
    t.session.remember_job(url, "main")
    r = await update_phase(t, url, "ACCEPTED")
    t.expect(r.status_code in (200, 303), f"accept answered {r.status_code}")
    values = phase_options(await get_session(t, url))
    t.expect(values is not None, "accepted session has no meta.options")
    t.expect(
        "CANCELLED" in (values or set()) and "ACCEPTED" not in (values or set()),
        f"options after accept: {sorted(values or [])}",
    )


@check(
    "EB-12",
    "An offer past its expires is EXPIRED and cannot be accepted",
    f"{WD} §Session lifecycle (EXPIRED)",
    Level.SHOULD,
)
async def expiry(t: CheckRun) -> None:
    found = await offer_set(t, fresh=True)
    offer = found.offers[0]
    expires = _instant(offer.get("expires"))
    t.expect(expires is not None, "offer has no expires instant")
    assert expires is not None
    delay = (expires - datetime.now(UTC)).total_seconds()
    if delay > t.config.eb_expiry_wait:
        t.skip(
            f"offer expires in {delay:.0f} s, beyond --eb-expiry-wait "
            f"{t.config.eb_expiry_wait:.0f} s"
        )
    await asyncio.sleep(max(0.0, delay) + 1.0)
    url = session_url(t, offer)
    session = await get_session(t, url)
    t.expect(session.get("phase") == "EXPIRED", f"offer past expiry is {session.get('phase')}")
    r = await update_phase(t, url, "ACCEPTED")
    t.expect(400 <= r.status_code < 500, f"accepting an expired offer answered {r.status_code}")


@check(
    "EB-13",
    "Another user cannot read or update an offer set or session (403/404)",
    "UWS 1.1 §3",
    Level.MUST,
)
async def owner_scoping(t: CheckRun) -> None:
    if not (t.config.has_main and t.config.has_other):
        t.skip("needs --token and --other-token")
    found = await offer_set(t, fresh=True)
    url = session_url(t, found.offers[0])
    r = await update_phase(t, url, "ACCEPTED", auth="other")
    t.expect(r.status_code in (403, 404), f"other user's accept answered {r.status_code}")
    session = await get_session(t, url)
    t.expect(
        session.get("phase") == "OFFERED",
        f"other user's accept moved the offer to {session.get('phase')}",
    )
    for target in (found.url, url):
        r = await t.get(target, headers=JSON, auth="other")
        t.expect(
            r.status_code in (403, 404),
            f"other user GET {target} answered {r.status_code} (Calycopis: all GETs "
            "public; connector URLs leak)",
        )


@check("EB-14", "Unknown offer set and session give 404", f"{OAS} (404)", Level.MUST)
async def unknown(t: CheckRun) -> None:
    await offer_set(t)  # skips when there is no EB API
    for path in ("/offersets/", "/sessions/"):
        r = await t.get(t.config.base + path + "00000000-0000-0000-0000-000000000000", headers=JSON)
        t.expect(r.status_code == 404, f"unknown {path} answered {r.status_code}")


@check(
    "EB-15",
    "Malformed request gives 4xx with an error body naming the problem",
    "RFC 9457 problem+json (a proposal for the draft)",
    Level.SHOULD,
)
async def malformed(t: CheckRun) -> None:
    await offer_set(t)
    bad = json.dumps({"executable": {"kind": "urn:conformance-no-such-kind"}}).encode()
    r = await t.post(
        t.config.base + "/requests",
        content=bad,
        headers={"Content-Type": "application/json", **JSON},
    )
    if r.status_code in (200, 303):
        t.fail(
            f"unknown executable kind accepted ({r.status_code}); a NO offer set would "
            "need messages, an error is clearer"
        )
    t.expect(400 <= r.status_code < 500, f"malformed request answered {r.status_code}")
    t.expect(r.content.strip(), "4xx without a body")
    r = await t.post(
        t.config.base + "/requests",
        content=b"{not json",
        headers={"Content-Type": "application/json", **JSON},
    )
    t.expect(400 <= r.status_code < 500, f"broken JSON answered {r.status_code}")


@check(
    "EB-16",
    "Cancel after accept ends CANCELLED (possibly via RELEASING)",
    f"{WD} §Session lifecycle",
    Level.SHOULD,
)
async def cancel(t: CheckRun) -> None:
    found = await offer_set(t, fresh=True)
    url = session_url(t, found.offers[0])
    r = await update_phase(t, url, "ACCEPTED")
    t.expect(r.status_code in (200, 303), f"accept answered {r.status_code}")
    r = await update_phase(t, url, "CANCELLED")
    t.expect(r.status_code in (200, 303), f"cancel answered {r.status_code}")
    for _ in range(int(t.config.job_timeout / 0.5)):
        phase = (await get_session(t, url)).get("phase")
        if phase != "RELEASING":
            break
        await asyncio.sleep(0.5)
    t.expect(phase == "CANCELLED", f"cancelled session is {phase}")
