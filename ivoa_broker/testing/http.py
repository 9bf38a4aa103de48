"""``StatefulHTTPFake``: an in-memory REST service on ``httpx.MockTransport``.

For adapters of REST platforms (CANFAR, OpenStack, JupyterHub...). Register
route handlers that read and change a shared ``state`` dict; hand
``fake.client()`` (or ``fake.transport``) to the adapter; inject faults with
``fail_next(route, 503 | exception | GARBAGE)``; check traffic with
``assert_calls``.

Example::

    fake = StatefulHTTPFake("https://api.test")
    fake.state["sessions"] = {}

    @fake.route("POST", "/sessions", name="create")
    def create(call: HTTPCall) -> tuple[int, JSON]:
        sid = str(len(call.state["sessions"]) + 1)
        call.state["sessions"][sid] = {"id": sid, "status": "Pending"}
        return 201, call.state["sessions"][sid]

    @fake.route("GET", "/sessions/{sid}")
    def get(call: HTTPCall) -> tuple[int, JSON]:
        s = call.state["sessions"].get(call.params["sid"])
        return (200, s) if s else (404, {"error": "no such session"})

    fake.fail_next("create", 503)
    async with fake.client() as client: ...
    fake.assert_calls(["POST /sessions", "GET /sessions/1"])
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Final

import httpx

from ivoa_broker.protocol import JSON

__all__ = ["GARBAGE", "HTTPCall", "RecordedRequest", "Route", "StatefulHTTPFake"]

#: ``fail_next(route, GARBAGE)``: answer 200 with a body that is not JSON.
GARBAGE: Final = "garbage"
GARBAGE_BODY = b"\x00<html>\xff not json {"

#: A handler returns a response, or ``(status, json_body)``.
Handler = Callable[["HTTPCall"], "httpx.Response | tuple[int, JSON]"]


@dataclass(frozen=True)
class HTTPCall:
    """What a handler sees: the request, its path parameters and the fake's state."""

    request: httpx.Request
    params: Mapping[str, str]
    state: dict[str, Any]

    @property
    def method(self) -> str:
        return self.request.method

    @property
    def query(self) -> Mapping[str, str]:
        return dict(self.request.url.params)

    def json(self) -> Any:
        """The request body parsed as JSON (``None`` when empty)."""
        body = self.request.content
        return json.loads(body) if body else None


@dataclass(frozen=True)
class RecordedRequest:
    """One request the fake received, with the route it matched (or ``None``)."""

    method: str
    path: str
    route: str | None
    status: int | None
    body: bytes

    @property
    def line(self) -> str:
        return f"{self.method} {self.path}"


@dataclass
class Route:
    name: str
    method: str
    regex: re.Pattern[str]
    handler: Handler


@dataclass
class _Fault:
    error: int | BaseException | str
    times: int = 1
    body: JSON = field(default_factory=lambda: {"error": "injected fault"})


def _compile(pattern: str) -> re.Pattern[str]:
    parts = re.split(r"\{(\w+)\}", pattern)
    out = []
    for i, part in enumerate(parts):
        out.append(f"(?P<{part}>[^/]+)" if i % 2 else re.escape(part))
    return re.compile("^" + "".join(out) + "/?$")


class StatefulHTTPFake:
    """An in-memory REST service (see module docs)."""

    def __init__(self, base_url: str = "https://fake.test") -> None:
        self.base_url = base_url
        self.state: dict[str, Any] = {}
        self.routes: list[Route] = []
        self.calls: list[RecordedRequest] = []
        self._faults: dict[str, list[_Fault]] = {}
        self.transport = httpx.MockTransport(self._handle)

    # ------------------------------------------------------------------ set-up

    def route(
        self, method: str, pattern: str, *, name: str | None = None
    ) -> Callable[[Handler], Handler]:
        """Decorator: register ``handler`` for ``method`` and a path ``pattern``.

        ``{name}`` segments become ``call.params["name"]``. The route's name
        (for ``fail_next``) defaults to ``"METHOD pattern"``.
        """

        def register(handler: Handler) -> Handler:
            self.add_route(method, pattern, handler, name=name)
            return handler

        return register

    def add_route(
        self, method: str, pattern: str, handler: Handler, *, name: str | None = None
    ) -> Route:
        route = Route(
            name or f"{method.upper()} {pattern}", method.upper(), _compile(pattern), handler
        )
        self.routes.append(route)
        return route

    def client(self, **kwargs: Any) -> httpx.AsyncClient:
        """An ``httpx.AsyncClient`` bound to this fake."""
        return httpx.AsyncClient(transport=self.transport, base_url=self.base_url, **kwargs)

    def fail_next(
        self,
        route: str,
        error: int | BaseException | str,
        *,
        times: int = 1,
        body: JSON = None,
    ) -> None:
        """The next ``times`` requests to ``route`` (a route name, or ``"*"``) fail.

        ``error`` is an HTTP status (answered with a JSON ``body``), an
        exception the transport raises (``httpx.ConnectError(...)``,
        ``httpx.ReadTimeout(...)``), or :data:`GARBAGE` (200 with a non-JSON body).
        """
        if route != "*" and route not in {r.name for r in self.routes}:
            raise KeyError(f"no route named {route!r}; routes: {[r.name for r in self.routes]}")
        fault = _Fault(error, times)
        if body is not None:
            fault.body = body
        self._faults.setdefault(route, []).append(fault)

    def pending_faults(self) -> int:
        """How many injected faults have not fired yet."""
        return sum(f.times for faults in self._faults.values() for f in faults)

    # ------------------------------------------------------------------ serving

    def _take_fault(self, route: str) -> _Fault | None:
        for key in (route, "*"):
            faults = self._faults.get(key)
            if faults:
                fault = faults[0]
                fault.times -= 1
                if fault.times <= 0:
                    faults.pop(0)
                return fault
        return None

    def _handle(self, request: httpx.Request) -> httpx.Response:
        path = request.url.path
        for route in self.routes:
            match = route.regex.match(path)
            if route.method != request.method or match is None:
                continue
            fault = self._take_fault(route.name)
            response = self._fault_response(fault) if fault else None
            if response is None:
                result = route.handler(HTTPCall(request, match.groupdict(), self.state))
                response = (
                    result
                    if isinstance(result, httpx.Response)
                    else httpx.Response(result[0], json=result[1])
                )
            self._record(request, route.name, response.status_code)
            return response
        self._record(request, None, 404)
        return httpx.Response(404, json={"error": f"no route for {request.method} {path}"})

    def _fault_response(self, fault: _Fault) -> httpx.Response:
        if isinstance(fault.error, BaseException):
            raise fault.error
        if fault.error == GARBAGE:
            return httpx.Response(
                200, content=GARBAGE_BODY, headers={"content-type": "application/json"}
            )
        if isinstance(fault.error, int):
            return httpx.Response(fault.error, json=fault.body)
        raise ValueError(f"unknown fault {fault.error!r}")

    def _record(self, request: httpx.Request, route: str | None, status: int) -> None:
        self.calls.append(
            RecordedRequest(request.method, request.url.path, route, status, request.content)
        )

    # ------------------------------------------------------------------ asserts

    def lines(self) -> list[str]:
        """``"METHOD /path"`` of every request so far, in order."""
        return [c.line for c in self.calls]

    def assert_calls(self, expected: Sequence[str], *, exact: bool = True) -> None:
        """Requests match ``expected`` (``"METHOD /path"`` or a route name) in order.

        With ``exact=False`` the expected calls need only appear as a subsequence.
        """
        got = self.calls

        def same(want: str, call: RecordedRequest) -> bool:
            return want in (call.line, call.route)

        if exact:
            ok = len(got) == len(expected) and all(map(same, expected, got))
        else:
            it = iter(got)
            ok = all(any(same(want, call) for call in it) for want in expected)
        if not ok:
            raise AssertionError(f"calls {self.lines()} do not match {list(expected)}")

    def reset_calls(self) -> None:
        self.calls.clear()
