"""Choosing a size (flavour) for a request, and checking it against the quotas."""

from __future__ import annotations

from collections.abc import Sequence

from ivoa_broker.protocol import Resources

from ._models import QuotaInfo, SizeInfo

__all__ = ["choose_size", "granted", "quota_blocker"]

_MB = 1024 * 1024


def _fits(size: SizeInfo, res: Resources) -> bool:
    if res.cores is not None and size.cpus < res.cores:
        return False
    if res.memory_bytes is not None and size.ram_mb * _MB < res.memory_bytes:
        return False
    if res.disk_bytes is not None and size.disk_gb * 1024 * _MB < res.disk_bytes:
        return False
    return size.gpus >= res.gpus


def choose_size(
    sizes: Sequence[SizeInfo], res: Resources, allowed: Sequence[str] = ()
) -> SizeInfo | None:
    """The smallest allowed size that holds the request (GPU sizes only if GPUs are asked)."""
    pool = [s for s in sizes if not allowed or s.id in allowed or s.name in allowed]
    fitting = [s for s in pool if _fits(s, res) and (res.gpus > 0 or s.gpus == 0)]
    if not fitting:
        return None
    return min(fitting, key=lambda s: (s.gpus, s.cpus, s.ram_mb, s.disk_gb, s.name))


def granted(size: SizeInfo, res: Resources) -> Resources:
    """What a machine of ``size`` gives the request."""
    return Resources(
        cores=float(size.cpus),
        memory_bytes=size.ram_mb * _MB,
        gpus=size.gpus,
        walltime_seconds=res.walltime_seconds,
        disk_bytes=size.disk_gb * 1024 * _MB if size.disk_gb else res.disk_bytes,
    )


def quota_blocker(quotas: Sequence[QuotaInfo], size: SizeInfo, machines: int = 1) -> str | None:
    """Which quota of the tenancy cannot hold one more ``size`` (None if all can)."""
    need = {"cpus": size.cpus, "ram": size.ram_mb, "machines": machines}
    for quota in quotas:
        more = need.get(quota.resource)
        free = quota.free
        if more and free is not None and more > free:
            units = f" {quota.units}" if quota.units else ""
            return (
                f"the tenancy's {quota.label} quota ({quota.resource}) has {free}{units} free "
                f"of {quota.allocated}{units}; size {size.name} needs {more}{units}"
            )
    return None
