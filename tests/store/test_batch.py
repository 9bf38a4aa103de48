from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence

import pytest

from ivoa_broker.store.batch import GatheredReads


class Source:
    """A fetch that records each query and waits for the test to let it finish."""

    def __init__(self, records: Mapping[str, int]) -> None:
        self.records = dict(records)
        self.queries: list[list[str]] = []
        self.gate = asyncio.Event()
        self.gate.set()
        self.fail: Exception | None = None

    async def fetch(self, keys: Sequence[str]) -> dict[str, int]:
        self.queries.append(list(keys))
        seen = dict(self.records)  # what the query saw when it started
        await self.gate.wait()
        if self.fail is not None:  # this query fails; the next ones do not
            failure, self.fail = self.fail, None
            raise failure
        return {key: seen[key] for key in keys if key in seen}


async def in_flight(
    reads: GatheredReads[str, int], source: Source, key: str
) -> asyncio.Task[int | None]:
    """A read of ``key`` whose query has begun (it waits at the source's gate)."""
    began = len(source.queries)
    read = asyncio.create_task(reads.get(key))
    for _ in range(5):
        await asyncio.sleep(0)
        if len(source.queries) > began:
            return read
    raise AssertionError(f"no query began for {key!r}")


async def test_an_idle_read_goes_out_alone_and_at_once() -> None:
    source = Source({"a": 1})
    reads = GatheredReads(source.fetch)
    assert await reads.get("a") == 1
    assert await reads.get("nope") is None
    assert source.queries == [["a"], ["nope"]]


async def test_reads_asked_while_a_query_is_in_flight_go_together_in_the_next() -> None:
    source = Source({k: n for n, k in enumerate("abcdef")})
    reads = GatheredReads(source.fetch)
    source.gate.clear()
    first = await in_flight(reads, source, "a")
    assert source.queries == [["a"]]  # in flight
    rest = [asyncio.create_task(reads.get(k)) for k in "bcdbef"]
    await asyncio.sleep(0)
    assert reads.waiting == 5  # b asked twice: one key
    source.gate.set()
    assert await first == 0
    assert await asyncio.gather(*rest) == [1, 2, 3, 1, 4, 5]
    assert source.queries == [["a"], ["b", "c", "d", "e", "f"]]


async def test_a_key_asked_after_a_query_started_waits_for_the_next_one() -> None:
    """A read that follows a write must not be answered by a query that began before it."""
    source = Source({"a": 1})
    reads = GatheredReads(source.fetch)
    source.gate.clear()
    early = await in_flight(reads, source, "a")
    source.records["a"] = 2  # a write completes while the first query is in flight
    late = asyncio.create_task(reads.get("a"))
    source.gate.set()
    assert (await early, await late) == (1, 2)
    assert source.queries == [["a"], ["a"]]


async def test_a_query_reads_at_most_most_keys() -> None:
    source = Source({str(n): n for n in range(10)})
    reads = GatheredReads(source.fetch, most=4)
    source.gate.clear()
    tasks = [asyncio.create_task(reads.get(str(n))) for n in range(10)]
    await asyncio.sleep(0)
    source.gate.set()
    assert await asyncio.gather(*tasks) == list(range(10))
    assert [len(q) for q in source.queries] == [4, 4, 2]


async def test_a_failed_query_fails_its_reads_only() -> None:
    source = Source({"a": 1, "b": 2})
    reads = GatheredReads(source.fetch)
    source.gate.clear()
    source.fail = RuntimeError("database gone")
    first = await in_flight(reads, source, "a")
    second = asyncio.create_task(reads.get("b"))
    await asyncio.sleep(0)
    source.gate.set()
    with pytest.raises(RuntimeError, match="database gone"):
        await first
    assert await second == 2  # b's query, after the failed one, succeeds
    assert await reads.get("a") == 1


async def test_a_cancelled_read_leaves_the_others_answered() -> None:
    source = Source({"a": 1, "b": 2})
    reads = GatheredReads(source.fetch)
    source.gate.clear()
    gone = asyncio.create_task(reads.get("a"))
    stays = asyncio.create_task(reads.get("a"))
    other = asyncio.create_task(reads.get("b"))
    await asyncio.sleep(0)
    gone.cancel()
    source.gate.set()
    assert (await stays, await other) == (1, 2)
    assert gone.cancelled()


async def test_cancelling_the_query_cancels_every_read_waiting() -> None:
    source = Source({"a": 1})
    reads = GatheredReads(source.fetch)
    source.gate.clear()
    first = await in_flight(reads, source, "a")
    second = asyncio.create_task(reads.get("a"))
    await asyncio.sleep(0)
    assert reads._flusher is not None
    reads._flusher.cancel()
    for read in (first, second):
        with pytest.raises(asyncio.CancelledError):
            await read
    assert reads.waiting == 0
    source.gate.set()
    assert await reads.get("a") == 1  # and a new read starts a new query


def test_a_query_reads_at_least_one_key() -> None:
    with pytest.raises(ValueError, match="at least one key"):
        GatheredReads(Source({}).fetch, most=0)
