"""Unit tests of the adapter's small modules: models, sizes, names, errors, states."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from ivoa_broker_azimuth._errors import error_for, message_of
from ivoa_broker_azimuth._models import (
    AppInfo,
    ClusterInfo,
    MachineInfo,
    QuotaInfo,
    ServiceInfo,
    SizeInfo,
)
from ivoa_broker_azimuth._naming import job_id_of, job_id_problem, name_for
from ivoa_broker_azimuth._native import native_id, parse_native
from ivoa_broker_azimuth._sizes import choose_size, quota_blocker
from ivoa_broker_azimuth._states import (
    ExitMarker,
    app_status,
    cluster_status,
    machine_status,
)

from ivoa_broker.protocol import (
    AuthError,
    Conflict,
    EndReason,
    InvalidRequest,
    NoCapacity,
    NotFound,
    Phase,
    Resources,
    TransientError,
)
from ivoa_broker.toolkit import Redactor

NOW = datetime(2026, 1, 1, tzinfo=UTC)


def _size(name: str, cpus: int, ram: int, **props: str) -> SizeInfo:
    return SizeInfo.parse(
        {
            "id": name,
            "name": name,
            "cpus": cpus,
            "ram": ram,
            "disk": 20,
            "additional_properties": props,
        }
    )


@pytest.mark.parametrize(
    ("props", "gpus"),
    [
        ({}, 0),
        ({"resources:VGPU": "1"}, 1),
        ({"resources:PGPU": "2"}, 2),
        ({"pci_passthrough:alias": "a100:2,t4:1"}, 3),
        ({"resources:VGPU": "x"}, 0),
    ],
)
def test_size_gpus_from_extra_specs(props: dict[str, str], gpus: int) -> None:
    assert _size("s", 1, 1024, **props).gpus == gpus


def test_choose_size_smallest_that_fits_and_allowed() -> None:
    sizes = [
        _size("big", 8, 16384),
        _size("small", 2, 4096),
        _size("gpu", 8, 16384, **{"resources:VGPU": "1"}),
    ]
    assert choose_size(sizes, Resources(cores=2)) == sizes[1]
    assert choose_size(sizes, Resources(cores=2), ["big"]) == sizes[0]
    assert choose_size(sizes, Resources(memory_bytes=8 * 2**30)) == sizes[0]
    assert choose_size(sizes, Resources(gpus=1)) == sizes[2]
    assert choose_size(sizes, Resources(cores=9)) is None


def test_quota_blocker_names_the_quota_and_unlimited_is_fine() -> None:
    size = _size("m", 4, 8192)
    quotas = [
        QuotaInfo("cpus", "CPUs", None, -1, 100),
        QuotaInfo("ram", "RAM", "MB", 10000, 4000),
        QuotaInfo("machines", "Machines", None, 10, 1),
    ]
    assert quota_blocker(quotas, size) == (
        "the tenancy's RAM quota (ram) has 6000 MB free of 10000 MB; size m needs 8192 MB"
    )
    assert quota_blocker(quotas[:1] + quotas[2:], size) is None
    full = [QuotaInfo("machines", "Machines", None, 2, 2)]
    assert "Machines quota (machines) has 0 free" in str(quota_blocker(full, size))
    assert quota_blocker(full, size, machines=0) is None


def test_names_round_trip_and_foreign_names_are_ignored() -> None:
    job = "0b7c2d1e-9f3a-4c55-8e6d-0123456789ab"
    assert job_id_of("ivoa-", name_for("ivoa-", job)) == job
    assert job_id_of("ivoa-", "someone-elses-machine") is None
    assert job_id_of("ivoa-", "ivoa-Bad_Name") is None
    assert job_id_problem("x" * 37) is not None
    assert job_id_problem("-leading") is not None
    assert job_id_problem(job) is None


def test_native_ids() -> None:
    assert parse_native(native_id("cluster", "abc-1")) == ("cluster", "abc-1")
    with pytest.raises(InvalidRequest):
        parse_native("volume:x")
    with pytest.raises(InvalidRequest):
        parse_native("machine:../../etc")


@pytest.mark.parametrize(
    ("status", "body", "error"),
    [
        (400, '{"name": ["This field is required."]}', InvalidRequest),
        (401, '{"detail": "Your session has expired."}', AuthError),
        (403, '{"detail": "Permission denied."}', AuthError),
        (404, '{"detail": "Not found."}', NotFound),
        (
            409,
            '{"detail": "Cluster exceeds at least one quota.", "code": "quota_exceeded"}',
            NoCapacity,
        ),
        (409, '{"detail": "already exists", "code": "invalid_operation"}', Conflict),
        (500, "<html>oops</html>", TransientError),
        (504, '{"detail": "timed out", "code": "operation_timed_out"}', TransientError),
    ],
)
def test_error_translation(status: int, body: str, error: type[Exception]) -> None:
    assert isinstance(error_for(status, body, "GET x", Redactor()), error)


def test_error_messages_are_the_portals_words_without_secrets() -> None:
    assert message_of('{"values": {"/": "is not of type \'object\'"}}')[0] == (
        "values./: is not of type 'object'"
    )
    assert message_of('{"message": "Invalid credentials provided."}') == (
        "Invalid credentials provided.",
        None,
    )
    err = error_for(400, '{"detail": "bad token tok-123"}', "POST x", Redactor(["tok-123"]))
    assert "tok-123" not in str(err) and "***" in str(err)
    retry = error_for(503, "", "GET x", Redactor(), retry_after=7.0)
    assert isinstance(retry, TransientError) and retry.retry_after == 7.0


def _machine(status: str, task: str | None = None) -> MachineInfo:
    return MachineInfo(
        "m1", "ivoa-j", status, status, "boom" if status == "ERROR" else None, None, task, NOW
    )


def test_machine_states() -> None:
    marker = ExitMarker(3, NOW)
    ended = machine_status(_machine("SHUTOFF"), marker, cancel_requested=False)
    assert ended is not None and ended.phase == Phase.ERROR and ended.exit_code == 3
    assert ended.reason == EndReason.EXIT_NONZERO
    ok = machine_status(None, ExitMarker(0, NOW), cancel_requested=False)
    assert ok is not None and ok.phase == Phase.COMPLETED
    assert machine_status(None, None, cancel_requested=False) is None
    gone = machine_status(_machine("ACTIVE", "Deleting"), None, cancel_requested=True)
    assert gone is not None and gone.phase == Phase.ABORTED
    build = machine_status(_machine("BUILD", "Spawning"), None, cancel_requested=False)
    assert build is not None and build.phase == Phase.QUEUED and build.progress is not None
    error = machine_status(_machine("ERROR"), None, cancel_requested=False)
    assert error is not None and error.reason == EndReason.BOOT_FAILURE and error.message == "boom"
    silent = machine_status(_machine("SHUTOFF"), None, cancel_requested=False)
    assert silent is not None and silent.phase == Phase.ERROR and silent.reason == EndReason.LOST


def test_app_states_and_endpoint() -> None:
    svc = (ServiceInfo("jupyterhub", "JupyterHub", "x.apps", "https://portal/svc/"),)
    deployed = app_status(AppInfo("a", "a", "Deployed", None, svc, NOW), cancel_requested=False)
    assert deployed is not None and deployed.phase == Phase.EXECUTING
    assert deployed.endpoint == "https://portal/svc/"
    no_service = app_status(AppInfo("a", "a", "Deployed", None, (), NOW), cancel_requested=False)
    assert no_service is not None and no_service.phase == Phase.QUEUED
    wrong = app_status(
        AppInfo("a", "a", "Deployed", None, svc, NOW), cancel_requested=False, service="other"
    )
    assert wrong is not None and wrong.phase == Phase.QUEUED
    failed = app_status(AppInfo("a", "a", "Failed", "chart error", (), NOW), cancel_requested=False)
    assert failed is not None and failed.phase == Phase.ERROR and failed.message == "chart error"
    assert app_status(None, cancel_requested=False) is None


def test_cluster_states_and_schedule_end() -> None:
    svc = (ServiceInfo("webconsole", "Web console", "y.apps", "https://portal/ws/"),)
    ready = ClusterInfo("c", "ivoa-j", "READY", None, None, svc, NOW, None)
    running = cluster_status(ready, cancel_requested=False, now=NOW, end_time=None)
    assert running is not None and running.endpoint == "https://portal/ws/"
    end = NOW - timedelta(seconds=1)
    ended = cluster_status(None, cancel_requested=False, now=NOW, end_time=end)
    assert (
        ended is not None and ended.phase == Phase.COMPLETED and ended.reason == EndReason.DEADLINE
    )
    assert cluster_status(None, cancel_requested=False, now=NOW, end_time=None) is None
    deleting = ClusterInfo("c", "ivoa-j", "DELETING", None, None, (), NOW, None)
    stopped = cluster_status(deleting, cancel_requested=True, now=NOW, end_time=None)
    assert stopped is not None and stopped.phase == Phase.ABORTED
