"""What a namespace can take: its ResourceQuotas, LimitRanges and the nodes'
allocatable -> an offer, or the reason there is none.

* more than a LimitRange's Container ``max``, or more than a quota's ``hard``
  total: refused (it can never run here);
* more than any one node's allocatable (cpu, memory, ``nvidia.com/gpu``): refused;
* more than the quota has free *now*: offered, with a warning that the task
  waits (the Job controller retries the pod until the quota frees).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ivoa_broker.protocol import Resources

from .quantity import parse_quantity

Obj = dict[str, Any]
GPU = "nvidia.com/gpu"

_ASKED_KEYS = {"cpu": "cores", "memory": "memory", GPU: "gpus"}


@dataclass(frozen=True)
class Facts:
    quotas: list[Obj] = field(default_factory=list)
    limit_ranges: list[Obj] = field(default_factory=list)
    #: allocatable of each node (None when nodes cannot be listed, e.g. no RBAC)
    nodes: list[dict[str, float]] | None = None

    @property
    def largest_node(self) -> dict[str, float]:
        out: dict[str, float] = {}
        for node in self.nodes or []:
            for key, value in node.items():
                out[key] = max(out.get(key, 0.0), value)
        return out


def asked(res: Resources) -> dict[str, float]:
    out: dict[str, float] = {}
    if res.cores is not None:
        out["cpu"] = float(res.cores)
    if res.memory_bytes is not None:
        out["memory"] = float(res.memory_bytes)
    if res.gpus:
        out[GPU] = float(res.gpus)
    return out


def _show(key: str, value: float) -> str:
    if key == "memory":
        return f"{value / 2**30:.3g} GiB"
    return f"{value:g} {'cores' if key == 'cpu' else 'GPUs'}"


def judge(res: Resources, facts: Facts) -> tuple[str | None, list[str]]:
    """(refusal reason or None, warnings)."""
    want = asked(res)
    warnings: list[str] = []
    for lr in facts.limit_ranges:
        for item in (lr.get("spec") or {}).get("limits") or []:
            if item.get("type") != "Container":
                continue
            for key, cap in (item.get("max") or {}).items():
                if want.get(key, 0.0) > parse_quantity(cap):
                    name = lr["metadata"]["name"]
                    return (
                        f"LimitRange {name} allows at most {_show(key, parse_quantity(cap))} "
                        f"per container, {_show(key, want[key])} asked"
                    ), []
    for quota in facts.quotas:
        name = quota["metadata"]["name"]
        hard = {
            k: parse_quantity(v)
            for k, v in (
                (quota.get("status") or {}).get("hard")
                or (quota.get("spec") or {}).get("hard")
                or {}
            ).items()
        }
        used = {
            k: parse_quantity(v) for k, v in ((quota.get("status") or {}).get("used") or {}).items()
        }
        for key, amount in want.items():
            for qkey in (key, f"requests.{key}", f"limits.{key}"):
                if qkey not in hard:
                    continue
                if amount > hard[qkey]:
                    return (
                        f"ResourceQuota {name} allows {qkey}={_show(key, hard[qkey])} "
                        f"in all, {_show(key, amount)} asked"
                    ), []
                if amount > hard[qkey] - used.get(qkey, 0.0):
                    warnings.append(
                        f"ResourceQuota {name}: only {_show(key, hard[qkey] - used.get(qkey, 0.0))} "  # noqa: E501
                        f"of {qkey} free now; the task waits until it frees"
                    )
        if "pods" in hard and used.get("pods", 0.0) + 1 > hard["pods"]:
            warnings.append(f"ResourceQuota {name}: the pod count is at its limit; the task waits")
    if facts.nodes is not None:
        largest = facts.largest_node
        for key, amount in want.items():
            if amount > largest.get(key, 0.0):
                have = _show(key, largest.get(key, 0.0))
                return f"no node has {_show(key, amount)} allocatable (largest: {have})", []
    else:
        warnings.append("node allocatable unknown (nodes cannot be listed)")
    return None, warnings


def node_allocatable(node: Obj) -> dict[str, float]:
    alloc = (node.get("status") or {}).get("allocatable") or {}
    out: dict[str, float] = {}
    for key in ("cpu", "memory", GPU):
        if key in alloc:
            out[key] = parse_quantity(alloc[key])
    return out
