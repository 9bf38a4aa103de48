"""Every job transition is one structured log line (job, owner, platform, from, to, reason)
and one count in ``ivoa_broker_job_transitions_total``: unit checks of the reason, the
JobService hooks over the fake platform, and a real broker's log after real jobs."""

from __future__ import annotations

import asyncio
import json
import logging
import shutil
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest

from ivoa_broker.journal import REASON_LIMIT, Journal, one_line, reason_of
from ivoa_broker.metrics import Metrics
from ivoa_broker.protocol import Phase
from ivoa_broker.records import Job, JobError, Parameter
from tests.rig import Rig, make_rig
from tests.server import BrokerProcess

DEPLOY = Path(__file__).resolve().parent.parent / "deploy"
TOKEN = "0123456789abcdef0123456789abcdef"


def _job(**kw: Any) -> Job:
    base: dict[str, Any] = {
        "job_id": "j1",
        "owner": "alice",
        "phase": Phase.EXECUTING,
        "creation_time": datetime(2026, 1, 1, tzinfo=UTC),
        "platform": "local",
    }
    return Job(**{**base, **kw})


def test_reason_is_the_new_error_message() -> None:
    job = _job()
    assert reason_of(job, {"error": JobError("fatal", "exit code 3")}) == "exit code 3"


def test_reason_ignores_what_the_job_already_had() -> None:
    job = _job(job_info={"platform_message": "waiting for a node"})
    info = {"platform_message": "waiting for a node", "end_reason": "walltime"}
    assert reason_of(job, {"job_info": info}) == "walltime"
    assert reason_of(job, {"job_info": dict(job.job_info)}) == ""
    same_error = _job(error=JobError("fatal", "old"))
    assert reason_of(same_error, {"error": JobError("fatal", "old")}) == ""


def test_reason_names_the_exit_code() -> None:
    assert reason_of(_job(), {"job_info": {"exit_code": "0"}}) == "exit_code=0"
    # an abort's reason is its own column (store migration 2), and it explains best
    fields = {"abort_reason": "owner", "job_info": {"exit_code": "9"}}
    assert reason_of(_job(), fields) == "owner"


def test_reason_is_one_redacted_bounded_line() -> None:
    text = one_line("failed\nfetching https://x.org/f?access_token=s3cr3t&a=1  now")
    assert text == "failed fetching https://x.org/f?access_token=***&a=1 now"
    assert len(one_line("x" * 1000)) == REASON_LIMIT


def test_a_move_is_logged_and_counted(caplog: pytest.LogCaptureFixture) -> None:
    metrics = Metrics()
    journal = Journal(metrics)
    with caplog.at_level(logging.INFO, logger="ivoa_broker.journal"):
        journal.moved(_job(), Phase.ERROR, {"error": JobError("fatal", "out of memory")})
    (record,) = caplog.records
    fields = vars(record)
    assert fields["event"] == "transition"
    assert (fields["job"], fields["owner"], fields["platform"]) == ("j1", "alice", "local")
    assert (fields["from"], fields["to"], fields["reason"]) == (
        "EXECUTING",
        "ERROR",
        "out of memory",
    )
    sample = metrics.registry.get_sample_value(
        "ivoa_broker_job_transitions_total",
        {"from": "EXECUTING", "to": "ERROR", "platform": "local"},
    )
    assert sample == 1.0


# ------------------------------------------------------------ through JobService


@pytest.fixture
async def rig(tmp_path: Path, both_stores: str | None) -> AsyncIterator[Rig]:
    """A rig on SQLite and on PostgreSQL (tests/stores.py)."""
    r = await make_rig(tmp_path)
    yield r
    await r.close()


def _moves(caplog: pytest.LogCaptureFixture, job_id: str) -> list[tuple[str, str, str]]:
    return [
        (r.__dict__["from"], r.__dict__["to"], r.__dict__["reason"])
        for r in caplog.records
        if r.name == "ivoa_broker.journal"
        and getattr(r, "job", None) == job_id
        and getattr(r, "event", None) == "transition"
    ]


async def test_job_service_tells_every_move(rig: Rig, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="ivoa_broker.journal")
    job = await rig.jobs.create("bob", [Parameter("cmd", "echo")], run=True)
    await asyncio.wait_for(rig.fake.any_submit.wait(), 5)
    rig.fake.set(f"n-{job.job_id}", "running")
    await rig.settle(job.job_id, Phase.EXECUTING)
    rig.fake.set(f"n-{job.job_id}", "failed", 3)
    await rig.settle(job.job_id, Phase.ERROR)
    moves = _moves(caplog, job.job_id)
    assert [(a, b) for a, b, _ in moves] == [
        ("", "PENDING"),
        ("PENDING", "QUEUED"),
        ("QUEUED", "EXECUTING"),
        ("EXECUTING", "ERROR"),
    ]
    assert moves[0][2] == "created" and moves[1][2] == "RUN"
    assert moves[-1][2], "an ERROR says why"
    owners = {r.__dict__["owner"] for r in caplog.records if getattr(r, "job", "") == job.job_id}
    assert owners == {"bob"}
    executing = [r for r in caplog.records if getattr(r, "to", "") == "EXECUTING"]
    assert executing[0].__dict__["platform"] == rig.fake.name


async def test_a_task_first_seen_ended_still_passes_executing(
    rig: Rig, caplog: pytest.LogCaptureFixture
) -> None:
    """A short job can end before the broker's first look: COMPLETED means it ran, so its
    history shows EXECUTING (a real broker's `true` job went QUEUED -> COMPLETED under load);
    a failure with no start time may never have started, and stays QUEUED -> ERROR."""
    caplog.set_level(logging.INFO, logger="ivoa_broker.journal")
    done = await rig.jobs.create("bob", [Parameter("cmd", "true")], run=True)
    await asyncio.wait_for(rig.fake.any_submit.wait(), 5)
    rig.fake.set(f"n-{done.job_id}", "done", 0)
    ended = await rig.settle(done.job_id, Phase.COMPLETED)
    assert [(a, b) for a, b, _ in _moves(caplog, done.job_id)][2:] == [
        ("QUEUED", "EXECUTING"),
        ("EXECUTING", "COMPLETED"),
    ]
    assert ended.start_time is not None and ended.end_time is not None
    rig.fake.any_submit.clear()
    failed = await rig.jobs.create("bob", [Parameter("cmd", "false")], run=True)
    await asyncio.wait_for(rig.fake.any_submit.wait(), 5)
    rig.fake.set(f"n-{failed.job_id}", "failed", 1)
    await rig.settle(failed.job_id, Phase.ERROR)
    assert [(a, b) for a, b, _ in _moves(caplog, failed.job_id)][2:] == [("QUEUED", "ERROR")]


async def test_abort_and_delete_are_told(rig: Rig, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="ivoa_broker.journal")
    job = await rig.jobs.create(None, [Parameter("cmd", "echo")], run=True)
    await asyncio.wait_for(rig.fake.any_submit.wait(), 5)
    await rig.jobs.abort(job.job_id, None)
    await rig.jobs.delete(job.job_id, None)
    moves = _moves(caplog, job.job_id)
    assert moves[-1] == ("QUEUED", "ABORTED", "aborted at the owner's request")
    deleted = [r for r in caplog.records if getattr(r, "event", "") == "deleted"]
    assert [r.__dict__["job"] for r in deleted] == [job.job_id]
    assert deleted[0].__dict__["owner"] == "-"


# ------------------------------------------------------------ a real broker's log


@pytest.fixture(scope="module")
def broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[BrokerProcess]:
    work = tmp_path_factory.mktemp("journal")
    shutil.copy(DEPLOY / "tokens.txt.example", work / "tokens.txt")
    process = BrokerProcess(work, config=(DEPLOY / "broker.toml").read_text()).start(120)
    yield process
    process.stop()


def _run(broker: BrokerProcess, data: dict[str, str]) -> str:
    created = httpx.post(
        f"{broker.url}/jobs",
        data=data,
        headers={"Authorization": f"Bearer {TOKEN}"},
        follow_redirects=False,
    )
    assert created.status_code == 303, created.text
    return str(created.headers["location"])


def _wait_final(broker: BrokerProcess, job_url: str) -> str:
    auth = {"Authorization": f"Bearer {TOKEN}", "Accept": "application/json"}
    phase = ""
    for _ in range(20):
        phase = httpx.get(f"{job_url}?WAIT=10", headers=auth, timeout=20).json()["phase"]
        if phase in ("COMPLETED", "ERROR", "ABORTED"):
            break
    return phase


def _transitions(broker: BrokerProcess, job_id: str) -> list[dict[str, Any]]:
    lines = [json.loads(x) for x in broker.log.read_text().splitlines() if x.startswith("{")]
    return [x for x in lines if x.get("event") == "transition" and x.get("job") == job_id]


def test_a_real_broker_logs_each_transition(broker: BrokerProcess) -> None:
    url = _run(broker, {"cmd": "true", "PHASE": "RUN"})
    assert _wait_final(broker, url) == "COMPLETED"
    job_id = url.rsplit("/", 1)[1]
    lines = _transitions(broker, job_id)
    assert [(x["from"], x["to"]) for x in lines] == [
        ("", "PENDING"),
        ("PENDING", "QUEUED"),
        ("QUEUED", "EXECUTING"),
        ("EXECUTING", "COMPLETED"),
    ]
    assert {x["owner"] for x in lines} == {"alice"}
    assert lines[-1]["platform"] == "local"
    assert lines[-1]["reason"] == "exit_code=0"
    assert all(x["logger"] == "ivoa_broker.journal" and x["level"] == "info" for x in lines)


def test_a_real_failure_and_abort_say_why(broker: BrokerProcess) -> None:
    failed = _run(broker, {"cmd": "false", "PHASE": "RUN"})
    assert _wait_final(broker, failed) == "ERROR"
    last = _transitions(broker, failed.rsplit("/", 1)[1])[-1]
    assert (last["to"], last["platform"]) == ("ERROR", "local")
    assert last["reason"]
    slow = _run(broker, {"cmd": "sleep", "args": "60", "PHASE": "RUN"})
    auth = {"Authorization": f"Bearer {TOKEN}"}
    httpx.post(f"{slow}/phase", data={"PHASE": "ABORT"}, headers=auth)
    assert _wait_final(broker, slow) == "ABORTED"
    last = _transitions(broker, slow.rsplit("/", 1)[1])[-1]
    assert (last["to"], last["reason"]) == ("ABORTED", "aborted at the owner's request")
    assert TOKEN not in broker.log.read_text()
