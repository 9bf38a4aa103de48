"""The whole chain: a real broker process over HTTP -> the Slurm adapter (found through its
entry point, CLI mode) -> the real test cluster. A UWS job driven by pyvo, and an
ExecutionBroker request answered with a Slurm offer and accepted.

ExecutionBroker requests always name a container image, so the instance is configured with
a container runner: ``fake-apptainer`` (next to this file), which takes ``exec IMAGE cmd...``
like apptainer and runs ``cmd...`` on the node (no container runtime can be installed here)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from lxml import etree
from slurm_cluster import LocalCluster, job_root

from ivoa_broker.testing.broker_http import accept_offer, wait_phase
from tests.server import BrokerProcess

UWS = "{http://www.ivoa.net/xml/UWS/v1.0}"
KINDS = "https://www.purl.org/ivoa.net/Calycopis-openapi/schema/v1.0/kinds/"
JSON = {"Accept": "application/json"}
SHIM = Path(__file__).resolve().parent / "fake-apptainer"


@pytest.fixture(scope="module")
def broker(slurm: LocalCluster, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    config = (
        "[auth]\nanonymous = true\n[jobs]\nwait_cap = 10\n"
        '[adapters.slurm]\nplugin = "slurm"\n[adapters.slurm.config]\n'
        f'mode = "cli"\njob_root = "{job_root(slurm)}"\n'
        f'container_runner = "apptainer"\ncontainer_runner_path = "{SHIM}"\n'
        f'[adapters.slurm.config.env]\nSLURM_CONF = "{slurm.slurm_conf}"\n'
    )
    process = BrokerProcess(
        tmp_path_factory.mktemp("slurm-broker"), config, args=("--log-level", "warning")
    )
    try:
        yield process.start().url
    finally:
        process.stop()


def test_pyvo_drives_a_slurm_job_through_the_broker(broker: str, slurm: LocalCluster) -> None:
    pyvo = pytest.importorskip("pyvo")
    from pyvo.dal import DALQueryError
    from pyvo.dal.tap import AsyncTAPJob

    session = pyvo.utils.http.create_session()
    created = session.post(
        f"{broker}/jobs",
        data={"cmd": "sh", "args": ["-c", "echo via-pyvo-$SLURM_JOB_ID"], "platform": "slurm"},
        allow_redirects=False,
    )
    assert created.status_code == 303, created.text
    job = AsyncTAPJob(created.headers["Location"], session=session)
    assert job.phase == "PENDING"
    job.run().wait(timeout=120)
    assert job.phase == "COMPLETED"
    job.raise_if_error()
    texts = [session.get(uri).text for uri in job.result_uris]
    [native] = [t.strip().rsplit("-", 1)[1] for t in texts if "via-pyvo-" in t]
    info = etree.fromstring(session.get(created.headers["Location"]).content)
    assert info.find(f"{UWS}phase") is not None
    # the broker's job is a real Slurm job, named and commented with the broker job id
    job_id = created.headers["Location"].rstrip("/").rsplit("/", 1)[1]
    shown = slurm.command("scontrol", "-o", "show", "job", native).stdout
    assert f"JobName=ivb-{job_id} " in shown and f"Comment=ivoa-broker:slurm:{job_id}" in shown
    job.delete()

    failing = session.post(
        f"{broker}/jobs",
        data={"cmd": "sh", "args": ["-c", "exit 3"], "platform": "slurm"},
        allow_redirects=False,
    )
    bad = AsyncTAPJob(failing.headers["Location"], session=session)
    bad.run().wait(timeout=120)
    assert bad.phase == "ERROR"
    with pytest.raises(DALQueryError):
        bad.raise_if_error()
    detail = httpx.get(failing.headers["Location"], headers=JSON).json()
    assert "exit_nonzero" in str(detail) or "non-zero" in str(detail)


def _request(*argv: str) -> dict[str, object]:
    return {
        "executable": {
            "kind": f"{KINDS}executable/docker-container.yaml",
            "meta": {"name": "slurm-eb"},
            "image": {"locations": ["docker.io/library/alpine:3.20"]},
            "command": list(argv),
        },
        "compute": {"kind": f"{KINDS}compute/simple-compute-resource.yaml", "cores": {"min": 1}},
        "schedule": {"requested": {"duration": "PT10M"}},
    }


def test_execution_broker_request_gets_a_slurm_offer_and_runs(broker: str) -> None:
    with httpx.Client(base_url=broker, timeout=30) as eb:
        answer = eb.post("/requests", json=_request("echo", "hello-eb"), headers=JSON)
        assert answer.status_code == 303, answer.text
        offers = answer.json()
        assert offers["result"] == "YES", offers
        # PT10M: only the partition whose MaxTime allows 10 minutes offers
        [offer] = offers["offers"]
        assert offer["meta"]["name"].startswith("slurm")
        session = offer["meta"]["uuid"]
        accept_offer(eb, session)
        phase = wait_phase(eb, f"/jobs/{session}", {"COMPLETED", "ERROR", "ABORTED"}, 300)
        assert phase == "COMPLETED", eb.get(f"/jobs/{session}").text
        done = eb.get(f"/sessions/{session}", headers=JSON).json()
        assert done["phase"] == "COMPLETED"
        results = {
            m["values"]["id"]: m["values"]["url"]
            for m in done["meta"]["messages"]
            if m.get("template") == "result"
        }
        assert eb.get(results["stdout"]).text == "hello-eb\n"
