"""The Prometheus metrics are fed: each helper of :class:`Metrics` records what it should,
and a real broker's ``/metrics`` shows transitions, poll lag, WAIT waiters, offer fan-out and
store latency after real jobs ran through it."""

from __future__ import annotations

import asyncio
import shutil
import threading
from collections.abc import AsyncIterator, Iterator
from datetime import timedelta
from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from ivoa_broker.metrics import Metrics
from ivoa_broker.protocol import Phase
from ivoa_broker.records import Parameter
from tests.fakes import FakeAdapter
from tests.rig import Rig, make_rig
from tests.server import BrokerProcess

DEPLOY = Path(__file__).resolve().parent.parent / "deploy"
TOKEN = "0123456789abcdef0123456789abcdef"


def _value(metrics: Metrics, name: str, **labels: str) -> float | None:
    return metrics.registry.get_sample_value(name, labels)


def test_poll_late_observes_only_timed_out_naps() -> None:
    metrics = Metrics()
    metrics.poll_late("a", None)
    assert _value(metrics, "ivoa_broker_poll_lag_seconds_count", adapter="a") is None
    metrics.poll_late("a", 0.2)
    metrics.poll_late("a", -0.001)  # a clock tick early counts as on time
    assert _value(metrics, "ivoa_broker_poll_lag_seconds_count", adapter="a") == 2.0
    assert _value(metrics, "ivoa_broker_poll_lag_seconds_sum", adapter="a") == pytest.approx(0.2)


async def test_fanned_out_times_the_gathering_and_passes_its_result() -> None:
    metrics = Metrics()

    async def offers() -> list[str]:
        await asyncio.sleep(0.01)
        return ["o1"]

    assert await metrics.fanned_out(offers()) == ["o1"]
    assert _value(metrics, "ivoa_broker_offer_fanout_seconds_count") == 1.0
    assert (_value(metrics, "ivoa_broker_offer_fanout_seconds_sum") or 0) > 0


async def test_fanned_out_records_a_failed_gathering_too() -> None:
    metrics = Metrics()

    async def broken() -> None:
        raise RuntimeError("boom")

    with pytest.raises(RuntimeError):
        await metrics.fanned_out(broken())
    assert _value(metrics, "ivoa_broker_offer_fanout_seconds_count") == 1.0


class _Store:
    def __init__(self) -> None:
        self.calls: list[str] = []

    async def get(self, key: str) -> str:
        self.calls.append(key)
        return key.upper()

    async def _private(self) -> None:
        raise AssertionError("never timed")

    def sync(self) -> int:
        return 1


async def test_instrument_store_times_public_coroutines_of_that_instance() -> None:
    metrics = Metrics()
    store = _Store()
    metrics.instrument_store(store)
    assert await store.get("x") == "X"
    assert store.calls == ["x"]
    assert _value(metrics, "ivoa_broker_store_seconds_count", operation="get") == 1.0
    assert _value(metrics, "ivoa_broker_store_seconds_count", operation="_private") is None
    assert store.sync() == 1
    other = _Store()
    await other.get("y")  # another instance is not measured
    assert _value(metrics, "ivoa_broker_store_seconds_count", operation="get") == 1.0


def test_waiters_gauge_reads_its_count_at_scrape_time() -> None:
    metrics = Metrics()
    count = [0]
    metrics.count_waiters_with(lambda: count[0])
    assert _value(metrics, "ivoa_broker_wait_waiters") == 0.0
    count[0] = 3
    assert _value(metrics, "ivoa_broker_wait_waiters") == 3.0


@pytest.fixture
async def rig(tmp_path: Path, both_stores: str | None) -> AsyncIterator[Rig]:
    """A rig on SQLite and on PostgreSQL (tests/stores.py)."""
    r = await make_rig(tmp_path)
    yield r
    await r.close()


class _QuickFake(FakeAdapter):
    poll_interval = timedelta(seconds=0.05)


async def test_the_dispatcher_feeds_fanout_and_poll_lag(tmp_path: Path) -> None:
    fake = _QuickFake()
    rig = await make_rig(tmp_path, fake)
    try:
        metrics = Metrics()
        rig.dispatcher.metrics = metrics
        job = await rig.jobs.create(None, [Parameter("cmd", "echo")], run=True)
        await asyncio.wait_for(fake.any_submit.wait(), 5)
        assert _value(metrics, "ivoa_broker_offer_fanout_seconds_count") == 1.0
        fake.set(f"n-{job.job_id}", "running")
        await rig.settle(job.job_id, Phase.EXECUTING)
        fake.native[f"n-{job.job_id}"] = "done"  # no wake: only a timed poll pass sees it
        await rig.settle(job.job_id, Phase.COMPLETED)
        lag = _value(metrics, "ivoa_broker_poll_lag_seconds_count", adapter=fake.name)
        assert lag is not None and lag >= 1
    finally:
        await rig.close()


async def test_the_job_service_counts_waiters(rig: Rig) -> None:
    job = await rig.jobs.create(None, [Parameter("cmd", "echo")])
    assert rig.jobs.events.waiters == 0
    waiting = [asyncio.create_task(rig.jobs.wait(job.job_id, None, 5, None)) for _ in range(2)]
    await asyncio.sleep(0.05)
    assert rig.jobs.events.waiters == 2
    await rig.jobs.run(job.job_id, None)
    await asyncio.gather(*waiting)
    assert rig.jobs.events.waiters == 0


# ------------------------------------------------------------ a real broker's /metrics


@pytest.fixture(scope="module")
def broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[BrokerProcess]:
    work = tmp_path_factory.mktemp("metrics")
    shutil.copy(DEPLOY / "tokens.txt.example", work / "tokens.txt")
    process = BrokerProcess(work, config=(DEPLOY / "broker.toml").read_text()).start(120)
    yield process
    process.stop()


def _samples(broker: BrokerProcess) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    text = httpx.get(f"{broker.url}/metrics").text
    return {
        (s.name, frozenset(s.labels.items())): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def _get(
    samples: dict[tuple[str, frozenset[tuple[str, str]]], float], name: str, **labels: str
) -> float:
    return samples.get((name, frozenset(labels.items())), 0.0)


def test_a_real_broker_exposes_fed_metrics(broker: BrokerProcess) -> None:
    auth = {"Authorization": f"Bearer {TOKEN}"}
    created = httpx.post(
        f"{broker.url}/jobs",
        data={"cmd": "sleep", "args": "2", "PHASE": "RUN"},
        headers=auth,
        follow_redirects=False,
    )
    job = created.headers["location"]
    # a client blocked in WAIT while the job runs (the gauge is read at scrape time)
    phases: list[str] = []

    def wait() -> None:
        for _ in range(5):
            got = httpx.get(
                f"{job}?WAIT=20", headers={**auth, "Accept": "application/json"}, timeout=30
            ).json()["phase"]
            phases.append(got)
            if got == "COMPLETED":
                return

    waiter = threading.Thread(target=wait)
    waiter.start()
    seen_waiting = 0.0
    for _ in range(200):
        seen_waiting = _get(_samples(broker), "ivoa_broker_wait_waiters")
        if seen_waiting >= 1 or not waiter.is_alive():
            break
        threading.Event().wait(0.02)
    waiter.join(60)
    assert phases[-1] == "COMPLETED"
    assert seen_waiting >= 1
    samples = _samples(broker)
    assert _get(samples, "ivoa_broker_wait_waiters") == 0
    counted = {
        (dict(labels)["from"], dict(labels)["to"])
        for (name, labels), value in samples.items()
        if name == "ivoa_broker_job_transitions_total"
        and value >= 1
        and dict(labels)["platform"] in ("local", "")
    }
    assert {
        ("", "PENDING"),
        ("PENDING", "QUEUED"),
        ("QUEUED", "EXECUTING"),
        ("EXECUTING", "COMPLETED"),
    } <= counted
    assert (
        _get(
            samples,
            "ivoa_broker_job_transitions_total",
            **{"from": "EXECUTING", "to": "COMPLETED", "platform": "local"},
        )
        >= 1
    )
    assert _get(samples, "ivoa_broker_offer_fanout_seconds_count") >= 1
    # the poll lag is fed when a timed nap ends (test_the_dispatcher_feeds_fanout_and_poll_lag);
    # the local platform mostly wakes its poller from the job's exit, so only the family shows
    assert (
        "# TYPE ivoa_broker_poll_lag_seconds histogram" in httpx.get(f"{broker.url}/metrics").text
    )
    for operation in ("insert", "get", "move"):
        assert _get(samples, "ivoa_broker_store_seconds_count", operation=operation) >= 1, operation
