"""The UWS 1.1, VOSI and operations paths of the OpenAPI document.

The ExecutionBroker paths (:mod:`ivoa_broker.eb.openapi`) are generated from models;
these are written by hand from the routes in :mod:`ivoa_broker.web`. UWS documents
are XML valid against the IVOA UWS 1.1 schema (``uws:job``, ``uws:jobs``, ...) by
default, or JSON with ``Accept: application/json``; actions are HTML-form posts that
answer ``303 See Other`` with the job's URL, as the UWS REST binding says.
"""

from __future__ import annotations

from typing import Any

UWS_XSD = "http://www.ivoa.net/xml/UWS/v1.0"

_XML = {"schema": {"type": "string", "description": f"XML in namespace {UWS_XSD}"}}
_JSON = {"schema": {"type": "object"}}
_TEXT = {"schema": {"type": "string"}}
_FORM = "application/x-www-form-urlencoded"


def _doc(description: str, *, json: bool = True) -> dict[str, Any]:
    content: dict[str, Any] = {"application/xml": _XML, "text/xml": _XML}
    if json:
        content["application/json"] = _JSON
    return {"description": description, "content": content}


def _see_other(what: str) -> dict[str, Any]:
    return {
        "description": f"Done; see {what} at the `Location`.",
        "headers": {"Location": {"required": True, "schema": {"type": "string", "format": "uri"}}},
    }


_ERRORS: dict[str, Any] = {
    "400": {
        "description": "A parameter is invalid; the message names it.",
        "content": {"text/plain": _TEXT, "application/json": _JSON},
    },
    "401": {"description": "Identity required (`WWW-Authenticate: Bearer`)."},
    "404": {"description": "No such job for this caller (another owner's job is also 404)."},
}

_JOB_ID = {"name": "job_id", "in": "path", "required": True, "schema": {"type": "string"}}


def _form(properties: dict[str, Any]) -> dict[str, Any]:
    schema = {"type": "object", "properties": properties, "additionalProperties": True}
    return {
        "required": False,
        "content": {_FORM: {"schema": schema}, "multipart/form-data": {"schema": schema}},
    }


def _child(name: str, description: str, settable: dict[str, Any] | None) -> dict[str, Any]:
    item: dict[str, Any] = {
        "parameters": [_JOB_ID],
        "get": {
            "operationId": f"uwsGet{name.title()}",
            "tags": ["UWS"],
            "summary": description,
            "responses": {
                "200": {"description": description, "content": {"text/plain": _TEXT}},
                **_ERRORS,
            },
        },
    }
    if settable is not None:
        item["post"] = {
            "operationId": f"uwsSet{name.title()}",
            "tags": ["UWS"],
            "summary": f"Change the job's {name}.",
            "requestBody": _form(settable),
            "responses": {"303": _see_other("the job"), **_ERRORS},
        }
    return item


def uws_vosi_paths() -> dict[str, Any]:
    """The paths of the UWS job list and jobs, VOSI, and the operations probes."""
    uws_params = {
        "cmd": {"type": "string"},
        "args": {"type": "array", "items": {"type": "string"}},
        "PHASE": {"type": "string", "enum": ["RUN"]},
        "RUNID": {"type": "string"},
        "EXECUTIONDURATION": {"type": "integer", "minimum": 0},
        "DESTRUCTION": {"type": "string", "format": "date-time"},
    }
    return {
        "/jobs": {
            "get": {
                "operationId": "uwsListJobs",
                "tags": ["UWS"],
                "summary": "The caller's jobs (UWS job list), newest first.",
                "parameters": [
                    {
                        "name": "PHASE",
                        "in": "query",
                        "schema": {"type": "array", "items": {"type": "string"}},
                        "explode": True,
                    },
                    {
                        "name": "AFTER",
                        "in": "query",
                        "schema": {"type": "string", "format": "date-time"},
                    },
                    {"name": "LAST", "in": "query", "schema": {"type": "integer", "minimum": 1}},
                ],
                "responses": {"200": _doc("A `uws:jobs` list."), **_ERRORS},
            },
            "post": {
                "operationId": "uwsCreateJob",
                "tags": ["UWS"],
                "summary": "Create a job from its parameters (the README's table); "
                "`PHASE=RUN` starts it.",
                "requestBody": _form(uws_params),
                "responses": {"303": _see_other("the new job"), **_ERRORS},
            },
        },
        "/jobs/{job_id}": {
            "parameters": [
                _JOB_ID,
                {
                    "name": "WAIT",
                    "in": "query",
                    "schema": {"type": "number"},
                    "description": "Block up to this many seconds for a phase change.",
                },
                {"name": "PHASE", "in": "query", "schema": {"type": "string"}},
            ],
            "get": {
                "operationId": "uwsGetJob",
                "tags": ["UWS"],
                "summary": "The job (`uws:job`).",
                "responses": {"200": _doc("The job."), **_ERRORS},
            },
            "post": {
                "operationId": "uwsPostJob",
                "tags": ["UWS"],
                "summary": "`ACTION=DELETE` destroys the job.",
                "requestBody": _form({"ACTION": {"type": "string", "enum": ["DELETE"]}}),
                "responses": {"303": _see_other("the job list"), **_ERRORS},
            },
            "delete": {
                "operationId": "uwsDeleteJob",
                "tags": ["UWS"],
                "summary": "Destroy the job (its platform task is cancelled first).",
                "responses": {"303": _see_other("the job list"), **_ERRORS},
            },
        },
        "/jobs/{job_id}/phase": _child(
            "phase", "The job's phase.", {"PHASE": {"type": "string", "enum": ["RUN", "ABORT"]}}
        ),
        "/jobs/{job_id}/executionduration": _child(
            "executionduration",
            "The run time allowed, seconds (0: the broker's maximum).",
            {"EXECUTIONDURATION": {"type": "integer", "minimum": 0}},
        ),
        "/jobs/{job_id}/destruction": _child(
            "destruction",
            "When the job is destroyed (ISO 8601 UTC).",
            {"DESTRUCTION": {"type": "string", "format": "date-time"}},
        ),
        "/jobs/{job_id}/quote": _child("quote", "The estimated end, if known.", None),
        "/jobs/{job_id}/owner": _child("owner", "The job's owner.", None),
        "/jobs/{job_id}/parameters": {
            "parameters": [_JOB_ID],
            "get": {
                "operationId": "uwsGetParameters",
                "tags": ["UWS"],
                "summary": "The job's parameters (`uws:parameters`).",
                "responses": {"200": _doc("The parameters."), **_ERRORS},
            },
            "post": {
                "operationId": "uwsSetParameters",
                "tags": ["UWS"],
                "summary": "Change parameters while the job is PENDING.",
                "requestBody": _form({}),
                "responses": {"303": _see_other("the job"), **_ERRORS},
            },
        },
        "/jobs/{job_id}/results": {
            "parameters": [_JOB_ID],
            "get": {
                "operationId": "uwsGetResults",
                "tags": ["UWS"],
                "summary": "The job's results (`uws:results`).",
                "responses": {"200": _doc("The results."), **_ERRORS},
            },
        },
        "/jobs/{job_id}/results/{result_id}": {
            "parameters": [
                _JOB_ID,
                {"name": "result_id", "in": "path", "required": True, "schema": {"type": "string"}},
            ],
            "get": {
                "operationId": "uwsGetResult",
                "tags": ["UWS"],
                "summary": "One result's content, with the owner's rights.",
                "responses": {
                    "200": {"description": "The result.", "content": {"*/*": {}}},
                    "303": _see_other("a result held elsewhere"),
                    **_ERRORS,
                },
            },
        },
        "/jobs/{job_id}/error": {
            "parameters": [_JOB_ID],
            "get": {
                "operationId": "uwsGetError",
                "tags": ["UWS"],
                "summary": "The error document of a failed job (a DALI VOTable).",
                "responses": {
                    "200": {
                        "description": "The error.",
                        "content": {"application/x-votable+xml": _TEXT, "application/json": _JSON},
                    },
                    **_ERRORS,
                },
            },
        },
        "/availability": {
            "get": {
                "operationId": "vosiAvailability",
                "tags": ["VOSI"],
                "summary": "VOSI availability: the store and every platform checked.",
                "security": [],
                "responses": {"200": _doc("`vosi:availability`.")},
            }
        },
        "/capabilities": {
            "get": {
                "operationId": "vosiCapabilities",
                "tags": ["VOSI"],
                "summary": "VOSI capabilities: UWS, VOSI and ExecutionBroker endpoints.",
                "security": [],
                "responses": {"200": _doc("`vosi:capabilities`.")},
            }
        },
        "/healthz": {
            "get": {
                "operationId": "healthz",
                "tags": ["operations"],
                "summary": "Liveness: the process answers.",
                "security": [],
                "responses": {"200": {"description": "Alive.", "content": {"text/plain": _TEXT}}},
            }
        },
        "/readyz": {
            "get": {
                "operationId": "readyz",
                "tags": ["operations"],
                "summary": "Readiness: the store is writable and a platform is healthy.",
                "security": [],
                "responses": {
                    "200": {"description": "Ready.", "content": {"application/json": _JSON}},
                    "503": {
                        "description": "Not ready; notes say why.",
                        "content": {"application/json": _JSON},
                    },
                },
            }
        },
        "/metrics": {
            "get": {
                "operationId": "metrics",
                "tags": ["operations"],
                "summary": "Prometheus metrics (text exposition format 0.0.4).",
                "security": [],
                "responses": {"200": {"description": "Metrics.", "content": {"text/plain": _TEXT}}},
            }
        },
    }
