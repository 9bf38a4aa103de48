"""ExecutionBroker checks against the mini broker and its broken variants."""

from __future__ import annotations

import pytest
from conformance_support import run
from ivoa_broker_conformance.model import Outcome
from ivoa_broker_conformance.registry import all_checks
from ivoa_broker_conformance.runner import Report

EB_IDS = {c.id for c in all_checks() if c.id.startswith("EB-")}

#: fault -> {check id: outcome it must produce}
BROKEN: dict[str, dict[str, Outcome]] = {
    "eb-no-options": {"EB-06": Outcome.FAIL, "EB-11": Outcome.FAIL},
    "eb-racy-accept": {"EB-08": Outcome.FAIL},
    "eb-illegal-200": {"EB-09": Outcome.FAIL},
    "eb-no-expiry": {"EB-12": Outcome.FAIL},
    "eb-public-get": {"EB-13": Outcome.FAIL},
    "eb-json-default": {"EB-05": Outcome.FAIL},
    "eb-no-yaml": {"EB-03": Outcome.FAIL, "EB-04": Outcome.FAIL},
    "eb-siblings-stay": {"EB-07": Outcome.WARN, "EB-08": Outcome.FAIL},
    "eb-no-location": {"EB-01": Outcome.FAIL},
    "eb-initial-offers": {"EB-02": Outcome.FAIL},
    "eb-accept-not-idempotent": {"EB-10": Outcome.FAIL},
    "eb-unknown-200": {"EB-14": Outcome.FAIL},
    "eb-anything-goes": {"EB-15": Outcome.FAIL},
    "eb-cancel-ignored": {"EB-16": Outcome.FAIL},
}


@pytest.fixture(scope="module")
def eb_reference(fixture_base: str) -> Report:
    return run(fixture_base, "eb/ok", EB_IDS)


def test_reference_broker_passes_every_eb_check(eb_reference: Report) -> None:
    assert {r.id: (r.outcome, r.message) for r in eb_reference.results} == {
        i: (Outcome.PASS, "") for i in EB_IDS
    }


def test_expiry_was_really_waited_for(eb_reference: Report) -> None:
    expiry = eb_reference.by_id()["EB-12"]
    assert expiry.duration >= 3.0
    assert any('"EXPIRED"' in e.excerpt for e in expiry.evidence)


@pytest.mark.parametrize("fault", sorted(BROKEN))
def test_broken_broker_variant(fixture_base: str, eb_reference: Report, fault: str) -> None:
    report = run(fixture_base, f"eb/{fault}", set(BROKEN[fault]))
    assert {r.id: r.outcome for r in report.results} == BROKEN[fault], {
        r.id: r.message for r in report.results
    }
    assert all(eb_reference.by_id()[i].outcome is Outcome.PASS for i in BROKEN[fault])


def test_eb_owner_check_needs_two_tokens(fixture_base: str) -> None:
    report = run(fixture_base, "eb/ok", {"EB-13"}, other=False)
    assert report.results[0].outcome is Outcome.SKIP
    assert "--other-token" in report.results[0].message
