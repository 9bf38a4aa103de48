"""The one error of the document layer, ready to become ``application/problem+json``.

``path`` names the offending place in the document as a JSON path relative to
the document root: ``executable.image.locations[0]``, ``compute.cores.min``,
``data[1].location`` (``""`` for the whole document).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from pydantic import ValidationError
from pydantic_core import ErrorDetails

from ivoa_broker.eb.kinds import ALIASES, Kind, OptionKind, UpdateKind

__all__ = ["DocumentError", "PathValueError", "Problem", "from_validation_error", "json_path"]

#: At most this many individual problems are reported for one document.
MAX_REPORTED = 20

_DISCRIMINATORS = frozenset(
    [k.value for k in Kind] + [k.value for k in UpdateKind] + [k.value for k in OptionKind]
)


class PathValueError(ValueError):
    """A validation failure found by a whole-document check, naming its own path."""

    def __init__(self, path: str, message: str) -> None:
        super().__init__(message)
        self.path = path


@dataclass(frozen=True)
class Problem:
    """One thing wrong with a document: where and what."""

    path: str
    detail: str


@dataclass(eq=False)
class DocumentError(Exception):
    """A document that cannot be accepted.

    ``status`` is the HTTP status the web layer answers with: 400 malformed or
    invalid, 406/415 content negotiation, 413 too large, 422 well-formed but
    unsupported (an unsupported kind, a privileged container).
    """

    status: int
    title: str
    detail: str
    path: str | None = None
    problems: Sequence[Problem] = field(default_factory=tuple)

    def __post_init__(self) -> None:
        super().__init__(self.detail)

    def __str__(self) -> str:
        where = f" at {self.path}" if self.path else ""
        return f"{self.status} {self.title}: {self.detail}{where}"

    def to_problem(self) -> dict[str, Any]:
        """RFC 9457 body (``type`` is ``about:blank``; ``path``/``errors`` are extensions)."""
        body: dict[str, Any] = {
            "type": "about:blank",
            "title": self.title,
            "status": self.status,
            "detail": self.detail,
        }
        if self.path is not None:
            body["path"] = self.path
        if self.problems:
            body["errors"] = [{"path": p.path, "detail": p.detail} for p in self.problems]
        return body


def json_path(loc: Iterable[int | str]) -> str:
    """A pydantic ``loc`` -> ``a.b[0].c``; discriminator tags and validator names dropped."""
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        elif part in _DISCRIMINATORS or part.startswith("function-") or part == "[key]":
            continue
        else:
            out += f".{part}" if out else part
    return out


def _detail(err: ErrorDetails) -> tuple[str, bool]:
    """Readable message; True if the problem is 'unsupported' rather than 'invalid'."""
    kind = err["type"]
    if kind == "union_tag_invalid":
        tag = str((err.get("ctx") or {}).get("tag", ""))
        if tag.strip().casefold() in ALIASES or tag in _DISCRIMINATORS:
            return f"kind {tag!r} is not supported here", True
        return f"unknown kind {tag[:200]!r}", False
    if kind == "union_tag_not_found":
        return "missing 'kind'", False
    if kind == "extra_forbidden":
        return "unknown field", False
    if kind == "value_error":
        return str(err["msg"]).removeprefix("Value error, "), False
    return str(err["msg"]), False


def from_validation_error(
    exc: ValidationError, *, prefix: str = "", title: str = "Invalid document"
) -> DocumentError:
    """Turn a pydantic error into a :class:`DocumentError` naming every path (max 20)."""
    problems: list[Problem] = []
    unsupported = True
    for err in exc.errors(include_url=False)[:MAX_REPORTED]:
        path = json_path(err["loc"])
        cause = (err.get("ctx") or {}).get("error")
        if isinstance(cause, PathValueError):
            path = f"{path}.{cause.path}" if path else cause.path
        if prefix:
            path = f"{prefix}.{path}" if path else prefix
        detail, not_supported = _detail(err)
        unsupported = unsupported and not_supported
        problems.append(Problem(path, detail))
    first = problems[0] if problems else Problem(prefix, "invalid")
    more = f" (and {exc.error_count() - 1} more)" if exc.error_count() > 1 else ""
    return DocumentError(
        status=422 if unsupported and problems else 400,
        title="Unsupported request" if unsupported and problems else title,
        detail=first.detail + more,
        path=first.path,
        problems=tuple(problems),
    )
