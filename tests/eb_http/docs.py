"""Request and update documents for the HTTP tests, and small helpers."""

from __future__ import annotations

from typing import Any

import httpx
import yaml

K = "https://www.purl.org/ivoa.net/Calycopis-openapi/schema/v1.0/kinds/"
JSON = {"Accept": "application/json"}


def command(*argv: str, duration: str = "PT10M") -> dict[str, Any]:
    """A docker-container request running ``argv`` (YES on the container platforms)."""
    return {
        "executable": {
            "kind": f"{K}executable/docker-container.yaml",
            "meta": {"name": "test"},
            "image": {"locations": ["docker.io/library/alpine:3.20"]},
            "command": list(argv),
        },
        "compute": {"kind": f"{K}compute/simple-compute-resource.yaml", "cores": {"min": 1}},
        "schedule": {"requested": {"duration": duration}},
    }


#: the EB working draft's's own walk-through (a container with a data volume)
SPEC_CONTAINER: dict[str, Any] = {
    "executable": {
        "kind": f"{K}executable/docker-container.yaml",
        "meta": {"name": "checksum"},
        "image": {
            "locations": ["ghcr.io/zarquan/heliophorus-androcles:sha-9a2513b"],
            "digest": "sha256:" + "0" * 64,
        },
        "command": ["sha256sum", "json"],
        "environment": {"INPUT": "/input"},
    },
    "compute": {
        "kind": f"{K}compute/simple-compute-resource.yaml",
        "cores": {"min": 1, "max": 2},
        "memory": {"min": 1, "max": 4},
        "volumes": [
            {
                "kind": f"{K}volume/simple-volume-mount.yaml",
                "path": "/input",
                "mode": "READONLY",
                "resource": "input-data",
            }
        ],
    },
    "data": [
        {
            "kind": f"{K}data/simple-data-resource.yaml",
            "meta": {"name": "input-data"},
            "location": "http://example.org/file.jpg",
        }
    ],
    "schedule": {"requested": {"duration": "PT1H"}},
}

#: a notebook with cores/memory ranges and a duration
SPEC_NOTEBOOK: dict[str, Any] = {
    "executable": {
        "kind": f"{K}executable/jupyter-notebook.yaml",
        "meta": {"name": "example"},
        "location": "https://example.org/notebooks/example.ipynb",
    },
    "compute": {
        "kind": f"{K}compute/simple-compute-resource.yaml",
        "cores": {"min": 5, "max": 15},
        "memory": {"min": 3, "max": 9},
    },
    "schedule": {"requested": {"duration": "PT1H"}},
}


def phase_update(value: str) -> dict[str, Any]:
    return {"kind": "uri:enum-value-update", "path": "phase", "value": value}


def extension(seconds: int) -> dict[str, Any]:
    return {
        "kind": "uri:integer-delta-update",
        "path": "schedule.available.duration",
        "delta": seconds,
        "units": "seconds",
    }


def body(response: httpx.Response) -> Any:
    """A JSON or YAML answer as data."""
    media = response.headers["content-type"].split(";")[0]
    if media == "application/json":
        return response.json()
    assert media == "application/yaml", media
    return yaml.safe_load(response.text)


def problem(response: httpx.Response, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    data: dict[str, Any] = response.json()
    assert data["status"] == status
    assert data["instance"] == response.request.url.path
    return data


def offerset(http: httpx.Client, request: dict[str, Any]) -> dict[str, Any]:
    """POST /requests (JSON); assert the 303 to the offer set and return the set."""
    response = http.post("/requests", json=request, headers=JSON)
    assert response.status_code == 303, response.text
    data: dict[str, Any] = response.json()
    assert response.headers["location"] == data["meta"]["url"]
    return data


def update(http: httpx.Client, session: str, doc: dict[str, Any]) -> httpx.Response:
    return http.post(f"/sessions/{session}", json=doc, headers=JSON)


def messages(doc: dict[str, Any]) -> list[str]:
    return [m.get("message", "") for m in doc["meta"].get("messages", [])]
