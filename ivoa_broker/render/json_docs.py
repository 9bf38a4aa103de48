"""JSON twins of the UWS and VOSI documents (a project extension, opt-in by
``Accept: application/json``). Plain dicts ready for ``json.dumps``.

Field names are the XML's (camelCase), values are the XML's: the same
instant strings, and ``None`` where the XML writes ``xsi:nil`` or leaves an
optional element out.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from ivoa_broker.protocol import JSON
from ivoa_broker.records import Job, JobError, JobResult, JobSummary, Parameter
from ivoa_broker.render.times import format_instant
from ivoa_broker.render.uws_xml import UWS_VERSION, job_href, result_href
from ivoa_broker.render.vosi_xml import CapabilitySpec

__all__ = [
    "availability_json",
    "capabilities_json",
    "error_json",
    "job_json",
    "jobs_json",
    "parameters_json",
    "results_json",
]


def _instant(value: datetime | None) -> str | None:
    return format_instant(value) if value is not None else None


def _parameters(parameters: Sequence[Parameter]) -> list[JSON]:
    return [{"id": p.name, "value": p.value, "byReference": p.by_reference} for p in parameters]


def _results(results: Sequence[JobResult], job_url: str) -> list[JSON]:
    return [
        {
            "id": r.id,
            "href": result_href(r, job_url),
            "mimeType": r.mime_type,
            "size": r.size,
        }
        for r in results
    ]


def _error_summary(error: JobError | None) -> JSON:
    if error is None:
        return None
    return {"type": error.type, "hasDetail": True, "message": error.message}


def job_json(job: Job, job_url: str) -> dict[str, JSON]:
    """The job document (same fields as ``uws:job``)."""
    return {
        "version": UWS_VERSION,
        "jobId": job.job_id,
        "runId": job.run_id,
        "ownerId": job.owner,
        "phase": job.phase.value,
        "quote": _instant(job.quote),
        "creationTime": format_instant(job.creation_time),
        "startTime": _instant(job.start_time),
        "endTime": _instant(job.end_time),
        "executionDuration": job.execution_duration,
        "destruction": _instant(job.destruction),
        "parameters": _parameters(job.parameters),
        "results": _results(job.results, job_url),
        "errorSummary": _error_summary(job.error),
        "jobInfo": dict(job.job_info),
    }


def jobs_json(jobs: Sequence[JobSummary], jobs_url: str) -> dict[str, JSON]:
    """The job list (same fields as ``uws:jobs``/``uws:jobref``)."""
    return {
        "version": UWS_VERSION,
        "jobs": [
            {
                "jobId": job.job_id,
                "href": job_href(job.job_id, jobs_url),
                "phase": job.phase.value,
                "runId": job.run_id,
                "ownerId": job.owner,
                "creationTime": format_instant(job.creation_time),
            }
            for job in jobs
        ],
    }


def results_json(job: Job, job_url: str) -> dict[str, JSON]:
    """``{"results": [...]}`` as in ``uws:results``."""
    return {"results": _results(job.results, job_url)}


def parameters_json(job: Job) -> dict[str, JSON]:
    """``{"parameters": [...]}`` as in ``uws:parameters``."""
    return {"parameters": _parameters(job.parameters)}


def error_json(job: Job) -> dict[str, JSON]:
    """The error document: ``queryStatus`` ``ERROR``, type, message, detail.

    Raises ``ValueError`` when the job has no error (the service answers 404).
    """
    if job.error is None:
        raise ValueError(f"job {job.job_id!r} has no error")
    return {
        "queryStatus": "ERROR",
        "type": job.error.type,
        "message": job.error.message,
        "detail": job.error.detail,
    }


def availability_json(
    available: bool, notes: Sequence[str], up_since: datetime | None = None
) -> dict[str, JSON]:
    """``{"available", "upSince", "notes"}`` as in ``vosi:availability``."""
    return {"available": available, "upSince": _instant(up_since), "notes": list(notes)}


def capabilities_json(capabilities: Sequence[CapabilitySpec]) -> dict[str, JSON]:
    """``{"capabilities": [...]}`` mirroring ``capability/interface/accessURL``."""
    return {
        "capabilities": [
            {
                "standardID": spec.standard_id,
                "description": spec.description,
                "interfaces": [
                    {
                        "type": spec.interface_type,
                        "role": spec.role,
                        "accessURL": [{"use": spec.use, "value": spec.access_url}],
                    }
                ],
            }
            for spec in capabilities
        ]
    }
