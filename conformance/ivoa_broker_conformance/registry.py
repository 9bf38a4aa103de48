"""The check registry: every check declares id, title, spec section and level."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from ivoa_broker_conformance.model import Level

if TYPE_CHECKING:
    from ivoa_broker_conformance.probe import CheckRun

CheckFunc = Callable[["CheckRun"], Awaitable[None]]


@dataclass(frozen=True)
class CheckSpec:
    id: str
    title: str
    section: str
    level: Level
    func: CheckFunc


_CHECKS: dict[str, CheckSpec] = {}


def check(id: str, title: str, section: str, level: Level) -> Callable[[CheckFunc], CheckFunc]:
    """Register ``func`` as check ``id``; ids are unique and run in registration order."""

    def register(func: CheckFunc) -> CheckFunc:
        if id in _CHECKS:
            raise ValueError(f"duplicate check id {id}")
        _CHECKS[id] = CheckSpec(id, title, section, level, func)
        return func

    return register


def all_checks() -> list[CheckSpec]:
    """Every check, in checklist order."""
    from ivoa_broker_conformance import checks  # noqa: F401  (imports register the checks)

    return sorted(_CHECKS.values(), key=_order)


_GROUPS = ("UWS", "JSON", "EB")


def _order(spec: CheckSpec) -> tuple[int, int]:
    """Checklist order: UWS-01..80, JSON-81, then EB-xx."""
    group, _, number = spec.id.partition("-")
    return (_GROUPS.index(group) if group in _GROUPS else len(_GROUPS), int(number))
