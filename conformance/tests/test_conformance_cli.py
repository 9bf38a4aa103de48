"""The console entry point: reports, summary line, exit code."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from conformance_support import ALICE, BOB, XSD_DIR
from ivoa_broker_conformance.cli import main

SUMMARY = re.compile(r"^\d+ passed, \d+ failed, \d+ blocked, \d+ skipped$", re.MULTILINE)


def _args(base: str, *extra: str) -> list[str]:
    return [
        base,
        "--token",
        ALICE,
        "--other-token",
        BOB,
        "--schemas",
        str(XSD_DIR),
        "--job-timeout",
        "20",
        *extra,
    ]


def test_json_report_and_zero_exit(
    fixture_base: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "r.json"
    code = main(_args(f"{fixture_base}/ok", "--only", "UWS-01,UWS-03,EB-01", "--report", str(out)))
    assert code == 0
    data = json.loads(out.read_text())
    assert data["summary"] == {
        "passed": 2,
        "failed": 0,
        "blocked": 0,
        "skipped": 1,
        "warnings": 0,
        "must_failed": 0,
    }
    assert data["schema_validation"]["enabled"] is True
    assert [r["id"] for r in data["results"]] == ["UWS-01", "UWS-03", "EB-01"]
    assert data["results"][1]["evidence"][0]["status"] == 303
    printed = capsys.readouterr().out
    found = SUMMARY.search(printed)
    assert found is not None
    assert found.group(0) == "2 passed, 0 failed, 0 blocked, 1 skipped"
    assert "0 warnings" in printed


def test_must_failure_gives_nonzero_exit(
    fixture_base: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "r.md"
    code = main(_args(f"{fixture_base}/no-version", "--only", "UWS-01", "--report", str(out)))
    assert code == 1
    text = out.read_text()
    assert "0 passed, 1 failed, 0 blocked, 0 skipped" in text
    assert "| UWS-01 | MUST | **FAIL** |" in text
    assert "GET http" in text  # evidence: the request line


def test_should_failure_keeps_exit_zero(fixture_base: str, tmp_path: Path) -> None:
    code = main(
        _args(
            f"{fixture_base}/wait-ignored", "--only", "UWS-45", "--report", str(tmp_path / "r.json")
        )
    )
    assert code == 0
    data = json.loads((tmp_path / "r.json").read_text())
    assert data["results"][0]["outcome"] == "fail"
    assert data["results"][0]["level"] == "SHOULD"


def test_html_report_and_skipped_validation(fixture_base: str, tmp_path: Path) -> None:
    out = tmp_path / "r.html"
    code = main([f"{fixture_base}/ok", "--token", ALICE, "--only", "UWS-11", "--report", str(out)])
    assert code == 0
    text = out.read_text()
    assert text.startswith("<!DOCTYPE html>")
    assert "XSD validation was SKIPPED" in text
    assert '<p id="summary"><strong>1 passed, 0 failed, 0 blocked, 0 skipped</strong></p>' in text


def test_job_parameters_are_configurable(fixture_base: str, tmp_path: Path) -> None:
    """A service needing other parameters: the defaults fail, the right ones pass."""
    out = tmp_path / "r.json"
    code = main(
        _args(
            f"{fixture_base}/ok",
            "--only",
            "UWS-40",
            "--job-params",
            "cmd=false",
            "--report",
            str(out),
        )
    )
    assert code == 1
    assert "set --job-params" in json.loads(out.read_text())["results"][0]["message"]


def test_unreachable_service_fails_without_hanging(tmp_path: Path) -> None:
    from conformance_support import free_port

    out = tmp_path / "r.json"
    code = main(
        [
            f"http://127.0.0.1:{free_port()}",
            "--only",
            "UWS-01,UWS-63",
            "--request-timeout",
            "2",
            "--report",
            str(out),
        ]
    )
    assert code == 1
    data = json.loads(out.read_text())
    assert {r["outcome"] for r in data["results"]} == {"fail"}


def test_eb_request_file_in_yaml(fixture_base: str, tmp_path: Path) -> None:
    import yaml
    from ivoa_broker_conformance.eb_client import DEFAULT_REQUEST

    request = tmp_path / "request.yaml"
    request.write_text(yaml.safe_dump(DEFAULT_REQUEST))
    out = tmp_path / "r.json"
    code = main(
        _args(
            f"{fixture_base}/eb/ok",
            "--only",
            "EB-01,EB-02",
            "--eb-request",
            str(request),
            "--report",
            str(out),
        )
    )
    assert code == 0
    data = json.loads(out.read_text())
    assert [r["outcome"] for r in data["results"]] == ["pass", "pass"]
    assert "application/yaml" in data["results"][0]["evidence"][0]["request"]


def test_param_is_added_to_every_created_job(fixture_base: str, tmp_path: Path) -> None:
    out = tmp_path / "r.json"
    code = main(
        _args(
            f"{fixture_base}/ok",
            "--only",
            "UWS-17",
            "--param",
            "X=1",
            "--param",
            "Y=two",
            "--report",
            str(out),
        )
    )
    assert code == 0
    result = json.loads(out.read_text())["results"][0]
    assert "cmd=echo&args=hello&X=1&Y=two" in result["evidence"][0]["request"]
    assert '<uws:parameter id="x">1</uws:parameter>' in result["evidence"][1]["body"]


@pytest.mark.parametrize(
    "option",
    [
        ["--basic", "alice:alice-token", "--other-basic", "bob:bob-token"],
        ["--cookie", "session=alice-token", "--other-cookie", "session=bob-token"],
        [
            "--auth-header",
            "Authorization: Bearer alice-token",
            "--other-auth-header",
            "Authorization: Bearer bob-token",
        ],
    ],
)
def test_other_auth_kinds(fixture_base: str, tmp_path: Path, option: list[str]) -> None:
    out = tmp_path / "r.json"
    code = main([f"{fixture_base}/ok", *option, "--only", "UWS-59,UWS-60", "--report", str(out)])
    data = json.loads(out.read_text())
    assert code == 0
    assert [r["outcome"] for r in data["results"]] == ["pass", "pass"]
    assert "alice-token" not in out.read_text()  # the secret is never in the report


def test_two_auth_kinds_for_one_user_are_refused(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["http://127.0.0.1:1", "--basic", "a:b", "--cookie", "s=1"])
    assert "give one of" in capsys.readouterr().err


def test_tap_profile_sets_the_job_forms() -> None:
    from ivoa_broker_conformance.cli import config_from, parser

    config = config_from(parser().parse_args(["http://x/tap", "--profile", "tap"]))
    assert ("LANG", "ADQL") in config.job_params
    assert any(k == "QUERY" for k, _ in config.failing_job_params)
    own = config_from(
        parser().parse_args(["http://x/tap", "--profile", "tap", "--job-params", "a=1"])
    )
    assert own.job_params == (("a", "1"),)
