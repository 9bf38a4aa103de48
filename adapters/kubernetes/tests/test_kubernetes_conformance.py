"""The conformance kit against the Kubernetes adapter.

By default the platform is the API emulator over real HTTP (pods run as local
processes). With ``--adapter-live`` (or ``--adapter-live=kubernetes``) and
``KUBECONFIG`` set, the same class runs against a real cluster:
``K8S_NAMESPACE`` (default: the context's namespace), ``K8S_CONTEXT``,
``K8S_IMAGE`` (default ``busybox:1.36``; it needs ``sh``, ``echo``, ``sleep``).
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import pytest
from ivoa_broker_kubernetes import KubernetesAdapter, KubernetesConfig
from ivoa_broker_kubernetes.emulator import KubernetesEmulator
from k8s_support import IMAGE, TOKEN, EmulatedKubernetes, LiveKubernetes, config_for

from ivoa_broker.protocol import AdapterDeps, CallContext
from ivoa_broker.testing import AdapterConformance, PlatformController, WakeSignal

TIMEOUT = 2.5  # API call timeout; the fault tests wait twice that per attempt
INSTANCE = "k8s-conformance"


class TestKubernetesConformance(AdapterConformance):
    @pytest.fixture
    def live(self, adapter_live: Callable[[str], bool]) -> bool:
        if not adapter_live("kubernetes"):
            return False
        if not os.environ.get("KUBECONFIG"):
            pytest.skip("a live Kubernetes run needs KUBECONFIG (and optionally K8S_NAMESPACE)")
        return True

    @pytest.fixture
    def known_secret(self, live: bool) -> str | None:
        return None if live else TOKEN

    @pytest.fixture
    def config_minimal(self) -> Mapping[str, Any]:
        return {}

    @pytest.fixture
    def adapter_config(self, live: bool, request: pytest.FixtureRequest) -> KubernetesConfig:
        if not live:
            kubeconfig: Path = request.getfixturevalue("kubeconfig")
            return config_for(kubeconfig, timeout_seconds=TIMEOUT)
        return KubernetesConfig(
            kubeconfig=Path(os.environ["KUBECONFIG"].split(os.pathsep)[0]),
            context=os.environ.get("K8S_CONTEXT") or None,
            namespace=os.environ.get("K8S_NAMESPACE") or None,
            default_image=os.environ.get("K8S_IMAGE", IMAGE),
            termination_grace_seconds=2,
        )

    @pytest.fixture
    async def adapter(
        self, adapter_config: KubernetesConfig, tmp_path: Path, wake: WakeSignal
    ) -> AsyncIterator[KubernetesAdapter]:
        deps = AdapterDeps(data_dir=tmp_path / "data", wake=wake)
        async with KubernetesAdapter(INSTANCE, adapter_config, deps) as adapter:
            yield adapter

    @pytest.fixture
    def platform(
        self,
        live: bool,
        adapter: KubernetesAdapter,
        ctx: CallContext,
        request: pytest.FixtureRequest,
    ) -> PlatformController:
        if live:
            return LiveKubernetes(adapter, ctx)
        emulator: KubernetesEmulator = request.getfixturevalue("emulator")
        namespace: str = request.getfixturevalue("namespace")
        return EmulatedKubernetes(emulator, namespace, INSTANCE, TIMEOUT)

    @pytest.fixture
    def max_wait(self, live: bool) -> float:
        return 600.0 if live else 30.0

    @pytest.fixture
    def concurrent_submits(self, live: bool) -> int:
        return 5 if live else 20

    @pytest.fixture
    def native_states_sample(self) -> Sequence[str]:
        # pod phases, and the Job conditions the adapter reports
        return ("Pending", "Running", "Succeeded", "Failed", "Unknown", "Complete", "Terminating")
