"""The pages' "sign in with <issuer>": the authorization-code flow with PKCE against the
real OpenID provider (node oidc-provider, tests/oidc/provider.mjs), through a real broker
process; and an OpenID token's expiry signing the browser out."""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from urllib.parse import parse_qs, urlencode, urlsplit, urlunsplit

import httpx
import pytest

from ivoa_broker.auth.sessions import FLOW_COOKIE, SESSION_COOKIE
from tests.oidc.provider import CLIENTS, OpenIDProvider
from tests.server import BrokerProcess

BROWSER = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"
CONFIG = """\
[auth]
anonymous = false

[[auth.oidc]]
issuer = "{issuer}"
audience = "urn:ivoa-broker"
leeway = 0
login_client_id = "broker-web"
login_client_secret = "{secret}"
login_scope = "openid jobs"
login_resource = "urn:ivoa-broker"
"""


@pytest.fixture(scope="module")
def pages_broker(
    provider: OpenIDProvider, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[BrokerProcess]:
    workdir = tmp_path_factory.mktemp("oidc-pages-broker")
    config = CONFIG.format(issuer=provider.issuer, secret=CLIENTS["broker-web"])
    process = BrokerProcess(workdir, config=config).start(timeout=300)
    yield process
    process.stop()


def _browser(broker: BrokerProcess) -> httpx.Client:
    headers = {"Accept": BROWSER, "Sec-Fetch-Site": "same-origin", "Origin": broker.url}
    return httpx.Client(base_url=broker.url, headers=headers, timeout=30)


def csrf(page: httpx.Response) -> str:
    found = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
    assert found, page.text[:500]
    return found.group(1)


def start(browser: httpx.Client, next_path: str = "/jobs") -> str:
    """Press "sign in with" on the sign-in page: the provider's authorization URL."""
    page = browser.get("/login", params={"next": next_path})
    assert page.status_code == 200, page.text
    r = browser.post(
        "/login/oidc", data={"csrf_token": csrf(page), "provider": "0", "next": next_path}
    )
    assert r.status_code == 303, r.text
    return r.headers["location"]


def at_provider(provider: OpenIDProvider, url: str, user: str, broker: BrokerProcess) -> str:
    """The user signs in at the provider (its scripted interaction takes the name the
    user would type from ``login_hint``): the redirect back to the broker."""
    parts = urlsplit(url)
    url = urlunsplit(parts._replace(query=parts.query + "&" + urlencode({"login_hint": user})))
    with httpx.Client(base_url=provider.issuer, timeout=30) as idp:
        response = idp.get(url)
        for _ in range(10):
            location = response.headers.get("location")
            assert response.status_code in (302, 303) and location, response.text
            if location.startswith(broker.url):
                return location
            response = idp.get(location)
    raise AssertionError("too many redirects at the provider")


def test_sign_in_with_the_provider(provider: OpenIDProvider, pages_broker: BrokerProcess) -> None:
    with _browser(pages_broker) as browser:
        page = browser.get("/login")
        assert f"Sign in with {provider.issuer}" in page.text
        url = start(browser, "/jobs?PHASE=COMPLETED")
        assert url.startswith(provider.issuer + "/auth?")
        query = parse_qs(urlsplit(url).query)
        assert query["redirect_uri"] == [f"{pages_broker.url}/login/callback"]
        assert query["code_challenge_method"] == ["S256"]
        assert "code_verifier" not in query
        flow = browser.cookies.get(FLOW_COOKIE)
        assert flow and query["state"][0] not in flow  # the flow's state is sealed
        back = at_provider(provider, url, "alice", pages_broker)
        assert back.startswith(f"{pages_broker.url}/login/callback?code=")
        done = browser.get(back)
        assert done.status_code == 303, done.text
        assert done.headers["location"] == f"{pages_broker.url}/jobs?PHASE=COMPLETED"
        assert SESSION_COOKIE in done.headers.get("set-cookie", "")
        jobs = browser.get("/jobs")
        assert jobs.status_code == 200, jobs.text
        assert '<strong id="who">alice</strong>' in jobs.text
        again = browser.get(back)  # a callback is used once: its flow cookie is gone
        assert again.status_code == 400
        assert "start again" in again.text
        assert browser.get("/jobs").status_code == 200  # still signed in
    log = pages_broker.log_text()
    assert f"signed in: owner=alice via={provider.issuer}" in log
    assert CLIENTS["broker-web"] not in log
    code = parse_qs(urlsplit(back).query)["code"][0]
    assert "/login/callback?code=***&state=***" in log  # the access line, redacted
    assert code not in log and query["state"][0] not in log


def test_a_forged_state_or_a_foreign_callback_is_refused(
    provider: OpenIDProvider, pages_broker: BrokerProcess
) -> None:
    with _browser(pages_broker) as browser:
        back = at_provider(provider, start(browser), "bob", pages_broker)
        parts = urlsplit(back)
        query = {k: v[0] for k, v in parse_qs(parts.query).items()}
        forged = urlunsplit(parts._replace(query=urlencode({**query, "state": "forged"})))
        r = browser.get(forged)
        assert r.status_code == 400
        assert "state does not match" in r.text
        assert SESSION_COOKIE not in r.headers.get("set-cookie", "")
    with _browser(pages_broker) as victim:  # a callback URL sent to someone else's browser
        r = victim.get(back)
        assert r.status_code == 400
        assert victim.get("/jobs").status_code == 303


def test_an_expired_token_signs_the_browser_out(
    provider: OpenIDProvider, pages_broker: BrokerProcess
) -> None:
    expires = int(time.time()) + 3
    token = provider.sign({"sub": "alice", "exp": expires})
    with _browser(pages_broker) as browser:
        page = browser.get("/login")
        r = browser.post("/login", data={"csrf_token": csrf(page), "token": token})
        assert r.status_code == 303, r.text
        assert browser.get("/jobs").status_code == 200
        while time.time() <= expires + 1:  # the token's own expiry, not a timing assertion
            time.sleep(0.5)
        r = browser.get("/jobs")
        assert r.status_code == 303
        assert r.headers["location"].startswith(f"{pages_broker.url}/login?next=")
        assert browser.get("/jobs", headers={"Accept": "application/json"}).status_code == 401


def test_a_token_for_another_service_does_not_sign_in(
    provider: OpenIDProvider, pages_broker: BrokerProcess
) -> None:
    token = provider.login("alice", "urn:other-service")
    with _browser(pages_broker) as browser:
        page = browser.get("/login")
        r = browser.post("/login", data={"csrf_token": csrf(page), "token": token})
        assert r.status_code == 401
        assert "not meant for this service" in r.text
        assert token not in r.text
