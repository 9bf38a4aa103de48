"""pyvo as the client: AsyncTAPJob on broker job URLs (checklist 72-80)."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

import httpx
import pytest
import requests

from tests.server import BrokerProcess
from tests.web.helpers import FAILING, LONG, QUICK, create

pyvo = pytest.importorskip("pyvo")
from pyvo.dal import DALQueryError  # noqa: E402
from pyvo.dal.tap import AsyncTAPJob  # noqa: E402


@pytest.fixture
def session() -> requests.Session:
    return pyvo.utils.http.create_session()


def test_72_to_75_run_wait_results(http: httpx.Client, session: requests.Session) -> None:
    job = AsyncTAPJob(create(http, {"cmd": "sh", "args": ["-c", "echo pyvo-ok"]}), session=session)
    assert job.phase == "PENDING"
    assert job.uws_version == "1.1"
    job.execution_duration = 120
    assert job.execution_duration.value == 120
    when = datetime.now(UTC).replace(tzinfo=None) + timedelta(days=1)
    job.destruction = when
    assert abs((job.destruction.datetime - when).total_seconds()) < 0.01
    started = time.monotonic()
    job.run().wait(timeout=60)
    assert time.monotonic() - started < 10
    assert job.phase == "COMPLETED"
    job.raise_if_error()
    uris = job.result_uris
    assert uris
    stdout = next(u for u in uris if u.endswith("/results/stdout"))
    assert session.get(stdout).text == "pyvo-ok\n"


def test_76_failing_job_raises(http: httpx.Client, session: requests.Session) -> None:
    job = AsyncTAPJob(create(http, FAILING), session=session)
    job.run().wait(timeout=60)
    assert job.phase == "ERROR"
    with pytest.raises(DALQueryError, match="broken"):
        job.raise_if_error()


def test_77_abort(http: httpx.Client, session: requests.Session) -> None:
    job = AsyncTAPJob(create(http, LONG), session=session)
    job.run()
    job.abort()
    assert job.phase == "ABORTED"


def test_78_delete_and_context_manager(http: httpx.Client, session: requests.Session) -> None:
    url = create(http, QUICK)
    job = AsyncTAPJob(url, session=session)
    job.delete()
    assert session.get(url).status_code == 404
    url2 = create(http, QUICK)
    with AsyncTAPJob(url2, session=session) as job2:
        assert job2.phase == "PENDING"
    assert session.get(url2).status_code == 404


def test_79_job_list(http: httpx.Client, broker: BrokerProcess) -> None:
    import io

    from pyvo.io.uws import parse_job_list

    mark = datetime.now(UTC).isoformat()
    urls = [create(http, QUICK) for _ in range(3)]
    body = http.get("/jobs", params={"AFTER": mark}).content
    jobs = parse_job_list(io.BytesIO(body))
    assert sorted(j.jobid for j in jobs) == sorted(u.rsplit("/", 1)[1] for u in urls)
    assert {j.phase for j in jobs} == {"PENDING"}
