"""Federation loop guard: every broker has an id, and a forwarded request carries the
ids of the brokers it passed through in the ``X-IVOA-Broker-Hops`` header.

A broker that finds its own id in the header (or more than :data:`MAX_HOPS` ids)
refuses the request (508 Loop Detected); otherwise it hands the list, with its
own id appended, to the adapters as ``ExecutionRequest.labels[HOPS_LABEL]`` so a
forwarding adapter sends it on. Answers to ``POST /requests`` name the broker in
``X-IVOA-Broker-Id``.
"""

from __future__ import annotations

import re
import uuid
from pathlib import Path

__all__ = ["HOPS_HEADER", "HOPS_LABEL", "ID_HEADER", "MAX_HOPS", "broker_id", "parse_hops"]

HOPS_HEADER = "X-IVOA-Broker-Hops"
ID_HEADER = "X-IVOA-Broker-Id"
HOPS_LABEL = "eb.hops"
MAX_HOPS = 8
_ID = re.compile(r"^[A-Za-z0-9._:-]{1,64}$")


def broker_id(configured: str | None, public_url: str | None, work_dir: Path) -> str:
    """This broker's id: as configured; else derived from the public URL; else a random
    id made once and kept in ``work_dir/broker-id`` (stable across restarts)."""
    if configured:
        return configured
    if public_url:
        return str(uuid.uuid5(uuid.NAMESPACE_URL, public_url.rstrip("/")))
    path = work_dir / "broker-id"
    try:
        found = path.read_text().strip()
    except FileNotFoundError:
        found = ""
    if _ID.match(found):
        return found
    made = str(uuid.uuid4())
    work_dir.mkdir(parents=True, exist_ok=True)
    path.write_text(made + "\n")
    return made


def parse_hops(header: str | None) -> list[str] | None:
    """The ids in a hops header (``None`` if it is malformed)."""
    if header is None or not header.strip():
        return []
    ids = [part.strip() for part in header.split(",")]
    if not all(_ID.match(i) for i in ids):
        return None
    return ids
