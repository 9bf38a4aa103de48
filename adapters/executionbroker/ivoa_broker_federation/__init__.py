"""ivoa-broker platform adapter whose platform is another IVOA ExecutionBroker."""

from __future__ import annotations

from ivoa_broker_federation._adapter import ExecutionBrokerAdapter
from ivoa_broker_federation._config import FederationConfig

__all__ = ["ExecutionBrokerAdapter", "FederationConfig"]
