"""The capacity queue's order: round robin across owners, FIFO within one."""

from __future__ import annotations

from ivoa_broker.capacity import CapacityQueue, Waiting


def _drain(queue: CapacityQueue) -> list[str]:
    out = []
    while (item := queue.pop()) is not None:
        out.append(item.job_id)
    return out


def test_owners_take_turns_and_each_keeps_its_order() -> None:
    queue = CapacityQueue()
    for job in ("a1", "a2", "a3"):
        queue.push(Waiting(job, "alice"))
    queue.push(Waiting("b1", "bob"))
    queue.push(Waiting("n1", None))
    queue.push(Waiting("b2", "bob"))
    expected = ["a1", "b1", "n1", "a2", "b2", "a3"]
    assert list(queue.positions()) == expected
    assert queue.positions()["n1"] == 3
    assert _drain(queue) == expected
    assert len(queue) == 0


def test_positions_follow_pops_and_removals() -> None:
    queue = CapacityQueue()
    for job, owner in (("a1", "alice"), ("a2", "alice"), ("b1", "bob")):
        queue.push(Waiting(job, owner))
    assert queue.pop() == Waiting("a1", "alice")
    assert queue.positions() == {"b1": 1, "a2": 2}
    assert queue.remove("b1") and not queue.remove("b1")
    assert "b1" not in queue and "a2" in queue
    assert queue.positions() == {"a2": 1}


def test_a_job_put_back_keeps_its_turn() -> None:
    queue = CapacityQueue()
    for job, owner in (("a1", "alice"), ("a2", "alice"), ("b1", "bob")):
        queue.push(Waiting(job, owner))
    taken = queue.pop()  # a1 could not start after all: back to the front
    assert taken is not None
    queue.push(taken, front=True)
    assert _drain(queue) == ["a1", "b1", "a2"]


def test_pushing_a_queued_job_again_changes_nothing() -> None:
    queue = CapacityQueue()
    queue.push(Waiting("a1", "alice"))
    queue.push(Waiting("a1", "alice"))
    assert len(queue) == 1
    assert queue.pop() is not None and queue.pop() is None
