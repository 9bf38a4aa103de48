"""ScriptedCommands: rules, responders, fault injection, transcript."""

from __future__ import annotations

import pytest

from ivoa_broker.protocol import CommandResult, TransientError
from ivoa_broker.testing import ScriptedCommands, UnexpectedCommand


async def test_first_matching_rule_answers_and_calls_are_recorded() -> None:
    runner = ScriptedCommands()
    runner.add(r"^sbatch ", stdout="Submitted batch job 42\n")
    runner.add(r"^sbatch|^squeue", stdout="never", rc=9)
    result = await runner(["sbatch", "--parsable", "job.sh"], input="#!/bin/sh\n", timeout=5)
    assert result == CommandResult(
        ("sbatch", "--parsable", "job.sh"), 0, "Submitted batch job 42\n", ""
    )
    other = await runner(["squeue", "-j", "42"])
    assert (other.returncode, other.stdout) == (9, "never")
    assert runner.calls[0].input == "#!/bin/sh\n"
    assert runner.calls[0].timeout == 5
    assert runner.lines() == ["sbatch --parsable job.sh", "squeue -j 42"]


async def test_line_is_shell_quoted_for_matching() -> None:
    runner = ScriptedCommands()
    runner.add(r"^sh -c 'echo hi; exit 3'$", rc=3)
    assert (await runner(["sh", "-c", "echo hi; exit 3"])).returncode == 3


async def test_responder_keeps_state() -> None:
    jobs: list[str] = []

    def submit(argv: tuple[str, ...], stdin: str | None) -> tuple[str, str, int]:
        jobs.append(argv[-1])
        return f"{len(jobs)}\n", "", 0

    runner = ScriptedCommands()
    runner.add(r"^submit ", respond=submit)
    runner.add(r"^list$", respond=lambda argv, stdin: CommandResult(argv, 0, " ".join(jobs), ""))
    assert (await runner(["submit", "a"])).stdout == "1\n"
    assert (await runner(["submit", "b"])).stdout == "2\n"
    assert (await runner(["list"])).stdout == "a b"


async def test_times_limits_a_rule() -> None:
    runner = ScriptedCommands()
    once = runner.add(r"^poll$", stdout="RUNNING", times=1)
    runner.add(r"^poll$", stdout="COMPLETED")
    assert [(await runner(["poll"])).stdout for _ in range(3)] == [
        "RUNNING",
        "COMPLETED",
        "COMPLETED",
    ]
    assert once.used == 1


async def test_unmatched_command_raises_when_strict_and_is_127_otherwise() -> None:
    with pytest.raises(UnexpectedCommand, match="rm -rf /"):
        await ScriptedCommands()(["rm", "-rf", "/"])
    lax = await ScriptedCommands(strict=False)(["nope"])
    assert lax.returncode == 127
    assert "not found" in lax.stderr


async def test_fail_next_fires_once_with_code_or_exception() -> None:
    runner = ScriptedCommands()
    runner.add(r"^squeue", stdout="ok")
    runner.fail_next(r"^squeue", 1, stderr="slurm_load_jobs error")
    runner.fail_next(r"^squeue", TransientError("timed out"))
    first = await runner(["squeue"])
    assert (first.returncode, first.stderr) == (1, "slurm_load_jobs error")
    with pytest.raises(TransientError):
        await runner(["squeue"])
    assert (await runner(["squeue"])).stdout == "ok"
    assert len(runner.calls) == 3


async def test_assertions_report_mismatches() -> None:
    runner = ScriptedCommands()
    runner.add(r".")
    await runner(["a", "1"])
    await runner(["b"])
    runner.assert_calls([r"^a ", r"^b$"])
    runner.assert_called(r"^a", times=1)
    with pytest.raises(AssertionError):
        runner.assert_calls([r"^b"])
    with pytest.raises(AssertionError):
        runner.assert_called(r"^c")
    with pytest.raises(AssertionError):
        runner.assert_called(r".", times=1)
    runner.reset_calls()
    assert runner.lines() == []
