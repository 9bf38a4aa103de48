"""Which requests an instance can serve: kinds, images (allow-list, pull policy), sizes."""

from __future__ import annotations

from fnmatch import fnmatchcase

from ivoa_broker.protocol import ExecutionRequest
from ivoa_broker_docker._config import DockerConfig
from ivoa_broker_docker._engine import EngineFacts

__all__ = ["image_for", "static_refusal"]


def image_for(request: ExecutionRequest, config: DockerConfig) -> str | None:
    return request.image or config.default_image


def limits(config: DockerConfig, facts: EngineFacts) -> tuple[float, int]:
    cores = facts.cpus if config.max_cores is None else min(facts.cpus, config.max_cores)
    memory = facts.memory_bytes
    if config.max_memory_bytes is not None:
        memory = min(memory, config.max_memory_bytes)
    return cores, memory


def static_refusal(
    request: ExecutionRequest, config: DockerConfig, facts: EngineFacts
) -> str | None:
    """Why ``request`` cannot run here, from what is known without asking the engine."""
    if request.kind not in ("batch", "interactive"):
        return f"the docker platform does not run {request.kind!r} tasks"
    image = image_for(request, config)
    if image is None:
        return "the request names no container image and the instance has no default_image"
    if not any(fnmatchcase(image, pattern) for pattern in config.allowed_images):
        allowed = list(config.allowed_images)
        return f"image {image!r} is not allowed on this instance (allowed: {allowed})"
    res = request.resources
    cores, memory = limits(config, facts)
    if res.cores is not None and res.cores > cores:
        return f"{res.cores} cores asked, the engine has {cores:g}"
    if res.memory_bytes is not None and res.memory_bytes > memory:
        return f"{res.memory_bytes} bytes of memory asked, the engine has {memory}"
    if res.gpus:
        reason = (
            facts.gpus_reason if config.gpus == "auto" else "GPUs are disabled on this instance"
        )
        if reason is not None:
            return reason
    if res.nodes is not None and res.nodes > 1:
        return "a container engine runs single-node tasks only"
    return None
