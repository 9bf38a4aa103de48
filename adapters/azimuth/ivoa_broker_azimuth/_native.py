"""Native ids: ``machine:<uuid>``, ``app:<name>``, ``cluster:<uuid>``.

The kind is part of the id so that a Handle holding only ``native_id`` (what the core
gives ``cleanup`` for an orphan) says which Azimuth resource to delete.
"""

from __future__ import annotations

import re
from typing import Literal

from ivoa_broker.protocol import InvalidRequest

__all__ = ["Kind", "native_id", "parse_native"]

Kind = Literal["machine", "app", "cluster"]
_NATIVE = re.compile(r"^(machine|app|cluster):([-a-zA-Z0-9.]{1,100})$")


def native_id(kind: Kind, ident: str) -> str:
    return f"{kind}:{ident}"


def parse_native(value: str) -> tuple[Kind, str]:
    match = _NATIVE.match(value)
    if match is None:
        raise InvalidRequest(f"not a native id of the Azimuth adapter: {value[:80]!r}")
    kind = match.group(1)
    assert kind in ("machine", "app", "cluster")
    return kind, match.group(2)  # type: ignore[return-value]
