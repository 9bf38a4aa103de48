"""ivoa-broker adapter for Kubernetes: batch/v1 Jobs and notebook Pods."""

from __future__ import annotations

from ._adapter import KubernetesAdapter
from ._config import KubernetesConfig

__all__ = ["KubernetesAdapter", "KubernetesConfig"]
