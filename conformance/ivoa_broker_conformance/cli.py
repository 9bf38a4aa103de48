"""Command line: ``ivoa-broker-conformance URL [options]``."""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Sequence
from pathlib import Path

from ivoa_broker_conformance import __version__
from ivoa_broker_conformance.config import (
    DEFAULT_BAD_JOB_PARAMS,
    DEFAULT_FAILING_JOB_PARAMS,
    DEFAULT_JOB_PARAMS,
    DEFAULT_LONG_JOB_PARAMS,
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
        "--job-params",
        default=DEFAULT_JOB_PARAMS,
        help="form of a quickly succeeding job (default %(default)r)",
    )
    p.add_argument(
        "--failing-job-params",
        default=DEFAULT_FAILING_JOB_PARAMS,
        help="form of a job that fails (default %(default)r)",
    )
    p.add_argument(
        "--long-job-params",
        default=DEFAULT_LONG_JOB_PARAMS,
        help="form of a job that runs for a while (default %(default)r)",
    )
    p.add_argument(
        "--bad-job-params",
        default=DEFAULT_BAD_JOB_PARAMS,
        help="form the service must reject (default %(default)r)",
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


def config_from(args: argparse.Namespace) -> Config:
    return Config(
        base_url=args.url,
        token=args.token,
        other_token=args.other_token,
        schemas=args.schemas,
        jobs_path=args.jobs_path,
        job_params=parse_params(args.job_params),
        failing_job_params=parse_params(args.failing_job_params),
        long_job_params=parse_params(args.long_job_params),
        bad_job_params=parse_params(args.bad_job_params),
        eb_request=args.eb_request.read_bytes() if args.eb_request else None,
        eb_request_type=_eb_type(args.eb_request),
        only=frozenset(i.strip() for i in args.only.split(",") if i.strip()),
        job_timeout=args.job_timeout,
        request_timeout=args.request_timeout,
        check_timeout=max(120.0, args.job_timeout * 2),
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
            print(f"{r.id:8} {r.level:6} {r.outcome.value:4}  {r.message[:160]}")
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
    config = config_from(args)
    report = asyncio.run(run_suite(config))
    text = render(report, _format(args))
    if args.report:
        args.report.write_text(text, encoding="utf-8")
    elif args.format:
        sys.stdout.write(text)
    print_summary(report)
    return 1 if report.summary.must_failed else 0
