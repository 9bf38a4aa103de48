"""Prerequisites: the few resources most checks stand on, probed once per run.

When one is unusable, the check that owns it fails with the real message, and every check
that needs it is reported once as *blocked* by that check instead of failing N times."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING
from urllib.parse import urlencode

import httpx

from ivoa_broker_conformance.errors import CheckBlocked
from ivoa_broker_conformance.session import Session
from ivoa_broker_conformance.urls import resolve
from ivoa_broker_conformance.xmlutil import UWS, NotXML, parse

if TYPE_CHECKING:
    from ivoa_broker_conformance.probe import CheckRun


class Unusable(Exception):
    """The prerequisite does not hold; the message says why."""


@dataclass(frozen=True)
class Prerequisite:
    name: str
    owner: str  # the check whose own failure shows the cause
    what: str
    probe: Callable[[Session], Awaitable[None]]
    needs: tuple[str, ...] = ()


def _describe(r: httpx.Response) -> str:
    ctype = r.headers.get("content-type", "").split(";")[0].strip() or "no content type"
    where = f" to {r.headers['location']}" if r.headers.get("location") else ""
    return f"{r.request.method} {r.request.url} answered {r.status_code}{where} ({ctype})"


def _root_is(r: httpx.Response, namespace: str, local: str, what: str) -> None:
    if r.status_code != 200:
        raise Unusable(_describe(r))
    try:
        root = parse(r.content)
    except NotXML as exc:
        ctype = r.headers.get("content-type", "").split(";")[0].strip()
        raise Unusable(
            f"{_describe(r)}: not an XML {what} ({exc}); "
            + ("a JSON-only service is not the UWS REST binding" if "json" in ctype else "")
        ) from exc
    tag = root.tag if isinstance(root.tag, str) else ""
    if tag != f"{{{namespace}}}{local}" and not tag.endswith("}" + local):
        raise Unusable(f"{_describe(r)}: root element {tag or '?'} is not a {what}")


async def _get(session: Session, url: str) -> httpx.Response:
    try:
        headers = {**session.auth_headers("main"), "Accept": "application/xml, text/xml, */*"}
        return await session.client.get(url, headers=headers)
    except httpx.HTTPError as exc:
        raise Unusable(f"GET {url} failed: {exc!r}") from exc


async def _job_list(session: Session) -> None:
    _root_is(await _get(session, session.jobs_url), UWS, "jobs", "UWS job list (uws:jobs)")


async def _creation(session: Session) -> None:
    cfg = session.config
    form = list(cfg.job_params) + list(cfg.extra_params)
    try:
        r = await session.client.post(
            session.jobs_url,
            content=urlencode(form).encode(),
            headers={
                **session.auth_headers("main"),
                "Content-Type": "application/x-www-form-urlencoded",
            },
        )
    except httpx.HTTPError as exc:
        raise Unusable(f"POST {session.jobs_url} failed: {exc!r}") from exc
    location = r.headers.get("location")
    if r.status_code != 303 or not location:
        raise Unusable(f"job creation: {_describe(r)}, UWS 1.1 §2.2.3.1 requires 303 + Location")
    url = resolve(str(r.request.url), location)
    session.remember_job(url, "main")
    _root_is(await _get(session, url), UWS, "job", "UWS job document (uws:job)")


async def _vosi(session: Session, name: str, ns: str) -> None:
    _root_is(await _get(session, session.config.vosi(name)), ns, name, f"VOSI {name} document")


async def _capabilities(session: Session) -> None:
    await _vosi(session, "capabilities", "http://www.ivoa.net/xml/VOSICapabilities/v1.0")


async def _availability(session: Session) -> None:
    await _vosi(session, "availability", "http://www.ivoa.net/xml/VOSIAvailability/v1.0")


PREREQUISITES: dict[str, Prerequisite] = {
    p.name: p
    for p in (
        Prerequisite("list", "UWS-01", "the job list", _job_list),
        Prerequisite("create", "UWS-03", "job creation", _creation, ("list",)),
        Prerequisite("capabilities", "UWS-66", "VOSI capabilities", _capabilities),
        Prerequisite("availability", "UWS-63", "VOSI availability", _availability),
    )
}


async def require(t: CheckRun, name: str) -> None:
    """Raise CheckBlocked when prerequisite ``name`` (or one it needs) does not hold; the
    check owning a prerequisite is never blocked by it (it shows the cause itself)."""
    pre = PREREQUISITES[name]
    for needed in pre.needs:
        await require(t, needed)
    if t.check_id == pre.owner:
        return
    key = f"prerequisite:{name}"
    session = t.session

    async def probe() -> str:
        try:
            await pre.probe(session)
        except Unusable as exc:
            return str(exc)
        return ""

    why: str = await session.once(key, probe)
    if why:
        raise CheckBlocked(f"blocked by {pre.owner} ({pre.what} is unusable: {why})")
