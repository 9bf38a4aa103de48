"""Retries with exponential backoff and jitter on TransientError (tenacity)."""

from __future__ import annotations

import functools
import random
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any, ParamSpec, TypeVar

from tenacity import AsyncRetrying, AttemptManager, RetryCallState
from tenacity.retry import retry_if_exception
from tenacity.stop import stop_after_attempt

from ivoa_broker.protocol import AdapterError, TransientError

__all__ = ["Retrying", "retrying"]

P = ParamSpec("P")
R = TypeVar("R")


class Retrying:
    """A retry policy: use it as a decorator of an async function, or iterate::

        @retrying(attempts=4)
        async def fetch() -> bytes: ...

        async for attempt in retrying():
            with attempt:
                await client.delete(...)

    Retries only the given error types (default :class:`TransientError`),
    at most ``attempts`` tries in all, waiting ``initial * 2**n`` seconds
    with full jitter, at most ``max_delay``; a ``TransientError.retry_after``
    from the platform is waited instead (also capped at ``max_delay``). The
    last error is re-raised unchanged. ``retry_if`` narrows further: an
    error of the given types is retried only if ``retry_if(error)`` is true
    (e.g. "a create is retried only when the request never left").
    """

    def __init__(
        self,
        attempts: int = 4,
        max_delay: float = 30.0,
        *,
        initial: float = 0.5,
        on: tuple[type[AdapterError], ...] = (TransientError,),
        retry_if: Callable[[BaseException], bool] | None = None,
    ) -> None:
        if attempts < 1:
            raise ValueError("attempts must be >= 1")
        self.attempts = attempts
        self.max_delay = max_delay
        self.initial = initial
        self.on = on
        self.retry_if = retry_if

    def wait_for(self, state: RetryCallState) -> float:
        """Seconds before the next try (tenacity ``wait`` callback)."""
        outcome = state.outcome
        exc = outcome.exception() if outcome is not None else None
        advised = exc.retry_after if isinstance(exc, TransientError) else None
        if advised is not None:
            return min(max(advised, 0.0), self.max_delay)
        ceiling = min(self.initial * 2 ** (state.attempt_number - 1), self.max_delay)
        return random.uniform(0, ceiling)

    def _retryable(self, exc: BaseException) -> bool:
        return isinstance(exc, self.on) and (self.retry_if is None or self.retry_if(exc))

    def tenacity(self) -> AsyncRetrying:
        """The equivalent ``tenacity.AsyncRetrying`` (a fresh one per use)."""
        return AsyncRetrying(
            stop=stop_after_attempt(self.attempts),
            wait=self.wait_for,
            retry=retry_if_exception(self._retryable),
            reraise=True,
        )

    def __call__(self, fn: Callable[P, Awaitable[R]]) -> Callable[P, Awaitable[R]]:
        @functools.wraps(fn)
        async def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
            async for attempt in self.tenacity():
                with attempt:
                    return await fn(*args, **kwargs)
            raise AssertionError("unreachable")  # pragma: no cover

        return wrapper

    def __aiter__(self) -> AsyncIterator[AttemptManager]:
        return self.tenacity().__aiter__()

    async def call(self, fn: Callable[..., Awaitable[R]], *args: Any, **kwargs: Any) -> R:
        """Run ``fn(*args, **kwargs)`` under this policy."""
        return await self(fn)(*args, **kwargs)


def retrying(
    attempts: int = 4,
    max_delay: float = 30.0,
    *,
    initial: float = 0.5,
    on: tuple[type[AdapterError], ...] = (TransientError,),
    retry_if: Callable[[BaseException], bool] | None = None,
) -> Retrying:
    """A :class:`Retrying` policy (decorator or ``async for``)."""
    return Retrying(attempts, max_delay, initial=initial, on=on, retry_if=retry_if)
