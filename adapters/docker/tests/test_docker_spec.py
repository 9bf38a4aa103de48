"""The pure parts, without an engine: request -> container body, engine facts, states."""

from __future__ import annotations

from pathlib import Path

import pytest
from ivoa_broker_docker import DockerConfig
from ivoa_broker_docker._engine import EngineFacts, facts_from
from ivoa_broker_docker._spec import build
from ivoa_broker_docker._states import status_from

from ivoa_broker.protocol import EndReason, ExecutionRequest, InvalidRequest, Phase, Resources

DOCKER_PING = {"api-version": "1.41", "server": "Docker/20.10.24+dfsg1 (linux)"}
PODMAN_PING = {"api-version": "1.41", "libpod-api-version": "4.3.1", "server": "Libpod/4.3.1"}


def facts(kind: str = "docker", gpu: str | None = None) -> EngineFacts:
    return EngineFacts(kind, "1", "1.41", 2.0, 2**34, gpu)


def test_body_maps_resources_labels_and_safe_defaults(tmp_path: Path) -> None:
    request = ExecutionRequest(
        job_id="j1",
        command=("echo", "x"),
        env={"A": "1"},
        labels={"team": "x"},
        resources=Resources(cores=1.5, memory_bytes=2**26),
    )
    plan = build(
        request, DockerConfig(), instance="i", image="img", folder=tmp_path, gpu_driver=None
    )
    body, host = plan.body, plan.body["HostConfig"]
    assert body["Cmd"] == ["echo", "x"] and body["Image"] == "img"
    assert "A=1" in body["Env"] and "IVOA_BROKER_JOB_ID=j1" in body["Env"]
    assert body["Labels"]["org.ivoa.broker.job"] == "j1"
    assert body["Labels"]["org.ivoa.broker.label.team"] == "x"
    assert (host["NanoCpus"], host["Memory"], host["MemorySwap"]) == (1_500_000_000, 2**26, 2**26)
    assert host["Privileged"] is False and not host["CapAdd"]
    assert host["NetworkMode"] == "none" and "PidMode" not in host and "IpcMode" not in host
    assert host["Binds"] == [f"{tmp_path}:/output:rw"] and "DeviceRequests" not in host
    assert plan.bind and plan.port is None


def test_gpus_become_device_requests_only_with_a_driver(tmp_path: Path) -> None:
    request = ExecutionRequest(job_id="g", command=("true",), resources=Resources(gpus=2))
    plan = build(
        request, DockerConfig(), instance="i", image="img", folder=None, gpu_driver="nvidia"
    )
    assert plan.body["HostConfig"]["DeviceRequests"] == [
        {"Driver": "nvidia", "Count": 2, "Capabilities": [["gpu"]]}
    ]
    assert plan.body["Volumes"] == {"/output": {}} and not plan.bind
    with pytest.raises(InvalidRequest):
        build(request, DockerConfig(), instance="i", image="img", folder=None, gpu_driver=None)


def test_sessions_publish_their_port_and_no_init_in_the_host_pid_namespace() -> None:
    request = ExecutionRequest(job_id="s", kind="interactive", image="nb")
    config = DockerConfig(pid_host=True, interactive_port=9000)
    plan = build(request, config, instance="i", image="nb", folder=None, gpu_driver=None)
    host = plan.body["HostConfig"]
    assert host["PortBindings"] == {"9000/tcp": [{"HostIp": "127.0.0.1", "HostPort": ""}]}
    assert host["Init"] is False and host["PidMode"] == "host"
    assert host["NetworkMode"] == "bridge" and plan.port == 9000


def test_an_empty_batch_command_is_invalid() -> None:
    with pytest.raises(InvalidRequest):
        build(
            ExecutionRequest(job_id="e"),
            DockerConfig(),
            instance="i",
            image="x",
            folder=None,
            gpu_driver=None,
        )


def test_engine_named_from_ping_headers() -> None:
    docker = facts_from(DOCKER_PING, {"NCPU": 4, "MemTotal": 8, "Runtimes": {"nvidia": {}}})
    assert (docker.kind, docker.cpus, docker.gpu_runtime, docker.reports_oom) == (
        "docker",
        4.0,
        "nvidia",
        True,
    )
    podman = facts_from(PODMAN_PING, {"NCPU": 2, "Runtimes": {"nvidia": {}, "runc": {}}})
    assert (podman.kind, podman.gpu_runtime, podman.reports_oom) == ("podman", None, False)
    assert podman.gpus_reason is not None and "Podman" in podman.gpus_reason


@pytest.mark.parametrize(
    ("kind", "oom_flag", "limited", "expected"),
    [
        ("docker", True, True, EndReason.OUT_OF_MEMORY),
        ("docker", False, True, EndReason.EXIT_NONZERO),  # Docker says so when it is OOM
        ("podman", False, True, EndReason.OUT_OF_MEMORY),  # Podman does not: 137 + a limit
        ("podman", False, False, EndReason.EXIT_NONZERO),
    ],
)
def test_oom_is_read_per_engine(
    kind: str, oom_flag: bool, limited: bool, expected: EndReason
) -> None:
    attrs = {
        "State": {
            "Status": "exited",
            "ExitCode": 137,
            "OOMKilled": oom_flag,
            "StartedAt": "2026-01-01T00:00:00.123456789Z",
            "FinishedAt": "2026-01-01T00:00:02.5Z",
        }
    }
    status = status_from(attrs, facts(kind), stopped=False, memory_limit=2**20 if limited else None)
    assert (status.phase, status.reason, status.signal) == (Phase.ERROR, expected, 9)
    assert status.usage is not None and status.usage.elapsed_seconds == pytest.approx(2.376544)


def test_a_container_the_broker_stopped_is_aborted_even_with_137() -> None:
    attrs = {"State": {"Status": "exited", "ExitCode": 137}}
    status = status_from(attrs, facts("podman"), stopped=True, memory_limit=2**20)
    assert status.phase == Phase.ABORTED and status.reason is None


def test_inputs_bound_read_only_only_when_staged(tmp_path: Path) -> None:
    request = ExecutionRequest(job_id="j1", command=("true",), inputs=("https://x/a", "ivo://y"))
    staged = build(
        request,
        DockerConfig(),
        instance="i",
        image="img",
        folder=tmp_path / "output",
        gpu_driver=None,
        inputs=tmp_path / "input",
    )
    assert staged.body["HostConfig"]["Binds"] == [
        f"{tmp_path}/output:/output:rw",
        f"{tmp_path}/input:/input:ro",
    ]
    assert "IVOA_BROKER_INPUT_DIR=/input" in staged.body["Env"]
    assert "IVOA_BROKER_INPUT_URLS=https://x/a\nivo://y" in staged.body["Env"]
    urls_only = build(
        request, DockerConfig(), instance="i", image="img", folder=None, gpu_driver=None
    )
    env = urls_only.body["Env"]
    assert not any(e.startswith("IVOA_BROKER_INPUT_DIR=") for e in env)
    assert "IVOA_BROKER_INPUT_URLS=https://x/a\nivo://y" in env
