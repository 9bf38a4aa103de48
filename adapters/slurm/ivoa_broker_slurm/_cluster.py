"""The cluster as discovered at ``open()``: partitions, their limits and their nodes;
and whether a job's needs fit a partition (and if not, which limit says no)."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from ivoa_broker.protocol import FatalError

UNLIMITED = None


@dataclass(frozen=True)
class Node:
    name: str
    cpus: int
    memory_mb: int
    gpus: int = 0
    partitions: tuple[str, ...] = ()


@dataclass(frozen=True)
class Partition:
    name: str
    up: bool = True
    default: bool = False
    max_time_minutes: int | None = UNLIMITED
    max_nodes: int | None = UNLIMITED
    max_mem_per_node_mb: int | None = UNLIMITED
    nodes: tuple[Node, ...] = ()

    @property
    def max_cpus_per_node(self) -> int:
        return max((n.cpus for n in self.nodes), default=0)

    @property
    def max_memory_mb(self) -> int:
        mem = max((n.memory_mb for n in self.nodes), default=0)
        return min(mem, self.max_mem_per_node_mb) if self.max_mem_per_node_mb else mem

    @property
    def max_gpus(self) -> int:
        return max((n.gpus for n in self.nodes), default=0)


@dataclass(frozen=True)
class Needs:
    """What a job asks of one node (cores per task, memory per node) and in total."""

    cores: int = 1
    mem_mb: int | None = None
    gpus: int = 0
    time_minutes: int | None = None
    nodes: int = 1


def refusal(partition: Partition, needs: Needs) -> str | None:
    """Which limit of ``partition`` refuses ``needs`` (None: it fits)."""
    where = f"partition {partition.name}"
    if not partition.up:
        return f"{where} is not UP"
    limit = partition.max_time_minutes
    if needs.time_minutes is not None and limit is not None and needs.time_minutes > limit:
        return f"{where}: run time {needs.time_minutes} min is over MaxTime {limit} min"
    nodes_there = len(partition.nodes)
    max_nodes = min(nodes_there, partition.max_nodes or nodes_there)
    if needs.nodes > max_nodes:
        return f"{where}: {needs.nodes} nodes asked, MaxNodes is {max_nodes}"
    if needs.cores > partition.max_cpus_per_node:
        return f"{where}: {needs.cores} cores asked, its nodes have {partition.max_cpus_per_node}"
    if needs.mem_mb is not None and needs.mem_mb > partition.max_memory_mb:
        name = "MaxMemPerNode" if partition.max_mem_per_node_mb else "the nodes' RealMemory"
        return f"{where}: {needs.mem_mb} MB of memory asked, {name} is {partition.max_memory_mb} MB"
    if needs.gpus > partition.max_gpus:
        return f"{where}: {needs.gpus} GPUs asked, its nodes have {partition.max_gpus} (GRES gpu)"
    return None


@dataclass(frozen=True)
class Cluster:
    partitions: tuple[Partition, ...] = ()
    #: "sacct", "jobcomp" or "none": where ended jobs are looked up
    accounting: str = "none"
    version: str = ""
    nodes: tuple[Node, ...] = field(default=())

    def partition(self, name: str) -> Partition | None:
        return next((p for p in self.partitions if p.name == name), None)

    @property
    def default_partition(self) -> Partition | None:
        return next((p for p in self.partitions if p.default), None)


# ----------------------------------------------------------------- scontrol -o


def _key_values(line: str) -> dict[str, str]:
    """``A=1 B=x y=2`` (``scontrol -o``) -> dict; values may not contain ``" X="``."""
    found: dict[str, str] = {}
    for match in re.finditer(r"(\S+?)=(.*?)(?=\s+\S+?=|$)", line.strip()):
        found[match.group(1)] = match.group(2)
    return found


def _minutes(text: str) -> int | None:
    """Slurm time ``[D-]HH:MM:SS`` / ``MM`` / ``UNLIMITED`` -> minutes (rounded up)."""
    text = text.strip()
    if not text or text.upper() in ("UNLIMITED", "INFINITE", "NONE", "N/A"):
        return None
    days, _, rest = text.rpartition("-")
    parts = [int(p) for p in rest.split(":")]
    hours, minutes, seconds = {1: (0, parts[0], 0), 2: (0, *parts), 3: tuple(parts)}.get(
        len(parts), (0, 0, 0)
    )
    total = (int(days or 0) * 24 + hours) * 60 + minutes
    return total + (1 if seconds else 0)


def _number(text: str | None) -> int | None:
    if text is None or not text.strip().isdigit():
        return None
    value = int(text)
    return value or None


def _gpus(gres: str) -> int:
    """``gpu:2,gpu:tesla:1(S:0)`` -> 3."""
    total = 0
    for item in gres.split(","):
        parts = item.split("(")[0].split(":")
        if parts and parts[0] == "gpu" and parts[-1].isdigit():
            total += int(parts[-1])
    return total


def nodes_from_scontrol(text: str) -> list[Node]:
    nodes = []
    for line in text.splitlines():
        kv = _key_values(line)
        if "NodeName" not in kv:
            continue
        nodes.append(
            Node(
                name=kv["NodeName"],
                cpus=_number(kv.get("CPUTot")) or 0,
                memory_mb=_number(kv.get("RealMemory")) or 0,
                gpus=_gpus(kv.get("Gres", "")),
                partitions=tuple(p for p in kv.get("Partitions", "").split(",") if p),
            )
        )
    return nodes


def partitions_from_scontrol(text: str, nodes: Sequence[Node]) -> list[Partition]:
    found = []
    for line in text.splitlines():
        kv = _key_values(line)
        if "PartitionName" not in kv:
            continue
        name = kv["PartitionName"]
        found.append(
            Partition(
                name=name,
                up=kv.get("State", "UP") == "UP",
                default=kv.get("Default") == "YES",
                max_time_minutes=_minutes(kv.get("MaxTime", "UNLIMITED")),
                max_nodes=_number(kv.get("MaxNodes")),
                max_mem_per_node_mb=_number(kv.get("MaxMemPerNode")),
                nodes=tuple(n for n in nodes if name in n.partitions),
            )
        )
    return found


def config_from_scontrol(text: str) -> dict[str, str]:
    """``scontrol show config``: ``Key = value`` lines."""
    found = {}
    for line in text.splitlines():
        key, sep, value = line.partition("=")
        if sep:
            found[key.strip()] = value.strip()
    return found


def accounting_kind(config: Mapping[str, str]) -> str:
    if config.get("AccountingStorageType", "").endswith("/slurmdbd"):
        return "sacct"
    if config.get("JobCompType", "").endswith("/filetxt"):
        return "jobcomp"
    return "none"


# ------------------------------------------------------------------ slurmrestd


def _rest_number(value: Any) -> int | None:
    if isinstance(value, Mapping):  # v0.0.39+: {"set": .., "infinite": .., "number": ..}
        if value.get("infinite") or not value.get("set", True):
            return None
        value = value.get("number")
    return value if isinstance(value, int) and 0 < value < 2**31 - 1 else None


def nodes_from_rest(doc: Mapping[str, Any]) -> list[Node]:
    nodes = []
    for node in _items(doc, "nodes"):
        nodes.append(
            Node(
                name=str(node.get("name")),
                cpus=_rest_number(node.get("cpus")) or 0,
                memory_mb=_rest_number(node.get("real_memory")) or 0,
                gpus=_gpus(str(node.get("gres") or "")),
                partitions=tuple(node.get("partitions") or ()),
            )
        )
    return nodes


def partitions_from_rest(doc: Mapping[str, Any], nodes: Sequence[Node]) -> list[Partition]:
    found = []
    for part in _items(doc, "partitions"):
        name = str(part.get("name"))
        flags = part.get("flags") or ()
        state = part.get("state") or "UP"
        if isinstance(state, list):
            state = state[0] if state else "UP"
        max_mem = _rest_number(part.get("maximum_memory_per_node"))
        found.append(
            Partition(
                name=name,
                up=str(state).upper() == "UP",
                default="default" in [str(f).lower() for f in flags],
                max_time_minutes=_rest_number(part.get("maximum_time")),
                max_nodes=_rest_number(part.get("maximum_nodes_per_job")),
                max_mem_per_node_mb=max_mem,
                nodes=tuple(n for n in nodes if name in n.partitions),
            )
        )
    return found


def _items(doc: Mapping[str, Any], key: str) -> Iterable[Mapping[str, Any]]:
    items = doc.get(key)
    if not isinstance(items, list):
        raise FatalError(f"slurmrestd answered no {key} list")
    return [i for i in items if isinstance(i, Mapping)]
