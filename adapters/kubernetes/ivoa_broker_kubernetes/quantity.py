"""Kubernetes resource quantities (``500m``, ``2``, ``64Mi``, ``1G``, ``1e3``),
shared by the adapter and the emulator."""

from __future__ import annotations

import math
import re

__all__ = ["cpu_text", "memory_text", "parse_quantity"]

_SUFFIX = {
    "Ki": 2**10,
    "Mi": 2**20,
    "Gi": 2**30,
    "Ti": 2**40,
    "Pi": 2**50,
    "Ei": 2**60,
    "n": 1e-9,
    "u": 1e-6,
    "m": 1e-3,
    "": 1,
    "k": 1e3,
    "M": 1e6,
    "G": 1e9,
    "T": 1e12,
    "P": 1e15,
    "E": 1e18,
}
_QUANTITY = re.compile(
    r"^([+-]?[0-9.]+(?:[eE][+-]?[0-9]+)?)(Ki|Mi|Gi|Ti|Pi|Ei|n|u|m|k|M|G|T|P|E)?$"
)


def parse_quantity(text: str | int | float) -> float:
    """The value of a quantity in base units (cores, bytes, counts)."""
    if isinstance(text, int | float):
        return float(text)
    m = _QUANTITY.match(text.strip())
    if m is None:
        raise ValueError(f"quantities must match the regular expression: {text!r}")
    return float(m.group(1)) * _SUFFIX[m.group(2) or ""]


def cpu_text(cores: float) -> str:
    """Cores as a quantity: whole cores plainly, else millicores."""
    if float(cores).is_integer():
        return str(int(cores))
    return f"{math.ceil(cores * 1000)}m"


def memory_text(nbytes: int) -> str:
    """Bytes as a quantity, in Mi where exact, else plain bytes."""
    if nbytes % 2**30 == 0:
        return f"{nbytes // 2**30}Gi"
    if nbytes % 2**20 == 0:
        return f"{nbytes // 2**20}Mi"
    return str(nbytes)
