"""Result model: levels, outcomes, evidence and the result of one check."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum


class Level(StrEnum):
    """RFC 2119 strength of the rule a check rests on."""

    MUST = "MUST"
    SHOULD = "SHOULD"
    MAY = "MAY"


class Outcome(StrEnum):
    PASS = "pass"
    FAIL = "fail"
    WARN = "warn"
    #: not run because a prerequisite failed; the message names the check that shows why
    BLOCKED = "blocked"
    SKIP = "skip"


@dataclass
class Exchange:
    """One HTTP exchange kept as evidence: request line, an excerpt of the response, the
    whole body (for the JSON/HTML reports) and, once a check points at an element of it,
    that element's XPath and text (``focus``)."""

    request: str
    status: int | None
    headers: dict[str, str]
    excerpt: str
    elapsed: float
    body: str = ""
    focus_path: str = ""
    focus: str = ""

    @property
    def shown(self) -> str:
        """What a short report shows: the focused element when there is one."""
        return self.focus or self.excerpt

    def to_json(self) -> dict[str, object]:
        data: dict[str, object] = {
            "request": self.request,
            "status": self.status,
            "headers": self.headers,
            "excerpt": self.excerpt,
            "elapsed_s": round(self.elapsed, 3),
        }
        if self.focus_path:
            data["focus"] = {"xpath": self.focus_path, "element": self.focus}
        if self.body:
            data["body"] = self.body
        return data


@dataclass
class CheckResult:
    id: str
    title: str
    section: str
    level: Level
    outcome: Outcome
    message: str = ""
    warnings: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    evidence: list[Exchange] = field(default_factory=list)
    duration: float = 0.0

    def to_json(self) -> dict[str, object]:
        return {
            "id": self.id,
            "title": self.title,
            "section": self.section,
            "level": str(self.level),
            "outcome": str(self.outcome),
            "message": self.message,
            "warnings": list(self.warnings),
            "notes": list(self.notes),
            "evidence": [e.to_json() for e in self.evidence],
            "duration_s": round(self.duration, 3),
        }


@dataclass(frozen=True)
class Summary:
    passed: int
    failed: int
    blocked: int
    skipped: int
    warned: int
    must_failed: int

    @classmethod
    def of(cls, results: list[CheckResult]) -> Summary:
        def count(o: Outcome) -> int:
            return sum(1 for r in results if r.outcome is o)

        must_failed = sum(1 for r in results if r.outcome is Outcome.FAIL and r.level is Level.MUST)
        return cls(
            count(Outcome.PASS),
            count(Outcome.FAIL),
            count(Outcome.BLOCKED),
            count(Outcome.SKIP),
            count(Outcome.WARN),
            must_failed,
        )

    def line(self) -> str:
        """The one-line summary, exactly ``N passed, N failed, N blocked, N skipped``."""
        return (
            f"{self.passed} passed, {self.failed} failed, {self.blocked} blocked, "
            f"{self.skipped} skipped"
        )

    def warnings_line(self) -> str:
        return f"{self.warned} warnings"

    def to_json(self) -> dict[str, int]:
        return {
            "passed": self.passed,
            "failed": self.failed,
            "blocked": self.blocked,
            "skipped": self.skipped,
            "warnings": self.warned,
            "must_failed": self.must_failed,
        }
