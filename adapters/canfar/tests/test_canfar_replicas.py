"""One job status out of its replicas' statuses."""

from __future__ import annotations

from ivoa_broker_canfar._models import SessionInfo
from ivoa_broker_canfar._naming import replica_name, session_name
from ivoa_broker_canfar._replicas import combine, count, members

from ivoa_broker.protocol import Handle, Phase, Status


def st(phase: Phase, native: str, **kw: object) -> Status:
    return Status(phase=phase, native_state=native, **kw)  # type: ignore[arg-type]


def test_in_progress_until_every_replica_has_ended() -> None:
    pending = combine([(1, st(Phase.QUEUED, "Pending")), (2, st(Phase.QUEUED, "Pending"))], 2)
    assert pending.phase is Phase.QUEUED
    mixed = combine([(1, st(Phase.COMPLETED, "Completed")), (2, st(Phase.QUEUED, "Pending"))], 2)
    assert (mixed.phase, mixed.native_state) == (Phase.EXECUTING, "Completed/Pending")


def test_all_completed_is_completed() -> None:
    done = combine(
        [(1, st(Phase.COMPLETED, "Completed")), (2, st(Phase.COMPLETED, "Completed"))], 2
    )
    assert (done.phase, done.exit_code) == (Phase.COMPLETED, 0)


def test_a_failed_replica_fails_the_job_with_its_reason() -> None:
    failed = combine(
        [
            (1, st(Phase.COMPLETED, "Completed")),
            (2, st(Phase.ERROR, "Failed", message="boom", exit_code=3)),
        ],
        2,
    )
    assert (failed.phase, failed.exit_code, failed.message) == (Phase.ERROR, 3, "replica 2: boom")


def test_replicas_gone_from_the_listing_fail_the_job() -> None:
    lost = combine([(1, st(Phase.COMPLETED, "Completed"))], 3)
    assert lost.phase is Phase.ERROR
    assert lost.message == "replicas 2, 3 of 3 are gone from CANFAR"


def test_members_are_found_by_the_job_id_in_their_names() -> None:
    sessions = [
        SessionInfo(
            id=f"s{i}", name=replica_name("ivb", "job", i), status="Running", type="headless"
        )
        for i in (2, 1, 3)
    ]
    sessions.append(
        SessionInfo(id="x", name=session_name("ivb", "job"), status="Running", type="headless")
    )
    handle = Handle("c", "s1", state={"job_id": "job", "replicas": 3})
    assert count(handle) == 3
    assert [(n, s.id) for n, s in members(handle, sessions, "ivb")] == [
        (1, "s1"),
        (2, "s2"),
        (3, "s3"),
    ]
    bare = Handle("c", "s2")  # an orphan sweep's handle: no state
    assert count(bare) == 1
    assert [s.id for _, s in members(bare, sessions, "ivb")] == ["s1", "s2", "s3"]
