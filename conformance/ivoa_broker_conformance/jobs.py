"""Job helpers shared by the UWS checks: discover, create, read, wait, reuse."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Collection, Sequence
from dataclasses import dataclass

import httpx
from lxml import etree

from ivoa_broker_conformance import urls
from ivoa_broker_conformance.prereqs import require
from ivoa_broker_conformance.probe import CheckRun
from ivoa_broker_conformance.session import Session
from ivoa_broker_conformance.xmlutil import (
    ACTIVE,
    NS,
    XSI,
    NotXML,
    child_text,
    name_of,
    parse,
    uws,
)

as_directory = urls.as_directory
resolve = urls.resolve

POLL_PAUSE = 0.2


@dataclass(frozen=True)
class JobDoc:
    url: str
    root: etree._Element
    response: httpx.Response

    @property
    def phase(self) -> str | None:
        return child_text(self.root, "phase")

    def get(self, local: str) -> str | None:
        return child_text(self.root, local)


TAP_PREFIX = "ivo://ivoa.net/std/TAP"
UWS_PREFIX = "ivo://ivoa.net/std/UWS"


def declared_jobs_url(root: etree._Element, base: str) -> tuple[str, str, str] | None:
    """(jobs URL, how it was found, DAL name) from a capabilities document: a UWS
    capability's accessURL is the job list itself; a TAP capability's accessURL is the TAP
    base, whose ``async`` child is the job list (TAP 1.1 §2; UWS inside TAP)."""
    found: dict[str, str] = {}
    for cap in root.iter("capability"):
        std = cap.get("standardID") or ""
        for access in cap.iter("accessURL"):
            text = (access.text or "").strip()
            if text:
                for prefix in (UWS_PREFIX, TAP_PREFIX):
                    if std.startswith(prefix):
                        found.setdefault(prefix, resolve(as_directory(base), text))
                break
    if UWS_PREFIX in found:
        return found[UWS_PREFIX], "UWS accessURL in /capabilities", ""
    if TAP_PREFIX in found:
        return (
            urls.child(found[TAP_PREFIX], "async"),
            "TAP accessURL in /capabilities + /async (UWS inside TAP)",
            "TAP",
        )
    return None


async def discover_jobs_url(session: Session) -> None:
    """Jobs URL from the UWS (or TAP) capability, else base + --jobs-path (urljoin rules,
    trailing slash kept); then redirects of a GET on it are followed to the job list's own
    URL, and the URL before them is kept as an alias."""
    cfg = session.config
    fallback = resolve(as_directory(cfg.base_url), cfg.jobs_path.lstrip("/"))
    session.jobs_url = fallback
    session.jobs_url_source = f"--jobs-path {cfg.jobs_path} (no UWS or TAP capability found)"
    try:
        r = await session.client.get(
            cfg.vosi("capabilities"),
            headers=session.auth_headers("main"),
            timeout=cfg.request_timeout,
        )
        if r.status_code == 200:
            declared = declared_jobs_url(parse(r.content), cfg.base_url)
            if declared is not None:
                session.jobs_url, session.jobs_url_source, session.dal = declared
    except (httpx.HTTPError, NotXML):
        pass
    await _follow_redirects(session)


async def _follow_redirects(session: Session) -> None:
    try:
        r = await session.client.get(
            session.jobs_url,
            headers={**session.auth_headers("main"), "Accept": "application/xml, */*"},
            timeout=session.config.request_timeout,
            follow_redirects=True,
        )
    except httpx.HTTPError:
        return
    final = str(r.url)
    if r.history and r.status_code == 200 and final != session.jobs_url:
        session.jobs_url_aliases.append(session.jobs_url)
        codes = ", ".join(str(h.status_code) for h in r.history)
        session.jobs_url_source += f"; GET {session.jobs_url} redirects ({codes}) to {final}"
        session.jobs_url = final


def list_identities(session: Session, job_url: str) -> list[str]:
    """Every URL that names this job's list: the job's own parent URL first, then the
    jobs URL in use and its aliases."""
    return [urls.parent(job_url), session.jobs_url, *session.jobs_url_aliases]


def job_params(t: CheckRun, kind: str) -> list[tuple[str, str]]:
    cfg = t.config
    return list(
        {
            "quick": cfg.job_params,
            "failing": cfg.failing_job_params,
            "long": cfg.long_job_params,
        }[kind]
    ) + list(cfg.extra_params)


async def jobs_url(t: CheckRun) -> str:
    """The job list URL, once the job list is known to be usable (else the check is
    blocked by UWS-01)."""
    await require(t, "list")
    return t.session.jobs_url


async def create_job(
    t: CheckRun,
    kind: str = "quick",
    *,
    extra: Sequence[tuple[str, str]] = (),
    query: Sequence[tuple[str, str]] | None = None,
    multipart: bool = False,
    auth: str = "main",
) -> str:
    """POST a job; expect 303 and return the absolute job URL."""
    await require(t, "create")
    params = job_params(t, kind) + list(extra)
    if multipart:
        files = [(k, (None, v)) for k, v in params]
        r = await t.post(t.session.jobs_url, files=files, params=query, auth=auth)
    else:
        r = await t.post(t.session.jobs_url, data=params, params=query, auth=auth)
    t.expect(
        r.status_code == 303,
        f"job creation answered {r.status_code}, UWS §2.2.3.1 requires 303 See Other",
    )
    location = r.headers.get("location")
    t.expect(location, "303 from job creation has no Location header")
    assert location is not None
    url = resolve(str(r.request.url), str(location))
    t.session.remember_job(url, auth)
    return url


async def get_job(
    t: CheckRun,
    url: str,
    *,
    auth: str = "main",
    record: bool = True,
    params: Sequence[tuple[str, str]] | None = None,
    timeout: float | None = None,
) -> JobDoc:
    r = await t.get(url, auth=auth, record=record, params=params, timeout=timeout)
    t.expect(r.status_code == 200, f"GET {url} gave {r.status_code}, expected 200")
    root = t.xml(r, f"job document {url}")
    t.expect(
        name_of(root) == uws("job"),
        f"job document root is {name_of(root)}, expected {{{NS['uws']}}}job",
    )
    return JobDoc(url, root, r)


async def post_phase(t: CheckRun, url: str, phase: str, *, auth: str = "main") -> httpx.Response:
    return await t.post(urls.child(url, "phase"), data=[("PHASE", phase)], auth=auth)


async def run_job(t: CheckRun, url: str) -> None:
    r = await post_phase(t, url, "RUN")
    t.expect(r.status_code == 303, f"PHASE=RUN answered {r.status_code}, expected 303")


async def wait_for(
    t: CheckRun,
    url: str,
    targets: Collection[str],
    timeout: float | None = None,
    *,
    auth: str = "main",
    pending_ok: bool = False,
) -> JobDoc:
    """Poll (with bounded WAIT) until the phase is in ``targets`` or leaves the active
    phases; fail after ``timeout`` seconds (``pending_ok``: return the last document
    instead). Only the last poll is kept as evidence."""
    limit = timeout if timeout is not None else t.config.job_timeout
    deadline = time.monotonic() + limit
    while True:
        remaining = deadline - time.monotonic()
        wait = max(0, min(5, int(remaining)))
        doc = await get_job(
            t,
            url,
            auth=auth,
            record=False,
            params=[("WAIT", str(wait))],
            timeout=wait + t.config.request_timeout,
        )
        phase = doc.phase or ""
        if phase in targets or (
            phase not in ACTIVE and phase not in ("UNKNOWN", "HELD", "SUSPENDED")
        ):
            await get_job(t, url, auth=auth)  # keep one plain GET as evidence
            return doc
        if time.monotonic() >= deadline:
            last = await get_job(t, url, auth=auth)
            if pending_ok:
                return last
            t.fail(f"job {url} still {phase} after {limit:.0f} s (expected {sorted(targets)})")
        await asyncio.sleep(POLL_PAUSE)


async def finished_job(t: CheckRun, kind: str) -> JobDoc:
    """A job of ``kind`` ('quick' or 'failing') run to its end once per suite run."""

    async def make() -> str:
        url = await create_job(t, kind)
        await run_job(t, url)
        await wait_for(t, url, {"COMPLETED", "ERROR", "ABORTED"})
        return url

    url: str = await t.session.once(f"finished-{kind}", make, t.check_id)
    t.note(f"uses the {kind} job {url} run to its end earlier in this run")
    return await get_job(t, url)


async def pending_job(t: CheckRun) -> JobDoc:
    """A fresh PENDING job (quick parameters), never run."""
    url = await create_job(t, "quick")
    return await get_job(t, url)


def nil(el: etree._Element | None) -> bool:
    return el is not None and el.get(f"{{{XSI}}}nil") in ("true", "1")


async def job_list(
    t: CheckRun, params: Sequence[tuple[str, str]] | None = None, *, auth: str = "main"
) -> tuple[httpx.Response, etree._Element | None]:
    r = await t.get(await jobs_url(t), params=params, auth=auth)
    if r.status_code != 200:
        return r, None
    return r, t.xml(r, "job list")


def jobrefs(root: etree._Element) -> list[etree._Element]:
    return list(root.findall(uws("jobref")))


def job_id_of(url: str) -> str:
    return urls.last_segment(url)
