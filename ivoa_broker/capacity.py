"""The broker's own queue for jobs no platform has room for now (pure, no I/O).

A platform that answers ``NoCapacity`` does not turn a job into a dead end: the
job stays QUEUED in the broker, in this queue, and is launched again when room
frees (the dispatcher pumps the queue when a job of that platform ends, and on
a bounded retry timer). Jobs are taken **fairly across owners**: one per owner
in turn (round robin), first come first served within one owner, so one owner
with a thousand jobs does not starve another with one.

:meth:`CapacityQueue.positions` gives every waiting job's place in that order
(1 = next to start); the dispatcher shows it in jobInfo as ``queue_position``.
"""

from __future__ import annotations

from collections import OrderedDict, deque
from collections.abc import Iterator
from dataclasses import dataclass

from ivoa_broker.protocol import Offer

__all__ = ["CapacityQueue", "Waiting"]


@dataclass(frozen=True)
class Waiting:
    """One job waiting for room: its owner and, for an accepted ExecutionBroker
    offer, that offer (it is submitted to the very platform that made it)."""

    job_id: str
    owner: str | None
    offer: Offer | None = None


class CapacityQueue:
    """Waiting jobs of one platform, per owner, taken in round robin."""

    def __init__(self) -> None:
        #: owner -> that owner's jobs in arrival order; the dict's order is the
        #: round-robin order (the owner served last moves to the end)
        self._owners: OrderedDict[str | None, deque[Waiting]] = OrderedDict()
        self._where: dict[str, str | None] = {}

    def __len__(self) -> int:
        return len(self._where)

    def __contains__(self, job_id: object) -> bool:
        return job_id in self._where

    def push(self, item: Waiting, *, front: bool = False) -> None:
        """Queue ``item`` (at the front of its owner's line when it was just
        taken and could not start after all). A job already queued stays put."""
        if item.job_id in self._where:
            return
        line = self._owners.get(item.owner)
        if line is None:
            line = self._owners[item.owner] = deque()
        if front:  # it was this owner's turn: it still is
            self._owners.move_to_end(item.owner, last=False)
            line.appendleft(item)
        else:
            line.append(item)
        self._where[item.job_id] = item.owner

    def pop(self) -> Waiting | None:
        """The next job to start (the next owner's oldest job), or None."""
        if not self._owners:
            return None
        owner, line = next(iter(self._owners.items()))
        item = line.popleft()
        del self._where[item.job_id]
        if line:
            self._owners.move_to_end(owner)
        else:
            del self._owners[owner]
        return item

    def remove(self, job_id: str) -> bool:
        """Forget ``job_id`` (aborted, deleted); whether it was queued."""
        if job_id not in self._where:
            return False
        owner = self._where.pop(job_id)
        line = self._owners[owner]
        for item in line:
            if item.job_id == job_id:
                line.remove(item)
                break
        if not line:
            del self._owners[owner]
        return True

    def order(self) -> Iterator[Waiting]:
        """Every waiting job in the order :meth:`pop` would return them."""
        lines = [list(line) for line in self._owners.values()]
        depth = max((len(line) for line in lines), default=0)
        for i in range(depth):
            for line in lines:
                if i < len(line):
                    yield line[i]

    def positions(self) -> dict[str, int]:
        """``job_id -> place`` (1 = next) for every waiting job."""
        return {item.job_id: n for n, item in enumerate(self.order(), start=1)}
