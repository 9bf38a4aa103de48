"""Configuration of one Docker Engine or Podman platform instance."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from ivoa_broker.protocol import AdapterConfig

PullPolicy = Literal["never", "if-missing", "always"]
Transfer = Literal["auto", "bind", "archive"]


class TlsConfig(BaseModel):
    """Client certificates for ``tcp://`` engines (``dockerd --tlsverify``)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    ca_cert: Path | None = Field(default=None, description="CA that signed the engine's cert")
    client_cert: Path
    client_key: Path
    verify: bool = True


class DockerConfig(AdapterConfig):
    """The ``config:`` block of a ``plugin: docker`` instance (Docker Engine or Podman).

    Security defaults: containers are never privileged, get no added
    capabilities (``no-new-privileges`` is set), run in no host namespace and
    see no host path but their own job folder, unless an option below says so.
    """

    host: str | None = Field(
        default=None,
        description="engine address as in DOCKER_HOST: unix:///run/docker.sock, "
        "tcp://host:2376 (with tls), ssh://user@host; None: DOCKER_HOST or the default socket",
    )
    tls: TlsConfig | None = None
    api_version: str = Field(
        default="1.41",
        description="Engine API version ('auto' asks /version: slow on Podman); 1.41 is "
        "served by Docker Engine >= 20.10 and Podman >= 3",
    )
    timeout_seconds: float = Field(default=60.0, gt=0, description="per API call")
    pull_policy: PullPolicy = "if-missing"
    allowed_images: tuple[str, ...] = Field(
        default=("*",), description="glob patterns an image reference must match"
    )
    default_image: str | None = Field(
        default=None, description="image for batch requests that name none"
    )
    network: str = Field(
        default="none", description="network of batch containers ('none', a network name, 'host')"
    )
    interactive_network: str = Field(
        default="bridge", description="network of interactive containers (ports are published)"
    )
    interactive_port: int = Field(default=8888, ge=1, le=65535, description="port the image serves")
    interactive_path: str = Field(default="/", description="path of the session URL")
    publish_address: str = Field(
        default="127.0.0.1", description="host address interactive ports are published on"
    )
    endpoint_host: str | None = Field(
        default=None, description="host name in session URLs (default: publish_address)"
    )
    pid_host: bool = Field(default=False, description="share the host's PID namespace")
    ipc_host: bool = Field(default=False, description="share the host's IPC namespace")
    read_only_rootfs: bool = False
    user: str | None = Field(default=None, description="run as this uid[:gid] (e.g. 65534:65534)")
    init: bool = Field(default=True, description="an init as PID 1 (signals reach the command)")
    output_dir: str = Field(default="/output", description="the job folder inside the container")
    input_dir: str = Field(
        default="/input",
        description="where the job's staged input files appear in the container (read-only; "
        "bind transfer only)",
    )
    transfer: Transfer = Field(
        default="auto",
        description="how the job folder reaches the broker: bind mount (local engine) or the "
        "archive API (remote engine); auto = bind for unix sockets",
    )
    stop_grace_seconds: int = Field(default=10, ge=0, le=3600)
    max_cores: float | None = Field(default=None, gt=0, description="cap below the engine's CPUs")
    max_memory_bytes: int | None = Field(default=None, gt=0)
    gpus: Literal["auto", "never"] = Field(
        default="auto", description="offer GPUs only where the engine reports a GPU runtime"
    )
    offer_seconds: float = Field(default=300.0, gt=0, description="offer validity")
