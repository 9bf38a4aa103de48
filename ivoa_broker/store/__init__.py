"""Persistence of jobs, their results and ExecutionBroker offers.

- :mod:`.interface`: what the services may ask (:class:`JobRepository`,
  :class:`OfferRepository`, :class:`Store`);
- :mod:`.jobs`, :mod:`.offers`: the SQL of each aggregate, written once for both engines;
- :mod:`.sqlite` (default, one process) and :mod:`.postgres` (several replicas):
  the engines behind :class:`~.db.Database`;
- :mod:`.migrations`: versioned schema, applied at start-up under a lock;
- :mod:`.cache`: the per-process record cache;
- :mod:`.sql`: :class:`JobStore`, opened from a path or URL.
"""

from __future__ import annotations

from ivoa_broker.store.cache import JobCache
from ivoa_broker.store.interface import JobRepository, OfferRepository, Store
from ivoa_broker.store.rows import (
    JobEnd,
    JobFields,
    LiveJob,
    OfferRow,
    OfferSetRow,
    SessionRef,
    StoredResult,
    StoreError,
)
from ivoa_broker.store.sql import JobStore, is_postgres, open_database, sqlite_path

__all__ = [
    "JobCache",
    "JobEnd",
    "JobFields",
    "JobRepository",
    "JobStore",
    "LiveJob",
    "OfferRepository",
    "OfferRow",
    "OfferSetRow",
    "SessionRef",
    "Store",
    "StoreError",
    "StoredResult",
    "is_postgres",
    "open_database",
    "sqlite_path",
]
