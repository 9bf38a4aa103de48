"""The conformance kit against the CANFAR adapter.

By default the platform is the skaha emulator over real HTTP. With
``--adapter-live`` (or ``--adapter-live=canfar``) and ``CANFAR_TOKEN`` set, the
same class runs against a real skaha service: ``CANFAR_URL`` (default the
production service), ``CANFAR_IMAGE`` (default: the first image the service
lists for headless sessions).
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import pytest
from canfar_support import RETRIES, EmulatedCanfar, LiveCanfar, config_for
from ivoa_broker_canfar import CanfarAdapter, CanfarConfig
from ivoa_broker_canfar._config import DEFAULT_URL
from ivoa_broker_canfar.emulator import EmulatorServer, SkahaEmulator
from pydantic import SecretStr

from ivoa_broker.protocol import AdapterDeps, CallContext, ExecutionRequest, Handle
from ivoa_broker.testing import AdapterConformance, PlatformController, WakeSignal, new_job_id

TIMEOUT = 1.0


class TestCanfarConformance(AdapterConformance):
    @pytest.fixture
    def live(self, adapter_live: Callable[[str], bool]) -> bool:
        if not adapter_live("canfar"):
            return False
        if not os.environ.get("CANFAR_TOKEN"):
            pytest.skip("live CANFAR run needs CANFAR_TOKEN (and optionally CANFAR_URL)")
        return True

    @pytest.fixture
    def known_secret(self, live: bool, user: tuple[str, str]) -> str:
        return os.environ["CANFAR_TOKEN"] if live else user[1]

    @pytest.fixture
    def config_minimal(self) -> Mapping[str, Any]:
        return {"token": "a-service-token"}

    @pytest.fixture
    async def adapter_config(self, live: bool, skaha: EmulatorServer, token: str) -> CanfarConfig:
        if not live:
            return config_for(skaha.url, token, timeout_seconds=TIMEOUT)
        url = os.environ.get("CANFAR_URL", DEFAULT_URL)
        probe = CanfarConfig(url=url, token=SecretStr(os.environ["CANFAR_TOKEN"]))
        image = os.environ.get("CANFAR_IMAGE")
        if image is None:
            async with CanfarAdapter("canfar-probe", probe, AdapterDeps(Path("."))) as a:
                listed = await a._client.images(a._token(CallContext()))
            headless = sorted(i.id for i in listed if "headless" in i.types)
            if not headless:
                pytest.skip("the live CANFAR service lists no headless image")
            image = next((i for i in headless if "terminal" in i), headless[0])
        return CanfarConfig(
            url=url, token=SecretStr(os.environ["CANFAR_TOKEN"]), default_image=image
        )

    @pytest.fixture
    async def adapter(
        self, adapter_config: CanfarConfig, tmp_path: Path, wake: WakeSignal
    ) -> AsyncIterator[CanfarAdapter]:
        deps = AdapterDeps(data_dir=tmp_path / "data", wake=wake)
        async with CanfarAdapter("canfar-conformance", adapter_config, deps) as adapter:
            yield adapter

    @pytest.fixture
    def platform(
        self,
        live: bool,
        adapter: CanfarAdapter,
        ctx: CallContext,
        emulator: SkahaEmulator,
        user: tuple[str, str],
    ) -> PlatformController:
        if live:
            return LiveCanfar(adapter, ctx)
        return EmulatedCanfar(emulator, user[0], RETRIES, TIMEOUT)

    @pytest.fixture
    def max_wait(self, live: bool) -> float:
        return 900.0 if live else 30.0

    @pytest.fixture
    def concurrent_submits(self, live: bool) -> int:
        return 3 if live else 20

    @pytest.fixture
    def native_states_sample(self) -> Sequence[str]:
        # the server constants, and the older vocabulary of the python client
        return ("Pending", "Running", "Terminating", "Succeeded", "Completed", "Failed", "Error")

    # skaha passes ``args`` as one string split on single spaces: the kit's
    # default commands (``sh -c 'echo hello; ...'``) would be mangled, so the
    # same scripts are written without spaces (``${IFS}`` expands to one).

    @pytest.fixture
    def request_ok(self) -> ExecutionRequest:
        return ExecutionRequest(
            job_id=new_job_id(),
            owner="conformance",
            command=("sh", "-c", "echo${IFS}hello;echo${IFS}oops>&2"),
        )

    @pytest.fixture
    def request_failing(self) -> ExecutionRequest:
        return ExecutionRequest(
            job_id=new_job_id(), owner="conformance", command=("sh", "-c", "exit${IFS}3")
        )

    @pytest.fixture
    def request_invalid(self) -> ExecutionRequest:
        # an argument skaha cannot pass intact
        return ExecutionRequest(
            job_id=new_job_id(), owner="conformance", command=("echo", "two words")
        )

    # one extra fixture (``live``): pytest passes fixtures by name
    async def test_lifecycle_failing_task_is_error_with_exit_code(  # type: ignore[override]
        self,
        live: bool,
        adapter: CanfarAdapter,
        platform: PlatformController,
        request_failing: ExecutionRequest,
        failing_exit_code: int | None,
        ctx: CallContext,
        max_wait: float,
        wake: WakeSignal,
        track: list[Handle],
    ) -> None:
        if live:
            pytest.skip("real skaha reports no exit codes (Kubernetes events carry none)")
        await super().test_lifecycle_failing_task_is_error_with_exit_code(
            adapter, platform, request_failing, failing_exit_code, ctx, max_wait, wake, track
        )
