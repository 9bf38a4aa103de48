"""Fixtures of the Kubernetes adapter tests: one API emulator over real HTTP on
loopback for the whole session (its own state folder, a free port), and a fresh
namespace + kubeconfig per test (so tests never see each other's objects)."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from ivoa_broker_kubernetes import KubernetesAdapter, KubernetesConfig
from ivoa_broker_kubernetes.emulator import (
    ClusterSettings,
    EmulatorServer,
    KubernetesEmulator,
    NodeSpec,
)
from k8s_support import TOKEN, config_for

from ivoa_broker.protocol import AdapterDeps, CallContext


@pytest.fixture(scope="session")
def k8s(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmulatorServer]:
    settings = ClusterSettings(
        nodes=(
            NodeSpec("node-a", cpu="4", memory="8Gi", gpus=2),
            NodeSpec("node-b", cpu="2", memory="4Gi"),
        ),
        pull_delay=0.02,
        max_grace_seconds=2.0,
        bookmark_seconds=0.5,
        state_dir=tmp_path_factory.mktemp("k8s-emulator"),
    )
    with EmulatorServer(KubernetesEmulator(settings, tokens={TOKEN}), tls=True) as server:
        yield server


@pytest.fixture
def emulator(k8s: EmulatorServer) -> Iterator[KubernetesEmulator]:
    emulator = k8s.emulator
    yield emulator
    emulator.faults.clear()
    emulator.cordon(unschedulable=False)


@pytest.fixture
def namespace(emulator: KubernetesEmulator) -> str:
    name = f"t-{uuid.uuid4().hex[:10]}"
    emulator.create("Namespace", {"metadata": {"name": name}})
    return name


@pytest.fixture
def kubeconfig(tmp_path: Path, k8s: EmulatorServer, namespace: str) -> Path:
    path = tmp_path / "kubeconfig"
    path.write_text(k8s.kubeconfig(TOKEN, namespace))
    return path


@pytest.fixture
def config(kubeconfig: Path) -> KubernetesConfig:
    return config_for(kubeconfig)


@pytest.fixture
def deps(tmp_path: Path) -> AdapterDeps:
    return AdapterDeps(data_dir=tmp_path / "data")


@pytest.fixture
async def kube(config: KubernetesConfig, deps: AdapterDeps) -> AsyncIterator[KubernetesAdapter]:
    async with KubernetesAdapter("k8s-test", config, deps) as adapter:
        yield adapter


@pytest.fixture
def call() -> CallContext:
    return CallContext(owner="alice", request_id="t")
