"""ivoa-broker adapter for Docker Engine and Podman (Docker-compatible API).

Public entry: :class:`DockerAdapter` with a :class:`DockerConfig`, used as any
adapter (``async with DockerAdapter(name, config, deps) as a: ...``), also embedded by
the ``local`` platform (``ivoa_broker_local._container``) through these names only;
:func:`container_name` names an instance's container of a job.
"""

from __future__ import annotations

from ivoa_broker_docker._adapter import DockerAdapter
from ivoa_broker_docker._config import DockerConfig, TlsConfig
from ivoa_broker_docker._engine import EngineFacts
from ivoa_broker_docker._naming import container_name

__all__ = ["DockerAdapter", "DockerConfig", "EngineFacts", "TlsConfig", "container_name"]
