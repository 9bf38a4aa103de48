"""Defaulting, validation and admission (LimitRanger, ResourceQuota) of new objects."""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

from ..quantity import parse_quantity
from ._errors import forbidden, invalid
from ._store import BY_KIND, Obj, Resource, Store

_DNS_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
_DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
_LABEL_VALUE = re.compile(r"^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$")
TERMINAL = ("Succeeded", "Failed")
GPU = "nvidia.com/gpu"


def validate_meta(res: Resource, obj: Obj) -> None:
    meta = obj["metadata"]
    name = meta.get("name", "")
    pattern = _DNS_LABEL if res.kind in ("Service", "Namespace") else _DNS_SUBDOMAIN
    limit = 63 if res.kind in ("Service", "Namespace") else 253
    if not pattern.match(name) or len(name) > limit:
        raise invalid(
            res,
            name,
            [
                (
                    "metadata.name",
                    f'Invalid value: "{name}": a lowercase RFC 1123 name must '
                    "consist of lower case alphanumeric characters or '-'",
                )
            ],
        )
    for key, value in (meta.get("labels") or {}).items():
        if not isinstance(value, str) or len(value) > 63 or not _LABEL_VALUE.match(value):
            raise invalid(res, name, [(f"metadata.labels[{key}]", f'Invalid value: "{value}"')])


def default_pod_spec(spec: dict[str, Any]) -> None:
    spec.setdefault("restartPolicy", "Always")
    spec.setdefault("terminationGracePeriodSeconds", 30)
    spec.setdefault("dnsPolicy", "ClusterFirst")
    spec.setdefault("schedulerName", "default-scheduler")
    spec.setdefault("securityContext", {})
    for c in spec.get("containers") or []:
        c.setdefault("terminationMessagePath", "/dev/termination-log")
        c.setdefault("terminationMessagePolicy", "File")
        image = c.get("image", "")
        c.setdefault(
            "imagePullPolicy",
            "Always" if image.endswith(":latest") or ":" not in image else "IfNotPresent",
        )
        res = c.setdefault("resources", {})
        if res.get("limits") and not res.get("requests"):
            res["requests"] = dict(res["limits"])


def validate_pod_spec(res: Resource, name: str, spec: dict[str, Any], prefix: str) -> None:
    containers = spec.get("containers") or []
    if not containers:
        raise invalid(res, name, [(f"{prefix}.containers", "Required value")])
    vols = {v.get("name") for v in spec.get("volumes") or []}
    for i, c in enumerate(containers):
        if not c.get("name"):
            raise invalid(res, name, [(f"{prefix}.containers[{i}].name", "Required value")])
        if not c.get("image"):
            raise invalid(res, name, [(f"{prefix}.containers[{i}].image", "Required value")])
        for kind in ("requests", "limits"):
            for key, value in ((c.get("resources") or {}).get(kind) or {}).items():
                try:
                    parse_quantity(value)
                except ValueError:
                    raise invalid(
                        res,
                        name,
                        [
                            (
                                f"{prefix}.containers[{i}].resources.{kind}[{key}]",
                                f"Invalid value: {value!r}",
                            )
                        ],
                    ) from None
        for m in c.get("volumeMounts") or []:
            if m.get("name") not in vols:
                raise invalid(
                    res,
                    name,
                    [
                        (
                            f"{prefix}.containers[{i}].volumeMounts.name",
                            f"Not found: {m.get('name')!r}",
                        )
                    ],
                )


def container_amounts(c: dict[str, Any], kind: str) -> dict[str, float]:
    return {k: parse_quantity(v) for k, v in ((c.get("resources") or {}).get(kind) or {}).items()}


def pod_amounts(pod: Obj) -> dict[str, float]:
    """requests.* and limits.* summed over the pod's containers (quota keys)."""
    total: dict[str, float] = {}
    for c in pod["spec"].get("containers") or []:
        for kind in ("requests", "limits"):
            for key, value in container_amounts(c, kind).items():
                total[f"{kind}.{key}"] = total.get(f"{kind}.{key}", 0.0) + value
    for short in ("cpu", "memory"):
        if f"requests.{short}" in total:
            total[short] = total[f"requests.{short}"]
    total["pods"] = 1
    return total


def apply_limit_ranges(store: Store, pod: Obj) -> None:
    """LimitRanger: fill container defaults and refuse what exceeds ``max``/``min``."""
    ns = pod["metadata"]["namespace"]
    res = BY_KIND["Pod"]
    for lr in store.items(BY_KIND["LimitRange"], ns):
        for item in lr.get("spec", {}).get("limits") or []:
            if item.get("type") != "Container":
                continue
            for c in pod["spec"].get("containers") or []:
                r = c.setdefault("resources", {})
                for key, value in (item.get("default") or {}).items():
                    r.setdefault("limits", {}).setdefault(key, value)
                for key, value in (item.get("defaultRequest") or item.get("default") or {}).items():
                    r.setdefault("requests", {}).setdefault(
                        key, r.get("limits", {}).get(key, value)
                    )
                limits, requests = container_amounts(c, "limits"), container_amounts(c, "requests")
                for key, value in (item.get("max") or {}).items():
                    if limits.get(key, 0) > parse_quantity(value):
                        raise forbidden(
                            res,
                            pod["metadata"]["name"],
                            f"maximum {key} usage per Container is {value}, "
                            f"but limit is {r['limits'][key]}",
                        )
                for key, value in (item.get("min") or {}).items():
                    if requests.get(key, parse_quantity(value)) < parse_quantity(value):
                        raise forbidden(
                            res,
                            pod["metadata"]["name"],
                            f"minimum {key} usage per Container is {value}, "
                            f"but request is {r['requests'][key]}",
                        )


def quota_used(store: Store, ns: str, keys: Iterable[str]) -> dict[str, float]:
    used = {k: 0.0 for k in keys}
    for pod in store.items(BY_KIND["Pod"], ns):
        if pod.get("status", {}).get("phase") in TERMINAL:
            continue
        for key, value in pod_amounts(pod).items():
            if key in used:
                used[key] += value
    if "count/jobs.batch" in used:
        used["count/jobs.batch"] = float(sum(1 for _ in store.items(BY_KIND["Job"], ns)))
    if "services" in used:
        used["services"] = float(sum(1 for _ in store.items(BY_KIND["Service"], ns)))
    return used


def _fmt(key: str, value: float) -> str:
    if "memory" in key:
        return str(int(value))
    return str(int(value)) if float(value).is_integer() else f"{int(value * 1000)}m"


def check_quota(store: Store, res: Resource, obj: Obj) -> None:
    """ResourceQuota admission: refuse an object that would exceed any ``hard`` limit."""
    if res.kind == "Pod":
        asked = pod_amounts(obj)
    elif res.kind == "Job":
        asked = {"count/jobs.batch": 1.0}
    elif res.kind == "Service":
        asked = {"services": 1.0}
    else:
        return
    ns = obj["metadata"]["namespace"]
    for quota in store.items(BY_KIND["ResourceQuota"], ns):
        hard = {k: parse_quantity(v) for k, v in (quota.get("spec", {}).get("hard") or {}).items()}
        used = quota_used(store, ns, hard)
        over = [k for k in sorted(hard) if k in asked and used[k] + asked[k] > hard[k]]
        if over:
            q = quota["metadata"]["name"]
            req = ",".join(f"{k}={_fmt(k, asked[k])}" for k in over)
            use = ",".join(f"{k}={_fmt(k, used[k])}" for k in over)
            lim = ",".join(f"{k}={_fmt(k, hard[k])}" for k in over)
            raise forbidden(
                res,
                obj["metadata"]["name"],
                f"exceeded quota: {q}, requested: {req}, used: {use}, limited: {lim}",
            )
