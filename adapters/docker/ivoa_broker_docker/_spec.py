"""ExecutionRequest -> the body of ``POST /containers/create``, with the security defaults."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ivoa_broker.protocol import ExecutionRequest, InvalidRequest
from ivoa_broker_docker._config import DockerConfig
from ivoa_broker_docker._naming import INSTANCE_LABEL, JOB_LABEL, USER_LABEL_PREFIX

__all__ = ["ContainerPlan", "build"]


@dataclass(frozen=True)
class ContainerPlan:
    body: Mapping[str, Any]
    bind: bool  # the job folder is bind-mounted (else: anonymous volume + archive API)
    port: int | None  # container port of an interactive session


def build(
    request: ExecutionRequest,
    config: DockerConfig,
    *,
    instance: str,
    image: str,
    folder: Path | None,
    gpu_driver: str | None,
    inputs: Path | None = None,
) -> ContainerPlan:
    """The container for ``request``; ``folder`` is the host job folder to bind (None: archive),
    ``inputs`` the host folder of its staged inputs (bound read-only at ``input_dir``).

    The container finds its input URLs in ``IVOA_BROKER_INPUT_URLS`` (one per line, every
    input, staged or not) and, when they were staged, the files in ``IVOA_BROKER_INPUT_DIR``."""
    interactive = request.kind == "interactive"
    if not request.command and not interactive and not request.image:
        raise InvalidRequest("a batch container job needs a command (or an image with its own)")
    for key in request.env:
        if not key or "=" in key or "\0" in key:
            raise InvalidRequest(f"invalid environment variable name {key!r}")
    env = {
        **dict(request.env),
        "IVOA_BROKER_JOB_ID": request.job_id,
        "IVOA_BROKER_OUTPUT": config.output_dir,
    }
    if request.inputs:
        env["IVOA_BROKER_INPUT_URLS"] = "\n".join(request.inputs)
    if inputs is not None:
        env["IVOA_BROKER_INPUT_DIR"] = config.input_dir
    labels = {USER_LABEL_PREFIX + k: str(v) for k, v in request.labels.items()}
    labels.update({JOB_LABEL: request.job_id, INSTANCE_LABEL: instance})
    res = request.resources
    host: dict[str, Any] = {
        "Privileged": False,
        "CapAdd": None,
        "SecurityOpt": ["no-new-privileges"],
        "ReadonlyRootfs": config.read_only_rootfs,
        # no init in the host's PID namespace (Podman refuses it; it would not be PID 1)
        "Init": config.init and not config.pid_host,
        "RestartPolicy": {"Name": "no"},
        "AutoRemove": False,
        "NetworkMode": config.interactive_network if interactive else config.network,
    }
    if config.pid_host:
        host["PidMode"] = "host"
    if config.ipc_host:
        host["IpcMode"] = "host"
    if res.cores is not None:
        host["NanoCpus"] = int(res.cores * 1e9)
    if res.memory_bytes is not None:
        host["Memory"] = int(res.memory_bytes)
        host["MemorySwap"] = int(res.memory_bytes)  # no swap: the limit is the limit
    if res.gpus:
        if gpu_driver is None:
            raise InvalidRequest("this engine cannot give containers GPUs")
        host["DeviceRequests"] = [
            {"Driver": gpu_driver, "Count": res.gpus, "Capabilities": [["gpu"]]}
        ]
    if config.read_only_rootfs:
        host["Tmpfs"] = {"/tmp": "rw,nosuid,nodev,size=67108864"}
    body: dict[str, Any] = {
        "Image": image,
        "Env": [f"{k}={v}" for k, v in env.items()],
        "Labels": labels,
        "Tty": False,
        "OpenStdin": False,
        "AttachStdin": False,
        "AttachStdout": False,
        "AttachStderr": False,
        "HostConfig": host,
    }
    if request.command:
        body["Cmd"] = list(request.command)
    if config.user is not None:
        body["User"] = config.user
    if folder is not None:
        host["Binds"] = [f"{folder}:{config.output_dir}:rw"]
        if inputs is not None:
            host["Binds"].append(f"{inputs}:{config.input_dir}:ro")
    else:
        body["Volumes"] = {config.output_dir: {}}
    port = None
    if interactive:
        port = config.interactive_port
        key = f"{port}/tcp"
        body["ExposedPorts"] = {key: {}}
        host["PortBindings"] = {key: [{"HostIp": config.publish_address, "HostPort": ""}]}
    return ContainerPlan(body=body, bind=folder is not None, port=port)
