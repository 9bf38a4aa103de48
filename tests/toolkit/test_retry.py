"""retrying: only TransientError, bounded attempts, honours retry_after."""

from __future__ import annotations

import pytest
from tenacity import RetryCallState

from ivoa_broker.protocol import AuthError, TransientError
from ivoa_broker.toolkit import retrying


async def test_retries_transient_until_success() -> None:
    calls: list[int] = []

    @retrying(attempts=4, initial=0)
    async def flaky() -> str:
        calls.append(1)
        if len(calls) < 3:
            raise TransientError("again")
        return "ok"

    assert await flaky() == "ok"
    assert len(calls) == 3


async def test_gives_up_with_the_last_error_and_never_retries_others() -> None:
    calls: list[str] = []

    @retrying(attempts=3, initial=0)
    async def down() -> None:
        calls.append("t")
        raise TransientError(f"down {len(calls)}")

    with pytest.raises(TransientError, match="down 3"):
        await down()

    @retrying(attempts=3, initial=0)
    async def refused() -> None:
        calls.append("a")
        raise AuthError("no")

    with pytest.raises(AuthError):
        await refused()
    assert calls == ["t", "t", "t", "a"]


async def test_async_for_form() -> None:
    seen = 0
    async for attempt in retrying(attempts=2, initial=0):
        with attempt:
            seen += 1
            if seen == 1:
                raise TransientError("once")
    assert seen == 2


def test_wait_honours_retry_after_capped_and_jitters_otherwise() -> None:
    policy = retrying(attempts=5, max_delay=10.0, initial=1.0)

    def state(exc: BaseException, attempt: int) -> RetryCallState:
        s = RetryCallState(retry_object=policy.tenacity(), fn=None, args=(), kwargs={})
        s.attempt_number = attempt
        s.set_exception((type(exc), exc, None))
        return s

    assert policy.wait_for(state(TransientError("x", retry_after=4.0), 1)) == 4.0
    assert policy.wait_for(state(TransientError("x", retry_after=99.0), 1)) == 10.0
    for attempt in range(1, 6):
        delay = policy.wait_for(state(TransientError("x"), attempt))
        assert 0 <= delay <= min(2 ** (attempt - 1), 10.0)
