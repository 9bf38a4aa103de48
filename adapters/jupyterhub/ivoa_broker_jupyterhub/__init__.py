"""ivoa-broker adapter for JupyterHub: one named server per job (sessions and notebook runs)."""

from __future__ import annotations

from ._adapter import JupyterHubAdapter
from ._config import JupyterHubConfig, Profile

__all__ = ["JupyterHubAdapter", "JupyterHubConfig", "Profile"]
