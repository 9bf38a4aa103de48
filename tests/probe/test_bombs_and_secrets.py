"""Probe: XML/YAML/JSON bombs are refused cheaply; no secret (a bearer token, an
``env`` value, a credential in a query string) reaches a document of another owner or
the broker's log, at debug level included."""

from __future__ import annotations

import json

import pytest

from tests.probe.conftest import ALICE, BOB, SECRET, Probe, create, settle

LAUGHS = (
    b'<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol">'
    + b"".join(
        f'<!ENTITY lol{i} "{("&lol" + str(i - 1) + ";") * 10 if i > 1 else "&lol;" * 10}">'.encode()
        for i in range(1, 10)
    )
    + b"]><request><name>&lol9;</name></request>"
)
EXTERNAL = (
    b'<?xml version="1.0"?><!DOCTYPE r [<!ENTITY x SYSTEM "file:///etc/passwd">]>'
    b"<request><name>&x;</name></request>"
)
YAML_LAUGHS = b'a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]\n' + b"".join(
    f"{c}: &{c} [*{p},*{p},*{p},*{p},*{p},*{p},*{p},*{p},*{p}]\n".encode()
    for p, c in zip("abcdefgh", "bcdefghi", strict=True)
)
DEEP_JSON = b"[" * 100_000 + b"]" * 100_000
DEEP_YAML = b"a: " + b"[" * 50_000 + b"]" * 50_000
WIDE_JSON = json.dumps({"name": "x", "data": [{"a": i} for i in range(200_000)]}).encode()


@pytest.mark.parametrize(
    ("body", "ctype"),
    [
        (LAUGHS, "application/xml"),
        (EXTERNAL, "application/xml"),
        (YAML_LAUGHS, "application/yaml"),
        (DEEP_JSON, "application/json"),
        (DEEP_YAML, "application/yaml"),
        (WIDE_JSON, "application/json"),
    ],
    ids=["xml-laughs", "xml-external", "yaml-laughs", "deep-json", "deep-yaml", "wide-json"],
)
@pytest.mark.parametrize("route", ["/requests", "/direct"])
def test_bombs_are_refused(probe: Probe, route: str, body: bytes, ctype: str) -> None:
    response = probe.alice.post(route, content=body, headers={"Content-Type": ctype})
    assert response.status_code in (400, 413, 422), (response.status_code, response.text[:300])
    assert response.headers["content-type"] == "application/problem+json"
    assert b"root:" not in response.content


def test_uws_form_bomb_is_refused(probe: Probe) -> None:
    body = "&".join(f"a{i}=1" for i in range(5000))
    response = probe.alice.post(
        "/jobs", content=body, headers={"Content-Type": "application/x-www-form-urlencoded"}
    )
    assert response.status_code == 400, response.text


def test_oversized_body_is_refused(probe: Probe) -> None:
    response = probe.alice.post("/jobs", data={"cmd": "true", "args": "x" * (2 * 1024 * 1024)})
    assert response.status_code == 413, response.text[:200]


@pytest.fixture(scope="module")
def secret_job(probe: Probe) -> str:
    """A job of alice's that carries a secret in its environment and prints nothing of it."""
    job = create(probe.alice, {"cmd": "true", "env": f"API_TOKEN={SECRET}", "PHASE": "RUN"})
    settle(probe.alice, job)
    # a credential in a query string (the access log writes the path with its query)
    probe.alice.get(f"/jobs/{job}", params={"access_token": SECRET, "api_key": SECRET})
    return job


def test_secrets_never_reach_another_owner(probe: Probe, secret_job: str) -> None:
    for path in ("/jobs", "/sessions", "/offersets", "/availability", "/capabilities"):
        response = probe.bob.get(path)
        assert response.status_code == 200, (path, response.status_code)
        for value in (SECRET, ALICE, BOB):
            assert value not in response.text, path


def test_tokens_never_reach_the_owners_documents(probe: Probe, secret_job: str) -> None:
    for path in ("", "/parameters", "/results", "/error"):
        text = probe.alice.get(f"/jobs/{secret_job}{path}").text
        assert ALICE not in text and BOB not in text, path
    assert ALICE not in probe.alice.get(f"/sessions/{secret_job}").text


def test_no_secret_in_the_log_at_debug_level(probe: Probe, secret_job: str) -> None:
    # the access line of the creation (with its credential-like query) has been written
    probe.alice.get("/availability", params={"token": SECRET, "password": SECRET})
    log = probe.log.read_text(errors="replace")
    assert "level=debug" in log, "the probe broker must run at debug level"
    # the submit line names the job's environment, by name only
    assert "environment names API_TOKEN" in log
    assert "access_token=***" in log
    for value in (SECRET, ALICE, BOB):
        assert value not in log
