"""The suite against django-uws (PyPI, Django 4.2), run for real in its own virtualenv.

django-uws speaks JSON only and is not the UWS REST binding, which the suite rightly fails;
it must say so once (UWS-01) and report every check needing the job list as blocked by it,
not as N failures. Its missing VOSI endpoints are a second, separate cause (UWS-63/66)."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Iterator

import pytest
from conformance_django_uws import USERS, DjangoUWS, ensure_venv
from conformance_support import XSD_DIR
from ivoa_broker_conformance import auth
from ivoa_broker_conformance.config import Config
from ivoa_broker_conformance.model import Outcome
from ivoa_broker_conformance.runner import Report, run_suite

pytestmark = pytest.mark.slow

ROOT_CAUSE = "UWS-01"
VOSI_CAUSES = {"UWS-63", "UWS-66"}


@pytest.fixture(scope="module")
def django_report() -> Iterator[Report]:
    why = ensure_venv()
    if why is not None:
        pytest.skip(why)
    with DjangoUWS() as peer:
        config = Config(
            base_url=peer.base,
            auth=auth.basic(f"alice:{USERS['alice']}"),
            other_auth=auth.basic(f"bob:{USERS['bob']}"),
            schemas=XSD_DIR,
            job_timeout=10.0,
            check_timeout=30.0,
        )
        yield asyncio.run(run_suite(config))


def test_trailing_slash_redirect_is_followed(django_report: Report) -> None:
    """Former root cause of 79 failures: /uws/jobs answers 301 to /uws/jobs/."""
    assert django_report.jobs_url == django_report.target.rstrip("/") + "/jobs/"
    assert "redirects (301)" in django_report.jobs_url_source


def test_json_only_job_list_is_reported_once(django_report: Report) -> None:
    by_id = django_report.by_id()
    root = by_id[ROOT_CAUSE]
    assert root.outcome is Outcome.FAIL
    assert "application/json" in root.message
    failed = {r.id for r in django_report.results if r.outcome is Outcome.FAIL}
    assert failed == {ROOT_CAUSE, *VOSI_CAUSES}, {i: by_id[i].message for i in failed}


def test_dependants_are_blocked_by_their_cause(django_report: Report) -> None:
    blocked = [r for r in django_report.results if r.outcome is Outcome.BLOCKED]
    assert len(blocked) > 50
    causes = {r.id: re.match(r"blocked by (UWS-\d+)", r.message).group(1) for r in blocked}  # type: ignore[union-attr]
    by_cause = set(causes.values())
    assert by_cause <= {ROOT_CAUSE, *VOSI_CAUSES, "UWS-72", "UWS-73", "UWS-74", "UWS-75"}, causes
    assert causes["UWS-03"] == ROOT_CAUSE
    assert causes["UWS-11"] == ROOT_CAUSE
    assert causes["UWS-71"] == "UWS-66"
    assert "not the UWS REST binding" in django_report.by_id()["UWS-03"].message


def test_summary_counts_blocked_separately(django_report: Report) -> None:
    s = django_report.summary
    assert s.failed == 3
    assert s.blocked == len([r for r in django_report.results if r.outcome is Outcome.BLOCKED])
    assert s.line() == f"{s.passed} passed, 3 failed, {s.blocked} blocked, {s.skipped} skipped"


def test_no_double_slash_in_any_request(django_report: Report) -> None:
    for r in django_report.results:
        for ex in r.evidence:
            url = ex.request.split(" ")[1]
            assert "//" not in url.split("://", 1)[1], ex.request
