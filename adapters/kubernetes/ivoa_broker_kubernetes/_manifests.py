"""ExecutionRequest -> Kubernetes objects: a batch/v1 Job, or a notebook Pod + Service."""

from __future__ import annotations

from typing import Any

from ivoa_broker.protocol import ExecutionRequest, InvalidRequest

from ._config import KubernetesConfig
from ._naming import ANNOTATION_JOB, LABEL_INSTANCE, LABEL_JOB, LABEL_KIND, label_value
from .quantity import cpu_text, memory_text

Obj = dict[str, Any]
GPU = "nvidia.com/gpu"
OUTPUT_VOLUME = "ivoa-output"


def labels(instance: str, job_id: str, kind: str) -> dict[str, str]:
    return {
        LABEL_INSTANCE: label_value(instance),
        LABEL_JOB: label_value(job_id),
        LABEL_KIND: kind,
    }


def resources(request: ExecutionRequest) -> Obj:
    res = request.resources
    requests: dict[str, str] = {}
    limits: dict[str, str] = {}
    if res.cores is not None:
        requests["cpu"] = limits["cpu"] = cpu_text(res.cores)
    if res.memory_bytes is not None:
        requests["memory"] = limits["memory"] = memory_text(res.memory_bytes)
    if res.gpus:
        limits[GPU] = requests[GPU] = str(res.gpus)
    if res.disk_bytes is not None:
        requests["ephemeral-storage"] = memory_text(res.disk_bytes)
    out: Obj = {}
    if requests:
        out["requests"] = requests
    if limits:
        out["limits"] = limits
    return out


def _env(request: ExecutionRequest, extra: dict[str, str]) -> list[Obj]:
    env = {**request.env, "IVOA_BROKER_JOB_ID": request.job_id, **extra}
    return [{"name": k, "value": v} for k, v in env.items()]


def _pod_spec(config: KubernetesConfig, container: Obj) -> Obj:
    spec: Obj = {
        "restartPolicy": "Never",
        "terminationGracePeriodSeconds": config.termination_grace_seconds,
        "containers": [container],
    }
    if config.service_account:
        spec["serviceAccountName"] = config.service_account
    if config.image_pull_secrets:
        spec["imagePullSecrets"] = [{"name": n} for n in config.image_pull_secrets]
    if config.node_selector:
        spec["nodeSelector"] = dict(config.node_selector)
    return spec


def deadline_seconds(request: ExecutionRequest, config: KubernetesConfig) -> int | None:
    left = (
        request.seconds_left()
        if request.deadline is not None
        else request.resources.walltime_seconds
    )
    if config.max_walltime_seconds is not None:
        left = (
            min(left, config.max_walltime_seconds)
            if left is not None
            else config.max_walltime_seconds
        )
    return max(int(left), 1) if left is not None else None


def batch_job(
    request: ExecutionRequest, config: KubernetesConfig, instance: str, name: str, namespace: str
) -> Obj:
    if not request.command:
        raise InvalidRequest("a Kubernetes batch task needs a command")
    lab = labels(instance, request.job_id, "batch")
    extra: dict[str, str] = {}
    container: Obj = {
        "name": "task",
        "image": request.image or config.default_image,
        "command": list(request.command),
        "resources": resources(request),
    }
    spec_volumes: list[Obj] = []
    if config.results_claim:
        extra["IVOA_BROKER_OUTPUT_DIR"] = config.results_mount_path
        container["volumeMounts"] = [
            {"name": OUTPUT_VOLUME, "mountPath": config.results_mount_path, "subPath": name}
        ]
        spec_volumes.append(
            {"name": OUTPUT_VOLUME, "persistentVolumeClaim": {"claimName": config.results_claim}}
        )
    container["env"] = _env(request, extra)
    pod_spec = _pod_spec(config, container)
    if spec_volumes:
        pod_spec["volumes"] = spec_volumes
    spec: Obj = {
        "backoffLimit": 0,
        "template": {"metadata": {"labels": dict(lab)}, "spec": pod_spec},
    }
    deadline = deadline_seconds(request, config)
    if deadline is not None:
        spec["activeDeadlineSeconds"] = deadline
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {
            "name": name,
            "namespace": namespace,
            "labels": lab,
            "annotations": {ANNOTATION_JOB: request.job_id},
        },
        "spec": spec,
    }


def notebook_pod(
    request: ExecutionRequest, config: KubernetesConfig, instance: str, name: str, namespace: str
) -> Obj:
    lab = labels(instance, request.job_id, "interactive")
    container: Obj = {
        "name": "notebook",
        "image": request.image or config.notebook_image,
        "ports": [{"name": "http", "containerPort": config.notebook_port}],
        "resources": resources(request),
        "env": _env(request, {"IVOA_BROKER_NOTEBOOK_PORT": str(config.notebook_port)}),
        "readinessProbe": {"tcpSocket": {"port": config.notebook_port}, "periodSeconds": 5},
    }
    command = request.command or config.notebook_command
    if command:
        container["command"] = list(command)
    spec = _pod_spec(config, container)
    deadline = deadline_seconds(request, config)
    if deadline is not None:
        spec["activeDeadlineSeconds"] = deadline
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "name": name,
            "namespace": namespace,
            "labels": lab,
            "annotations": {ANNOTATION_JOB: request.job_id},
        },
        "spec": spec,
    }


def notebook_service(
    request: ExecutionRequest, config: KubernetesConfig, instance: str, name: str, namespace: str
) -> Obj:
    lab = labels(instance, request.job_id, "interactive")
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {
            "name": name,
            "namespace": namespace,
            "labels": lab,
            "annotations": {ANNOTATION_JOB: request.job_id},
        },
        "spec": {
            "selector": {LABEL_INSTANCE: lab[LABEL_INSTANCE], LABEL_JOB: lab[LABEL_JOB]},
            "ports": [{"name": "http", "port": config.notebook_port, "targetPort": "http"}],
        },
    }
