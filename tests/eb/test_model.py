from __future__ import annotations

import copy
import json
from collections.abc import Callable
from typing import Any

import pytest
from pydantic import ValidationError

from ivoa_broker.eb.errors import DocumentError, from_validation_error
from ivoa_broker.eb.kinds import Kind
from ivoa_broker.eb.model import (
    ComponentPhase,
    ExecutionRequestDocument,
    ExecutionSession,
    OfferResult,
    OfferSetResponse,
    SessionPhase,
)
from tests.eb.samples import SPEC_REQUEST_JSON

K = "https://www.purl.org/ivoa.net/Calycopis-openapi/schema/v1.0/kinds/"


def spec() -> dict[str, Any]:
    data: dict[str, Any] = json.loads(SPEC_REQUEST_JSON)
    return data


def error_for(data: Any, cls: type[Any] = ExecutionRequestDocument) -> DocumentError:
    with pytest.raises(ValidationError) as info:
        cls.model_validate(data)
    return from_validation_error(info.value)


def test_spec_example_parses_to_canonical_kinds() -> None:
    doc = ExecutionRequestDocument.model_validate(spec())
    assert doc.executable.kind is Kind.DOCKER_CONTAINER
    assert doc.compute is not None
    assert doc.compute.cores is not None
    assert doc.compute.cores.max == 2
    assert doc.compute.volumes[0].resource == "input-data"


Mutation = Callable[[dict[str, Any]], None]


def _set(path: str, value: Any) -> Mutation:
    def apply(doc: dict[str, Any]) -> None:
        target: Any = doc
        *parents, last = path.split(".")
        for key in parents:
            target = target[int(key)] if key.isdigit() else target.setdefault(key, {})
        if last.isdigit():
            target[int(last)] = value
        else:
            target[last] = value

    return apply


BOUNDS: list[tuple[str, Mutation, str]] = [
    ("cores zero", _set("compute.cores.min", 0), "compute.cores.min"),
    ("cores huge", _set("compute.cores.max", 10**6), "compute.cores.max"),
    ("cores text", _set("compute.cores.min", "many"), "compute.cores.min"),
    ("memory huge", _set("compute.memory.max", 10**9), "compute.memory.max"),
    ("min > max", _set("compute.cores", {"min": 4, "max": 2}), "compute.cores"),
    ("gpus negative", _set("compute.gpus", {"min": -1}), "compute.gpus.min"),
    ("gpus huge", _set("compute.gpus", {"max": 1000}), "compute.gpus.max"),
    (
        "too many env",
        _set("executable.environment", {f"V{i}": "x" for i in range(300)}),
        "executable.environment",
    ),
    ("env name", _set("executable.environment", {"1BAD": "x"}), "executable.environment.1BAD"),
    ("env value NUL", _set("executable.environment", {"A": "a\x00b"}), "executable.environment.A"),
    ("C1 control NEL", _set("executable.meta.name", "a\x85b"), "executable.meta.name"),
    ("too many args", _set("executable.command", ["a"] * 300), "executable.command"),
    ("arg control char", _set("executable.command", ["ok", "\x1b[31m"]), "executable.command[1]"),
    ("long arg", _set("executable.command", ["x" * 5000]), "executable.command[0]"),
    ("no image", _set("executable.image.locations", []), "executable.image.locations"),
    (
        "bad image",
        _set("executable.image.locations", ["not an image"]),
        "executable.image.locations[0]",
    ),
    ("bad digest", _set("executable.image.digest", "sha256:xyz"), "executable.image.digest"),
    ("long name", _set("executable.meta.name", "n" * 300), "executable.meta.name"),
    ("file url", _set("data.0.location", "file:///etc/passwd"), "data[0].location"),
    ("relative url", _set("data.0.location", "file.jpg"), "data[0].location"),
    ("months", _set("schedule.requested.duration", "P1M"), "schedule.requested.duration"),
    ("too long", _set("schedule.requested.duration", "P500D"), "schedule.requested.duration"),
    ("bad interval", _set("schedule.requested.start", "tomorrow"), "schedule.requested.start"),
    ("unknown field", _set("executable.colour", "blue"), "executable.colour"),
    ("unknown top field", _set("priority", 5), "priority"),
    ("volume path", _set("compute.volumes.0.path", "relative"), "compute.volumes[0].path"),
    ("volume mode", _set("compute.volumes.0.mode", "WRITEONLY"), "compute.volumes[0].mode"),
    (
        "dangling volume",
        _set("compute.volumes.0.resource", "nothing"),
        "compute.volumes[0].resource",
    ),
    (
        "port",
        _set("executable.network", {"ports": [{"internal": {"port": 70000}}]}),
        "executable.network.ports[0].internal.port",
    ),
    (
        "protocol",
        _set("executable.network", {"ports": [{"protocol": "SMTP"}]}),
        "executable.network.ports[0].protocol",
    ),
    (
        "too many data",
        _set(
            "data",
            [{"kind": K + "data/simple-data-resource.yaml", "location": "http://x.org/a"}] * 65,
        ),
        "data",
    ),
    ("storage ref", _set("storage", [{"data": ["missing"]}]), "storage[0].data[0]"),
    ("storage size", _set("storage", [{"size": {"min": 0}}]), "storage[0].size.min"),
    ("cost nan", _set("costs", [{"max": float("nan")}]), "costs[0].max"),
    ("unknown kind", _set("executable.kind", "https://example.org/kinds/x.yaml"), "executable"),
    ("missing kind", _set("data.0", {"location": "http://x.org/a"}), "data[0]"),
]


@pytest.mark.parametrize(("case", "mutate", "path"), BOUNDS, ids=[b[0] for b in BOUNDS])
def test_bounds_errors_name_the_path(case: str, mutate: Mutation, path: str) -> None:
    doc = spec()
    mutate(doc)
    err = error_for(doc)
    assert err.status == 400
    assert path in [p.path for p in err.problems], err.problems
    assert err.to_problem()["status"] == 400


def test_known_but_unsupported_kind_is_422() -> None:
    doc = spec()
    doc["data"][0] = {"kind": K + "data/rucio-data-resource.yaml", "rucio": {}}
    err = error_for(doc)
    assert err.status == 422
    assert err.path == "data[0]"
    assert "not supported" in err.detail


def test_problem_body_lists_every_path() -> None:
    doc = spec()
    doc["compute"]["cores"]["min"] = 0
    doc["executable"]["extra"] = 1
    body = error_for(doc).to_problem()
    assert {e["path"] for e in body["errors"]} == {"compute.cores.min", "executable.extra"}
    assert body["path"] == body["errors"][0]["path"]
    assert "1 more" in body["detail"]


def test_legacy_resources_wrapper_and_compute_list_are_lifted() -> None:
    doc = spec()
    legacy = copy.deepcopy(doc)
    legacy["resources"] = {"compute": [legacy.pop("compute")], "data": legacy.pop("data")}
    assert ExecutionRequestDocument.model_validate(legacy) == (
        ExecutionRequestDocument.model_validate(doc)
    )


def test_two_compute_resources_are_refused_at_compute() -> None:
    doc = spec()
    doc["compute"] = [doc["compute"], doc["compute"]]
    assert error_for(doc).path == "compute"


def test_single_kind_components_default_their_kind() -> None:
    doc = spec()
    del doc["compute"]["kind"]
    del doc["compute"]["volumes"][0]["kind"]
    parsed = ExecutionRequestDocument.model_validate(doc)
    assert parsed.compute is not None
    assert parsed.compute.kind is Kind.SIMPLE_COMPUTE_RESOURCE


def test_duration_and_interval_are_normalised() -> None:
    doc = spec()
    doc["schedule"]["requested"] = {
        "duration": "PT90M",
        "start": "2026-03-01T10:00:00+01:00/2026-03-01T12:00:00+01:00",
    }
    parsed = ExecutionRequestDocument.model_validate(doc)
    assert parsed.schedule is not None
    assert parsed.schedule.requested is not None
    assert parsed.schedule.requested.duration == "PT1H30M"
    assert parsed.schedule.requested.start == "2026-03-01T09:00:00Z/PT2H"


def session(**extra: Any) -> dict[str, Any]:
    return {"phase": "OFFERED", **extra}


def test_legacy_phase_names() -> None:
    assert ExecutionSession.model_validate(session(phase="PROPOSED")).phase is SessionPhase.INITIAL
    assert ExecutionSession.model_validate(session(phase="READY")).phase is SessionPhase.AVAILABLE
    exe = {
        "kind": "uri:jupyter-notebook-1.0",
        "location": "https://x.org/n.ipynb",
        "phase": "READY",
    }
    parsed = ExecutionSession.model_validate(session(executable=exe))
    assert parsed.executable is not None
    assert parsed.executable.phase is ComponentPhase.AVAILABLE


def test_session_phase_must_be_known_and_expires_needs_zone() -> None:
    assert error_for(session(phase="SLEEPING"), ExecutionSession).path == "phase"
    assert error_for(session(expires="2026-01-01T00:00:00"), ExecutionSession).path == "expires"


def test_offerset_yes_no_consistency() -> None:
    offer = session()
    assert OfferSetResponse.model_validate({"result": "YES", "offers": [offer]}).offers
    assert error_for({"result": "YES", "offers": []}, OfferSetResponse).detail.startswith(
        "result YES"
    )
    assert error_for({"result": "NO", "offers": [offer]}, OfferSetResponse).status == 400
    assert error_for({"result": "NO", "offers": [offer] * 33}, OfferSetResponse).path == "offers"
    # YAML 1.1 readers turn an unquoted YES into a boolean
    assert OfferSetResponse.model_validate({"result": False}).result is OfferResult.NO


def test_models_are_frozen() -> None:
    doc = ExecutionRequestDocument.model_validate(spec())
    with pytest.raises(ValidationError):
        doc.executable.meta = None  # type: ignore[misc,union-attr]
