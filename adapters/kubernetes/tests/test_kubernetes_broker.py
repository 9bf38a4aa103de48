"""The whole chain over HTTP: pyvo (UWS) and an ExecutionBroker request ->
a real broker process -> the Kubernetes adapter (found through its entry point)
-> the API emulator -> pods running as local processes."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from ivoa_broker_kubernetes.emulator import EmulatorServer, KubernetesEmulator
from k8s_support import TOKEN

from ivoa_broker.testing.broker_http import session_results, wait_phase
from tests.eb_http.docs import JSON, command, offerset, phase_update, update
from tests.server import BrokerProcess

INSTANCE = "k8s"


@pytest.fixture
def broker(
    tmp_path: Path,
    k8s: EmulatorServer,
    kubeconfig: Path,
    namespace: str,
    emulator: KubernetesEmulator,
) -> Iterator[BrokerProcess]:
    claim = emulator.claim_dir(namespace, "results")
    config = (
        "[auth]\nanonymous = true\n[jobs]\nwait_cap = 10\n"
        f'[adapters.{INSTANCE}]\nplugin = "kubernetes"\n[adapters.{INSTANCE}.config]\n'
        f'kubeconfig = "{kubeconfig}"\ndefault_image = "busybox:1.36"\n'
        f'results_claim = "results"\nresults_local_path = "{claim}"\n'
        f'results_mount_path = "{tmp_path / "mnt" / "out"}"\n'
        "retries = 1\nbackoff_seconds = 0.05\ntermination_grace_seconds = 1\n"
    )
    process = BrokerProcess(tmp_path, config=config).start()
    try:
        yield process
    finally:
        process.stop()
        assert TOKEN not in process.log.read_text(errors="replace")


def test_pyvo_drives_a_kubernetes_job_through_the_broker(
    broker: BrokerProcess, emulator: KubernetesEmulator, namespace: str
) -> None:
    pyvo = pytest.importorskip("pyvo")
    from pyvo.dal import DALQueryError
    from pyvo.dal.tap import AsyncTAPJob

    session = pyvo.utils.http.create_session()
    script = 'echo via-pyvo; printf 42 > "$IVOA_BROKER_OUTPUT_DIR/answer.txt"'
    created = session.post(
        f"{broker.url}/jobs",
        data={"cmd": "sh", "args": ["-c", script], "platform": INSTANCE},
        allow_redirects=False,
    )
    assert created.status_code == 303, created.text
    job = AsyncTAPJob(created.headers["Location"], session=session)
    assert job.phase == "PENDING"
    job.run().wait(timeout=120)
    assert job.phase == "COMPLETED"
    job.raise_if_error()
    results = {u.rsplit("/", 1)[1]: session.get(u).text for u in job.result_uris}
    assert results["stdout"] == "via-pyvo\n"
    assert results["answer.txt"] == "42"
    [k8s_job] = [j for j in emulator.objects("Job", namespace)]
    assert k8s_job["spec"]["backoffLimit"] == 0
    assert (
        k8s_job["metadata"]["annotations"]["ivoa-broker.org/job-id"]
        == created.headers["Location"].rsplit("/", 1)[1]
    )
    job.delete()
    assert session.get(created.headers["Location"]).status_code == 404

    failing = session.post(
        f"{broker.url}/jobs",
        data={"cmd": "sh", "args": ["-c", "echo broken >&2; exit 3"], "platform": INSTANCE},
        allow_redirects=False,
    )
    bad = AsyncTAPJob(failing.headers["Location"], session=session)
    bad.run().wait(timeout=120)
    assert bad.phase == "ERROR"
    with pytest.raises(DALQueryError):
        bad.raise_if_error()
    info = session.get(failing.headers["Location"], headers=JSON).text
    assert "exit code 3" in info


def test_execution_broker_request_is_offered_and_accepted(broker: BrokerProcess) -> None:
    with httpx.Client(base_url=broker.url, timeout=30) as eb:
        data = offerset(eb, command("echo", "hello"))
        assert data["result"] == "YES"
        offer = data["offers"][0]
        session = offer["meta"]["uuid"]
        accepted = update(eb, session, phase_update("ACCEPTED"))
        assert accepted.status_code == 200, accepted.text
        job_url = f"{broker.url}/jobs/{session}"
        assert wait_phase(eb, job_url, {"COMPLETED", "ERROR"}, limit=60) == "COMPLETED"
        results = session_results(eb, session)
        assert eb.get(results["stdout"]).text == "hello\n"
