"""The offer aggregate in SQL: offer sets, their offers, accept/reject/expiry, sessions.

Accept and reject read the offer ``FOR UPDATE`` on PostgreSQL (SQLite's ``BEGIN
IMMEDIATE`` already serialises writers), so two replicas accepting one offer at
once cannot both win.
"""

from __future__ import annotations

import json
from collections.abc import Collection, Sequence
from datetime import datetime
from typing import Any

from ivoa_broker.protocol import Phase
from ivoa_broker.records import Job
from ivoa_broker.store.cache import JobCache
from ivoa_broker.store.db import Database, Row, Tx
from ivoa_broker.store.jobs import INSERT_JOB, job_values, marks, owner_is
from ivoa_broker.store.rows import OfferRow, OfferSetRow, SessionRef
from ivoa_broker.units import db_instant, from_db_instant

_OFFER_COLUMNS = "offer_id, offerset_id, owner, seq, created, phase, expires, offer"
_OFFERSET_COLUMNS = "offerset_id, owner, created, request, messages"


class OfferQueries:
    db: Database
    cache: JobCache

    async def insert_offerset(self, offerset: OfferSetRow, offers: Sequence[OfferRow]) -> None:
        """Store an offer set and its offers in one transaction."""
        async with self.db.transaction() as tx:
            await tx.execute(
                f"INSERT INTO offersets ({_OFFERSET_COLUMNS}) VALUES (?, ?, ?, ?, ?)",
                (
                    offerset.offerset_id,
                    offerset.owner,
                    db_instant(offerset.created),
                    json.dumps(offerset.request),
                    json.dumps([dict(m) for m in offerset.messages]),
                ),
            )
            await tx.executemany(
                f"INSERT INTO offers ({_OFFER_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                [
                    (
                        o.offer_id,
                        o.offerset_id,
                        o.owner,
                        o.seq,
                        db_instant(o.created),
                        o.phase,
                        db_instant(o.expires),
                        json.dumps(o.offer),
                    )
                    for o in offers
                ],
            )

    async def get_offerset(self, offerset_id: str) -> OfferSetRow | None:
        row = await self.db.row(
            f"SELECT {_OFFERSET_COLUMNS} FROM offersets WHERE offerset_id = ?", (offerset_id,)
        )
        return offerset_from_row(row) if row is not None else None

    async def offers_of(self, offerset_id: str) -> list[OfferRow]:
        rows = await self.db.rows(
            f"SELECT {_OFFER_COLUMNS} FROM offers WHERE offerset_id = ? ORDER BY seq",
            (offerset_id,),
        )
        return [offer_from_row(r) for r in rows]

    async def get_offer(self, offer_id: str) -> OfferRow | None:
        row = await self.db.row(
            f"SELECT {_OFFER_COLUMNS} FROM offers WHERE offer_id = ?", (offer_id,)
        )
        return offer_from_row(row) if row is not None else None

    async def _lock_set(self, tx: Tx, offer_id: str) -> tuple[str, str, str] | None:
        """(offerset id, phase, expires) of an offer, with every offer of its set
        locked in id order on PostgreSQL: accept, reject and expiry all lock in that
        order, so two of them racing on one set wait for each other, never deadlock."""
        rows = await tx.rows("SELECT offerset_id FROM offers WHERE offer_id = ?", (offer_id,))
        if not rows:
            return None
        offerset_id = str(rows[0][0])
        found = await tx.rows(
            "SELECT offer_id, phase, expires FROM offers WHERE offerset_id = ? "
            "ORDER BY offer_id" + self.db.dialect.for_update,
            (offerset_id,),
        )
        for row in found:
            if row[0] == offer_id:
                return offerset_id, str(row[1]), str(row[2])
        return None

    async def _settle(self, tx: Tx, offer_id: str, now: datetime) -> tuple[str | None, str]:
        """The first steps of accept and reject, in their transaction: lock the
        offer's set (:meth:`_lock_set`), then check that the offer is still OFFERED
        and unexpired; one past its expiry is marked EXPIRED here (the reaper may
        not have got to it yet). Returns (what stopped it, the set's id): ``None``
        when the offer may be settled now, else its phase, ``""`` if there is none."""
        locked = await self._lock_set(tx, offer_id)
        if locked is None:
            return "", ""
        offerset_id, phase, expires = locked
        if phase != "OFFERED":
            return phase, offerset_id
        if expires <= db_instant(now):
            await tx.execute("UPDATE offers SET phase = 'EXPIRED' WHERE offer_id = ?", (offer_id,))
            return "EXPIRED", offerset_id
        return None, offerset_id

    async def accept_offer(
        self, offer_id: str, job: Job, now: datetime, intent: str | None = None
    ) -> str | None:
        """Accept an offer atomically: compare-and-set OFFERED -> ACCEPTED (only before
        it expires), its siblings OFFERED -> REJECTED, and the job row (same id)
        inserted with ``intent`` as its launch intent (the accepted offer's JSON:
        a broker that dies before launching it resumes on that platform), all in
        one transaction.

        Returns ``None`` if this call accepted it, else the phase that stopped it
        (``ACCEPTED`` when it was accepted before; ``EXPIRED`` also when its
        expiry has passed and the reaper has not got to it yet); ``""`` if there
        is no such offer.
        """
        self.cache.drop(job.job_id)
        try:
            async with self.db.transaction() as tx:
                stopped, offerset_id = await self._settle(tx, offer_id, now)
                if stopped is not None:
                    return stopped
                await tx.execute(
                    "UPDATE offers SET phase = 'ACCEPTED' WHERE offer_id = ?", (offer_id,)
                )
                await tx.execute(
                    "UPDATE offers SET phase = 'REJECTED' WHERE offerset_id = ? "
                    "AND offer_id != ? AND phase = 'OFFERED'",
                    (offerset_id, offer_id),
                )
                await tx.execute(INSERT_JOB, job_values(job))
                if intent is not None:
                    await tx.execute(
                        "UPDATE jobs SET launch_intent = ? WHERE job_id = ?", (intent, job.job_id)
                    )
                return None
        finally:
            self.cache.drop(job.job_id)

    async def reject_offer(self, offer_id: str, now: datetime) -> str | None:
        """OFFERED -> REJECTED (compare-and-set); ``None`` on success, else the phase
        that stopped it (``EXPIRED`` once its expiry has passed), ``""`` if none."""
        async with self.db.transaction() as tx:
            stopped, _ = await self._settle(tx, offer_id, now)
            if stopped is None:
                await tx.execute(
                    "UPDATE offers SET phase = 'REJECTED' WHERE offer_id = ?", (offer_id,)
                )
            return stopped

    async def expire_offers(self, now: datetime) -> list[str]:
        """OFFERED -> EXPIRED for every offer whose expiry has passed; their ids."""
        rows = await self.db.returning(
            "UPDATE offers SET phase = 'EXPIRED' WHERE offer_id IN ("
            "SELECT offer_id FROM offers WHERE phase = 'OFFERED' AND expires <= ? "
            "ORDER BY offer_id" + self.db.dialect.for_update + ") RETURNING offer_id",
            (db_instant(now),),
        )
        return [r[0] for r in rows]

    async def count_pending_offersets(self, owner: str | None, now: datetime) -> int:
        """An owner's offer sets with an offer still OFFERED and unexpired."""
        args: list[Any] = []
        where = owner_is(owner, args)
        args.append(db_instant(now))
        row = await self.db.row(
            "SELECT count(DISTINCT offerset_id) FROM offers "
            f"WHERE {where} AND phase = 'OFFERED' AND expires > ?",
            args,
        )
        return int(row[0]) if row else 0

    async def list_offersets(
        self,
        owner: str | None,
        *,
        offer_phases: Collection[str] | None,
        after: datetime | None,
        before: datetime | None,
        limit: int,
    ) -> list[OfferSetRow]:
        """An owner's offer sets, newest first; with ``offer_phases``, only the sets
        holding an offer in one of them."""
        args: list[Any] = []
        where = [owner_is(owner, args)]
        if offer_phases:
            where.append(
                "EXISTS (SELECT 1 FROM offers o WHERE o.offerset_id = offersets.offerset_id "
                f"AND o.phase IN ({marks(len(offer_phases))}))"
            )
            args.extend(offer_phases)
        time_filters(where, args, "created", after, before)
        args.append(limit)
        rows = await self.db.rows(
            f"SELECT {_OFFERSET_COLUMNS} FROM offersets "
            f"WHERE {' AND '.join(where)} ORDER BY created DESC, offerset_id DESC LIMIT ?",
            args,
        )
        return [offerset_from_row(r) for r in rows]

    async def list_sessions(
        self,
        owner: str | None,
        *,
        offer_phases: Collection[str] | None,
        job_phases: Collection[Phase] | None,
        after: datetime | None,
        before: datetime | None,
        limit: int,
    ) -> list[SessionRef]:
        """An owner's sessions, newest first: offers not accepted (an accepted offer is
        its job) and jobs. ``None`` for a phase set means no filter; empty: none."""
        parts: list[str] = []
        args: list[Any] = []
        if offer_phases is None or offer_phases:
            where = [owner_is(owner, args), "phase != 'ACCEPTED'"]
            if offer_phases:
                where.append(f"phase IN ({marks(len(offer_phases))})")
                args.extend(offer_phases)
            time_filters(where, args, "created", after, before)
            parts.append(
                "SELECT offer_id AS id, created AS t, 0 AS job FROM offers "
                f"WHERE {' AND '.join(where)}"
            )
        if job_phases is None or job_phases:
            where = [owner_is(owner, args)]
            if job_phases:
                where.append(f"phase IN ({marks(len(job_phases))})")
                args.extend(p.value for p in job_phases)
            else:
                where.append("phase != 'ARCHIVED'")
            time_filters(where, args, "creation_time", after, before)
            parts.append(
                "SELECT job_id AS id, creation_time AS t, 1 AS job FROM jobs "
                f"WHERE {' AND '.join(where)}"
            )
        if not parts:
            return []
        args.append(limit)
        sql = f"{' UNION ALL '.join(parts)} ORDER BY t DESC, id DESC LIMIT ?"
        rows = await self.db.rows(sql, args)
        return [SessionRef(r[0], from_db_instant(r[1]), bool(r[2])) for r in rows]


def time_filters(
    where: list[str], args: list[Any], column: str, after: datetime | None, before: datetime | None
) -> None:
    if after is not None:
        where.append(f"{column} >= ?")
        args.append(db_instant(after))
    if before is not None:
        where.append(f"{column} < ?")
        args.append(db_instant(before))


def offerset_from_row(row: Row) -> OfferSetRow:
    return OfferSetRow(
        offerset_id=row[0],
        owner=row[1],
        created=from_db_instant(row[2]),
        request=json.loads(row[3]),
        messages=tuple(json.loads(row[4])),
    )


def offer_from_row(row: Row) -> OfferRow:
    return OfferRow(
        offer_id=row[0],
        offerset_id=row[1],
        owner=row[2],
        seq=row[3],
        created=from_db_instant(row[4]),
        phase=row[5],
        expires=from_db_instant(row[6]),
        offer=json.loads(row[7]),
    )
