"""Server-side printing: ``meta.k8s.io/v1`` Tables, which ``kubectl get`` asks for
(``Accept: application/json;as=Table;v=v1;g=meta.k8s.io``). Columns follow the
real printers of jobs and pods; other kinds get Name and Age."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from ._store import Obj, parse_iso


def _age(obj: Obj) -> str:
    created = parse_iso(obj["metadata"].get("creationTimestamp"))
    if created is None:
        return "<unknown>"
    s = int((datetime.now(UTC) - created).total_seconds())
    if s < 120:
        return f"{s}s"
    if s < 7200:
        return f"{s // 60}m{s % 60}s" if s < 600 else f"{s // 60}m"
    return f"{s // 3600}h"


def _job_status(job: Obj) -> str:
    for c in job.get("status", {}).get("conditions") or []:
        if c["status"] == "True" and c["type"] in ("Complete", "Failed"):
            return str(c["type"])
    if job["metadata"].get("deletionTimestamp"):
        return "Terminating"
    return "Running"


def _job_duration(job: Obj) -> str:
    start = parse_iso(job.get("status", {}).get("startTime"))
    if start is None:
        return ""
    end = parse_iso(job["status"].get("completionTime")) or datetime.now(UTC)
    return f"{int((end - start).total_seconds())}s"


def _pod_status(pod: Obj) -> str:
    if pod["metadata"].get("deletionTimestamp"):
        return "Terminating"
    for cs in pod.get("status", {}).get("containerStatuses") or []:
        state = cs.get("state", {})
        for key in ("waiting", "terminated"):
            if state.get(key, {}).get("reason"):
                return str(state[key]["reason"])
    return str(pod.get("status", {}).get("phase", "Pending"))


def _columns(kind: str) -> list[tuple[str, str]]:
    if kind == "Job":
        return [
            ("Name", "name"),
            ("Status", "string"),
            ("Completions", "string"),
            ("Duration", "string"),
            ("Age", "string"),
        ]
    if kind == "Pod":
        return [
            ("Name", "name"),
            ("Ready", "string"),
            ("Status", "string"),
            ("Restarts", "string"),
            ("Age", "string"),
        ]
    return [("Name", "name"), ("Age", "string")]


def _cells(obj: Obj) -> list[Any]:
    name = obj["metadata"]["name"]
    if obj["kind"] == "Job":
        done = obj.get("status", {}).get("succeeded", 0)
        total = obj["spec"].get("completions", 1)
        return [name, _job_status(obj), f"{done}/{total}", _job_duration(obj), _age(obj)]
    if obj["kind"] == "Pod":
        statuses = obj.get("status", {}).get("containerStatuses") or []
        ready = sum(1 for s in statuses if s.get("ready"))
        total = len(obj["spec"].get("containers") or [])
        return [name, f"{ready}/{total}", _pod_status(obj), 0, _age(obj)]
    return [name, _age(obj)]


def _partial(obj: Obj) -> dict[str, Any]:
    return {
        "kind": "PartialObjectMetadata",
        "apiVersion": "meta.k8s.io/v1",
        "metadata": obj["metadata"],
    }


def table(kind: str, objs: list[Obj], rv: str) -> dict[str, Any]:
    return {
        "kind": "Table",
        "apiVersion": "meta.k8s.io/v1",
        "metadata": {"resourceVersion": rv},
        "columnDefinitions": [
            {
                "name": n,
                "type": "string",
                "format": f if f == "name" else "",
                "description": n,
                "priority": 0,
            }
            for n, f in _columns(kind)
        ],
        "rows": [{"cells": _cells(o), "object": _partial(o)} for o in objs],
    }


def wants_table(accept: str) -> bool:
    first = accept.split(",")[0]
    return "as=Table" in first
