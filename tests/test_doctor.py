"""``ivoa-broker doctor`` reports PENDING jobs old enough to be unanswered creations."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from ivoa_broker.cli import main
from ivoa_broker.doctor import DoctorError, report, stale_pending
from ivoa_broker.protocol import Phase
from ivoa_broker.records import Job, Parameter
from ivoa_broker.store import JobStore


async def _store_with_jobs(path: Path) -> dict[str, str]:
    """Two PENDING jobs (one old, one fresh) and one old QUEUED job; their ids by role."""
    store = await JobStore.open(path)
    try:
        now = datetime.now(UTC)
        ids = {}
        for role, age, phase in (
            ("old", 7200, Phase.PENDING),
            ("fresh", 10, Phase.PENDING),
            ("queued", 7200, Phase.QUEUED),
        ):
            job = Job(
                job_id=str(uuid.uuid4()),
                owner="alice",
                phase=phase,
                creation_time=now - timedelta(seconds=age),
                execution_duration=60,
                destruction=now + timedelta(days=7),
                parameters=(Parameter("cmd", "true"),),
            )
            await store.insert(job)
            ids[role] = job.job_id
        return ids
    finally:
        await store.close()


async def test_only_old_pending_jobs_are_reported(tmp_path: Path) -> None:
    db = tmp_path / "broker.db"
    ids = await _store_with_jobs(db)
    found = stale_pending(db, 3600)
    assert [j.job_id for j in found] == [ids["old"]]
    assert found[0].owner == "alice" and found[0].destruction
    assert {j.job_id for j in stale_pending(db, 1)} == {ids["old"], ids["fresh"]}
    code, lines = report(db, 3600)
    assert code == 1 and any(ids["old"] in line for line in lines)
    assert not any(ids["fresh"] in line or ids["queued"] in line for line in lines)


async def test_cli_exit_codes(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    db = tmp_path / "broker.db"
    ids = await _store_with_jobs(db)
    assert main(["doctor", "--database", str(db)]) == 1
    assert ids["old"] in capsys.readouterr().out
    assert main(["doctor", "--database", str(db), "--pending-age", "99999"]) == 0
    assert "no PENDING job" in capsys.readouterr().out
    assert main(["doctor", "--database", str(tmp_path / "missing.db")]) == 2


def test_missing_store_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(DoctorError, match="no job store"):
        stale_pending(tmp_path / "nope.db", 60)
