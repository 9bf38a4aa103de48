"""error_for_status table, Retry-After parsing and the httpx boundary."""

from __future__ import annotations

from datetime import UTC, datetime

import httpx
import pytest

from ivoa_broker.protocol import (
    AdapterError,
    AuthError,
    Conflict,
    FatalError,
    InvalidRequest,
    NotFound,
    TransientError,
)
from ivoa_broker.toolkit import HttpBoundary, error_for_status, parse_retry_after


@pytest.mark.parametrize(
    ("status", "kind"),
    [
        (400, InvalidRequest),
        (422, InvalidRequest),
        (401, AuthError),
        (403, AuthError),
        (404, NotFound),
        (410, NotFound),
        (409, Conflict),
        (429, TransientError),
        (500, TransientError),
        (503, TransientError),
        (418, FatalError),
        (302, FatalError),
    ],
)
def test_status_table(status: int, kind: type[AdapterError]) -> None:
    error = error_for_status(status, "m", detail="d", retry_after=3.0)
    assert type(error) is kind
    assert (error.message, error.detail) == ("m", "d")
    if isinstance(error, TransientError):
        assert error.retry_after == 3.0


def test_retry_after_seconds_and_dates() -> None:
    now = datetime(2026, 1, 1, 12, 0, 0, tzinfo=UTC)
    assert parse_retry_after("7") == 7.0
    assert parse_retry_after("Thu, 01 Jan 2026 12:00:30 GMT", now=now) == 30.0
    assert parse_retry_after("Thu, 01 Jan 2026 11:00:00 GMT", now=now) == 0.0
    assert parse_retry_after("soon") is None
    assert parse_retry_after(None) is None


async def test_boundary_redacts_and_maps() -> None:
    def answer(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/busy":
            return httpx.Response(503, headers={"Retry-After": "2"}, text="busy")
        if request.url.path == "/down":
            raise httpx.ConnectError("refused", request=request)
        return httpx.Response(400, text="bad token s3cret in   request")

    boundary = HttpBoundary("Demo", secrets=["s3cret"])
    async with httpx.AsyncClient(
        transport=httpx.MockTransport(answer), base_url="http://demo"
    ) as http:
        with pytest.raises(InvalidRequest) as bad:
            boundary.check(await http.get("/x"), "list")
        assert "s3cret" not in bad.value.message and "***" in bad.value.message
        assert "s3cret" not in (bad.value.detail or "")
        with pytest.raises(TransientError) as busy:
            boundary.check(await http.get("/busy"), "list")
        assert busy.value.retry_after == 2.0
        with pytest.raises(TransientError), boundary.calling("list"):
            await http.get("/down")
        ok = httpx.Response(200, text="fine")
        assert boundary.check(ok, "list") is ok
