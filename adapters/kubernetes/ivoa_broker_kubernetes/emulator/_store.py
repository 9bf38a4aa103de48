"""The emulated etcd + watch cache: objects by resource, one global
``resourceVersion`` counter, a bounded event history that watches resume from
(older versions are answered with ``410 Gone``/``Expired``), and selectors."""

from __future__ import annotations

import asyncio
import contextlib
import copy
import re
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

Obj = dict[str, Any]


def now_iso() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_iso(text: str | None) -> datetime | None:
    if not text:
        return None
    return datetime.strptime(text, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)


@dataclass(frozen=True)
class Resource:
    """One REST resource the emulator serves (``/api/v1/pods``, ``/apis/batch/v1/jobs``)."""

    group: str
    version: str
    plural: str
    kind: str
    namespaced: bool = True
    short_names: tuple[str, ...] = ()
    singular: str = ""

    @property
    def api_version(self) -> str:
        return f"{self.group}/{self.version}" if self.group else self.version

    @property
    def qualified(self) -> str:
        """``jobs.batch`` / ``pods``, as in API error messages."""
        return f"{self.plural}.{self.group}" if self.group else self.plural


RESOURCES: tuple[Resource, ...] = (
    Resource("", "v1", "namespaces", "Namespace", False, ("ns",), "namespace"),
    Resource("", "v1", "nodes", "Node", False, ("no",), "node"),
    Resource("", "v1", "pods", "Pod", True, ("po",), "pod"),
    Resource("", "v1", "services", "Service", True, ("svc",), "service"),
    Resource("", "v1", "resourcequotas", "ResourceQuota", True, ("quota",), "resourcequota"),
    Resource("", "v1", "limitranges", "LimitRange", True, ("limits",), "limitrange"),
    Resource("", "v1", "events", "Event", True, ("ev",), "event"),
    Resource("batch", "v1", "jobs", "Job", True, (), "job"),
)
BY_PATH: dict[tuple[str, str], Resource] = {(r.api_version, r.plural): r for r in RESOURCES}
BY_KIND: dict[str, Resource] = {r.kind: r for r in RESOURCES}


class Expired(Exception):
    """A resourceVersion older than the retained history (HTTP 410)."""


@dataclass
class Event:
    rv: int
    type: str  # ADDED | MODIFIED | DELETED
    resource: Resource
    obj: Obj


# ------------------------------------------------------------------ selectors

_REQ = re.compile(
    r"^\s*(?P<neg>!)?(?P<key>[A-Za-z0-9./_-]+)\s*"
    r"(?:(?P<op>==|=|!=)\s*(?P<val>[A-Za-z0-9._-]*)|\s+(?P<setop>in|notin)\s*\((?P<set>[^)]*)\))?\s*$"
)


def _split_selector(text: str) -> list[str]:
    parts, depth, cur = [], 0, ""
    for ch in text:
        if ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
        if ch == "," and depth == 0:
            parts.append(cur)
            cur = ""
        else:
            cur += ch
    if cur.strip():
        parts.append(cur)
    return parts


class SelectorError(ValueError):
    pass


def label_matcher(text: str | None) -> Any:
    """A predicate over a label dict, for ``labelSelector`` (equality and set-based)."""
    reqs = []
    for part in _split_selector(text or ""):
        m = _REQ.match(part)
        if m is None:
            raise SelectorError(f"unable to parse requirement: {part!r}")
        reqs.append(m.groupdict())

    def match(labels: dict[str, str]) -> bool:
        for r in reqs:
            key, present = r["key"], r["key"] in labels
            if r["op"]:
                same = labels.get(key) == r["val"]
                if (r["op"] == "!=") == same:
                    return False
            elif r["setop"]:
                values = {v.strip() for v in r["set"].split(",")}
                inside = present and labels[key] in values
                if (r["setop"] == "in") != inside:
                    return False
            elif r["neg"]:
                if present:
                    return False
            elif not present:
                return False
        return True

    return match


def _field(obj: Obj, path: str) -> str:
    cur: Any = obj
    for part in path.split("."):
        cur = cur.get(part) if isinstance(cur, dict) else None
    return "" if cur is None else str(cur)


def field_matcher(text: str | None) -> Any:
    """A predicate for ``fieldSelector`` (``metadata.name=x``, ``status.phase!=Failed``)."""
    reqs: list[tuple[str, str, str]] = []
    for part in _split_selector(text or ""):
        m = re.match(r"^\s*([A-Za-z.]+)\s*(==|=|!=)\s*(.*?)\s*$", part)
        if m is None:
            raise SelectorError(f"invalid field selector: {part!r}")
        reqs.append((m.group(1), m.group(2), m.group(3)))

    def match(obj: Obj) -> bool:
        return all((_field(obj, k) == v) != (op == "!=") for k, op, v in reqs)

    return match


# ---------------------------------------------------------------------- store


@dataclass
class Store:
    """All objects, by ``(resource plural, namespace, name)``. Single event loop only."""

    history: int = 2000
    objects: dict[tuple[str, str, str], Obj] = field(default_factory=dict)
    events: list[Event] = field(default_factory=list)
    rv: int = 1
    #: lowest resourceVersion a watch can still resume after
    oldest: int = 1
    _changed: asyncio.Event = field(default_factory=asyncio.Event)

    def get(self, res: Resource, ns: str, name: str) -> Obj | None:
        return self.objects.get((res.plural, ns if res.namespaced else "", name))

    def items(self, res: Resource, ns: str | None = None) -> Iterator[Obj]:
        for (plural, ons, _), obj in list(self.objects.items()):
            if plural == res.plural and (ns is None or ons == ns):
                yield obj

    def _record(self, kind: str, res: Resource, obj: Obj) -> Obj:
        self.rv += 1
        obj["metadata"]["resourceVersion"] = str(self.rv)
        snapshot = copy.deepcopy(obj)
        self.events.append(Event(self.rv, kind, res, snapshot))
        if len(self.events) > self.history:
            drop = len(self.events) - self.history
            self.oldest = self.events[drop - 1].rv
            del self.events[:drop]
        # wake every waiter: set this generation's event, start the next one
        self._changed.set()
        self._changed = asyncio.Event()
        return snapshot

    def create(self, res: Resource, obj: Obj) -> Obj:
        meta = obj.setdefault("metadata", {})
        meta.setdefault("uid", str(uuid.uuid4()))
        meta.setdefault("creationTimestamp", now_iso())
        meta.setdefault("generation", 1)
        obj["apiVersion"], obj["kind"] = res.api_version, res.kind
        key = (res.plural, meta.get("namespace", "") if res.namespaced else "", meta["name"])
        self.objects[key] = obj
        return self._record("ADDED", res, obj)

    def update(self, res: Resource, obj: Obj) -> Obj:
        return self._record("MODIFIED", res, obj)

    def delete(self, res: Resource, obj: Obj) -> Obj:
        meta = obj["metadata"]
        key = (res.plural, meta.get("namespace", "") if res.namespaced else "", meta["name"])
        self.objects.pop(key, None)
        return self._record("DELETED", res, obj)

    def compact(self) -> None:
        """Forget the whole event history (etcd compaction): every watch resuming
        from an older resourceVersion is answered with 410 Gone."""
        self.events.clear()
        self.oldest = self.rv

    def since(self, rv: int) -> list[Event]:
        if rv < self.oldest:
            raise Expired(f"too old resource version: {rv} ({self.oldest})")
        return [e for e in self.events if e.rv > rv]

    async def wait(self, after: int, timeout: float) -> None:
        """Return once something newer than ``after`` is recorded (or on timeout)."""
        if self.rv > after:
            return
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._changed.wait(), timeout)
