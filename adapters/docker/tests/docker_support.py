"""Helpers shared by the docker adapter's test modules."""

from __future__ import annotations

import uuid
from typing import Any

import httpx
from docker_engines import IMAGE, Engine
from ivoa_broker_docker import DockerConfig

from ivoa_broker.testing.broker_http import messages_of
from tests.eb_http.docs import offerset


def config_for(engine: Engine, **overrides: Any) -> DockerConfig:
    data: dict[str, Any] = {
        "host": engine.host,
        "default_image": IMAGE,
        "pull_policy": "never",
        "interactive_network": engine.network,
        "stop_grace_seconds": 5,
    }
    data.update(overrides)
    return DockerConfig.model_validate(data)


def instance_name() -> str:
    return f"dk-{uuid.uuid4().hex[:8]}"


#: the ExecutionBroker kinds' base (Calycopis schema v1.0)
K = "https://www.purl.org/ivoa.net/Calycopis-openapi/schema/v1.0/kinds/"


def container_request(image: str, *argv: str) -> dict[str, Any]:
    """An ExecutionBroker request for a ``docker-container`` running ``argv`` in ``image``."""
    return {
        "executable": {
            "kind": f"{K}executable/docker-container.yaml",
            "meta": {"name": "tiny"},
            "image": {"locations": [image]},
            "command": list(argv),
        },
        "compute": {"kind": f"{K}compute/simple-compute-resource.yaml", "cores": {"min": 1}},
        "schedule": {"requested": {"duration": "PT10M"}},
    }


def assert_unlisted_image_refused(http: httpx.Client) -> None:
    """A request for an image outside the test allow-list is answered NO, naming it."""
    image = "docker.io/library/alpine:3"
    no = offerset(http, container_request(image, "true"))
    assert no["result"] == "NO"
    assert image in messages_of(no)
