"""The conformance kit against the BinderHub adapter: emulator + a real JupyterHub.

Sessions of repository ``short`` are culled a second after they are ready (they end
COMPLETED), ``session`` runs until cancelled, ``broken`` fails to build (ERROR,
build_failed). With ``--adapter-live=binderhub`` and ``BINDERHUB_URL`` (+
``BINDERHUB_TOKEN``, ``JUPYTERHUB_URL``, ``JUPYTERHUB_TOKEN``, ``BINDERHUB_REPO``)
the same class runs against that BinderHub.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Callable, Mapping
from pathlib import Path
from typing import Any

import pytest
from binder_support import BinderPlatform, adapter_config
from ivoa_broker_binderhub import BinderHubAdapter, BinderHubConfig
from pydantic import SecretStr

from ivoa_broker.protocol import AdapterDeps, ExecutionRequest, Resources
from ivoa_broker.testing import AdapterConformance, PlatformController, PlatformControls, WakeSignal
from ivoa_broker.testing.conformance import new_job_id


def _request(repo: str, ref: str = "main", **kw: Any) -> ExecutionRequest:
    return ExecutionRequest(
        job_id=new_job_id(),
        owner="conformance",
        kind="interactive",
        extensions={"binder.repo": repo, "binder.ref": ref, "binder.provider": "git", **kw},
    )


class LiveBinder:
    @property
    def controls(self) -> PlatformControls:
        return PlatformControls(native_ids=False)

    async def native_ids(self) -> set[str]:
        return set()

    def fail_next(self, op: str, fault: object) -> None:
        raise AssertionError("no faults on a live BinderHub")

    async def finish(self, native_id: str, exit_code: int) -> None:
        raise AssertionError("sessions end by themselves")


class TestBinderHubConformance(AdapterConformance):
    @pytest.fixture
    def live(self, adapter_live: Callable[[str], bool]) -> bool:
        if not adapter_live("binderhub"):
            return False
        if not os.environ.get("BINDERHUB_URL"):
            pytest.skip("a live BinderHub run needs BINDERHUB_URL (and the hub's URL/token)")
        return True

    @pytest.fixture
    def repo_urls(self, live: bool, request: pytest.FixtureRequest) -> dict[str, str]:
        if live:
            repo = os.environ.get(
                "BINDERHUB_REPO", "https://github.com/binder-examples/requirements"
            )
            return {"session": repo, "short": repo, "broken": repo + "-does-not-exist"}
        found: dict[str, Path] = request.getfixturevalue("repos")
        return {k: str(v) for k, v in found.items()}

    @pytest.fixture
    def adapter_config(self, live: bool, request: pytest.FixtureRequest) -> BinderHubConfig:
        if live:
            env = os.environ
            return BinderHubConfig(
                url=env["BINDERHUB_URL"],
                token=SecretStr(env["BINDERHUB_TOKEN"]) if env.get("BINDERHUB_TOKEN") else None,
                hub_url=env.get("JUPYTERHUB_URL", env["BINDERHUB_URL"]),
                hub_token=SecretStr(env.get("JUPYTERHUB_TOKEN", "")),
            )
        return adapter_config(request.getfixturevalue("binder_url"), request.getfixturevalue("hub"))

    @pytest.fixture
    def known_secret(self, live: bool) -> str | None:
        return None if live else "binder-secret-token"

    @pytest.fixture
    def config_minimal(self) -> Mapping[str, Any]:
        return {"url": "https://mybinder.org"}

    @pytest.fixture
    def request_ok(self, repo_urls: dict[str, str]) -> ExecutionRequest:
        return _request(repo_urls["short"])

    @pytest.fixture
    def expected_output(self) -> str | None:
        return None

    @pytest.fixture
    def request_failing(self, repo_urls: dict[str, str]) -> ExecutionRequest:
        return _request(repo_urls["broken"])

    @pytest.fixture
    def failing_exit_code(self) -> int | None:
        return None

    @pytest.fixture
    def request_long(self, repo_urls: dict[str, str]) -> ExecutionRequest:
        return _request(repo_urls["session"])

    @pytest.fixture
    def request_impossible(self, repo_urls: dict[str, str]) -> ExecutionRequest:
        return ExecutionRequest(
            job_id=new_job_id(),
            owner="conformance",
            kind="interactive",
            extensions={"binder.repo": repo_urls["session"]},
            resources=Resources(cores=1e6, memory_bytes=2**62, gpus=100_000),
        )

    @pytest.fixture
    def request_invalid(self) -> ExecutionRequest:
        return ExecutionRequest(
            job_id=new_job_id(),
            owner="conformance",
            kind="interactive",
            extensions={"binder.repo": "not a repository"},
        )

    @pytest.fixture
    async def adapter(
        self, adapter_config: BinderHubConfig, tmp_path: Path, wake: WakeSignal
    ) -> AsyncIterator[BinderHubAdapter]:
        deps = AdapterDeps(data_dir=tmp_path / "data", wake=wake)
        async with BinderHubAdapter("binderhub-conformance", adapter_config, deps) as adapter:
            yield adapter

    @pytest.fixture
    def platform(
        self, live: bool, request: pytest.FixtureRequest, tmp_path: Path
    ) -> PlatformController:
        if live:
            return LiveBinder()
        return BinderPlatform(
            request.getfixturevalue("hub"),
            tmp_path / "data",
            request.getfixturevalue("emulator"),
            tag="binderhub-conformance",  # the adapter's instance name
        )

    @pytest.fixture
    def max_wait(self) -> float:
        return 120.0

    @pytest.fixture
    def concurrent_submits(self) -> int:
        return 3

    @pytest.fixture
    def native_states_sample(self) -> tuple[str, ...]:
        return (
            "waiting",
            "fetching",
            "building",
            "pushing",
            "built",
            "launching",
            "ready",
            "failed",
        )
