"""Online backup of the SQLite job store (``ivoa-broker backup``).

SQLite's backup API copies a consistent snapshot page by page while the broker keeps
serving (WAL readers do not block it, and it retries pages a writer changed). The
copy is written to a temporary file beside the destination and renamed into place,
so a half-written backup never replaces a good one. Restore: stop the broker, copy
the backup over the database file (remove the ``-wal``/``-shm`` files), start it.
"""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path


class BackupError(Exception):
    """The store cannot be read or the backup cannot be written."""


def backup(database: Path, destination: Path, pages_per_step: int = 1024) -> int:
    """Copy ``database`` to ``destination``; returns the number of jobs in the copy."""
    if not database.exists():
        raise BackupError(f"no job store at {database}")
    tmp = destination.with_name(destination.name + ".partial")
    try:
        source = sqlite3.connect(f"file:{database}?mode=ro", uri=True)
        try:
            target = sqlite3.connect(tmp)
            try:
                source.backup(target, pages=pages_per_step)
                (count,) = target.execute("SELECT COUNT(*) FROM jobs").fetchone()
                check = target.execute("PRAGMA integrity_check").fetchone()[0]
            finally:
                target.close()
        finally:
            source.close()
    except sqlite3.Error as exc:
        tmp.unlink(missing_ok=True)
        raise BackupError(f"backup of {database} failed: {exc}") from exc
    if check != "ok":
        tmp.unlink(missing_ok=True)
        raise BackupError(f"backup of {database} failed its integrity check: {check}")
    os.chmod(tmp, 0o600)
    tmp.replace(destination)
    return int(count)
