"""Unit tests that need no stack: state table, flavor policy, errors, config, user_data."""

from __future__ import annotations

import base64
import subprocess
from datetime import UTC, datetime, timedelta
from pathlib import Path

import keystoneauth1.exceptions as ks_exc
import openstack.exceptions as os_exc
import pydantic
import pytest
import requests
from ivoa_broker_openstack import OpenStackAdapter, OpenStackConfig
from ivoa_broker_openstack._client import (
    AbsoluteLimits,
    FlavorInfo,
    ServerInfo,
    translate_error,
)
from ivoa_broker_openstack._flavors import choose_flavor, flavor_gpus, quota_blocker
from ivoa_broker_openstack._states import STATE_MAP, ExitMarker, job_status
from ivoa_broker_openstack.testing import parse_curl_post
from pydantic import SecretStr

from ivoa_broker.protocol import (
    AdapterDeps,
    AuthError,
    Conflict,
    FatalError,
    Handle,
    InvalidRequest,
    NoCapacity,
    NotFound,
    Phase,
    Resources,
    TransientError,
)
from ivoa_broker.toolkit.cloudinit import render_user_data

NOW = datetime(2026, 11, 24, 12, 0, tzinfo=UTC)
GRACE = timedelta(seconds=300)


def server(status: str, **kw: object) -> ServerInfo:
    return ServerInfo(id="s1", name="ivoa-broker-j", status=status, **kw)  # type: ignore[arg-type]


def status(
    srv: ServerInfo | None, marker: ExitMarker | None = None, cancel: bool = False
) -> tuple[Phase, int | None]:
    st = job_status(srv, marker, cancel_requested=cancel, now=NOW, poweroff_grace=GRACE)
    return st.phase, st.exit_code


# ------------------------------------------------------------------- states

ok = ExitMarker(0, NOW - timedelta(seconds=1))
failed = ExitMarker(3, NOW - timedelta(seconds=1))


@pytest.mark.parametrize(
    ("srv", "marker", "cancel", "expected"),
    [
        (server("BUILD"), None, False, (Phase.QUEUED, None)),
        (server("ACTIVE"), None, False, (Phase.EXECUTING, None)),
        (server("ACTIVE"), ok, False, (Phase.EXECUTING, None)),  # reported, not yet off
        (server("ACTIVE"), ExitMarker(0, NOW - GRACE), False, (Phase.COMPLETED, 0)),
        (server("SHUTOFF"), ok, False, (Phase.COMPLETED, 0)),
        (server("SHUTOFF"), failed, False, (Phase.ERROR, 3)),
        (server("SHUTOFF"), failed, True, (Phase.ERROR, 3)),
        (server("SHUTOFF"), None, False, (Phase.SUSPENDED, None)),
        (server("SHUTOFF"), None, True, (Phase.ABORTED, None)),
        (server("ERROR", fault_message="boom"), None, False, (Phase.ERROR, None)),
        (server("PAUSED"), None, False, (Phase.SUSPENDED, None)),
        (server("REBOOT"), None, False, (Phase.EXECUTING, None)),
        (server("SOMETHING_NEW"), None, False, (Phase.UNKNOWN, None)),
        (server("DELETED"), None, True, (Phase.ABORTED, None)),
        (None, None, True, (Phase.ABORTED, None)),
        (None, None, False, (Phase.ERROR, None)),
        (None, ok, True, (Phase.COMPLETED, 0)),  # cancel raced completion: completion wins
    ],
)
def test_job_status_table(
    srv: ServerInfo | None,
    marker: ExitMarker | None,
    cancel: bool,
    expected: tuple[Phase, int | None],
) -> None:
    assert status(srv, marker, cancel) == expected


def test_error_status_carries_nova_fault() -> None:
    st = job_status(
        server("ERROR", fault_message="No valid host was found."),
        None,
        cancel_requested=False,
        now=NOW,
        poweroff_grace=GRACE,
    )
    assert st.message == "No valid host was found."


def test_state_map_uses_only_adapter_phases() -> None:
    assert set(STATE_MAP.values()) <= set(Phase) - {Phase.PENDING, Phase.ARCHIVED, Phase.HELD}


# ------------------------------------------------------------------- flavors

FLAVORS = [
    FlavorInfo("1", "s", 1, 256, 1),
    FlavorInfo("2", "m", 2, 1024, 2),
    FlavorInfo("3", "l", 4, 4096, 4),
    FlavorInfo("4", "g", 4, 4096, 4, {"resources:VGPU": "1"}),
    FlavorInfo("5", "g2", 8, 8192, 4, {"pci_passthrough:alias": "a100:2"}),
]


@pytest.mark.parametrize(
    ("want", "name"),
    [
        (Resources(), "s"),
        (Resources(cores=2), "m"),
        (Resources(memory_bytes=2 * 1024**3), "l"),
        (Resources(gpus=1), "g"),
        (Resources(gpus=2), "g2"),
        (Resources(disk_bytes=3 * 1024**3), "l"),
        (Resources(cores=16), None),
        (Resources(gpus=3), None),
    ],
)
def test_choose_smallest_fitting(want: Resources, name: str | None) -> None:
    chosen = choose_flavor(FLAVORS, want)
    assert (chosen.name if chosen else None) == name


def test_flavor_gpu_specs() -> None:
    assert flavor_gpus({"resources:CUSTOM_NVIDIA_GPU": "2", "hw:cpu_policy": "dedicated"}) == 2
    assert flavor_gpus({"pci_passthrough:alias": "a:1,b:2"}) == 3
    assert flavor_gpus({"resources:VGPU": "bogus"}) == 0


def test_quota_blocker_names_the_limit() -> None:
    limits = AbsoluteLimits(
        cores=4, cores_used=3, ram_mib=None, ram_used_mib=0, instances=10, instances_used=0
    )
    assert quota_blocker(limits, FLAVORS[0]) is None
    message = quota_blocker(limits, FLAVORS[1])
    assert message is not None
    assert "cores" in message
    assert "limit 4" in message
    full = AbsoluteLimits(
        cores=None, cores_used=0, ram_mib=None, ram_used_mib=0, instances=1, instances_used=1
    )
    assert "instances" in (quota_blocker(full, FLAVORS[0]) or "")


# ------------------------------------------------------------------- errors


def http_error(status_code: int, details: str = "") -> os_exc.HttpException:
    response = requests.Response()
    response.status_code = status_code
    response._content = b"{}"
    return os_exc.HttpException(
        message="x", response=response, http_status=status_code, details=details
    )


@pytest.mark.parametrize(
    ("exc", "expected"),
    [
        (http_error(401), AuthError),
        (http_error(403, "Policy does not allow"), AuthError),
        (
            http_error(403, "Quota exceeded for cores: Requested 4, but already used 0 of 2 cores"),
            NoCapacity,
        ),
        (http_error(413), NoCapacity),
        (http_error(404), NotFound),
        (os_exc.NotFoundException(message="gone"), NotFound),
        (http_error(409), Conflict),
        (http_error(400), InvalidRequest),
        (http_error(503), TransientError),
        (http_error(500), TransientError),
        (ks_exc.ConnectFailure("refused"), TransientError),
        (ks_exc.ConnectTimeout("slow"), TransientError),
        (ks_exc.Unauthorized("no"), AuthError),
        (ks_exc.EndpointNotFound("none"), FatalError),
        (os_exc.SDKException("odd"), FatalError),
        (ValueError("garbage json"), FatalError),
    ],
)
def test_translate_error(exc: Exception, expected: type[Exception]) -> None:
    assert type(translate_error(exc, "op")) is expected


def test_translated_errors_redact_secrets() -> None:
    err = translate_error(http_error(400, "bad password hunter2 here"), "op", ["hunter2"])
    assert "hunter2" not in err.message
    assert "hunter2" not in str(err.detail)


# ------------------------------------------------------------------- config


def test_config_needs_one_way_to_log_in() -> None:
    with pytest.raises(pydantic.ValidationError):
        OpenStackConfig(image="i")
    with pytest.raises(pydantic.ValidationError):
        OpenStackConfig(image="i", cloud="c", auth_url="http://x")
    with pytest.raises(pydantic.ValidationError):
        OpenStackConfig(image="i", auth_url="http://x", username="u")
    with pytest.raises(pydantic.ValidationError):
        OpenStackConfig(image="i", auth_url="http://x", auth_type="v3applicationcredential")
    with pytest.raises(pydantic.ValidationError):
        OpenStackConfig(image="i", cloud="c", surprise=1)  # type: ignore[call-arg]


def test_config_and_adapter_reprs_hide_secrets(tmp_path: Path) -> None:
    cfg = OpenStackConfig(
        image="i",
        auth_url="http://x",
        auth_type="v3applicationcredential",
        application_credential_id="id",
        application_credential_secret=SecretStr("s3cr3t-ac"),
    )
    adapter = OpenStackAdapter("os", cfg, AdapterDeps(data_dir=tmp_path))
    for text in (repr(cfg), str(cfg), repr(adapter), repr(adapter.client), cfg.model_dump_json()):
        assert "s3cr3t-ac" not in text
    assert cfg.secrets() == ("s3cr3t-ac",)


async def test_callback_refuses_bad_secret_names_and_codes(tmp_path: Path) -> None:
    adapter = OpenStackAdapter(
        "os", OpenStackConfig(image="i", cloud="c"), AdapterDeps(data_dir=tmp_path)
    )
    import hashlib

    handle = Handle(
        adapter="os", native_id="s1", state={"secret_sha256": hashlib.sha256(b"right").hexdigest()}
    )
    with pytest.raises(AuthError):
        await adapter.receive_callback(handle, "wrong", {"exit_code": "0"}, {})
    with pytest.raises(InvalidRequest):
        await adapter.receive_callback(handle, "right", {"exit_code": "zero"}, {})
    with pytest.raises(InvalidRequest):
        await adapter.receive_callback(handle, "right", {"exit_code": "0"}, {"../evil": b""})
    with pytest.raises(InvalidRequest):
        await adapter.receive_callback(
            Handle(adapter="os", native_id="../x", state=handle.state),
            "right",
            {"exit_code": "0"},
            {},
        )
    assert not (tmp_path / "servers").exists()
    await adapter.receive_callback(handle, "right", {"exit_code": "4"}, {"a.txt": b"A"})
    refs = await adapter.results(handle, None)  # type: ignore[arg-type]
    assert [(r.id, r.size) for r in refs] == [("a.txt", 1)]


# ------------------------------------------------------------------- user_data


def run_user_data(tmp_path: Path, **kw: object) -> tuple[list[str], Path]:
    """Run the rendered script with curl/poweroff shims; return curl's argv and the capture."""
    args: dict[str, object] = {
        "job_id": "job 1",
        "callback_url": "http://b/callbacks/os/job%201",
        "secret": "tok'en",
        "command": (
            "sh", "-c", "echo out; echo err >&2; echo r > $IVOA_BROKER_OUTPUT_DIR/r.txt; exit 5"
        ),
        "image": None,
        "env": {"X": "a b"},
        "inputs": (),
    }
    args.update(kw)
    script = render_user_data(**args)  # type: ignore[arg-type]
    shims = tmp_path / "bin"
    shims.mkdir()
    (shims / "curl").write_text(
        '#!/bin/sh\ncp -a "$PWD" "$CAP/work"; printf "%s\\0" "$PWD" "$@" > "$CAP/args"\n'
    )
    (shims / "poweroff").write_text('#!/bin/sh\n: > "$CAP/off"\n')
    for shim in shims.iterdir():
        shim.chmod(0o755)
    (tmp_path / "tmp").mkdir()
    env = {"PATH": f"{shims}:/usr/bin:/bin", "TMPDIR": str(tmp_path / "tmp"), "CAP": str(tmp_path)}
    subprocess.run(["/bin/sh", "-c", script], env=env, check=True, timeout=60)
    workdir, *argv = (tmp_path / "args").read_bytes().decode().split("\0")[:-1]
    return [a.replace(workdir, str(tmp_path / "work")) for a in argv], tmp_path


def test_user_data_runs_reports_and_powers_off(tmp_path: Path) -> None:
    argv, cap = run_user_data(tmp_path)
    url, secret, fields, files = parse_curl_post(argv)
    assert url == "http://b/callbacks/os/job%201"
    assert secret == "tok'en"
    assert fields == {"exit_code": "5"}
    assert files == {"stdout": b"out\n", "stderr": b"err\n", "r.txt": b"r\n"}
    assert (cap / "off").exists()
    assert not any("tok'en" in a for a in argv), "the secret must not be on curl's command line"


def test_user_data_is_base64_safe_and_quotes_everything() -> None:
    script = render_user_data(
        job_id="j",
        callback_url="http://b/x",
        secret="s",
        command=("echo", "$(reboot)", "; rm -rf /"),
        image=None,
        env={"A": "'$B'"},
        inputs=("http://d/in file.fits?x=1",),
    )
    base64.b64encode(script.encode())
    assert "'$(reboot)'" in script
    assert "'; rm -rf /'" in script
    assert 'inputs/in_file.fits"' in script


def test_user_data_container_mode() -> None:
    script = render_user_data(
        job_id="j",
        callback_url="http://b/x",
        secret="s",
        command=("python", "-c", "print(1)"),
        image="docker.io/lib/py:3",
        env={"K": "v"},
        inputs=(),
        container_runtime="podman",
    )
    assert 'rt="podman"' in script
    assert "docker.io/lib/py:3 python -c 'print(1)'" in script
    assert "-e K" in script


def test_readme_state_table_matches_state_map() -> None:
    readme = (Path(__file__).resolve().parent.parent / "README.md").read_text()
    table = readme.split("### State table", 1)[1].split("\n## ", 1)[0]
    documented: dict[str, Phase] = {}
    for line in table.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) < 2 or cells[1] not in Phase.__members__:
            continue
        for native in cells[0].split(","):
            name = native.split("(")[0].strip()
            if name and "anything" not in name:
                documented[name] = Phase[cells[1]]
    assert documented == dict(STATE_MAP)


@pytest.mark.parametrize(
    ("task", "message", "fraction"),
    [
        (None, "server build: scheduling", 0.0),
        ("scheduling", "server build: scheduling", 0.0),
        ("networking", "server build: networking", 0.5),
        ("spawning", "server build: spawning", 0.75),
        ("something_new", "server build: something new", None),
    ],
)
def test_a_building_server_reports_progress(
    task: str | None, message: str, fraction: float | None
) -> None:
    st = job_status(
        server("BUILD", task_state=task), None, cancel_requested=False, now=NOW,
        poweroff_grace=GRACE,
    )
    assert st.phase is Phase.QUEUED
    assert st.progress is not None
    assert (st.progress.message, st.progress.fraction) == (message, fraction)
    active = job_status(
        server("ACTIVE"), None, cancel_requested=False, now=NOW, poweroff_grace=GRACE
    )
    assert active.progress is None
