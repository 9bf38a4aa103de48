"""The handle a check works with: HTTP with evidence, expectations, XML helpers."""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any, NoReturn
from urllib.parse import urlencode

import httpx
from lxml import etree

from ivoa_broker_conformance.errors import CheckFailed, CheckSkipped
from ivoa_broker_conformance.model import Exchange
from ivoa_broker_conformance.schemas import Kind
from ivoa_broker_conformance.session import Session
from ivoa_broker_conformance.xmlutil import NotXML, parse

EXCERPT = 600
_KEPT_HEADERS = (
    "content-type",
    "location",
    "www-authenticate",
    "last-modified",
    "content-length",
    "allow",
)
Params = list[tuple[str, str]] | Mapping[str, str] | None


class CheckRun:
    """Evidence and verdict collector for one check."""

    def __init__(self, session: Session) -> None:
        self.session = session
        self.config = session.config
        self.evidence: list[Exchange] = []
        self.warnings: list[str] = []
        self.notes: list[str] = []

    # -- verdicts ---------------------------------------------------------------------------
    def expect(self, condition: object, message: str) -> None:
        if not condition:
            raise CheckFailed(message)

    def fail(self, message: str) -> NoReturn:
        raise CheckFailed(message)

    def should(self, condition: object, message: str) -> bool:
        """A SHOULD-strength sub-rule: a miss turns a pass into a warning."""
        if not condition:
            self.warnings.append(message)
        return bool(condition)

    def skip(self, reason: str) -> NoReturn:
        raise CheckSkipped(reason)

    def note(self, message: str) -> None:
        self.notes.append(message)

    # -- HTTP --------------------------------------------------------------------------------
    async def request(
        self,
        method: str,
        url: str,
        *,
        auth: str = "main",
        params: Params = None,
        data: Params = None,
        files: Any = None,
        content: bytes | None = None,
        headers: Mapping[str, str | None] | None = None,
        timeout: float | None = None,
        record: bool = True,
    ) -> httpx.Response:
        """Send one request (never following redirects) and keep it as evidence."""
        all_headers: dict[str, str | None] = dict(self.session.auth_headers(auth))
        if data is not None:  # httpx only takes dicts; forms may repeat names
            pairs = list(data.items()) if isinstance(data, Mapping) else list(data)
            content = urlencode(pairs).encode()
            data = None
            all_headers["Content-Type"] = "application/x-www-form-urlencoded"
        all_headers.update(headers or {})
        query: list[tuple[str, str | int | float | bool | None]] | None = None
        if params is not None:
            query = list(params.items()) if isinstance(params, Mapping) else list(params)
        request = self.session.client.build_request(
            method,
            url,
            params=query,
            data=data,
            files=files,
            content=content,
            headers={k: v for k, v in all_headers.items() if v is not None},
            timeout=timeout if timeout is not None else self.config.request_timeout,
        )
        for name, value in all_headers.items():  # None removes a default header
            if value is None and name in request.headers:
                del request.headers[name]
        line = f"{method} {request.url}"
        body = _form_excerpt(request)
        if body:
            line += f"  [{body}]"
        if auth != "main":
            line += f"  (as {'anonymous' if auth == 'none' else 'the other user'})"
        start = time.monotonic()
        try:
            response = await self.session.client.send(request)
        except httpx.TimeoutException as exc:
            elapsed = time.monotonic() - start
            self.evidence.append(Exchange(line, None, {}, f"timeout: {exc!r}", elapsed))
            raise CheckFailed(f"{method} {request.url} timed out after {elapsed:.1f} s") from exc
        except httpx.HTTPError as exc:
            elapsed = time.monotonic() - start
            self.evidence.append(Exchange(line, None, {}, f"error: {exc!r}", elapsed))
            raise CheckFailed(f"{method} {request.url} failed: {exc!r}") from exc
        elapsed = time.monotonic() - start
        kept = {k: v for k, v in response.headers.items() if k.lower() in _KEPT_HEADERS}
        excerpt = response.content[:EXCERPT].decode("utf-8", "replace")
        if len(response.content) > EXCERPT:
            excerpt += " …"
        if record:
            self.evidence.append(Exchange(line, response.status_code, kept, excerpt, elapsed))
        return response

    async def get(self, url: str, **kw: Any) -> httpx.Response:
        return await self.request("GET", url, **kw)

    async def post(self, url: str, **kw: Any) -> httpx.Response:
        return await self.request("POST", url, **kw)

    async def delete(self, url: str, **kw: Any) -> httpx.Response:
        return await self.request("DELETE", url, **kw)

    # -- documents ---------------------------------------------------------------------------
    def xml(self, response: httpx.Response, what: str = "response") -> etree._Element:
        try:
            return parse(response.content)
        except NotXML as exc:
            raise CheckFailed(f"{what}: {exc}") from exc

    def expect_status(self, response: httpx.Response, *codes: int) -> None:
        self.expect(
            response.status_code in codes,
            f"{response.request.method} {response.request.url} gave "
            f"{response.status_code}, expected {' or '.join(map(str, codes))}",
        )

    def expect_xml_type(self, response: httpx.Response) -> None:
        ctype = response.headers.get("content-type", "").split(";")[0].strip().lower()
        self.expect(
            ctype in ("application/xml", "text/xml"),
            f"content type {ctype or '(none)'} is not application/xml or text/xml",
        )

    def expect_valid(self, kind: Kind, doc: etree._Element, what: str) -> None:
        """Validate against the XSD when available; say so when it is not."""
        errors = self.session.schemas.validate(kind, doc)
        if errors is None:
            self.note(f"{what}: XSD validation skipped ({self.session.schemas.why_not[kind]})")
            return
        self.expect(not errors, f"{what} is not valid against the XSD: " + "; ".join(errors))
        self.note(f"{what}: valid against the {kind} XSD")


def _form_excerpt(request: httpx.Request) -> str:
    ctype = request.headers.get("content-type", "")
    if request.method not in ("POST", "PUT"):
        return ""
    try:
        raw = request.content
    except httpx.RequestNotRead:
        return "streamed body"
    if ctype.startswith("application/x-www-form-urlencoded"):
        return raw.decode("utf-8", "replace")[:200]
    if ctype.startswith("multipart/form-data"):
        return "multipart/form-data body"
    if raw:
        return f"{ctype or 'body'}: " + raw[:200].decode("utf-8", "replace")
    return ""
