"""A tiny, mostly correct UWS 1.1 + VOSI service for testing the suite, with switchable faults.

Each fault breaks one rule on purpose so a test can show the matching check fails. The jobs
understand the suite's default parameters: ``cmd=echo&args=…`` (completes, one text result),
``cmd=false`` (ERROR) and ``cmd=sleep&args=N`` (runs N seconds).
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import itertools
import json
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from lxml import etree
from lxml.builder import ElementMaker
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

UWS_NS = "http://www.ivoa.net/xml/UWS/v1.0"
XLINK_NS = "http://www.w3.org/1999/xlink"
XSI_NS = "http://www.w3.org/2001/XMLSchema-instance"
NSMAP = {"uws": UWS_NS, "xlink": XLINK_NS, "xsi": XSI_NS}
U = ElementMaker(namespace=UWS_NS, nsmap=NSMAP)
PHASES = (
    "PENDING",
    "QUEUED",
    "EXECUTING",
    "COMPLETED",
    "ERROR",
    "UNKNOWN",
    "HELD",
    "SUSPENDED",
    "ABORTED",
    "ARCHIVED",
)
TOKENS = {"alice-token": "alice", "bob-token": "bob"}
WAIT_CAP = 3.0
FAULTS = frozenset(
    {
        "no-version",
        "offset-times",
        "create-200",
        "no-nil",
        "wait-ignored",
        "wait-phase-ignored",
        "phase-filter-ignored",
        "archived-listed",
        "html-default",
        "case-sensitive",
        "unknown-job-400",
        "vosi-prefixed",
        "no-owner-scope",
        "no-error-summary",
        "delete-200",
        "last-ascending",
        "run-finished-restarts",
        "results-404-empty",
        "no-auth-challenge",
        "no-runid",
        "no-multipart",
        "no-creation-time",
        "phase-as-xml",
        "error-200-not-failed",
        "unknown-child-200",
        "bogus-phase-ok",
        "abort-ignored",
        "duration-not-enforced",
        "destruction-ignored",
        "wait-blocks-finished",
        "after-ignored",
        "vosi-needs-auth",
        "availability-bad",
        "no-uws-capability",
        "vosi-post-ok",
        "no-last-modified",
        "accept-anything",
        "params-hidden",
        "result-size-wrong",
        "post-job-deletes",
        "list-delete-ok",
        "duration-junk-ok",
        "no-owner-id",
        "phase-post-200",
        "destruction-junk-ok",
        "params-change-running",
        "wait-junk-ok",
        "bad-phase-filter-ok",
        "error-detail-missing",
        "runid-hidden-in-list",
        "no-run-on-create",
        "duration-child-mismatch",
        "children-offset",
        "end-before-start",
        "destruction-6-digits-rejected",
        "bad-xsi-type",
        "json",
        "json-wrong",
        "json-default",
        "list-broken",
        "no-vosi",
    }
)
_ids = itertools.count(1)


@dataclass
class Job:
    id: str
    owner: str
    created: datetime
    params: list[tuple[str, str]]
    run_id: str | None = None
    phase: str = "PENDING"
    start: datetime | None = None
    end: datetime | None = None
    duration: int = 0
    destruction: datetime | None = None
    results: dict[str, tuple[str, bytes]] = field(default_factory=dict)
    error: str | None = None
    task: asyncio.Task[None] | None = None
    changed: asyncio.Event = field(default_factory=asyncio.Event)

    def set_phase(self, phase: str) -> None:
        self.phase = phase
        self.changed.set()
        self.changed = asyncio.Event()

    def param(self, name: str) -> str | None:
        return next((v for k, v in self.params if k == name), None)


class Problem(Exception):
    def __init__(self, status: int, text: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(text)
        self.status, self.text, self.headers = status, text, headers or {}


class MiniUWS:
    def __init__(self, base: str, faults: Iterable[str] = ()) -> None:
        self.base = base.rstrip("/")
        self.jobs_url = self.base + "/jobs"
        self.faults = frozenset(faults)
        unknown = self.faults - FAULTS
        if unknown:
            raise ValueError(f"unknown faults {unknown}")
        self.jobs: dict[str, Job] = {}

    # -- helpers ----------------------------------------------------------------------------
    def has(self, fault: str) -> bool:
        return fault in self.faults

    def instant(self, when: datetime) -> str:
        if self.has("offset-times"):
            return when.isoformat(timespec="milliseconds")
        return when.strftime("%Y-%m-%dT%H:%M:%S.") + f"{when.microsecond // 1000:03d}Z"

    def key(self, name: str) -> str:
        return name if self.has("case-sensitive") else name.lower()

    async def params(self, request: Request) -> list[tuple[str, str]]:
        items = [(self.key(k), v) for k, v in request.query_params.multi_items()]
        if request.method == "POST":
            form = await request.form()
            items += [(self.key(k), str(v)) for k, v in form.multi_items()]
        return items

    def user(self, request: Request) -> str:
        """Bearer token, HTTP Basic (the token as password), or a ``session`` cookie."""
        auth = request.headers.get("authorization", "")
        if auth.startswith("Basic "):
            name, _, password = base64.b64decode(auth[6:]).decode().partition(":")
            user = TOKENS.get(password)
            user = user if user == name else None
        elif "session" in request.cookies:
            user = TOKENS.get(request.cookies["session"])
        else:
            user = TOKENS.get(auth.removeprefix("Bearer ").strip())
        if user is None:
            headers = {} if self.has("no-auth-challenge") else {"WWW-Authenticate": "Bearer"}
            raise Problem(401, "authentication required", headers)
        return user

    def job(self, request: Request) -> Job:
        self.sweep()
        user = self.user(request)
        job = self.jobs.get(request.path_params["id"])
        if job is None:
            raise Problem(400 if self.has("unknown-job-400") else 404, "no such job")
        if job.owner != user and not self.has("no-owner-scope"):
            raise Problem(403, "not your job")
        return job

    def sweep(self) -> None:
        if self.has("destruction-ignored"):
            return
        now = datetime.now(UTC)
        for job in list(self.jobs.values()):
            if job.destruction and job.destruction <= now and job.phase != "ARCHIVED":
                self.cancel(job)
                job.results.clear()
                job.set_phase("ARCHIVED")

    def cancel(self, job: Job) -> None:
        if job.task is not None and not job.task.done():
            job.task.cancel()

    def xml(self, el: etree._Element, status: int = 200) -> Response:
        return Response(
            etree.tostring(el, xml_declaration=True, encoding="UTF-8"),
            status,
            media_type="application/xml",
        )

    def see_other(self, url: str, request: Request) -> Response:
        return Response(status_code=303, headers={"Location": url})

    def job_url(self, job: Job) -> str:
        return f"{self.jobs_url}/{job.id}"

    # -- documents --------------------------------------------------------------------------
    def nillable(self, name: str, value: str | None) -> etree._Element | None:
        if value is not None:
            return U(name, value)
        if self.has("no-nil"):
            return None
        el = U(name)
        el.set(f"{{{XSI_NS}}}nil", "true")
        return el

    def job_xml(self, job: Job) -> etree._Element:
        root = U.job()
        if not self.has("no-version"):
            root.set("version", "1.1")
        when = self.instant
        parts = [
            U.jobId(job.id),
            U.runId(job.run_id) if job.run_id is not None and not self.has("no-runid") else None,
            self.nillable("ownerId", None if self.has("no-owner-id") else job.owner),
            U.phase(job.phase),
            self.nillable("quote", None),
            None if self.has("no-creation-time") else U.creationTime(when(job.created)),
            self.nillable("startTime", when(job.start) if job.start else None),
            self.nillable("endTime", self.end_time(job)),
            U.executionDuration(str(job.duration)),
            self.nillable("destruction", when(job.destruction) if job.destruction else None),
            None if self.has("params-hidden") else self.parameters_xml(job),
            self.results_xml(job),
        ]
        if job.error is not None and not self.has("no-error-summary"):
            parts.append(U.errorSummary(U.message(job.error), type="fatal", hasDetail="true"))
        for part in parts:
            if part is not None:
                root.append(part)
        return root

    def end_time(self, job: Job) -> str | None:
        if job.end is None:
            return None
        if self.has("end-before-start") and job.start is not None:
            return self.instant(job.start - timedelta(seconds=5))
        return self.instant(job.end)

    def parameters_xml(self, job: Job) -> etree._Element:
        return U.parameters(*(U.parameter(v, id=k) for k, v in job.params))

    def results_xml(self, job: Job) -> etree._Element:
        root = U.results()
        for rid, (mime, body) in job.results.items():
            el = U.result(id=rid)
            el.set(f"{{{XLINK_NS}}}href", f"{self.job_url(job)}/results/{rid}")
            el.set("mime-type", mime)
            el.set("size", str(len(body) + (7 if self.has("result-size-wrong") else 0)))
            root.append(el)
        return root

    # -- execution --------------------------------------------------------------------------
    def start(self, job: Job) -> None:
        job.set_phase("QUEUED")
        job.task = asyncio.get_running_loop().create_task(self.execute(job))

    async def execute(self, job: Job) -> None:
        try:
            await asyncio.sleep(0.2)
            job.start = datetime.now(UTC)
            job.set_phase("EXECUTING")
            work = self.work(job)
            if job.duration > 0 and not self.has("duration-not-enforced"):
                try:
                    await asyncio.wait_for(work, job.duration)
                except TimeoutError:
                    job.end = datetime.now(UTC)
                    job.set_phase("ABORTED")
                    return
            else:
                await work
        except asyncio.CancelledError:
            return

    async def work(self, job: Job) -> None:
        cmd = job.param("cmd")
        args = job.param("args") or ""
        if cmd == "sleep":
            await asyncio.sleep(float(args or "1"))
        else:
            await asyncio.sleep(0.3)
        job.end = datetime.now(UTC)
        if cmd == "false":
            job.error = "command 'false' exited with status 1"
            job.set_phase("ERROR")
            return
        if cmd == "echo":
            job.results["stdout"] = ("text/plain", (args + "\n").encode())
        job.set_phase("COMPLETED")

    # -- endpoints --------------------------------------------------------------------------
    async def list_jobs(self, request: Request) -> Response:
        self.sweep()
        user = self.user(request)
        if request.method == "POST":
            return await self.create(request, user)
        if request.method in ("DELETE", "PUT"):
            for job in [j for j in self.jobs.values() if j.owner == user]:
                self.cancel(job)
                del self.jobs[job.id]
            return Response("all gone", media_type="text/plain")
        accept = request.headers.get("accept", "*/*")
        if self.has("list-broken"):
            raise Problem(500, "the job list is broken")
        if self.has("html-default") and "xml" not in accept:
            return Response("<html><body>jobs</body></html>", media_type="text/html")
        params = await self.params(request)
        phases = [v for k, v in params if k == self.key("PHASE")]
        if any(p not in PHASES for p in phases) and not self.has("bad-phase-filter-ok"):
            raise Problem(400, "bad PHASE")
        jobs = [j for j in self.jobs.values() if j.owner == user or self.has("no-owner-scope")]
        if phases and not self.has("phase-filter-ignored"):
            jobs = [j for j in jobs if j.phase in phases]
        elif not phases and not self.has("archived-listed"):
            jobs = [j for j in jobs if j.phase != "ARCHIVED"]
        after = next((v for k, v in params if k == self.key("AFTER")), None)
        if after is not None and not self.has("after-ignored"):
            try:
                cut = datetime.fromisoformat(after.replace("Z", "+00:00"))
            except ValueError:
                raise Problem(400, "bad AFTER") from None
            jobs = [j for j in jobs if j.created > cut]
        jobs.sort(key=lambda j: j.created, reverse=True)
        last = next((v for k, v in params if k == self.key("LAST")), None)
        if last is not None:
            if not last.isdigit() or int(last) < 1:
                raise Problem(400, "bad LAST")
            jobs = jobs[: int(last)]
            if self.has("last-ascending"):
                jobs.reverse()
        root = U.jobs()
        if not self.has("no-version"):
            root.set("version", "1.1")
        for job in jobs:
            ref = U.jobref(
                U.phase(job.phase),
                U.ownerId(job.owner),
                U.creationTime(self.instant(job.created)),
                id=job.id,
            )
            if job.run_id is not None and not self.has("runid-hidden-in-list"):
                ref.insert(1, U.runId(job.run_id))
            ref.set(f"{{{XLINK_NS}}}href", self.job_url(job))
            root.append(ref)
        return self.xml(root)

    async def create(self, request: Request, user: str) -> Response:
        params = await self.params(request)
        control = {self.key(n) for n in ("PHASE", "RUNID")}
        job_params = [(k, v) for k, v in params if k not in control]
        cmd = next((v for k, v in job_params if k == self.key("cmd")), None)
        if cmd not in ("echo", "false", "sleep") and not self.has("accept-anything"):
            raise Problem(400, "cmd must be echo, false or sleep")
        if self.has("no-multipart") and "multipart" in request.headers.get("content-type", ""):
            raise Problem(415, "multipart/form-data not supported")
        job = Job(str(next(_ids)), user, datetime.now(UTC), job_params)
        job.destruction = job.created + timedelta(days=7)
        job.run_id = next((v for k, v in params if k == self.key("RUNID")), None)
        self.jobs[job.id] = job
        if next((v for k, v in params if k == self.key("PHASE")), None) == "RUN" and not self.has(
            "no-run-on-create"
        ):
            self.start(job)
        if self.has("create-200"):
            return self.xml(self.job_xml(job))
        return self.see_other(self.job_url(job), request)

    async def get_job(self, request: Request) -> Response:
        job = self.job(request)
        if request.method == "DELETE":
            return self.delete(job, request)
        if request.method == "POST":
            form = await self.params(request)
            if (self.key("ACTION"), "DELETE") in form or self.has("post-job-deletes"):
                return self.delete(job, request)
            raise Problem(400, "POST to a job needs ACTION=DELETE")
        params = dict(await self.params(request))
        wait = params.get(self.key("WAIT"))
        if wait is not None and not self.has("wait-ignored"):
            try:
                seconds = float(wait)
            except ValueError:
                if not self.has("wait-junk-ok"):
                    raise Problem(400, "bad WAIT") from None
                seconds = 0
            await self.block(job, seconds, params.get(self.key("PHASE")))
        return self.xml(self.job_xml(job))

    async def block(self, job: Job, seconds: float, phase: str | None) -> None:
        if job.phase not in ("PENDING", "QUEUED", "EXECUTING"):
            if self.has("wait-blocks-finished"):
                await asyncio.sleep(min(seconds, WAIT_CAP))
            return
        if phase is not None and job.phase != phase and not self.has("wait-phase-ignored"):
            return
        limit = WAIT_CAP if seconds < 0 else min(seconds, WAIT_CAP * 4)
        if limit <= 0:
            return
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(job.changed.wait(), limit)

    def delete(self, job: Job, request: Request) -> Response:
        self.cancel(job)
        del self.jobs[job.id]
        if self.has("delete-200"):
            return Response("deleted", media_type="text/plain")
        return self.see_other(self.jobs_url, request)

    async def child(self, request: Request) -> Response:
        job = self.job(request)
        name = request.path_params["child"]
        handler = self.children.get((request.method, name))
        if handler is None:
            if any(n == name for _, n in self.children):
                raise Problem(405, "method not allowed")
            if self.has("unknown-child-200"):
                return await self.plain("")
            raise Problem(404, f"no child {name}")
        return await handler(self, job, request)

    async def plain(self, text: str) -> Response:
        return Response(text, media_type="text/plain")

    async def get_phase(self, job: Job, request: Request) -> Response:
        if self.has("phase-as-xml"):
            return self.xml(U.phase(job.phase))
        return await self.plain(job.phase)

    async def post_phase(self, job: Job, request: Request) -> Response:
        value = dict(await self.params(request)).get(self.key("PHASE"))
        if value == "RUN":
            if job.phase == "PENDING" or (
                self.has("run-finished-restarts") and job.phase != "EXECUTING"
            ):
                self.start(job)
            elif job.phase not in ("QUEUED", "EXECUTING"):
                raise Problem(403, f"cannot run a {job.phase} job")
        elif value == "ABORT":
            if self.has("abort-ignored"):
                pass
            elif job.phase in ("PENDING", "QUEUED", "EXECUTING", "HELD", "SUSPENDED"):
                self.cancel(job)
                job.end = datetime.now(UTC) if job.start else None
                job.set_phase("ABORTED")
        elif not self.has("bogus-phase-ok"):
            raise Problem(400, "PHASE must be RUN or ABORT")
        if self.has("phase-post-200"):
            return self.xml(self.job_xml(job))
        return self.see_other(self.job_url(job), request)

    async def get_duration(self, job: Job, request: Request) -> Response:
        return await self.plain(
            str(job.duration + (1 if self.has("duration-child-mismatch") else 0))
        )

    async def post_duration(self, job: Job, request: Request) -> Response:
        value = dict(await self.params(request)).get(self.key("EXECUTIONDURATION"), "")
        if not value.isdigit():
            if not self.has("duration-junk-ok"):
                raise Problem(400, "EXECUTIONDURATION must be an integer")
            value = str(job.duration)
        if job.phase != "PENDING":
            raise Problem(403, "only in PENDING")
        job.duration = min(int(value), 3600)
        return self.see_other(self.job_url(job), request)

    async def get_destruction(self, job: Job, request: Request) -> Response:
        if job.destruction and self.has("children-offset"):
            return await self.plain(job.destruction.isoformat())
        return await self.plain(self.instant(job.destruction) if job.destruction else "")

    async def post_destruction(self, job: Job, request: Request) -> Response:
        value = dict(await self.params(request)).get(self.key("DESTRUCTION"), "")
        if self.has("destruction-6-digits-rejected") and len(value.split(".")[-1]) > 4:
            raise Problem(400, "DESTRUCTION must have millisecond precision")
        try:
            when = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            if not self.has("destruction-junk-ok"):
                raise Problem(400, "bad DESTRUCTION") from None
            return self.see_other(self.job_url(job), request)
        if when.tzinfo is None:
            when = when.replace(tzinfo=UTC)
        job.destruction = min(when, datetime.now(UTC) + timedelta(days=7))
        return self.see_other(self.job_url(job), request)

    async def get_quote(self, job: Job, request: Request) -> Response:
        return await self.plain("")

    async def get_owner(self, job: Job, request: Request) -> Response:
        return await self.plain(job.owner)

    async def get_parameters(self, job: Job, request: Request) -> Response:
        return self.xml(self.parameters_xml(job))

    async def post_parameters(self, job: Job, request: Request) -> Response:
        if job.phase != "PENDING" and not self.has("params-change-running"):
            raise Problem(403, "parameters can only change in PENDING")
        new = dict(await self.params(request))
        job.params = [(k, new.pop(k, v)) for k, v in job.params] + list(new.items())
        return self.see_other(self.job_url(job), request)

    async def get_results(self, job: Job, request: Request) -> Response:
        if not job.results and self.has("results-404-empty"):
            raise Problem(404, "no results")
        return self.xml(self.results_xml(job))

    async def get_error(self, job: Job, request: Request) -> Response:
        if job.error is None:
            if self.has("error-200-not-failed"):
                return await self.plain("")
            raise Problem(404, "job has not failed")
        if self.has("error-detail-missing"):
            raise Problem(404, "no detail")
        return await self.plain(job.error)

    children: dict[tuple[str, str], Callable[[MiniUWS, Job, Request], Awaitable[Response]]] = {
        ("GET", "phase"): get_phase,
        ("POST", "phase"): post_phase,
        ("GET", "executionduration"): get_duration,
        ("POST", "executionduration"): post_duration,
        ("GET", "destruction"): get_destruction,
        ("POST", "destruction"): post_destruction,
        ("GET", "quote"): get_quote,
        ("GET", "owner"): get_owner,
        ("GET", "parameters"): get_parameters,
        ("POST", "parameters"): post_parameters,
        ("GET", "results"): get_results,
        ("GET", "error"): get_error,
    }

    async def result(self, request: Request) -> Response:
        job = self.job(request)
        found = job.results.get(request.path_params["rid"])
        if found is None:
            raise Problem(404, "no such result")
        return Response(found[1], media_type=found[0])

    async def availability(self, request: Request) -> Response:
        ns = "http://www.ivoa.net/xml/VOSIAvailability/v1.0"
        root = etree.Element(f"{{{ns}}}availability", nsmap={"vosi": ns})
        if not self.has("availability-bad"):
            etree.SubElement(root, f"{{{ns}}}available").text = "true"
        etree.SubElement(root, f"{{{ns}}}note").text = "mini UWS is accepting jobs"
        return self.xml(root)

    async def capabilities(self, request: Request) -> Response:
        ns = "http://www.ivoa.net/xml/VOSICapabilities/v1.0"
        vs = "http://www.ivoa.net/xml/VODataService/v1.1"
        root = etree.Element(
            f"{{{ns}}}capabilities",
            nsmap={
                "vosi": ns,
                "vr": "http://www.ivoa.net/xml/VOResource/v1.0",
                "vs": vs,
                "xsi": XSI_NS,
            },
        )
        for std, url, use in (
            ("ivo://ivoa.net/std/VOSI#capabilities", self.base + "/capabilities", "full"),
            ("ivo://ivoa.net/std/VOSI#availability", self.base + "/availability", "full"),
            ("ivo://ivoa.net/std/UWS#rest-1.1", self.jobs_url, "base"),
        ):
            if std.startswith("ivo://ivoa.net/std/UWS") and self.has("no-uws-capability"):
                continue
            tag = f"{{{ns}}}capability" if self.has("vosi-prefixed") else "capability"
            cap = etree.SubElement(root, tag, standardID=std)
            interface = etree.SubElement(cap, "interface")
            xsi_type = "vs:ParamHTTPish" if self.has("bad-xsi-type") else "vs:ParamHTTP"
            interface.set(f"{{{XSI_NS}}}type", xsi_type)
            etree.SubElement(interface, "accessURL", use=use).text = url
        response = self.xml(root)
        if not self.has("no-last-modified"):
            response.headers["Last-Modified"] = "Tue, 24 Nov 2026 12:00:00 GMT"
        return response

    def wants_json(self, request: Request) -> bool:
        accept = request.headers.get("accept", "*/*")
        if self.has("json-default") and accept in ("*/*", ""):
            return True
        offered = self.has("json") or self.has("json-wrong") or self.has("json-default")
        return offered and "application/json" in accept

    def as_json(self, response: Response) -> Response:
        """The XML document as nested JSON (local names as keys, texts as values)."""

        def convert(el: etree._Element) -> object:
            children = [c for c in el if isinstance(c.tag, str)]
            if not children:
                text = (el.text or "").strip()
                if self.has("json-wrong") and etree.QName(el).localname == "phase":
                    return "WRONG"
                return {**dict(el.attrib), "value": text} if el.attrib else text
            return {
                **{etree.QName(k).localname: v for k, v in el.attrib.items()},
                "children": [{etree.QName(c).localname: convert(c)} for c in children],
            }

        root = etree.fromstring(bytes(response.body))
        body = json.dumps({etree.QName(root).localname: convert(root)})
        return Response(body, response.status_code, media_type="application/json")

    # -- app --------------------------------------------------------------------------------
    def app(self) -> Starlette:
        def wrap(
            func: Callable[[Request], Awaitable[Response]],
        ) -> Callable[[Request], Awaitable[Response]]:
            async def endpoint(request: Request) -> Response:
                try:
                    response = await func(request)
                except Problem as p:
                    return Response(p.text, p.status, headers=p.headers, media_type="text/plain")
                if self.wants_json(request) and response.media_type == "application/xml":
                    return self.as_json(response)
                return response

            return endpoint

        def vosi(
            func: Callable[[Request], Awaitable[Response]],
        ) -> Callable[[Request], Awaitable[Response]]:
            async def endpoint(request: Request) -> Response:
                if self.has("no-vosi"):
                    raise Problem(404, "no VOSI here")
                if self.has("vosi-needs-auth"):
                    self.user(request)
                return await func(request)

            return wrap(endpoint)

        vosi_methods = ["GET", "POST", "PUT", "DELETE"] if self.has("vosi-post-ok") else ["GET"]
        list_methods = (
            ["GET", "POST", "DELETE", "PUT"] if self.has("list-delete-ok") else ["GET", "POST"]
        )
        return Starlette(
            routes=[
                Route("/availability", vosi(self.availability), methods=vosi_methods),
                Route("/capabilities", vosi(self.capabilities), methods=vosi_methods),
                Route("/jobs", wrap(self.list_jobs), methods=list_methods),
                Route("/jobs/{id}", wrap(self.get_job), methods=["GET", "POST", "DELETE"]),
                Route("/jobs/{id}/results/{rid}", wrap(self.result), methods=["GET"]),
                Route(
                    "/jobs/{id}/{child}", wrap(self.child), methods=["GET", "POST", "DELETE", "PUT"]
                ),
            ]
        )
