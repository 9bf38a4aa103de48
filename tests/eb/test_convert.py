from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID

import pytest

from ivoa_broker.eb import formats
from ivoa_broker.eb.convert import (
    GIB,
    RUNTIME_PATH,
    offer_session,
    offer_set,
    phase_options,
    refusal,
    to_execution_request,
)
from ivoa_broker.eb.errors import DocumentError
from ivoa_broker.eb.kinds import Kind
from ivoa_broker.eb.model import (
    ComponentPhase,
    EnumValueOption,
    ExecutionRequestDocument,
    IntegerDeltaOption,
    MessageLevel,
    OfferResult,
    SessionPhase,
)
from ivoa_broker.protocol import ExecutionRequest, Offer, Resources
from tests.eb.samples import SPEC_REQUEST_JSON

K = "https://www.purl.org/ivoa.net/Calycopis-openapi/schema/v1.0/kinds/"


def spec() -> dict[str, Any]:
    data: dict[str, Any] = json.loads(SPEC_REQUEST_JSON)
    return data


def test_spec_example_becomes_the_neutral_request() -> None:
    req = to_execution_request(spec(), job_id="j1", owner="alice")
    digest = "sha256:" + "0dfe" * 16
    assert req == ExecutionRequest(
        job_id="j1",
        owner="alice",
        kind="batch",
        image=f"ghcr.io/zarquan/heliophorus-androcles:sha-9a2513b@{digest}",
        command=("sha256sum", "json"),
        env={"INPUT": "/input"},
        resources=Resources(cores=1.0, memory_bytes=GIB, gpus=0, walltime_seconds=3600),
        inputs=("http://example.org/file.jpg",),
        labels={"eb.name": "checksum"},
        extensions={
            "eb.executable": "docker-container",
            "eb.cores.max": "2",
            "eb.memory.max": str(4 * GIB),
            "eb.volumes": json.dumps(
                [
                    {
                        "path": "/input",
                        "mode": "READONLY",
                        "resource": "input-data",
                        "location": "http://example.org/file.jpg",
                    }
                ]
            ),
        },
    )


def test_entrypoint_leads_the_command_and_platform_ports_start_go_to_extensions() -> None:
    doc = spec()
    exe = doc["executable"]
    exe["entrypoint"] = "/bin/sh"
    exe["command"] = ["-c", "echo hi"]
    exe["image"]["platform"] = {"architecture": "arm64", "os": "linux"}
    exe["network"] = {"ports": [{"access": True, "internal": {"port": 8888}, "protocol": "HTTP"}]}
    doc["schedule"]["requested"]["start"] = "2026-05-01T00:00:00Z/PT6H"
    req = to_execution_request(doc, job_id="j", owner=None)
    assert req.command == ("/bin/sh", "-c", "echo hi")
    assert req.extensions["eb.entrypoint"] == "/bin/sh"
    assert req.extensions["eb.platform"] == "linux/arm64"
    assert json.loads(req.extensions["eb.ports"]) == [
        {"port": 8888, "protocol": "HTTP", "access": True, "path": None}
    ]
    assert req.extensions["eb.start"] == "2026-05-01T00:00:00Z/PT6H"


def test_notebook_is_interactive() -> None:
    doc = {
        "executable": {
            "kind": "urn:jupyter-notebook-0.1",
            "location": "https://example.org/nb.ipynb",
        }
    }
    req = to_execution_request(doc, job_id="j", owner="bob")
    assert req.kind == "interactive"
    assert req.notebook == "https://example.org/nb.ipynb"
    assert req.image is None
    assert req.extensions == {"eb.executable": "jupyter-notebook"}


def test_singularity_location_is_the_image() -> None:
    doc = {
        "executable": {
            "kind": K + "executable/singularity-container.yaml",
            "location": "docker://python:3.12",
        }
    }
    req = to_execution_request(doc, job_id="j", owner=None)
    assert req.image == "docker://python:3.12"
    assert req.extensions["eb.executable"] == "singularity-container"


def test_gpu_extension_max_only_values_storage_and_s3() -> None:
    doc = spec()
    doc["compute"] = {"cores": {"max": 8}, "memory": {"max": 16}, "gpus": {"min": 2, "max": 4}}
    doc["storage"] = [{"size": {"min": 10}}, {"size": {"max": 5}}]
    doc["data"] = [
        {
            "kind": "urn:S3-data-resource",
            "endpoint": "https://s3.example.org/",
            "bucket": "b",
            "object": "o/x.fits",
        },
        {"kind": K + "data/S3-data-resource.yaml", "bucket": "b2", "object": "y"},
    ]
    req = to_execution_request(doc, job_id="j", owner=None)
    assert req.resources.cores == 8.0
    assert req.resources.memory_bytes == 16 * GIB
    assert req.resources.gpus == 2
    assert req.extensions["eb.gpus.max"] == "4"
    assert req.resources.disk_bytes == 15 * GIB
    assert req.inputs == ("https://s3.example.org/b/o/x.fits", "s3://b2/y")


def test_privileged_container_is_refused_422() -> None:
    doc = spec()
    doc["executable"]["privileged"] = True
    with pytest.raises(DocumentError) as info:
        to_execution_request(doc, job_id="j", owner=None)
    assert (info.value.status, info.value.path) == (422, "executable.privileged")


def test_invalid_mapping_raises_document_error_with_path() -> None:
    doc = spec()
    doc["compute"]["memory"]["min"] = -1
    with pytest.raises(DocumentError) as info:
        to_execution_request(doc, job_id="j", owner=None)
    assert info.value.path == "compute.memory.min"


# ---------------------------------------------------------------- rendering

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
SID = UUID("5ec7aa00-1111-4222-8333-444455556666")


def an_offer(**changes: Any) -> Offer:
    base: dict[str, Any] = {
        "adapter": "local",
        "offer_id": "o1",
        "summary": "2 cores on the local host",
        "resources": Resources(cores=2.0, memory_bytes=3 * GIB, walltime_seconds=7200),
        "start": NOW + timedelta(minutes=1),
        "expires_at": NOW + timedelta(minutes=5),
        "reserved": False,
        "cost": {"monetary": 1.5},
        "warnings": ("memory rounded up to 3 GiB",),
    }
    base.update(changes)
    return Offer(**base)


def render(offer: Offer | None = None, **kw: Any) -> Any:
    doc = ExecutionRequestDocument.model_validate(spec())
    return offer_session(
        offer or an_offer(),
        doc,
        session_id=SID,
        base_url="https://eb.example.org/",
        created=NOW,
        **kw,
    )


def test_offer_session_reports_requested_and_offered_values_distinctly() -> None:
    s = render()
    assert s.kind is Kind.SCHEDULED_EXECUTION_SESSION
    assert s.phase is SessionPhase.OFFERED
    assert s.expires == NOW + timedelta(minutes=5)
    assert s.compute is not None
    assert (s.compute.cores.min, s.compute.cores.max) == (2, 2)  # type: ignore[union-attr]
    assert (s.compute.memory.min, s.compute.memory.max) == (3, 3)  # type: ignore[union-attr]
    assert s.requested is not None
    assert s.requested.compute is not None
    asked = s.requested.compute
    assert (asked.cores.min, asked.cores.max) == (1, 2)  # type: ignore[union-attr]
    assert (asked.memory.min, asked.memory.max) == (1, 4)  # type: ignore[union-attr]
    assert s.schedule is not None
    assert s.schedule.available is not None
    assert s.schedule.available.start == "2026-03-01T12:01:00Z/PT0S"
    assert s.schedule.available.duration == "PT2H"


def test_offer_session_meta_messages_costs_and_component_ids() -> None:
    s = render()
    assert s.meta is not None
    assert s.meta.url == f"https://eb.example.org/sessions/{SID}"
    assert s.meta.uuid == SID
    assert s.meta.created == NOW
    levels = [(m.level, m.message) for m in s.meta.messages]
    assert (MessageLevel.WARN, "memory rounded up to 3 GiB") in levels
    assert any("best effort" in (m or "") for _, m in levels)
    assert [(c.type, c.min, c.max) for c in s.costs] == [
        ("urn:ivoa:calycopis:cost:monetary", 1.5, 1.5)
    ]
    assert s.executable is not None
    assert s.executable.phase is ComponentPhase.INITIALIZING
    ids = {s.executable.meta.uuid, s.compute.meta.uuid, s.data[0].meta.uuid}  # type: ignore[union-attr]
    assert len(ids) == 3
    assert SID not in ids
    assert s.data[0].meta.name == "input-data"  # type: ignore[union-attr]
    # stable: rendering twice gives the same document
    assert render() == s


def test_reserved_offer_has_no_best_effort_note_and_running_session_no_expiry() -> None:
    s = render(an_offer(reserved=True, warnings=()), phase=SessionPhase.RUNNING)
    assert s.expires is None
    assert s.meta is not None
    assert s.meta.messages == []
    assert s.executable is not None
    assert s.executable.phase is None


@pytest.mark.parametrize("fmt", list(formats.Format))
def test_rendered_session_and_offerset_round_trip(fmt: formats.Format) -> None:
    s = render(options=phase_options([SessionPhase.ACCEPTED, SessionPhase.REJECTED]))
    assert formats.load_session(formats.dump(s, fmt), formats.CONTENT_TYPES[fmt]) == s
    oset = offer_set([s], offerset_id=SID, base_url="https://eb.example.org", created=NOW)
    assert oset.result is OfferResult.YES
    assert oset.meta is not None
    assert oset.meta.url == f"https://eb.example.org/offersets/{SID}"
    back = formats.load_offerset(formats.dump(oset, fmt), formats.CONTENT_TYPES[fmt])
    assert back == oset


def test_no_offerset_carries_reasons_with_paths() -> None:
    oset = offer_set(
        [],
        offerset_id=SID,
        base_url="https://eb.example.org",
        created=NOW,
        messages=refusal([("compute.cores.min", "at most 64 cores here"), (None, "busy")]),
    )
    assert oset.result is OfferResult.NO
    assert oset.offers == []
    assert oset.meta is not None
    first, second = oset.meta.messages
    assert (first.level, first.values, first.message) == (
        MessageLevel.ERROR,
        {"path": "compute.cores.min"},
        "at most 64 cores here",
    )
    assert second.values == {}


def test_phase_options() -> None:
    opts = phase_options([SessionPhase.ACCEPTED, SessionPhase.REJECTED], extend_max_seconds=3600)
    assert isinstance(opts[0], EnumValueOption)
    assert (opts[0].path, opts[0].values) == ("phase", ["ACCEPTED", "REJECTED"])
    assert isinstance(opts[1], IntegerDeltaOption)
    assert (opts[1].path, opts[1].max, opts[1].units) == (RUNTIME_PATH, 3600, "seconds")
    assert phase_options([]) == []
