"""Helpers of the Kubernetes tests: configuration, and platform controllers for
the conformance kit (the emulator, and a real cluster)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ivoa_broker_kubernetes import KubernetesAdapter, KubernetesConfig
from ivoa_broker_kubernetes.emulator import KubernetesEmulator

from ivoa_broker.protocol import CallContext
from ivoa_broker.testing import Fault, PlatformControls

TOKEN = "emulated-sa-token-3f9c2a"
IMAGE = "busybox:1.36"
#: fast retries so fault tests stay quick; the number matters to fault counts
RETRIES = 2


def config_for(kubeconfig: Path, **overrides: Any) -> KubernetesConfig:
    values: dict[str, Any] = {
        "kubeconfig": kubeconfig,
        "retries": RETRIES,
        "backoff_seconds": 0.01,
        "timeout_seconds": 5.0,
        "default_image": IMAGE,
        "termination_grace_seconds": 1,
        "watch_timeout_seconds": 5,
    }
    values.update(overrides)
    return KubernetesConfig.model_validate(values)


def _targets(ns: str) -> dict[str, tuple[str, str]]:
    """adapter operation -> (method, path prefix) of the first API call it makes."""
    jobs = f"/apis/batch/v1/namespaces/{ns}/jobs"
    return {
        "health": ("GET", "/version"),
        "offers": ("GET", f"/api/v1/namespaces/{ns}/resourcequotas"),
        "submit": ("POST", jobs),
        "status": ("GET", f"/api/v1/namespaces/{ns}/pods"),
        "list_native": ("GET", jobs),
        "cancel": ("GET", jobs + "/"),
        "cleanup": ("DELETE", jobs + "/"),
        "logs": ("GET", f"/api/v1/namespaces/{ns}/pods"),
    }


_EVERYTHING: frozenset[Fault] = frozenset(f for f in Fault if f is not Fault.NOT_FOUND)


class EmulatedKubernetes:
    """Drives the API emulator for one namespace.

    Faults the client retries (5xx, timeouts, broken connections) are injected
    ``1 + retries`` times so that they outlast the retries; a create (POST) is
    never retried, so once is enough there.
    """

    def __init__(self, emulator: KubernetesEmulator, namespace: str, instance: str, timeout: float):
        self.emulator = emulator
        self.namespace = namespace
        self.instance = instance
        self.timeout = timeout

    @property
    def controls(self) -> PlatformControls:
        faults = {op: _EVERYTHING for op in _targets(self.namespace)}
        for op in ("status", "cancel", "cleanup"):
            faults[op] = _EVERYTHING | {Fault.NOT_FOUND}
        return PlatformControls(native_ids=True, finish=False, faults=faults)

    async def native_ids(self) -> set[str]:
        ids = set()
        for kind in ("Job", "Pod"):
            for obj in self.emulator.objects(kind, self.namespace):
                meta = obj["metadata"]
                labels = meta.get("labels") or {}
                if labels.get("ivoa-broker.org/instance") != self.instance:
                    continue
                if kind == "Pod" and labels.get("ivoa-broker.org/kind") != "interactive":
                    continue
                if not meta.get("deletionTimestamp"):
                    ids.add(f"{self.namespace}/{meta['name']}")
        return ids

    async def finish(self, native_id: str, exit_code: int) -> None:
        raise NotImplementedError("emulated pods end by themselves")

    def fail_next(self, op: str, fault: Fault) -> None:
        method, prefix = _targets(self.namespace)[op]
        faults = self.emulator.faults
        if fault is Fault.NOT_FOUND:
            for kind in ("Job", "Pod"):
                for obj in self.emulator.objects(kind, self.namespace):
                    self.emulator.remove(kind, self.namespace, obj["metadata"]["name"])
            return
        count = 1 if method == "POST" else 1 + RETRIES
        if fault is Fault.AUTH:
            faults.fail_next(401, method=method, prefix=prefix, watch=False, message="Unauthorized")
        elif fault is Fault.UNAVAILABLE:
            faults.fail_next(
                503, count=count, method=method, prefix=prefix, watch=False, retry_after=0
            )
        elif fault is Fault.TIMEOUT:
            faults.slow_next(self.timeout * 2, count=count, method=method, prefix=prefix)
        elif fault is Fault.CONNECTION:
            faults.drop_next(count=count, method=method, prefix=prefix)
        elif fault is Fault.GARBAGE:
            faults.garbage_next(method=method, prefix=prefix)


class LiveKubernetes:
    """Inspects a real cluster through the adapter's own listing."""

    def __init__(self, adapter: KubernetesAdapter, ctx: CallContext) -> None:
        self.adapter = adapter
        self.ctx = ctx

    @property
    def controls(self) -> PlatformControls:
        return PlatformControls(native_ids=True, finish=False, faults={})

    async def native_ids(self) -> set[str]:
        return set(await self.adapter.list_native(self.ctx))

    def fail_next(self, op: str, fault: Fault) -> None:
        raise NotImplementedError("no fault injection on a real cluster")

    async def finish(self, native_id: str, exit_code: int) -> None:
        raise NotImplementedError("real pods end by themselves")
