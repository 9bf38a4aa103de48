"""The ``config:`` block of a Kubernetes platform instance."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field

from ivoa_broker.protocol import AdapterConfig


class KubernetesConfig(AdapterConfig):
    """Where the cluster is, where tasks go, and how they are shaped.

    Connection: ``kubeconfig`` (+ ``context``; default ``$KUBECONFIG`` or
    ``~/.kube/config``), or ``in_cluster: true`` (the pod's service account).
    """

    kubeconfig: Path | None = None
    context: str | None = None
    in_cluster: bool = False
    #: the namespace of this instance (default: the context's, else "default")
    namespace: str | None = None
    #: put each task in the namespace named by the owner's account on this instance
    #: (``identity`` map/template, e.g. ``template: "broker-{owner}"``); the namespaces
    #: must exist
    namespace_from_account: bool = False
    default_image: str = "busybox:1.36"
    notebook_image: str = "quay.io/jupyter/base-notebook:latest"
    #: argv of the notebook container (None: the image's own command)
    notebook_command: tuple[str, ...] | None = None
    notebook_port: int = 8888
    #: the session's URL; {name} {namespace} {service} {port} {job_id} are filled in
    url_template: str = "http://{service}.{namespace}.svc.cluster.local:{port}/"
    service_account: str | None = None
    image_pull_secrets: tuple[str, ...] = ()
    node_selector: dict[str, str] = Field(default_factory=dict)
    #: results: a PVC mounted in every batch pod at ``results_mount_path`` (sub-path =
    #: the job's name) and visible to the broker at ``results_local_path``
    results_claim: str | None = None
    results_local_path: Path | None = None
    results_mount_path: str = "/ivoa/output"
    #: ttlSecondsAfterFinished, set by release() once results are collected
    ttl_seconds_after_finished: int = 300
    #: how long ErrImagePull/ImagePullBackOff may last before the task is an error
    image_pull_grace_seconds: float = 120.0
    #: how long a pod may stay Unschedulable before the task is an error
    unschedulable_grace_seconds: float = 600.0
    #: largest run time granted (activeDeadlineSeconds); None: unlimited
    max_walltime_seconds: int | None = None
    #: watch pods and wake the core on every change (else: polling only)
    watch: bool = True
    watch_timeout_seconds: int = 300
    termination_grace_seconds: int = 30
    timeout_seconds: float = 30.0
    retries: int = 3
    backoff_seconds: float = 0.5
    #: how long cleanup() waits for the platform to let go
    cleanup_timeout_seconds: float = 120.0
