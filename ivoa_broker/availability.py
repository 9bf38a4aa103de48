"""The read service behind VOSI ``/availability`` and the ``/readyz`` probe.

Routes ask it, not the store or the dispatcher: it checks that the store answers (and,
for readiness, takes the write lock) and asks every running platform for its health
through the dispatcher's guard.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from ivoa_broker.dispatch import Dispatcher
from ivoa_broker.protocol import Health
from ivoa_broker.registry import InstanceProblem, Plugin
from ivoa_broker.store import JobStore


@dataclass(frozen=True)
class Availability:
    available: bool
    notes: list[str]


@dataclass(frozen=True)
class AvailabilityService:
    store: JobStore
    dispatcher: Dispatcher
    plugins: Mapping[str, Plugin]
    problems: Sequence[InstanceProblem]

    async def check(self) -> Availability:
        """Available when the store answers and at least one platform is healthy."""
        notes: list[str] = []
        store_ok = await self.store.ping()
        if not store_ok:
            notes.append(f"the job store {self.store.path} does not answer")

        async def health(name: str) -> tuple[str, Health]:
            return name, await self.dispatcher.health(name)

        results = await asyncio.gather(*(health(n) for n in self.dispatcher.adapters))
        healthy = [name for name, h in results if h.ok]
        for name, h in results:
            if not h.ok:
                notes.append(f"platform {name} is down: {h.message or 'unhealthy'}")
        if not results:
            notes.append("no platform is configured and running")
        for problem in self.problems:
            notes.append(f"platform {problem.instance} not started: {problem.message}")
        for plugin in self.plugins.values():
            if not plugin.ok:
                notes.append(f"plug-in {plugin.name} is broken: {plugin.error}")
        available = store_ok and bool(healthy)
        if available:
            notes.insert(0, f"accepting jobs on {', '.join(healthy)}")
        return Availability(available, notes)

    async def ready(self) -> Availability:
        """Available, and the store can be written now (readiness probes)."""
        writable = await self.store.writable()
        found = await self.check()
        if writable:
            return found
        notes = [f"the job store {self.store.path} cannot be written", *found.notes]
        return Availability(False, notes)
