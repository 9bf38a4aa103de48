"""ivoa-broker adapter for BinderHub: a repository launched as a notebook session."""

from __future__ import annotations

from ._adapter import BinderHubAdapter
from ._config import BinderHubConfig

__all__ = ["BinderHubAdapter", "BinderHubConfig"]
