"""The ``config:`` block of a Kubernetes platform instance."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import Field

from ivoa_broker.protocol import AdapterConfig


def _f(default: Any, text: str) -> Any:
    return Field(default=default, description=text)


class KubernetesConfig(AdapterConfig):
    """Where the cluster is, where tasks go, and how they are shaped."""

    kubeconfig: Path | None = _f(None, "kubeconfig file (default: $KUBECONFIG, ~/.kube/config)")
    context: str | None = _f(None, "kubeconfig context (default: its current-context)")
    in_cluster: bool = _f(False, "use the pod's service account instead of a kubeconfig")
    namespace: str | None = _f(
        None, "namespace of this instance (default: the context's, else default)"
    )
    namespace_from_account: bool = _f(
        False, "one namespace per owner: the owner's account from `identity` (must exist)"
    )
    default_image: str = _f("busybox:1.36", "image of batch tasks that name none")
    notebook_image: str = _f("quay.io/jupyter/base-notebook:latest", "image of notebook sessions")
    notebook_command: tuple[str, ...] | None = _f(
        None, "argv of the notebook container (None: the image's)"
    )
    notebook_port: int = _f(8888, "the notebook's port (container, Service, readiness probe)")
    url_template: str = _f(
        "http://{service}.{namespace}.svc.cluster.local:{port}/",
        "session URL; {name} {namespace} {service} {port} {job_id} filled in",
    )
    service_account: str | None = _f(None, "serviceAccountName of task pods")
    image_pull_secrets: tuple[str, ...] = _f((), "imagePullSecrets of task pods")
    node_selector: dict[str, str] = Field(
        default_factory=dict, description="nodeSelector of task pods"
    )
    results_claim: str | None = _f(
        None, "PVC mounted in batch pods for output files (sub-path: the Job's name)"
    )
    results_local_path: Path | None = _f(None, "where the broker sees that PVC's files")
    results_mount_path: str = _f("/ivoa/output", "mount path of the PVC ($IVOA_BROKER_OUTPUT_DIR)")
    ttl_seconds_after_finished: int = _f(
        300, "Job TTL, set by release() once results are collected"
    )
    image_pull_grace_seconds: float = _f(120.0, "ErrImagePull/ImagePullBackOff this long: ERROR")
    unschedulable_grace_seconds: float = _f(600.0, "Unschedulable this long: ERROR")
    max_walltime_seconds: int | None = _f(
        None, "largest activeDeadlineSeconds granted (None: no cap)"
    )
    watch: bool = _f(
        True, "watch pods and wake the core on changes (status is still one list per poll)"
    )
    watch_timeout_seconds: int = _f(300, "timeoutSeconds of each watch request")
    termination_grace_seconds: int = _f(30, "terminationGracePeriodSeconds of task pods")
    timeout_seconds: float = _f(30.0, "timeout of each API call")
    retries: int = _f(3, "retries of idempotent calls on 429/5xx/network trouble")
    backoff_seconds: float = _f(0.5, "first retry delay (doubling, jittered, Retry-After honoured)")
    cleanup_timeout_seconds: float = _f(120.0, "how long cleanup() waits for the objects to go")
