"""Sign-in for the HTML pages on a broker that requires it (web/signin.py), through a real
broker process with a token file: the flow, and every way it must refuse."""

from __future__ import annotations

import json
import re
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote

import httpx
import pytest

from ivoa_broker.auth.sessions import SESSION_COOKIE, Sealer, SessionCookies
from ivoa_broker.web.signin import safe_next
from tests.auth.test_sessions import tamper
from tests.server import BrokerProcess
from tests.web.helpers import wait_until
from tests.web.test_pages import BROWSER

ALICE = "tok-alice-0123456789abcdef"
BOB = "tok-bob-0123456789abcdef"
SECRET = "signin-test-secret-0123456789abcdef-xyz"
LIFETIME = 3600
CORS = "https://app.example"
CONFIG = f"""\
[server]
forwarded_allow_ips = "127.0.0.1"
cors_origins = ["{CORS}"]

[auth]
anonymous = false
token_file = "tokens.txt"

[auth.session]
lifetime = {LIFETIME}
secret = "{SECRET}"

[jobs]
wait_cap = 5
"""
QUICK = {"cmd": "echo", "args": "signed in", "PHASE": "RUN"}


@pytest.fixture(scope="module")
def broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[BrokerProcess]:
    workdir = tmp_path_factory.mktemp("signin-broker")
    (workdir / "tokens.txt").write_text(f"{ALICE} alice\n{BOB} bob\n")
    process = BrokerProcess(workdir, config=CONFIG).start()
    yield process
    process.stop()


def _browser(broker: BrokerProcess) -> httpx.Client:
    headers = {"Accept": BROWSER, "Sec-Fetch-Site": "same-origin", "Origin": broker.url}
    return httpx.Client(base_url=broker.url, headers=headers, timeout=30)


@pytest.fixture
def browser(broker: BrokerProcess) -> Iterator[httpx.Client]:
    with _browser(broker) as client:
        yield client


def csrf(page: httpx.Response) -> str:
    found = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
    assert found, page.text[:500]
    return found.group(1)


def sign_in(browser: httpx.Client, token: str, next_path: str = "") -> httpx.Response:
    page = browser.get("/login", params={"next": next_path} if next_path else None)
    assert page.status_code == 200, page.text
    return browser.post(
        "/login", data={"csrf_token": csrf(page), "token": token, "next": next_path}
    )


def set_cookie(response: httpx.Response, name: str) -> str:
    found = [v for v in response.headers.get_list("set-cookie") if v.startswith(name + "=")]
    assert len(found) == 1, response.headers.get_list("set-cookie")
    return found[0]


# ------------------------------------------------------------------ not browsers


CHALLENGE = [("www-authenticate", 'Bearer realm="ivoa-broker"')]
MISSING = "authentication required: send 'Authorization: Bearer <token>'"


@pytest.mark.parametrize(
    ("accept", "media", "body"),
    [
        (None, "text/plain; charset=utf-8", (MISSING + "\n").encode()),
        ("*/*", "text/plain; charset=utf-8", (MISSING + "\n").encode()),  # curl, pyvo
        ("application/xml", "text/plain; charset=utf-8", (MISSING + "\n").encode()),
        (
            "application/json",
            "application/json",
            json.dumps({"status": 401, "message": MISSING}, separators=(",", ":")).encode(),
        ),
    ],
)
def test_other_clients_keep_the_401_byte_for_byte(
    broker: BrokerProcess, accept: str | None, media: str, body: bytes
) -> None:
    headers = {"Accept": accept} if accept else {}
    for method, path in (("GET", "/jobs"), ("GET", "/jobs/nope"), ("POST", "/jobs")):
        r = httpx.request(method, broker.url + path, headers=headers, timeout=30)
        assert r.status_code == 401
        assert r.content == body
        raw = [
            (k.decode().lower(), v.decode())
            for k, v in r.headers.raw
            if k.lower() not in (b"date", b"server")
        ]
        assert raw == [
            ("content-length", str(len(body))),
            ("content-type", media),
            ("vary", "Origin"),  # server.cors_origins is set (CORSMiddleware's, as ever)
            *CHALLENGE,
        ]


def test_a_wrong_bearer_token_keeps_its_invalid_token_challenge(broker: BrokerProcess) -> None:
    for accept in (BROWSER, "*/*"):  # a program sending a token is no browser, whatever it accepts
        r = httpx.get(
            broker.url + "/jobs",
            headers={"Authorization": "Bearer nope-nope-nope-nope", "Accept": accept},
            timeout=30,
        )
        assert r.status_code == 401
        assert r.headers.get_list("www-authenticate") == [
            'Bearer realm="ivoa-broker", error="invalid_token", '
            'error_description="the bearer token is not valid"'
        ]


def test_bearer_tokens_work_as_before(broker: BrokerProcess) -> None:
    with httpx.Client(
        base_url=broker.url, headers={"Authorization": f"Bearer {ALICE}"}, timeout=30
    ) as http:
        r = http.post("/jobs", data=QUICK, follow_redirects=False)
        assert r.status_code == 303
        assert wait_until(http, r.headers["location"], {"COMPLETED"}) == "COMPLETED"
        assert "set-cookie" not in r.headers


# ------------------------------------------------------------------ the flow


def test_a_browser_is_sent_to_the_sign_in_and_back(
    broker: BrokerProcess, browser: httpx.Client
) -> None:
    r = browser.get("/jobs/abc", params={"PHASE": "RUN"})
    assert r.status_code == 303
    back = quote("/jobs/abc?PHASE=RUN", safe="")
    assert r.headers["location"] == f"{broker.url}/login?next={back}"
    assert "www-authenticate" not in r.headers
    page = browser.get(r.headers["location"])
    assert page.status_code == 200
    assert 'name="next" value="/jobs/abc?PHASE=RUN"' in page.text
    assert 'type="password" name="token"' in page.text
    r = browser.post(
        "/login", data={"csrf_token": csrf(page), "token": ALICE, "next": "/jobs/abc?PHASE=RUN"}
    )
    assert r.status_code == 303
    assert r.headers["location"] == f"{broker.url}/jobs/abc?PHASE=RUN"


def test_sign_in_run_a_job_and_sign_out(broker: BrokerProcess, browser: httpx.Client) -> None:
    r = sign_in(browser, ALICE)
    assert r.status_code == 303
    assert r.headers["location"] == f"{broker.url}/jobs"
    cookie = set_cookie(r, SESSION_COOKIE)
    attributes = {a.strip().split("=")[0].lower() for a in cookie.split(";")[1:]}
    assert attributes == {"httponly", "max-age", "path", "samesite"}  # no Secure over http
    assert f"Max-Age={LIFETIME}" in cookie
    assert "Path=/;" in cookie + ";"
    assert "SameSite=lax" in cookie
    assert ALICE not in cookie
    assert set_cookie(r, "ivoa_broker_csrf")  # a fresh CSRF token after sign-in
    jobs = browser.get("/jobs")
    assert jobs.status_code == 200, jobs.text
    assert '<strong id="who">alice</strong>' in jobs.text
    assert ALICE not in jobs.text
    created = browser.post("/jobs", data={"csrf_token": csrf(jobs), **QUICK})
    assert created.status_code == 303, created.text
    job = created.headers["location"]
    # the page's live update: a JSON WAIT long-poll with the cookie
    polled = browser.get(job, params={"WAIT": 5}, headers={"Accept": "application/json"})
    assert polled.status_code == 200
    assert polled.json()["ownerId"] == "alice"
    wait_until(browser, job, {"COMPLETED"})
    page = browser.get(job)
    assert ">COMPLETED</span>" in page.text
    assert "<td>alice</td>" in page.text
    out = browser.post("/logout", data={"csrf_token": csrf(page)})
    assert out.status_code == 303
    assert out.headers["location"] == f"{broker.url}/login"
    cleared = set_cookie(out, SESSION_COOKIE)
    assert 'ivoa_broker_session="";' in cleared or "Max-Age=0" in cleared
    assert browser.get("/jobs").status_code == 303


def test_a_wrong_token_is_refused_without_echo(browser: httpx.Client) -> None:
    r = sign_in(browser, "wrong-token-0123456789")
    assert r.status_code == 401
    assert "the bearer token is not valid" in r.text
    assert "wrong-token-0123456789" not in r.text
    assert SESSION_COOKIE not in r.headers.get("set-cookie", "")
    assert r.headers.get_list("www-authenticate")[0].startswith('Bearer realm="ivoa-broker"')
    assert browser.get("/jobs").status_code == 303


def test_sign_in_needs_the_csrf_token(browser: httpx.Client) -> None:
    browser.get("/login")
    r = browser.post("/login", data={"token": ALICE})
    assert r.status_code == 403
    assert SESSION_COOKIE not in r.headers.get("set-cookie", "")
    forged = browser.post(
        "/login",
        data={"token": ALICE},
        headers={"Origin": "https://evil.example", "Sec-Fetch-Site": "cross-site"},
    )
    assert forged.status_code == 403  # no login CSRF


@pytest.mark.parametrize(
    "target",
    [
        "//evil.example/jobs",
        "https://evil.example/",
        "/\\evil.example",
        "javascript:alert(1)",
        "jobs",
        "/ /evil",
        "/login?next=//evil.example",
        "",
    ],
)
def test_next_never_leaves_the_broker(
    broker: BrokerProcess, browser: httpx.Client, target: str
) -> None:
    page = browser.get("/login", params={"next": target})
    assert 'name="next" value="/jobs"' in page.text
    r = browser.post("/login", data={"csrf_token": csrf(page), "token": ALICE, "next": target})
    assert r.status_code == 303
    assert r.headers["location"] == f"{broker.url}/jobs"


def test_safe_next() -> None:
    assert safe_next("/jobs/x?PHASE=RUN&a=b") == "/jobs/x?PHASE=RUN&a=b"
    assert safe_next("/sessions/0b1e") == "/sessions/0b1e"
    for bad in ("//x", "///x", "http://x/", "/\\x", "x", "/a\nb", "/a\tb", "/logout", None):
        assert safe_next(bad) == "/jobs", bad


# ------------------------------------------------------------------ bad cookies


def _with_session(broker: BrokerProcess, value: str) -> httpx.Client:
    client = _browser(broker)
    client.cookies.set(SESSION_COOKIE, value)
    return client


def _signed_in_value(broker: BrokerProcess, token: str) -> str:
    with _browser(broker) as client:
        r = sign_in(client, token)
        assert r.status_code == 303
        value = client.cookies.get(SESSION_COOKIE)
        assert value
        return value


def test_a_tampered_cookie_signs_nobody_in(broker: BrokerProcess) -> None:
    value = _signed_in_value(broker, ALICE)
    for bad in (tamper(value, 0.3), tamper(value, 0.9), value[:20], "x" + value):
        with _with_session(broker, bad) as client:
            r = client.get("/jobs")
            assert r.status_code == 303
            assert r.headers["location"].startswith(f"{broker.url}/login?next=")
            assert set_cookie(r, SESSION_COOKIE)  # cleared
            api = client.get("/jobs", headers={"Accept": "application/xml"})
            assert api.status_code == 401


def test_an_expired_cookie_signs_nobody_in(broker: BrokerProcess) -> None:
    # sealed by the broker's own key, but LIFETIME + 10 seconds ago
    past = time.time() - LIFETIME - 10
    stale = SessionCookies(Sealer(SECRET, clock=lambda: past), LIFETIME).session(ALICE)
    fresh = SessionCookies(Sealer(SECRET), LIFETIME).session(ALICE)
    with _with_session(broker, stale) as client:
        assert client.get("/jobs").status_code == 303
    with _with_session(broker, fresh) as client:  # the same, in time: the key is right
        assert client.get("/jobs").status_code == 200


def test_a_revoked_token_signs_the_browser_out(broker: BrokerProcess) -> None:
    tokens = broker.workdir / "tokens.txt"
    with _browser(broker) as client:
        assert sign_in(client, BOB).status_code == 303
        assert client.get("/jobs").status_code == 200
        replacement = tokens.with_suffix(".new")
        replacement.write_text(f"{ALICE} alice\n")
        replacement.replace(tokens)  # the broker re-reads the file on change
        try:
            r = client.get("/jobs")
            assert r.status_code == 303
            assert r.headers["location"].startswith(f"{broker.url}/login")
            assert set_cookie(r, SESSION_COOKIE)  # cleared
            assert client.get("/jobs", headers={"Accept": "application/json"}).status_code == 401
        finally:
            replacement.write_text(f"{ALICE} alice\n{BOB} bob\n")
            replacement.replace(tokens)


# ------------------------------------------------------------------ cross-site writes


def test_the_cookie_never_authenticates_a_cross_site_write(broker: BrokerProcess) -> None:
    with _browser(broker) as client:
        assert sign_in(client, ALICE).status_code == 303
        page = client.get("/jobs")
        token = csrf(page)
        forged = {**QUICK, "RUNID": "forged", "csrf_token": token}
        for headers, body, kind in (
            ({"Origin": "https://evil.example", "Sec-Fetch-Site": "cross-site"}, forged, "form"),
            ({"Origin": CORS, "Sec-Fetch-Site": "cross-site"}, forged, "form"),  # a CORS origin
            ({"Origin": CORS}, forged, "form"),  # an old browser without Sec-Fetch-*
            ({"Origin": "https://evil.example", "Sec-Fetch-Site": "same-site"}, forged, "form"),
            ({"Sec-Fetch-Site": "same-origin"}, {**forged, "csrf_token": "x" * 43}, "form"),
            ({"Origin": "", "Sec-Fetch-Site": ""}, "cmd=echo&PHASE=RUN&RUNID=forged", "text"),
        ):
            cleared = {k: v for k, v in headers.items() if v}
            request = client.build_request(
                "POST",
                "/jobs",
                data=body if kind == "form" else None,
                content=body if kind == "text" else None,
                headers={"Content-Type": "text/plain"} if kind == "text" else None,
            )
            for name in ("origin", "sec-fetch-site"):
                request.headers.pop(name, None)
            request.headers.update(cleared)
            r = client.send(request)
            assert r.status_code == 403, (headers, r.text)
        listed = client.get("/jobs", headers={"Accept": "application/json"}).json()
        assert not [j for j in listed.get("jobs", []) if j.get("runId") == "forged"]
        ok = client.post("/jobs", data={"csrf_token": token, **QUICK})
        assert ok.status_code == 303  # the same write from the page itself


def test_secure_behind_a_tls_proxy(broker: BrokerProcess) -> None:
    with _browser(broker) as client:
        client.headers["X-Forwarded-Proto"] = "https"
        client.headers["Origin"] = broker.url.replace("http://", "https://")
        page = client.get("/login")
        assert "Secure" in set_cookie(page, "ivoa_broker_csrf").split("; ")
        token = csrf(page)
        # httpx keeps Secure cookies for https; the proxy's client spoke https
        r = client.post(
            "/login",
            data={"csrf_token": token, "token": ALICE},
            headers={"Cookie": f"ivoa_broker_csrf={token}"},
        )
        assert r.status_code == 303, r.text
        assert r.headers["location"].startswith("https://")
        cookie = set_cookie(r, SESSION_COOKIE)
        assert "Secure" in cookie.split("; ")


def test_no_token_in_the_log(broker: BrokerProcess) -> None:
    with _browser(broker) as client:
        sign_in(client, ALICE)
        sign_in(client, "wrong-token-abcdef0123456789")
    log = Path(broker.log).read_text(errors="replace")
    assert "signed in: owner=alice" in log
    for secret in (ALICE, BOB, "wrong-token-abcdef0123456789", SECRET):
        assert secret not in log
