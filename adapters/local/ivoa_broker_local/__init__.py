"""The ``local`` adapter: batch jobs as supervised local processes.

Registered under the entry point group ``ivoa_broker.adapters`` as ``local``.
"""

from __future__ import annotations

from ._adapter import LocalAdapter
from ._config import LocalConfig

__all__ = ["LocalAdapter", "LocalConfig"]
