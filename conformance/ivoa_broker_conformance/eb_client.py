"""ExecutionBroker helpers: post a request, read offer sets and sessions, send updates.

Paths follow the newest Calycopis OpenAPI (v1.0, 2026): POST /requests -> 303
/offersets/{uuid}; GET /offersets/{uuid}; GET|POST /sessions/{uuid}.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any
from urllib.parse import urljoin

import httpx

from ivoa_broker_conformance.probe import CheckRun

KINDS = "https://www.purl.org/ivoa.net/Calycopis-openapi/schema/v1.0/kinds/"
DEFAULT_REQUEST: dict[str, Any] = {
    "executable": {
        "kind": KINDS + "executable/docker-container.yaml",
        "meta": {"name": "conformance-echo"},
        "image": {"locations": ["docker.io/library/busybox:latest"]},
        "command": ["echo", "hello"],
    },
    "compute": {
        "kind": KINDS + "compute/simple-compute-resource.yaml",
        "cores": {"min": 1, "max": 1},
        "memory": {"min": 1, "max": 1},
    },
    "schedule": {"requested": {"duration": "PT10M"}},
}
JSON = {"Accept": "application/json"}
SESSION_ACTIVE = (
    "ACCEPTED",
    "WAITING",
    "PREPARING",
    "AVAILABLE",
    "RUNNING",
    "RELEASING",
    "COMPLETED",
    "FAILED",
)


@dataclass(frozen=True)
class OfferSet:
    url: str
    data: dict[str, Any]

    @property
    def offers(self) -> list[dict[str, Any]]:
        offers = self.data.get("offers") or []
        return [o for o in offers if isinstance(o, dict)]


def request_body(t: CheckRun) -> tuple[bytes, str]:
    if t.config.eb_request is not None:
        return t.config.eb_request, t.config.eb_request_type
    return json.dumps(DEFAULT_REQUEST).encode(), "application/json"


def load_json(t: CheckRun, r: httpx.Response, what: str) -> dict[str, Any]:
    try:
        data = json.loads(r.content)
    except ValueError as exc:
        t.fail(f"{what} is not JSON ({r.headers.get('content-type')}): {exc}")
    t.expect(isinstance(data, dict), f"{what} is not a JSON object")
    assert isinstance(data, dict)
    return data


async def post_request(
    t: CheckRun, *, content_type: str | None = None, body: bytes | None = None, auth: str = "main"
) -> OfferSet:
    """POST /requests; skip the check when the service has no EB API."""
    default_body, default_type = request_body(t)
    r = await t.post(
        t.config.base + "/requests",
        content=body if body is not None else default_body,
        headers={"Content-Type": content_type or default_type, **JSON},
        auth=auth,
    )
    if r.status_code in (404, 405, 501):
        t.skip(f"no ExecutionBroker API: POST /requests answered {r.status_code}")
    t.expect(
        r.status_code in (200, 303),
        f"POST /requests answered {r.status_code}, expected 303 (or 200)",
    )
    if r.status_code == 303:
        location = r.headers.get("location")
        t.expect(location, "303 from POST /requests without Location")
        url = urljoin(str(r.request.url), location or "")
        got = await t.get(url, headers=JSON, auth=auth)
        t.expect(got.status_code == 200, f"GET offer set answered {got.status_code}")
        return OfferSet(url, load_json(t, got, "offer set"))
    data = load_json(t, r, "offer set")
    meta = data.get("meta") or {}
    return OfferSet(str(meta.get("url") or ""), data)


async def offer_set(t: CheckRun, *, fresh: bool = False, need: int = 1) -> OfferSet:
    """An offer set answering YES with at least ``need`` offers (shared unless ``fresh``)."""
    if fresh:
        found = await post_request(t)
    else:
        found = await t.session.once("eb-offerset", lambda: post_request(t))
        t.note(f"uses offer set {found.url} created earlier in this run")
    if found.data.get("result") != "YES":
        messages = (found.data.get("meta") or {}).get("messages")
        t.skip(
            f"the broker said {found.data.get('result')!r} to the request "
            f"(messages: {messages}); pass --eb-request with a request it can satisfy"
        )
    if len(found.offers) < need:
        t.skip(f"the offer set has {len(found.offers)} offer(s); this check needs {need}")
    return found


def session_url(t: CheckRun, offer: dict[str, Any]) -> str:
    meta = offer.get("meta") or {}
    if meta.get("url"):
        return urljoin(t.config.base + "/", str(meta["url"]))
    return f"{t.config.base}/sessions/{meta.get('uuid')}"


async def get_session(t: CheckRun, url: str, *, auth: str = "main") -> dict[str, Any]:
    r = await t.get(url, headers=JSON, auth=auth)
    t.expect(r.status_code == 200, f"GET session {url} answered {r.status_code}")
    return load_json(t, r, "session")


async def update_phase(t: CheckRun, url: str, value: str, *, auth: str = "main") -> httpx.Response:
    body = {"kind": "uri:enum-value-update", "path": "phase", "value": value}
    return await t.post(
        url,
        content=json.dumps(body).encode(),
        auth=auth,
        headers={"Content-Type": "application/json", **JSON},
    )


def phase_options(session: dict[str, Any]) -> set[str] | None:
    """Values of the enum option on ``phase`` in ``meta.options`` (None if no options)."""
    options = (session.get("meta") or {}).get("options")
    if not options:
        return None
    values: set[str] = set()
    for option in options:
        if isinstance(option, dict) and str(option.get("path", "")).strip("/") == "phase":
            values |= {str(v) for v in option.get("values") or []}
    return values
