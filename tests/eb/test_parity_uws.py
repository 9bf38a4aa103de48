"""docs/architecture.md: UWS form parameters and EB documents give the same neutral request."""

from __future__ import annotations

from typing import Any

import pytest

from ivoa_broker.eb import formats
from ivoa_broker.eb.convert import to_execution_request
from ivoa_broker.protocol import ExecutionRequest
from ivoa_broker.records import Parameter
from ivoa_broker.task_params import parse_request

K = "https://www.purl.org/ivoa.net/Calycopis-openapi/schema/v1.0/kinds/"

BATCH_EB = f"""\
executable:
  kind: {K}executable/docker-container.yaml
  image:
    locations: [docker.io/library/python:3.12]
  command: [python3, -c, "print(42)"]
  environment: {{MODE: fast, EMPTY: ""}}
compute:
  cores: {{min: 2, max: 4}}
  memory: {{min: 4}}
  gpus: {{min: 1}}
data:
  - kind: {K}data/simple-data-resource.yaml
    location: https://example.org/data.fits
schedule:
  requested: {{duration: PT1H30M}}
""".encode()

BATCH_UWS = [
    ("cmd", "python3"),
    ("args", "-c"),
    ("args", "print(42)"),
    ("image", "docker.io/library/python:3.12"),
    ("env", "MODE=fast"),
    ("env", "EMPTY="),
    ("cores", "2"),
    ("memory", "4GiB"),
    ("gpus", "1"),
    ("runtime", "1h30m"),
    ("input", "https://example.org/data.fits"),
]

NOTEBOOK_EB = f"""\
executable:
  kind: {K}executable/jupyter-notebook.yaml
  location: https://example.org/a.ipynb
""".encode()

NOTEBOOK_UWS = [("kind", "interactive"), ("notebook", "https://example.org/a.ipynb")]


def _core(req: ExecutionRequest) -> dict[str, Any]:
    """What both paths must agree on (EB adds eb.* extensions and labels of its own)."""
    data = req.to_json()
    for key in ("extensions", "labels"):
        data.pop(key)
    return data


@pytest.mark.parametrize(
    ("document", "params"), [(BATCH_EB, BATCH_UWS), (NOTEBOOK_EB, NOTEBOOK_UWS)]
)
def test_same_task_same_request(document: bytes, params: list[tuple[str, str]]) -> None:
    from_eb = to_execution_request(
        formats.load_request(document, "application/yaml"), job_id="j1", owner="alice"
    )
    from_uws = parse_request("j1", "alice", [Parameter(n, v) for n, v in params], ["local"])
    assert _core(from_eb) == _core(from_uws)
