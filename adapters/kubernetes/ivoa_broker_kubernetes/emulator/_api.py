"""The REST surface: ``/api/v1/...`` and ``/apis/batch/v1/...`` CRUD, list with
``limit``/``continue``, watch (newline-delimited JSON events, ``resourceVersion``
resume, ``BOOKMARK``s, ``ERROR`` 410 on expired versions), merge patches,
deletion with ``DeleteOptions``, ``pods/{name}/log``, Tables for kubectl."""

from __future__ import annotations

import asyncio
import base64
import copy
import json
import time
from collections.abc import AsyncIterator, Callable
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response, StreamingResponse

from . import _discovery as discovery
from ._cluster import JOB, NAMESPACE, POD, Cluster
from ._errors import ApiError, not_found
from ._store import BY_PATH, Expired, Obj, Resource, SelectorError, field_matcher, label_matcher
from ._tables import table, wants_table


def status_response(err: ApiError) -> Response:
    headers = {"Retry-After": str(err.retry_after)} if err.retry_after is not None else None
    return JSONResponse(err.status(), err.code, headers=headers)


def _merge(target: Any, patch: Any) -> Any:
    """RFC 7386 JSON merge patch (strategic merge patches are treated the same)."""
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    result = dict(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
        else:
            result[key] = _merge(result.get(key), value)
    return result


def _json_patch(doc: Any, ops: list[dict[str, Any]]) -> Any:
    doc = copy.deepcopy(doc)
    for op in ops:
        parts = [p.replace("~1", "/").replace("~0", "~") for p in op["path"].split("/")[1:]]
        parent = doc
        for p in parts[:-1]:
            parent = parent[int(p)] if isinstance(parent, list) else parent.setdefault(p, {})
        last = parts[-1]
        if op["op"] in ("add", "replace"):
            if isinstance(parent, list):
                parent.insert(len(parent) if last == "-" else int(last), op["value"])
            else:
                parent[last] = op["value"]
        elif op["op"] == "remove":
            if isinstance(parent, list):
                parent.pop(int(last))
            else:
                parent.pop(last, None)
        else:
            raise ApiError(422, f"unsupported json patch operation {op['op']!r}")
    return doc


class Api:
    def __init__(self, cluster: Cluster, address: Callable[[], str]) -> None:
        self.cluster = cluster
        self.address = address
        #: bumped by ``expire_watches``: open watches end with 410
        self.epoch = 0
        #: set before the server stops: open watches and log streams end
        self.closing = False

    # ------------------------------------------------------------ routing

    async def discovery(self, request: Request) -> Response:
        path = request.url.path.rstrip("/")
        doc: dict[str, Any] | None
        if path == "/version":
            doc = discovery.VERSION
        elif path == "/api":
            doc = discovery.core_versions(self.address())
        elif path == "/apis":
            doc = discovery.groups()
        elif path == "/api/v1":
            doc = discovery.resource_list("v1")
        elif path == "/apis/batch":
            doc = discovery.group("batch")
        elif path == "/apis/batch/v1":
            doc = discovery.resource_list("batch/v1")
        elif path == "/openapi/v2":
            doc = discovery.openapi_v2()
        elif path == "/openapi/v3":
            doc = discovery.openapi_v3_index()
        elif path.startswith("/openapi/v3/"):
            doc = discovery.openapi_v3(path[len("/openapi/v3/") :])
        elif path in ("/healthz", "/readyz", "/livez"):
            return PlainTextResponse("ok")
        else:
            doc = None
        if doc is None:
            return status_response(
                ApiError(404, "the server could not find the requested resource")
            )
        return JSONResponse(doc)

    def _parse(self, path: str) -> tuple[Resource, str | None, str | None, str | None]:
        """``(resource, namespace, name, subresource)`` of a resource path."""
        parts = [p for p in path.split("/") if p]
        if parts[0] == "api":
            gv, rest = parts[1], parts[2:]
        else:
            gv, rest = f"{parts[1]}/{parts[2]}", parts[3:]
        ns: str | None = None
        if len(rest) >= 3 and rest[0] == "namespaces" and (gv, rest[2]) in BY_PATH:
            ns, rest = rest[1], rest[2:]
        if not rest or (gv, rest[0]) not in BY_PATH:
            raise ApiError(404, "the server could not find the requested resource")
        res = BY_PATH[(gv, rest[0])]
        if ns is not None and not res.namespaced:
            raise ApiError(404, "the server could not find the requested resource")
        name = rest[1] if len(rest) > 1 else None
        sub = "/".join(rest[2:]) or None
        return res, ns, name, sub

    async def resource(self, request: Request) -> Response:
        try:
            res, ns, name, sub = self._parse(request.url.path)
            q = request.query_params
            method = request.method
            if name is None:
                if method == "GET":
                    if q.get("watch") in ("1", "true", "True"):
                        return self._watch(request, res, ns)
                    return self._list(request, res, ns)
                if method == "POST":
                    body = await self._body(request)
                    if res.namespaced and ns is None:
                        raise ApiError(
                            405, "the server does not allow this method on the requested resource"
                        )
                    created = self.cluster.create(
                        res, body, ns or "", dry_run=q.get("dryRun") == "All"
                    )
                    return JSONResponse(created, 201)
                if method == "DELETE":
                    return self._delete_collection(request, res, ns)
                raise ApiError(
                    405, "the server does not allow this method on the requested resource"
                )
            ns_key = ns or ""
            if sub == "log" and res is POD and method == "GET":
                return self._log(request, ns_key, name)
            if sub not in (None, "status"):
                raise ApiError(404, "the server could not find the requested resource")
            obj = self.cluster.store.get(res, ns_key, name)
            if method == "GET":
                if obj is None:
                    raise not_found(res, name)
                if wants_table(request.headers.get("accept", "")):
                    return JSONResponse(table(res.kind, [obj], obj["metadata"]["resourceVersion"]))
                return JSONResponse(obj)
            if method == "DELETE":
                return await self._delete(request, res, ns_key, name)
            if method in ("PUT", "PATCH"):
                if obj is None:
                    raise not_found(res, name)
                return await self._update(request, res, obj, sub)
            raise ApiError(405, "the server does not allow this method on the requested resource")
        except ApiError as err:
            return status_response(err)
        except SelectorError as exc:
            return status_response(ApiError(400, str(exc)))

    async def _body(self, request: Request) -> Any:
        ctype = request.headers.get("content-type", "")
        if "protobuf" in ctype or "cbor" in ctype:
            raise ApiError(415, f"the emulator accepts JSON bodies only, not {ctype}")
        raw = await request.body()
        if not raw:
            return {}
        try:
            return json.loads(raw)
        except ValueError:
            raise ApiError(400, "the request body is not valid JSON") from None

    # ---------------------------------------------------------------- list

    def _selected(self, request: Request, res: Resource, ns: str | None) -> Callable[[Obj], bool]:
        labels = label_matcher(request.query_params.get("labelSelector"))
        fields = field_matcher(request.query_params.get("fieldSelector"))

        def match(obj: Obj) -> bool:
            meta = obj["metadata"]
            if ns is not None and meta.get("namespace") != ns:
                return False
            return bool(labels(meta.get("labels") or {}) and fields(obj))

        return match

    def _list(self, request: Request, res: Resource, ns: str | None) -> Response:
        store = self.cluster.store
        match = self._selected(request, res, ns)
        items = sorted(
            (o for o in store.items(res) if match(o)),
            key=lambda o: (o["metadata"].get("namespace", ""), o["metadata"]["name"]),
        )
        rv, start = store.rv, 0
        token = request.query_params.get("continue")
        if token:
            try:
                state = json.loads(base64.urlsafe_b64decode(token))
                rv, start = int(state["rv"]), int(state["start"])
            except (ValueError, KeyError):
                raise ApiError(400, "continue key is not valid") from None
            if rv < store.oldest:
                raise ApiError(
                    410,
                    "The provided continue parameter is too old to display a consistent list result. "  # noqa: E501
                    "You can start a new list without the continue parameter.",
                )
        meta: dict[str, Any] = {"resourceVersion": str(rv)}
        limit = int(request.query_params.get("limit") or 0)
        if limit > 0 and start + limit < len(items):
            page = items[start : start + limit]
            meta["continue"] = base64.urlsafe_b64encode(
                json.dumps({"rv": rv, "start": start + limit}).encode()
            ).decode()
            meta["remainingItemCount"] = len(items) - start - limit
        else:
            page = items[start:]
        if wants_table(request.headers.get("accept", "")):
            return JSONResponse(table(res.kind, page, str(rv)))
        body = {
            "kind": f"{res.kind}List",
            "apiVersion": res.api_version,
            "metadata": meta,
            "items": [
                {k: v for k, v in o.items() if k not in ("kind", "apiVersion")} for o in page
            ],
        }
        return JSONResponse(body)

    # --------------------------------------------------------------- watch

    def _watch(self, request: Request, res: Resource, ns: str | None) -> Response:
        store = self.cluster.store
        q = request.query_params
        match = self._selected(request, res, ns)
        rv_text = q.get("resourceVersion") or ""
        bookmarks = q.get("allowWatchBookmarks") in ("1", "true", "True")
        timeout = float(q.get("timeoutSeconds") or 1800)
        as_table = wants_table(request.headers.get("accept", ""))
        epoch = self.epoch
        gone = getattr(request.state, "gone", False)

        def line(kind: str, obj: Obj) -> bytes:
            if as_table and kind != "ERROR" and kind != "BOOKMARK":
                obj = table(res.kind, [obj], obj["metadata"]["resourceVersion"])
            return (json.dumps({"type": kind, "object": obj}) + "\n").encode()

        def expired(rv: int) -> bytes:
            err = ApiError(410, f"too old resource version: {rv} ({store.oldest})")
            return line("ERROR", err.status())

        async def stream() -> AsyncIterator[bytes]:
            if rv_text in ("", "0"):
                last = store.rv
                for obj in sorted(
                    store.items(res), key=lambda o: int(o["metadata"]["resourceVersion"])
                ):
                    if match(obj):
                        yield line("ADDED", obj)
            else:
                try:
                    last = int(rv_text)
                except ValueError:
                    yield line(
                        "ERROR", ApiError(400, f"invalid resource version: {rv_text}").status()
                    )
                    return
            if gone:
                yield expired(last)
                return
            end = time.monotonic() + timeout
            next_mark = time.monotonic() + self.cluster.settings.bookmark_seconds
            while time.monotonic() < end and not self.closing:
                if self.epoch != epoch:
                    yield expired(last)
                    return
                try:
                    events = store.since(last)
                except Expired:
                    yield expired(last)
                    return
                for e in events:
                    last = e.rv
                    if e.resource is res and match(e.obj):
                        yield line(e.type, e.obj)
                if bookmarks and time.monotonic() >= next_mark:
                    next_mark = time.monotonic() + self.cluster.settings.bookmark_seconds
                    yield line(
                        "BOOKMARK",
                        {
                            "kind": res.kind,
                            "apiVersion": res.api_version,
                            "metadata": {"resourceVersion": str(last)},
                        },
                    )
                wait = (
                    min(end, next_mark) - time.monotonic() if bookmarks else end - time.monotonic()
                )
                await store.wait(last, max(0.0, min(wait, 0.5)))

        return StreamingResponse(stream(), media_type="application/json")

    # ----------------------------------------------------------------- log

    def _log(self, request: Request, ns: str, name: str) -> Response:
        pod = self.cluster.store.get(POD, ns, name)
        if pod is None:
            raise not_found(POD, name)
        q = request.query_params
        cname = pod["spec"]["containers"][0]["name"]
        if q.get("container") not in (None, "", cname):
            raise ApiError(400, f"container {q['container']} is not valid for pod {name}")
        if q.get("previous") in ("1", "true"):
            raise ApiError(
                400, f'previous terminated container "{cname}" in pod "{name}" not found'
            )
        path = self.cluster.log_path(pod)
        if not path.exists():
            state = (pod["status"].get("containerStatuses") or [{}])[0].get("state", {})
            reason = state.get("waiting", {}).get("reason", "ContainerCreating")
            raise ApiError(
                400, f'container "{cname}" in pod "{name}" is waiting to start: {reason}'
            )
        tail = int(q["tailLines"]) if q.get("tailLines") else None
        limit = int(q["limitBytes"]) if q.get("limitBytes") else None

        def cut(data: bytes) -> bytes:
            if tail is not None:
                data = b"".join(data.splitlines(keepends=True)[-tail:]) if tail > 0 else b""
            return data[:limit] if limit is not None else data

        if q.get("follow") not in ("1", "true"):
            return Response(cut(path.read_bytes()), media_type="text/plain")
        uid = pod["metadata"]["uid"]

        async def follow() -> AsyncIterator[bytes]:
            with path.open("rb") as fh:
                yield cut(fh.read())
                while True:
                    chunk = fh.read()
                    if chunk:
                        yield chunk
                        continue
                    if uid not in self.cluster.containers or self.closing:
                        rest = fh.read()
                        if rest:
                            yield rest
                        return
                    await asyncio.sleep(0.1)

        return StreamingResponse(follow(), media_type="text/plain")

    # -------------------------------------------------------- update/delete

    async def _update(self, request: Request, res: Resource, obj: Obj, sub: str | None) -> Response:
        body = await self._body(request)
        ctype = request.headers.get("content-type", "application/json").split(";")[0]
        if request.method == "PUT":
            want = body.get("metadata", {}).get("resourceVersion")
            if want and want != obj["metadata"]["resourceVersion"]:
                raise ApiError(
                    409,
                    f'Operation cannot be fulfilled on {res.qualified} "{obj["metadata"]["name"]}": '  # noqa: E501
                    "the object has been modified; please apply your changes to the latest version and try again",  # noqa: E501
                    reason="Conflict",
                )
            new = copy.deepcopy(body)
        elif ctype == "application/json-patch+json":
            new = _json_patch(obj, body)
        elif ctype in ("application/merge-patch+json", "application/strategic-merge-patch+json"):
            new = _merge(obj, body)
        else:
            raise ApiError(
                415,
                f"the body of the request was in an unknown format - accepted media types include: application/json-patch+json, application/merge-patch+json, application/strategic-merge-patch+json (got {ctype})",  # noqa: E501
            )
        keep = (
            "uid",
            "creationTimestamp",
            "namespace",
            "name",
            "deletionTimestamp",
            "ownerReferences",
            "generation",
        )
        meta = new.setdefault("metadata", {})
        for key in keep:
            if key in obj["metadata"]:
                meta[key] = obj["metadata"][key]
        if sub == "status":
            obj["status"] = new.get("status", obj.get("status"))
        else:
            if res is JOB:
                for key in ("selector", "template", "completions"):
                    if key in obj["spec"] and new.get("spec", {}).get(key) != obj["spec"][key]:
                        raise ApiError(
                            422,
                            f'Job.batch "{meta["name"]}" is invalid: spec.{key}: Invalid value: field is immutable',  # noqa: E501
                            reason="Invalid",
                        )
            status = obj.get("status")
            if obj.get("spec") != new.get("spec"):
                meta["generation"] = obj["metadata"].get("generation", 1) + 1
            obj.clear()
            obj.update(new)
            if status is not None:
                obj["status"] = status
        updated = self.cluster.store.update(res, obj)
        if res is JOB:
            self.cluster.sync_job(meta["namespace"], meta["name"])
        return JSONResponse(updated)

    async def _delete(self, request: Request, res: Resource, ns: str, name: str) -> Response:
        body = await self._body(request)
        q = request.query_params
        propagation = body.get("propagationPolicy") or q.get("propagationPolicy")
        if body.get("orphanDependents") is True:
            propagation = "Orphan"
        grace_text = body.get("gracePeriodSeconds", q.get("gracePeriodSeconds"))
        grace = float(grace_text) if grace_text is not None else None
        want_uid = (body.get("preconditions") or {}).get("uid")
        obj = self.cluster.store.get(res, ns, name)
        if obj is not None and want_uid and obj["metadata"]["uid"] != want_uid:
            raise ApiError(
                409,
                f"Precondition failed: UID in precondition: {want_uid}, UID in object meta: {obj['metadata']['uid']}",  # noqa: E501
                reason="Conflict",
            )
        if q.get("dryRun") == "All":
            if obj is None:
                raise not_found(res, name)
            return JSONResponse(obj)
        result, gone = self.cluster.delete(res, ns, name, propagation, grace)
        if res is POD or res is NAMESPACE or not gone:
            return JSONResponse(result, 200 if gone or res is POD else 202)
        return JSONResponse(
            {
                "kind": "Status",
                "apiVersion": "v1",
                "metadata": {},
                "status": "Success",
                "details": {
                    "name": name,
                    "group": res.group,
                    "kind": res.plural,
                    "uid": result["metadata"]["uid"],
                },
            }
        )

    def _delete_collection(self, request: Request, res: Resource, ns: str | None) -> Response:
        match = self._selected(request, res, ns)
        q = request.query_params
        for obj in [o for o in self.cluster.store.items(res) if match(o)]:
            meta = obj["metadata"]
            self.cluster.delete(
                res, meta.get("namespace", ""), meta["name"], q.get("propagationPolicy"), None
            )
        return JSONResponse(
            {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success"}
        )
