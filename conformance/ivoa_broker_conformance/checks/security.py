"""Checklist items 59-62: owners and access control (need --token / --other-token)."""

from __future__ import annotations

import httpx

from ivoa_broker_conformance.jobs import create_job, get_job, job_id_of, job_list, jobrefs
from ivoa_broker_conformance.model import Level
from ivoa_broker_conformance.prereqs import require
from ivoa_broker_conformance.probe import CheckRun
from ivoa_broker_conformance.registry import check
from ivoa_broker_conformance.urls import child as child_url

DENIED = (401, 403, 404)


def _need(t: CheckRun, both: bool) -> None:
    if not t.config.has_main:
        t.skip(
            "needs credentials (--token, --basic, --auth-header or --cookie, and the "
            "--other-… ones) for an authenticated service"
        )
    if both and not t.config.has_other:
        t.skip("needs a second identity: pass --other-token (or --other-basic, …)")


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
    r = await t.get(child_url(a.url, "owner"))
    t.expect(
        r.status_code == 200 and r.text.strip() == owner_a,
        f"{{job}}/owner says {r.text.strip()!r}, ownerId is {owner_a!r}",
    )


@check(
    "UWS-60",
    "Another user cannot read, list or delete the job (401, 403 or 404)",
    "UWS 1.1 §3 (authorization left to the service); DALI 1.1 §5.2",
    Level.MUST,
)
async def owner_scoping(t: CheckRun) -> None:
    _need(t, both=True)
    url = await create_job(t)
    codes: dict[str, int] = {}

    def denied(what: str, r: httpx.Response) -> None:
        codes[what] = r.status_code
        t.expect(
            r.status_code in DENIED,
            f"other user {what}: {r.status_code} (any denial 401/403/404 would do)",
        )

    denied("GET job", await t.get(url, auth="other"))
    for name in ("phase", "parameters", "results"):
        denied(f"GET {name}", await t.get(child_url(url, name), auth="other"))
    r, root = await job_list(t, auth="other")
    if root is None:
        t.expect(r.status_code in DENIED, f"other user's job list answered {r.status_code}")
        codes["job list"] = r.status_code
    else:
        t.expect(
            job_id_of(url) not in {j.get("id") for j in jobrefs(root)},
            "other user's job list shows the job",
        )
    denied("DELETE job", await t.delete(url, auth="other"))
    denied(
        "PHASE=RUN", await t.post(child_url(url, "phase"), data=[("PHASE", "RUN")], auth="other")
    )
    doc = await get_job(t, url)
    t.expect(doc.phase == "PENDING", f"other user's requests changed the job to {doc.phase}")
    used = sorted(set(codes.values()))
    t.note(
        "denials answered "
        + ", ".join(f"{w}: {c}" for w, c in codes.items())
        + f" (codes used: {used}); the job stayed unchanged"
    )


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
    await require(t, "capabilities")
    await require(t, "availability")
    for path in ("/capabilities", "/availability"):
        r = await t.get(t.config.vosi(path.lstrip("/")), auth="none")
        t.expect(r.status_code == 200, f"anonymous GET {path} answered {r.status_code}")
