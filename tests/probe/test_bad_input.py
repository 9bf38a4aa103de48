"""Probe: every input the issue found answering 500 answers 400 in the API's own format
(UWS text, ExecutionBroker problem+json naming the field)."""

from __future__ import annotations

import json

import pytest

from tests.probe.conftest import Probe, create

EDGES = ["0001-01-01T00:00:00+01:00", "9999-12-31T23:59:59-01:00"]
NUMBERS = ["inf", "nan", "-inf", "Infinity", "1e400", "9" * 400, "²", "1" * 5000]


def _uws_400(response: object) -> None:
    import httpx

    assert isinstance(response, httpx.Response)
    assert response.status_code == 400, (response.status_code, response.text[:300])
    assert response.headers["content-type"].startswith("text/plain"), response.headers


@pytest.fixture(scope="module")
def pending(probe: Probe) -> str:
    return create(probe.alice, {"cmd": "true"})


@pytest.mark.parametrize("value", NUMBERS)
def test_execution_duration_at_creation(probe: Probe, value: str) -> None:
    _uws_400(probe.alice.post("/jobs", data={"cmd": "true", "EXECUTIONDURATION": value}))


@pytest.mark.parametrize("value", NUMBERS)
def test_execution_duration_child(probe: Probe, pending: str, value: str) -> None:
    url = f"/jobs/{pending}/executionduration"
    _uws_400(probe.alice.post(url, data={"EXECUTIONDURATION": value}))


@pytest.mark.parametrize("value", NUMBERS)
def test_wait(probe: Probe, pending: str, value: str) -> None:
    _uws_400(probe.alice.get(f"/jobs/{pending}", params={"WAIT": value}))


@pytest.mark.parametrize("value", NUMBERS)
def test_last(probe: Probe, value: str) -> None:
    _uws_400(probe.alice.get("/jobs", params={"LAST": value}))


@pytest.mark.parametrize("value", EDGES)
def test_destruction_at_calendar_edges(probe: Probe, pending: str, value: str) -> None:
    _uws_400(probe.alice.post("/jobs", data={"cmd": "true", "DESTRUCTION": value}))
    _uws_400(probe.alice.post(f"/jobs/{pending}/destruction", data={"DESTRUCTION": value}))


@pytest.mark.parametrize("value", EDGES)
def test_after_at_calendar_edges(probe: Probe, value: str) -> None:
    _uws_400(probe.alice.get("/jobs", params={"AFTER": value}))


@pytest.mark.parametrize("name", ["memory", "runtime"])
@pytest.mark.parametrize(
    "value", ["9" * 400, "9" * 400 + "GiB", "9" * 400 + "h", "P" + "9" * 400 + "D"]
)
def test_sizes_and_durations_of_many_digits(probe: Probe, name: str, value: str) -> None:
    _uws_400(probe.alice.post("/jobs", data={"cmd": "true", name: value}))


def _problem(response: object, field: str | None = None) -> dict[str, object]:
    import httpx

    assert isinstance(response, httpx.Response)
    assert response.status_code == 400, (response.status_code, response.text[:300])
    assert response.headers["content-type"] == "application/problem+json"
    body = json.loads(response.content)
    assert body["status"] == 400
    if field is not None:
        assert field in str(body.get("path", "")) + str(body.get("detail", "")), body
    return body


@pytest.mark.parametrize("route", ["/sessions", "/offersets"])
@pytest.mark.parametrize("value", ["²", "inf", "9" * 400, "-1", "0", "1001", "١٢"])
def test_eb_last(probe: Probe, route: str, value: str) -> None:
    _problem(probe.alice.get(route, params={"last": value}), "last")


@pytest.mark.parametrize("route", ["/sessions", "/offersets"])
@pytest.mark.parametrize("name", ["after", "before"])
@pytest.mark.parametrize("value", EDGES)
def test_eb_instants_at_calendar_edges(probe: Probe, route: str, name: str, value: str) -> None:
    _problem(probe.alice.get(route, params={name: value}), name)


YAML = "application/yaml"


@pytest.mark.parametrize(
    ("document", "field"),
    [
        ("name: 2001-02-30\n", "name"),
        ("name: 2001-02-30T25:00:00Z\n", "name"),
        ("name: x\nexecutable:\n  kind: command\n  command: [" + "9" * 5000 + "]\n", "command"),
        ("name: " + "9" * 5000 + "\n", "name"),
    ],
)
@pytest.mark.parametrize("route", ["/requests", "/direct"])
def test_eb_yaml_scalars_that_cannot_be_constructed(
    probe: Probe, route: str, document: str, field: str
) -> None:
    response = probe.alice.post(route, content=document, headers={"Content-Type": YAML})
    _problem(response, field)


def test_eb_bad_json_number_is_problem_json(probe: Probe) -> None:
    body = '{"name": ' + "9" * 5000 + "}"
    response = probe.alice.post(
        "/requests", content=body, headers={"Content-Type": "application/json"}
    )
    _problem(response)


def test_runid_with_control_characters_is_stored_and_shown(probe: Probe) -> None:
    job = create(probe.alice, {"cmd": "true", "RUNID": "a\tb\nc\x00d\x1b[31me"})
    assert probe.alice.get(f"/jobs/{job}").status_code == 200
    assert probe.alice.get(f"/sessions/{job}").status_code == 200
    assert probe.alice.get("/sessions").status_code == 200
