from __future__ import annotations

from typing import Any

import pytest

from ivoa_broker.eb import formats, updates
from ivoa_broker.eb.errors import DocumentError
from ivoa_broker.eb.model import SessionPhase
from ivoa_broker.eb.updates import PhaseChange, RuntimeExtension, interpret_update
from tests.eb.samples import ACCEPT_JSON, CANCEL_LEGACY_JSON, REJECT_YAML


@pytest.mark.parametrize(
    ("body", "ctype", "target"),
    [
        (ACCEPT_JSON, "application/json", SessionPhase.ACCEPTED),
        (REJECT_YAML, "application/yaml", SessionPhase.REJECTED),
        (REJECT_YAML, None, SessionPhase.REJECTED),
        (CANCEL_LEGACY_JSON, "application/json", SessionPhase.CANCELLED),
        (
            b"<update kind='uri:enum-value-update'><path>phase</path><value>ACCEPTED</value>"
            b"</update>",
            "application/xml",
            SessionPhase.ACCEPTED,
        ),
    ],
)
def test_phase_updates_in_every_format(
    body: bytes, ctype: str | None, target: SessionPhase
) -> None:
    assert interpret_update(formats.load_update(body, ctype)) == PhaseChange(target)


@pytest.mark.parametrize("value", ["FAILED", "EXPIRED", "RUNNING", "bogus"])
def test_phases_a_client_cannot_set(value: str) -> None:
    raw = {"kind": "uri:enum-value-update", "path": "phase", "value": value}
    with pytest.raises(DocumentError) as info:
        interpret_update(raw)
    assert (info.value.status, info.value.path) == (422, "value")


@pytest.mark.parametrize(
    ("units", "delta", "seconds"),
    [
        (None, 600, 600),
        ("seconds", 600, 600),
        ("minutes", 10, 600),
        ("hours", 1, 3600),
        ("s", -30, -30),
    ],
)
def test_runtime_extension(units: str | None, delta: int, seconds: int) -> None:
    raw: dict[str, Any] = {
        "kind": "uri:integer-delta-update",
        "path": "schedule.available.duration",
        "delta": delta,
    }
    if units:
        raw["units"] = units
    assert interpret_update(raw) == RuntimeExtension(seconds)


@pytest.mark.parametrize(
    ("raw", "path"),
    [
        (
            {"kind": "uri:integer-delta-update", "path": "duration", "delta": 1, "units": "days"},
            "units",
        ),
        ({"kind": "uri:integer-delta-update", "path": "duration", "delta": 10**8}, "delta"),
        ({"kind": "uri:string-value-update", "path": "meta.name", "value": "x"}, "path"),
        ({"kind": "uri:enum-value-update", "path": "compute.cores", "value": "x"}, "path"),
    ],
)
def test_unsupported_updates_are_422(raw: dict[str, Any], path: str) -> None:
    with pytest.raises(DocumentError) as info:
        interpret_update(raw)
    assert (info.value.status, info.value.path) == (422, path)


@pytest.mark.parametrize(
    ("raw", "path"),
    [
        ({"kind": "uri:enum-value-update", "value": "ACCEPTED"}, "path"),
        ({"kind": "uri:launch-update", "path": "phase"}, ""),
        ({"kind": "uri:integer-delta-update", "path": "duration", "delta": "soon"}, "delta"),
        ({"kind": "uri:integer-delta-update", "path": "duration", "delta": 2**60}, "delta"),
    ],
)
def test_invalid_updates_are_400_with_path(raw: dict[str, Any], path: str) -> None:
    with pytest.raises(DocumentError) as info:
        updates.parse_update(raw)
    assert (info.value.status, info.value.path) == (400, path)


def test_builders_round_trip() -> None:
    assert interpret_update(updates.accept()) == PhaseChange(SessionPhase.ACCEPTED)
    assert interpret_update(updates.reject()) == PhaseChange(SessionPhase.REJECTED)
    assert interpret_update(updates.cancel()) == PhaseChange(SessionPhase.CANCELLED)
    assert interpret_update(updates.extend(900)) == RuntimeExtension(900)
    for fmt in formats.Format:
        body = formats.dump(updates.extend(900), fmt)
        assert formats.load_update(body, formats.CONTENT_TYPES[fmt]) == updates.extend(900)
