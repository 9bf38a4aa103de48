"""Checklist items 59-62: owners and access control (need --token / --other-token)."""

from __future__ import annotations

from ivoa_broker_conformance.jobs import create_job, get_job, job_id_of, job_list, jobrefs
from ivoa_broker_conformance.model import Level
from ivoa_broker_conformance.probe import CheckRun
from ivoa_broker_conformance.registry import check


def _need(t: CheckRun, both: bool) -> None:
    if not t.config.token:
        t.skip("needs --token (and --other-token) for an authenticated service")
    if both and not t.config.other_token:
        t.skip("needs a second identity: pass --other-token")


@check(
    "UWS-59",
    "ownerId is the creator's identity; {job}/owner says the same",
    "UWS 1.1 §2.1.8, §3",
    Level.MUST,
)
async def owner_identity(t: CheckRun) -> None:
    _need(t, both=True)
    a = await get_job(t, await create_job(t))
    b = await get_job(t, await create_job(t, auth="other"), auth="other")
    owner_a, owner_b = a.get("ownerId"), b.get("ownerId")
    t.expect(owner_a, "job created with --token has a nil/empty ownerId")
    t.expect(
        owner_b and owner_b != owner_a,
        f"jobs of two identities have owners {owner_a!r} and {owner_b!r}",
    )
    r = await t.get(a.url + "/owner")
    t.expect(
        r.status_code == 200 and r.text.strip() == owner_a,
        f"{{job}}/owner says {r.text.strip()!r}, ownerId is {owner_a!r}",
    )


@check(
    "UWS-60",
    "Another user cannot read, list or delete the job (403 or 404)",
    "UWS 1.1 §3",
    Level.MUST,
)
async def owner_scoping(t: CheckRun) -> None:
    _need(t, both=True)
    url = await create_job(t)
    r = await t.get(url, auth="other")
    t.expect(r.status_code in (403, 404), f"other user GET job: {r.status_code}")
    for child in ("/phase", "/parameters", "/results"):
        r = await t.get(url + child, auth="other")
        t.expect(r.status_code in (403, 404), f"other user GET {child}: {r.status_code}")
    r, root = await job_list(t, auth="other")
    t.expect(root is not None, f"other user's job list answered {r.status_code}")
    assert root is not None
    t.expect(
        job_id_of(url) not in {j.get("id") for j in jobrefs(root)},
        "other user's job list shows the job",
    )
    r = await t.delete(url, auth="other")
    t.expect(r.status_code in (403, 404), f"other user DELETE job: {r.status_code}")
    r = await t.post(url + "/phase", data=[("PHASE", "RUN")], auth="other")
    t.expect(r.status_code in (403, 404), f"other user RUN: {r.status_code}")
    doc = await get_job(t, url)
    t.expect(doc.phase == "PENDING", f"other user's requests changed the job to {doc.phase}")


@check(
    "UWS-61",
    "Anonymous request to the job list gives 401 with a challenge",
    "UWS 1.1 §3; DALI §5.2 (401)",
    Level.MUST,
)
async def anonymous_rejected(t: CheckRun) -> None:
    _need(t, both=False)
    url = await create_job(t)
    r, root = await job_list(t, auth="none")
    if r.status_code == 200:
        assert root is not None
        t.expect(
            job_id_of(url) not in {j.get("id") for j in jobrefs(root)},
            "anonymous job list shows an authenticated user's job",
        )
        t.skip("the service allows anonymous use (anonymous list shows no foreign jobs)")
    t.expect(r.status_code == 401, f"anonymous job list answered {r.status_code}, expected 401")
    t.expect(r.headers.get("www-authenticate"), "401 without WWW-Authenticate challenge")
    r = await t.get(url, auth="none")
    t.expect(r.status_code in (401, 403, 404), f"anonymous GET job answered {r.status_code}")


@check(
    "UWS-62",
    "/capabilities and /availability work anonymously",
    "VOSI 1.1 §2 (anonymous access)",
    Level.MUST,
)
async def vosi_anonymous(t: CheckRun) -> None:
    for path in ("/capabilities", "/availability"):
        r = await t.get(t.config.base + path, auth="none")
        t.expect(r.status_code == 200, f"anonymous GET {path} answered {r.status_code}")
