"""ivoa-broker adapter for OpenStack: batch jobs as Nova servers driven by cloud-init."""

from __future__ import annotations

from ._adapter import OpenStackAdapter
from ._config import OpenStackConfig

__all__ = ["OpenStackAdapter", "OpenStackConfig"]
