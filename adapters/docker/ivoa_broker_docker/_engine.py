"""What the adapter learns about the engine at ``open()``, and every difference
between Docker Engine and Podman's Docker-compatible API, in one place.

Differences found (Docker Engine 20.10 vs Podman 4.3 compat API 1.41):

1. **OOM kills**: Docker sets ``State.OOMKilled``; Podman (runc, cgroup v1)
   leaves it ``false`` although the kernel killed the container. For Podman a
   SIGKILL exit (137) of a container with a memory limit that the broker did
   not stop is taken as an OOM kill (:meth:`EngineFacts.oom_killed`).
2. **GPUs**: Docker lists an ``nvidia`` runtime in ``/info`` when GPUs can be
   requested with ``DeviceRequests``; Podman's ``Runtimes`` lists every runtime
   of its configuration whether installed or not, so it is never taken as a
   GPU report (Podman GPUs go through CDI, which the compat API does not take).
3. **Identity and speed**: Podman answers ``/version`` in ~3 s and ``/info`` in
   ~1.5-2 s (it runs its helper binaries), Docker in milliseconds. The engine is
   named from the ``/_ping`` headers instead (``Server: Docker/...`` or
   ``Libpod/...`` with ``Libpod-Api-Version``), and ``/info`` is read once per
   engine address and kept for a minute (:func:`cached_facts`).
4. **Event names**: Docker sends ``Action``; Podman 4.3 sends ``status`` (and
   ``Action``); both are read.
5. **Archive API**: ``GET /containers/{id}/archive?path=/output`` gives a tar
   whose members Docker names ``output/...`` and Podman ``/...`` (relative to the
   folder, with a leading slash); ``EngineClient.copy_out`` reads both.
6. **Init with the host PID namespace**: Podman refuses ``Init`` together with
   ``PidMode: host`` ("cannot add init binary as PID 1"), Docker accepts it; the
   adapter never asks for an init in the host's PID namespace (``_spec``).
7. **IpcMode in inspect**: Podman reports ``shareable`` whatever IPC namespace
   the container really has (the host's one is applied); nothing in the adapter
   reads it, and the tests check namespaces from inside the container.
8. **Container states**: Podman may report ``configured``, ``initialized``,
   ``stopping`` and ``stopped`` besides Docker's names (see ``_states``).
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

__all__ = ["EngineFacts", "cached_facts", "facts_from", "remember_facts"]

OOM_EXIT = 137
FACTS_SECONDS = 60.0
_facts: dict[str, tuple[float, EngineFacts]] = {}


def cached_facts(address: str) -> EngineFacts | None:
    """What was learnt about the engine at ``address`` less than a minute ago."""
    found = _facts.get(address)
    if found is None or time.monotonic() - found[0] > FACTS_SECONDS:
        return None
    return found[1]


def remember_facts(address: str, facts: EngineFacts) -> None:
    _facts[address] = (time.monotonic(), facts)


@dataclass(frozen=True)
class EngineFacts:
    kind: str  # "docker" | "podman"
    version: str
    api_version: str
    cpus: float
    memory_bytes: int
    gpu_runtime: str | None

    @property
    def reports_oom(self) -> bool:
        return self.kind == "docker"

    @property
    def gpus_reason(self) -> str | None:
        """Why GPUs cannot be offered (None: they can)."""
        if self.gpu_runtime is not None:
            return None
        if self.kind == "podman":
            return "GPUs are not offered on Podman: its Docker-compatible API reports no GPUs"
        return "this Docker Engine reports no GPU runtime (no 'nvidia' in /info Runtimes)"

    def oom_killed(self, state: Mapping[str, Any], memory_limited: bool, stopped: bool) -> bool:
        if state.get("OOMKilled"):
            return True
        if self.reports_oom:
            return False
        return memory_limited and not stopped and state.get("ExitCode") == OOM_EXIT


def facts_from(ping: Mapping[str, str], info: Mapping[str, Any]) -> EngineFacts:
    """Facts from the ``/_ping`` headers (lower-case names) and ``/info``."""
    server = ping.get("server", "")
    kind = "podman" if "libpod-api-version" in ping or server.startswith("Libpod") else "docker"
    runtimes = info.get("Runtimes") or {}
    gpu = "nvidia" if kind == "docker" and "nvidia" in runtimes else None
    return EngineFacts(
        kind=kind,
        version=str(info.get("ServerVersion", "")),
        api_version=str(ping.get("api-version", "")),
        cpus=float(info.get("NCPU") or 0),
        memory_bytes=int(info.get("MemTotal") or 0),
        gpu_runtime=gpu,
    )
