"""The emulator driven by kubectl, a client nobody here wrote (Debian's
``kubernetes-client`` in CI): apply -f job.yaml, get -w, logs, delete."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import time
from pathlib import Path

import pytest
from ivoa_broker_kubernetes.emulator import KubernetesEmulator

KUBECTL = os.environ.get("KUBECTL") or shutil.which("kubectl")
pytestmark = pytest.mark.skipif(KUBECTL is None, reason="kubectl is not installed (.ci/install.d)")

JOB_YAML = """\
apiVersion: batch/v1
kind: Job
metadata:
  name: {name}
  labels:
    app: kubectl-test
spec:
  backoffLimit: 0
  template:
    spec:
      restartPolicy: Never
      containers:
      - name: main
        image: busybox:1.36
        command: ["sh", "-c", "sleep 1; echo hello from kubectl; echo to-stderr >&2; exit {code}"]
        resources:
          limits: {{cpu: "500m", memory: 64Mi}}
"""


def _client_minor() -> int:
    assert KUBECTL is not None
    out = subprocess.run(
        [KUBECTL, "version", "--client", "-o", "json"], capture_output=True, text=True
    )
    return int(json.loads(out.stdout)["clientVersion"]["minor"].rstrip("+"))


#: kubectl before 1.27 validates client-side with the OpenAPI v2 document, which it
#: fetches as protobuf only; the emulator serves OpenAPI as JSON (newer kubectl
#: asks for it and uses server-side field validation), so old clients skip validation
OLD_CLIENT = KUBECTL is not None and _client_minor() < 27


def kubectl(kubeconfig: Path, *args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    assert KUBECTL is not None
    if OLD_CLIENT and args and args[0] in ("apply", "create"):
        args = (args[0], "--validate=false", *args[1:])
    return subprocess.run(
        [KUBECTL, f"--kubeconfig={kubeconfig}", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**os.environ, "KUBECACHEDIR": str(kubeconfig.parent / "kube-cache")},
    )


def ok(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode == 0, f"{result.args}\n{result.stdout}\n{result.stderr}"
    return result.stdout


def test_kubectl_version_and_discovery(kubeconfig: Path) -> None:
    version = json.loads(ok(kubectl(kubeconfig, "version", "-o", "json")))
    assert version["serverVersion"]["gitVersion"].startswith("v1.32")
    resources = ok(kubectl(kubeconfig, "api-resources"))
    for name in (
        "jobs",
        "pods",
        "services",
        "resourcequotas",
        "limitranges",
        "namespaces",
        "nodes",
    ):
        assert name in resources.split()
    nodes = json.loads(ok(kubectl(kubeconfig, "get", "nodes", "-o", "json")))
    assert {n["metadata"]["name"] for n in nodes["items"]} == {"node-a", "node-b"}


def test_kubectl_apply_watch_logs_delete(kubeconfig: Path, tmp_path: Path, namespace: str) -> None:
    manifest = tmp_path / "job.yaml"
    manifest.write_text(JOB_YAML.format(name="hello", code=0))
    assert "job.batch/hello created" in ok(kubectl(kubeconfig, "apply", "-f", str(manifest)))
    # get -w: kubectl lists, then watches from the list's resourceVersion; it
    # prints a line per change; --timeout-free: kill it once Complete shows
    assert KUBECTL is not None
    watch = subprocess.Popen(
        [KUBECTL, f"--kubeconfig={kubeconfig}", "get", "jobs", "-w", "--no-headers"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "KUBECACHEDIR": str(tmp_path / "kube-cache")},
    )
    lines: list[str] = []
    try:
        assert watch.stdout is not None
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            line = watch.stdout.readline()
            if not line:
                break
            lines.append(line)
            if "Complete" in line:
                break
    finally:
        watch.kill()
        _, err = watch.communicate()
    assert any("hello" in ln and "Complete" in ln and "1/1" in ln for ln in lines), (lines, err)
    assert len(lines) >= 2, lines  # the listed row, then at least one watch event
    logs = ok(kubectl(kubeconfig, "logs", "job/hello"))
    assert "hello from kubectl" in logs and "to-stderr" in logs
    pods = json.loads(ok(kubectl(kubeconfig, "get", "pods", "-l", "job-name=hello", "-o", "json")))
    [pod] = pods["items"]
    state = pod["status"]["containerStatuses"][0]["state"]["terminated"]
    assert state["exitCode"] == 0 and state["reason"] == "Completed"
    # apply again: unchanged (client-side apply compares the last-applied annotation)
    assert "unchanged" in ok(kubectl(kubeconfig, "apply", "-f", str(manifest)))
    assert 'job.batch "hello" deleted' in ok(kubectl(kubeconfig, "delete", "job", "hello"))
    assert "NotFound" in kubectl(kubeconfig, "get", "job", "hello").stderr
    # kubectl deletes with propagationPolicy=Background: the pod goes too
    pods = json.loads(ok(kubectl(kubeconfig, "get", "pods", "-l", "job-name=hello", "-o", "json")))
    assert pods["items"] == [] or all(p["metadata"].get("deletionTimestamp") for p in pods["items"])


def test_kubectl_sees_a_failing_job_and_a_quota(
    kubeconfig: Path, tmp_path: Path, namespace: str, emulator: KubernetesEmulator
) -> None:
    manifest = tmp_path / "job.yaml"
    manifest.write_text(JOB_YAML.format(name="fails", code=7))
    ok(kubectl(kubeconfig, "create", "-f", str(manifest)))
    ok(kubectl(kubeconfig, "wait", "--for=condition=Failed", "job/fails", "--timeout=60s"))
    job = json.loads(ok(kubectl(kubeconfig, "get", "job", "fails", "-o", "json")))
    reasons = {c["type"]: c["reason"] for c in job["status"]["conditions"]}
    assert reasons["Failed"] == "BackoffLimitExceeded"
    pod = json.loads(ok(kubectl(kubeconfig, "get", "pods", "-l", "job-name=fails", "-o", "json")))
    assert pod["items"][0]["status"]["containerStatuses"][0]["state"]["terminated"]["exitCode"] == 7
    # (``kubectl create quota`` would send protobuf, which the emulator does not speak)
    quota_yaml = tmp_path / "quota.yaml"
    quota_yaml.write_text(
        "apiVersion: v1\nkind: ResourceQuota\nmetadata: {name: small}\n"
        "spec: {hard: {requests.cpu: '1', pods: '5'}}\n"
    )
    ok(kubectl(kubeconfig, "apply", "-f", str(quota_yaml)))
    quota = json.loads(ok(kubectl(kubeconfig, "get", "quota", "small", "-o", "json")))
    assert quota["status"]["hard"]["requests.cpu"] == "1"
    too_big = kubectl(
        kubeconfig,
        "run",
        "big",
        "--image=busybox:1.36",
        "--restart=Never",
        "--overrides",
        json.dumps(
            {
                "spec": {
                    "containers": [
                        {
                            "name": "big",
                            "image": "busybox:1.36",
                            "command": ["true"],
                            "resources": {"requests": {"cpu": "2"}},
                        }
                    ]
                }
            }
        ),
    )
    assert too_big.returncode != 0
    assert "exceeded quota: small" in too_big.stderr
    ok(kubectl(kubeconfig, "delete", "job", "fails", "--cascade=foreground"))
