"""Flavor policy: the smallest flavor that fits, and the project quota that might block it."""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence

from ivoa_broker.protocol import Resources

from ._client import AbsoluteLimits, FlavorInfo

__all__ = ["choose_flavor", "fits", "flavor_gpus", "granted", "quota_blocker"]

MIB = 1024 * 1024
GIB = 1024 * MIB


def flavor_gpus(extra_specs: Mapping[str, str]) -> int:
    """GPUs a flavor grants, from its extra specs.

    Counts ``resources:VGPU``, ``resources:PGPU``, ``resources:CUSTOM_*GPU*`` (placement
    resource requests) and the counts in ``pci_passthrough:alias`` (``"a100:2,t4:1"``).
    """
    total = 0
    for key, value in extra_specs.items():
        k = key.upper()
        if k.startswith("RESOURCES") and ":" in k:
            rc = k.split(":", 1)[1]
            if rc in ("VGPU", "PGPU") or (rc.startswith("CUSTOM_") and "GPU" in rc):
                total += _int(value)
        elif k == "PCI_PASSTHROUGH:ALIAS":
            for part in value.split(","):
                _, _, count = part.partition(":")
                total += _int(count or "1")
    return total


def _int(text: str) -> int:
    try:
        return max(int(text.strip()), 0)
    except ValueError:
        return 0


def fits(flavor: FlavorInfo, want: Resources) -> bool:
    gpus = flavor_gpus(flavor.extra_specs)
    if want.gpus > 0 and gpus < want.gpus:
        return False
    if want.gpus == 0 and gpus > 0:
        return False  # never spend GPUs on a job that did not ask for them
    if want.cores is not None and flavor.vcpus < math.ceil(want.cores):
        return False
    if want.memory_bytes is not None and flavor.ram_mib * MIB < want.memory_bytes:
        return False
    return not (want.disk_bytes is not None and flavor.disk_gib * GIB < want.disk_bytes)


def _size(f: FlavorInfo) -> tuple[int, int, int, int, str]:
    return (flavor_gpus(f.extra_specs), f.vcpus, f.ram_mib, f.disk_gib, f.name)


def choose_flavor(
    flavors: Iterable[FlavorInfo],
    want: Resources,
    *,
    allowed: Sequence[str] = (),
    explicit: str | None = None,
) -> FlavorInfo | None:
    """The smallest allowed flavor that fits ``want`` (or the explicit one, if it fits)."""
    pool = [f for f in flavors if not allowed or f.name in allowed or f.id in allowed]
    if explicit is not None:
        pool = [f for f in pool if explicit in (f.name, f.id)]
    candidates = sorted((f for f in pool if fits(f, want)), key=_size)
    return candidates[0] if candidates else None


def granted(flavor: FlavorInfo, want: Resources) -> Resources:
    """What a server of ``flavor`` really gets."""
    return Resources(
        cores=float(flavor.vcpus),
        memory_bytes=flavor.ram_mib * MIB,
        gpus=flavor_gpus(flavor.extra_specs),
        walltime_seconds=want.walltime_seconds,
        disk_bytes=flavor.disk_gib * GIB if flavor.disk_gib else want.disk_bytes,
    )


def quota_blocker(limits: AbsoluteLimits, flavor: FlavorInfo) -> str | None:
    """Which project limit one more server of ``flavor`` would exceed, or None."""
    checks = (
        ("instances", limits.instances, limits.instances_used, 1, ""),
        ("cores", limits.cores, limits.cores_used, flavor.vcpus, ""),
        ("RAM", limits.ram_mib, limits.ram_used_mib, flavor.ram_mib, " MiB"),
    )
    for label, limit, used, need, unit in checks:
        if limit is not None and used + need > limit:
            return (
                f"project quota for {label} would be exceeded: {used}{unit} used + "
                f"{need}{unit} for flavor {flavor.name} > limit {limit}{unit}"
            )
    return None
