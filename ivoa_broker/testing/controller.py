"""The ``PlatformController`` protocol: how conformance tests drive a platform.

A plug-in author supplies one controller per platform, for its fake and,
where possible, for the real thing. ``controls`` declares what the controller
can really do; the kit skips, with a reason, every test that needs a control
the controller does not have. A controller for a real platform usually lists
native objects and nothing more; a fake can do everything.
"""

from __future__ import annotations

from collections.abc import Awaitable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Protocol, runtime_checkable

__all__ = ["OPS", "Fault", "PlatformController", "PlatformControls"]

#: Names of the adapter operations a fault can be injected into
#: (``"status"`` stands for ``status_many``).
OPS = (
    "health",
    "offers",
    "submit",
    "status",
    "cancel",
    "logs",
    "results",
    "cleanup",
    "list_native",
)


class Fault(StrEnum):
    """A kind of platform trouble, and what an adapter must turn it into.

    ============  ==================================  ===========================
    fault         e.g.                                adapter raises
    ============  ==================================  ===========================
    AUTH          401/403, key refused                ``AuthError``
    NOT_FOUND     404, object purged                  depends on the operation
    UNAVAILABLE   503, scheduler down                 ``TransientError``
    TIMEOUT       the platform does not answer        ``TransientError``
    CONNECTION    connection refused or reset         ``TransientError``
    GARBAGE       a body that does not parse          ``FatalError``
    ============  ==================================  ===========================

    ``NOT_FOUND`` means: ``status_many`` omits the handle or raises
    ``NotFound``; ``cleanup`` succeeds; ``cancel`` succeeds or raises ``NotFound``.
    """

    AUTH = "auth"
    NOT_FOUND = "not-found"
    UNAVAILABLE = "unavailable"
    TIMEOUT = "timeout"
    CONNECTION = "connection"
    GARBAGE = "garbage"

    @property
    def http_status(self) -> int | None:
        """The HTTP status that stands for this fault in REST fakes (if any)."""
        return {Fault.AUTH: 401, Fault.NOT_FOUND: 404, Fault.UNAVAILABLE: 503}.get(self)


@dataclass(frozen=True)
class PlatformControls:
    """Which controls a :class:`PlatformController` really has.

    ``native_ids``: it can list what exists on the platform (needed by the
    side-effect, cleanup and leave-nothing-behind tests).
    ``finish``: it can make a running task end with a chosen exit code (fakes
    whose tasks never end on their own need it; a real platform ends tasks by
    itself, driven by the request).
    ``faults``: operation name (see :data:`OPS`) -> the faults ``fail_next``
    can inject into it.
    ``targeted``: the controller has ``fail_next_for(op, fault, native_id)``,
    which makes the fault hit only that task (a ``NOT_FOUND`` for one task of
    a batch); the kit then checks that the other tasks are not affected.
    """

    native_ids: bool = True
    finish: bool = False
    faults: Mapping[str, frozenset[Fault]] = field(default_factory=dict)
    targeted: bool = False

    def can_inject(self, op: str, fault: Fault) -> bool:
        return fault in self.faults.get(op, frozenset())


@runtime_checkable
class PlatformController(Protocol):
    """Drives and inspects a platform (or its fake) for the conformance kit."""

    @property
    def controls(self) -> PlatformControls: ...

    async def native_ids(self) -> set[str]:
        """Native ids of every task of this adapter instance that exists now."""
        ...

    def fail_next(self, op: str, fault: Fault) -> Awaitable[None] | None:
        """Make the next call of adapter operation ``op`` meet ``fault``.

        Only for combinations ``controls.can_inject(op, fault)`` allows. It may
        be a coroutine function (the kit awaits it), for controllers that must
        let the adapter notice a change first (a connection they broke).
        """
        ...

    async def finish(self, native_id: str, exit_code: int) -> None:
        """Make a task end now with ``exit_code`` (only with ``controls.finish``)."""
        ...
