"""The ExecutionBroker API over real HTTP (a broker process, tests/server.py)."""

from __future__ import annotations

import os
import threading
import uuid
from typing import Any

import httpx
import yaml

from ivoa_broker.eb import formats
from ivoa_broker.eb.convert import request_document
from ivoa_broker.eb.openapi import load_openapi
from tests.eb_http.conftest import OFFER_DEADLINE
from tests.eb_http.docs import (
    JSON,
    SPEC_CONTAINER,
    SPEC_NOTEBOOK,
    body,
    command,
    extension,
    messages,
    offerset,
    phase_update,
    problem,
    update,
)
from tests.web.helpers import wait_until


def _adapters(doc: dict[str, Any]) -> list[str]:
    return [o["meta"]["name"] for o in doc["offers"]]


def _accept(http: httpx.Client, session: str) -> dict[str, Any]:
    response = update(http, session, phase_update("ACCEPTED"))
    assert response.status_code == 200, response.text
    data: dict[str, Any] = response.json()
    return data


def test_request_in_three_formats(eb: httpx.Client) -> None:
    doc = request_document(command("echo", "hi"))
    bodies = {
        "application/json": formats.dump(doc, formats.Format.JSON),
        "application/yaml": formats.dump(doc, formats.Format.YAML),
        "application/xml": formats.dump(doc, formats.Format.XML),
        None: formats.dump(doc, formats.Format.YAML),  # no Content-Type: YAML
    }
    for media, content in bodies.items():
        headers = {"Content-Type": media} if media else {}
        response = eb.post("/requests", content=content, headers=headers)
        assert response.status_code == 303, (media, response.text)
        # no Accept: the answer is YAML (ExecutionBroker text)
        assert response.headers["content-type"] == "application/yaml"
        data = yaml.safe_load(response.text)
        assert data["result"] == "YES"
        assert sorted(_adapters(data)) == ["box", "box2"]
        assert data["offers"][0]["requested"]["executable"]["command"] == ["echo", "hi"]
        again = eb.get(response.headers["location"], headers={"Accept": "application/xml"})
        assert again.status_code == 200
        assert again.headers["content-type"] == "application/xml"
        reread = formats.load_offerset(again.content, "application/xml")
        assert str(reread.meta.uuid) == data["meta"]["uuid"]  # type: ignore[union-attr]


def test_slow_and_broken_platforms_are_named_not_fatal(eb: httpx.Client) -> None:
    data = offerset(eb, command("true"))
    assert data["result"] == "YES"
    said = messages(data)
    assert f"slow: slow did not answer within {OFFER_DEADLINE:g} s" in said
    assert any(m.startswith("broken: ") and "RuntimeError" in m for m in said)
    assert any(m.startswith("local: ") and "container images" in m for m in said)
    for offer in data["offers"]:
        assert offer["phase"] == "OFFERED"
        assert offer["expires"]
        assert offer["meta"]["options"] == [
            {"kind": "uri:enum-value-option", "path": "phase", "values": ["ACCEPTED", "REJECTED"]}
        ]


def test_spec_walkthrough_container_gets_offers(eb: httpx.Client) -> None:
    data = offerset(eb, SPEC_CONTAINER)
    assert data["result"] == "YES"
    offer = data["offers"][0]
    assert offer["executable"]["meta"]["name"] == "checksum"
    assert offer["compute"]["cores"] == {"min": 1, "max": 1}
    assert offer["data"][0]["location"] == "http://example.org/file.jpg"


def test_spec_notebook_with_only_local_is_judged_by_its_cores(http: httpx.Client) -> None:
    # the session broker of tests/conftest.py: the default local platform only, which
    # executes notebooks; the spec's example asks for at least 5 cores
    data = offerset(http, SPEC_NOTEBOOK)
    if (os.cpu_count() or 1) >= 5:
        assert data["result"] == "YES"
        assert "notebook" in data["offers"][0]["meta"]["description"]
        return
    assert data["result"] == "NO"
    assert data.get("offers", []) == []
    (reason,) = data["meta"]["messages"]
    assert reason["level"] == "ERROR"
    assert reason["message"].startswith("local: ")
    assert "asks for 5 cores" in reason["message"]


def test_accept_runs_to_completed_with_results(eb: httpx.Client) -> None:
    data = offerset(eb, command("echo", "hello"))
    first, second = (o["meta"]["uuid"] for o in data["offers"])
    session = _accept(eb, first)
    assert session["meta"]["uuid"] == first
    assert session["phase"] in ("WAITING", "RUNNING", "COMPLETED")
    # the same record as a UWS job, with the same id and parameters from the request
    job_url = f"{eb.base_url}/jobs/{first}"
    assert wait_until(eb, job_url, {"COMPLETED", "ERROR"}) == "COMPLETED"
    params = eb.get(f"{job_url}/parameters", headers=JSON).json()
    assert params
    done = eb.get(f"/sessions/{first}", headers=JSON).json()
    assert done["phase"] == "COMPLETED"
    assert done["meta"].get("options", []) == []
    results = {
        m["values"]["id"]: m["values"]["url"]
        for m in done["meta"]["messages"]
        if m.get("template") == "result"
    }
    assert eb.get(results["stdout"]).text == "hello\n"
    sibling = eb.get(f"/sessions/{second}", headers=JSON).json()
    assert sibling["phase"] == "REJECTED"
    assert sibling["meta"].get("options", []) == []
    again = eb.get(f"/offersets/{data['meta']['uuid']}", headers=JSON).json()
    assert [o["phase"] for o in again["offers"]] == ["COMPLETED", "REJECTED"]


def test_accept_is_idempotent_and_a_rejected_offer_conflicts(eb: httpx.Client) -> None:
    data = offerset(eb, command("true"))
    first, second = (o["meta"]["uuid"] for o in data["offers"])
    assert _accept(eb, first)["meta"]["uuid"] == first
    assert _accept(eb, first)["meta"]["uuid"] == first
    refused = problem(update(eb, second, phase_update("ACCEPTED")), 409)
    assert "REJECTED" in refused["detail"]
    problem(update(eb, second, phase_update("CANCELLED")), 409)


def test_concurrent_accepts_of_siblings_exactly_one_wins(eb: httpx.Client) -> None:
    data = offerset(eb, command("true"))
    sessions = [o["meta"]["uuid"] for o in data["offers"]] * 3
    statuses: list[int] = []
    start = threading.Barrier(len(sessions))

    def accept(session: str) -> None:
        with httpx.Client(base_url=eb.base_url, headers=dict(eb.headers), timeout=30) as c:
            start.wait()
            statuses.append(update(c, session, phase_update("ACCEPTED")).status_code)

    threads = [threading.Thread(target=accept, args=(s,)) for s in sessions]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    # the winner's three accepts all succeed (idempotent); the sibling's all conflict
    assert sorted(statuses) == [200, 200, 200, 409, 409, 409]
    phases = [o["phase"] for o in eb.get(data["meta"]["url"], headers=JSON).json()["offers"]]
    assert phases.count("REJECTED") == 1


def test_reject(eb: httpx.Client) -> None:
    data = offerset(eb, command("true"))
    first = data["offers"][0]["meta"]["uuid"]
    rejected = update(eb, first, phase_update("REJECTED"))
    assert rejected.status_code == 200
    assert rejected.json()["phase"] == "REJECTED"
    assert update(eb, first, phase_update("REJECTED")).status_code == 200
    assert eb.get(f"/jobs/{first}").status_code == 404


def test_cancel_a_running_session(eb: httpx.Client) -> None:
    data = offerset(eb, command("sleep", "60"))
    session = data["offers"][0]["meta"]["uuid"]
    _accept(eb, session)
    job_url = f"{eb.base_url}/jobs/{session}"
    assert wait_until(eb, job_url, {"EXECUTING"}) == "EXECUTING"
    running = eb.get(f"/sessions/{session}", headers=JSON).json()
    assert running["phase"] == "RUNNING"
    values = [o.get("values") for o in running["meta"]["options"]]
    assert ["CANCELLED"] in values
    cancelled = update(eb, session, phase_update("CANCELLED"))
    assert cancelled.status_code == 200, cancelled.text
    # RELEASING until the dispatcher has seen the platform end the task
    assert cancelled.json()["phase"] in ("RELEASING", "CANCELLED")
    assert cancelled.json()["meta"].get("options", []) == []
    assert eb.get(f"{job_url}/phase").text == "ABORTED"
    assert update(eb, session, phase_update("CANCELLED")).status_code == 200


def test_run_time_extension(eb: httpx.Client) -> None:
    data = offerset(eb, command("sleep", "60", duration="PT10M"))
    session = data["offers"][0]["meta"]["uuid"]
    problem(update(eb, session, extension(60)), 409)  # an offer: nothing runs yet
    accepted = _accept(eb, session)
    delta = [o for o in accepted["meta"]["options"] if o["kind"] == "uri:integer-delta-option"]
    assert delta[0]["path"] == "schedule.available.duration"
    before = int(eb.get(f"/jobs/{session}/executionduration").text)
    assert before == 600
    extended = update(eb, session, extension(300))
    assert extended.status_code == 200, extended.text
    assert int(eb.get(f"/jobs/{session}/executionduration").text) == 900
    problem(update(eb, session, extension(-5000)), 422)
    assert update(eb, session, phase_update("CANCELLED")).status_code == 200


def test_direct(eb: httpx.Client) -> None:
    response = eb.post("/direct", json=command("echo", "direct"), headers=JSON)
    assert response.status_code == 303, response.text
    session = response.json()
    assert response.headers["location"] == session["meta"]["url"]
    job_url = f"{eb.base_url}/jobs/{session['meta']['uuid']}"
    assert wait_until(eb, job_url, {"COMPLETED", "ERROR"}) == "COMPLETED"
    notebook = eb.post("/direct", json=SPEC_NOTEBOOK, headers=JSON)
    assert "no platform can run" in problem(notebook, 422)["detail"]


def test_no_offer_direct_stores_nothing_requests_keeps_a_readable_no(eb: httpx.Client) -> None:
    impossible = {**SPEC_NOTEBOOK, "compute": {**SPEC_NOTEBOOK["compute"], "cores": {"min": 1024}}}

    def count() -> int:
        listed = eb.get("/offersets", params={"last": 1000}, headers=JSON)
        assert listed.status_code == 200, listed.text
        return len(listed.json().get("offersets", []))

    before = count()
    assert (
        "no platform can run"
        in problem(eb.post("/direct", json=impossible, headers=JSON), 422)["detail"]
    )
    assert count() == before  # POST /direct left no offer set behind
    data = offerset(eb, impossible)
    assert data["result"] == "NO" and data.get("offers", []) == []
    assert data["meta"]["messages"]  # the reasons
    assert eb.get(data["meta"]["url"], headers=JSON).json()["result"] == "NO"
    assert count() == before + 1


def test_a_uws_job_reads_as_a_session(eb: httpx.Client) -> None:
    created = eb.post("/jobs", data={"cmd": "echo", "args": "uws", "PHASE": "RUN"})
    assert created.status_code == 303
    job_url = created.headers["location"]
    job_id = job_url.rsplit("/", 1)[1]
    assert wait_until(eb, job_url, {"COMPLETED", "ERROR"}) == "COMPLETED"
    session = eb.get(f"/sessions/{job_id}", headers=JSON).json()
    assert session["phase"] == "COMPLETED"
    assert any(m.get("template") == "result" for m in session["meta"]["messages"])
    pending = eb.post("/jobs", data={"cmd": "echo"}).headers["location"].rsplit("/", 1)[1]
    view = eb.get(f"/sessions/{pending}", headers=JSON).json()
    assert view["phase"] == "ACCEPTED"
    assert view["meta"]["options"][0]["values"] == ["CANCELLED"]


def test_a_stranger_gets_404_everywhere(eb: httpx.Client, stranger: httpx.Client) -> None:
    data = offerset(eb, command("true"))
    session = data["offers"][0]["meta"]["uuid"]
    problem(stranger.get(f"/offersets/{data['meta']['uuid']}"), 404)
    problem(stranger.get(f"/sessions/{session}"), 404)
    problem(update(stranger, session, phase_update("ACCEPTED")), 404)
    listed = stranger.get("/sessions", headers=JSON).json()
    assert session not in {s["meta"]["uuid"] for s in listed.get("sessions", [])}
    assert eb.get(f"/sessions/{session}", headers=JSON).json()["phase"] == "OFFERED"
    problem(httpx.get(f"{eb.base_url}/sessions/{session}"), 401)


def test_listings_filter_by_phase_and_time(eb: httpx.Client) -> None:
    data = offerset(eb, command("true"))
    rejected = data["offers"][1]["meta"]["uuid"]
    update(eb, rejected, phase_update("REJECTED"))
    created = data["meta"]["created"]
    sessions = eb.get("/sessions", params={"phase": "REJECTED"}, headers=JSON).json()
    ids = [s["meta"]["uuid"] for s in sessions["sessions"]]
    assert rejected in ids
    assert all(s["phase"] == "REJECTED" for s in sessions["sessions"])
    after = eb.get("/sessions", params={"after": created}, headers=JSON).json()["sessions"]
    assert {s["meta"]["uuid"] for s in after} >= {o["meta"]["uuid"] for o in data["offers"]}
    before = eb.get("/sessions", params={"before": created}, headers=JSON).json()
    assert rejected not in {s["meta"]["uuid"] for s in before.get("sessions", [])}
    last = eb.get("/offersets", params={"last": 1}, headers=JSON).json()["offersets"]
    assert [s["meta"]["uuid"] for s in last] == [data["meta"]["uuid"]]
    with_rejected = eb.get("/offersets", params={"phase": "REJECTED", "after": created})
    assert data["meta"]["uuid"] in {s["meta"]["uuid"] for s in body(with_rejected)["offersets"]}
    problem(eb.get("/sessions", params={"phase": "SLEEPING"}), 400)
    problem(eb.get("/offersets", params={"last": "0"}), 400)
    problem(eb.get("/sessions", params={"after": "yesterday"}), 400)


def test_errors_are_problem_json_naming_the_path(eb: httpx.Client) -> None:
    bad = command("true")
    bad["compute"]["cores"] = {"min": -1}
    assert problem(eb.post("/requests", json=bad), 400)["path"] == "compute.cores.min"
    privileged = command("true")
    privileged["executable"]["privileged"] = True
    assert problem(eb.post("/requests", json=privileged), 422)["path"] == "executable.privileged"
    problem(eb.post("/requests", content=b"{", headers={"Content-Type": "application/json"}), 400)
    problem(eb.post("/requests", content=b"x", headers={"Content-Type": "text/html"}), 415)
    problem(eb.post("/requests", json=command("true"), headers={"Accept": "text/html"}), 406)
    problem(eb.get(f"/sessions/{uuid.uuid4()}"), 404)
    problem(eb.get("/sessions/not-a-uuid"), 404)
    problem(eb.get(f"/offersets/{uuid.uuid4()}"), 404)
    data = offerset(eb, command("true"))
    session = data["offers"][0]["meta"]["uuid"]
    odd = {"kind": "uri:enum-value-update", "path": "phase", "value": "RUNNING"}
    assert problem(update(eb, session, odd), 422)["path"] == "value"
    problem(update(eb, session, phase_update("CANCELLED")), 409)


def test_openapi_document_is_served(eb: httpx.Client) -> None:
    response = eb.get("/openapi.yaml")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/yaml")
    assert yaml.safe_load(response.text) == load_openapi()
