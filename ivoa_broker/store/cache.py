"""The per-process caches in front of the job table: whole records, and list entries."""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Iterable, Sequence

from ivoa_broker.protocol import Phase
from ivoa_broker.records import Job, JobSummary
from ivoa_broker.units import from_db_instant


class JobCache:
    """A bounded LRU of job records, coherent because every write to a job drops
    the job's entry before and after it runs, and a read is cached only if no
    write to *that job* happened meanwhile.

    Each write takes the next number of a counter (:attr:`writes`), and the cache
    keeps the number of the last write to each recently written job. A reader
    takes the counter before it reads; :meth:`put` refuses its record if that
    job was written since. Writes to other jobs do not stop it (they did when
    one counter decided for all: under a busy poller nothing was cached). The
    memory of last writes is bounded (:attr:`remembered`): forgetting one raises
    a floor, and a read that began below the floor is refused as before, so a
    forgotten write can never let a stale record in.

    With several replicas on one PostgreSQL database, another replica's write
    reaches this process as a change notification, which calls :meth:`drop`
    the same way; if the notification channel is lost, :meth:`clear` empties
    the cache (nothing cached can be trusted any more).
    """

    def __init__(self, size: int, remembered: int = 4096) -> None:
        self.size = size
        self.remembered = remembered
        self.writes = 0
        self._jobs: OrderedDict[str, Job] = OrderedDict()
        #: job id -> the number of its last write, oldest write first
        self._written: OrderedDict[str, int] = OrderedDict()
        #: reads that began before this write number are refused
        self._floor = 0

    def get(self, job_id: str) -> Job | None:
        job = self._jobs.get(job_id)
        if job is not None:
            self._jobs.move_to_end(job_id)
        return job

    def put(self, job: Job, writes_before_read: int) -> None:
        """Cache ``job``, read after the counter said ``writes_before_read``,
        unless the job was written since (or that can no longer be told)."""
        if self.size <= 0 or writes_before_read < self._floor:
            return
        if self._written.get(job.job_id, 0) > writes_before_read:
            return
        self._jobs[job.job_id] = job
        self._jobs.move_to_end(job.job_id)
        if len(self._jobs) > self.size:
            self._jobs.popitem(last=False)

    def drop(self, job_id: str) -> None:
        self.writes += 1
        self._jobs.pop(job_id, None)
        self._written[job_id] = self.writes
        self._written.move_to_end(job_id)
        if len(self._written) > self.remembered:
            _, forgotten = self._written.popitem(last=False)
            self._floor = max(self._floor, forgotten)

    def clear(self) -> None:
        self.writes += 1
        self._floor = self.writes
        self._written.clear()
        self._jobs.clear()

    def __len__(self) -> int:
        return len(self._jobs)


class SummaryRows:
    """Job list entries made once per distinct stored row, not once per list.

    The key is the whole row a :class:`JobSummary` is made of (job id, phase, creation
    time text, run id, owner), so a job whose row changed (a new phase) is a new key and
    can never be answered with the old entry: nothing needs dropping on a write. At most
    ``size`` rows (the oldest first out). The same objects come back for the same rows,
    so the rendered fragments cached by summary (``render/uws_fast.py``) are found fast.
    """

    def __init__(self, size: int = 4096) -> None:
        self.size = size
        self._items: dict[tuple[object, ...], JobSummary] = {}

    def of(self, rows: Iterable[Sequence[object]]) -> list[JobSummary]:
        """Summaries of ``(job_id, phase, creation_time, run_id, owner)`` rows, in order."""
        items = self._items
        out: list[JobSummary] = []
        for row in rows:
            key = (row[0], row[1], row[2], row[3], row[4])
            found = items.get(key)
            if found is None:
                found = _summary(key)
                if self.size <= 0:
                    out.append(found)
                    continue
                if len(items) >= self.size:
                    del items[next(iter(items))]
                items[key] = found
            out.append(found)
        return out

    def __len__(self) -> int:
        return len(self._items)


def _summary(row: tuple[object, ...]) -> JobSummary:
    job_id, phase, created, run_id, owner = row
    assert isinstance(job_id, str) and isinstance(phase, str) and isinstance(created, str)
    assert run_id is None or isinstance(run_id, str)
    assert owner is None or isinstance(owner, str)
    return JobSummary(job_id, Phase(phase), from_db_instant(created), run_id, owner)
