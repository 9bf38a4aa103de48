"""Helpers of the CANFAR tests: configuration, and platform controllers for the
conformance kit (the emulator, and real CANFAR)."""

from __future__ import annotations

from typing import Any

from ivoa_broker_canfar import CanfarAdapter, CanfarConfig
from ivoa_broker_canfar.emulator import SkahaEmulator

from ivoa_broker.protocol import CallContext
from ivoa_broker.testing import Fault, PlatformControls

TERMINAL = "images.canfar.net/skaha/terminal:1.1.2"
NOTEBOOK = "images.canfar.net/skaha/base-notebook:latest"

#: fast retries so fault tests stay quick; the number matters to fault counts
RETRIES = 2


def config_for(url: str, token: str, **overrides: Any) -> CanfarConfig:
    values: dict[str, Any] = {
        "url": url,
        "token": token,
        "retries": RETRIES,
        "backoff_seconds": 0.01,
        "backoff_max_seconds": 0.05,
        "timeout_seconds": 5.0,
        "default_image": TERMINAL,
    }
    values.update(overrides)
    return CanfarConfig.model_validate(values)


SESSION = "/skaha/v1/session"
ONE_SESSION = "/skaha/v1/session/"

#: adapter operation -> (method, exact path or None, path prefix or None) of the
#: first skaha call that operation makes once its catalog is cached
_TARGET: dict[str, tuple[str, str | None, str | None]] = {
    "health": ("GET", "/skaha/v1/context", None),
    "offers": ("GET", "/skaha/v1/context", None),
    "submit": ("POST", SESSION, None),
    "status": ("GET", SESSION, None),
    "list_native": ("GET", SESSION, None),
    "cancel": ("GET", None, ONE_SESSION),
    "cleanup": ("GET", None, ONE_SESSION),
    "logs": ("GET", None, ONE_SESSION),
}
_EVERYTHING: frozenset[Fault] = frozenset(f for f in Fault if f is not Fault.NOT_FOUND)


class EmulatedCanfar:
    """Drives the skaha emulator for one emulated user.

    Faults that the client retries (5xx, timeouts, broken connections) are
    injected ``1 + retries`` times so that they outlast the client's retries;
    a create (``POST``) is never retried, so once is enough there.
    """

    def __init__(self, emulator: SkahaEmulator, userid: str, retries: int, timeout: float):
        self.emulator = emulator
        self.userid = userid
        self.retries = retries
        self.timeout = timeout
        self._last_submit: set[str] = set()

    @property
    def controls(self) -> PlatformControls:
        faults = {op: _EVERYTHING for op in _TARGET}
        for op in ("status", "cancel", "cleanup"):
            faults[op] = _EVERYTHING | {Fault.NOT_FOUND}
        return PlatformControls(native_ids=True, finish=False, faults=faults, targeted=True)

    async def native_ids(self) -> set[str]:
        return self.emulator.native_ids(self.userid)

    def fail_next_for(self, op: str, fault: Fault, native_id: str) -> None:
        """A ``NOT_FOUND`` for one session: it is purged behind the adapter's back."""
        if fault is not Fault.NOT_FOUND:
            raise NotImplementedError("only NOT_FOUND can be aimed at one session")
        self.emulator.remove(native_id)

    async def finish(self, native_id: str, exit_code: int) -> None:
        raise NotImplementedError("emulated sessions end by themselves")

    def fail_next(self, op: str, fault: Fault) -> None:
        method, path, prefix = _TARGET[op]
        faults = self.emulator.faults
        if fault is Fault.NOT_FOUND:
            for native_id in self.emulator.native_ids(self.userid):
                self.emulator.remove(native_id)  # purged behind the adapter's back
            return
        count = 1 if method == "POST" else 1 + self.retries
        if fault is Fault.AUTH:
            faults.fail_next(401, body="token expired", method=method, path=path, prefix=prefix)
        elif fault is Fault.UNAVAILABLE:
            faults.fail_next(503, count=count, method=method, path=path, prefix=prefix)
        elif fault is Fault.TIMEOUT:
            faults.slow_next(self.timeout * 2, count=count, method=method, path=path, prefix=prefix)
        elif fault is Fault.CONNECTION:
            faults.drop_next(count=count, method=method, path=path, prefix=prefix)
        elif fault is Fault.GARBAGE:
            faults.garbage_next(method=method, path=path, prefix=prefix)


class LiveCanfar:
    """Inspects a real CANFAR account through the adapter's own listing."""

    def __init__(self, adapter: CanfarAdapter, ctx: CallContext) -> None:
        self.adapter = adapter
        self.ctx = ctx

    @property
    def controls(self) -> PlatformControls:
        return PlatformControls(native_ids=True, finish=False, faults={})

    async def native_ids(self) -> set[str]:
        return set(await self.adapter.list_native(self.ctx))

    def fail_next(self, op: str, fault: Fault) -> None:
        raise NotImplementedError("no fault injection on a real platform")

    async def finish(self, native_id: str, exit_code: int) -> None:
        raise NotImplementedError("real sessions end by themselves")
