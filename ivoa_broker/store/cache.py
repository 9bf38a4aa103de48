"""The per-process record cache in front of the job table."""

from __future__ import annotations

from collections import OrderedDict

from ivoa_broker.records import Job


class JobCache:
    """A bounded LRU of job records, coherent because every write to a job drops
    the job's entry before and after it runs, and a read is cached only if no
    write at all happened meanwhile.

    With several replicas on one PostgreSQL database, another replica's write
    reaches this process as a change notification, which calls :meth:`drop`
    the same way; if the notification channel is lost, :meth:`clear` empties
    the cache (nothing cached can be trusted any more).
    """

    def __init__(self, size: int) -> None:
        self.size = size
        self.writes = 0
        self._jobs: OrderedDict[str, Job] = OrderedDict()

    def get(self, job_id: str) -> Job | None:
        job = self._jobs.get(job_id)
        if job is not None:
            self._jobs.move_to_end(job_id)
        return job

    def put(self, job: Job, writes_before_read: int) -> None:
        if self.size <= 0 or self.writes != writes_before_read:
            return
        self._jobs[job.job_id] = job
        self._jobs.move_to_end(job.job_id)
        if len(self._jobs) > self.size:
            self._jobs.popitem(last=False)

    def drop(self, job_id: str) -> None:
        self.writes += 1
        self._jobs.pop(job_id, None)

    def clear(self) -> None:
        self.writes += 1
        self._jobs.clear()

    def __len__(self) -> int:
        return len(self._jobs)
