"""The SSH adapter against the conformance kit, on a real OpenSSH server."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from pathlib import Path

import pytest
from ivoa_broker_ssh import SSHAdapter, SSHConfig
from ssh_platform import LocalSSHPlatform, RemoteSSHPlatform

from ivoa_broker.protocol import AdapterDeps
from ivoa_broker.testing import AdapterConformance, WakeSignal


class TestSSHConformance(AdapterConformance):
    @pytest.fixture
    def platform(
        self, ssh_config: SSHConfig, ssh_live: bool, request: pytest.FixtureRequest
    ) -> LocalSSHPlatform | RemoteSSHPlatform:
        if ssh_live:
            return RemoteSSHPlatform(ssh_config)
        return LocalSSHPlatform(Path(ssh_config.work_dir), request.getfixturevalue("ssh_proxy"))

    @pytest.fixture
    def deps(self, tmp_path: Path, wake: WakeSignal) -> AdapterDeps:
        return AdapterDeps(data_dir=tmp_path, wake=wake)

    @pytest.fixture
    async def adapter(self, ssh_config: SSHConfig, deps: AdapterDeps) -> AsyncIterator[SSHAdapter]:
        adapter = SSHAdapter("ssh-test", ssh_config, deps)
        async with adapter:
            yield adapter

    @pytest.fixture
    def known_secret(self, ssh_config: SSHConfig) -> str | None:
        return str(ssh_config.key_file) if ssh_config.key_file else None

    @pytest.fixture
    def native_states_sample(self) -> Sequence[str]:
        return ("starting", "running", "exited", "failed", "cancelled", "lost")
