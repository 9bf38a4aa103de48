"""Cancel, cleanup and restart survival, with real process trees."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import os
import signal
import sys
from pathlib import Path

import pytest
from ivoa_broker_local import LocalAdapter, LocalConfig
from ivoa_broker_local._procs import read_stat, session_members

from ivoa_broker.protocol import (
    AdapterDeps,
    CallContext,
    ExecutionRequest,
    FatalError,
    Handle,
    Phase,
)

from .conftest import UNSANDBOXED, Wakes, alive, process_ended, run_to_end, runner_pid, submit


def _all_pids() -> list[int]:
    return [int(name) for name in os.listdir("/proc") if name.isdigit()]


def _environ_has(pid: int, marker: bytes) -> bool:
    try:
        with open(f"/proc/{pid}/environ", "rb") as f:
            return marker in f.read().split(b"\0")
    except OSError:
        return False


def _fifo(tmp_path: Path, name: str = "fifo") -> Path:
    path = tmp_path / name
    os.mkfifo(path)
    return path


async def _read_fifo(path: Path) -> str:
    """Blocks (in a thread) until the job opens the FIFO, then reads what it wrote."""
    return await asyncio.to_thread(path.read_text)


async def _write_fifo(path: Path, text: str) -> None:
    await asyncio.to_thread(path.write_text, text)


def _fresh(adapter: LocalAdapter, wakes: Wakes) -> LocalAdapter:
    deps = AdapterDeps(data_dir=adapter.deps.data_dir, wake=wakes)
    return LocalAdapter(adapter.name, adapter.config, deps)


async def test_cancel_kills_the_process_group_including_a_grandchild(
    adapter: LocalAdapter, wakes: Wakes, ctx: CallContext, tmp_path: Path
) -> None:
    fifo = _fifo(tmp_path)
    script = 'sleep 100 & echo "$! $$" > "$1"; sleep 100'
    request = ExecutionRequest(job_id="cancel-1", command=("sh", "-c", script, "sh", str(fifo)))
    handle = await submit(adapter, request, ctx)
    background, shell = (int(p) for p in (await _read_fifo(fifo)).split())
    assert alive(background)
    assert alive(shell)
    running = (await adapter.status_many([handle], ctx))[handle.native_id]
    assert running.phase is Phase.EXECUTING

    stop = dataclasses.replace(handle, cancel_requested=True)
    await adapter.cancel(stop, ctx)
    await wakes.wait_for(handle.native_id)

    status = (await adapter.status_many([stop], ctx))[stop.native_id]
    assert status.phase is Phase.ABORTED
    assert status.native_state == "cancelled"
    # the supervisor reaps every descendant before it records the end
    assert not alive(background)
    assert not alive(shell)
    assert session_members(runner_pid(handle)) == []
    # cancel again, and after the end: no error, no change
    await adapter.cancel(stop, ctx)
    again = (await adapter.status_many([stop], ctx))[stop.native_id]
    assert again.phase is Phase.ABORTED


async def test_cancel_escalates_to_sigkill_for_a_job_ignoring_sigterm(
    work_dir: Path, wakes: Wakes, ctx: CallContext, tmp_path: Path
) -> None:
    fifo = _fifo(tmp_path)
    # ignores SIGTERM, says so, then sleeps; only SIGKILL ends it
    script = "trap '' TERM; echo ready > \"$1\"; while :; do sleep 1; done"
    deps = AdapterDeps(data_dir=work_dir, wake=wakes)
    async with LocalAdapter(
        "t", LocalConfig(kill_grace_seconds=0.2, sandbox=UNSANDBOXED), deps
    ) as adapter:
        request = ExecutionRequest(job_id="stubborn", command=("sh", "-c", script, "sh", str(fifo)))
        handle = await submit(adapter, request, ctx)
        assert await _read_fifo(fifo) == "ready\n"
        stop = dataclasses.replace(handle, cancel_requested=True)
        await adapter.cancel(stop, ctx)  # returns at once; escalation is scheduled
        await wakes.wait_for(handle.native_id)
        status = (await adapter.status_many([stop], ctx))[stop.native_id]
    assert status.phase is Phase.ABORTED
    assert status.message is not None
    assert "SIGKILL" in status.message


async def test_signal_from_outside_without_cancel_is_error(
    adapter: LocalAdapter, wakes: Wakes, ctx: CallContext, tmp_path: Path
) -> None:
    fifo = _fifo(tmp_path)
    request = ExecutionRequest(
        job_id="killed-1", command=("sh", "-c", 'echo $$ > "$1"; exec sleep 100', "sh", str(fifo))
    )
    handle = await submit(adapter, request, ctx)
    pid = int(await _read_fifo(fifo))
    os.kill(pid, signal.SIGKILL)
    await wakes.wait_for(handle.native_id)
    status = (await adapter.status_many([handle], ctx))[handle.native_id]
    assert status.phase is Phase.ERROR
    assert status.native_state == "signalled"
    assert status.exit_code == 128 + signal.SIGKILL
    assert status.message is not None
    assert "SIGKILL" in status.message


async def test_vanished_supervisor_is_error_and_cleanup_kills_the_leftovers(
    adapter: LocalAdapter, wakes: Wakes, ctx: CallContext, tmp_path: Path
) -> None:
    fifo = _fifo(tmp_path)
    request = ExecutionRequest(
        job_id="vanish-1", command=("sh", "-c", 'echo $$ > "$1"; exec sleep 100', "sh", str(fifo))
    )
    handle = await submit(adapter, request, ctx)
    job_pid = int(await _read_fifo(fifo))
    os.kill(runner_pid(handle), signal.SIGKILL)  # e.g. an operator's kill -9
    await wakes.wait_for(handle.native_id)

    status = (await adapter.status_many([handle], ctx))[handle.native_id]
    assert status.phase is Phase.ERROR
    assert status.native_state == "vanished"
    assert status.message is not None
    assert "supervisor" in status.message
    assert alive(job_pid)  # the orphaned command still runs ...

    await adapter.cleanup(handle, ctx)
    await process_ended(job_pid)  # ... until cleanup kills it
    assert not (adapter.work_dir / handle.native_id).exists()
    assert await adapter.status_many([handle], ctx) == {}


async def test_cleanup_kills_a_running_job_removes_its_dir_and_is_idempotent(
    adapter: LocalAdapter, ctx: CallContext, tmp_path: Path
) -> None:
    fifo = _fifo(tmp_path)
    request = ExecutionRequest(
        job_id="clean-1", command=("sh", "-c", 'echo $$ > "$1"; exec sleep 100', "sh", str(fifo))
    )
    handle = await submit(adapter, request, ctx)
    job_pid = int(await _read_fifo(fifo))
    await adapter.cleanup(handle, ctx)
    await process_ended(job_pid)
    assert not (adapter.work_dir / "clean-1").exists()
    assert await adapter.list_native(ctx) == {}
    await adapter.cleanup(handle, ctx)
    await adapter.cancel(handle, ctx)  # gone: still no error
    assert await adapter.status_many([handle], ctx) == {}


async def test_fresh_instance_given_only_the_json_handle_sees_the_same_end(
    adapter: LocalAdapter, wakes: Wakes, ctx: CallContext
) -> None:
    request = ExecutionRequest(job_id="restart-1", command=("sh", "-c", "echo out; exit 5"))
    handle, before = await run_to_end(adapter, wakes, request, ctx)
    async with _fresh(adapter, Wakes()) as fresh:
        after = (await fresh.status_many([Handle.from_json(handle.to_json())], ctx))[
            handle.native_id
        ]
    fields = ("phase", "native_state", "message", "exit_code", "started_at", "ended_at")
    assert [getattr(after, f) for f in fields] == [getattr(before, f) for f in fields]
    assert before.phase is Phase.ERROR


async def test_job_outlives_a_discarded_instance_and_a_fresh_one_follows_it(
    work_dir: Path, ctx: CallContext, tmp_path: Path
) -> None:
    fifo = _fifo(tmp_path)
    first_wakes = Wakes()
    deps = AdapterDeps(data_dir=work_dir, wake=first_wakes)
    config = LocalConfig(kill_grace_seconds=2, sandbox=UNSANDBOXED)
    request = ExecutionRequest(
        job_id="survivor",
        command=("sh", "-c", 'read line < "$1"; echo "got $line"', "sh", str(fifo)),
    )
    async with LocalAdapter("local", config, deps) as first:
        handle = await submit(first, request, ctx)
        seen = (await first.status_many([handle], ctx))[handle.native_id]
    stored = handle.to_json()
    del first, handle  # the instance that started the job is gone

    wakes = Wakes()
    async with LocalAdapter("local", config, AdapterDeps(data_dir=work_dir, wake=wakes)) as fresh:
        reloaded = Handle.from_json(stored)
        status = (await fresh.status_many([reloaded], ctx))[reloaded.native_id]
        assert status.phase is Phase.EXECUTING
        assert status.started_at == seen.started_at
        assert await fresh.list_native(ctx) == {"survivor": "survivor"}

        await _write_fifo(fifo, "hello\n")  # let the job finish
        await wakes.wait_for(reloaded.native_id)  # the fresh instance is woken too
        status = (await fresh.status_many([reloaded], ctx))[reloaded.native_id]
        assert status.phase is Phase.COMPLETED
        stdout = next(r for r in await fresh.results(reloaded, ctx) if r.id == "stdout")
        assert stdout.path is not None
        assert stdout.path.read_text() == "got hello\n"
    assert first_wakes.calls == []


async def test_fresh_instance_can_cancel_a_job_it_did_not_start(
    work_dir: Path, ctx: CallContext, tmp_path: Path
) -> None:
    config = LocalConfig(kill_grace_seconds=2, sandbox=UNSANDBOXED)
    request = ExecutionRequest(job_id="adopted", command=("sleep", "100"))
    async with LocalAdapter("local", config, AdapterDeps(data_dir=work_dir)) as first:
        handle = await submit(first, request, ctx)
    wakes = Wakes()
    async with LocalAdapter("local", config, AdapterDeps(data_dir=work_dir, wake=wakes)) as fresh:
        stop = dataclasses.replace(Handle.from_json(handle.to_json()), cancel_requested=True)
        await fresh.cancel(stop, ctx)
        await wakes.wait_for(stop.native_id)
        status = (await fresh.status_many([stop], ctx))[stop.native_id]
    assert status.phase is Phase.ABORTED


async def test_submit_is_idempotent_per_job_id(
    adapter: LocalAdapter, wakes: Wakes, ctx: CallContext
) -> None:
    request = ExecutionRequest(job_id="idem-1", command=("sleep", "100"))
    first = await submit(adapter, request, ctx)
    second = await submit(adapter, request, ctx)
    assert second == first
    assert await adapter.list_native(ctx) == {"idem-1": "idem-1"}
    await adapter.cleanup(first, ctx)


async def test_twenty_concurrent_submits_all_complete(
    adapter: LocalAdapter, wakes: Wakes, ctx: CallContext
) -> None:
    script = 'echo "$IVOA_BROKER_JOB_ID" > "$IVOA_BROKER_OUTPUT_DIR/id.txt"'
    requests = [
        ExecutionRequest(job_id=f"many-{i:02d}", command=("sh", "-c", script)) for i in range(20)
    ]
    handles = await asyncio.gather(*(submit(adapter, r, ctx) for r in requests))
    assert len({h.native_id for h in handles}) == 20
    await asyncio.gather(*(wakes.wait_for(h.native_id) for h in handles))
    found = await adapter.status_many(handles, ctx)
    assert {s.phase for s in found.values()} == {Phase.COMPLETED}
    assert len(found) == 20
    for handle in handles:
        refs = {r.id: r for r in await adapter.results(handle, ctx)}
        path = refs["id.txt"].path
        assert path is not None
        assert path.read_text() == handle.native_id + "\n"
    await asyncio.gather(*(adapter.cleanup(h, ctx) for h in handles))
    assert await adapter.list_native(ctx) == {}


async def test_a_failing_launch_leaves_nothing_behind(
    work_dir: Path, ctx: CallContext, tmp_path: Path
) -> None:
    # the supervisor's interpreter exists when the adapter starts, not when it launches
    interpreter = tmp_path / "python-gone"
    interpreter.symlink_to(sys.executable)
    config = LocalConfig(python=str(interpreter), sandbox=UNSANDBOXED)
    async with LocalAdapter("local", config, AdapterDeps(data_dir=work_dir)) as adapter:
        request = ExecutionRequest(job_id="doomed", command=("true",))
        [offer] = await adapter.offers(request, ctx)
        interpreter.unlink()
        with pytest.raises(FatalError, match="could not start the job"):
            await adapter.submit(request, offer, ctx)
        assert os.listdir(work_dir) == []
        assert await adapter.list_native(ctx) == {}


@pytest.mark.parametrize("yields", [0, 1, 2, 5])
async def test_cancelling_submit_midway_then_cleanup_leaves_no_orphan(
    adapter: LocalAdapter, ctx: CallContext, yields: int
) -> None:
    request = ExecutionRequest(job_id=f"midway-{yields}", command=("sleep", "1000"))
    [offer] = await adapter.offers(request, ctx)
    task = asyncio.create_task(adapter.submit(request, offer, ctx))
    for _ in range(yields):  # let submit get more or less far before it is cancelled
        await asyncio.sleep(0)
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task
    # the core knows only the job id: cleanup by native id, as after an orphan sweep
    await adapter.cleanup(Handle(adapter=adapter.name, native_id=request.job_id), ctx)
    assert not (adapter.work_dir / request.job_id).exists()
    marker = f"IVOA_BROKER_JOB_ID={request.job_id}".encode()
    leftovers = [pid for pid in _all_pids() if _environ_has(pid, marker)]
    for pid in leftovers:  # killed, perhaps still dying: they end (or the guard fails)
        await process_ended(pid)


_BROKER_SCRIPT = """
import asyncio, sys
from pathlib import Path
from ivoa_broker.protocol import AdapterDeps, CallContext, ExecutionRequest
from ivoa_broker_local import LocalAdapter, LocalConfig

async def main() -> None:
    deps = AdapterDeps(data_dir=Path(sys.argv[1]))
    async with LocalAdapter("local", LocalConfig(sandbox="none"), deps) as adapter:
        request = ExecutionRequest(job_id="orphan-1", command=tuple(sys.argv[2:]))
        [offer] = await adapter.offers(request, CallContext())
        handle = await adapter.submit(request, offer, CallContext())
        print(handle.to_json(), flush=True)
        await asyncio.Event().wait()  # until SIGKILL

asyncio.run(main())
"""


async def test_job_survives_sigkill_of_the_broker_process_and_is_followed_by_event(
    work_dir: Path, ctx: CallContext, tmp_path: Path
) -> None:
    fifo = _fifo(tmp_path)
    command = ("sh", "-c", 'read line < "$1"; echo "got $line"', "sh", str(fifo))
    broker = await asyncio.create_subprocess_exec(
        sys.executable,
        "-c",
        _BROKER_SCRIPT,
        str(work_dir),
        *command,
        stdout=asyncio.subprocess.PIPE,
    )
    assert broker.stdout is not None
    stored = (await broker.stdout.readline()).decode()
    broker.kill()  # SIGKILL: no shutdown code runs in the "broker"
    await broker.wait()

    handle = Handle.from_json(stored)
    wakes = Wakes()
    async with LocalAdapter(
        "local", LocalConfig(sandbox=UNSANDBOXED), AdapterDeps(data_dir=work_dir, wake=wakes)
    ) as fresh:
        status = (await fresh.status_many([handle], ctx))[handle.native_id]
        assert status.phase is Phase.EXECUTING  # the job outlived its broker
        await _write_fifo(fifo, "through the restart\n")
        await wakes.wait_for(handle.native_id)  # a pidfd on a process that is not our child
        status = (await fresh.status_many([handle], ctx))[handle.native_id]
        assert status.phase is Phase.COMPLETED
        stdout = next(r for r in await fresh.results(handle, ctx) if r.id == "stdout")
        assert stdout.path is not None
        assert stdout.path.read_text() == "got through the restart\n"


async def test_cleanup_also_kills_a_daemon_that_left_the_job_session(
    adapter: LocalAdapter, ctx: CallContext, tmp_path: Path
) -> None:
    fifo = _fifo(tmp_path)
    # the daemon reports its pid itself, once it runs in its own session
    script = 'setsid sh -c \'echo $$ > "$1"; exec sleep 1000\' daemon "$1" & sleep 1000'
    request = ExecutionRequest(job_id="daemon-1", command=("sh", "-c", script, "sh", str(fifo)))
    handle = await submit(adapter, request, ctx)
    daemon = int(await _read_fifo(fifo))
    stat = read_stat(daemon)
    assert stat is not None
    assert stat.session == daemon != runner_pid(handle)  # it escaped the job's session

    await adapter.cleanup(handle, ctx)
    # the supervisor reaped it (as subreaper) before it ended, and cleanup awaited that end
    assert read_stat(daemon) is None
    assert not (adapter.work_dir / "daemon-1").exists()
