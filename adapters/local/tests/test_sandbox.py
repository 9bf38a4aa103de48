"""The job sandbox (bubblewrap): what a job cannot see, and what happens without it.

Every probe job below runs a shell script that tries to read something and prints
``READ <name>`` or ``DENIED <name>``; the same script run unsandboxed (``sandbox =
"none"``) reads everything, which shows the probes can fail.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import os
import subprocess
import sys
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from ivoa_broker_local import LocalAdapter, LocalConfig
from ivoa_broker_local._sandbox import SandboxUnavailable, probe, wrap

from ivoa_broker.protocol import AdapterDeps, CallContext, ExecutionRequest, Phase

from .conftest import Wakes, run_to_end, submit

SECRET = "s3cr3t-token-value-0123456789"


def _sandbox_or_skip() -> None:
    try:
        probe("bwrap")
    except SandboxUnavailable as exc:  # pragma: no cover - the CI installs bubblewrap
        pytest.skip(f"no sandbox on this machine: {exc}")


@pytest.fixture
def state(tmp_path: Path) -> Path:
    """A broker-like state folder: config, token file, store; jobs live in ``local/``."""
    root = tmp_path / "state"
    root.mkdir()
    (root / "tokens.txt").write_text(f"{SECRET} alice\n")
    (root / "broker.toml").write_text('[auth]\ntoken_file = "tokens.txt"\n')
    (root / "broker.db").write_text(f"SQLite format 3 {SECRET}\n")
    for name in ("tokens.txt", "broker.toml", "broker.db"):
        (root / name).chmod(0o600)
    return root


@pytest.fixture
def broker_like(state: Path) -> Iterator[subprocess.Popen[bytes]]:
    """A process whose command line names the config and whose environment holds a
    secret, as the broker's own do."""
    proc = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sys; sys.stdin.read()",
            "--config",
            str(state / "broker.toml"),
        ],
        stdin=subprocess.PIPE,
        env={"PATH": os.defpath, "BROKER_TOKEN": SECRET},
    )
    yield proc
    assert proc.stdin is not None
    proc.stdin.close()
    proc.wait(30)


@contextlib.asynccontextmanager
async def _opened(config: LocalConfig, work_dir: Path, wakes: Wakes) -> AsyncIterator[LocalAdapter]:
    async with LocalAdapter("local-sbx", config, AdapterDeps(data_dir=work_dir, wake=wakes)) as a:
        yield a


@pytest.fixture
async def sandboxed(state: Path, wakes: Wakes) -> AsyncIterator[LocalAdapter]:
    _sandbox_or_skip()
    async with _opened(LocalConfig(kill_grace_seconds=2.0), state / "local", wakes) as a:
        yield a


@pytest.fixture
async def unsandboxed(state: Path, wakes: Wakes) -> AsyncIterator[LocalAdapter]:
    config = LocalConfig(kill_grace_seconds=2.0, sandbox="none")
    async with _opened(config, state / "local-open", wakes) as a:
        yield a


def _probe_script(targets: dict[str, str]) -> str:
    lines = []
    for name, command in targets.items():
        lines.append(
            f"if out=$( ({command}) 2>/dev/null | tr '\\n' ' ') && [ -n \"$out\" ]; then "
            f'echo "READ {name}: $out"; else echo "DENIED {name}"; fi'
        )
    return "\n".join(lines)


def _grep_proc(what: str, text: str) -> str:
    """A shell loop printing each /proc/*/<what> holding ``text``, except the probe's own
    processes (their command line is this script, which names the files it tries)."""
    half = len(text) // 2
    return (
        f"pat=$(printf '%s%s' '{text[:half]}' '{text[half:]}'); "
        f"for f in /proc/[0-9]*/{what}; do case \"$(tr '\\0' ' ' < $f)\" in "
        f'*PROBE-SELF*) ;; *"$pat"*) echo $f;; esac; done'
    )


def _targets(state: Path, broker_pid: int, other_job_out: Path) -> dict[str, str]:
    return {
        "config": f"cat {state / 'broker.toml'}",
        "tokens": f"cat {state / 'tokens.txt'}",
        "store": f"cat {state / 'broker.db'}",
        "state-listing": f"ls -A {state} | grep -e tokens -e broker",
        "other-job-result": f"cat {other_job_out}",
        "broker-cmdline": f"tr '\\0' ' ' < /proc/{broker_pid}/cmdline",
        "broker-environ": f"tr '\\0' ' ' < /proc/{broker_pid}/environ",
        "parent-cmdline": f"tr '\\0' ' ' < /proc/{os.getpid()}/cmdline",
        # the patterns are assembled at run time: the probe's own command line holds
        # only their pieces, so it does not find itself
        "config-path-in-any-cmdline": _grep_proc("cmdline", "broker.toml"),
        "secret-in-any-environ": _grep_proc("environ", SECRET),
    }


async def _run_probe(
    adapter: LocalAdapter, wakes: Wakes, job_id: str, owner: str, targets: dict[str, str]
) -> dict[str, str]:
    ctx = CallContext(owner=owner, request_id=job_id)
    request = ExecutionRequest(
        job_id=job_id, owner=owner, command=("sh", "-c", _probe_script(targets))
    )
    handle, status = await run_to_end(adapter, wakes, request, ctx)
    assert status.phase is Phase.COMPLETED, status.message
    stdout = (adapter.work_dir / handle.native_id / "stdout").read_text()
    verdicts: dict[str, str] = {}
    for line in stdout.splitlines():
        verdict, _, rest = line.partition(" ")
        verdicts[rest.split(":")[0]] = verdict
    assert set(verdicts) == set(targets), stdout
    return verdicts


async def _owner_result(adapter: LocalAdapter, wakes: Wakes, owner: str) -> Path:
    """A finished job of ``owner`` whose result file holds the secret; its path."""
    ctx = CallContext(owner=owner, request_id=f"{owner}-result")
    request = ExecutionRequest(
        job_id=f"{owner}-result",
        owner=owner,
        command=("sh", "-c", f'echo {SECRET} > "$IVOA_BROKER_OUTPUT_DIR/secret.txt"'),
    )
    handle, status = await run_to_end(adapter, wakes, request, ctx)
    assert status.phase is Phase.COMPLETED, status.message
    path = adapter.work_dir / handle.native_id / "out" / "secret.txt"
    assert path.read_text().strip() == SECRET
    return path


async def test_a_sandboxed_job_reads_none_of_the_brokers_secrets(
    sandboxed: LocalAdapter,
    wakes: Wakes,
    state: Path,
    broker_like: subprocess.Popen[bytes],
) -> None:
    alice_result = await _owner_result(sandboxed, wakes, "alice")
    targets = _targets(state, broker_like.pid, alice_result)
    verdicts = await _run_probe(sandboxed, wakes, "bob-probe", "bob", targets)
    assert verdicts == dict.fromkeys(targets, "DENIED")
    stdout = (sandboxed.work_dir / "bob-probe" / "stdout").read_text()
    assert SECRET not in stdout


async def test_the_same_probe_unsandboxed_reads_them_all(
    unsandboxed: LocalAdapter,
    wakes: Wakes,
    state: Path,
    broker_like: subprocess.Popen[bytes],
) -> None:
    alice_result = await _owner_result(unsandboxed, wakes, "alice")
    targets = _targets(state, broker_like.pid, alice_result)
    verdicts = await _run_probe(unsandboxed, wakes, "bob-probe", "bob", targets)
    assert verdicts == dict.fromkeys(targets, "READ")


async def test_two_owners_cannot_read_each_others_results(
    sandboxed: LocalAdapter, wakes: Wakes
) -> None:
    alice = await _owner_result(sandboxed, wakes, "alice")
    bob = await _owner_result(sandboxed, wakes, "bob")
    for owner, other in (("alice", bob), ("bob", alice)):
        targets = {
            "result": f"cat {other}",
            "job-dir": f"ls -A {other.parent.parent}",
            "work-dir": f"ls -A {sandboxed.work_dir} | grep -v '^{owner}-snoop$'",
        }
        verdicts = await _run_probe(sandboxed, wakes, f"{owner}-snoop", owner, targets)
        assert verdicts == dict.fromkeys(targets, "DENIED"), owner


async def test_a_sandboxed_job_sees_itself_and_writes_only_its_output(
    sandboxed: LocalAdapter, wakes: Wakes, ctx: CallContext
) -> None:
    script = (
        'id -u; pwd; echo ok > "$IVOA_BROKER_OUTPUT_DIR/made.txt"; echo t > /tmp/t && cat /tmp/t; '
        "cat ../job.json > /dev/null && echo spec-readable; "
        "(echo forged > ../exit.json) 2>/dev/null || echo spec-dir-read-only; "
        "ls /proc | grep -c '^[0-9]'"
    )
    request = ExecutionRequest(job_id="self-1", command=("sh", "-c", script))
    handle, status = await run_to_end(sandboxed, wakes, request, ctx)
    assert status.phase is Phase.COMPLETED, status.message
    jobdir = sandboxed.work_dir / handle.native_id
    lines = (jobdir / "stdout").read_text().splitlines()
    assert lines[0] == "65534"  # nobody inside, even when the broker is root
    assert lines[1] == str(jobdir / "out")
    assert lines[2:5] == ["t", "spec-readable", "spec-dir-read-only"]
    assert 1 <= int(lines[5]) <= 4  # bubblewrap's init, the shell and its pipeline only
    assert (jobdir / "out" / "made.txt").read_text() == "ok\n"


async def test_cancel_gives_a_sandboxed_job_its_grace_period(
    state: Path, wakes: Wakes, ctx: CallContext
) -> None:
    _sandbox_or_skip()
    sync = state / "sync"
    sync.mkdir()
    ready = sync / "ready"
    os.mkfifo(ready)
    config = LocalConfig(kill_grace_seconds=30.0, sandbox_paths=(sync,))
    script = (
        "trap 'echo graceful > \"$IVOA_BROKER_OUTPUT_DIR/term.txt\"; exit 3' TERM; "
        f"echo ready > {ready}; while :; do sleep 0.1; done"
    )
    async with _opened(config, state / "local", wakes) as adapter:
        request = ExecutionRequest(job_id="grace-1", command=("sh", "-c", script))
        reading = asyncio.create_task(asyncio.to_thread(ready.read_text))
        handle = await submit(adapter, request, ctx)
        try:
            async with asyncio.timeout(60):  # the trap is set once the job has written
                assert await reading == "ready\n"
        finally:
            if not reading.done():  # free the reading thread whatever went wrong
                fd = os.open(ready, os.O_WRONLY | os.O_NONBLOCK)
                os.close(fd)
                await adapter.cleanup(handle, ctx)
        stop = dataclasses.replace(handle, cancel_requested=True)
        await adapter.cancel(stop, ctx)
        await wakes.wait_for(handle.native_id)
        status = (await adapter.status_many([stop], ctx))[handle.native_id]
        assert status.phase is Phase.ABORTED
        assert status.exit_code == 3  # the trap's own exit: not killed
        term = adapter.work_dir / handle.native_id / "out" / "term.txt"
        assert term.read_text() == "graceful\n"  # SIGTERM reached it, SIGKILL did not


async def test_a_script_outside_the_system_paths_still_runs(
    sandboxed: LocalAdapter, wakes: Wakes, ctx: CallContext, tmp_path: Path
) -> None:
    tools = tmp_path / "tools"
    tools.mkdir()
    (tools / "neighbour.txt").write_text("hidden\n")
    script = tools / "job.sh"
    script.write_text(f"#!/bin/sh\necho ran\ncat {tools / 'neighbour.txt'} || echo no-neighbour\n")
    script.chmod(0o755)
    request = ExecutionRequest(job_id="script-1", command=(str(script),))
    handle, status = await run_to_end(sandboxed, wakes, request, ctx)
    assert status.phase is Phase.COMPLETED, status.message
    stdout = (sandboxed.work_dir / handle.native_id / "stdout").read_text()
    assert stdout.splitlines() == ["ran", "no-neighbour"]  # just the file, not its folder


async def test_without_bubblewrap_the_platform_says_so_and_runs_nothing(
    tmp_path: Path, wakes: Wakes, ctx: CallContext, caplog: pytest.LogCaptureFixture
) -> None:
    config = LocalConfig(bwrap=str(tmp_path / "no-such-bwrap"))
    with caplog.at_level(logging.WARNING, logger="ivoa_broker_local"):
        async with _opened(config, tmp_path / "work", wakes) as adapter:
            health = await adapter.health()
            assert not health.ok
            assert health.message is not None
            assert "cannot be sandboxed" in health.message
            assert 'sandbox = "none"' in health.message
            request = ExecutionRequest(job_id="never-1", command=("true",))
            assert await adapter.offers(request, ctx) == []
            reason = adapter.explain_refusal(request)
            assert reason is not None
            assert "not installed" in reason
    assert any("cannot be sandboxed" in r.getMessage() for r in caplog.records)
    assert not (tmp_path / "work" / "never-1").exists()


async def test_the_explicit_opt_out_runs_unsandboxed_and_warns(
    tmp_path: Path, wakes: Wakes, ctx: CallContext, caplog: pytest.LogCaptureFixture
) -> None:
    config = LocalConfig(sandbox="none", bwrap=str(tmp_path / "no-such-bwrap"))
    with caplog.at_level(logging.WARNING, logger="ivoa_broker_local"):
        async with _opened(config, tmp_path / "work", wakes) as adapter:
            assert (await adapter.health()).ok
            request = ExecutionRequest(job_id="open-1", command=("sh", "-c", "id -u"))
            handle, status = await run_to_end(adapter, wakes, request, ctx)
            assert status.phase is Phase.COMPLETED
            stdout = (adapter.work_dir / handle.native_id / "stdout").read_text()
            assert stdout.strip() == str(os.getuid())
    assert any("NOT sandboxed" in r.getMessage() for r in caplog.records)


def test_the_wrapped_command_line_names_no_path_but_the_jobs_and_the_system(
    tmp_path: Path,
) -> None:
    _sandbox_or_skip()
    sandbox = probe("bwrap")
    job = tmp_path / "work" / "j-1"
    argv, env = wrap(sandbox, job, job / "out", ["sh", "-c", "true"], {"PATH": os.defpath})
    paths = {a for a in argv if a.startswith("/")}
    allowed = (str(job), "/usr", "/etc/", "/bin", "/sbin", "/lib", "/proc", "/dev", "/tmp")
    assert all(p.startswith(allowed) for p in paths), sorted(paths)
    assert argv[argv.index("--uid") + 1] == "65534"
    assert env["HOME"] == env["TMPDIR"] == "/tmp"


def test_a_command_found_first_in_hidden_shims_runs_the_systems_copy(tmp_path: Path) -> None:
    # a pyenv-style shim folder first on PATH: its script needs the manager's whole tree,
    # which the sandbox hides; the system's own copy further down PATH is what runs
    _sandbox_or_skip()
    sandbox = probe("bwrap")
    shims = tmp_path / "shims"
    shims.mkdir()
    (shims / "sh").write_text("#!/bin/false\n")
    (shims / "sh").chmod(0o755)
    (shims / "only-here").write_text("#!/bin/sh\necho bound\n")
    (shims / "only-here").chmod(0o755)
    job = tmp_path / "work" / "j-1"
    (job / "out").mkdir(parents=True)
    path = f"{shims}{os.pathsep}{os.defpath}"
    argv, env = wrap(sandbox, job, job / "out", ["sh", "-c", "echo system"], {"PATH": path})
    assert str(shims / "sh") not in argv
    done = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=60)
    assert (done.returncode, done.stdout) == (0, "system\n"), done.stderr
    # a command only the hidden folder has is still bound and run, as before
    argv, env = wrap(sandbox, job, job / "out", ["only-here"], {"PATH": path})
    done = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=60)
    assert (done.returncode, done.stdout) == (0, "bound\n"), done.stderr


def test_sandbox_paths_must_be_absolute() -> None:
    with pytest.raises(ValueError, match="must be absolute"):
        LocalConfig(sandbox_paths=(Path("relative/tools"),))
    assert LocalConfig(sandbox_paths=(Path("/opt/tools"),)).sandbox_paths == (Path("/opt/tools"),)
