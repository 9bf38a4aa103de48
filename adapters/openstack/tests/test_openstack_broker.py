"""The whole path, for real: pyvo -> broker (UWS over HTTP) -> Nova -> the guest (stand-in)
runs the task -> the guest's curl posts to the broker's own callback route -> results ->
the finished server is deleted. The broker finds the adapter through its entry point."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from ivoa_broker_openstack._client import OpenStackClient
from ivoa_broker_openstack.testing import GuestStandIn
from openstack_support import Stack

from tests.server import BrokerProcess, free_port

INSTANCE = "cloud"


def _config(port: int, stack: Stack) -> str:
    return (
        f'[server]\npublic_url = "http://127.0.0.1:{port}"\n'
        "[auth]\nanonymous = true\n[jobs]\nwait_cap = 10\n"
        f'[adapters.{INSTANCE}]\nplugin = "openstack"\n[adapters.{INSTANCE}.config]\n'
        f'cloud = "local"\nclouds_yaml = "{stack.clouds_yaml}"\n'
        'image = "ci-tiny"\nnetwork = "ci-net"\napi_backoff_seconds = 0.2\n'
    )


def _pyvo_flow(url: str) -> tuple[str, dict[str, str], str]:
    """Blocking pyvo calls (run in a thread): one good job, one failing job."""
    import pyvo
    from pyvo.dal import DALQueryError
    from pyvo.dal.tap import AsyncTAPJob

    session = pyvo.utils.http.create_session()
    created = session.post(
        f"{url}/jobs",
        data={
            "cmd": "sh",
            "args": ["-c", 'echo from-the-vm; printf 7 > "$IVOA_BROKER_OUTPUT_DIR/seven.txt"'],
            "platform": INSTANCE,
        },
        allow_redirects=False,
    )
    assert created.status_code == 303, created.text
    job = AsyncTAPJob(created.headers["Location"], session=session)
    job.run().wait(timeout=300)
    job.raise_if_error()
    results = {u.rsplit("/", 1)[1]: session.get(u).text for u in job.result_uris}

    failing = session.post(
        f"{url}/jobs",
        data={"cmd": "sh", "args": ["-c", "exit 4"], "platform": INSTANCE},
        allow_redirects=False,
    )
    bad = AsyncTAPJob(failing.headers["Location"], session=session)
    bad.run().wait(timeout=300)
    with pytest.raises(DALQueryError):
        bad.raise_if_error()
    return job.phase, results, bad.phase


@pytest.mark.slow
async def test_pyvo_job_runs_on_a_nova_server_through_the_broker(
    openstack_stack: Stack, admin_client: OpenStackClient, tmp_path: Path
) -> None:
    pytest.importorskip("pyvo")
    port = free_port()
    broker = BrokerProcess(tmp_path, config=_config(port, openstack_stack), port=port).start()
    guest = GuestStandIn(
        admin_client,
        tmp_path / "guests",
        skip=lambda s: s.metadata.get("ivoa_broker_instance") != INSTANCE,
    )
    try:
        async with guest:  # no deliver hook: the guest's real curl posts to the broker
            phase, results, bad_phase = await asyncio.to_thread(_pyvo_flow, broker.url)
        assert not guest.errors, guest.errors
        assert phase == "COMPLETED"
        assert bad_phase == "ERROR"
        assert results["stdout"] == "from-the-vm\n"
        assert results["seven.txt"] == "7"
        # release(): the finished servers are deleted once their results are in
        for _ in range(100):
            left = [
                s
                for s in await admin_client.list_servers("ivoa-broker-")
                if s.metadata.get("ivoa_broker_instance") == INSTANCE
            ]
            if not left:
                break
            await asyncio.sleep(0.2)
        assert left == [], [s.id for s in left]
    finally:
        broker.stop()
        log = (tmp_path / "broker.log").read_text()
        assert "Traceback" not in log, log[-3000:]
