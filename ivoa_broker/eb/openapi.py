"""The OpenAPI 3.1 document of the ExecutionBroker endpoints.

``openapi.yaml`` next to this module is package data, written by
``python -m ivoa_broker.eb.openapi > ivoa_broker/eb/openapi.yaml``; a test
checks that the committed file equals :func:`build_openapi`, so the document
cannot drift from the models. Schemas are generated from the pydantic models
(JSON Schema 2020-12, as OpenAPI 3.1 uses); paths are written here.
"""

from __future__ import annotations

import json
import sys
from functools import cache
from importlib import resources
from typing import Any

import yaml
from pydantic import BaseModel, TypeAdapter
from pydantic.json_schema import models_json_schema

from ivoa_broker.eb.formats import CONTENT_TYPES, MAX_BYTES
from ivoa_broker.eb.kinds import ALIASES, Kind
from ivoa_broker.eb.model import (
    ExecutionRequestDocument,
    ExecutionSession,
    OfferSetList,
    OfferSetResponse,
    SessionList,
    SessionPhase,
    Update,
)
from ivoa_broker.eb.openapi_uws import uws_vosi_paths
from ivoa_broker.eb.xmlbind import NAMESPACE

__all__ = ["REF", "build_openapi", "dump_openapi", "load_openapi"]

REF = "#/components/schemas/{model}"

_DESCRIPTION = f"""\
The IVOA ExecutionBroker API as served by ivoa-broker: the v1.0 endpoints
(`POST /requests`, `GET /offersets/{{uuid}}`, `GET`/`POST /sessions/{{uuid}}`,
`POST /direct`) plus listings (`GET /sessions`, `GET /offersets`).

Every body is JSON, YAML or XML, chosen by `Content-Type` and `Accept`; YAML is
the default when neither says otherwise. The XML binding is described by the
project's XSD 1.1 (`xml_schemas/execution-broker.xsd`, namespace `{NAMESPACE}`).

`kind` values are emitted in their canonical v1.0 form; every historical
spelling listed in `x-kind-aliases` (LaTeX `uri:`, 2025 `EB/schema/…types`,
2024 `urn:`, the Java `computer/` typo) is accepted on input, as is `type` for
`kind` and the pre-2025-11 `{{update: …}}` wrapper.

Errors are RFC 9457 `application/problem+json` documents whose `path` names the
offending JSON path (`compute.cores.min`, `data[1].location`). Request bodies
are limited to {MAX_BYTES} bytes.

ivoa-broker extensions are marked `x-ivoa-broker-extension`: compute `gpus`,
session `requested` (the request as received, so requested and offered values
are reported distinctly), and the two listings.
"""


def _schemas() -> dict[str, Any]:
    models: list[tuple[type[BaseModel], Any]] = [
        (ExecutionRequestDocument, "validation"),
        (ExecutionSession, "validation"),
        (OfferSetResponse, "validation"),
        (SessionList, "validation"),
        (OfferSetList, "validation"),
    ]
    _, top = models_json_schema(models, ref_template=REF)
    schemas: dict[str, Any] = dict(top.get("$defs", {}))
    update = TypeAdapter(Update).json_schema(ref_template=REF)
    schemas.update(update.pop("$defs", {}))
    update["title"] = "Update"
    update["description"] = (
        "An update of a session: accept/reject/cancel (`uri:enum-value-update`, path `phase`)"
        " or a run-time extension (`uri:integer-delta-update`, path"
        " `schedule.available.duration`, `delta` in `units`, default seconds)."
    )
    schemas["Update"] = update
    schemas["ExecutionRequest"] = schemas.pop("ExecutionRequestDocument")
    schemas["Problem"] = _PROBLEM
    text = json.dumps(dict(sorted(schemas.items())))
    fixed = text.replace(
        "#/components/schemas/ExecutionRequestDocument", "#/components/schemas/ExecutionRequest"
    )
    result: dict[str, Any] = json.loads(fixed)
    return result


_PROBLEM: dict[str, Any] = {
    "title": "Problem",
    "description": "RFC 9457 problem details; `path` and `errors` are extensions.",
    "type": "object",
    "required": ["title", "status"],
    "properties": {
        "type": {"type": "string", "format": "uri-reference", "default": "about:blank"},
        "title": {"type": "string"},
        "status": {"type": "integer", "minimum": 400, "maximum": 599},
        "detail": {"type": "string"},
        "path": {"type": "string", "description": "JSON path of the first problem."},
        "errors": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["path", "detail"],
                "properties": {"path": {"type": "string"}, "detail": {"type": "string"}},
            },
        },
    },
}


def _ref(name: str) -> dict[str, str]:
    return {"$ref": REF.format(model=name)}


def _body(name: str) -> dict[str, Any]:
    return {media: {"schema": _ref(name)} for media in CONTENT_TYPES.values()}


def _problem(description: str) -> dict[str, Any]:
    return {
        "description": description,
        "content": {"application/problem+json": {"schema": _ref("Problem")}},
    }


_UUID = {
    "name": "uuid",
    "in": "path",
    "required": True,
    "schema": {"type": "string", "format": "uuid"},
}

_LIST_PARAMS: list[dict[str, Any]] = [
    {
        "name": "after",
        "in": "query",
        "description": "Only items created at or after this instant.",
        "schema": {"type": "string", "format": "date-time"},
    },
    {
        "name": "before",
        "in": "query",
        "description": "Only items created before this instant.",
        "schema": {"type": "string", "format": "date-time"},
    },
    {
        "name": "last",
        "in": "query",
        "description": "At most this many items, newest first.",
        "schema": {"type": "integer", "minimum": 1, "maximum": 1000},
    },
]

_PHASE = {
    "name": "phase",
    "in": "query",
    "description": "Only items in one of these phases (repeatable).",
    "style": "form",
    "explode": True,
    "schema": {"type": "array", "items": {"enum": [p.value for p in SessionPhase]}},
}

_NEGOTIATION = {
    "406": _problem("None of the `Accept`ed media types can be produced."),
}
_BODY_ERRORS = {
    "400": _problem("The document is malformed or invalid; `path` names where."),
    "413": _problem("The document is too large."),
    "415": _problem("The `Content-Type` cannot be read."),
    "422": _problem("Well-formed but unsupported (an unsupported kind, a privileged container)."),
}
_NOT_FOUND = {"404": _problem("No such item, or not yours.")}


def _paths() -> dict[str, Any]:
    see_other = {
        "description": "Created; see the `Location`. The body is the created document too.",
        "headers": {"Location": {"required": True, "schema": {"type": "string", "format": "uri"}}},
    }
    return {
        "/requests": {
            "post": {
                "operationId": "OfferSetRequest",
                "summary": "Ask for offers for an execution request.",
                "requestBody": {"required": True, "content": _body("ExecutionRequest")},
                "responses": {
                    "303": {**see_other, "content": _body("OfferSetResponse")},
                    "200": {"description": "The offer set.", "content": _body("OfferSetResponse")},
                    **_BODY_ERRORS,
                    **_NEGOTIATION,
                },
            }
        },
        "/offersets": {
            "get": {
                "operationId": "OfferSetList",
                "summary": "The caller's offer sets (ivoa-broker extension).",
                "description": "`phase` keeps offer sets holding an offer in one of the phases.",
                "x-ivoa-broker-extension": True,
                "parameters": [*_LIST_PARAMS, _PHASE],
                "responses": {
                    "200": {"description": "Offer sets.", "content": _body("OfferSetList")},
                    "400": _problem("A bad filter value."),
                    **_NEGOTIATION,
                },
            }
        },
        "/offersets/{uuid}": {
            "get": {
                "operationId": "OfferSetSelect",
                "summary": "One offer set.",
                "parameters": [_UUID],
                "responses": {
                    "200": {"description": "The offer set.", "content": _body("OfferSetResponse")},
                    **_NOT_FOUND,
                    **_NEGOTIATION,
                },
            }
        },
        "/sessions": {
            "get": {
                "operationId": "SessionList",
                "summary": "The caller's sessions (ivoa-broker extension).",
                "x-ivoa-broker-extension": True,
                "parameters": [*_LIST_PARAMS, _PHASE],
                "responses": {
                    "200": {"description": "Sessions.", "content": _body("SessionList")},
                    "400": _problem("A bad filter value."),
                    **_NEGOTIATION,
                },
            }
        },
        "/sessions/{uuid}": {
            "get": {
                "operationId": "SessionSelect",
                "summary": "One session (an offer is a session in phase OFFERED).",
                "parameters": [_UUID],
                "responses": {
                    "200": {"description": "The session.", "content": _body("ExecutionSession")},
                    **_NOT_FOUND,
                    **_NEGOTIATION,
                },
            },
            "post": {
                "operationId": "SessionUpdate",
                "summary": "Accept, reject or cancel a session, or extend its run time.",
                "parameters": [_UUID],
                "requestBody": {"required": True, "content": _body("Update")},
                "responses": {
                    "200": {
                        "description": "The updated session (a repeated accept is idempotent).",
                        "content": _body("ExecutionSession"),
                    },
                    **_BODY_ERRORS,
                    "403": _problem("The caller does not own the session."),
                    **_NOT_FOUND,
                    "409": _problem("The update is not allowed in the session's current phase."),
                    "410": _problem("The offer has expired."),
                    **_NEGOTIATION,
                },
            },
        },
        "/direct": {
            "post": {
                "operationId": "DirectExecution",
                "summary": "Run a request at once, without an offer step (starts ACCEPTED).",
                "requestBody": {"required": True, "content": _body("ExecutionRequest")},
                "responses": {
                    "303": {**see_other, "content": _body("ExecutionSession")},
                    "200": {"description": "The session.", "content": _body("ExecutionSession")},
                    **_BODY_ERRORS,
                    **_NEGOTIATION,
                },
            }
        },
    }


def _aliases() -> dict[str, list[str]]:
    out: dict[str, list[str]] = {kind.value: [] for kind in Kind}
    for alias, kind in sorted(ALIASES.items()):
        if alias != kind.value.casefold():
            out[kind.value].append(alias)
    return out


def _tagged(paths: dict[str, Any], tag: str) -> dict[str, Any]:
    for item in paths.values():
        for method, operation in item.items():
            if method in ("get", "post", "put", "delete") and isinstance(operation, dict):
                operation.setdefault("tags", [tag])
    return paths


def build_openapi() -> dict[str, Any]:
    """The OpenAPI document as plain data."""
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "ivoa-broker API (ExecutionBroker, UWS 1.1, VOSI)",
            "version": "1.0",
            "summary": "IVOA ExecutionBroker v1.0 with ivoa-broker extensions",
            "description": _DESCRIPTION,
            "license": {"name": "BSD-3-Clause", "identifier": "BSD-3-Clause"},
        },
        "jsonSchemaDialect": "https://json-schema.org/draft/2020-12/schema",
        # relative to the document's own URL: right behind a prefix-stripping proxy too
        "servers": [{"url": ".", "description": "this broker (where the document is served)"}],
        "security": [{"bearer": []}, {}],
        "paths": {**_tagged(_paths(), "ExecutionBroker"), **uws_vosi_paths()},
        "tags": [
            {"name": "ExecutionBroker", "description": "Requests, offer sets and sessions."},
            {"name": "UWS", "description": "IVOA UWS 1.1 REST binding at /jobs."},
            {"name": "VOSI", "description": "IVOA VOSI availability and capabilities."},
            {"name": "operations", "description": "Probes and metrics for operators."},
        ],
        "components": {
            "schemas": _schemas(),
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
        },
        "x-kind-aliases": _aliases(),
    }


def dump_openapi() -> str:
    """The document as YAML text (what ``openapi.yaml`` holds)."""
    text: str = yaml.safe_dump(build_openapi(), sort_keys=False, allow_unicode=True, width=100)
    return text


@cache
def load_openapi() -> dict[str, Any]:
    """The packaged ``openapi.yaml`` (for serving at ``/openapi.yaml`` and for tests)."""
    text = resources.files(__package__).joinpath("openapi.yaml").read_text(encoding="utf-8")
    data: dict[str, Any] = yaml.safe_load(text)
    return data


if __name__ == "__main__":  # pragma: no cover
    sys.stdout.write(dump_openapi())
