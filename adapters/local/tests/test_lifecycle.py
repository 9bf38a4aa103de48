"""A job's life on the local platform: success, failure, limits, events."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from ivoa_broker_local import LocalAdapter, LocalConfig

from ivoa_broker.protocol import (
    AdapterDeps,
    CallContext,
    ExecutionRequest,
    NotFound,
    Phase,
    Resources,
)

from .conftest import UNSANDBOXED, Wakes, run_to_end, submit

MiB = 1024 * 1024


async def test_success_reports_completed_with_stdout_and_output_files(
    adapter: LocalAdapter, wakes: Wakes, ctx: CallContext
) -> None:
    script = (
        'echo "hello $IVOA_BROKER_JOB_ID"; echo warning >&2; '
        'mkdir -p "$IVOA_BROKER_OUTPUT_DIR/sub"; '
        'printf 1,2 > "$IVOA_BROKER_OUTPUT_DIR/sub/table.csv"; '
        'printf abc > "$IVOA_BROKER_OUTPUT_DIR/a b.txt"'
    )
    request = ExecutionRequest(job_id="ok-1", command=("sh", "-c", script))
    handle, status = await run_to_end(adapter, wakes, request, ctx)

    assert status.phase is Phase.COMPLETED
    assert status.native_state == "exited-0"
    assert status.exit_code == 0
    assert status.message is None
    assert status.started_at is not None
    assert status.ended_at is not None
    assert status.started_at <= status.ended_at

    refs = {ref.id: ref for ref in await adapter.results(handle, ctx)}
    assert set(refs) == {"stdout", "stderr", "sub~2Ftable.csv", "a~20b.txt"}
    assert refs["stdout"].path is not None
    assert refs["stdout"].path.read_text() == "hello ok-1\n"
    assert refs["stdout"].mime_type == "text/plain"
    assert refs["stderr"].path is not None
    assert refs["stderr"].path.read_text() == "warning\n"
    csv = refs["sub~2Ftable.csv"]
    assert csv.path is not None
    assert csv.path.read_text() == "1,2"
    assert (csv.size, csv.mime_type) == (3, "text/csv")
    assert refs["a~20b.txt"].size == 3

    logs = await adapter.logs(handle, ctx)
    assert "hello ok-1" in logs
    assert "warning" in logs


async def test_results_of_a_cleaned_up_job_are_not_found(
    adapter: LocalAdapter, wakes: Wakes, ctx: CallContext
) -> None:
    request = ExecutionRequest(job_id="gone-1", command=("true",))
    handle, _ = await run_to_end(adapter, wakes, request, ctx)
    assert {ref.id for ref in await adapter.results(handle, ctx)} >= {"stdout", "stderr"}
    await adapter.cleanup(handle, ctx)
    with pytest.raises(NotFound, match="is gone"):
        await adapter.results(handle, ctx)


async def test_failing_command_is_error_with_exit_code_and_stderr_tail(
    adapter: LocalAdapter, wakes: Wakes, ctx: CallContext
) -> None:
    script = "echo early line >&2; echo 'boom: input missing' >&2; exit 7"
    request = ExecutionRequest(job_id="fail-1", command=("sh", "-c", script))
    _, status = await run_to_end(adapter, wakes, request, ctx)

    assert status.phase is Phase.ERROR
    assert status.native_state == "exited-nonzero"
    assert status.exit_code == 7
    assert status.message is not None
    assert "exited with code 7" in status.message
    assert "boom: input missing" in status.message


async def test_stderr_tail_in_message_is_bounded(
    work_dir: Path, wakes: Wakes, ctx: CallContext
) -> None:
    deps = AdapterDeps(data_dir=work_dir, wake=wakes)
    async with LocalAdapter(
        "t", LocalConfig(error_tail_bytes=40, sandbox=UNSANDBOXED), deps
    ) as adapter:
        script = "i=0; while [ $i -lt 200 ]; do echo line$i >&2; i=$((i+1)); done; exit 1"
        request = ExecutionRequest(job_id="tail-1", command=("sh", "-c", script))
        _, status = await run_to_end(adapter, wakes, request, ctx)
    assert status.message is not None
    assert "line199" in status.message
    assert "line0\n" not in status.message
    assert len(status.message) < 200


async def test_memory_limit_kill_is_error_naming_the_limit(
    adapter: LocalAdapter, wakes: Wakes, ctx: CallContext
) -> None:
    request = ExecutionRequest(
        job_id="mem-1",
        command=(sys.executable, "-c", f"x = bytearray({1024 * MiB})"),
        resources=Resources(memory_bytes=256 * MiB),
    )
    _, status = await run_to_end(adapter, wakes, request, ctx)

    assert status.phase is Phase.ERROR
    assert status.exit_code not in (0, None)
    assert status.message is not None
    assert "memory limit exceeded" in status.message
    assert "256.0 MiB" in status.message
    assert "MemoryError" in status.message


async def test_same_program_within_memory_limit_completes(
    adapter: LocalAdapter, wakes: Wakes, ctx: CallContext
) -> None:
    request = ExecutionRequest(
        job_id="mem-ok",
        command=(sys.executable, "-c", f"x = bytearray({16 * MiB})"),
        resources=Resources(memory_bytes=256 * MiB),
    )
    _, status = await run_to_end(adapter, wakes, request, ctx)
    assert status.phase is Phase.COMPLETED, status.message


async def test_cpu_time_limit_kill_is_error_naming_the_limit(
    adapter: LocalAdapter, wakes: Wakes, ctx: CallContext
) -> None:
    # walltime 1 s x 1 core -> RLIMIT_CPU 1 s: a busy loop gets SIGXCPU
    request = ExecutionRequest(
        job_id="cpu-1",
        command=(sys.executable, "-c", "while True: pass"),
        resources=Resources(cores=1, walltime_seconds=1),
    )
    _, status = await run_to_end(adapter, wakes, request, ctx)

    assert status.phase is Phase.ERROR
    assert status.native_state == "signalled"
    assert status.message is not None
    assert "CPU-time limit exceeded" in status.message
    assert "SIGXCPU" in status.message


async def test_wake_fires_once_when_the_job_ends(
    adapter: LocalAdapter, wakes: Wakes, ctx: CallContext
) -> None:
    request = ExecutionRequest(job_id="wake-1", command=("true",))
    handle = await submit(adapter, request, ctx)
    await wakes.wait_for(handle.native_id)
    # the wake means "poll now": the end is already visible
    status = (await adapter.status_many([handle], ctx))[handle.native_id]
    assert status.phase is Phase.COMPLETED
    assert wakes.calls == [handle.native_id]


async def test_environment_is_the_allowed_list_plus_request_env(
    adapter: LocalAdapter, wakes: Wakes, ctx: CallContext, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("IVOA_TEST_SECRET_TOKEN", "do-not-leak")
    request = ExecutionRequest(
        job_id="env-1",
        command=("sh", "-c", "env"),
        env={"MY_SETTING": "42"},
    )
    handle, status = await run_to_end(adapter, wakes, request, ctx)
    assert status.phase is Phase.COMPLETED
    stdout = next(r for r in await adapter.results(handle, ctx) if r.id == "stdout")
    assert stdout.path is not None
    env = dict(line.split("=", 1) for line in stdout.path.read_text().splitlines() if "=" in line)
    assert env["MY_SETTING"] == "42"
    assert env["IVOA_BROKER_JOB_ID"] == "env-1"
    assert env["IVOA_BROKER_OUTPUT_DIR"] == str(adapter.work_dir / "env-1" / "out")
    assert "IVOA_TEST_SECRET_TOKEN" not in env


async def test_command_that_cannot_be_executed_is_error_start_failed(
    adapter: LocalAdapter, wakes: Wakes, ctx: CallContext, tmp_path: Path
) -> None:
    # an executable file whose interpreter does not exist: exec fails at start
    script = tmp_path / "broken.sh"
    script.write_text("#!/nonexistent/interpreter\necho never\n")
    script.chmod(0o755)
    request = ExecutionRequest(job_id="nostart-1", command=(str(script),))
    _, status = await run_to_end(adapter, wakes, request, ctx)

    assert status.phase is Phase.ERROR
    assert status.native_state == "start-failed"
    assert status.exit_code == 127
    assert status.message is not None
    assert "could not start" in status.message
