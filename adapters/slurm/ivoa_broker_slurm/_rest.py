"""slurmrestd (OpenAPI v0.0.37/v0.0.38) with a JWT: the one place where HTTP trouble becomes
protocol errors. Job files live on a folder the broker host shares with the cluster."""

from __future__ import annotations

import asyncio
import dataclasses
import shutil
from collections.abc import Mapping, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx

from ivoa_broker.protocol import (
    FatalError,
    InvalidRequest,
    NotFound,
    TransientError,
    Usage,
)
from ivoa_broker.toolkit import error_for_status

from ._cluster import Cluster, nodes_from_rest, partitions_from_rest
from ._records import JobInfo, controller_jobs, from_controller
from ._spec import JobSpec


class RestClient:
    """``/slurm/{version}/...`` (and ``/slurmdb/{version}/...`` where slurmrestd serves it)."""

    def __init__(
        self,
        url: str,
        version: str,
        user: str,
        token: str,
        *,
        job_root: str,
        local_job_root: Path,
        timeout: float = 30.0,
    ) -> None:
        self._version = version
        self._job_root = job_root.rstrip("/")
        self._local_root = local_job_root
        self._http = httpx.AsyncClient(
            base_url=url.rstrip("/"),
            headers={"X-SLURM-USER-NAME": user, "X-SLURM-USER-TOKEN": token},
            timeout=timeout,
        )

    def __repr__(self) -> str:
        return f"RestClient(url={str(self._http.base_url)!r}, version={self._version!r})"

    async def close(self) -> None:
        await self._http.aclose()

    async def _request(
        self, method: str, path: str, what: str, *, json: Any = None, missing_ok: bool = False
    ) -> dict[str, Any]:
        try:
            response = await self._http.request(method, path, json=json)
        except httpx.TimeoutException as exc:
            raise TransientError(f"slurmrestd did not answer {what} in time") from exc
        except httpx.TransportError as exc:
            raise TransientError(
                f"cannot reach slurmrestd for {what}", detail=type(exc).__name__
            ) from exc
        try:
            body = response.json()
        except ValueError:
            body = None
        errors = _errors(body)
        if response.status_code >= 400:
            if missing_ok and response.status_code in (404, 500) and _unknown_job(errors):
                raise NotFound(f"{what}: Slurm does not know the job")
            message = f"slurmrestd refused {what} ({response.status_code})"
            if errors:
                message += f": {errors[0]}"
            raise error_for_status(response.status_code, message, detail=response.text[:300])
        if not isinstance(body, dict):
            raise FatalError(
                f"slurmrestd answered {what} with something that is not JSON",
                detail=response.text[:200],
            )
        if errors:
            if missing_ok and _unknown_job(errors):
                raise NotFound(f"{what}: Slurm does not know the job")
            raise FatalError(f"slurmrestd reported an error for {what}: {errors[0]}")
        return body

    def _slurm(self, tail: str) -> str:
        return f"/slurm/{self._version}/{tail}"

    def _db(self, tail: str) -> str:
        return f"/slurmdb/{self._version}/{tail}"

    # ------------------------------------------------------------ discovery

    async def ping(self) -> None:
        await self._request("GET", self._slurm("ping"), "ping")

    async def cluster(self) -> Cluster:
        nodes = nodes_from_rest(await self._request("GET", self._slurm("nodes"), "nodes"))
        parts = partitions_from_rest(
            await self._request("GET", self._slurm("partitions"), "partitions"), nodes
        )
        accounting = "sacct" if await self._serves(self._db("diag")) else "none"
        return Cluster(partitions=tuple(parts), accounting=accounting, nodes=tuple(nodes))

    async def _serves(self, path: str) -> bool:
        """Whether slurmrestd has the plug-in of ``path`` loaded (any answer but 404 says yes,
        a refusal included: ``/slurmdb/`` is served only when slurmdbd is configured)."""
        try:
            response = await self._http.get(path)
        except httpx.HTTPError as exc:
            raise TransientError("cannot reach slurmrestd", detail=type(exc).__name__) from exc
        return response.status_code != 404

    # ----------------------------------------------------------------- jobs

    async def submit(self, spec: JobSpec, *, as_user: str | None = None) -> str:
        body = await self._request(
            "POST",
            self._slurm("job/submit"),
            "job submit",
            json={"job": spec.rest_job(), "script": spec.script()},
        )
        native = body.get("job_id")
        if not isinstance(native, int):
            raise FatalError("slurmrestd answered a submit without job_id")
        return str(native)

    async def test_only(self, spec: JobSpec, *, as_user: str | None = None) -> datetime | None:
        return None  # slurmrestd 22.05 has no will-run/test-only endpoint

    async def jobs(self, ids: Sequence[str]) -> dict[str, JobInfo]:
        if not ids:
            return {}
        found = controller_jobs(await self._request("GET", self._slurm("jobs"), "jobs"), "rest")
        return {k: v for k, v in found.items() if k in set(ids)}

    async def all_jobs(self) -> dict[str, JobInfo]:
        return controller_jobs(await self._request("GET", self._slurm("jobs"), "jobs"), "rest")

    async def accounting(self, ids: Sequence[str], kind: str) -> dict[str, JobInfo]:
        if not ids or kind != "sacct":
            return {}
        found: dict[str, JobInfo] = {}

        async def one(native: str) -> None:
            try:
                body = await self._request(
                    "GET", self._db(f"job/{native}"), "slurmdb job", missing_ok=True
                )
            except NotFound:
                return
            for job in body.get("jobs") or ():
                info = _from_slurmdb(job)
                if info is not None and info.native_id == native:
                    found[native] = info

        await asyncio.gather(*(one(n) for n in ids))
        return found

    async def cancel(self, native_id: str, *, as_user: str | None = None) -> None:
        try:
            await self._request(
                "DELETE", self._slurm(f"job/{native_id}"), "job cancel", missing_ok=True
            )
        except NotFound:
            return
        except FatalError as exc:
            if "completed" in exc.message.lower() or "already" in exc.message.lower():
                return
            raise

    # ---------------------------------------------------------------- files

    def _local(self, remote: str) -> Path:
        if remote != self._job_root and not remote.startswith(self._job_root + "/"):
            raise InvalidRequest(f"{remote} is outside the job folder")
        return self._local_root / remote[len(self._job_root) :].lstrip("/")

    async def fetch(self, remote: str, local: Path) -> bool:
        source = self._local(remote)
        if not source.is_file():
            return False
        local.parent.mkdir(parents=True, exist_ok=True)
        await asyncio.to_thread(shutil.copyfile, source, local)
        return True

    async def remove(self, paths: Sequence[str], *, as_user: str | None = None) -> None:
        def rm() -> None:
            for remote in paths:
                path = self._local(remote)
                if path.is_dir() and not path.is_symlink():
                    shutil.rmtree(path, ignore_errors=True)
                else:
                    path.unlink(missing_ok=True)

        await asyncio.to_thread(rm)


def _errors(body: Any) -> list[str]:
    if not isinstance(body, Mapping):
        return []
    said = []
    for err in body.get("errors") or ():
        if isinstance(err, Mapping):
            text = err.get("error") or err.get("description") or ""
            code = err.get("error_number") or err.get("errno")
            said.append(f"{text} ({code})" if code else str(text))
    return [s for s in said if s]


def _unknown_job(errors: Sequence[str]) -> bool:
    return any("invalid job id" in e.lower() or "2017" in e for e in errors)


def _from_slurmdb(job: Any) -> JobInfo | None:
    """A ``/slurmdb/v0.0.3x/job/{id}`` record. Its exit codes are unreliable in 22.05 (SUCCESS
    for a job that exited 2): a code of 0 on a job that did not complete is not believed."""
    if not isinstance(job, Mapping) or "job_id" not in job:
        return None
    state = job.get("state") or {}
    current = state.get("current") if isinstance(state, Mapping) else state
    raw_times = job.get("time")
    times: Mapping[str, Any] = raw_times if isinstance(raw_times, Mapping) else {}
    doc = {
        "job_id": job["job_id"],
        "name": job.get("name"),
        "job_state": current or "UNKNOWN",
        "start_time": times.get("start"),
        "end_time": times.get("end"),
    }
    info = from_controller(doc, "slurmdb")
    exit_code, signal = None, None
    code = job.get("exit_code")
    if isinstance(code, Mapping):
        if isinstance(code.get("return_code"), int):
            exit_code = code["return_code"]
        sig = code.get("signal")
        if isinstance(sig, Mapping) and isinstance(sig.get("signal_id"), int):
            signal = sig["signal_id"]
    if info.state != "COMPLETED" and not exit_code:
        exit_code = None
    return dataclasses.replace(info, exit_code=exit_code, signal=signal, usage=_usage(job, times))


def _seconds(value: Any) -> float | None:
    if not isinstance(value, Mapping):
        return None
    return float(value.get("seconds") or 0) + float(value.get("microseconds") or 0) / 1e6


def _usage(job: Mapping[str, Any], times: Mapping[str, Any]) -> Usage:
    rss = []
    for step in job.get("steps") or ():
        tres = (step.get("tres") or {}).get("requested") or {} if isinstance(step, Mapping) else {}
        rss += [
            t["count"]
            for t in tres.get("max") or ()
            if isinstance(t, Mapping) and t.get("type") == "mem" and isinstance(t.get("count"), int)
        ]
    elapsed = times.get("elapsed")
    return Usage(
        cpu_seconds=_seconds(times.get("total")),
        elapsed_seconds=float(elapsed) if isinstance(elapsed, int) else None,
        max_rss_bytes=max(rss) if rss else None,
    )
