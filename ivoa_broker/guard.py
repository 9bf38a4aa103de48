"""The guard: the one way the core calls a plug-in.

Every adapter method (``open``, ``aclose``, ``health``, ``explain_refusal``,
``offers``, ``submit``, ``status_many``, ``cancel``, ``logs``, ``results``,
``release``, ``cleanup``, ``list_native``, ``renew``, ``receive_callback``,
``accept_offer``, ``reject_offer``)
is called through :meth:`Guard.call` (async methods) or :meth:`Guard.sync`
(``explain_refusal``). The guard gives each call a timeout and turns whatever
goes wrong into the contract's errors, with the instance and method named:

* an :class:`AdapterError` passes through unchanged;
* a hang past the timeout becomes :class:`TransientError`;
* any other exception becomes :class:`FatalError` (logged with its traceback);
* a return value of the wrong type ("garbage") becomes :class:`FatalError`.

So the callers (dispatcher, routes, start-up) handle ``AdapterError`` only,
and each records the error where the user sees it: a broken plug-in cannot
crash the broker or leave a job stuck.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Mapping
from datetime import datetime
from typing import Any, TypeVar

from ivoa_broker.protocol import (
    DEFAULT_CALL_TIMEOUT,
    Adapter,
    AdapterError,
    FatalError,
    Handle,
    Health,
    Offer,
    ResultRef,
    Status,
    TransientError,
)

__all__ = ["CHECKS", "HEALTH_TIMEOUT", "Guard"]

log = logging.getLogger(__name__)
T = TypeVar("T")

#: The core waits this long for ``health`` (VOSI availability must answer fast).
HEALTH_TIMEOUT = 3.0


def _is_none(value: object) -> bool:
    return value is None


def _offers(value: object) -> bool:
    return isinstance(value, list) and all(isinstance(o, Offer) for o in value)


def _statuses(value: object) -> bool:
    return isinstance(value, Mapping) and all(
        isinstance(k, str) and isinstance(v, Status) for k, v in value.items()
    )


def _natives(value: object) -> bool:
    return isinstance(value, Mapping) and all(
        isinstance(k, str) and isinstance(v, str) for k, v in value.items()
    )


def _results(value: object) -> bool:
    return isinstance(value, list) and all(isinstance(r, ResultRef) for r in value)


#: What each method must return (anything else is garbage).
CHECKS: Mapping[str, Callable[[object], bool]] = {
    "open": lambda v: True,
    "aclose": lambda v: True,
    "health": lambda v: isinstance(v, Health),
    "explain_refusal": lambda v: v is None or isinstance(v, str),
    "offers": _offers,
    "submit": lambda v: isinstance(v, Handle),
    "status": lambda v: isinstance(v, Status),
    "status_many": _statuses,
    "cancel": lambda v: True,
    "logs": lambda v: isinstance(v, str),
    "results": _results,
    "release": lambda v: True,
    "cleanup": lambda v: True,
    "list_native": _natives,
    "renew": lambda v: v is None or isinstance(v, datetime),
    "receive_callback": lambda v: True,
    "accept_offer": lambda v: isinstance(v, Offer),
    "reject_offer": lambda v: True,
}


class Guard:
    """Calls adapter methods with a timeout and a uniform error contract."""

    def __init__(self, timeout: float = DEFAULT_CALL_TIMEOUT) -> None:
        self.timeout = timeout
        #: told of every async call: (instance, method, seconds, error reason or None);
        #: the broker points it at its Prometheus metrics
        self.observe: Callable[[str, str, float, str | None], None] | None = None

    async def call(
        self,
        adapter: Adapter,
        method: str,
        *args: Any,
        timeout: float | None = None,
    ) -> Any:
        """``await adapter.<method>(*args)`` within ``timeout`` (default: the guard's).

        Returns what the method returned if it passes :data:`CHECKS`; raises
        only :class:`AdapterError` (see the module docs).
        """
        limit = self.timeout if timeout is None else timeout
        name = getattr(adapter, "name", type(adapter).__name__)
        started = time.monotonic()
        result = await self._timed(adapter, method, args, limit, name, started)
        check = CHECKS.get(method)
        if check is not None and not check(result):
            log.error("adapter %s returned garbage from %s: %.200r", name, method, result)
            self._tell(name, method, started, "garbage")
            raise FatalError(
                f"{name} answered {method} with garbage ({type(result).__name__})",
                detail=repr(result)[:500],
            )
        self._tell(name, method, started, None)
        return result

    def _tell(self, name: str, method: str, started: float, error: str | None) -> None:
        if self.observe is not None:
            self.observe(name, method, time.monotonic() - started, error)

    async def _timed(
        self,
        adapter: Adapter,
        method: str,
        args: tuple[Any, ...],
        limit: float,
        name: str,
        started: float,
    ) -> Any:
        try:
            # in the caller's task (wait_for makes a task per call on Python 3.11)
            async with asyncio.timeout(limit):
                result = await _invoke(adapter, method, args)
        except AdapterError as exc:
            self._tell(name, method, started, exc.reason)
            raise
        except TimeoutError:
            self._tell(name, method, started, "timeout")
            raise TransientError(
                f"{name} did not answer within {limit:g} s", detail=f"{method} timed out"
            ) from None
        except Exception as exc:
            self._tell(name, method, started, "unexpected")
            log.exception("adapter %s raised an unexpected exception from %s", name, method)
            raise FatalError(
                f"{name} failed unexpectedly in {method} ({type(exc).__name__})",
                detail=repr(exc)[:500],
            ) from exc
        return result

    def sync(self, adapter: Adapter, method: str, *args: Any) -> Any:
        """A synchronous method (``explain_refusal``): same error contract, no timeout
        (it must not block; the contract says so)."""
        name = getattr(adapter, "name", type(adapter).__name__)
        try:
            result = getattr(adapter, method)(*args)
        except AdapterError:
            raise
        except Exception as exc:
            log.exception("adapter %s raised an unexpected exception from %s", name, method)
            raise FatalError(
                f"{name} failed unexpectedly in {method} ({type(exc).__name__})",
                detail=repr(exc)[:500],
            ) from exc
        check = CHECKS.get(method)
        if check is not None and not check(result):
            raise FatalError(
                f"{name} answered {method} with garbage ({type(result).__name__})",
                detail=repr(result)[:500],
            )
        return result


async def _invoke(adapter: Adapter, method: str, args: tuple[Any, ...]) -> Any:
    """Call and await inside the timeout: a method that is not async, or that
    raises before returning its coroutine, is caught like any other failure."""
    result = getattr(adapter, method)(*args)
    if not isinstance(result, Awaitable):
        raise TypeError(f"{method} is not an async method")
    return await result
