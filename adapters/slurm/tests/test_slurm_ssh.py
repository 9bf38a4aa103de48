"""CLI mode on a login host over SSH: the same Slurm commands, run through the ``ssh``
plug-in's transport against a real OpenSSH server (started by the ssh plug-in's own test
helper, ``adapters/ssh/tests/sshd_server.py``) on this machine, which is also the cluster's."""

from __future__ import annotations

import importlib.util
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from ivoa_broker_slurm import SlurmAdapter
from slurm_cluster import LocalCluster, cli_config

from ivoa_broker.protocol import AdapterDeps, CallContext, ExecutionRequest, Phase
from ivoa_broker.testing import wait_for_phase

SSHD_HELPER = Path(__file__).resolve().parents[2] / "ssh" / "tests" / "sshd_server.py"
CTX = CallContext(owner="ssh")


def _helper() -> ModuleType:
    spec = importlib.util.spec_from_file_location("ssh_tests_sshd_server", SSHD_HELPER)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its dataclasses look their module up
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def sshd(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    helper = _helper()
    try:
        server = helper.start_sshd(tmp_path_factory.mktemp("slurm-sshd"))
    except helper.SSHDUnavailable as exc:
        pytest.skip(f"no OpenSSH server: {exc}")
    yield server
    server.stop()


async def test_cli_mode_over_ssh_runs_fetches_and_cleans_up(
    slurm: LocalCluster, sshd: Any, tmp_path: Path
) -> None:
    known_hosts = tmp_path / "known_hosts"
    known_hosts.write_text(sshd.known_hosts_line(sshd.port))
    config = cli_config(
        slurm,
        ssh={
            "host": "127.0.0.1",
            "port": sshd.port,
            "username": sshd.user,
            "key_file": str(sshd.client_key),
            "known_hosts": str(known_hosts),
        },
    )
    request = ExecutionRequest(
        job_id=str(uuid.uuid4()), command=("sh", "-c", "echo over-ssh; exit 5")
    )
    async with SlurmAdapter("t-ssh", config, AdapterDeps(data_dir=tmp_path / "data")) as adapter:
        assert set(adapter.capabilities.queues) == {"debug", "short"}
        [offer, *_] = await adapter.offers(request, CTX)
        handle = await adapter.submit(request, offer, CTX)
        assert (await adapter.list_native(CTX)).get(handle.native_id) == request.job_id
        history = await wait_for_phase(
            adapter, handle, {Phase.ERROR}, ctx=CTX, max_wait=60, interval=0.5
        )
        assert (history[-1].exit_code, history[-1].native_state) == (5, "FAILED")
        assert "over-ssh" in await adapter.logs(handle, CTX)
        await adapter.cleanup(handle, CTX)
        assert handle.native_id not in slurm.file_jobs(config.job_root)
