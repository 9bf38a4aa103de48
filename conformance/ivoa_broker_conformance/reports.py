"""Report writers: JSON for machines, Markdown and HTML (jinja2) for people."""

from __future__ import annotations

import json
from typing import Literal

import jinja2

from ivoa_broker_conformance.model import CheckResult, Outcome
from ivoa_broker_conformance.runner import Report

Format = Literal["json", "md", "html"]
_ICON = {
    Outcome.PASS: "pass",
    Outcome.FAIL: "**FAIL**",
    Outcome.WARN: "warn",
    Outcome.BLOCKED: "blocked",
    Outcome.SKIP: "skip",
}


def render(report: Report, fmt: Format) -> str:
    if fmt == "json":
        return json.dumps(report.to_json(), indent=2) + "\n"
    if fmt == "md":
        return markdown(report)
    return html(report)


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def markdown(report: Report) -> str:
    s = report.summary
    out = [
        "# Conformance report",
        "",
        f"- Target: `{report.target}`",
        f"- Jobs URL: `{report.jobs_url}` ({report.jobs_url_source})",
        f"- Run: {report.started} to {report.finished}, ivoa-broker-conformance "
        f"{report.tool_version}",
        f"- Schema validation: {report.schema_statement}",
        f"- Identities: {report.auth or 'anonymous'}",
        "",
        f"**{s.line()}**",
        "",
        f"{s.warnings_line()}; {s.must_failed} MUST-level failure(s)",
        "",
        "| id | level | outcome | check | spec | message |",
        "|---|---|---|---|---|---|",
    ]
    for r in report.results:
        out.append(
            f"| {r.id} | {r.level} | {_ICON[r.outcome]} | {_cell(r.title)} | "
            f"{_cell(r.section)} | {_cell(r.message)} |"
        )
    out += ["", "## Evidence", ""]
    for r in report.results:
        out += _evidence_md(r)
    return "\n".join(out) + "\n"


def _evidence_md(r: CheckResult) -> list[str]:
    lines = [f"### {r.id} — {r.outcome}: {r.title}", ""]
    if r.message:
        lines += [f"{r.message}", ""]
    for note in r.notes:
        lines.append(f"- note: {note}")
    if r.notes:
        lines.append("")
    for ex in r.evidence[:8]:
        lines.append(f"- `{ex.request}` → {ex.status} ({ex.elapsed:.2f} s)")
        if ex.focus_path:
            lines.append(f"  - failing element `{ex.focus_path}`:")
        shown = ex.shown.strip().replace("```", "'''")[: 1200 if ex.focus_path else 300]
        if shown:
            lines += ["", "  ```", *("  " + x for x in shown.splitlines()), "  ```", ""]
    if len(r.evidence) > 8:
        lines.append(f"- … {len(r.evidence) - 8} more exchange(s) in the JSON report")
    lines.append("")
    return lines


def html(report: Report) -> str:
    env = jinja2.Environment(
        loader=jinja2.PackageLoader("ivoa_broker_conformance", "templates"),
        autoescape=jinja2.select_autoescape(["html", "j2"]),
    )
    template = env.get_template("report.html.j2")
    return template.render(report=report, summary=report.summary)
