"""ivoa-broker: an IVOA ExecutionBroker and UWS 1.1 service over pluggable platforms."""

from __future__ import annotations

__version__ = "0.1.0"
