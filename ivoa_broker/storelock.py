"""The SQLite store serves one broker process: a lock file says which.

SQLite with WAL is safe for several processes, but the broker keeps a record cache
and WAIT events in memory, so a second process (``uvicorn --workers 2``, or a second
``serve`` on the same file) would give stale answers. :func:`hold` takes a POSIX
record lock on ``<database>.lock`` for the life of the process (released by the kernel
when the process dies, even by SIGKILL; not inherited by forked children) and refuses
a second holder with a message that says what to do instead.
"""

from __future__ import annotations

import errno
import fcntl
import os
from pathlib import Path


class StoreInUse(Exception):
    """Another process serves this SQLite store."""


class StoreLock:
    def __init__(self, path: Path, fd: int) -> None:
        self.path = path
        self._fd = fd

    def release(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1


def hold(database: Path) -> StoreLock:
    path = database.with_name(database.name + ".lock")
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
    try:
        fcntl.lockf(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError as exc:
        os.close(fd)
        if exc.errno in (errno.EACCES, errno.EAGAIN):
            raise StoreInUse(
                f"the SQLite job store {database} is already served by another broker process; "
                "the SQLite store is single-process (one worker): run one process, or use "
                "the PostgreSQL store to run several"
            ) from None
        raise
    os.ftruncate(fd, 0)
    os.write(fd, f"{os.getpid()}\n".encode())
    return StoreLock(path, fd)
