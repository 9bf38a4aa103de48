"""The handle a check works with: HTTP with evidence, expectations, XML helpers."""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any, NoReturn
from urllib.parse import urlencode

import httpx
from lxml import etree

from ivoa_broker_conformance.errors import CheckBlocked, CheckFailed, CheckSkipped
from ivoa_broker_conformance.model import Exchange
from ivoa_broker_conformance.schemas import Kind
from ivoa_broker_conformance.session import Session
from ivoa_broker_conformance.xmlutil import NotXML, parse

EXCERPT = 600
#: the whole body is kept for the JSON/HTML reports up to this many bytes
BODY_LIMIT = 256 * 1024
#: a focused element is shown up to this many characters
FOCUS_LIMIT = 2000
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

    def __init__(self, session: Session, check_id: str = "") -> None:
        self.session = session
        self.config = session.config
        self.check_id = check_id
        self.evidence: list[Exchange] = []
        self.warnings: list[str] = []
        self.notes: list[str] = []
        #: parsed documents -> the exchange they came from (for focused evidence)
        self._documents: dict[int, Exchange] = {}
        self._by_response: dict[int, Exchange] = {}

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

    def block(self, message: str) -> NoReturn:
        raise CheckBlocked(message)

    def focus(self, el: etree._Element | None) -> None:
        """Point the evidence of the document holding ``el`` at that element (XPath and the
        element's own text), so a report shows the failing part of a long document."""
        if el is None:
            return
        tree = el.getroottree()
        exchange = self._documents.get(id(tree.getroot()))
        if exchange is None or exchange.focus_path:
            return
        exchange.focus_path = _xpath(el)
        text = etree.tostring(el, encoding="unicode", with_tail=False)
        if len(text) > FOCUS_LIMIT:
            text = text[:FOCUS_LIMIT] + " …"
        exchange.focus = text

    def expect_at(self, condition: object, el: etree._Element | None, message: str) -> None:
        """``expect`` that also focuses the evidence on ``el`` when it fails."""
        if not condition:
            self.focus(el)
            raise CheckFailed(message)

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
            body = response.content[:BODY_LIMIT].decode("utf-8", "replace")
            exchange = Exchange(line, response.status_code, kept, excerpt, elapsed, body)
            self.evidence.append(exchange)
            self._by_response[id(response)] = exchange
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
            root = parse(response.content)
        except NotXML as exc:
            ctype = response.headers.get("content-type", "").split(";")[0].strip()
            raise CheckFailed(f"{what} ({ctype or 'no content type'}): {exc}") from exc
        exchange = self._by_response.get(id(response))
        if exchange is not None:
            self._documents[id(root)] = exchange
        return root

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
        outcome = self.session.schemas.validate(kind, doc)
        if outcome is None:
            self.note(f"{what}: XSD validation skipped ({self.session.schemas.why_not[kind]})")
            return
        for gap in outcome.not_validated:
            self.note(f"{what}: not validated: {gap}")
        if outcome.errors:
            self.focus(outcome.first_element)
            self.fail(f"{what} is not valid against the XSD: " + "; ".join(outcome.errors))
        self.note(
            f"{what}: valid against the {kind} XSD"
            + (" (except the parts not validated)" if outcome.not_validated else "")
        )


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


def _xpath(el: etree._Element) -> str:
    """A readable XPath of ``el``: prefixed names where the document declares a prefix."""
    steps: list[str] = []
    node: etree._Element | None = el
    while node is not None:
        qn = etree.QName(node)
        prefix = next((p for p, ns in (node.nsmap or {}).items() if ns == qn.namespace and p), None)
        name = f"{prefix}:{qn.localname}" if prefix else qn.localname
        up = node.getparent()
        if up is not None:
            same = [c for c in up if isinstance(c.tag, str) and c.tag == node.tag]
            if len(same) > 1:
                name += f"[{same.index(node) + 1}]"
        steps.append(name)
        node = up
    return "/" + "/".join(reversed(steps))
