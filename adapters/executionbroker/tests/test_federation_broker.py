"""The federation end to end: real broker processes on loopback (see conftest.py).
Clients talk only to the front broker, whose only platforms are the remote nodes."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import requests
from federation_support import FRONT_TOKENS, IMAGE, NODE_TOKENS, Broker, Federation, bearer
from pyvo.dal.tap import AsyncTAPJob

from ivoa_broker.testing.broker_http import ACCEPT, wait_phase

KIND = "https://www.purl.org/ivoa.net/Calycopis-openapi/schema/v1.0/kinds/"
JSON = {"Accept": "application/json"}


def eb_request(cores: int = 1, code: str = "print(6*7)", name: str = "fed") -> dict[str, Any]:
    return {
        "executable": {
            "kind": KIND + "executable/docker-container.yaml",
            "meta": {"name": name},
            "image": {"locations": [IMAGE]},
            "command": ["python3", "-c", code],
        },
        "compute": {
            "kind": KIND + "compute/simple-compute-resource.yaml",
            "cores": {"min": cores, "max": cores},
        },
        "schedule": {"requested": {"duration": "PT10M"}},
    }


def client(url: str, token: str) -> httpx.Client:
    return httpx.Client(base_url=url, headers={**bearer(token), **JSON}, timeout=30)


@pytest.fixture
def alice(federation: Federation) -> Iterator[httpx.Client]:
    with client(federation.front.url, FRONT_TOKENS["alice"]) as c:
        yield c


@pytest.fixture
def bob(federation: Federation) -> Iterator[httpx.Client]:
    with client(federation.front.url, FRONT_TOKENS["bob"]) as c:
        yield c


def ask(c: httpx.Client, doc: dict[str, Any], **headers: str) -> dict[str, Any]:
    response = c.post("/requests", json=doc, headers=headers)
    assert response.status_code == 303, response.text
    body: dict[str, Any] = response.json()
    return body


def messages(doc: dict[str, Any]) -> list[str]:
    return [str(m.get("message")) for m in (doc.get("meta") or {}).get("messages", [])]


def wait_job(c: httpx.Client, job_id: str, phases: set[str], limit: float = 60) -> str:
    return wait_phase(c, f"/jobs/{job_id}", phases, limit)


def offers_by_platform(offerset: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {o["meta"]["name"]: o for o in offerset["offers"]}


# ------------------------------------------------------------------- offers


def test_offers_come_from_both_nodes_named_with_their_reasons(
    alice: httpx.Client, federation: Federation
) -> None:
    offerset = ask(alice, eb_request())
    assert offerset["result"] == "YES"
    found = offers_by_platform(offerset)
    assert set(found) == {"a", "b"}
    assert "node-a" in found["a"]["meta"]["description"]
    assert "node-b" in found["b"]["meta"]["description"]
    # the remote's own NO (its plain local platform runs no images) reaches the front
    notes = " ".join(messages(found["a"]))
    assert "node-a" in notes and "cannot run container images" in notes
    # no front offer outlives the remote one it stands for
    with client(federation.a.url, NODE_TOKENS["alice"]) as node:
        remote = node.get("/offersets", params={"last": 1}).json().get("offersets", [])[0]
    latest_remote = max(o["expires"] for o in remote["offers"])
    assert found["a"]["expires"] <= latest_remote


def test_a_request_too_big_for_the_small_node_is_offered_by_the_big_one(
    alice: httpx.Client,
) -> None:
    offerset = ask(alice, eb_request(cores=2))
    assert set(offers_by_platform(offerset)) == {"b"}
    text = " ".join(messages(offerset))
    assert "a: node-a:" in text and "at most 1" in text


def test_a_header_with_this_broker_or_too_many_hops_is_refused(
    alice: httpx.Client, federation: Federation
) -> None:
    response = alice.post("/requests", json=eb_request(), headers={"X-IVOA-Broker-Hops": "x,front"})
    assert response.status_code == 508, response.text
    with client(federation.b.url, NODE_TOKENS["alice"]) as node:
        many = ",".join(f"hop{i}" for i in range(8))
        response = node.post("/requests", json=eb_request(), headers={"X-IVOA-Broker-Hops": many})
    assert response.status_code == 508


# ------------------------------------------------------------ accept and run


def test_accepted_offer_runs_on_the_node_and_only_its_owner_sees_it(
    alice: httpx.Client, bob: httpx.Client, federation: Federation
) -> None:
    offerset = ask(alice, eb_request(code="print(6*7)", name="owned"))
    chosen = offers_by_platform(offerset)["b"]
    sid = chosen["meta"]["uuid"]
    accepted = alice.post(f"/sessions/{sid}", json=ACCEPT)
    assert accepted.status_code == 200, accepted.text
    assert wait_job(alice, sid, {"COMPLETED", "ERROR", "ABORTED"}) == "COMPLETED"
    results = alice.get(f"/jobs/{sid}/results", headers={"Accept": "application/xml"})
    hrefs = [part.split('"')[0] for part in results.text.split('xlink:href="')[1:]]
    assert hrefs
    bodies = [alice.get(h).text for h in hrefs]
    assert any("42" in b for b in bodies)
    # the front keeps owners apart ...
    assert bob.get(f"/sessions/{sid}").status_code == 404
    assert all(bob.get(h).status_code in (403, 404) for h in hrefs)
    # ... and so does the node: the session there is alice's remote account's
    with client(federation.b.url, NODE_TOKENS["alice"]) as node:
        mine = node.get("/sessions").json().get("sessions", [])
    with client(federation.b.url, NODE_TOKENS["bob"]) as node:
        theirs = node.get("/sessions").json().get("sessions", [])
    with client(federation.b.url, NODE_TOKENS["svc"]) as node:
        service = node.get("/sessions").json().get("sessions", [])
    done = [s for s in mine if s["phase"] == "COMPLETED"]
    assert done, mine
    assert not [s for s in theirs if s["phase"] == "COMPLETED"]
    assert {s["meta"]["uuid"] for s in done}.isdisjoint({s["meta"]["uuid"] for s in service})


def test_pyvo_runs_a_job_through_the_front_broker_on_a_node(federation: Federation) -> None:
    session = requests.Session()
    session.headers.update(bearer(FRONT_TOKENS["alice"]))
    r = session.post(
        f"{federation.front.url}/jobs",
        data={"cmd": "python3", "args": ["-c", "print(6*7)"], "cores": "1", "platform": "a"},
        allow_redirects=False,
    )
    assert r.status_code == 303, r.text
    job = AsyncTAPJob(r.headers["Location"], session=session)
    job.execution_duration = 600
    job.run().wait(timeout=60)
    job.raise_if_error()
    assert job.phase == "COMPLETED"
    assert any("42" in session.get(u).text for u in job.result_uris)
    job.delete()


def test_remote_offer_expiry_is_respected(alice: httpx.Client, federation: Federation) -> None:
    """Node b's offers live 6 s (the front's own ttl is 300 s): the front's copy
    expires with the remote's, so accepting later is refused and nothing runs."""
    offerset = ask(alice, eb_request(name="late"))
    chosen = offers_by_platform(offerset)["b"]
    deadline = time.monotonic() + 30
    while alice.get(f"/sessions/{chosen['meta']['uuid']}").json()["phase"] == "OFFERED":
        assert time.monotonic() < deadline
        time.sleep(0.5)
    late = alice.post(f"/sessions/{chosen['meta']['uuid']}", json=ACCEPT)
    assert late.status_code == 410, late.text
    assert alice.get(f"/jobs/{chosen['meta']['uuid']}").status_code == 404


# ---------------------------------------------------------- remote restart


def test_a_node_killed_while_a_job_runs_there_is_reattached_after_restart(
    alice: httpx.Client, federation: Federation
) -> None:
    code = "import time; time.sleep(6); print('survived')"
    created = alice.post(
        "/jobs",
        data={"cmd": "python3", "args": ["-c", code], "platform": "a", "PHASE": "RUN"},
    )
    assert created.status_code == 303, created.text
    job_id = created.headers["location"].rstrip("/").rsplit("/", 1)[-1]
    assert wait_job(alice, job_id, {"EXECUTING", "COMPLETED", "ERROR"}) == "EXECUTING"
    federation.a.kill()
    try:
        # a down node is named in the offer set, and the other still offers
        offerset = ask(alice, eb_request(name="while-down"))
        assert set(offers_by_platform(offerset)) == {"b"}
        assert any("node-a" in m for m in messages(offerset)), messages(offerset)
        assert alice.get(f"/jobs/{job_id}/phase").text.strip() == "EXECUTING"
    finally:
        federation.a.start()
    assert wait_job(alice, job_id, {"COMPLETED", "ERROR", "ABORTED"}) == "COMPLETED"
    results = alice.get(f"/jobs/{job_id}/results", headers={"Accept": "application/xml"})
    hrefs = [part.split('"')[0] for part in results.text.split('xlink:href="')[1:]]
    assert any("survived" in alice.get(h).text for h in hrefs)


# --------------------------------------------------------------------- loops


def test_two_front_brokers_pointing_at_each_other_do_not_loop(
    loop: tuple[Broker, Broker],
) -> None:
    one, two = loop
    with client(one.url, FRONT_TOKENS["alice"]) as c:
        offerset = ask(c, eb_request(name="loop"))
        assert offerset["result"] == "NO"
        assert any("loop" in m for m in messages(offerset)), messages(offerset)
        assert len(c.get("/offersets").json().get("offersets", [])) == 1
    with client(two.url, NODE_TOKENS["alice"]) as c:
        # the forwarded request reached two once, and two's forward back was refused
        assert len(c.get("/offersets").json().get("offersets", [])) == 1
    assert (two.workdir / "broker-work" / "broker-id").read_text().strip()


# ------------------------------------------------- atomic accept, siblings


def node_offers(node: Broker, token: str) -> list[dict[str, Any]]:
    """The offers of the node's newest offer set seen with ``token``."""
    with client(node.url, token) as c:
        sets = c.get("/offersets", params={"last": 1}).json().get("offersets", [])
    offers: list[dict[str, Any]] = sets[0]["offers"] if sets else []
    return offers


def test_a_remote_that_refuses_the_accept_fails_it_and_no_sibling_is_lost(
    alice: httpx.Client, federation: Federation
) -> None:
    offerset = ask(alice, eb_request(name="atomic"))
    found = offers_by_platform(offerset)
    # someone on node b rejects the remote offer behind the front's "b" offer
    with client(federation.b.url, NODE_TOKENS["alice"]) as node:
        for remote in node_offers(federation.b, NODE_TOKENS["alice"]):
            rejected = node.post(
                f"/sessions/{remote['meta']['uuid']}", json={**ACCEPT, "value": "REJECTED"}
            )
            assert rejected.status_code == 200, rejected.text
    b_id, a_id = found["b"]["meta"]["uuid"], found["a"]["meta"]["uuid"]
    refused = alice.post(f"/sessions/{b_id}", json=ACCEPT)
    assert refused.status_code == 409, refused.text
    assert "node-b" in refused.json()["detail"]
    assert alice.get(f"/jobs/{b_id}").status_code == 404
    after = alice.get(f"/offersets/{offerset['meta']['uuid']}").json()
    assert {o["meta"]["uuid"]: o["phase"] for o in after["offers"]} == {
        b_id: "OFFERED",
        a_id: "OFFERED",
    }
    # the sibling is still there, and runs
    assert alice.post(f"/sessions/{a_id}", json=ACCEPT).status_code == 200
    assert wait_job(alice, a_id, {"COMPLETED", "ERROR", "ABORTED"}) == "COMPLETED"


def test_accepting_one_offer_rejects_the_unchosen_remote_offers(
    alice: httpx.Client, federation: Federation
) -> None:
    offerset = ask(alice, eb_request(name="siblings"))
    found = offers_by_platform(offerset)
    assert alice.post(f"/sessions/{found['a']['meta']['uuid']}", json=ACCEPT).status_code == 200
    deadline = time.monotonic() + 20
    while {o["phase"] for o in node_offers(federation.b, NODE_TOKENS["alice"])} != {"REJECTED"}:
        assert time.monotonic() < deadline, node_offers(federation.b, NODE_TOKENS["alice"])
        time.sleep(0.3)
    on_a = {o["phase"] for o in node_offers(federation.a, NODE_TOKENS["alice"])}
    assert "ACCEPTED" in on_a or on_a & {"RUNNING", "COMPLETED", "WAITING"}, on_a
    wait_job(alice, found["a"]["meta"]["uuid"], {"COMPLETED", "ERROR", "ABORTED"})


# -------------------------------------------------------- forwarded token


def test_the_callers_own_token_is_forwarded_where_configured(
    forwarding: Broker, federation: Federation
) -> None:
    """The forwarding front has no token for node b: offers, accept and the run
    there work only with alice's own token, and the session is alice's on the node."""

    def alices_on_b() -> set[str]:
        with client(federation.b.url, NODE_TOKENS["alice"]) as node:
            found = node.get("/sessions", params={"phase": "COMPLETED"}).json()
        return {s["meta"]["uuid"] for s in found.get("sessions", [])}

    before = alices_on_b()
    with client(forwarding.url, FRONT_TOKENS["alice"]) as c:
        offerset = ask(c, eb_request(name="forwarded", code="print('fwd', 6*7)"))
        assert set(offers_by_platform(offerset)) == {"b"}, messages(offerset)
        sid = offers_by_platform(offerset)["b"]["meta"]["uuid"]
        assert c.post(f"/sessions/{sid}", json=ACCEPT).status_code == 200
        assert wait_job(c, sid, {"COMPLETED", "ERROR", "ABORTED"}) == "COMPLETED"
        results = c.get(f"/jobs/{sid}/results", headers={"Accept": "application/xml"})
        hrefs = [part.split('"')[0] for part in results.text.split('xlink:href="')[1:]]
        assert any("fwd 42" in c.get(h).text for h in hrefs)
    assert len(alices_on_b() - before) == 1  # alice's own session on the node
    assert FRONT_TOKENS["alice"] not in forwarding.log_text()
