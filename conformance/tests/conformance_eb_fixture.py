"""A tiny ExecutionBroker (newest Calycopis paths) for testing the EB checks, with faults.

Offers expire for real after ``expiry`` seconds; accept is atomic and rejects the siblings;
illegal transitions give 409, accepting an expired offer 410; every object is owner-scoped.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import yaml
from conformance_uws_fixture import TOKENS
from lxml import etree
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

KIND = "https://www.purl.org/ivoa.net/Calycopis-openapi/schema/v1.0/kinds/"
KNOWN_EXECUTABLES = {KIND + "executable/docker-container.yaml"}
FAULTS = frozenset(
    {
        "eb-no-options",
        "eb-racy-accept",
        "eb-illegal-200",
        "eb-no-expiry",
        "eb-public-get",
        "eb-json-default",
        "eb-no-yaml",
        "eb-siblings-stay",
        "eb-no-location",
        "eb-initial-offers",
        "eb-accept-not-idempotent",
        "eb-unknown-200",
        "eb-anything-goes",
        "eb-cancel-ignored",
    }
)
TRANSITIONS = {
    "OFFERED": {"ACCEPTED", "REJECTED"},
    "ACCEPTED": {"CANCELLED"},
}


@dataclass
class Session:
    uuid: str
    owner: str
    offerset: str
    expires: datetime
    phase: str = "OFFERED"


@dataclass
class OfferSetRecord:
    uuid: str
    owner: str
    sessions: list[str] = field(default_factory=list)


class Problem(Exception):
    def __init__(self, status: int, detail: str) -> None:
        super().__init__(detail)
        self.status, self.detail = status, detail


class MiniEB:
    def __init__(self, base: str, faults: Iterable[str] = (), expiry: float = 4.0) -> None:
        self.base = base.rstrip("/")
        self.faults = frozenset(faults)
        if self.faults - FAULTS:
            raise ValueError(f"unknown faults {self.faults - FAULTS}")
        self.expiry = expiry
        self.sessions: dict[str, Session] = {}
        self.offersets: dict[str, OfferSetRecord] = {}
        self.lock = asyncio.Lock()

    def has(self, fault: str) -> bool:
        return fault in self.faults

    def user(self, request: Request) -> str:
        auth = request.headers.get("authorization", "").removeprefix("Bearer ").strip()
        user = TOKENS.get(auth)
        if user is None:
            raise Problem(401, "authentication required")
        return user

    def expire(self) -> None:
        if self.has("eb-no-expiry"):
            return
        now = datetime.now(UTC)
        for s in self.sessions.values():
            if s.phase == "OFFERED" and s.expires <= now:
                s.phase = "EXPIRED"

    def render(self, request: Request, data: dict[str, Any], status: int = 200) -> Response:
        accept = request.headers.get("accept", "")
        if "application/json" in accept or (self.has("eb-json-default") and not accept):
            return Response(json.dumps(data), status, media_type="application/json")
        if "application/xml" in accept:
            root = etree.Element("offers-response")
            for key, value in data.items():
                etree.SubElement(root, key).text = json.dumps(value)
            return Response(etree.tostring(root), status, media_type="application/xml")
        if self.has("eb-no-yaml"):
            return Response(json.dumps(data), status, media_type="application/json")
        return Response(yaml.safe_dump(data), status, media_type="application/yaml")

    def session_doc(self, s: Session) -> dict[str, Any]:
        options = sorted(TRANSITIONS.get(s.phase, set()))
        meta: dict[str, Any] = {"uuid": s.uuid, "url": f"{self.base}/sessions/{s.uuid}"}
        if not self.has("eb-no-options"):
            meta["options"] = [
                {"kind": "uri:enum-value-option", "path": "phase", "values": options}
            ]
        return {
            "kind": KIND + "session/simple-execution-session.yaml",
            "meta": meta,
            "phase": "INITIAL"
            if self.has("eb-initial-offers") and s.phase == "OFFERED"
            else s.phase,
            "expires": s.expires.strftime("%Y-%m-%dT%H:%M:%SZ"),
        }

    def offerset_doc(self, o: OfferSetRecord) -> dict[str, Any]:
        return {
            "kind": KIND + "offerset/execution-offerset.yaml",
            "meta": {"uuid": o.uuid, "url": f"{self.base}/offersets/{o.uuid}"},
            "result": "YES",
            "offers": [self.session_doc(self.sessions[s]) for s in o.sessions],
        }

    async def body(self, request: Request) -> dict[str, Any]:
        raw = await request.body()
        ctype = request.headers.get("content-type", "")
        try:
            if "yaml" in ctype and not self.has("eb-no-yaml"):
                data = yaml.safe_load(raw)
            elif "json" in ctype:
                data = json.loads(raw)
            else:
                raise Problem(415, f"unsupported content type {ctype}")
        except (ValueError, yaml.YAMLError) as exc:
            raise Problem(400, f"body does not parse: {exc}") from None
        if not isinstance(data, dict):
            raise Problem(400, "body is not an object")
        return data

    async def post_requests(self, request: Request) -> Response:
        owner = self.user(request)
        data = await self.body(request)
        kind = (data.get("executable") or {}).get("kind")
        if kind not in KNOWN_EXECUTABLES and not self.has("eb-anything-goes"):
            raise Problem(422, f"executable.kind {kind!r} is not supported")
        record = OfferSetRecord(str(uuid.uuid4()), owner)
        expires = datetime.now(UTC) + timedelta(seconds=self.expiry)
        for _ in range(2):
            s = Session(str(uuid.uuid4()), owner, record.uuid, expires)
            self.sessions[s.uuid] = s
            record.sessions.append(s.uuid)
        self.offersets[record.uuid] = record
        if self.has("eb-no-location"):
            return Response(status_code=303)
        return Response(
            status_code=303, headers={"Location": f"{self.base}/offersets/{record.uuid}"}
        )

    def visible(self, owner: str, who: str) -> bool:
        return owner == who or self.has("eb-public-get")

    async def get_offerset(self, request: Request) -> Response:
        who = self.user(request)
        self.expire()
        record = self.offersets.get(request.path_params["uuid"])
        if record is None or not self.visible(record.owner, who):
            raise Problem(404, "no such offer set")
        return self.render(request, self.offerset_doc(record))

    async def get_session(self, request: Request) -> Response:
        who = self.user(request)
        self.expire()
        s = self.sessions.get(request.path_params["uuid"])
        if s is None and self.has("eb-unknown-200"):
            return self.render(request, {})
        if s is None or not self.visible(s.owner, who):
            raise Problem(404, "no such session")
        return self.render(request, self.session_doc(s))

    async def post_session(self, request: Request) -> Response:
        who = self.user(request)
        s = self.sessions.get(request.path_params["uuid"])
        if s is None or s.owner != who:
            raise Problem(404, "no such session")
        update = await self.body(request)
        if (
            update.get("kind") != "uri:enum-value-update"
            or str(update.get("path", "")).strip("/") != "phase"
        ):
            raise Problem(422, "only enum-value-update of phase is supported")
        value = str(update.get("value"))
        if self.has("eb-racy-accept"):
            await self.transition(s, value)
        else:
            async with self.lock:
                await self.transition(s, value)
        return self.render(request, self.session_doc(s))

    async def transition(self, s: Session, value: str) -> None:
        self.expire()
        if value == s.phase == "ACCEPTED" and not self.has("eb-accept-not-idempotent"):
            return  # idempotent
        if s.phase == "EXPIRED" and value == "ACCEPTED":
            raise Problem(410, "offer expired")
        if value not in TRANSITIONS.get(s.phase, set()):
            if self.has("eb-illegal-200"):
                return
            raise Problem(409, f"{s.phase} -> {value} is not allowed")
        if self.has("eb-racy-accept"):
            await asyncio.sleep(0.2)  # the check-then-act window
        if value == "CANCELLED" and self.has("eb-cancel-ignored"):
            return
        s.phase = value
        if value == "ACCEPTED" and not self.has("eb-siblings-stay"):
            for other in self.offersets[s.offerset].sessions:
                sibling = self.sessions[other]
                if sibling is not s and sibling.phase == "OFFERED":
                    sibling.phase = "REJECTED"

    def app(self) -> Starlette:
        def wrap(
            func: Callable[[Request], Awaitable[Response]],
        ) -> Callable[[Request], Awaitable[Response]]:
            async def endpoint(request: Request) -> Response:
                try:
                    return await func(request)
                except Problem as p:
                    body = {"status": p.status, "title": "error", "detail": p.detail}
                    return Response(
                        json.dumps(body), p.status, media_type="application/problem+json"
                    )

            return endpoint

        return Starlette(
            routes=[
                Route("/requests", wrap(self.post_requests), methods=["POST"]),
                Route("/offersets/{uuid}", wrap(self.get_offerset), methods=["GET"]),
                Route("/sessions/{uuid}", wrap(self.get_session), methods=["GET"]),
                Route("/sessions/{uuid}", wrap(self.post_session), methods=["POST"]),
            ]
        )
