"""The Slurm command line (``sbatch``, ``squeue``, ``sacct``, ``scancel``, ``scontrol``) through
a :class:`~ivoa_broker.protocol.CommandRunner`: on the broker host or on a login host over SSH.

The one place where a command's failure becomes a protocol error (:func:`command_error`).
"""

from __future__ import annotations

import asyncio
import json
import re
import shlex
from collections.abc import Awaitable, Callable, Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path

from ivoa_broker.protocol import (
    AdapterError,
    AuthError,
    CommandResult,
    CommandRunner,
    FatalError,
    InvalidRequest,
    NoCapacity,
    TransientError,
)

from ._cluster import (
    Cluster,
    accounting_kind,
    config_from_scontrol,
    nodes_from_scontrol,
    partitions_from_scontrol,
)
from ._records import SACCT_FIELDS, SACCT_USAGE_FIELDS, JobInfo, accounting_jobs, controller_jobs
from ._spec import JobSpec

#: stderr fragments -> error class (first match wins; checked in order)
_PATTERNS: tuple[tuple[re.Pattern[str], type[AdapterError]], ...] = tuple(
    (re.compile(text, re.IGNORECASE), cls)
    for text, cls in (
        (
            r"unable to contact slurm controller|connection refused|socket timed out|is down|"
            r"communication connection failure|slurm_receive_msg|zero bytes were transmitted|"
            r"unable to establish|temporarily unavailable|try again",
            TransientError,
        ),
        (
            r"munge|authentication|auth_g_|invalid user id|access.?denied|permission denied|"
            r"security violation|protocol authentication error",
            AuthError,
        ),
        (
            r"maxsubmit|max.*jobs.*limit|qosmax|assocmax|sending of job to controller: "
            r"resource temporarily",
            NoCapacity,
        ),
        (
            r"invalid (account|partition|qos|reservation|job.?name|generic resource|gres)|"
            r"requested (node configuration|time limit|partition)|"
            r"more processors requested|memory specification|node count specification|"
            r"unrecognized option|invalid option|invalid (time|--\w+)|batch job submission failed",
            InvalidRequest,
        ),
    )
)


def command_error(result: CommandResult, what: str) -> AdapterError:
    """A failed Slurm command as a protocol error (its message is Slurm's own, cut short)."""
    said = (result.stderr.strip() or result.stdout.strip())[-400:]
    text = f"{what} failed: {said}" if said else f"{what} failed (exit {result.returncode})"
    if result.returncode in (126, 127) and not said.lower().startswith("sbatch"):
        return FatalError(f"{what}: the Slurm command is not installed or not runnable")
    for pattern, cls in _PATTERNS:
        if pattern.search(said):
            return cls(text, detail=shlex.join(result.argv)[:300])
    return FatalError(text, detail=shlex.join(result.argv)[:300])


def _json(text: str, what: str) -> object:
    try:
        return json.loads(text)
    except ValueError as exc:
        raise FatalError(f"{what} answered something that is not JSON", detail=text[:200]) from exc


#: ``sbatch --test-only``: "Job 12 to start at 2026-12-01T22:40:00 using 1 processors ..."
_TEST_ONLY = re.compile(r"to start at (\S+)")
#: ``squeue``/``scancel`` about a job the controller forgot
_GONE = re.compile(
    r"invalid job id|job.*(already|has) (completed|completing|finished)|"
    r"job/step already completing or completed",
    re.IGNORECASE,
)


class CliClient:
    """Slurm through its CLI. ``env`` goes with every command (``SLURM_CONF``, ...)."""

    def __init__(
        self,
        run: CommandRunner,
        *,
        env: Mapping[str, str] | None = None,
        timeout: float = 30.0,
        sudo: bool = False,
        on_close: Callable[[], Awaitable[None]] | None = None,
    ) -> None:
        self._run = run
        self._on_close = on_close
        # epoch seconds everywhere: no guessing of time zones
        self._env = {**(env or {}), "SLURM_TIME_FORMAT": "%s"}
        self._timeout = timeout
        self._sudo = sudo

    def __repr__(self) -> str:
        return f"CliClient(env={sorted(self._env)})"

    async def close(self) -> None:
        if self._on_close is not None:
            await self._on_close()

    async def _call(
        self,
        argv: Sequence[str],
        what: str,
        *,
        input: str | None = None,
        as_user: str | None = None,
        check: bool = True,
    ) -> CommandResult:
        if self._sudo and as_user:
            argv = ["sudo", "-n", "-u", as_user, "--", "env", *self._env_args(), *argv]
        try:
            result = await self._run(argv, input=input, timeout=self._timeout, env=self._env)
        except AdapterError:
            raise
        except FileNotFoundError as exc:
            raise FatalError(f"{what}: {argv[0]} is not installed") from exc
        except OSError as exc:
            raise TransientError(f"{what} could not be run", detail=type(exc).__name__) from exc
        if check and result.returncode != 0:
            raise command_error(result, what)
        return result

    def _env_args(self) -> list[str]:
        return [f"{k}={v}" for k, v in sorted(self._env.items())]

    # ------------------------------------------------------------ discovery

    async def ping(self) -> None:
        await self._call(["scontrol", "ping"], "scontrol ping")

    async def cluster(self) -> Cluster:
        config = config_from_scontrol(
            (await self._call(["scontrol", "show", "config"], "scontrol show config")).stdout
        )
        nodes = nodes_from_scontrol(
            (await self._call(["scontrol", "-o", "show", "node"], "scontrol show node")).stdout
        )
        parts = partitions_from_scontrol(
            (
                await self._call(["scontrol", "-o", "show", "partition"], "scontrol show partition")
            ).stdout,
            nodes,
        )
        return Cluster(
            partitions=tuple(parts),
            accounting=accounting_kind(config),
            version=config.get("SLURM_VERSION", ""),
            nodes=tuple(nodes),
        )

    # ----------------------------------------------------------------- jobs

    async def submit(self, spec: JobSpec, *, as_user: str | None = None) -> str:
        done = await self._call(
            ["sbatch", "--parsable", *spec.sbatch_args()],
            "sbatch",
            input=spec.script(),
            as_user=as_user,
        )
        native = done.stdout.strip().split(";")[0]
        if not native.isdigit():
            raise FatalError("sbatch answered no job id", detail=done.stdout[:200])
        return native

    async def test_only(self, spec: JobSpec, *, as_user: str | None = None) -> datetime | None:
        """When Slurm expects the job to start (``sbatch --test-only``), None if it cannot say."""
        done = await self._call(
            ["sbatch", "--test-only", *spec.sbatch_args()],
            "sbatch --test-only",
            input=spec.script(),
            as_user=as_user,
        )
        match = _TEST_ONLY.search(done.stderr + done.stdout)
        if match is None:
            return None
        value = match.group(1)
        if value.isdigit():
            return datetime.fromtimestamp(int(value), UTC)
        try:
            return datetime.fromisoformat(value).astimezone(UTC)
        except ValueError:
            return None

    async def jobs(self, ids: Sequence[str]) -> dict[str, JobInfo]:
        """The controller's view of ``ids`` (one ``squeue``); ids it forgot are absent."""
        if not ids:
            return {}
        done = await self._call(
            ["squeue", "--json", "--states=all", f"--jobs={','.join(ids)}"], "squeue", check=False
        )
        if done.returncode != 0:
            if _GONE.search(done.stderr):
                return {}  # none of them is known any more
            raise command_error(done, "squeue")
        found = controller_jobs(self._checked(done, "squeue"), "squeue")
        return {k: v for k, v in found.items() if k in set(ids)}

    async def all_jobs(self) -> dict[str, JobInfo]:
        done = await self._call(["squeue", "--json", "--states=all"], "squeue")
        return controller_jobs(self._checked(done, "squeue"), "squeue")

    @staticmethod
    def _checked(done: CommandResult, what: str) -> object:
        """The JSON of ``squeue --json``, which exits 0 even when it reached no controller
        (the document then holds ``errors``; the reason, if any, is on stderr)."""
        doc = _json(done.stdout, what)
        errors = doc.get("errors") if isinstance(doc, dict) else None
        if errors:
            if done.stderr.strip():
                raise command_error(done, what)
            raise TransientError(
                f"{what} got no answer from the Slurm controller", detail=str(errors)[:300]
            )
        return doc

    async def accounting(self, ids: Sequence[str], kind: str) -> dict[str, JobInfo]:
        """Ended jobs from ``sacct`` (slurmdbd) or ``sacct -c`` (the job completion log)."""
        if not ids or kind == "none":
            return {}
        fields = SACCT_FIELDS + (SACCT_USAGE_FIELDS if kind == "sacct" else ())
        argv = [
            "sacct",
            "--parsable2",
            "--noheader",
            f"--format={','.join(fields)}",
            f"--jobs={','.join(ids)}",
        ]
        if kind == "jobcomp":
            argv.insert(1, "-c")
        else:
            argv.append("--allusers")
        done = await self._call(argv, "sacct")
        return accounting_jobs(done.stdout, fields, kind)

    async def cancel(self, native_id: str, *, as_user: str | None = None) -> None:
        """``scancel``; a job that ended or is unknown is success."""
        done = await self._call(["scancel", native_id], "scancel", as_user=as_user, check=False)
        if done.returncode != 0 and not _GONE.search(done.stderr):
            raise command_error(done, "scancel")

    # ---------------------------------------------------------------- files

    async def fetch(self, remote: str, local: Path) -> bool:
        """Copy one cluster file to ``local``; False if it does not exist."""
        done = await self._call(
            ["sh", "-c", 'test -f "$1" || exit 3; cat -- "$1"', "fetch", remote],
            "cat",
            check=False,
        )
        if done.returncode == 3:
            return False
        if done.returncode != 0:
            raise command_error(done, f"reading {remote}")
        await asyncio.to_thread(_write, local, done.stdout)
        return True

    async def remove(self, paths: Sequence[str], *, as_user: str | None = None) -> None:
        await self._call(["rm", "-rf", "--", *paths], "rm", as_user=as_user)


def _write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
