"""ivoa-broker adapter for Docker Engine and Podman (Docker-compatible API).

Public entry: :class:`DockerAdapter` with a :class:`DockerConfig`, used as any
adapter (``async with DockerAdapter(name, config, deps) as a: ...``).
"""

from __future__ import annotations

from ivoa_broker_docker._adapter import DockerAdapter
from ivoa_broker_docker._config import DockerConfig, TlsConfig
from ivoa_broker_docker._engine import EngineFacts

__all__ = ["DockerAdapter", "DockerConfig", "EngineFacts", "TlsConfig"]
