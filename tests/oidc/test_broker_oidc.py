"""A real broker process trusting the real OpenID provider: IVOA SSO challenges,
group-based offers and 403s, the admin group, per-owner limits under concurrency,
pyvo with a bearer session, the token file beside OIDC (reloaded on change)."""

from __future__ import annotations

import asyncio
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from ivoa_broker.eb import formats
from ivoa_broker.eb.convert import request_document
from tests.eb_http.conftest import PLUGINS
from tests.eb_http.docs import command, phase_update, update
from tests.oidc.provider import CLIENTS, OpenIDProvider
from tests.server import BrokerProcess
from tests.web.helpers import LONG, QUICK, UWS, create, doc

STATIC = "static-token-0123456789abcdef"
ROTATED = "rotated-token-0123456789abcdef"

CONFIG = """\
[auth]
anonymous = false
token_file = "tokens.txt"
admin_groups = ["admins"]
retry_after = 7

[[auth.oidc]]
issuer = "{issuer}"
audience = "urn:ivoa-broker"
client_id = "ivoa-broker"
client_secret_file = "introspection-secret.txt"
jwks_min_refetch = 0

[auth.limits]
active_jobs = 3
pending_offersets = 2
[auth.limits.groups.astro]
active_jobs = 100
pending_offersets = 100

[jobs]
wait_cap = 5
offer_deadline = 5

[adapters.local]
plugin = "local"
[adapters.local.config]
containers = "off"
[adapters.box]
plugin = "ebtest-container"
allow_groups = ["astro"]
[adapters.box2]
plugin = "ebtest-container"
[adapters.hidden]
plugin = "ebtest-container"
allow_groups = ["nobody"]
"""


@pytest.fixture(scope="module")
def broker(
    provider: OpenIDProvider, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[BrokerProcess]:
    workdir = tmp_path_factory.mktemp("oidc-broker")
    (workdir / "tokens.txt").write_text(f"{STATIC} dave astro\n")
    (workdir / "introspection-secret.txt").write_text(CLIENTS["ivoa-broker"] + "\n")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("PYTHONPATH", str(PLUGINS), prepend=os.pathsep)
        process = BrokerProcess(workdir, config=CONFIG.format(issuer=provider.issuer))
        process.start(timeout=300)  # a loaded CI machine can take minutes to import it
    yield process
    process.stop()


@pytest.fixture(scope="module")
def tokens(provider: OpenIDProvider) -> dict[str, str]:
    return {
        "alice": provider.login("alice"),
        "bob": provider.login("bob"),
        "carol": provider.login("carol"),
        "carol-opaque": provider.login("carol", "urn:ivoa-broker:opaque"),
        "robot": provider.client_credentials("broker-cli"),
        "robot2": provider.client_credentials("ivoa-broker"),
    }


def client(broker: BrokerProcess, token: str | None) -> httpx.Client:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return httpx.Client(base_url=broker.url, headers=headers, timeout=30)


def eb_request() -> bytes:
    return formats.dump(request_document(command("echo", "hi")), formats.Format.YAML)


def offered(response: httpx.Response) -> list[str]:
    assert response.status_code == 303, response.text
    data: dict[str, Any] = yaml.safe_load(response.text)
    return sorted(o["meta"]["name"] for o in data["offers"])


def test_sso_challenges_and_public_vosi(broker: BrokerProcess, provider: OpenIDProvider) -> None:
    with client(broker, None) as anon:
        for method, path in (("GET", "/jobs"), ("POST", "/requests"), ("GET", "/sessions")):
            r = anon.request(method, path)
            assert r.status_code == 401, (path, r.text)
            assert r.headers.get_list("www-authenticate") == [
                'Bearer realm="ivoa-broker"',
                'ivoa_bearer standard_id="ivo://ivoa.net/sso#OpenID", '
                f'access_url="{provider.issuer}"',
            ]
        assert anon.get("/capabilities").status_code == 200
        assert anon.get("/availability").status_code == 200
    with client(broker, "not-a-valid-token-0123456789") as stranger:
        r = stranger.get("/jobs")
        assert r.status_code == 401
        assert 'error="invalid_token"' in r.headers.get_list("www-authenticate")[0]


def test_jwt_and_opaque_tokens_own_jobs(broker: BrokerProcess, tokens: dict[str, str]) -> None:
    with client(broker, tokens["alice"]) as alice, client(broker, tokens["bob"]) as bob:
        url = create(alice, QUICK)
        assert alice.get(url + "/owner").text == "alice"
        assert bob.get(url).status_code == 404
        alice.delete(url)
    with client(broker, tokens["carol-opaque"]) as carol:
        url = create(carol, QUICK)
        assert carol.get(url + "/owner").text == "carol"
        carol.delete(url)


def test_direct_submission_to_a_forbidden_platform_is_403(
    broker: BrokerProcess, tokens: dict[str, str]
) -> None:
    with client(broker, tokens["bob"]) as bob, client(broker, tokens["alice"]) as alice:
        r = bob.post("/jobs", data={**QUICK, "platform": "box"})
        assert r.status_code == 403
        assert "not permitted for owner bob: only for members of astro" in r.text
        assert doc(bob.get("/jobs")).findall(UWS + "jobref") == []
        url = create(alice, {**QUICK, "platform": "box"})
        r = alice.post(url + "/parameters", data={"platform": "hidden"})
        assert r.status_code == 403
        alice.delete(url)


def test_offers_only_from_permitted_platforms(
    broker: BrokerProcess, tokens: dict[str, str]
) -> None:
    headers = {"Content-Type": "application/yaml"}
    with client(broker, tokens["bob"]) as bob:
        r = bob.post("/requests", content=eb_request(), headers=headers)
        assert offered(r) == ["box2"]
        assert "hidden" not in r.text
        assert "box:" not in r.text
    with client(broker, tokens["alice"]) as alice:
        r = alice.post("/requests", content=eb_request(), headers=headers)
        assert offered(r) == ["box", "box2"]
        assert "hidden" not in r.text  # a non-admin does not learn it exists
        data = yaml.safe_load(r.text)
        box = next(o for o in data["offers"] if o["meta"]["name"] == "box")
        accepted = update(alice, box["meta"]["uuid"], phase_update("ACCEPTED"))
        assert accepted.status_code == 200, accepted.text
        assert accepted.json()["phase"] != "OFFERED"
    with client(broker, tokens["carol"]) as carol:
        r = carol.post("/requests", content=eb_request(), headers=headers)
        assert offered(r) == ["box", "box2"]
        assert "platform hidden is not permitted" in r.text  # only admins are told


def test_admins_list_and_abort_every_job(broker: BrokerProcess, tokens: dict[str, str]) -> None:
    with (
        client(broker, tokens["alice"]) as alice,
        client(broker, tokens["carol"]) as carol,
        client(broker, tokens["bob"]) as bob,
    ):
        url = create(alice, {**LONG, "PHASE": "RUN"})
        job_id = url.rsplit("/", 1)[1]
        listed = [j.get("id") for j in doc(carol.get("/jobs")).findall(UWS + "jobref")]
        assert job_id in listed
        assert job_id not in [j.get("id") for j in doc(bob.get("/jobs")).findall(UWS + "jobref")]
        assert carol.get(url + "/owner").text == "alice"
        assert bob.post(url + "/phase", data={"PHASE": "ABORT"}).status_code == 404
        r = carol.post(url + "/phase", data={"PHASE": "ABORT"}, follow_redirects=False)
        assert r.status_code == 303, r.text
        assert alice.get(url + "/phase").text == "ABORTED"
        assert carol.post(url + "/parameters", data={"x": "1"}).status_code == 404
        alice.delete(url)


async def _burst(broker: BrokerProcess, token: str, n: int, **request: Any) -> list[int]:
    headers = {"Authorization": f"Bearer {token}"}
    async with httpx.AsyncClient(base_url=broker.url, headers=headers, timeout=60) as http:
        answers = await asyncio.gather(*(http.request(**request) for _ in range(n)))
    for answer in answers:
        if answer.status_code == 429:
            assert answer.headers["retry-after"] == "7"
            assert "limit reached" in answer.text
    return sorted(a.status_code for a in answers)


async def test_active_job_limit_admits_exactly_n(
    broker: BrokerProcess, tokens: dict[str, str]
) -> None:
    statuses = await _burst(broker, tokens["robot"], 8, method="POST", url="/jobs", data=LONG)
    assert statuses == [303] * 3 + [429] * 5
    with client(broker, tokens["robot"]) as robot:
        refs = doc(robot.get("/jobs")).findall(UWS + "jobref")
        assert len(refs) == 3
        robot.delete(f"/jobs/{refs[0].get('id')}")
        again = create(robot, LONG)  # one ended: room for one more
        assert robot.post("/jobs", data=LONG).status_code == 429
        robot.delete(again)


async def test_pending_offerset_limit_admits_exactly_n(
    broker: BrokerProcess, tokens: dict[str, str]
) -> None:
    statuses = await _burst(
        broker,
        tokens["robot2"],
        6,
        method="POST",
        url="/requests",
        content=eb_request(),
        headers={"Content-Type": "application/yaml"},
    )
    assert statuses == [303] * 2 + [429] * 4


def test_pyvo_with_a_bearer_session(broker: BrokerProcess, tokens: dict[str, str]) -> None:
    pyvo = pytest.importorskip("pyvo")
    from pyvo.dal.tap import AsyncTAPJob

    session = pyvo.utils.http.create_session()
    session.headers["Authorization"] = f"Bearer {tokens['alice']}"
    with client(broker, tokens["alice"]) as alice:
        url = create(alice, {"cmd": "sh", "args": ["-c", "echo pyvo-bearer"]})
    job = AsyncTAPJob(url, session=session)
    assert job.phase == "PENDING"
    job.run().wait(timeout=60)
    assert job.phase == "COMPLETED"
    stdout = next(u for u in job.result_uris if u.endswith("/results/stdout"))
    assert session.get(stdout).text == "pyvo-bearer\n"
    job.delete()


def test_token_file_beside_oidc_is_reloaded(broker: BrokerProcess) -> None:
    path = Path(broker.workdir) / "tokens.txt"
    with client(broker, STATIC) as dave, client(broker, ROTATED) as erin:
        assert dave.get("/jobs").status_code == 200
        assert erin.get("/jobs").status_code == 401
        path.write_text(f"{ROTATED} erin\n")
        assert erin.get("/jobs").status_code == 200
        assert dave.get("/jobs").status_code == 401
        path.write_text("this line is broken\n")  # a bad file keeps the previous tokens
        assert erin.get("/jobs").status_code == 200


def test_no_token_in_the_log(broker: BrokerProcess, tokens: dict[str, str]) -> None:
    log = (Path(broker.workdir) / "broker.log").read_text()
    for token in [*tokens.values(), STATIC, ROTATED]:
        assert token not in log
    assert CLIENTS["ivoa-broker"] not in log


def test_every_protected_route_needs_an_identity(broker: BrokerProcess) -> None:
    """Whatever routes exist under /jobs, /requests, /offersets, /sessions: no token, 401."""
    from starlette.routing import Route

    from ivoa_broker.app import create_app
    from ivoa_broker.auth.middleware import protected

    checked = 0
    some_id = "0f0e0d0c-0b0a-4908-8706-050403020100"
    with client(broker, None) as anon:
        for route in create_app().routes:
            if not isinstance(route, Route) or not protected(route.path):
                continue
            path = route.path
            for name in route.param_convertors:
                path = path.replace("{" + name + "}", some_id).replace(
                    "{" + name + ":path}", some_id
                )
            for method in sorted((route.methods or set()) - {"HEAD", "OPTIONS"}):
                r = anon.request(method, path)
                assert r.status_code == 401, (method, path, r.status_code)
                assert r.headers["www-authenticate"].startswith("Bearer")
                checked += 1
    assert checked >= 20
