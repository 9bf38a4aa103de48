"""Each deliberately broken variant makes the matching check fail (and only on it)."""

from __future__ import annotations

import pytest
from conformance_support import run
from ivoa_broker_conformance.model import Outcome
from ivoa_broker_conformance.runner import Report

#: fault -> checks that must fail because of it
BROKEN: dict[str, set[str]] = {
    "no-version": {"UWS-01", "UWS-11", "UWS-15", "UWS-72"},
    "offset-times": {"UWS-10", "UWS-14", "UWS-15", "UWS-79"},
    "create-200": {"UWS-03"},
    "no-nil": {"UWS-11", "UWS-12"},
    "wait-ignored": {"UWS-45", "UWS-46"},
    "wait-phase-ignored": {"UWS-47"},
    "phase-filter-ignored": {"UWS-52", "UWS-53"},
    "archived-listed": {"UWS-54"},
    "html-default": {"UWS-02"},
    "case-sensitive": {"UWS-07"},
    "unknown-job-400": {"UWS-16"},
    "vosi-prefixed": {"UWS-66"},
    "no-owner-scope": {"UWS-60"},
    "no-error-summary": {"UWS-41", "UWS-76"},
    "delete-200": {"UWS-36"},
    "last-ascending": {"UWS-55"},
    "run-finished-restarts": {"UWS-32"},
    "results-404-empty": {"UWS-24"},
    "no-auth-challenge": {"UWS-61"},
    "no-runid": {"UWS-06"},
    "runid-hidden-in-list": {"UWS-06"},
    "no-multipart": {"UWS-09"},
    "no-creation-time": {"UWS-13"},
    "phase-as-xml": {"UWS-18"},
    "error-200-not-failed": {"UWS-26"},
    "unknown-child-200": {"UWS-27"},
    "bogus-phase-ok": {"UWS-31"},
    "abort-ignored": {"UWS-30", "UWS-77"},
    "duration-not-enforced": {"UWS-43"},
    "wait-blocks-finished": {"UWS-48"},
    "after-ignored": {"UWS-56"},
    "vosi-needs-auth": {"UWS-62"},
    "availability-bad": {"UWS-63", "UWS-65"},
    "no-uws-capability": {"UWS-67", "UWS-68"},
    "no-last-modified": {"UWS-71"},
    "accept-anything": {"UWS-08"},
    "params-hidden": {"UWS-17", "UWS-23"},
    "result-size-wrong": {"UWS-25"},
    "post-job-deletes": {"UWS-37"},
    "list-delete-ok": {"UWS-39"},
    "duration-junk-ok": {"UWS-33"},
    "no-owner-id": {"UWS-22", "UWS-59"},
    "phase-post-200": {"UWS-28", "UWS-30"},
    "destruction-junk-ok": {"UWS-34"},
    "params-change-running": {"UWS-35"},
    "wait-junk-ok": {"UWS-50"},
    "bad-phase-filter-ok": {"UWS-58"},
    "error-detail-missing": {"UWS-42"},
    "duration-child-mismatch": {"UWS-19"},
    "children-offset": {"UWS-20"},
    "end-before-start": {"UWS-40"},
    "destruction-6-digits-rejected": {"UWS-34", "UWS-74"},
    "bad-xsi-type": {"UWS-66", "UWS-69"},
    "json-wrong": {"JSON-81"},
    "json-default": {"UWS-02", "JSON-81"},
}


def test_json_extension_passes_when_offered_correctly(fixture_base: str) -> None:
    """The reference offers no JSON (JSON-81 skips); the 'json' variant offers it right."""
    result = run(fixture_base, "json", {"JSON-81", "UWS-02"})
    assert {r.id: r.outcome for r in result.results} == {
        "JSON-81": Outcome.PASS,
        "UWS-02": Outcome.PASS,
    }


@pytest.mark.parametrize("fault", sorted(BROKEN))
def test_variant_fails_its_checks(fixture_base: str, reference_report: Report, fault: str) -> None:
    report = run(fixture_base, fault, BROKEN[fault])
    outcomes = {r.id: r.outcome for r in report.results}
    assert outcomes == dict.fromkeys(BROKEN[fault], Outcome.FAIL), {
        r.id: r.message for r in report.results
    }
    # the same checks pass on the reference (JSON-81: on the variant offering JSON right)
    reference = reference_report.by_id()
    json_ok = run(fixture_base, "json", {"JSON-81"}).by_id() if "JSON-81" in BROKEN[fault] else {}
    assert {i: (json_ok.get(i) or reference[i]).outcome for i in BROKEN[fault]} == dict.fromkeys(
        BROKEN[fault], Outcome.PASS
    )


def test_failure_messages_name_the_rule(fixture_base: str) -> None:
    report = run(fixture_base, "offset-times", {"UWS-14"}).by_id()
    assert "+00:00" in report["UWS-14"].message
    report = run(fixture_base, "create-200", {"UWS-03"}).by_id()
    assert "303" in report["UWS-03"].message


def test_validation_catches_what_hand_checks_miss(fixture_base: str) -> None:
    """With the XSDs the prefixed capability is reported by the validator too."""
    with_xsd = run(fixture_base, "vosi-prefixed", {"UWS-66"}).by_id()["UWS-66"]
    assert with_xsd.outcome is Outcome.FAIL


def test_without_schemas_validation_is_reported_skipped(fixture_base: str) -> None:
    report = run(fixture_base, "ok", {"UWS-01", "UWS-11"}, schemas=False)
    assert not report.schema_enabled
    assert "SKIPPED" in report.schema_statement
    assert all(r.outcome is Outcome.PASS for r in report.results)
    assert any("XSD validation skipped" in n for r in report.results for n in r.notes)


def test_owner_checks_skip_without_second_token(fixture_base: str) -> None:
    report = run(fixture_base, "ok", {"UWS-59", "UWS-60"}, other=False)
    assert {r.outcome for r in report.results} == {Outcome.SKIP}
    assert all("--other-token" in r.message for r in report.results)


def test_destruction_needs_a_tolerance_for_a_verdict(fixture_base: str) -> None:
    """UWS sets destruction no precision: without --destruction-tolerance a job still there
    is inconclusive (skip); with one it fails, and a service that destroys passes."""
    plain = run(fixture_base, "destruction-ignored", {"UWS-44"}).by_id()["UWS-44"]
    assert plain.outcome is Outcome.SKIP
    assert "inconclusive" in plain.message
    strict = run(fixture_base, "destruction-ignored", {"UWS-44"}, destruction_tolerance=3.0)
    assert strict.by_id()["UWS-44"].outcome is Outcome.FAIL
    ok = run(fixture_base, "ok", {"UWS-44"}, destruction_tolerance=3.0)
    assert ok.by_id()["UWS-44"].outcome is Outcome.PASS


def test_optional_creation_shortcuts_skip_not_fail(fixture_base: str) -> None:
    """Former false alarms: PHASE=RUN at creation is an option of UWS 1.1 (UWS-04) and
    ?PHASE=RUN in the URL is not in its text (UWS-05)."""
    report = run(fixture_base, "no-run-on-create", {"UWS-04", "UWS-05"}).by_id()
    assert {i: r.outcome for i, r in report.items()} == {
        "UWS-04": Outcome.SKIP,
        "UWS-05": Outcome.SKIP,
    }


def test_vosi_post_answered_like_get_is_not_a_fault(fixture_base: str) -> None:
    """Former false alarm: VOSI names GET and forbids nothing else (UWS-70)."""
    result = run(fixture_base, "vosi-post-ok", {"UWS-70"}).by_id()["UWS-70"]
    assert result.outcome is Outcome.PASS
    assert any("PUT /capabilities: 200" in n for n in result.notes)


def test_case_probe_does_not_need_runid(fixture_base: str) -> None:
    """Former false alarm: UWS-07 used the optional RUNID as its only probe."""
    result = run(fixture_base, "no-runid", {"UWS-07"}).by_id()["UWS-07"]
    assert result.outcome is Outcome.PASS
    assert any("does not echo RUNID" in n for n in result.notes)


def test_broken_job_list_blocks_its_dependants_once(fixture_base: str) -> None:
    ids = {"UWS-01", "UWS-02", "UWS-03", "UWS-11", "UWS-40", "UWS-72", "UWS-80", "UWS-63"}
    report = run(fixture_base, "list-broken", ids)
    outcomes = {r.id: r.outcome for r in report.results}
    assert outcomes.pop("UWS-01") is Outcome.FAIL
    assert outcomes.pop("UWS-63") is Outcome.PASS  # VOSI does not need the job list
    assert set(outcomes.values()) == {Outcome.BLOCKED}
    by_id = report.by_id()
    for i in ("UWS-02", "UWS-03", "UWS-11", "UWS-40", "UWS-72"):
        assert by_id[i].message.startswith("blocked by UWS-01"), by_id[i].message
        assert "500" in by_id[i].message
    assert by_id["UWS-80"].message.startswith("blocked by UWS-72")
    assert report.summary.line() == "1 passed, 1 failed, 6 blocked, 0 skipped"


def test_missing_vosi_blocks_vosi_checks(fixture_base: str) -> None:
    """Former false alarm: UWS-71 said 'no Last-Modified header' when /capabilities was 404."""
    report = run(fixture_base, "no-vosi", {"UWS-66", "UWS-67", "UWS-71", "UWS-63", "UWS-65"})
    by_id = report.by_id()
    assert by_id["UWS-66"].outcome is Outcome.FAIL
    assert by_id["UWS-63"].outcome is Outcome.FAIL
    for i, cause in (("UWS-67", "UWS-66"), ("UWS-71", "UWS-66"), ("UWS-65", "UWS-63")):
        assert by_id[i].outcome is Outcome.BLOCKED
        assert by_id[i].message.startswith(f"blocked by {cause}")
        assert "404" in by_id[i].message


def test_failing_element_is_focused_in_the_evidence(fixture_base: str) -> None:
    result = run(fixture_base, "bad-xsi-type", {"UWS-66"}).by_id()["UWS-66"]
    assert result.outcome is Outcome.FAIL
    focused = [e for e in result.evidence if e.focus_path]
    assert focused, [e.request for e in result.evidence]
    assert "interface" in focused[0].focus_path
    assert "ParamHTTPish" in focused[0].focus
    assert focused[0].body.startswith("<?xml")  # the whole document is kept too
    assert focused[0].to_json()["focus"] == {
        "xpath": focused[0].focus_path,
        "element": focused[0].focus,
    }
