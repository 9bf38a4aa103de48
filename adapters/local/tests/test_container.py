"""Container requests on the local platform without an engine: who would run them, why
nobody does (``containers = "off"``, no plug-in, no engine), and the config's checks.

The embedded engine running real containers is tested with the engines, in
``adapters/docker/tests/test_docker_local.py``.
"""

from __future__ import annotations

import socket
import sys
from pathlib import Path

import pytest
from ivoa_broker_local import LocalAdapter, LocalConfig, _container
from pydantic import ValidationError

from ivoa_broker.protocol import (
    AdapterDeps,
    AdapterError,
    CallContext,
    ExecutionRequest,
    Handle,
    InvalidRequest,
    NotFound,
    Offer,
    Resources,
    TransientError,
)

from .conftest import UNSANDBOXED

IMAGE = "ghcr.io/x/y:1"
REFUSED = f"the local adapter cannot run container images (image={IMAGE!r}): "


def _req(**kwargs: object) -> ExecutionRequest:
    fields: dict[str, object] = {"job_id": "c-1", "command": ("true",), "image": IMAGE}
    fields.update(kwargs)
    return ExecutionRequest(**fields)  # type: ignore[arg-type]


def _adapter(work_dir: Path, containers: str = "auto", **config: object) -> LocalAdapter:
    cfg = LocalConfig(sandbox=UNSANDBOXED, containers=containers, **config)  # type: ignore[arg-type]
    return LocalAdapter("loc", cfg, AdapterDeps(data_dir=work_dir))


def _offer() -> Offer:
    return Offer(adapter="loc", offer_id="loc-1", summary="x", resources=Resources())


@pytest.fixture
def no_engine(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_container, "engine_address", lambda: None)
    monkeypatch.setattr(_container, "engine_on_host", lambda: None)


@pytest.fixture
def no_plugin(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, _container.PLUGIN, None)  # import raises ImportError


async def _refused(adapter: LocalAdapter, ctx: CallContext, *, healthy: bool = True) -> str:
    """The reason of an opened adapter's refusal, after checking offers and submit agree
    (and health: not ``healthy`` when the config names an engine that cannot be used)."""
    async with adapter:
        assert adapter.capabilities.images is False
        assert await adapter.offers(_req(), ctx) == []
        reason = adapter.explain_refusal(_req())
        assert reason is not None
        with pytest.raises(InvalidRequest) as err:
            await adapter.submit(_req(), _offer(), ctx)
        assert err.value.message == reason
        health = await adapter.health()
        assert health.ok is healthy
        assert f"containers are not run: {reason.removeprefix(REFUSED)}" in health.message
    assert not (adapter.work_dir / _container.DATA_SUBDIR).exists()
    return reason


async def test_containers_off_says_so_and_how_to_switch_them_on(
    work_dir: Path, ctx: CallContext
) -> None:
    reason = await _refused(_adapter(work_dir, "off"), ctx)
    assert reason == REFUSED + (
        'its config says containers = "off" (set "auto", or an engine address, to run '
        "them on this machine's Docker or Podman)"
    )


async def test_without_the_plugin_the_reason_says_what_to_install(
    work_dir: Path, ctx: CallContext, no_plugin: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(_container, "engine_on_host", lambda: "podman")
    address = "unix:///run/podman/podman.sock"
    reason = await _refused(_adapter(work_dir, address), ctx, healthy=False)
    assert reason == REFUSED + (
        "the plug-in ivoa-broker-docker is not installed "
        "(pip install 'ivoa-broker-local[containers]'); podman is on this machine"
    )
    monkeypatch.setattr(_container, "engine_on_host", lambda: None)
    reason = await _refused(_adapter(work_dir), ctx)
    assert reason.endswith("(pip install 'ivoa-broker-local[containers]')")


async def test_without_an_engine_the_reason_says_none_is_installed(
    work_dir: Path, ctx: CallContext, no_engine: None
) -> None:
    pytest.importorskip("ivoa_broker_docker")
    reason = await _refused(_adapter(work_dir), ctx)
    assert reason == REFUSED + "no container engine (Docker or Podman) is installed on this machine"


async def test_an_engine_without_its_socket_is_named(
    work_dir: Path, ctx: CallContext, no_engine: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    pytest.importorskip("ivoa_broker_docker")
    monkeypatch.setattr(_container, "engine_on_host", lambda: "docker")
    reason = await _refused(_adapter(work_dir), ctx)
    assert reason.startswith(REFUSED + "docker is installed but its API socket is not there")
    assert reason.endswith("start its service, or set containers to the engine's address")


def test_auto_finds_docker_host_then_the_first_socket(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    sockets = (str(tmp_path / "docker.sock"), str(tmp_path / "podman.sock"))
    monkeypatch.setattr(_container, "_SOCKETS", sockets)
    monkeypatch.delenv("XDG_RUNTIME_DIR", raising=False)
    monkeypatch.delenv("DOCKER_HOST", raising=False)
    assert _container.engine_address() is None
    (tmp_path / "podman.sock").touch()
    assert _container.engine_address() == f"unix://{tmp_path / 'podman.sock'}"
    monkeypatch.setenv("DOCKER_HOST", "tcp://engine.example:2376")
    assert _container.engine_address() == "tcp://engine.example:2376"


async def test_an_unreachable_engine_address_is_run_and_reported(
    work_dir: Path, ctx: CallContext
) -> None:
    """An address is kept although nothing answers there now (an engine may come back):
    the offer fails with the engine's words, and health says the platform is not ok."""
    pytest.importorskip("ivoa_broker_docker")
    with socket.socket() as probe:  # a port nothing listens on (connections are refused)
        probe.bind(("127.0.0.1", 0))
        address = f"tcp://127.0.0.1:{probe.getsockname()[1]}"
    async with _adapter(work_dir, address) as adapter:
        assert adapter.capabilities.images is True
        with pytest.raises(AdapterError):
            await adapter.offers(_req(), ctx)
        health = await adapter.health()
        assert not health.ok
        assert f"containers: the engine at {address} is NOT usable" in health.message
        # process jobs are still offered
        assert len(await adapter.offers(_req(image=None), ctx)) == 1


async def test_a_container_handle_while_containers_are_off(
    work_dir: Path, ctx: CallContext
) -> None:
    """A container job submitted before a restart with containers off: not known (status
    omits it), and cancel/cleanup cannot be done now (retried by the core)."""
    handle = Handle(adapter="loc", native_id="ivb-loc-j1", state={"engine": "docker", "id": "x"})
    async with _adapter(work_dir, "off") as adapter:
        assert await adapter.status_many([handle], ctx) == {}
        with pytest.raises(NotFound, match="containers are not run now"):
            await adapter.status(handle, ctx)
        for call in (adapter.cancel, adapter.cleanup):
            with pytest.raises(TransientError, match='containers = "off"'):
                await call(handle, ctx)


# ------------------------------------------------------------------------ config


def test_containers_must_be_auto_off_or_an_address() -> None:
    for good in ("auto", "off", "unix:///run/podman/podman.sock", "tcp://h:2376", "ssh://u@h"):
        assert LocalConfig(containers=good).containers == good
    with pytest.raises(ValidationError, match='containers must be "auto", "off" or an engine'):
        LocalConfig(containers="docker")


def test_container_config_is_checked_by_the_docker_model() -> None:
    pytest.importorskip("ivoa_broker_docker")
    ok = LocalConfig(container_config={"pull_policy": "never", "network": "bridge"})
    assert ok.container_config["pull_policy"] == "never"
    with pytest.raises(ValidationError) as err:
        LocalConfig(container_config={"pull_polcy": "never"})
    assert "container_config is not a valid docker config: pull_polcy: Extra inputs" in str(
        err.value
    )
    with pytest.raises(ValidationError, match="container_config is not a valid docker config"):
        LocalConfig(container_config={"stop_grace_seconds": -1})
    with pytest.raises(ValidationError, match="must not set host: the engine address is"):
        LocalConfig(container_config={"host": "unix:///x.sock"})


def test_container_config_without_the_plugin_fails_unless_containers_are_off(
    no_plugin: None,
) -> None:
    with pytest.raises(ValidationError, match="ivoa-broker-docker is not installed"):
        LocalConfig(container_config={"pull_policy": "never"})
    off = LocalConfig(containers="off", container_config={"pull_policy": "never"})
    assert off.containers == "off"
    assert LocalConfig().containers == "auto"  # the default needs no plug-in
