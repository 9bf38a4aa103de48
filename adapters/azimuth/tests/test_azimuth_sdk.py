"""The emulator, proven with the official client: ``azimuth-sdk`` (sync and async).

Every resource the adapter uses is listed, fetched, created and deleted the SDK's way:
authenticator discovery, the application-credential token exchange, bearer tokens, the
token refresh on a 401, trailing-slash URLs, JSON content types, 404s on delete.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from azimuth_sdk import APIError, Configuration
from azimuth_sdk.client import SyncClient
from ivoa_broker_azimuth.emulator import AzimuthEmulator, EmulatorServer


@pytest.fixture
def sdk_config(portal: EmulatorServer, cred: tuple[str, str], tenancy_id: str) -> Configuration:
    return Configuration.create(
        portal.url,
        authenticator_type="openstack_application_credential",
        auth_data={
            "application_credential_id": cred[0],
            "application_credential_secret": cred[1],
        },
        default_tenancy_id=tenancy_id,
    )


@pytest.fixture
def client(sdk_config: Configuration) -> Iterator[SyncClient]:
    with sdk_config.sync_client() as client:
        yield client


def _wait(fetch: Any, field: str, value: str, timeout: float = 10.0) -> Any:
    """Poll ``fetch()`` until ``obj[field]`` is ``value`` (statuses change in the emulator)."""
    end = time.monotonic() + timeout
    while True:
        obj = fetch()
        current = obj
        for part in field.split("."):
            current = current[part]
        if current == value:
            return obj
        assert time.monotonic() < end, f"{field} is {current!r}, not {value!r}"
        time.sleep(0.02)


def test_tenancies_default_and_first(client: SyncClient, tenancy_id: str) -> None:
    tenancies = list(client.tenancies().list())
    assert [t.id for t in tenancies] == [tenancy_id]
    assert tenancies[0].links.machines.endswith(f"/api/tenancies/{tenancy_id}/machines/")


def test_sdk_discovers_the_tenancy_without_a_default(
    portal: EmulatorServer, cred: tuple[str, str], tenancy_id: str
) -> None:
    config = Configuration.create(
        portal.url,
        authenticator="appcred",
        auth_data={
            "application_credential_id": cred[0],
            "application_credential_secret": cred[1],
        },
    )
    with config.sync_client() as client:
        assert [s.id for s in client.sizes().list()]
        assert client._default_tenancy_id == tenancy_id


def test_sizes_images_list_and_fetch(client: SyncClient) -> None:
    sizes = list(client.sizes().list())
    assert {"id", "name", "cpus", "ram", "disk", "ephemeral_disk", "additional_properties"} <= set(
        sizes[0]
    )
    assert client.sizes().fetch(sizes[0].id).name == sizes[0].name
    images = list(client.images().list())
    assert client.images().fetch(images[0].id).name == images[0].name
    with pytest.raises(APIError) as info:
        client.images().fetch("no-such-image")
    assert info.value.status_code == 404


def test_capabilities_through_the_sdks_http_client(client: SyncClient, tenancy_id: str) -> None:
    caps = client.get(f"/api/tenancies/{tenancy_id}/capabilities/").json()
    assert caps["supports_scheduling"] is True and caps["supports_apps"] is True
    assert caps["links"]["self"].endswith(f"/api/tenancies/{tenancy_id}/capabilities/")


def test_quotas_through_a_tenancy_resource(client: SyncClient) -> None:
    quotas = {q.resource: q for q in client._tenancy_resource("quotas").list()}
    assert {"cpus", "ram", "machines"} <= set(quotas)
    assert quotas["ram"].units == "MB"
    assert quotas["cpus"].quota_type == "COMPUTE"


def test_machine_create_boot_run_logs_delete(client: SyncClient) -> None:
    size = min(client.sizes().list(), key=lambda s: s.cpus)
    image = client.images().first()
    machine = client.machines().create(
        {
            "name": "sdk-machine",
            "image_id": image.id,
            "size_id": size.id,
            "userdata": "#!/bin/sh\necho hello from the guest\npoweroff\n",
        }
    )
    assert machine.status.type == "BUILD"
    assert machine.size.id == size.id
    done = _wait(lambda: client.machines().fetch(machine.id), "status.name", "SHUTOFF")
    assert done.power_state == "Shut down"
    assert machine.id in [m.id for m in client.machines().list()]
    lines = httpx.get(done.links.logs, headers=_bearer(client)).json()["logs"]
    assert "hello from the guest" in lines
    client.machines().delete(machine.id)
    _gone(lambda: client.machines().fetch(machine.id))
    with pytest.raises(APIError) as info:  # easykube's 404-on-delete pass does not
        client.machines().delete(machine.id)  # see the SDK's own APIError: it raises
    assert info.value.status_code == 404


def test_machine_create_validation_and_quota(client: SyncClient, emulator: AzimuthEmulator) -> None:
    image = client.images().first()
    with pytest.raises(APIError) as info:
        client.machines().create({"name": "bad name!", "image_id": image.id})
    assert info.value.status_code == 400
    assert info.value.response.json() == {
        "name": ["This value does not match the required pattern."],
        "size_id": ["This field is required."],
    }
    tenancy = emulator.add_tenancy("tiny", cpus=1)
    big = max(client.sizes().list(), key=lambda s: s.cpus)
    with pytest.raises(APIError) as info:
        client.machines(tenancy.id).create({"name": "big", "image_id": image.id, "size_id": big.id})
    assert info.value.status_code == 404  # not this user's tenancy
    emulator.tenancies[client._default_tenancy_id].quota_cpus = 1
    with pytest.raises(APIError) as info:
        client.machines().create({"name": "big", "image_id": image.id, "size_id": big.id})
    assert info.value.status_code == 409
    assert info.value.response.json()["code"] == "quota_exceeded"


def test_app_templates_and_apps(client: SyncClient) -> None:
    templates = {t.id: t for t in client.kubernetes_app_templates().list()}
    assert "jupyterhub" in templates
    assert templates["jupyterhub"].versions[0]["name"]
    assert client.kubernetes_app_templates().fetch("jupyterhub").label == "JupyterHub"
    name = f"sdk-{uuid.uuid4().hex[:6]}"
    app = client.kubernetes_apps().create({"name": name, "template": "jupyterhub", "values": {}})
    assert app.status == "Pending"
    assert app.template.id == "jupyterhub"
    ready = _wait(lambda: client.kubernetes_apps().fetch(name), "status", "Deployed")
    service = ready.services[0]
    assert service["fqdn"]
    assert service["url"].endswith(f"/kubernetes_apps/{name}/services/jupyterhub/")
    page = httpx.get(service["url"], headers=_bearer(client), follow_redirects=True)
    assert page.status_code == 200 and f"JupyterHub {name} is running" in page.text
    anonymous = httpx.get(service["url"])
    assert anonymous.status_code == 302 and "/auth/login/" in anonymous.headers["location"]
    client.kubernetes_apps().delete(name)
    _gone(lambda: client.kubernetes_apps().fetch(name))


def test_cluster_types_and_clusters(client: SyncClient) -> None:
    types = {c.name: c for c in client.cluster_types().list()}
    assert "workstation" in types
    assert client.cluster_types().fetch("workstation").parameters[0]["kind"] == "cloud.size"
    size = min(client.sizes().list(), key=lambda s: s.cpus)
    with pytest.raises(APIError) as info:  # scheduling is on: an end time is required
        client.clusters().create(
            {
                "name": "ws",
                "cluster_type": "workstation",
                "parameter_values": {"cluster_flavor": size.id},
            }
        )
    assert info.value.response.json() == {"schedule": ["This field is required."]}
    spec: dict[str, Any] = {
        "name": "ws",
        "cluster_type": "workstation",
        "parameter_values": {"cluster_flavor": size.id},
        "schedule": {"end_time": "2999-01-01T00:00:00Z"},
    }
    with pytest.raises(APIError) as info:  # beyond MAX_PLATFORM_DURATION_HOURS
        client.clusters().create(spec)
    assert info.value.status_code == 409
    end = datetime.now(UTC) + timedelta(hours=1)
    spec["schedule"] = {"end_time": end.isoformat()}
    cluster = client.clusters().create(spec)
    assert cluster.schedule["end_time"].startswith(end.strftime("%Y-%m-%dT%H:%M"))
    assert cluster.status == "CONFIGURING"
    ready = _wait(lambda: client.clusters().fetch(cluster.id), "status", "READY")
    assert {s["name"] for s in ready.services} == {"webconsole", "monitoring"}
    assert cluster.id in [c.id for c in client.clusters().list()]
    client.clusters().delete(cluster.id)
    _gone(lambda: client.clusters().fetch(cluster.id))


def test_token_expiry_is_refreshed_by_the_sdk(
    client: SyncClient, emulator: AzimuthEmulator
) -> None:
    assert list(client.sizes().list())
    emulator.expire_tokens()
    assert list(client.sizes().list())  # the SDK got a new token after the 401
    before = [c for c in emulator.calls if c[1] == "/auth/appcred/token/"]
    assert len(before) >= 2


async def test_async_client(sdk_config: Configuration, tenancy_id: str) -> None:
    async with sdk_config.async_client() as client:
        sizes = [s async for s in client.sizes().list()]
        assert sizes
        machine = await client.machines().create(
            {
                "name": "async-m",
                "image_id": (await client.images().first()).id,
                "size_id": sizes[0].id,
            }
        )
        assert (await client.machines().fetch(machine.id)).name == "async-m"
        await client.machines().delete(machine.id)


def test_wrong_credentials(portal: EmulatorServer) -> None:
    config = Configuration.create(
        portal.url,
        authenticator="appcred",
        auth_data={"application_credential_id": "nope", "application_credential_secret": "x"},
    )
    client = config.sync_client()
    try:
        with pytest.raises(APIError) as info:
            client.__enter__()  # authenticates, then discovers the default tenancy
    finally:
        client.close()  # the SDK's __enter__ does not close what it opened when it raises
    assert info.value.status_code == 401


def _bearer(client: SyncClient) -> dict[str, str]:
    token = client._auth._token  # what the SDK authenticated with
    return {"Authorization": f"Bearer {token}"}


def _gone(fetch: Any, timeout: float = 10.0) -> None:
    end = time.monotonic() + timeout
    while True:
        try:
            fetch()
        except APIError as exc:
            if exc.status_code == 404:
                return
            raise
        assert time.monotonic() < end, "still there"
        time.sleep(0.02)


def test_unauthenticated_answers_are_drfs(portal: EmulatorServer) -> None:
    assert httpx.get(f"{portal.url}/_status/").status_code == 204
    assert httpx.get(f"{portal.url}/api/").json()["links"]["session"].endswith("/api/session/")
    missing = httpx.get(f"{portal.url}/api/tenancies/")
    assert missing.status_code == 401
    assert missing.json() == {"detail": "Authentication credentials were not provided."}
    assert missing.headers["www-authenticate"] == "Token"
    stale = httpx.get(f"{portal.url}/api/tenancies/", headers={"Authorization": "Bearer nope"})
    assert stale.status_code == 401 and stale.json() == {"detail": "Your session has expired."}
    put = httpx.put(f"{portal.url}/api/tenancies/", headers={"Authorization": "Bearer x"})
    assert put.status_code == 405 and put.json() == {"detail": 'Method "PUT" not allowed.'}
    kinds = httpx.get(f"{portal.url}/auth/authenticators/").json()
    assert kinds == {"appcred": {"type": "openstack_application_credential", "options": []}}
