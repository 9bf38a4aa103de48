"""ivoa-broker adapter for the CANFAR science platform (skaha sessions API v1)."""

from __future__ import annotations

from ivoa_broker_canfar._adapter import CanfarAdapter
from ivoa_broker_canfar._config import CanfarConfig

__all__ = ["CanfarAdapter", "CanfarConfig"]
