"""Leases on both engines: one holder at a time, renewal, take-over after expiry,
release, and the keeper's callbacks."""

from __future__ import annotations

import asyncio
from datetime import timedelta

from ivoa_broker.store import JobStore
from ivoa_broker.store.leases import LeaseKeeper, Leases
from tests.test_store import T0


async def test_one_holder_until_it_expires(store: JobStore) -> None:
    a, b = Leases(store.db, "replica-a"), Leases(store.db, "replica-b")
    assert await a.acquire("dispatcher", 10, T0)
    assert not await b.acquire("dispatcher", 10, T0 + timedelta(seconds=5))
    assert await a.acquire("dispatcher", 10, T0 + timedelta(seconds=5))  # renewed: until 15 s
    assert not await b.acquire("dispatcher", 10, T0 + timedelta(seconds=12))
    assert await b.acquire("dispatcher", 10, T0 + timedelta(seconds=15))  # a stopped renewing
    assert not await a.acquire("dispatcher", 10, T0 + timedelta(seconds=16))
    assert await store_holder(b) == "replica-b"
    assert await a.acquire("other", 10, T0 + timedelta(seconds=16))  # names are independent


async def store_holder(leases: Leases) -> str | None:
    found = await leases.holder_of("dispatcher")
    return found[0] if found else None


async def test_release_hands_over_at_once(store: JobStore) -> None:
    a, b = Leases(store.db, "a"), Leases(store.db, "b")
    assert await a.acquire("x", 3600)
    await b.release("x")  # not b's: nothing happens
    assert not await b.acquire("x", 3600)
    await a.release("x")
    assert await b.acquire("x", 3600)


async def test_racing_acquirers_get_one_winner(store: JobStore) -> None:
    contenders = [Leases(store.db, f"r{i}") for i in range(6)]
    won = await asyncio.gather(*(c.acquire("race", 60, T0) for c in contenders))
    assert sum(won) == 1


async def test_keeper_takes_over_when_the_holder_stops(store: JobStore) -> None:
    events: list[str] = []
    gained = {name: asyncio.Event() for name in "ab"}

    def keeper(name: str) -> LeaseKeeper:
        async def on_gain() -> None:
            events.append(f"{name}+")
            gained[name].set()

        async def on_loss() -> None:
            events.append(f"{name}-")

        return LeaseKeeper(Leases(store.db, name), "work", 0.6, on_gain, on_loss)

    first, second = keeper("a"), keeper("b")
    first.start()
    await asyncio.wait_for(gained["a"].wait(), 10)
    second.start()
    await asyncio.sleep(0.5)
    assert not second.held
    first._task.cancel()  # type: ignore[union-attr]  # dies without releasing
    await asyncio.wait_for(gained["b"].wait(), 10)
    assert second.held
    assert events == ["a+", "b+"]
    await second.stop()
    assert await Leases(store.db, "c").acquire("work", 1)  # released on a clean stop
