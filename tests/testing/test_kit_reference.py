"""The conformance kit run against its reference adapter (a REST task service fake)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio
from pydantic import SecretStr

from ivoa_broker.protocol import AdapterDeps
from ivoa_broker.testing import AdapterConformance, WakeSignal

from .memory_rest import TaskAdapter, TaskConfig, TaskService

SECRET = "tok-7f3a9c-never-shown"


class TestTaskAdapterConformance(AdapterConformance):
    @pytest.fixture
    def platform(self) -> TaskService:
        return TaskService()

    @pytest.fixture
    def deps(self, tmp_path: Path, wake: WakeSignal) -> AdapterDeps:
        return AdapterDeps(data_dir=tmp_path, wake=wake)

    @pytest_asyncio.fixture
    async def adapter(self, platform: TaskService, deps: AdapterDeps) -> AsyncIterator[TaskAdapter]:
        async with platform.http.client() as client:
            adapter = TaskAdapter("tasks-test", TaskConfig(token=SecretStr(SECRET)), deps, client)
            async with adapter:
                yield adapter

    @pytest_asyncio.fixture
    async def fresh_adapter(
        self, platform: TaskService, deps: AdapterDeps
    ) -> AsyncIterator[TaskAdapter]:
        async with platform.http.client() as client:
            adapter = TaskAdapter("tasks-test", TaskConfig(token=SecretStr(SECRET)), deps, client)
            async with adapter:
                yield adapter

    @pytest.fixture
    def entry_point_name(self) -> str | None:
        return None  # a test-only adapter, deliberately not installed

    @pytest.fixture
    def native_states_sample(self) -> Sequence[str]:
        return ("queued", "running", "done", "failed", "cancelled")

    @pytest.fixture
    def config_minimal(self) -> Mapping[str, Any]:
        return {}

    @pytest.fixture
    def known_secret(self) -> str | None:
        return SECRET

    @pytest.fixture
    def max_wait(self) -> float:
        return 5.0
