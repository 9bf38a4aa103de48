"""The skaha emulator behaves as skaha's source does (the commit named in
:mod:`ivoa_broker_canfar.emulator`)."""

from __future__ import annotations

import asyncio
import base64
import re
from collections.abc import AsyncIterator
from typing import Any
from xml.etree import ElementTree

import httpx
import pytest
from canfar_support import NOTEBOOK, TERMINAL
from ivoa_broker_canfar.emulator import EmulatorServer, SkahaEmulator

#: what Gson writes for a flexible session (null fields are left out)
SESSION_FIELDS = {
    "id",
    "userid",
    "runAsUID",
    "runAsGID",
    "supplementalGroups",
    "image",
    "type",
    "status",
    "name",
    "startTime",
    "expiryTime",
    "connectURL",
    "requestedGPUCores",
    "isFixedResources",
}


@pytest.fixture
async def http(skaha: EmulatorServer, token: str) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(
        base_url=skaha.url + "/v1/", headers={"Authorization": f"Bearer {token}"}
    ) as client:
        yield client


async def until(http: httpx.AsyncClient, ident: str, *statuses: str) -> dict[str, Any]:
    for _ in range(1500):
        data: dict[str, Any] = (await http.get(f"session/{ident}")).json()
        if data["status"] in statuses:
            return data
        await asyncio.sleep(0.02)
    raise AssertionError(f"{ident} never reached {statuses}")


async def test_create_answers_the_id_as_plain_text(http: httpx.AsyncClient) -> None:
    r = await http.post("session", data={"name": "Mixed-Case", "image": TERMINAL, "cmd": "true"})
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("text/plain")
    assert r.text.endswith("\n")
    ident = r.text.strip()
    assert len(ident) == 8
    assert ident.isalnum()
    assert ident == ident.lower()
    listed = (await http.get("session")).json()
    assert [s["id"] for s in listed] == [ident]
    assert set(listed[0]) == SESSION_FIELDS
    assert listed[0]["name"] == "mixed-case"  # skaha stores names lower-cased
    assert listed[0]["type"] == "headless"  # skaha's default type
    assert listed[0]["isFixedResources"] is False  # no cores/ram asked: flexible
    assert listed[0]["connectURL"] == ""


async def test_query_parameters_work_like_form_fields(http: httpx.AsyncClient) -> None:
    r = await http.post("session", params={"name": "q", "image": TERMINAL, "cmd": "true"})
    assert r.status_code == 200


async def test_headless_command_really_runs_with_args_and_env(http: httpx.AsyncClient) -> None:
    form = {
        "name": "run",
        "image": TERMINAL,
        "cmd": "sh",
        "args": "-c echo${IFS}$A-$B-$C;exit${IFS}5",
        "env": ["A=1", "B=x=y", "C=3"],
    }
    ident = (await http.post("session", data=form)).text.strip()
    data = await until(http, ident, "Failed")
    assert data["connectURL"] == ""
    logs = (await http.get(f"session/{ident}", params={"view": "logs"})).text
    assert logs == "1--3\n"  # B=x=y does not split in two: skaha drops it
    events = (await http.get(f"session/{ident}", params={"view": "events"})).text
    lines = events.strip().split("\n")
    assert lines[0].split() == ["TYPE", "REASON", "MESSAGE", "FIRST-TIME", "LAST-TIME"]
    # kubectl's columns: every row splits into five cells on runs of 2+ spaces
    assert all(len(re.split(r"\s{2,}", line)) == 5 for line in lines)
    assert lines[0].index("REASON") == lines[1].index(lines[1].split()[1])
    assert "container exited with code 5" in events


async def test_status_progression_and_delete(
    http: httpx.AsyncClient, emulator: SkahaEmulator
) -> None:
    emulator.hold = True
    ident = (
        await http.post(
            "session", data={"name": "p", "image": TERMINAL, "cmd": "sleep", "args": "600"}
        )
    ).text.strip()
    assert (await http.get(f"session/{ident}")).json()["status"] == "Pending"
    emulator.release(ident)
    await until(http, ident, "Running")
    assert (await http.get("session", params={"status": "Running"})).json()[0]["id"] == ident
    assert (await http.get("session", params={"status": "Pending"})).json() == []
    assert (await http.delete(f"session/{ident}")).status_code == 200
    after = await http.get(f"session/{ident}")  # Terminating for terminate_delay, then gone
    assert after.status_code == 404 or after.json()["status"] == "Terminating"
    for _ in range(1500):
        if (await http.get(f"session/{ident}")).status_code == 404:
            break
        await asyncio.sleep(0.02)
    assert (await http.get(f"session/{ident}")).status_code == 404
    assert (await http.delete(f"session/{ident}")).status_code == 200  # skaha never says 404


async def test_events_are_none_before_the_pod_is_scheduled(
    http: httpx.AsyncClient, emulator: SkahaEmulator
) -> None:
    emulator.hold = True
    ident = (
        await http.post("session", data={"name": "e", "image": TERMINAL, "cmd": "true"})
    ).text.strip()
    assert (await http.get(f"session/{ident}", params={"view": "events"})).text == "<none>\n"
    emulator.release(ident)
    await until(http, ident, "Completed")
    events = (await http.get(f"session/{ident}", params={"view": "events"})).text
    assert "Scheduled" in events


async def test_finished_sessions_are_completed_and_filters_ignore_case(
    http: httpx.AsyncClient,
) -> None:
    ident = (
        await http.post("session", data={"name": "c", "image": TERMINAL, "cmd": "true"})
    ).text.strip()
    await until(http, ident, "Completed")
    for status in ("Completed", "completed", "COMPLETED"):
        found = (await http.get("session", params={"status": status})).json()
        assert [s["id"] for s in found] == [ident]
    assert (await http.get("session", params={"type": "HEADLESS"})).json()
    assert (await http.get("session", params={"view": "interactive"})).json() == []


async def test_fixed_and_fractional_resources(http: httpx.AsyncClient) -> None:
    form = {"name": "f", "image": TERMINAL, "cmd": "sleep", "args": "60", "cores": "1.5"}
    ident = (await http.post("session", data={**form, "ram": "8"})).text.strip()
    data = (await http.get(f"session/{ident}")).json()
    assert data["isFixedResources"] is True
    # 8 GiB written as GB with two decimals; 1500m cores as skaha's core unit
    assert (data["requestedRAM"], data["requestedCPUCores"]) == ("8.59", "1.500")
    only_cores = (await http.post("session", data={**form, "name": "g"})).text.strip()
    data = (await http.get(f"session/{only_cores}")).json()
    assert data["isFixedResources"] is False  # memory request != limit: flexible
    assert "requestedRAM" not in data
    stats = (await http.get("session", params={"view": "stats"})).json()
    assert set(stats) == {"cores", "ram"}
    assert set(stats["cores"]) == {"requestedCPUCores", "cpuCoresAvailable", "maxCPUCores"}
    assert stats["cores"]["requestedCPUCores"] >= 1.5 + 1.5
    assert set(stats["ram"]["maxRAM"]) == {"ram", "withCPUCores"}
    for done in (ident, only_cores):
        await http.delete(f"session/{done}")


async def test_unlisted_images_need_registry_credentials(http: httpx.AsyncClient) -> None:
    form = {"name": "u", "image": "images.canfar.net/mine/private:2", "cmd": "true"}
    r = await http.post("session", data=form)
    assert (r.status_code, "x-skaha-registry-auth" in r.text) == (400, True)
    auth = {"X-Skaha-Registry-Auth": base64.b64encode(b"me:secret").decode()}
    r = await http.post("session", data=form, headers=auth)
    assert r.status_code == 200
    # the image's labels are not checked: a headless-only image as a notebook
    nb = await http.post("session", data={"name": "n", "image": TERMINAL, "type": "Notebook"})
    assert nb.status_code == 200
    data = await until(http, nb.text.strip(), "Running")
    assert data["type"] == "notebook"
    assert "/lab/tree/arc/home/" in data["connectURL"]
    await http.delete(f"session/{nb.text.strip()}")


async def test_desktop_apps(http: httpx.AsyncClient, emulator: SkahaEmulator) -> None:
    emulator.hold = True
    desktop = (
        await http.post("session", data={"name": "d", "image": TERMINAL, "type": "desktop"})
    ).text.strip()
    early = await http.post(f"session/{desktop}/app", data={"image": TERMINAL})
    assert early.status_code == 404  # not running yet
    emulator.hold = False
    emulator.release()
    await until(http, desktop, "Running")
    appid = (await http.post(f"session/{desktop}/app", data={"image": TERMINAL})).text.strip()
    assert len(appid) == 3
    app = (await http.get(f"session/{desktop}/app/{appid}")).json()
    assert (app["id"], app["appid"], app["type"]) == (desktop, appid, "desktop-app")
    listed = (await http.get(f"session/{desktop}/app")).json()
    assert [a["appid"] for a in listed] == [appid]
    assert all(s["type"] != "desktop-app" for s in (await http.get("session")).json())
    typed = (await http.get("session", params={"type": "desktop-app"})).json()
    assert [a["appid"] for a in typed] == [appid]
    assert (await http.delete(f"session/{desktop}/app/{appid}")).status_code == 200
    r = await http.post("session", data={"name": "x", "image": TERMINAL, "type": "desktop-app"})
    assert r.status_code == 500  # skaha looks for launch-desktop_app.yaml
    await http.delete(f"session/{desktop}")
    gone = await http.get(f"session/{desktop}/app/nope")
    assert gone.status_code == 404


async def test_capabilities_name_this_server(skaha: EmulatorServer) -> None:
    async with httpx.AsyncClient() as anon:
        r = await anon.get(skaha.url + "/capabilities")
    assert r.status_code == 200
    root = ElementTree.fromstring(r.text)
    urls = {
        c.get("standardID"): c.find("interface/accessURL").text  # type: ignore[union-attr]
        for c in root.findall("capability")
    }
    assert urls["http://www.opencadc.org/std/platform#session-1"] == skaha.url + "/v1/session"
    assert urls["ivo://ivoa.net/std/VOSI#availability"] == skaha.url + "/availability"


async def test_interactive_session_has_a_connect_url_and_renews(
    http: httpx.AsyncClient,
) -> None:
    ident = (
        await http.post(
            "session",
            data={"name": "nb", "image": NOTEBOOK, "type": "notebook", "cores": "2", "ram": "4"},
        )
    ).text.strip()
    data = await until(http, ident, "Running")
    assert data["connectURL"].startswith("http://127.0.0.1:")
    assert (data["requestedCPUCores"], data["requestedRAM"]) == ("2", "4.29")
    r = await http.post(f"session/{ident}", data={"action": "renew"})
    assert r.status_code == 200
    r = await http.post(f"session/{ident}", data={"action": "pause"})
    assert (r.status_code, r.text.strip()) == (400, "unrecognized action")
    r = await http.post(f"session/{ident}", data={})
    assert (r.status_code, r.text.strip()) == (400, "Cannot modify an existing session")
    await http.delete(f"session/{ident}")
    r = await http.post("session/nosuchid", data={"action": "renew"})
    assert r.status_code == 400
    assert r.text.startswith("No active job for user ")


@pytest.mark.parametrize(
    ("form", "status", "message"),
    [
        ({"name": "x"}, 400, "Missing parameter 'image'"),
        ({"image": TERMINAL}, 400, "Missing parameter 'name'"),
        ({"name": "a_b", "image": TERMINAL}, 400, "alpha-numeric"),
        ({"name": "x", "image": "docker.io/alpine:3"}, 400, "must come from one of"),
        ({"name": "x", "image": "skaha/terminal:1.1.2"}, 400, "must come from one of"),
        ({"name": "x", "image": TERMINAL, "type": "batch"}, 400, "Invalid session type: batch"),
        ({"name": "x", "image": TERMINAL, "cores": "3"}, 400, "Invalid value for 'cores'"),
        ({"name": "x", "image": TERMINAL, "cores": "0.5"}, 400, "Invalid value for 'cores'"),
        ({"name": "x", "image": TERMINAL, "ram": "lots"}, 400, "Invalid value for 'ram'"),
        ({"name": "x", "image": TERMINAL, "gpus": "3"}, 400, "Invalid value for 'gpus'"),
    ],
)
async def test_skaha_validation(
    http: httpx.AsyncClient, form: dict[str, str], status: int, message: str
) -> None:
    r = await http.post("session", data=form)
    assert r.status_code == status
    assert message in r.text


async def test_401_without_a_valid_bearer_token(skaha: EmulatorServer) -> None:
    async with httpx.AsyncClient(base_url=skaha.url + "/v1/") as anon:
        for path in ("session", "context", "image", "repository", "session/abc"):
            assert (await anon.get(path)).status_code == 401
        wrong = {"Authorization": "Bearer nope"}
        assert (await anon.get("session", headers=wrong)).status_code == 401


async def test_users_see_only_their_own_sessions(
    http: httpx.AsyncClient, skaha: EmulatorServer, emulator: SkahaEmulator
) -> None:
    ident = (
        await http.post("session", data={"name": "mine", "image": TERMINAL, "cmd": "true"})
    ).text.strip()
    emulator.add_user("tok-stranger", "stranger")
    async with httpx.AsyncClient(
        base_url=skaha.url + "/v1/", headers={"Authorization": "Bearer tok-stranger"}
    ) as stranger:
        assert (await stranger.get("session")).json() == []
        assert (await stranger.get(f"session/{ident}")).status_code == 404
        assert (await stranger.delete(f"session/{ident}")).status_code == 200
        assert (await http.get(f"session/{ident}")).status_code == 200  # still there
        everyone = (await stranger.get("session", params={"view": "all"})).json()
        assert {"userid", "type", "status", "startTime"} == set(everyone[0])


async def test_context_image_and_repository_listings(http: httpx.AsyncClient) -> None:
    context = (await http.get("context")).json()
    assert set(context) == {"cores", "memoryGB", "gpus", "maxInteractiveSessions"}
    assert context["maxInteractiveSessions"] == "3"  # a string, as the Helm chart writes it
    assert {"default", "defaultRequest", "defaultLimit", "options"} <= set(context["cores"])
    images = (await http.get("image")).json()
    assert {"id", "types", "digest"} == set(images[0])
    desktops = (await http.get("image", params={"type": "desktop"})).json()
    assert desktops
    assert all("desktop" in i["types"] for i in desktops)
    assert (await http.get("repository")).json() == ["images.canfar.net"]
    r = await http.get("image", params={"type": "batch"})
    assert (r.status_code, r.text.strip()) == (400, "unknown type: batch")


async def test_fault_api_for_demos(http: httpx.AsyncClient, skaha: EmulatorServer) -> None:
    base = skaha.url.removesuffix("/skaha")
    async with httpx.AsyncClient(base_url=base) as admin:
        r = await admin.post(
            "/_emulator/faults", json={"kind": "status", "status": 502, "path": "/skaha/v1/context"}
        )
        assert r.status_code == 200
        assert (await http.get("context")).status_code == 502
        assert (await http.get("context")).status_code == 200
        await admin.post("/_emulator/faults", json={"kind": "garbage"})
        with pytest.raises(ValueError, match=r"JSON|Expecting|utf-8|codec"):
            (await http.get("image")).json()
        await admin.post("/_emulator/faults", json={"kind": "drop", "count": 3})
        assert (await admin.delete("/_emulator/faults")).status_code == 200
        assert (await http.get("context")).status_code == 200


async def test_availability(skaha: EmulatorServer) -> None:
    async with httpx.AsyncClient() as anon:
        r = await anon.get(skaha.url + "/availability")
    assert r.status_code == 200
    assert "<vosi:available>true</vosi:available>" in r.text
