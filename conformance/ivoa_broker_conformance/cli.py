"""Command line: ``ivoa-broker-conformance URL [options]``."""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Sequence
from pathlib import Path

from ivoa_broker_conformance import __version__, auth
from ivoa_broker_conformance.auth import Credential
from ivoa_broker_conformance.config import (
    DEFAULT_BAD_JOB_PARAMS,
    DEFAULT_DESTRUCTION_WAIT,
    DEFAULT_DURATION_TOLERANCE,
    DEFAULT_FAILING_JOB_PARAMS,
    DEFAULT_JOB_PARAMS,
    DEFAULT_LONG_JOB_PARAMS,
    PROFILES,
    Config,
    parse_params,
)
from ivoa_broker_conformance.registry import all_checks
from ivoa_broker_conformance.reports import Format, render
from ivoa_broker_conformance.runner import Report, run_suite


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="ivoa-broker-conformance",
        description="Check a UWS 1.1 / VOSI / ExecutionBroker service from outside.",
    )
    p.add_argument("url", nargs="?", help="service base URL (where /capabilities lives)")
    p.add_argument("--token", help="bearer token of the main test user")
    p.add_argument("--other-token", help="bearer token of a second user (owner checks)")
    p.add_argument(
        "--basic", metavar="USER:PASSWORD", help="HTTP Basic credentials of the main user"
    )
    p.add_argument("--other-basic", metavar="USER:PASSWORD", help="HTTP Basic of the second user")
    p.add_argument(
        "--auth-header",
        metavar="'NAME: VALUE'",
        help="a named header carrying the main user's credential",
    )
    p.add_argument(
        "--other-auth-header", metavar="'NAME: VALUE'", help="the same for the second user"
    )
    p.add_argument("--cookie", metavar="NAME=VALUE", help="a session cookie of the main user")
    p.add_argument(
        "--other-cookie", metavar="NAME=VALUE", help="a session cookie of the second user"
    )
    p.add_argument(
        "--schemas",
        type=Path,
        help="directory holding the official IVOA XSDs (UWS.xsd, VOSI*.xsd, …)",
    )
    p.add_argument("--report", type=Path, help="write the report to this file")
    p.add_argument(
        "--format",
        choices=["json", "md", "html"],
        default=None,
        help="report format (default: from the --report suffix, else md)",
    )
    p.add_argument(
        "--jobs-path",
        default="/jobs",
        help="job list path when /capabilities names no UWS accessURL",
    )
    p.add_argument(
        "--profile",
        choices=sorted(PROFILES),
        default="uws",
        help="the kind of service, setting the four job forms below (default %(default)s; "
        "tap: LANG=ADQL and QUERY on TAP_SCHEMA)",
    )
    p.add_argument(
        "--job-params",
        help=f"form of a quickly succeeding job (default from --profile; uws: "
        f"{DEFAULT_JOB_PARAMS!r})",
    )
    p.add_argument(
        "--failing-job-params",
        help=f"form of a job that fails (uws: {DEFAULT_FAILING_JOB_PARAMS!r})",
    )
    p.add_argument(
        "--long-job-params",
        help=f"form of a job that runs for a while (uws: {DEFAULT_LONG_JOB_PARAMS!r})",
    )
    p.add_argument(
        "--bad-job-params",
        help=f"form the service must reject (uws: {DEFAULT_BAD_JOB_PARAMS!r})",
    )
    p.add_argument(
        "--param",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="a parameter added to every job the suite creates (repeatable)",
    )
    p.add_argument(
        "--destruction-tolerance",
        type=float,
        default=None,
        help="seconds a job may outlive its destruction time before UWS-44 fails. Without "
        f"it the suite waits {DEFAULT_DESTRUCTION_WAIT:.0f} s and reports a job still there as "
        "inconclusive (skip): UWS 1.1 sets destruction no precision",
    )
    p.add_argument(
        "--duration-tolerance",
        type=float,
        default=DEFAULT_DURATION_TOLERANCE,
        help="seconds a job may run past its executionDuration before UWS-43 fails "
        "(default %(default)s)",
    )
    p.add_argument(
        "--wait-slack",
        type=float,
        default=5.0,
        help="seconds a WAIT may overrun its value before UWS-45 fails (default %(default)s)",
    )
    p.add_argument(
        "--eb-request",
        type=Path,
        help="ExecutionBroker request document for the EB checks (.json, .yaml or .xml)",
    )
    p.add_argument("--only", default="", help="comma-separated check ids to run (default: all)")
    p.add_argument(
        "--job-timeout", type=float, default=60.0, help="longest wait for a job to finish (s)"
    )
    p.add_argument(
        "--request-timeout", type=float, default=20.0, help="timeout of one ordinary request (s)"
    )
    p.add_argument("--list", action="store_true", help="list the checks and exit")
    p.add_argument("--version", action="version", version=__version__)
    return p


def _credential(args: argparse.Namespace, prefix: str) -> Credential | None:
    given = [
        (make, value)
        for make, value in (
            (auth.basic, getattr(args, f"{prefix}basic")),
            (auth.header, getattr(args, f"{prefix}auth_header")),
            (auth.cookie, getattr(args, f"{prefix}cookie")),
        )
        if value
    ]
    if len(given) > 1:
        raise ValueError(f"give one of --{prefix}basic, --{prefix}auth-header, --{prefix}cookie")
    if not given:
        return None
    make, value = given[0]
    return make(value)


def _param(text: str) -> tuple[str, str]:
    key, sep, value = text.partition("=")
    if not sep or not key:
        raise ValueError(f"--param {text!r} is not KEY=VALUE")
    return key, value


def config_from(args: argparse.Namespace) -> Config:
    profile = PROFILES[args.profile]
    return Config(
        base_url=args.url,
        token=args.token,
        other_token=args.other_token,
        auth=_credential(args, ""),
        other_auth=_credential(args, "other_"),
        schemas=args.schemas,
        jobs_path=args.jobs_path,
        job_params=parse_params(args.job_params or profile.quick),
        failing_job_params=parse_params(args.failing_job_params or profile.failing),
        long_job_params=parse_params(args.long_job_params or profile.long),
        bad_job_params=parse_params(args.bad_job_params or profile.bad),
        extra_params=tuple(_param(p) for p in args.param),
        destruction_tolerance=args.destruction_tolerance,
        duration_tolerance=args.duration_tolerance,
        wait_slack=args.wait_slack,
        eb_request=args.eb_request.read_bytes() if args.eb_request else None,
        eb_request_type=_eb_type(args.eb_request),
        only=frozenset(i.strip() for i in args.only.split(",") if i.strip()),
        job_timeout=args.job_timeout,
        request_timeout=args.request_timeout,
        check_timeout=max(120.0, args.job_timeout * 2, (args.destruction_tolerance or 0) + 60),
    )


def _eb_type(path: Path | None) -> str:
    suffix = path.suffix.lower() if path else ""
    return {".yaml": "application/yaml", ".yml": "application/yaml", ".xml": "application/xml"}.get(
        suffix, "application/json"
    )


def _format(args: argparse.Namespace) -> Format:
    if args.format:
        fmt: Format = args.format
        return fmt
    suffix = args.report.suffix.lower() if args.report else ""
    if suffix == ".json":
        return "json"
    if suffix in (".html", ".htm"):
        return "html"
    return "md"


def print_summary(report: Report) -> None:
    s = report.summary
    for r in report.results:
        if r.outcome.value != "pass":
            print(f"{r.id:8} {r.level:6} {r.outcome.value:7}  {r.message[:160]}")
    print(report.schema_statement)
    print(s.line())
    print(s.warnings_line())


def main(argv: Sequence[str] | None = None) -> int:
    args = parser().parse_args(argv)
    if args.list:
        for spec in all_checks():
            print(f"{spec.id:8} {spec.level:6} {spec.title}  [{spec.section}]")
        return 0
    if not args.url:
        parser().error("the service URL is required")
    try:
        config = config_from(args)
    except ValueError as exc:
        parser().error(str(exc))
    report = asyncio.run(run_suite(config))
    text = render(report, _format(args))
    if args.report:
        args.report.write_text(text, encoding="utf-8")
    elif args.format:
        sys.stdout.write(text)
    print_summary(report)
    return 1 if report.summary.must_failed else 0
