"""The reference mini UWS passes every check that applies to it."""

from __future__ import annotations

from ivoa_broker_conformance.model import Outcome
from ivoa_broker_conformance.registry import all_checks
from ivoa_broker_conformance.runner import Report

#: checks allowed to skip on the reference, with the reason they must give
EXPECTED_SKIPS = {
    "UWS-64": "not testable from outside",
    "JSON-81": "JSON not offered",
}


def test_every_check_ran(reference_report: Report) -> None:
    assert [r.id for r in reference_report.results] == [c.id for c in all_checks()]


def test_nothing_fails_or_warns(reference_report: Report) -> None:
    bad = {
        r.id: r.message
        for r in reference_report.results
        if r.outcome in (Outcome.FAIL, Outcome.WARN)
    }
    assert bad == {}


def test_only_expected_skips(reference_report: Report) -> None:
    skipped = {r.id: r.message for r in reference_report.results if r.outcome is Outcome.SKIP}
    eb = {k: v for k, v in skipped.items() if k.startswith("EB-")}
    rest = {k: v for k, v in skipped.items() if not k.startswith("EB-")}
    assert set(rest) == set(EXPECTED_SKIPS)
    for check_id, reason in EXPECTED_SKIPS.items():
        assert reason in rest[check_id]
    assert len(eb) == len([c for c in all_checks() if c.id.startswith("EB-")])
    assert all("no ExecutionBroker API" in v for v in eb.values())


def test_schema_validation_was_used(reference_report: Report) -> None:
    assert reference_report.schema_enabled
    notes = [n for r in reference_report.results for n in r.notes]
    assert any("valid against the uws XSD" in n for n in notes)
    assert any("valid against the capabilities XSD" in n for n in notes)


def test_evidence_is_kept(reference_report: Report) -> None:
    created = reference_report.by_id()["UWS-03"]
    assert created.evidence[0].request.startswith("POST ")
    assert created.evidence[0].status == 303
    assert "location" in {k.lower() for k in created.evidence[0].headers}
    assert "uws:job" in created.evidence[1].excerpt


def test_checklist_is_mapped_one_to_one() -> None:
    """Checklist items 1-80 are UWS-01..UWS-80, item 81 is JSON-81; EB checks follow."""
    ids = [c.id for c in all_checks()]
    assert ids[:81] == [f"UWS-{n:02d}" for n in range(1, 81)] + ["JSON-81"]
    assert all(i.startswith("EB-") for i in ids[81:])
    assert all(c.section and c.title for c in all_checks())
