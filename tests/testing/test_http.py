"""StatefulHTTPFake: routes over state, faults, garbage, call log."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator

import httpx
import pytest

from ivoa_broker.testing import GARBAGE, HTTPCall, StatefulHTTPFake


@pytest.fixture
def fake() -> StatefulHTTPFake:
    fake = StatefulHTTPFake("https://api.test")
    fake.state["items"] = {}

    @fake.route("POST", "/items", name="create")
    def create(call: HTTPCall) -> tuple[int, object]:
        item = {"id": str(len(call.state["items"]) + 1), **call.json()}
        call.state["items"][item["id"]] = item
        return 201, item

    @fake.route("GET", "/items/{iid}")
    def get(call: HTTPCall) -> tuple[int, object]:
        item = call.state["items"].get(call.params["iid"])
        return (200, item) if item else (404, {"error": "gone"})

    @fake.route("DELETE", "/items/{iid}")
    def delete(call: HTTPCall) -> httpx.Response:
        call.state["items"].pop(call.params["iid"])
        return httpx.Response(204)

    return fake


@pytest.fixture
async def client(fake: StatefulHTTPFake) -> AsyncIterator[httpx.AsyncClient]:
    async with fake.client() as c:
        yield c


async def test_routes_share_state(fake: StatefulHTTPFake, client: httpx.AsyncClient) -> None:
    created = await client.post("/items", json={"name": "a"})
    assert created.status_code == 201
    assert (await client.get("/items/1")).json() == {"id": "1", "name": "a"}
    assert (await client.delete("/items/1")).status_code == 204
    assert (await client.get("/items/1")).status_code == 404
    assert fake.state["items"] == {}


async def test_unknown_route_is_404_and_logged(
    fake: StatefulHTTPFake, client: httpx.AsyncClient
) -> None:
    response = await client.put("/items/1")
    assert response.status_code == 404
    assert fake.calls[-1].route is None


async def test_fail_next_status_fires_once(
    fake: StatefulHTTPFake, client: httpx.AsyncClient
) -> None:
    fake.fail_next("create", 503)
    assert (await client.post("/items", json={})).status_code == 503
    assert fake.state["items"] == {}  # the handler did not run
    assert (await client.post("/items", json={})).status_code == 201
    assert fake.pending_faults() == 0


async def test_fail_next_exception_and_times(
    fake: StatefulHTTPFake, client: httpx.AsyncClient
) -> None:
    fake.fail_next("GET /items/{iid}", httpx.ConnectError("refused"), times=2)
    for _ in range(2):
        with pytest.raises(httpx.ConnectError):
            await client.get("/items/1")
    assert (await client.get("/items/1")).status_code == 404


async def test_garbage_body(fake: StatefulHTTPFake, client: httpx.AsyncClient) -> None:
    fake.fail_next("create", GARBAGE)
    response = await client.post("/items", json={})
    assert response.status_code == 200
    with pytest.raises((json.JSONDecodeError, UnicodeDecodeError)):
        response.json()


async def test_wildcard_fault_and_custom_body(
    fake: StatefulHTTPFake, client: httpx.AsyncClient
) -> None:
    fake.fail_next("*", 401, body={"message": "token expired"})
    response = await client.get("/items/7")
    assert (response.status_code, response.json()) == (401, {"message": "token expired"})


def test_fail_next_unknown_route_is_refused(fake: StatefulHTTPFake) -> None:
    with pytest.raises(KeyError, match="no route named"):
        fake.fail_next("nope", 500)


async def test_assert_calls(fake: StatefulHTTPFake, client: httpx.AsyncClient) -> None:
    await client.post("/items", json={"name": "a"})
    await client.get("/items/1")
    await client.get("/items/2")
    fake.assert_calls(["create", "GET /items/1", "GET /items/2"])
    fake.assert_calls(["create", "GET /items/2"], exact=False)
    with pytest.raises(AssertionError):
        fake.assert_calls(["create", "GET /items/2"])
    with pytest.raises(AssertionError):
        fake.assert_calls(["GET /items/2", "create"], exact=False)
    assert fake.calls[0].body == b'{"name":"a"}'
    fake.reset_calls()
    fake.assert_calls([])
