"""Container requests on the local platform: refused, with a reason that says what to do.

The local platform runs processes, not containers. Whether a container engine is on this
machine decides the advice: with one (Docker or Podman, found on ``PATH`` or by its socket),
the ``docker`` platform (``adapters/docker``) can run the request once configured; without
one, nothing on this broker can. Cheap (a ``PATH`` lookup and two ``stat`` calls), so it may
run on the event loop.
"""

from __future__ import annotations

import importlib.util
import os
import shutil

from ivoa_broker.protocol import ExecutionRequest

__all__ = ["container_refusal", "engine_on_host"]

_SOCKETS = ("/run/docker.sock", "/var/run/docker.sock", "/run/podman/podman.sock")


def engine_on_host() -> str | None:
    """The container engine found on this machine (``docker``/``podman``), if any."""
    for name in ("docker", "podman"):
        if shutil.which(name):
            return name
    runtime = os.environ.get("XDG_RUNTIME_DIR")
    sockets = (*_SOCKETS, f"{runtime}/podman/podman.sock") if runtime else _SOCKETS
    for path in sockets:
        if os.path.exists(path):
            return "podman" if "podman" in path else "docker"
    return None


def container_refusal(request: ExecutionRequest) -> str:
    """Why the local platform does not run ``request.image``, and what would."""
    image = (request.image or "")[:120]
    engine = engine_on_host()
    if engine is None:
        return (
            f"the local adapter cannot run container images (image={image!r}) and no "
            "container engine (Docker or Podman) is installed on this machine"
        )
    plugin = "installed" if importlib.util.find_spec("ivoa_broker_docker") else "not installed"
    return (
        f"the local adapter cannot run container images (image={image!r}); {engine} is on "
        f"this machine: configure the docker platform (plug-in ivoa-broker-docker, {plugin}) "
        "to run it"
    )
