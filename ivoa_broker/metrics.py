"""Prometheus metrics (prometheus-client), one registry per broker.

Counters and histograms are fed by the parts that see the events (the job service
for transitions, the dispatcher for platform calls and polls, the WAIT handler, the
offer fan-out, the store); the gauge of jobs by phase and platform is read from the
store at scrape time, so it is true after a restart. Names follow Prometheus
conventions (``_total``, ``_seconds``). Served at ``/metrics`` and, when
``server.metrics_port`` is set, on that port as well.
"""

from __future__ import annotations

import functools
import inspect
import time
from collections.abc import Awaitable, Callable, Iterable, Mapping
from typing import Any, TypeVar

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"

PhaseCounts = Mapping[tuple[str, str], int]
T = TypeVar("T")


class _JobsByPhase(Collector):
    """``ivoa_broker_jobs{phase, platform}`` from the last store count."""

    def __init__(self) -> None:
        self.counts: PhaseCounts = {}

    def collect(self) -> Iterable[GaugeMetricFamily]:
        family = GaugeMetricFamily(
            "ivoa_broker_jobs",
            "Jobs in the store by phase and platform",
            labels=["phase", "platform"],
        )
        for (phase, platform), count in sorted(self.counts.items()):
            family.add_metric([phase, platform], count)
        yield family


class Metrics:
    """The broker's metrics; each method records one kind of event."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self._jobs = _JobsByPhase()
        r.register(self._jobs)
        self.transitions = Counter(
            "ivoa_broker_job_transitions",
            "Job phase changes (from is empty for a new job)",
            ["from", "to", "platform"],
            registry=r,
        )
        self.calls = Histogram(
            "ivoa_broker_platform_call_seconds",
            "Time of adapter calls",
            ["adapter", "method"],
            registry=r,
            buckets=(0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5, 10, 30, 60),
        )
        self.call_errors = Counter(
            "ivoa_broker_platform_call_errors",
            "Adapter calls that raised or timed out",
            ["adapter", "method", "reason"],
            registry=r,
        )
        self.poll_lag = Histogram(
            "ivoa_broker_poll_lag_seconds",
            "How late a poll pass ran after it was due",
            ["adapter"],
            registry=r,
            buckets=(0.001, 0.01, 0.05, 0.1, 0.5, 1, 5, 30),
        )
        self.waiters = Gauge(
            "ivoa_broker_wait_waiters", "Clients blocked in a UWS WAIT", registry=r
        )
        self.fanout = Histogram(
            "ivoa_broker_offer_fanout_seconds",
            "Time to gather offers from every platform",
            registry=r,
            buckets=(0.01, 0.05, 0.1, 0.5, 1, 2, 5, 10),
        )
        self.store = Histogram(
            "ivoa_broker_store_seconds",
            "Time of job store operations",
            ["operation"],
            registry=r,
            buckets=(0.0005, 0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1),
        )
        self._count_jobs: Callable[[], Awaitable[PhaseCounts]] | None = None

    def count_jobs_with(self, query: Callable[[], Awaitable[PhaseCounts]]) -> None:
        """Where the jobs-by-phase gauge reads its numbers at scrape time."""
        self._count_jobs = query

    def count_waiters_with(self, count: Callable[[], int]) -> None:
        """Where the WAIT waiters gauge reads its number at scrape time."""
        self.waiters.set_function(lambda: float(count()))

    def transition(self, before: str, to: str, platform: str | None) -> None:
        self.transitions.labels(before, to, platform or "").inc()

    def poll_late(self, adapter: str, seconds: float | None) -> None:
        """A poll pass of ``adapter`` ran ``seconds`` after it was due (None: woken early)."""
        if seconds is not None:
            self.poll_lag.labels(adapter).observe(max(seconds, 0.0))

    async def fanned_out(self, gathering: Awaitable[T]) -> T:
        """Await the offer fan-out ``gathering`` and record how long it took."""
        started = time.perf_counter()
        try:
            return await gathering
        finally:
            self.fanout.observe(time.perf_counter() - started)

    def instrument_store(self, store: object) -> None:
        """Time every public coroutine method of ``store`` (this instance only), labelled
        with the method's name: the store's code stays free of metrics calls."""
        for name, method in inspect.getmembers(store, inspect.iscoroutinefunction):
            if not name.startswith("_"):
                setattr(store, name, self._timed(name, method))

    def _timed(
        self, operation: str, method: Callable[..., Awaitable[Any]]
    ) -> Callable[..., Awaitable[Any]]:
        observe = self.store.labels(operation).observe

        @functools.wraps(method)
        async def timed(*args: Any, **kwargs: Any) -> Any:
            started = time.perf_counter()
            try:
                return await method(*args, **kwargs)
            finally:
                observe(time.perf_counter() - started)

        return timed

    def call(self, adapter: str, method: str, seconds: float, error: str | None = None) -> None:
        self.calls.labels(adapter, method).observe(seconds)
        if error is not None:
            self.call_errors.labels(adapter, method, error).inc()

    async def render(self) -> bytes:
        if self._count_jobs is not None:
            self._jobs.counts = await self._count_jobs()
        return generate_latest(self.registry)
