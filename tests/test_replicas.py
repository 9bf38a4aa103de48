"""Two broker replicas on one real PostgreSQL behind a real nginx (round-robin).

pyvo (its HTTP session and AsyncTAPJob's WAIT) creates and follows jobs through the
balancer; a change made on one replica wakes a WAIT blocked on the other; the
replica holding the ``dispatcher`` lease is SIGKILLed while jobs run and queue, and
the survivor takes over: every job that got a 303 is there with its parameters and
reaches COMPLETED, and each job's command ran exactly once (a marker file per job,
one line per run).
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from ivoa_broker.testing.postgres import PostgresServer
from tests.nginx import needs_nginx, running_nginx
from tests.server import BrokerProcess, free_port, local_platform

pyvo = pytest.importorskip("pyvo")
from pyvo.dal.tap import AsyncTAPJob  # noqa: E402

pytestmark = needs_nginx

UPSTREAM = """
    upstream brokers {{
        server 127.0.0.1:{a} max_fails=0;
        server 127.0.0.1:{b} max_fails=0;
    }}"""
LOCATION = """
        location / {
            proxy_pass http://brokers;
            proxy_read_timeout 120s;
            proxy_next_upstream error timeout;
            proxy_set_header Host $http_host;
            proxy_set_header X-Forwarded-For $remote_addr;
            proxy_set_header X-Forwarded-Proto $scheme;
        }"""


@dataclass
class Cluster:
    url: str
    replicas: list[BrokerProcess]
    database: str
    markers: Path
    server: PostgresServer

    def leader(self) -> BrokerProcess:
        """The replica holding the dispatcher lease (its pid is in the holder name)."""
        for _ in range(200):
            holder = self.server.psql(
                f"SELECT holder FROM {self.database}.leases WHERE name = 'dispatcher'", "broker"
            )
            if holder:
                pid = int(holder.split(":")[1])
                for replica in self.replicas:
                    if replica.proc is not None and replica.proc.pid == pid:
                        return replica
            time.sleep(0.05)
        raise AssertionError("no replica holds the dispatcher lease")


@pytest.fixture(scope="module")
def cluster(
    tmp_path_factory: pytest.TempPathFactory, postgres_server: PostgresServer
) -> Iterator[Cluster]:
    top = tmp_path_factory.mktemp("replicas")
    schema = f"r{os.getpid()}_{free_port()}"
    postgres_server.psql(f"CREATE SCHEMA {schema}", "broker")
    url = f"{postgres_server.url('broker')}?search_path={schema}"
    shared = top / "work"  # the local adapter's job folders, seen by both replicas
    markers = top / "markers"
    markers.mkdir()
    config = (
        f'[server]\nwork_dir = "{shared}"\nforwarded_allow_ips = "127.0.0.1"\n'
        f'[store]\nurl = "{url}"\n[jobs]\nwait_cap = 60\n'
        # the jobs append to marker files of this test (how a second run is seen), which
        # bubblewrap's private file system would hide: these jobs run unsandboxed
        + local_platform(sandbox="none")
    )
    replicas = []
    for name in ("a", "b"):
        (top / name).mkdir()
        replicas.append(BrokerProcess(top / name, config=config))
    for replica in replicas:
        replica.start()
    upstream = UPSTREAM.format(a=replicas[0].port, b=replicas[1].port)
    try:
        with running_nginx(top / "nginx", LOCATION, http=upstream, connections=256) as balanced:
            yield Cluster(balanced, replicas, schema, markers, postgres_server)
    finally:
        for replica in replicas:
            replica.stop()


def create(session: object, url: str, params: dict[str, object]) -> str | None:
    """POST /jobs through the balancer; the job URL on a 303, None if the replica
    that got the request was down (nginx answers 502 for a POST it cannot retry)."""
    response = session.post(f"{url}/jobs", data=params, allow_redirects=False)  # type: ignore[attr-defined]
    if response.status_code == 502:
        return None
    assert response.status_code == 303, response.text
    location: str = response.headers["Location"]
    return location


def test_wait_on_one_replica_is_woken_by_a_change_on_the_other(cluster: Cluster) -> None:
    a, b = cluster.replicas
    job = create(pyvo.utils.http.create_session(), a.url, {"cmd": "sh", "args": ["-c", "sleep 30"]})
    assert job is not None
    job_id = job.rsplit("/", 1)[1]
    seen: list[str] = []

    def wait_on_b() -> None:
        doc = httpx.get(f"{b.url}/jobs/{job_id}?WAIT=50", timeout=70).text
        seen.append(doc)

    waiter = threading.Thread(target=wait_on_b)
    waiter.start()
    time.sleep(0.5)  # B is blocked in its WAIT (nothing to wait for on an event here)
    assert waiter.is_alive()
    httpx.post(f"{a.url}/jobs/{job_id}/phase", data={"PHASE": "RUN"})
    waiter.join(70)
    assert seen, "the WAIT on B never returned"
    assert "<uws:phase>PENDING</uws:phase>" not in seen[0]  # woken by A's change, not timed out
    httpx.post(f"{a.url}/jobs/{job_id}/phase", data={"PHASE": "ABORT"})


def test_sigkill_of_the_leader_loses_no_job_and_runs_none_twice(cluster: Cluster) -> None:
    session = pyvo.utils.http.create_session()
    jobs: dict[str, int] = {}

    def submit(n: int) -> None:
        marker = cluster.markers / f"{n}"
        params = {
            "cmd": "sh",
            "args": ["-c", f"echo ran >> {marker}; sleep 2"],
            "PHASE": "RUN",
            "RUNID": f"load-{n}",
        }
        for _ in range(5):  # a 502 (the dead replica) created nothing: try again
            job = create(session, cluster.url, params)
            if job is not None:
                jobs[job] = n
                return
        raise AssertionError(f"job {n} never got a 303")

    for n in range(8):
        submit(n)
    leader = cluster.leader()
    leader.kill()
    survivor = next(r for r in cluster.replicas if r is not leader)
    for n in range(8, 14):  # load goes on while the survivor takes over
        submit(n)
    for url, n in jobs.items():
        job = AsyncTAPJob(url, session=session)
        job.wait(phases={"COMPLETED", "ERROR", "ABORTED"}, timeout=120)
        assert job.phase == "COMPLETED", (n, job.phase, survivor.log.read_text()[-3000:])
        doc = httpx.get(url).text
        assert f"load-{n}" in doc  # RUNID kept
        assert f"{cluster.markers}/{n}" in doc  # its parameters too
    for n in jobs.values():
        assert (cluster.markers / f"{n}").read_text() == "ran\n", f"job {n} ran more than once"
    assert cluster.leader() is survivor
