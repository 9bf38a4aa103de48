"""The discovery documents: ``/version``, ``/api``, ``/apis``, the resource lists
of ``/api/v1`` and ``/apis/batch/v1``, and a small OpenAPI v2/v3 (kubectl
downloads them for ``apply`` and for its server-side field validation check)."""

from __future__ import annotations

from typing import Any

from ._store import RESOURCES, Resource

VERSION = {
    "major": "1",
    "minor": "32",
    "gitVersion": "v1.32.0-ivoa-emulator",
    "gitCommit": "0000000000000000000000000000000000000000",
    "gitTreeState": "clean",
    "buildDate": "2026-01-01T00:00:00Z",
    "goVersion": "go1.23.0",
    "compiler": "gc",
    "platform": "linux/amd64",
}

_VERBS = ["create", "delete", "deletecollection", "get", "list", "patch", "update", "watch"]


def core_versions(address: str) -> dict[str, Any]:
    return {
        "kind": "APIVersions",
        "versions": ["v1"],
        "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0", "serverAddress": address}],
    }


def groups() -> dict[str, Any]:
    gv = {"groupVersion": "batch/v1", "version": "v1"}
    return {
        "kind": "APIGroupList",
        "apiVersion": "v1",
        "groups": [{"name": "batch", "versions": [gv], "preferredVersion": gv}],
    }


def group(name: str) -> dict[str, Any] | None:
    for g in groups()["groups"]:
        if g["name"] == name:
            return {"kind": "APIGroup", "apiVersion": "v1", **g}
    return None


def _entry(r: Resource) -> dict[str, Any]:
    entry: dict[str, Any] = {
        "name": r.plural,
        "singularName": r.singular,
        "namespaced": r.namespaced,
        "kind": r.kind,
        "verbs": _VERBS if r.kind != "Node" else ["get", "list", "watch"],
    }
    if r.short_names:
        entry["shortNames"] = list(r.short_names)
    if r.kind in ("Pod", "Service", "Job"):
        entry["categories"] = ["all"]
    return entry


def resource_list(api_version: str) -> dict[str, Any] | None:
    entries: list[dict[str, Any]] = []
    for r in RESOURCES:
        if r.api_version != api_version:
            continue
        entries.append(_entry(r))
        if r.kind in ("Pod", "Job", "Namespace", "ResourceQuota", "Service"):
            entries.append(
                {
                    "name": f"{r.plural}/status",
                    "singularName": "",
                    "namespaced": r.namespaced,
                    "kind": r.kind,
                    "verbs": ["get", "patch", "update"],
                }
            )
        if r.kind == "Pod":
            entries.append(
                {
                    "name": "pods/log",
                    "singularName": "",
                    "namespaced": True,
                    "kind": "Pod",
                    "verbs": ["get"],
                }
            )
    if not entries:
        return None
    return {
        "kind": "APIResourceList",
        "apiVersion": "v1",
        "groupVersion": api_version,
        "resources": entries,
    }


def _paths(api_version: str) -> dict[str, Any]:
    """Collection paths whose POST declares the ``fieldValidation`` parameter:
    what kubectl's query-parameter verifier looks for."""
    prefix = "/api/v1" if api_version == "v1" else f"/apis/{api_version}"
    params = [
        {"name": n, "in": "query", "schema": {"type": "string"}, "uniqueItems": True}
        for n in ("dryRun", "fieldManager", "fieldValidation", "pretty")
    ]
    paths: dict[str, Any] = {}
    for r in RESOURCES:
        if r.api_version != api_version:
            continue
        path = (
            f"{prefix}/namespaces/{{namespace}}/{r.plural}"
            if r.namespaced
            else f"{prefix}/{r.plural}"
        )
        gvk = {"group": r.group, "version": r.version, "kind": r.kind}
        paths[path] = {
            "post": {
                "parameters": params,
                "x-kubernetes-action": "post",
                "x-kubernetes-group-version-kind": gvk,
                "responses": {"201": {"description": "Created"}},
            },
            "patch": {
                "parameters": params,
                "x-kubernetes-action": "patch",
                "x-kubernetes-group-version-kind": gvk,
                "responses": {"200": {"description": "OK"}},
            },
        }
        paths[path + "/{name}"] = paths[path]
    return paths


def openapi_v2() -> dict[str, Any]:
    paths: dict[str, Any] = {}
    for gv in ("v1", "batch/v1"):
        for p, ops in _paths(gv).items():
            paths[p] = {
                verb: {**op, "parameters": [{**q, "type": "string"} for q in op["parameters"]]}
                for verb, op in ops.items()
            }
    return {
        "swagger": "2.0",
        "info": {"title": "Kubernetes", "version": VERSION["gitVersion"]},
        "paths": paths,
        "definitions": {},
    }


def openapi_v3_index() -> dict[str, Any]:
    return {
        "paths": {
            "api/v1": {"serverRelativeURL": "/openapi/v3/api/v1?hash=EMULATED1"},
            "apis/batch/v1": {"serverRelativeURL": "/openapi/v3/apis/batch/v1?hash=EMULATED2"},
        }
    }


def openapi_v3(path: str) -> dict[str, Any] | None:
    gv = {"api/v1": "v1", "apis/batch/v1": "batch/v1"}.get(path.strip("/"))
    if gv is None:
        return None
    return {
        "openapi": "3.0.0",
        "info": {"title": "Kubernetes", "version": VERSION["gitVersion"]},
        "paths": _paths(gv),
        "components": {"schemas": {}},
    }
