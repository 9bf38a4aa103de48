"""``ScriptedCommands``: a replayable :class:`~ivoa_broker.protocol.CommandRunner` fake.

For adapters of CLI platforms (Slurm, ssh, local tools). Rules map a regular
expression over the command line (``shlex.join(argv)``) to an answer: fixed
``stdout``/``stderr``/``rc``, or a ``respond`` callable that computes one from
the argv and stdin (so a fake can keep state). Every call is recorded in
``calls``; ``fail_next`` injects one failure (an exit code or an exception).

Example::

    runner = ScriptedCommands()
    runner.add(r"^sbatch ", stdout="Submitted batch job 42\\n")
    runner.add(r"^squeue ", respond=lambda argv, stdin: fake.squeue())
    deps = AdapterDeps(data_dir=tmp_path, run=runner)
    ...
    runner.assert_calls([r"^sbatch ", r"^squeue "])
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from ivoa_broker.protocol import CommandResult

__all__ = ["CommandCall", "CommandRule", "ScriptedCommands", "UnexpectedCommand"]

#: ``respond(argv, stdin)`` returns a result, or ``(stdout, stderr, rc)``.
Responder = Callable[[tuple[str, ...], str | None], CommandResult | tuple[str, str, int]]


class UnexpectedCommand(AssertionError):
    """A command matched no rule (the fake is strict by default)."""


@dataclass(frozen=True)
class CommandCall:
    """One recorded call: the argv, its stdin and timeout."""

    argv: tuple[str, ...]
    input: str | None
    timeout: float | None

    @property
    def line(self) -> str:
        return shlex.join(self.argv)


@dataclass
class CommandRule:
    """``pattern`` (searched in the command line) -> an answer.

    ``times`` limits how often the rule applies (``None``: always).
    """

    pattern: re.Pattern[str]
    stdout: str = ""
    stderr: str = ""
    rc: int = 0
    respond: Responder | None = None
    times: int | None = None
    used: int = field(default=0)

    def matches(self, line: str) -> bool:
        live = self.times is None or self.used < self.times
        return live and self.pattern.search(line) is not None

    def answer(self, argv: tuple[str, ...], stdin: str | None) -> CommandResult:
        self.used += 1
        if self.respond is None:
            return CommandResult(argv, self.rc, self.stdout, self.stderr)
        out = self.respond(argv, stdin)
        if isinstance(out, CommandResult):
            return out
        stdout, stderr, rc = out
        return CommandResult(argv, rc, stdout, stderr)


@dataclass
class _Failure:
    pattern: re.Pattern[str]
    error: BaseException | int
    stderr: str


class ScriptedCommands:
    """A strict, scripted command runner with a transcript (see module docs)."""

    def __init__(self, *, strict: bool = True) -> None:
        self.rules: list[CommandRule] = []
        self.calls: list[CommandCall] = []
        self.strict = strict
        self._failures: list[_Failure] = []

    def add(
        self,
        pattern: str,
        *,
        stdout: str = "",
        stderr: str = "",
        rc: int = 0,
        respond: Responder | None = None,
        times: int | None = None,
    ) -> CommandRule:
        """Add a rule; earlier rules win. Returns it (``rule.used`` counts its uses)."""
        rule = CommandRule(re.compile(pattern), stdout, stderr, rc, respond, times)
        self.rules.append(rule)
        return rule

    def fail_next(
        self, pattern: str, error: BaseException | int, *, stderr: str = "injected failure"
    ) -> None:
        """Make the next command matching ``pattern`` fail once.

        ``error`` is an exit code (the command "runs" and returns it with
        ``stderr``) or an exception the runner raises (a timeout, an OSError).
        """
        self._failures.append(_Failure(re.compile(pattern), error, stderr))

    async def __call__(
        self, argv: Sequence[str], *, input: str | None = None, timeout: float | None = None
    ) -> CommandResult:
        args = tuple(argv)
        call = CommandCall(args, input, timeout)
        self.calls.append(call)
        line = call.line
        for failure in self._failures:
            if failure.pattern.search(line):
                self._failures.remove(failure)
                if isinstance(failure.error, BaseException):
                    raise failure.error
                return CommandResult(args, failure.error, "", failure.stderr)
        for rule in self.rules:
            if rule.matches(line):
                return rule.answer(args, input)
        if self.strict:
            raise UnexpectedCommand(f"ScriptedCommands: no rule matches {line!r}")
        return CommandResult(args, 127, "", f"{args[0] if args else ''}: command not found")

    # ------------------------------------------------------------------ asserts

    def lines(self) -> list[str]:
        """The command lines called so far, in order."""
        return [call.line for call in self.calls]

    def assert_called(self, pattern: str, *, times: int | None = None) -> None:
        """At least one call (or exactly ``times`` calls) matched ``pattern``."""
        regex = re.compile(pattern)
        count = sum(1 for line in self.lines() if regex.search(line))
        if times is None and count == 0:
            raise AssertionError(f"no call matched {pattern!r}; calls: {self.lines()}")
        if times is not None and count != times:
            raise AssertionError(
                f"{count} calls matched {pattern!r}, expected {times}; calls: {self.lines()}"
            )

    def assert_calls(self, patterns: Sequence[str]) -> None:
        """The calls, in order, match ``patterns`` one to one."""
        lines = self.lines()
        if len(lines) != len(patterns) or not all(
            re.search(p, line) for p, line in zip(patterns, lines, strict=False)
        ):
            raise AssertionError(f"calls {lines} do not match {list(patterns)}")

    def reset_calls(self) -> None:
        self.calls.clear()
