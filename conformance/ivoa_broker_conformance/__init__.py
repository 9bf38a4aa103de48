"""Black-box conformance suite for UWS 1.1, VOSI 1.1 and IVOA ExecutionBroker services.

It talks HTTP only, so it can be pointed at any implementation.
"""

from __future__ import annotations

__version__ = "0.1.0"
